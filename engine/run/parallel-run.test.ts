/**
 * The parallel runtime end to end (issue: parallel runtime): sharded copies are exact at every
 * parallelism, many streams complete on few threads, tables without an integer key shard by ctid,
 * all shards read one snapshot while the source is being written, and the first failing shard
 * cancels the others with its own error and exit code.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../config/index.js';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';
import { quickChecksum } from '../verify/index.js';
import { exitCodeOf, runPipeline } from './run-pipeline.js';

let src: TestDb;

const BIG_ROWS = 2_000_000;

beforeAll(async () => {
  src = await createTestDatabase('par_src');
  await src.query(`
    create table big (id bigint primary key, v int not null, label text, at timestamptz);
    insert into big select g, g % 1000, 'row ' || g, timestamptz '2026-01-01' + g * interval '1 second' from generate_series(1, ${BIG_ROWS}) g;
    analyze big;
    create table heap_no_key (a int, b text);
    insert into heap_no_key select g % 777, md5(g::text) from generate_series(1, 150000) g;
    analyze heap_no_key;
    create table s1 (id int primary key, x text); insert into s1 select g, 'a' || g from generate_series(1, 40000) g;
    create table s2 (id int primary key, x text); insert into s2 select g, 'b' || g from generate_series(1, 30000) g;
    create table s3 (k uuid primary key default gen_random_uuid(), x text); insert into s3 (x) select 'c' || g from generate_series(1, 20000) g;
    analyze;
  `);
});
afterEach(() => {
  delete process.env.RB_SHARD_MIN_BYTES;
  delete process.env.RB_BENCH_DELAY_MS;
});
afterAll(dropTestDatabases);

/** Terminates the backend with this application_name once it is active (polls up to 30 s). */
async function terminateWhenWriting(db: TestDb, applicationName: string): Promise<boolean> {
  const killer = await db.client();
  for (let i = 0; i < 600; i++) {
    const r = await killer.query(`select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = $1 and datname = current_database() and state = 'active'`, [applicationName]);
    if (r.rows.some((x) => x.ok)) return true;
    await new Promise((res) => setTimeout(res, 50));
  }
  return false;
}

function yamlFor(dstUrl: string, streams: string[], extra = ''): string {
  return pipelineYaml({ name: 'parallel_test', srcUrl: src.url, dstUrl, streams, extra });
}

