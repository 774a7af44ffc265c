/**
 * Split stage mode (issue: parallel runtime): a shard's source stage and destination stage run as
 * two pool tasks joined by a ring channel. Copies are exact at every pool size (1 thread falls
 * back to joined), any number of shards and streams completes, a huge row crosses the ring in
 * pieces, and a terminated backend on either side fails the run with that side's error, leaving
 * no rb backend behind. The failure cases run in both stage modes.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../config/index.js';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';
import { quickChecksum } from '../verify/index.js';
import { exitCodeOf, runPipeline } from '../run/run-pipeline.js';
import type { DataFrame, Frame, FrameSink, FrameSource } from '../../connectors/contract/frames.js';
import { queueChannel, ringSink, ringSource } from './chunk-channel.js';
import { RbError } from '../errors.js';
import { RingChannel } from './ring-channel.js';
import { effectiveStageMode, ringFrameBytes, stageModeFromEnv } from './shard-pool.js';

let src: TestDb;
const SMALL = ['a1', 'a2', 'a3', 'a4', 'a5'];
/**
 * One value far larger than a 64 kB frame. (20 MB works too, but CopyOutReader accumulates a
 * CopyData message that spans socket reads by re-concatenating it per read — quadratic in the
 * row's size — which makes a 20 MB row take 10-20 s in either stage mode.)
 */
const HUGE_VALUE_BYTES = 8 * 1024 * 1024;
const saved = { min: process.env.RB_SHARD_MIN_BYTES, mode: process.env.RB_STAGE_MODE, delay: process.env.RB_BENCH_DELAY_MS };

beforeAll(async () => {
  src = await createTestDatabase('split_src');
  await src.query(`
    ${SMALL.map((t, i) => `create table ${t} (id int primary key, x text, n numeric); insert into ${t} select g, md5(g::text) || '${t}', g * ${i + 1}.5 from generate_series(1, ${8000 + i * 1000}) g;`).join('\n')}
    create table wide (id bigint primary key, v int, label text);
    insert into wide select g, g % 977, repeat(chr(65 + g % 26), 40 + g % 60) from generate_series(1, 80000) g;
    create table huge (id int primary key, body text);
    insert into huge select g, 'small ' || g from generate_series(1, 3000) g;
    insert into huge values (1500000, repeat('0123456789abcdef', ${HUGE_VALUE_BYTES / 16}));
    insert into huge select g, null from generate_series(1500001, 1500100) g;
    create table slow (id int primary key, x text);
    -- Large enough that a shard does not fit in loopback socket buffers: its source backend is
    -- still sending (active) when the test kills it.
    insert into slow select g, repeat('s', 100) from generate_series(1, 600000) g;
    analyze;
  `);
});
afterEach(() => {
  for (const [key, value] of [
    ['RB_SHARD_MIN_BYTES', saved.min],
    ['RB_STAGE_MODE', saved.mode],
    ['RB_BENCH_DELAY_MS', saved.delay],
  ] as const) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});
afterAll(dropTestDatabases);

function yamlFor(dstUrl: string, streams: string[], extra = '', loadMethod: 'copy' | 'insert' = 'copy'): string {
  return pipelineYaml({ name: 'split_test', srcUrl: src.url, dstUrl, streams, extra, loadMethod });
}

async function expectSameTables(dstUrl: string, tables: string[]): Promise<void> {
  for (const table of tables) {
    const want = await quickChecksum(src.url, { schema: 'public', table });
    expect(await quickChecksum(dstUrl, { schema: 'public', table }), table).toEqual(want);
  }
}

