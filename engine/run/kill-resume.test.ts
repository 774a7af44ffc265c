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
const ENV = { RB_SHARD_MIN_BYTES: '0', RB_BENCH_DELAY_MS: '40', RB_RETRY_BASE_MS: '50' };
const dir = mkdtempSync(join(tmpdir(), 'rb-kill-'));

let src: TestDb;

beforeAll(async () => {
  src = await createTestDatabase('kill_src');
  await src.query(`
    create table ranged (id int primary key, v text not null);
    -- Skewed on purpose: of two key ranges, the upper one holds few rows and commits long before
    -- the lower one, so kills land between shard commits and the resume keeps a committed shard.
    insert into ranged select g, repeat(md5(g::text), 3) from generate_series(1, 27000) g;
    insert into ranged select 100000 + g * 100, repeat(md5(g::text), 3) from generate_series(1, 3000) g;
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

/**
 * Starts `rb run` and SIGKILLs it as soon as `ready()` holds (polled every 20 ms), e.g. right after
 * its first shard committed. Resolves with how it ended.
 */
function runAndKillWhen(file: string, ready: () => Promise<boolean>): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'run', file], { env: { ...process.env, ...ENV }, stdio: 'ignore' });
    let done = false;
    const poll = async () => {
      while (!done) {
        if (await ready().catch(() => false)) {
          child.kill('SIGKILL');
          return;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    void poll();
    child.on('exit', (code, signal) => {
      done = true;
      resolve({ killed: signal === 'SIGKILL', code });
    });
  });
}

/** Runs that a kill left unfinished and the next run resumed (or, for a fresh plan, abandoned). */
async function interruptedRuns(dst: TestDb, pipeline: string): Promise<number> {
  return (await dst.query(`select count(*)::int as n from _rb.runs where pipeline = $1 and status = 'abandoned'`, [pipeline])).rows[0].n as number;
}

/** The trials must really have interrupted runs, or they show nothing. */
const MIN_INTERRUPTED = 3;

async function succeededRuns(dst: TestDb, pipeline: string): Promise<number> {
  return (await dst.query(`select count(*)::int as n from _rb.runs where pipeline = $1 and status = 'succeeded'`, [pipeline])).rows[0].n as number;
}

/**
 * How long a whole uninterrupted run of `file` takes here, now (the machine's load varies): the
 * shortest of `runs` runs, as a first run may pay one-time costs (from the sources, tsx compiles
 * what changed) that the trials do not, and kills calibrated to it would land after the end.
 */
async function timeRun(file: string, runs = 2): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = await runAndKill(file, 600_000);
    expect(r.code).toBe(0);
    times.push(performance.now() - t0);
  }
  return Math.min(...times);
}

/** A kill moment somewhere in a run that lasts `durationMs`: start-up, plan, move or finish. */
function killMoment(durationMs: number): number {
  return Math.round(durationMs * (0.25 + Math.random() * 0.7));
}

describe('kill -9 at random points, then a plain rb run', () => {
  it.each([
    ['ranged', 'id', 'key-range shards'],
    ['keyless', 'k', 'ctid shards'],
  ])(`append of %s (%s): every row once per succeeded run, ${TRIALS} trials`, async (table, key) => {
    const moments: number[] = [];
    let interrupted = 0;
    let kept = 0;
    const pipeline = `kill_append_${table}`;
    const fileFor = (name: string, dst: TestDb) =>
      writePipeline(name, pipelineYaml({ name: pipeline, srcUrl: src.url, dstUrl: dst.url, streams: [table], writeMode: 'append', extra: 'resources: { max_batch_bytes: 64kb, parallelism: 2 }' }));
    const duration = await timeRun(fileFor(`${pipeline}_calibrate`, await createTestDatabase('kill_dst')));
    for (let trial = 0; trial < TRIALS; trial++) {
      const dst = await createTestDatabase('kill_dst');
      const file = fileFor(`${pipeline}_${trial}`, dst);
      if (trial === 0) {
        // One kill right after the first shard commit, so a resume that keeps a committed shard is
        // shown every time, not only when a random moment happens to fall there.
        moments.push(-1);
        await runAndKillWhen(file, async () => ((await dst.query(`select count(*)::int as n from _rb.shard_ledger`)).rows[0]?.n ?? 0) >= 1);
      } else {
        const at = killMoment(duration);
        moments.push(at);
        await runAndKill(file, at);
      }
      rerun(file);
      const runs = await succeededRuns(dst, pipeline);
      interrupted += await interruptedRuns(dst, pipeline);
      kept += (await dst.query(`select count(*)::int as n from _rb.runs where snapshots = 2`)).rows[0].n as number;
      const shape = await dst.query(`select count(*)::int as n, count(distinct ${key})::int as d, max(c)::int as most, min(c)::int as least
                                       from (select ${key}, count(*) as c from ${table} group by ${key}) g`);
      expect(shape.rows[0], `trial ${trial}, killed at ${moments[trial]} ms (-1: after the first shard commit; moments so far: ${moments.join(', ')}); ${runs} succeeded runs`).toEqual({ n: 30000, d: 30000, most: runs, least: runs });
    }
    expect(interrupted, `kill moments: ${moments.join(', ')}`).toBeGreaterThanOrEqual(MIN_INTERRUPTED);
    // Key ranges keep the killed run's committed shards; ctid shards are undone and copied again.
    if (table === 'ranged') expect(kept, 'resumed runs that kept committed shards').toBeGreaterThanOrEqual(1);
  });

  it(`replace: the old table or the whole new one after the kill, the new one after the re-run, ${TRIALS} trials`, async () => {
    let interrupted = 0;
    const fileFor = (name: string, dst: TestDb) =>
      writePipeline(name, pipelineYaml({ name: 'kill_replace', srcUrl: src.url, dstUrl: dst.url, streams: ['ranged'], writeMode: 'replace', extra: 'resources: { max_batch_bytes: 64kb, parallelism: 2 }' }));
    const duration = await timeRun(fileFor('kill_replace_calibrate', await createTestDatabase('kill_dst')));
    for (let trial = 0; trial < TRIALS; trial++) {
      const dst = await createTestDatabase('kill_dst');
      await dst.query(`create table ranged (id int primary key, v text not null); insert into ranged values (-1, 'old'), (-2, 'old')`);
      const file = fileFor(`kill_replace_${trial}`, dst);
      const at = killMoment(duration);
      await runAndKill(file, at);
      const after = (await dst.query(`select count(*)::int as n, min(id)::int as lo from ranged`)).rows[0];
      if (JSON.stringify(after) === JSON.stringify({ n: 2, lo: -2 })) interrupted++;
      expect([JSON.stringify({ n: 2, lo: -2 }), JSON.stringify({ n: 30000, lo: 1 })], `trial ${trial}, killed at ${at} ms`).toContain(JSON.stringify(after));
      rerun(file);
      expect((await dst.query(`select count(*)::int as n, min(id)::int as lo, max(id)::int as hi from ranged`)).rows[0]).toEqual({ n: 30000, lo: 1, hi: 400000 });
      expect((await dst.query(`select count(*)::int as n from pg_class where relname like '%\\_\\_rb\\_%'`)).rows[0].n, 'staging left behind').toBe(0);
    }
    expect(interrupted, 'trials whose kill left the old table in place').toBeGreaterThanOrEqual(MIN_INTERRUPTED);
  });

  it(`incremental upsert with checkpoints: the target equals the source, ${TRIALS} trials`, async () => {
    const dst = await createTestDatabase('kill_dst');
    const text = pipelineYaml({ name: 'kill_incr', srcUrl: src.url, dstUrl: dst.url, streams: ['events'], writeMode: 'upsert', primaryKey: ['id'], extra: 'resources: { max_batch_bytes: 64kb, checkpoint_interval_bytes: 64kb }' }).replace(
      '    - name: events',
      '    - name: events\n      sync_mode: incremental\n      cursor_field: updated_at',
    );
    const file = writePipeline('kill_incr', text);
    rerun(file);
    // Change a third of the rows and add some: each next run has ~10k rows to deliver.
    const change = async (trial: number) => {
      await src.query(`update events set v = md5(v), updated_at = clock_timestamp() where id % 3 = ${trial % 3}`);
      await src.query(`insert into events (id, v) select g, md5(g::text) from generate_series(${30001 + trial * 100}, ${30000 + (trial + 1) * 100}) g`);
    };
    await change(TRIALS);
    // One run: the first run above already paid the one-time costs (a second would find nothing new).
    const duration = await timeRun(file, 1);
    let interrupted = 0;
    let checkpointedKills = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      await change(trial);
      const at = killMoment(duration);
      await runAndKill(file, at);
      const cp = await dst.query(`select count(*)::int as n from _rb.stream_state s join _rb.runs r using (run_id) where r.status = 'running'`);
      checkpointedKills += cp.rows[0].n as number;
      rerun(file);
      const diff = await dst.query(`select count(*)::int as n from events`);
      const want = await src.query(`select count(*)::int as n, md5(string_agg(id || ':' || v || ':' || updated_at, ',' order by id)) as h from events`);
      const got = await dst.query(`select md5(string_agg(id || ':' || v || ':' || updated_at, ',' order by id)) as h from events`);
      expect({ n: diff.rows[0].n, h: got.rows[0].h }, `trial ${trial}, killed at ${at} ms`).toEqual({ n: want.rows[0].n, h: want.rows[0].h });
    }
    interrupted = await interruptedRuns(dst, 'kill_incr');
    expect(interrupted).toBeGreaterThanOrEqual(MIN_INTERRUPTED);
    // Some killed runs had committed a checkpoint before the kill (the resume started from it).
    expect(checkpointedKills, 'kills after at least one checkpoint').toBeGreaterThanOrEqual(1);
  });
});