describe('parallel runtime', () => {
  it('copies a 2M-row table identically at parallelism 1, 4 and auto', async () => {
    const want = await quickChecksum(src.url, { schema: 'public', table: 'big' });
    expect(want.rows).toBe(BIG_ROWS);
    for (const p of [1, 4, 'auto'] as const) {
      const dst = await createTestDatabase('par_dst');
      const config = parsePipelineConfig(yamlFor(dst.url, ['public.big']), 'p.yaml', {});
      const r = await runPipeline(config, { parallelism: p, availableCores: 2 });
      expect(r.error).toBeUndefined();
      expect(r.rows_written).toBe(BIG_ROWS);
      expect(r.parallelism_mode).toBe(p === 'auto' ? 'auto' : 'manual');
      expect(r.parallelism_effective).toBe(p === 'auto' ? 2 : p);
      expect(r.streams[0].shards).toBe(p === 1 ? 1 : p === 'auto' ? 2 : 4);
      expect(r.streams[0].shard_kind).toBe(p === 1 ? 'single' : 'range');
      const got = await quickChecksum(dst.url, { schema: 'public', table: 'big' });
      expect(got).toEqual(want);
    }
  });

  it('runs 3 streams with 2 threads (one shard each: 2 cores / 3 streams) and completes', async () => {
    process.env.RB_SHARD_MIN_BYTES = '0';
    const dst = await createTestDatabase('par_dst');
    const config = parsePipelineConfig(yamlFor(dst.url, ['s1', 's2', 's3']), 'p.yaml', {});
    const r = await runPipeline(config, { parallelism: 2, availableCores: 2 });
    expect(r.error).toBeUndefined();
    expect(r.streams.map((s) => [s.name, s.rows])).toEqual([
      ['s1', 40000],
      ['s2', 30000],
      ['s3', 20000],
    ]);
    expect(r.parallelism_effective).toBe(2);
    expect(r.streams.map((s) => s.shards)).toEqual([1, 1, 1]);
    for (const t of ['s1', 's2', 's3']) {
      expect(await quickChecksum(dst.url, { schema: 'public', table: t })).toEqual(await quickChecksum(src.url, { schema: 'public', table: t }));
    }
  });

  it('reads each key-range shard through the key index, not a scan of the whole heap per shard', async () => {
    process.env.RB_SHARD_MIN_BYTES = '0';
    const counters = async () => {
      await src.query('select pg_stat_clear_snapshot()');
      const r = await src.query<{ seq: string; idx: string }>(`select seq_scan as seq, idx_scan as idx from pg_stat_user_tables where relid = 'public.s1'::regclass`);
      return { seq: Number(r.rows[0].seq), idx: Number(r.rows[0].idx) };
    };
    const before = await counters();
    const dst = await createTestDatabase('par_dst');
    // Two halves: on its own the planner reads half a table with a sequential scan.
    const r = await runPipeline(parsePipelineConfig(yamlFor(dst.url, ['s1']), 'p.yaml', {}), { parallelism: 2, availableCores: 2 });
    expect(r.error).toBeUndefined();
    expect(r.streams[0]).toMatchObject({ shards: 2, shard_kind: 'range', rows: 40000 });
    // The shard backends have exited, so their counts are in; poll for the stats flush anyway.
    let after = await counters();
    for (let i = 0; i < 50 && after.idx - before.idx < 2; i++) {
      await new Promise((res) => setTimeout(res, 100));
      after = await counters();
    }
    expect(after.seq - before.seq).toBe(0);
    expect(after.idx - before.idx).toBeGreaterThanOrEqual(2);
    expect(await quickChecksum(dst.url, { schema: 'public', table: 's1' })).toEqual(await quickChecksum(src.url, { schema: 'public', table: 's1' }));
  });

  it('shards a table without an integer key by ctid and copies it exactly', async () => {
    process.env.RB_SHARD_MIN_BYTES = '0';
    const dst = await createTestDatabase('par_dst');
    const config = parsePipelineConfig(yamlFor(dst.url, ['heap_no_key', 's3']), 'p.yaml', {});
    const r = await runPipeline(config, { parallelism: 8, availableCores: 4 });
    expect(r.error).toBeUndefined();
    expect(r.streams[0]).toMatchObject({ shards: 4, shard_kind: 'ctid', rows: 150000 });
    // A uuid primary key is not an integer key: ctid too.
    expect(r.streams[1]).toMatchObject({ shards: 4, shard_kind: 'ctid', rows: 20000 });
    expect(await quickChecksum(dst.url, { schema: 'public', table: 's3' })).toEqual(await quickChecksum(src.url, { schema: 'public', table: 's3' }));
    expect(await quickChecksum(dst.url, { schema: 'public', table: 'heap_no_key' })).toEqual(await quickChecksum(src.url, { schema: 'public', table: 'heap_no_key' }));
  });

  it('reads one snapshot across shards while the source is being written', async () => {
    // Each writer transaction k inserts id 10_000_000 + k (last shard), updates id k (first
    // shard) and deletes id 1_000_000 + k (a middle shard). A destination taken from one
    // snapshot shows the same k* in all three places; shards on different snapshots would not.
    const writer = await src.client();
    let k = 0;
    let stop = false;
    const writing = (async () => {
      while (!stop) {
        k++;
        await writer.query('begin');
        await writer.query('insert into big values ($1, -1, $2, now())', [10_000_000 + k, `w${k}`]);
        await writer.query('update big set v = -2 where id = $1', [k]);
        await writer.query('delete from big where id = $1', [1_000_000 + k]);
        await writer.query('commit');
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    const dst = await createTestDatabase('par_dst');
    const config = parsePipelineConfig(yamlFor(dst.url, ['public.big']), 'p.yaml', {});
    const r = await runPipeline(config, { parallelism: 4, availableCores: 4 });
    stop = true;
    await writing;
    expect(r.error).toBeUndefined();
    expect(r.streams[0].shards).toBe(4);
    const counts = await dst.query<{ inserted: string; updated: string; deleted: string; total: string }>(`
      select (select count(*) from big where id > 10000000) as inserted,
             (select count(*) from big where id <= 1000000 and v = -2) as updated,
             (select ${BIG_ROWS} - count(*) from big where id <= ${BIG_ROWS}) as deleted,
             (select count(*) from big) as total`);
    const c = counts.rows[0];
    const kStar = Number(c.inserted);
    expect(kStar).toBeGreaterThan(0); // the writer was running before the snapshot
    expect(k).toBeGreaterThan(kStar); // and kept writing after it
    expect(Number(c.updated)).toBe(kStar);
    expect(Number(c.deleted)).toBe(kStar);
    expect(Number(c.total)).toBe(BIG_ROWS);
    // Undo the writer's changes for the other tests.
    await src.query(`delete from big where id > 10000000; update big set v = id % 1000 where v = -2`);
    await src.query(`insert into big select g, g % 1000, 'row ' || g, timestamptz '2026-01-01' + g * interval '1 second' from generate_series(1000001, ${1_000_000 + k}) g on conflict do nothing`);
  });

  it('a failing shard cancels the others; the error names it and the exit code is the destination', async () => {
    process.env.RB_SHARD_MIN_BYTES = '0';
    process.env.RB_BENCH_DELAY_MS = '40';
    const dst = await createTestDatabase('par_dst');
    await dst.query(`create table s1 (id int primary key, x text); insert into s1 values (-1, 'old')`);
    const config = parsePipelineConfig(yamlFor(dst.url, ['s1'], 'resources: { max_batch_bytes: 64kb, max_retries: 0 }\n'), 'p.yaml', {});
    const running = runPipeline(config, { parallelism: 2, availableCores: 2 });
    // Kill the destination backend of shard 1 once it is writing.
    expect(await terminateWhenWriting(dst, 'rb s1#1')).toBe(true);
    const result = await running;
    expect(result.status).toBe('failed');
    expect(result.error).toMatchObject({ stream: 's1', shard: 1 });
    expect(result.error!.code, JSON.stringify(result.error)).toMatch(/^dest_/);
    // The server's 57P01 message when it arrives; when the kill lands mid-write the socket can
    // break (EPIPE) before that message is read. Either way it is the destination's error.
    expect(result.error!.message).toMatch(/terminat|EPIPE|ECONNRESET/i);
    expect(exitCodeOf(result)).toBe(4);
    // The replace target is untouched and nothing of rb is left running.
    expect((await dst.query('select id, x from s1')).rows).toEqual([{ id: -1, x: 'old' }]);
    // Cancelled workers' sockets close asynchronously: give the servers up to 10 s to notice.
    const rbBackends = async (db: TestDb) => (await db.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name like 'rb %'`)).rows[0].n as number;
    let left = [-1, -1];
    for (let i = 0; i < 100 && left.some((n) => n !== 0); i++) {
      left = [await rbBackends(dst), await rbBackends(src)];
      if (left.some((n) => n !== 0)) await new Promise((res) => setTimeout(res, 100));
    }
    expect(left).toEqual([0, 0]);
    const staging = await dst.query(`select count(*)::int as n from pg_class where relname like '%__rb_%'`);
    expect(staging.rows[0].n).toBe(0);
  });

  it('retries a shard whose destination backend is killed (max_retries 3): the append is exact and --json counts the retry', async () => {
    process.env.RB_SHARD_MIN_BYTES = '0';
    process.env.RB_BENCH_DELAY_MS = '40';
    process.env.RB_RETRY_BASE_MS = '50';
    const dst = await createTestDatabase('par_dst');
    const yaml = pipelineYaml({ name: 'retry_test', srcUrl: src.url, dstUrl: dst.url, streams: ['s1'], writeMode: 'append', extra: 'resources: { max_batch_bytes: 64kb, max_retries: 3 }\n' });
    const running = runPipeline(parsePipelineConfig(yaml, 'p.yaml', {}), { parallelism: 2, availableCores: 2 });
    expect(await terminateWhenWriting(dst, 'rb s1#1')).toBe(true);
    const result = await running;
    delete process.env.RB_RETRY_BASE_MS;
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('succeeded');
    expect(result.retries).toBeGreaterThanOrEqual(1);
    expect(result.streams[0].retries).toBe(result.retries);
    const c = await dst.query(`select count(*)::int as n, count(distinct id)::int as d, sum(id)::int8 as s from s1`);
    expect(c.rows[0]).toEqual({ n: 40000, d: 40000, s: String((40000 * 40001) / 2) });
    const ledger = await dst.query(`select count(*)::int as n, sum(rows)::int as rows from _rb.shard_ledger`);
    expect(ledger.rows[0]).toEqual({ n: result.streams[0].shards, rows: 40000 });
  });
});