/** rb backends still connected to this test's database (other test files share the cluster). */
async function rbBackends(db: TestDb): Promise<number> {
  const r = await db.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name like 'rb %'`);
  return r.rows[0].n;
}

async function expectNoRbBackends(...dbs: TestDb[]): Promise<void> {
  // Terminated workers close their sockets asynchronously: give the servers a moment to notice.
  for (let i = 0; i < 100; i++) {
    const counts = await Promise.all(dbs.map(rbBackends));
    if (counts.every((n) => n === 0)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(await Promise.all(dbs.map(rbBackends))).toEqual(dbs.map(() => 0));
}

/** Terminates the backend of `appName` in `db` once it is running a statement. */
async function terminateWhenActive(db: TestDb, appName: string): Promise<boolean> {
  const killer = await db.client();
  for (let i = 0; i < 1200; i++) {
    const r = await killer.query(
      `select pg_terminate_backend(pid) as ok from pg_stat_activity where datname = current_database() and application_name = $1 and state = 'active'`,
      [appName],
    );
    if (r.rows.some((x) => x.ok)) return true;
    await new Promise((res) => setTimeout(res, 25));
  }
  return false;
}

describe('stage mode selection', () => {
  it('reads RB_STAGE_MODE and falls back to joined on a one-thread pool', () => {
    expect(stageModeFromEnv({})).toBe('joined');
    expect(stageModeFromEnv({ RB_STAGE_MODE: 'split' })).toBe('split');
    expect(stageModeFromEnv({ RB_STAGE_MODE: 'joined' })).toBe('joined');
    expect(() => stageModeFromEnv({ RB_STAGE_MODE: 'both' })).toThrow("RB_STAGE_MODE: expected one of joined, split, found 'both'");
    expect(effectiveStageMode('split', 1)).toBe('joined');
    expect(effectiveStageMode('split', 2)).toBe('split');
    expect(effectiveStageMode('joined', 8)).toBe('joined');
    expect(ringFrameBytes(64 * 1024)).toBe(64 * 1024);
    expect(ringFrameBytes(100_000)).toBe(128 * 1024);
  });
});

describe('chunk channels', () => {
  const chunkOf = (bytes: number, rows: number, seed: number) => ({ kind: 'copy' as const, bytes: Buffer.from(Array.from({ length: bytes }, (_, i) => (i * 7 + seed) & 0xff)), rows });
  const cancelled = () => new RbError('cancelled', 'cancelled');

  it('a ring carries a chunk larger than a frame as pieces, or whole when asked', async () => {
    const chunks = [chunkOf(1000, 3, 1), chunkOf(4096 * 3 + 17, 5, 2), chunkOf(4096, 1, 3)];
    for (const wholeChunks of [false, true]) {
      const ring = RingChannel.create({ capacity: 2, maxFrameBytes: 4096 });
      const sink = ringSink(ring, { streamIndex: 2, shardIndex: 7, cancelled });
      const source = ringSource(ring, { streamIndex: 2, shardIndex: 7, wholeChunks, cancelled });
      const producing = (async () => {
        for (const c of chunks) await sink.push(c);
        sink.end();
      })();
      const got: Array<{ bytes: Buffer; rows: number }> = [];
      for (let c = await source.pull(); c.kind !== 'end'; c = await source.pull()) got.push(c);
      await producing;
      if (wholeChunks) {
        expect(got).toEqual(chunks);
      } else {
        // 1000 | 4096 4096 4096 17 | 4096: rows only on each chunk's last piece.
        expect(got.map((c) => [c.bytes.length, c.rows])).toEqual([[1000, 3], [4096, 0], [4096, 0], [4096, 0], [17, 5], [4096, 1]]);
        expect(Buffer.concat(got.map((c) => c.bytes))).toEqual(Buffer.concat(chunks.map((c) => c.bytes)));
      }
    }
  });

  it('a source failure reaches the destination as the same RbError; a destination failure stops the source', async () => {
    const ring = RingChannel.create({ capacity: 1, maxFrameBytes: 4096 });
    const sink = ringSink(ring, { streamIndex: 0, shardIndex: 1, cancelled });
    const source = ringSource(ring, { streamIndex: 0, shardIndex: 1, wholeChunks: false, cancelled });
    await sink.push(chunkOf(10, 1, 0));
    sink.fail(new RbError('source_query', 's shard 1: reading: terminating connection', { stream: 's', shard: 1, pg: { sqlstate: '57P01' } }));
    const err = await source.pull().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RbError);
    expect((err as RbError).toJSON()).toMatchObject({ code: 'source_query', stream: 's', shard: 1, sqlstate: '57P01' });

    const ring2 = RingChannel.create({ capacity: 1, maxFrameBytes: 4096 });
    const sink2 = ringSink(ring2, { streamIndex: 0, shardIndex: 1, cancelled });
    const source2 = ringSource(ring2, { streamIndex: 0, shardIndex: 1, wholeChunks: false, cancelled });
    // Fill the ring so the next push blocks, then fail the destination side.
    await sink2.push(chunkOf(4096, 1, 0));
    await sink2.push(chunkOf(4096, 1, 0));
    const blocked = sink2.push(chunkOf(4096, 1, 0)).catch((e: unknown) => e);
    source2.fail(new RbError('dest_query', 'boom'));
    expect(((await blocked) as RbError).code).toBe('cancelled');
  });

  // One contract, two implementations: the same frames in, the same frames out.
  const channels: Array<[string, () => { sink: FrameSink; source: FrameSource }]> = [
    ['queue', () => queueChannel(2)],
    [
      'ring',
      () => {
        const ring = RingChannel.create({ capacity: 2, maxFrameBytes: 4096 });
        return { sink: ringSink(ring, { streamIndex: 1, shardIndex: 3, cancelled }), source: ringSource(ring, { streamIndex: 1, shardIndex: 3, wholeChunks: true, cancelled }) };
      },
    ],
  ];
  for (const [name, open] of channels) {
    it(`${name} channel: copy and changes frames arrive in order with their rows and LSNs, then end; acknowledgements travel back`, async () => {
      const { sink, source } = open();
      const frames: DataFrame[] = [
        chunkOf(100, 2, 1),
        { kind: 'changes', bytes: Buffer.from('first transaction'), rows: 3, lsn: 0x16b3748n },
        // LSNs are u64: above 2^32 and up to the largest.
        { kind: 'changes', bytes: Buffer.from('second'), rows: 1, lsn: 0x1_0000_0001n },
        { kind: 'changes', bytes: Buffer.alloc(0), rows: 0, lsn: 0xffff_ffff_ffff_fffen },
        chunkOf(4000, 7, 2),
      ];
      expect(sink.acknowledged()).toBe(0n);
      const producing = (async () => {
        for (const f of frames) await sink.push(f);
        sink.end();
      })();
      const got: Frame[] = [];
      for (;;) {
        const f = await source.pull();
        got.push(f);
        if (f.kind === 'end') break;
        if (f.kind === 'changes') source.acknowledge(f.lsn);
      }
      await producing;
      expect(got.map((f) => (f.kind === 'end' ? ['end'] : [f.kind, f.rows, f.kind === 'changes' ? f.lsn : null, f.bytes.toString('hex')]))).toEqual([
        ...frames.map((f) => [f.kind, f.rows, f.kind === 'changes' ? f.lsn : null, f.bytes.toString('hex')]),
        ['end'],
      ]);
      expect(sink.acknowledged()).toBe(0xffff_ffff_ffff_fffen);
      // Never back: a late or repeated acknowledgement of an older position changes nothing.
      source.acknowledge(5n);
      expect(sink.acknowledged()).toBe(0xffff_ffff_ffff_fffen);
    });
  }

  it('a ring refuses a changes frame larger than its frames (records decode only whole)', async () => {
    const ring = RingChannel.create({ capacity: 2, maxFrameBytes: 4096 });
    const sink = ringSink(ring, { streamIndex: 0, shardIndex: 0, cancelled });
    await expect(sink.push({ kind: 'changes', bytes: Buffer.alloc(5000), rows: 1, lsn: 1n })).rejects.toThrow('a changes frame of 5000 bytes exceeds');
  });

  it('the queue channel keeps the first failure', async () => {
    const ch = queueChannel(1);
    ch.source.fail(new RbError('dest_query', 'first'));
    ch.sink.fail(new RbError('source_query', 'second'));
    expect(ch.firstFailure()?.message).toBe('first');
    await expect(ch.sink.push({ kind: 'copy', bytes: Buffer.alloc(1), rows: 1 })).rejects.toThrow('first');
  });
});

describe('split stage mode', () => {
  it('copies 5 streams (5 shards) exactly with pools of 1, 2 and 3 threads', async () => {
    process.env.RB_SHARD_MIN_BYTES = '0';
    process.env.RB_STAGE_MODE = 'split';
    for (const p of [1, 2, 3]) {
      const dst = await createTestDatabase('split_dst');
      const r = await runPipeline(parsePipelineConfig(yamlFor(dst.url, SMALL), 'p.yaml', {}), { parallelism: p, availableCores: 2 });
      expect(r.error, `pool ${p}`).toBeUndefined();
      expect(r.stage_mode).toBe(p === 1 ? 'joined' : 'split');
      expect(r.parallelism_effective).toBe(p);
      expect(r.streams.map((s) => s.shards)).toEqual([1, 1, 1, 1, 1]);
      expect(r.streams.map((s) => s.rows)).toEqual([8000, 9000, 10000, 11000, 12000]);
      await expectSameTables(dst.url, SMALL);
    }
  });

  it('copies sharded streams exactly: 2 streams × 2 shards on 4 threads', async () => {
    process.env.RB_SHARD_MIN_BYTES = '0';
    process.env.RB_STAGE_MODE = 'split';
    const dst = await createTestDatabase('split_dst');
    const r = await runPipeline(parsePipelineConfig(yamlFor(dst.url, ['wide', 'a3'], 'resources: { max_batch_bytes: 64kb }\n'), 'p.yaml', {}), { parallelism: 4, availableCores: 2 });
    expect(r.error).toBeUndefined();
    expect(r.stage_mode).toBe('split');
    expect(r.streams.map((s) => [s.name, s.shards, s.shard_kind, s.rows])).toEqual([
      ['wide', 2, 'range', 80000],
      ['a3', 2, 'range', 10000],
    ]);
    await expectSameTables(dst.url, ['wide', 'a3']);
  });

  it('moves an 8 MB value through 64 kB frames, by COPY and by INSERT', async () => {
    process.env.RB_STAGE_MODE = 'split';
    for (const loadMethod of ['copy', 'insert'] as const) {
      const dst = await createTestDatabase('split_dst');
      const config = parsePipelineConfig(yamlFor(dst.url, ['huge'], 'resources: { max_batch_bytes: 64kb }\n', loadMethod), 'p.yaml', {});
      const r = await runPipeline(config, { parallelism: 2, availableCores: 2 });
      expect(r.error, loadMethod).toBeUndefined();
      expect(r.stage_mode).toBe('split');
      expect(r.streams[0]).toMatchObject({ rows: 3101, load_method: loadMethod });
      expect(r.bytes_written).toBeGreaterThan(HUGE_VALUE_BYTES);
      await expectSameTables(dst.url, ['huge']);
      const big = await dst.query<{ n: number }>(`select length(body) as n from huge where id = 1500000`);
      expect(big.rows[0].n).toBe(HUGE_VALUE_BYTES);
    }
  });

  // Joined mode's destination failure is covered by engine/run/parallel-run.test.ts.
  {
    const mode = 'split';
    it(`${mode}: a terminated destination backend fails the run with dest_* naming the stream and shard`, async () => {
      process.env.RB_SHARD_MIN_BYTES = '0';
      process.env.RB_STAGE_MODE = mode;
      process.env.RB_BENCH_DELAY_MS = '20';
      const dst = await createTestDatabase('split_dst');
      await dst.query(`create table slow (id int primary key, x text); insert into slow values (-1, 'old')`);
      const running = runPipeline(parsePipelineConfig(yamlFor(dst.url, ['slow'], 'resources: { max_batch_bytes: 64kb, max_retries: 0 }\n'), 'p.yaml', {}), { parallelism: 4, availableCores: 2 });
      expect(await terminateWhenActive(dst, 'rb slow#0')).toBe(true);
      const result = await running;
      expect(result.stage_mode).toBe(mode);
      expect(result.status).toBe('failed');
      expect(result.error, JSON.stringify(result.error)).toMatchObject({ stream: 'slow', shard: 0 });
      expect(result.error!.code, JSON.stringify(result.error)).toMatch(/^dest_/);
      // The server's "terminating connection" arrives unless the kill lands mid-write: the
      // broken socket then fails the write first and the server's last message is never read.
      expect(result.error!.message).toMatch(/terminat|EPIPE|ECONNRESET/i);
      expect(exitCodeOf(result)).toBe(4);
      expect((await dst.query('select id, x from slow')).rows).toEqual([{ id: -1, x: 'old' }]);
      await expectNoRbBackends(src, dst);
    });
  }

  for (const mode of ['split', 'joined'] as const) {
    it(`${mode}: a terminated source backend fails the run with source_* naming the stream and shard`, async () => {
      process.env.RB_SHARD_MIN_BYTES = '0';
      process.env.RB_STAGE_MODE = mode;
      process.env.RB_BENCH_DELAY_MS = '20';
      const dst = await createTestDatabase('split_dst');
      const running = runPipeline(parsePipelineConfig(yamlFor(dst.url, ['slow'], 'resources: { max_batch_bytes: 64kb, max_retries: 0 }\n'), 'p.yaml', {}), { parallelism: 4, availableCores: 2 });
      expect(await terminateWhenActive(src, 'rb slow#0')).toBe(true);
      const result = await running;
      expect(result.stage_mode).toBe(mode);
      expect(result.status).toBe('failed');
      expect(result.error, JSON.stringify(result.error)).toMatchObject({ stream: 'slow', shard: 0 });
      expect(result.error!.code, JSON.stringify(result.error)).toMatch(/^source_/);
      expect(result.error!.message).toMatch(/terminat/i);
      expect(exitCodeOf(result)).toBe(3);
      // The replace target was never created in place: no table, no staging left.
      const tables = await dst.query<{ n: number }>(`select count(*)::int as n from pg_class where relname like '%slow%' and relkind = 'r'`);
      expect(tables.rows[0].n).toBe(0);
      await expectNoRbBackends(src, dst);
    });
  }
});
