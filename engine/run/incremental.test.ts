/**
 * Incremental sync end to end (docs/design.md section 7): the first run reads everything up to the
 * snapshot's high-water mark, later runs read after the stored cursor in (cursor, tie-breaker)
 * order, checkpointing as they go. Each case ends with the destination compared to the source.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../config/index.js';
import { runRb } from '../testing/cli.js';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';
import { exitCodeOf, runPipeline, type RunResult } from './run-pipeline.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let src: TestDb;
let table = 0;

beforeAll(async () => {
  src = await createTestDatabase('incr_src');
});
afterAll(dropTestDatabases);

interface Case {
  dst: TestDb;
  name: string;
  yaml: string;
  run(extraEnv?: Record<string, string>): Promise<RunResult>;
}

/** A fresh source table (created by `ddl`, `%t` = its name) and a pipeline streaming it incrementally. */
async function incrementalCase(ddl: string, opts: { writeMode?: 'append' | 'upsert'; cursor?: string; tieBreaker?: string; resources?: string } = {}): Promise<Case> {
  const name = `ev${++table}`;
  await src.query(ddl.replace(/%t/g, name));
  const dst = await createTestDatabase('incr_dst');
  const writeMode = opts.writeMode ?? 'upsert';
  const yaml = pipelineYaml({
    name: `incr_${name}`,
    srcUrl: src.url,
    dstUrl: dst.url,
    streams: [name],
    writeMode,
    ...(writeMode === 'upsert' ? { primaryKey: ['id'] } : {}),
    extra: opts.resources ? `resources: { ${opts.resources} }` : '',
  }).replace(
    `    - name: ${name}`,
    `    - name: ${name}\n      sync_mode: incremental\n      cursor_field: ${opts.cursor ?? 'updated_at'}${opts.tieBreaker ? `\n      tie_breaker_field: ${opts.tieBreaker}` : ''}`,
  );
  return {
    dst,
    name,
    yaml,
    async run() {
      const r = await runPipeline(parsePipelineConfig(yaml, 'p.yaml', {}), { parallelism: 2, availableCores: 2 });
      expect(r.error, JSON.stringify(r.error)).toBeUndefined();
      return r;
    },
  };
}

async function expectEqual(c: Case, cols = 'id, v, updated_at'): Promise<void> {
  const q = `select count(*)::int as n, md5(coalesce(string_agg(concat_ws(':', ${cols}), ',' order by id), '')) as h from ${c.name}`;
  expect((await c.dst.query(q)).rows[0]).toEqual((await src.query(q)).rows[0]);
}

