/**
 * A network that dies during a long COPY (packets dropped, no reset): rb's tcp_user_timeout
 * (connectors/dest-postgres/copy-in-writer.ts, connection.ts writeStallMs) gives the connection up
 * when the server takes no data for that long, as a retryable connection error — the shard is
 * retried on a fresh connection and the run ends with the destination equal to the source —
 * instead of waiting out the kernel's ~15 minutes of retransmissions.
 *
 * The dead network is a TCP relay in this test between rb and the destination server that, on
 * command, stops moving bytes on the connections carrying a COPY (it reads nothing and writes
 * nothing more, and closes nothing); connections made after that are relayed normally.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../engine/config/index.js';
import { exitCodeOf, runPipeline } from '../../engine/run/run-pipeline.js';
import { pipelineYaml } from '../../engine/testing/pipeline-yaml.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../../engine/testing/pg.js';

interface Relay {
  port: number;
  /** Stops every connection that has carried more than `bytes` towards the server. */
  blackhole(bytes: number): number;
  /** Stops every connection that has carried more than `bytes` from the server. */
  blackholeDown(bytes: number): number;
  close(): void;
}

function relay(target: { host: string; port: number }): Promise<Relay> {
  const links: Array<{ client: net.Socket; server: net.Socket; up: number; down: number; dead: boolean }> = [];
  const srv = net.createServer((client) => {
    const server = net.connect(target.port, target.host);
    const link = { client, server, up: 0, down: 0, dead: false };
    links.push(link);
    client.on('data', (b) => {
      if (link.dead) return;
      link.up += b.length;
      if (!server.write(b)) client.pause();
    });
    server.on('drain', () => !link.dead && client.resume());
    server.on('data', (b) => {
      if (link.dead) return;
      link.down += b.length;
      if (!client.write(b)) server.pause();
    });
    client.on('drain', () => !link.dead && server.resume());
    for (const s of [client, server]) s.on('error', () => {});
    client.on('close', () => server.destroy());
    server.on('close', () => !link.dead && client.destroy());
  });
  return new Promise((resolve) =>
    srv.listen(0, '127.0.0.1', () =>
      resolve({
        port: (srv.address() as net.AddressInfo).port,
        blackhole(bytes) {
          return kill((l) => l.up >= bytes);
        },
        blackholeDown(bytes) {
          return kill((l) => l.down >= bytes);
        },
        close() {
          for (const l of links) {
            l.client.destroy();
            l.server.destroy();
          }
          srv.close();
        },
      }),
    ),
  );
  function kill(which: (l: (typeof links)[number]) => boolean): number {
    let n = 0;
    for (const l of links) {
      if (l.dead || !which(l) || l.client.destroyed) continue;
      // Nothing read from either side any more (the sender's socket fills up), nothing passed on.
      l.dead = true;
      l.client.pause();
      l.server.pause();
      n++;
    }
    return n;
  }
}

let src: TestDb;
let dst: TestDb;
let proxy: Relay;
/** In front of the source, for the read side. */
let srcProxy: Relay;
const ROWS = 300_000;

beforeAll(async () => {
  src = await createTestDatabase('deadnet_src');
  dst = await createTestDatabase('deadnet_dst');
  // ~70 MB of rows: more than any socket buffers between rb and the server hold.
  await src.query(`create table big (id int primary key, pad text); insert into big select g, repeat(md5(g::text), 7) from generate_series(1, ${ROWS}) g`);
  const u = new URL(dst.url);
  proxy = await relay({ host: u.hostname, port: Number(u.port) });
  const su = new URL(src.url);
  srcProxy = await relay({ host: su.hostname, port: Number(su.port) });
}, 120_000);
afterAll(async () => {
  proxy?.close();
  srcProxy?.close();
  await dropTestDatabases();
});

function viaRelay(url: string, timeoutMs: number, through: Relay = proxy): string {
  const u = new URL(url);
  u.port = String(through.port);
  u.searchParams.set('tcp_user_timeout', String(timeoutMs));
  return u.toString();
}

/**
 * One replace run of public.big with the relay on one side: `dest` (tcp_user_timeout 2000 ms, the
 * link carrying the COPY towards the server dies) or `source` (1500 ms, the link carrying it from
 * the server dies); `kill: false` runs through the relay with nothing dying.
 */
