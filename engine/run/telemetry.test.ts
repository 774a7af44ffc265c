/**
 * Run telemetry end to end (docs/design.md section 16): the fields of a run's result exist and add
 * up, and runs slowed on purpose on one side get the verdict naming that side — RB_BENCH_DELAY_MS
 * sleeps in the destination stage after each frame (writers slow: readers blocked by a full
 * channel), RB_BENCH_SOURCE_DELAY_MS in the source stage before each (readers slow: writers wait
 * for data). Joined (in-thread queue) and split (ring between two threads) stage modes.
 */
import { createConnection, createServer, type Server } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../config/index.js';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';
import { runPipeline, type RunResult } from './run-pipeline.js';

let src: TestDb;
const ROWS = 60_000;

beforeAll(async () => {
  src = await createTestDatabase('tel_src');
  await src.query(`
    create table t (id bigint primary key, label text not null);
    insert into t select g, repeat(md5(g::text), 2) from generate_series(1, ${ROWS}) g;
    analyze t;
  `);
});
afterEach(() => {
  for (const k of ['RB_SHARD_MIN_BYTES', 'RB_BENCH_DELAY_MS', 'RB_BENCH_SOURCE_DELAY_MS', 'RB_STAGE_MODE', 'RB_TELEMETRY']) delete process.env[k];
});
afterAll(dropTestDatabases);

/** Two shards of ~2.6 MB each, in 64 kB frames (about 40 per shard). */
async function run(env: Record<string, string> = {}, srcUrl = src.url): Promise<RunResult> {
  Object.assign(process.env, { RB_SHARD_MIN_BYTES: '0', ...env });
  const dst = await createTestDatabase('tel_dst');
  const yaml = pipelineYaml({ name: 'telemetry_test', srcUrl, dstUrl: dst.url, streams: ['public.t'], writeMode: 'append', extra: 'resources: { max_batch_bytes: 64kb, max_inflight_batches: 2 }' });
  const r = await runPipeline(parsePipelineConfig(yaml, 'p.yaml', {}), { parallelism: 2, availableCores: 2 });
  expect(r.error).toBeUndefined();
  expect(r.rows_written).toBe(ROWS);
  return r;
}

