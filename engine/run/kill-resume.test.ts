/**
 * Exactly-once after a crash (docs/design.md section 7), shown the only honest way: the real `rb`
 * process is killed with SIGKILL at a random moment of its run, then a plain `rb run` of the same
 * pipeline follows, and the destination is compared with the source. Ten trials per case:
 *
 *   append, key-range shards   every source row exactly once per run that succeeded
 *   append, ctid shards        the same (the resumed run removes the killed run's shards by xid)
 *   replace                    after the kill the target is the old table or the whole new one
 *                              (never a mix); after the re-run, the new one
 *   incremental upsert         with checkpoints every 64 kB: the target equals the source
 *
 * The kill moments are drawn from the whole life of the process (start-up, plan, prepare, move,
 * finish) and printed when a trial fails.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRb } from '../testing/cli.js';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';

const BIN = fileURLToPath(new URL('../cli/bin.js', import.meta.url));
const TRIALS = 10;
/** Slows every chunk so that a run lasts long enough to be killed in the middle of its move. */
const ENV = { RB_SHARD_MIN_BYTES: '0', RB_BENCH_DELAY_MS: '15', RB_RETRY_BASE_MS: '50' };
const dir = mkdtempSync(join(tmpdir(), 'rb-kill-'));

let src: TestDb;

beforeAll(async () => {
  src = await createTestDatabase('kill_src');
  await src.query(`
    create table ranged (id int primary key, v text not null);
    insert into ranged select g, repeat(md5(g::text), 3) from generate_series(1, 30000) g;
    create table keyless (k uuid not null default gen_random_uuid(), v text not null);
    insert into keyless (v) select repeat(md5(g::text), 3) from generate_series(1, 30000) g;
    create table events (id int primary key, v text not null, updated_at timestamptz not null default clock_timestamp());
    insert into events (id, v) select g, repeat(md5(g::text), 3) from generate_series(1, 30000) g;
    analyze;
  `);
});
afterAll(dropTestDatabases);

/** Starts `rb run` and SIGKILLs it after `afterMs` (or lets it finish first). Resolves with how it ended. */
function runAndKill(file: string, afterMs: number): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'run', file], { env: { ...process.env, ...ENV }, stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), afterMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ killed: signal === 'SIGKILL', code });
    });
  });
}

function writePipeline(name: string, text: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, text);
  return file;
}

function rerun(file: string): void {
  const r = runRb(['run', file], ENV);
  expect(r.code, `re-run: ${r.err}${r.out}`).toBe(0);
}

async function succeededRuns(dst: TestDb, pipeline: string): Promise<number> {
  return (await dst.query(`select count(*)::int as n from _rb.runs where pipeline = $1 and status = 'succeeded'`, [pipeline])).rows[0].n as number;
}

/** A kill moment somewhere in the run: most in the move, some in start-up or the finish. */
function killMoment(): number {
  return 300 + Math.floor(Math.random() * 2200);
}

describe('kill -9 at random points, then a plain rb run', () => {
  it.each([
    ['ranged', 'id', 'key-range shards'],
    ['keyless', 'k', 'ctid shards'],
  ])(`append of %s (%s): every row once per succeeded run, ${TRIALS} trials`, async (table, key) => {
    const moments: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const dst = await createTestDatabase('kill_dst');
      const pipeline = `kill_append_${table}`;
      const file = writePipeline(`${pipeline}_${trial}`, pipelineYaml({ name: pipeline, srcUrl: src.url, dstUrl: dst.url, streams: [table], writeMode: 'append', extra: 'resources: { max_batch_bytes: 64kb, parallelism: 2 }' }));
      const at = killMoment();
      moments.push(at);
      await runAndKill(file, at);
      rerun(file);
      const runs = await succeededRuns(dst, pipeline);
      const shape = await dst.query(`select count(*)::int as n, count(distinct ${key})::int as d, max(c)::int as most, min(c)::int as least
                                       from (select ${key}, count(*) as c from ${table} group by ${key}) g`);
      expect(shape.rows[0], `trial ${trial}, killed at ${at} ms (moments so far: ${moments.join(', ')}); ${runs} succeeded runs`).toEqual({ n: 30000, d: 30000, most: runs, least: runs });
    }
  });

  it(`replace: the old table or the whole new one after the kill, the new one after the re-run, ${TRIALS} trials`, async () => {
    for (let trial = 0; trial < TRIALS; trial++) {
      const dst = await createTestDatabase('kill_dst');
      await dst.query(`create table ranged (id int primary key, v text not null); insert into ranged values (-1, 'old'), (-2, 'old')`);
      const file = writePipeline(`kill_replace_${trial}`, pipelineYaml({ name: 'kill_replace', srcUrl: src.url, dstUrl: dst.url, streams: ['ranged'], writeMode: 'replace', extra: 'resources: { max_batch_bytes: 64kb, parallelism: 2 }' }));
      const at = killMoment();
      await runAndKill(file, at);
      const after = (await dst.query(`select count(*)::int as n, min(id)::int as lo from ranged`)).rows[0];
      expect([JSON.stringify({ n: 2, lo: -2 }), JSON.stringify({ n: 30000, lo: 1 })], `trial ${trial}, killed at ${at} ms`).toContain(JSON.stringify(after));
      rerun(file);
      expect((await dst.query(`select count(*)::int as n, min(id)::int as lo, max(id)::int as hi from ranged`)).rows[0]).toEqual({ n: 30000, lo: 1, hi: 30000 });
    }
  });

  it(`incremental upsert with checkpoints: the target equals the source, ${TRIALS} trials`, async () => {
    const dst = await createTestDatabase('kill_dst');
    const text = pipelineYaml({ name: 'kill_incr', srcUrl: src.url, dstUrl: dst.url, streams: ['events'], writeMode: 'upsert', primaryKey: ['id'], extra: 'resources: { max_batch_bytes: 64kb, checkpoint_interval_bytes: 64kb }' }).replace(
      '    - name: events',
      '    - name: events\n      sync_mode: incremental\n      cursor_field: updated_at',
    );
    const file = writePipeline('kill_incr', text);
    rerun(file);
    for (let trial = 0; trial < TRIALS; trial++) {
      // Change a third of the rows and add some: the next run has ~10k rows to deliver.
      await src.query(`update events set v = md5(v), updated_at = clock_timestamp() where id % 3 = ${trial % 3}`);
      await src.query(`insert into events (id, v) select g, md5(g::text) from generate_series(${30001 + trial * 100}, ${30000 + (trial + 1) * 100}) g`);
      const at = killMoment();
      await runAndKill(file, at);
      rerun(file);
      const diff = await dst.query(`select count(*)::int as n from events`);
      const want = await src.query(`select count(*)::int as n, md5(string_agg(id || ':' || v || ':' || updated_at, ',' order by id)) as h from events`);
      const got = await dst.query(`select md5(string_agg(id || ':' || v || ':' || updated_at, ',' order by id)) as h from events`);
      expect({ n: diff.rows[0].n, h: got.rows[0].h }, `trial ${trial}, killed at ${at} ms`).toEqual({ n: want.rows[0].n, h: want.rows[0].h });
    }
  });
});