async function runWithDeadNetwork(name: string, extra: string, side: 'dest' | 'source' = 'dest', kill = true) {
  const srcUrl = side === 'source' ? viaRelay(src.url, 1500, srcProxy) : src.url;
  const dstUrl = side === 'dest' ? viaRelay(dst.url, 2000) : dst.url;
  const config = parsePipelineConfig(pipelineYaml({ name, srcUrl, dstUrl, streams: ['public.big'], writeMode: 'replace', extra }), 'p.yaml', {});
  let killed = 0;
  const started = performance.now();
  const result = await runPipeline(config, {
    parallelism: 1,
    availableCores: 2,
    retryBaseDelayMs: 100,
    // Once the COPY has carried a few MB: the network dies under it.
    onProgress: (p) => {
      if (kill && !killed && p.rows > 20_000) killed = side === 'dest' ? proxy.blackhole(4 << 20) : srcProxy.blackholeDown(4 << 20);
    },
  });
  return { result, killed, seconds: (performance.now() - started) / 1000 };
}

describe('a dead network during a COPY into the destination', () => {
  it('is given up after tcp_user_timeout and the shard retried: the run completes, every row once', async () => {
    const { result, killed, seconds } = await runWithDeadNetwork('deadnet_retry', 'resources: { max_batch_bytes: 1mb }');
    expect(killed).toBe(1);
    expect(result.error, JSON.stringify(result.error)).toBeUndefined();
    expect(result.retries).toBeGreaterThanOrEqual(1);
    expect(seconds).toBeLessThan(60); // not the kernel's ~15 minutes
    const n = await dst.query('select count(*)::int as n, count(distinct id)::int as d from public.big');
    expect(n.rows[0]).toEqual({ n: ROWS, d: ROWS });
  }, 120_000);

  it('without retries it fails as a lost connection naming tcp_user_timeout, and the target is left as it was', async () => {
    await dst.query('drop table if exists public.big');
    const { result, killed } = await runWithDeadNetwork('deadnet_fail', 'resources: { max_batch_bytes: 1mb, max_retries: 0 }');
    expect(killed).toBe(1);
    expect(result.status).toBe('failed');
    expect(result.error?.message).toMatch(/took no data for 2 s while rb was writing \(tcp_user_timeout 2000 ms\)/);
    expect(exitCodeOf(result)).toBe(4); // the destination's connection
    expect((await dst.query(`select to_regclass('public.big') as t`)).rows[0].t).toBeNull();
  }, 120_000);
});

/**
 * The read side (connectors/source-postgres/read-stall.ts): the relay stands between rb and the
 * source and stops the COPY's connection once it has carried a few MB; the backend is then stuck
 * sending (ClientWrite) while rb receives nothing.
 */
describe('a dead network during a COPY out of the source', () => {
  it('is given up once the backend is found stuck sending, and the shard retried: every row once', async () => {
    const { result, killed, seconds } = await runWithDeadNetwork('deadsrc_retry', 'resources: { max_batch_bytes: 1mb }', 'source');
    expect(killed).toBe(1);
    expect(result.error, JSON.stringify(result.error)).toBeUndefined();
    expect(result.retries).toBeGreaterThanOrEqual(1);
    expect(seconds).toBeLessThan(60); // not keepalives' minutes
    const n = await dst.query('select count(*)::int as n, count(distinct id)::int as d from public.big');
    expect(n.rows[0]).toEqual({ n: ROWS, d: ROWS });
    // The stuck backend was ended, not left holding its snapshot.
    const left = await src.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event = 'ClientWrite'`);
    expect(left.rows[0].n).toBe(0);
  }, 120_000);

  it('without retries it fails as a lost source connection naming tcp_user_timeout and the stuck backend', async () => {
    await dst.query('drop table if exists public.big');
    const { result, killed } = await runWithDeadNetwork('deadsrc_fail', 'resources: { max_batch_bytes: 1mb, max_retries: 0 }', 'source');
    expect(killed).toBe(1);
    expect(result.status).toBe('failed');
    expect(result.error?.message).toMatch(/sent no data for 1\.5 s while rb was reading, and its backend \(pid \d+\) is waiting to send to rb \(ClientWrite\) \(tcp_user_timeout 1500 ms\)/);
    expect(exitCodeOf(result)).toBe(3); // the source's connection
    expect((await dst.query(`select to_regclass('public.big') as t`)).rows[0].t).toBeNull();
  }, 120_000);

  it('a source that sends nothing for longer than tcp_user_timeout while its backend works is waited for, not given up', async () => {
    // The filter's sub-select sleeps 4 s before the COPY's first row: silence with a working backend.
    const extra = `resources: { max_retries: 0 }\ntransforms:\n  - { type: filter, stream: public.big, where: "id <= (select 3 from pg_sleep(4))" }`;
    const { result } = await runWithDeadNetwork('deadsrc_slow', extra, 'source', false);
    expect(result.error, JSON.stringify(result.error)).toBeUndefined();
    expect(result.retries ?? 0).toBe(0);
    const n = await dst.query('select count(*)::int as n from public.big');
    expect(n.rows[0].n).toBe(3);
  }, 120_000);
});
