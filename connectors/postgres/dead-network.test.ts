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
  /**
   * Connections that have carried more than `bytes` towards the server pass nothing back from it
   * any more (what rb sends still arrives): a COPY's data all reaches the server, its answer never
   * reaches rb.
   */
  muteDown(bytes: number): number;
  /** The same for connections that have carried more than `bytes` from the server. */
  muteDownAfter(bytes: number): number;
  close(): void;
}

function relay(target: { host: string; port: number }): Promise<Relay> {
  const links: Array<{ client: net.Socket; server: net.Socket; up: number; down: number; dead: boolean; mute: boolean }> = [];
  const srv = net.createServer((client) => {
    const server = net.connect(target.port, target.host);
    const link = { client, server, up: 0, down: 0, dead: false, mute: false };
    links.push(link);
    client.on('data', (b) => {
      if (link.dead) return;
      link.up += b.length;
      if (!server.write(b)) client.pause();
    });
    server.on('drain', () => !link.dead && client.resume());
    server.on('data', (b) => {
      if (link.dead || link.mute) return;
      link.down += b.length;
      if (!client.write(b)) server.pause();
    });
    client.on('drain', () => !link.dead && server.resume());
    for (const s of [client, server]) s.on('error', () => {});
    // A dead network carries no FIN either: the server keeps its end of a stopped link.
    client.on('close', () => !link.dead && !link.mute && server.destroy());
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
        muteDown(bytes) {
          return mute((l) => l.up >= bytes);
        },
        muteDownAfter(bytes) {
          return mute((l) => l.down >= bytes);
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
  function mute(which: (l: (typeof links)[number]) => boolean): number {
    let n = 0;
    for (const l of links) {
      if (l.dead || l.mute || !which(l) || l.client.destroyed) continue;
      l.mute = true; // read from the server and dropped: it never waits to send
      n++;
    }
    return n;
  }
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
  await src?.query(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = current_database() and not active`).catch(() => {});
  proxy?.close();
  srcProxy?.close();
  await dropTestDatabases();
});

/** URLSearchParams writes a space as '+', which a connection URI (libpq's and rb's) keeps as '+'. */
function uri(u: URL): string {
  return u.toString().replace(/\+/g, '%20');
}

function viaRelay(url: string, timeoutMs: number, through: Relay = proxy): string {
  const u = new URL(url);
  u.port = String(through.port);
  u.searchParams.set('tcp_user_timeout', String(timeoutMs));
  return uri(u);
}

/**
 * One replace run of public.big with the relay on one side: `dest` (tcp_user_timeout 2000 ms, the
 * link carrying the COPY towards the server dies) or `source` (1500 ms, the link carrying it from
 * the server dies); `kill: false` runs through the relay with nothing dying.
 */
async function runWithDeadNetwork(name: string, extra: string, side: 'dest' | 'source' = 'dest', kill: boolean | 'mute' = true, writeMode: 'append' | 'replace' = 'replace') {
  const srcUrl = side === 'source' ? viaRelay(src.url, 1500, srcProxy) : src.url;
  const dstUrl = side === 'dest' ? viaRelay(dst.url, 2000) : dst.url;
  const config = parsePipelineConfig(pipelineYaml({ name, srcUrl, dstUrl, streams: ['public.big'], writeMode, extra }), 'p.yaml', {});
  let killed = 0;
  const started = performance.now();
  const result = await runPipeline(config, {
    parallelism: 1,
    availableCores: 2,
    retryBaseDelayMs: 100,
    // Once the COPY has carried a few MB: the network dies under it.
    onProgress: (p) => {
      if (kill && !killed && p.rows > 20_000) killed = kill === 'mute' ? proxy.muteDown(4 << 20) : side === 'dest' ? proxy.blackhole(4 << 20) : srcProxy.blackholeDown(4 << 20);
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
 * After the last write (connectors/dest-postgres/copy-in-writer.ts finish): everything rb sends
 * reaches the server, nothing comes back; rb waits for the COPY's answer and, after
 * tcp_user_timeout, finds the backend done (idle in transaction) or waiting for data.
 */
describe('a dead network after the last write of a COPY into the destination', () => {
  it('is given up once the backend is found waiting for rb, and the shard retried: every row once', async () => {
    await dst.query('drop table if exists public.big');
    const { result, killed, seconds } = await runWithDeadNetwork('deadfin_retry', 'resources: { max_batch_bytes: 1mb }', 'dest', 'mute');
    expect(killed).toBe(1);
    expect(result.error, JSON.stringify(result.error)).toBeUndefined();
    expect(result.retries).toBeGreaterThanOrEqual(1);
    expect(seconds).toBeLessThan(60);
    const n = await dst.query('select count(*)::int as n, count(distinct id)::int as d from public.big');
    expect(n.rows[0]).toEqual({ n: ROWS, d: ROWS });
    // The lost backend (idle in its transaction, holding the table it wrote) was ended.
    const left = await dst.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and state like 'idle in transaction%' and application_name like 'rb %'`);
    expect(left.rows[0].n).toBe(0);
  }, 120_000);

  it('without retries it fails as a lost destination connection naming the last write and the backend', async () => {
    await dst.query('drop table if exists public.big');
    const { result, killed } = await runWithDeadNetwork('deadfin_fail', 'resources: { max_batch_bytes: 1mb, max_retries: 0 }', 'dest', 'mute');
    expect(killed).toBe(1);
    expect(result.status).toBe('failed');
    expect(result.error?.message).toMatch(/sent no data for 2 s after rb's last write of a COPY, and its backend \(pid \d+\) is (idle in transaction|active \(ClientRead\))/);
    expect(exitCodeOf(result)).toBe(4);
    expect((await dst.query(`select to_regclass('public.big') as t`)).rows[0].t).toBeNull();
  }, 120_000);

  it('a COPY whose end takes longer than tcp_user_timeout while its backend works is waited for', async () => {
    // Appended into an existing table whose statement trigger sleeps 4 s when the COPY ends.
    await dst.query(`drop table if exists public.big;
      create table public.big (id int primary key, pad text);
      create function slow_end() returns trigger language plpgsql as $$ begin perform pg_sleep(4); return null; end $$;
      create trigger slow_end after insert on public.big for each statement execute function slow_end()`);
    try {
      const { result } = await runWithDeadNetwork('deadfin_slow', 'resources: { max_retries: 0 }', 'dest', false, 'append');
      expect(result.error, JSON.stringify(result.error)).toBeUndefined();
      expect(result.retries ?? 0).toBe(0);
      expect((await dst.query('select count(*)::int as n from public.big')).rows[0].n).toBe(ROWS);
    } finally {
      await dst.query('drop table if exists public.big; drop function if exists slow_end()');
    }
  }, 120_000);
});

/**
 * The read side (connectors/postgres/stall-watch.ts): the relay stands between rb and the
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
    // Stuck sending, or — when the server had sent the whole COPY into the relay's buffers before
    // the cut (seen once in CI under load) — done and waiting for rb: both are a lost network.
    expect(result.error?.message).toMatch(
      /sent no data for 1\.5 s while rb was reading, and its backend \(pid \d+\) (is waiting to send to rb \(ClientWrite\)|is idle in transaction \(ClientRead\): it waits for rb, what one side sent never reached the other) \(tcp_user_timeout 1500 ms\)/,
    );
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

/**
 * The CDC replication stream (connectors/source-postgres/replication-stream.ts): the relay stands
 * between rb and the source and, once the walsender's connection has carried a few MB of a
 * backlog, passes nothing more from the server while rb's status updates still arrive (a network
 * dead one way: the walsender hears rb and lives on). rb hears nothing, asks for a reply, gets
 * none, gives the stream up and ends the walsender, so the slot is free for the next run.
 */
describe('a dead network under a CDC stream', () => {
  it('is given up when the server answers no request for a reply; the walsender is ended and the next run applies everything once', async () => {
    await src.query(`create table cdcbig (id int primary key, pad text); insert into cdcbig select g, 'x' from generate_series(1, 1000) g`);
    const u = new URL(src.url);
    u.searchParams.set('options', '-c wal_sender_timeout=5s');
    const direct = uri(u);
    const yaml = (srcUrl: string) =>
      pipelineYaml({ name: 'deadcdc', srcUrl, dstUrl: dst.url, streams: ['public.cdcbig'], writeMode: 'upsert', extra: 'resources: { max_retries: 0 }' }).replace(
        /    - name: (\S+)/,
        '    - name: $1\n      sync_mode: cdc',
      );
    const first = await runPipeline(parsePipelineConfig(yaml(direct), 'p.yaml', {}), { parallelism: 1, availableCores: 2 });
    expect(first.error, JSON.stringify(first.error)).toBeUndefined();
    // A backlog of ~60 MB of changes.
    await src.query(`insert into cdcbig select g, repeat(md5(g::text), 7) from generate_series(1001, 250000) g`);
    let muted = 0;
    const watch = setInterval(() => {
      if (!muted) muted = srcProxy.muteDownAfter(4 << 20);
    }, 5);
    const started = performance.now();
    const lost = await runPipeline(parsePipelineConfig(yaml(viaRelay(direct, 1500, srcProxy)), 'p.yaml', {}), { parallelism: 1, availableCores: 2 });
    const seconds = (performance.now() - started) / 1000;
    clearInterval(watch);
    expect(muted).toBe(1);
    expect(lost.status).toBe('failed');
    // The bound: wal_sender_timeout (5 s) is larger than tcp_user_timeout (1.5 s).
    expect(lost.error?.message).toMatch(/the server sent nothing for 5 s and did not answer rb's request for a reply \(tcp_user_timeout 1500 ms/);
    expect(exitCodeOf(lost)).toBe(3);
    expect(seconds).toBeLessThan(60);
    // Ended by rb: without that the walsender, which still hears rb's socket's last status updates
    // only until the relay's end, would hold the slot for its own wal_sender_timeout (5 s).
    const slot = await src.query(`select active from pg_replication_slots where slot_name = 'rb_deadcdc'`);
    expect(slot.rows[0]?.active).toBe(false);
    const again = await runPipeline(parsePipelineConfig(yaml(direct), 'p.yaml', {}), { parallelism: 1, availableCores: 2 });
    expect(again.error, JSON.stringify(again.error)).toBeUndefined();
    const q = 'select count(*)::int as n, md5(string_agg(id || pad, \',\' order by id)) as h from cdcbig';
    expect((await dst.query(q)).rows[0]).toEqual((await src.query(q)).rows[0]);
  }, 180_000);
});