describe('run telemetry', () => {
  it('reports CPU, per-shard times and waits, and skew that add up', async () => {
    const r = await run();
    const tel = r.telemetry!;
    expect(tel.cpu_user_s + tel.cpu_system_s).toBeGreaterThan(0);
    expect(tel.cpu_user_s).toBeGreaterThan(0);
    expect(tel.cores).toBe(2);
    expect(tel.cpu_utilization).toBeGreaterThan(0);
    // Utilization is CPU seconds / wall seconds / cores.
    expect(tel.cpu_utilization).toBeCloseTo((tel.cpu_user_s + tel.cpu_system_s) / (r.duration_ms / 1000) / 2, 1);
    expect(tel.writers_waited_pct).toBeGreaterThanOrEqual(0);
    expect(tel.writers_waited_pct).toBeLessThanOrEqual(100);
    expect(tel.readers_blocked_pct).toBeGreaterThanOrEqual(0);
    expect(tel.readers_blocked_pct).toBeLessThanOrEqual(100);
    const s = r.streams[0];
    expect(s.shards).toBe(2);
    expect(s.shard_times.map((x) => x.shard)).toEqual([0, 1]);
    expect(s.shard_times.reduce((a, x) => a + x.rows, 0)).toBe(s.rows);
    expect(s.shard_times.reduce((a, x) => a + x.bytes, 0)).toBe(s.bytes);
    for (const x of s.shard_times) {
      expect(x.rows).toBeGreaterThan(0);
      expect(x.wall_ms).toBeGreaterThan(0);
      // A shard runs inside the stream's time and the run's move phase.
      expect(x.wall_ms).toBeLessThanOrEqual(s.duration_ms + 1);
      expect(x.wall_ms).toBeLessThanOrEqual(r.phases_ms.move + 1);
      expect(x.dest_wait_ms).toBeGreaterThanOrEqual(0);
      expect(x.source_blocked_ms).toBeGreaterThanOrEqual(0);
      expect(x.dest_wait_ms).toBeLessThanOrEqual(x.wall_ms);
      expect(x.source_blocked_ms).toBeLessThanOrEqual(x.wall_ms);
      expect(x.retries).toBe(0);
    }
    const slowest = s.shard_times.reduce((a, b) => (b.wall_ms > a.wall_ms ? b : a));
    expect(s.skew).toMatchObject({ slowest_shard: slowest.shard, slowest_ms: slowest.wall_ms });
    expect(s.skew!.ratio).toBeGreaterThanOrEqual(1);
    expect(s.skew!.median_ms).toBeLessThanOrEqual(s.skew!.slowest_ms);
    // The test cluster runs on this machine and holds both databases: one server, measured from /proc.
    expect(tel.same_server).toBe(true);
    expect(tel.source_server_cpu_s).toBeGreaterThan(0);
    expect(tel.destination_server_cpu_s).toBe(tel.source_server_cpu_s);
    expect(tel.server_cpu_s).toBe(tel.source_server_cpu_s);
    expect(tel.server_cpu_unknown).toBeUndefined();
    expect(tel.machine_cpu_utilization).toBeCloseTo((tel.cpu_user_s + tel.cpu_system_s + tel.server_cpu_s!) / (r.duration_ms / 1000) / 2, 1);
    expect(tel.machine_cpu_utilization).toBeGreaterThan(tel.cpu_utilization);
  });

  it('a server rb cannot see (behind a TCP proxy, as a remote one) has no server CPU, and says why', async () => {
    // A plain TCP relay to the cluster: the server sees the relay's port, not rb's.
    const at = new URL(src.url);
    const proxy: Server = createServer((client) => {
      const upstream = createConnection(Number(at.port), at.hostname);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const via = new URL(src.url);
      via.hostname = '127.0.0.1';
      via.port = String((proxy.address() as { port: number }).port);
      const tel = (await run({}, via.toString())).telemetry!;
      expect(tel.source_server_cpu_s).toBeNull();
      expect(tel.server_cpu_unknown?.source).toMatch(/not on this machine/);
      // The destination is still the local cluster's, and it alone is the total.
      expect(tel.same_server).toBe(false);
      expect(tel.destination_server_cpu_s).toBeGreaterThan(0);
      expect(tel.server_cpu_s).toBe(tel.destination_server_cpu_s);
    } finally {
      proxy.close();
    }
  });

  it.each([
    ['destination', 'RB_BENCH_DELAY_MS'],
    ['source', 'RB_BENCH_SOURCE_DELAY_MS'],
  ] as const)('a run slowed on the %s side (%s) says so', async (side, variable) => {
    const r = await run({ [variable]: '25' });
    const tel = r.telemetry!;
    expect(tel.verdict?.bound, JSON.stringify(tel)).toBe(side);
    expect(tel.verdict!.text).toMatch(new RegExp(`^${side}-bound: writers waited \\d+% of the time, readers were blocked \\d+%$`));
    // The slowed side's partner waited: readers blocked by slow writers, writers waiting for slow readers.
    expect(side === 'destination' ? tel.readers_blocked_pct : tel.writers_waited_pct).toBeGreaterThanOrEqual(50);
    for (const x of r.streams[0].shard_times) {
      const [waited, other] = side === 'destination' ? [x.source_blocked_ms, x.dest_wait_ms] : [x.dest_wait_ms, x.source_blocked_ms];
      expect(waited).toBeGreaterThan(other);
    }
  });

  it('split stage mode measures both ends of the ring: destination-bound and source-bound', async () => {
    const d = await run({ RB_STAGE_MODE: 'split', RB_BENCH_DELAY_MS: '25' });
    expect(d.stage_mode).toBe('split');
    expect(d.telemetry!.verdict?.bound, JSON.stringify(d.telemetry)).toBe('destination');
    delete process.env.RB_BENCH_DELAY_MS;
    const s = await run({ RB_STAGE_MODE: 'split', RB_BENCH_SOURCE_DELAY_MS: '25' });
    expect(s.telemetry!.verdict?.bound, JSON.stringify(s.telemetry)).toBe('source');
  });

  it('RB_TELEMETRY=0 measures no waits and gives no verdict (the A/B of bench/telemetry)', async () => {
    const r = await run({ RB_TELEMETRY: '0', RB_BENCH_DELAY_MS: '25' });
    expect(r.telemetry!.verdict).toBeNull();
    expect(r.telemetry!.cpu_user_s).toBeGreaterThan(0);
    for (const x of r.streams[0].shard_times) expect([x.dest_wait_ms, x.source_blocked_ms]).toEqual([0, 0]);
  });
});