describe('incremental sync', () => {
  it('first run reads everything, a second run only what changed, and the cursor is stored', async () => {
    const c = await incrementalCase(`create table %t (id int primary key, v text, updated_at timestamptz not null);
      insert into %t select g, 'v' || g, timestamptz '2026-01-01' + g * interval '1 minute' from generate_series(1, 5000) g`);
    process.env.RB_SHARD_MIN_BYTES = '0';
    const r1 = await c.run().finally(() => delete process.env.RB_SHARD_MIN_BYTES);
    // The first run is a full read, sharded like a full refresh (parallelism 2: two key ranges).
    expect(r1.streams[0]).toMatchObject({ rows: 5000, sync_mode: 'incremental', shards: 2, shard_kind: 'range', cursor: ['2026-01-04 11:20:00+00', '5000'] });
    await src.query(`update ${c.name} set v = 'changed', updated_at = timestamptz '2026-02-01' + id * interval '1 second' where id % 100 = 0`);
    const r2 = await c.run();
    expect(r2.streams[0]).toMatchObject({ rows: 50, shards: 1, cursor: ['2026-02-01 01:23:20+00', '5000'] });
    // A next read is one shard: it runs in this thread, no pool thread is started for it.
    expect([r1.executor, r2.executor]).toEqual(['pool', 'in-process']);
    await expectEqual(c);
    const r3 = await c.run();
    expect(r3.streams[0].rows).toBe(0);
  });

  it('1,000 rows sharing the high-water cursor value, split across two runs: none lost, none repeated (append)', async () => {
    const c = await incrementalCase(
      `create table %t (id int primary key, v text, updated_at timestamptz not null);
       insert into %t select g, 'v' || g, timestamptz '2026-03-01' from generate_series(1, 500) g`,
      { writeMode: 'append' },
    );
    expect((await c.run()).streams[0].rows).toBe(500);
    await src.query(`insert into ${c.name} select g, 'v' || g, timestamptz '2026-03-01' from generate_series(501, 1000) g`);
    expect((await c.run()).streams[0].rows).toBe(500);
    const shape = await c.dst.query(`select count(*)::int as n, count(distinct id)::int as d from ${c.name}`);
    expect(shape.rows[0]).toEqual({ n: 1000, d: 1000 });
    await expectEqual(c);
  });

  it('updates move rows forward; upsert keeps one row per key', async () => {
    const c = await incrementalCase(`create table %t (id int primary key, v text, updated_at timestamptz not null);
      insert into %t select g, 'v' || g, timestamptz '2026-01-01' + g * interval '1 second' from generate_series(1, 2000) g`);
    await c.run();
    await src.query(`update ${c.name} set v = 'moved', updated_at = timestamptz '2027-01-01' where id <= 300`);
    await src.query(`insert into ${c.name} values (5000, 'new', timestamptz '2027-01-02')`);
    expect((await c.run()).streams[0].rows).toBe(301);
    await expectEqual(c);
  });

  it('NULL cursors sort first: the first run reads them, later runs read a row once its cursor gets a value', async () => {
    const c = await incrementalCase(`create table %t (id int primary key, v text, updated_at timestamptz);
      insert into %t select g, 'v' || g, case when g % 4 = 0 then null else timestamptz '2026-01-01' + g * interval '1 second' end from generate_series(1, 400) g`);
    expect((await c.run()).streams[0].rows).toBe(400);
    await expectEqual(c);
    // A new row with a NULL cursor is below the mark: not read (the documented rule)...
    await src.query(`insert into ${c.name} values (1000, 'null cursor', null)`);
    expect((await c.run()).streams[0].rows).toBe(0);
    // ...until it gets a value.
    await src.query(`update ${c.name} set updated_at = timestamptz '2027-01-01' where id = 1000`);
    expect((await c.run()).streams[0].rows).toBe(1);
    await expectEqual(c);
  });

  it('a table whose cursors are all NULL so far: the mark is NULL, later rows still arrive', async () => {
    const c = await incrementalCase(`create table %t (id int primary key, v text, updated_at timestamptz);
      insert into %t select g, 'v' || g, null from generate_series(1, 100) g`);
    expect((await c.run()).streams[0].cursor).toEqual([null, '100']);
    await src.query(`insert into ${c.name} values (101, 'x', null), (102, 'y', timestamptz '2026-05-05')`);
    expect((await c.run()).streams[0].rows).toBe(2);
    await expectEqual(c);
  });

  it('a late commit (started before the run, committed after it, now() below the mark) arrives on the next run (upsert)', async () => {
    const c = await incrementalCase(`create table %t (id int primary key, v text, updated_at timestamptz not null default now());
      insert into %t (id, v) select g, 'v' || g from generate_series(1, 100) g`);
    await c.run();
    const late = await src.client();
    await late.query('begin');
    await late.query(`insert into ${c.name} (id, v) values (1000, 'late')`); // updated_at = now() = this transaction's start
    await new Promise((r) => setTimeout(r, 50));
    await src.query(`insert into ${c.name} (id, v) values (1001, 'after')`); // committed now, with a later cursor
    await c.run();
    // 1001 arrived; the late row is not committed yet (rows re-read by the lookback are absorbed).
    expect((await c.dst.query(`select id from ${c.name} where id >= 1000 order by id`)).rows).toEqual([{ id: 1001 }]);
    await late.query('commit');
    await c.run();
    await expectEqual(c);
    const got = await c.dst.query(`select v from ${c.name} where id = 1000`);
    expect(got.rows).toEqual([{ v: 'late' }]);
  });

  it('checkpoints every 1,000 rows commit data and cursor together', async () => {
    const c = await incrementalCase(
      `create table %t (id int primary key, v text, updated_at timestamptz not null);
       insert into %t select g, 'v' || g, timestamptz '2026-01-01' + g * interval '1 second' from generate_series(1, 100) g`,
      { resources: 'checkpoint_interval_rows: 1000, max_batch_bytes: 64kb' },
    );
    await c.run();
    await src.query(`insert into ${c.name} select g, repeat('x', 200), timestamptz '2026-06-01' + g * interval '1 second' from generate_series(101, 8000) g`);
    const r = await c.run();
    expect(r.streams[0].rows).toBe(7900);
    expect(r.streams[0].checkpoints).toBeGreaterThanOrEqual(5);
    await expectEqual(c);
    const state = await c.dst.query(`select cursor from _rb.stream_state where stream = $1`, [c.name]);
    expect(state.rows[0].cursor).toEqual([r.streams[0].cursor![0], '8000']);
  });

  it('a destination backend killed after some checkpoints: the retry continues after the last one (append stays exact)', async () => {
    const c = await incrementalCase(
      `create table %t (id int primary key, v text, updated_at timestamptz not null);
       insert into %t values (0, 'seed', timestamptz '2025-01-01')`,
      { writeMode: 'append', resources: 'checkpoint_interval_rows: 500, max_batch_bytes: 64kb, max_retries: 3' },
    );
    await c.run();
    await src.query(`insert into ${c.name} select g, repeat('x', 300), timestamptz '2026-06-01' + g * interval '1 second' from generate_series(1, 6000) g`);
    process.env.RB_BENCH_DELAY_MS = '30';
    process.env.RB_RETRY_BASE_MS = '50';
    try {
      const running = runPipeline(parsePipelineConfig(c.yaml, 'p.yaml', {}), { parallelism: 1 });
      const watcher = await c.dst.client();
      let killed = false;
      for (let i = 0; i < 600 && !killed; i++) {
        const n = (await watcher.query(`select count(*)::int as n from ${c.name}`)).rows[0].n as number;
        if (n > 1000) {
          const r = await watcher.query(`select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = $1 and datname = current_database()`, [`rb ${c.name}#0`]);
          killed = r.rows.some((x) => x.ok);
        }
        if (!killed) await new Promise((res) => setTimeout(res, 50));
      }
      expect(killed).toBe(true);
      const r = await running;
      expect(r.error, JSON.stringify(r.error)).toBeUndefined();
      expect(r.retries).toBeGreaterThanOrEqual(1);
    } finally {
      delete process.env.RB_BENCH_DELAY_MS;
      delete process.env.RB_RETRY_BASE_MS;
    }
    const shape = await c.dst.query(`select count(*)::int as n, count(distinct id)::int as d from ${c.name}`);
    expect(shape.rows[0]).toEqual({ n: 6001, d: 6001 });
    await expectEqual(c);
  });

  it('refuses a stream without a tie-breaker, and incremental with replace (exit 2)', async () => {
    const c = await incrementalCase(`create table %t (id int, v text, updated_at timestamptz not null)`, { writeMode: 'append' });
    const r = await runPipeline(parsePipelineConfig(c.yaml, 'p.yaml', {}), { parallelism: 1 });
    expect(r.status).toBe('failed');
    expect(r.error!.message).toMatch(/tie_breaker_field: required: .* has no primary key/);
    expect(exitCodeOf(r)).toBe(2);
    expect(() => parsePipelineConfig(c.yaml.replace('write_mode: append', 'write_mode: replace'), 'p.yaml', {})).toThrow(/incremental streams are written with write_mode append or upsert/);
  });

  it('rb state show --json lists the cursor and runs; rb state reset --yes makes the next run read everything', async () => {
    const c = await incrementalCase(`create table %t (id int primary key, v text, updated_at timestamptz not null);
      insert into %t select g, 'v' || g, timestamptz '2026-01-01' + g * interval '1 second' from generate_series(1, 300) g`);
    await c.run();
    const file = join(mkdtempSync(join(tmpdir(), 'rb-state-')), 'p.yaml');
    writeFileSync(file, c.yaml);
    const show = runRb(['state', 'show', file, '--json']);
    expect(show.code, show.err).toBe(0);
    const j = JSON.parse(show.out);
    expect(j.streams).toEqual([expect.objectContaining({ name: c.name, sync_mode: 'incremental', cursor_fields: ['updated_at', 'id'], cursor: ['2026-01-01 00:05:00+00', '300'], last_run_status: 'succeeded' })]);
    expect(j.runs[0]).toMatchObject({ status: 'succeeded', rows_written: 300 });
    const refused = runRb(['state', 'reset', file]);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/--yes/);
    const reset = runRb(['state', 'reset', file, '--yes']);
    expect(reset.code, reset.err).toBe(0);
    expect((await c.run()).streams[0].rows).toBe(300); // read from scratch; upsert absorbs it
    await expectEqual(c);
  });
});
