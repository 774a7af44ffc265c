/**
 * Ctrl-C (SIGINT) and SIGTERM during `rb run`, through the real binary: the move stops at once,
 * what is open is rolled back, what the run created and did not finish is dropped (never a
 * user's table), the run is recorded `cancelled`, one line says what the destination holds, and
 * the exit code is 130. A second signal exits at once. The next run then does the whole job.
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

const BIN = fileURLToPath(new URL('./bin.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rb-cancel-'));
const ROWS = 600_000;
let src: TestDb;
let dst: TestDb;
let n = 0;

beforeAll(async () => {
  src = await createTestDatabase('cancel_src');
  dst = await createTestDatabase('cancel_dst');
  await src.query(`create table big (id int primary key, v text, w text); insert into big select g, md5(g::text) || md5((g + 1)::text), repeat('w', 40) from generate_series(1, ${ROWS}) g`);
});
afterAll(async () => {
  await dropTestDatabases();
});

/** A pipeline writing `big` into `<schema>.big`. */
function file(writeMode: 'replace' | 'upsert' | 'append', schema: string): string {
  const name = `cancel_${++n}`;
  const yaml = pipelineYaml({ name, srcUrl: src.url, dstUrl: dst.url, streams: ['big'], writeMode, destSchema: schema, primaryKey: writeMode === 'upsert' ? ['id'] : undefined, extra: 'resources: { parallelism: 2 }' });
  const f = join(dir, `${name}.yaml`);
  writeFileSync(f, yaml);
  return f;
}

/** Starts `rb run`, waits until its shards write into `writeTable`, then sends `signals` (ms apart). */
async function interrupt(f: string, writeTable: string, signals: NodeJS.Signals[]): Promise<{ code: number | null; err: string; msToExit: number }> {
  const child = spawn(process.execPath, [BIN, 'run', f], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  let done = false;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      done = true;
      resolve(code);
    }),
  );
  const deadline = Date.now() + 60_000;
  // The COPY into the write table is running.
  while (!(await dst.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and query ilike 'copy %${writeTable}%'`)).rows[0].n) {
    if (done || Date.now() > deadline) throw new Error(`no COPY into ${writeTable} started: ${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 200));
  const t0 = performance.now();
  for (const [i, sig] of signals.entries()) {
    if (i) await new Promise((r) => setTimeout(r, 50));
    child.kill(sig);
  }
  const code = await exited;
  return { code, err, msToExit: performance.now() - t0 };
}

const leftovers = async () => (await dst.query(`select string_agg(relname, ',') as t from pg_class where relname like '%__rb_%' and relkind = 'r'`)).rows[0].t;
const hash = (t: string) => `select count(*)::int as n, md5(coalesce(string_agg(id::text || v || w, ',' order by id), '')) as h from ${t}`;
const lastRun = async (f: string) => (await dst.query(`select status from _rb.runs where pipeline = $1 order by started_at desc limit 1`, [f.split('/').pop()!.replace('.yaml', '')])).rows[0]?.status;

describe('cancelling rb run', () => {
  it.each([
    ['replace', 'SIGINT'],
    ['upsert', 'SIGTERM'],
  ] as const)('%s into a new target, %s: exit 130 at once, nothing left behind, the run recorded cancelled; the next run does it all', async (mode, sig) => {
    const schema = `s_${mode}`;
    const target = `${schema}.big`;
    const f = file(mode, schema);
    const r = await interrupt(f, `big__rb_${mode}`, [sig]);
    expect(r.code, r.err).toBe(130);
    expect(r.err).toContain(`rb: ${sig}: cancelling the run`);
    expect(r.err).toMatch(/rb: cancelled; the other targets are as they were before the run \(staging tables dropped, nothing merged or swapped\)/);
    expect(r.msToExit, 'from the signal to the exit').toBeLessThan(5000);
    expect(await leftovers()).toBeNull();
    expect((await dst.query(`select to_regclass('${target}') as t`)).rows[0].t).toBeNull();
    expect(await lastRun(f)).toBe('cancelled');
    const again = runRb(['run', f]);
    expect(again.code, again.err).toBe(0);
    expect((await dst.query(hash(target))).rows[0]).toEqual((await src.query(hash('big'))).rows[0]);
  });

  it('upsert into a table with rows: it is untouched', async () => {
    const target = 's_keep.big';
    await dst.query(`create schema s_keep; create table ${target} (id int primary key, v text, w text); insert into ${target} values (1, 'mine', 'x'), (-5, 'only here', 'y')`);
    const before = (await dst.query(hash(target))).rows[0];
    const f = file('upsert', 's_keep');
    const r = await interrupt(f, `big__rb_upsert`, ['SIGINT']);
    expect(r.code, r.err).toBe(130);
    expect((await dst.query(hash(target))).rows[0]).toEqual(before);
    expect(await leftovers()).toBeNull();
  });

  it('append: the next run resumes the cancelled one — every row exactly once', async () => {
    const target = 's_append.big';
    const f = file('append', 's_append');
    const r = await interrupt(f, 's_append"."big', ['SIGINT']);
    expect(r.code, r.err).toBe(130);
    expect(r.err).toMatch(/shards this run committed stay in the targets and the next rb run resumes the run/);
    expect(await lastRun(f)).toBe('cancelled');
    const again = runRb(['run', f, '--json']);
    expect(again.code, again.err).toBe(0);
    expect(JSON.parse(again.out).resumed_from).toBeTruthy();
    expect((await dst.query(hash(target))).rows[0]).toEqual((await src.query(hash('big'))).rows[0]);
  });

  it('a second signal exits at once and says what may be left', async () => {
    const target = 's_twice.big';
    const f = file('replace', 's_twice');
    const r = await interrupt(f, `big__rb_replace`, ['SIGINT', 'SIGINT']);
    expect(r.code).toBe(130);
    expect(r.err).toMatch(/rb: SIGINT again: exiting now; staging tables .* may be left in the destination/);
    // Whatever it left, the next run replaces it.
    const again = runRb(['run', f]);
    expect(again.code, again.err).toBe(0);
    expect((await dst.query(hash(target))).rows[0]).toEqual((await src.query(hash('big'))).rows[0]);
    expect(await leftovers()).toBeNull();
  });
});
