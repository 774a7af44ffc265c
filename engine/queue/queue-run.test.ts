/**
 * Queued runs (docs/design.md section 14) with real processes: `rb run --queue` as coordinator and
 * `rb worker` processes, each in a working directory of its own (two machines' stand-ins), against
 * a queue database, a source and a destination on the test cluster. Workers are killed (SIGKILL),
 * paused past their job's expiry (SIGSTOP/SIGCONT), and the coordinator is killed; after each the
 * destination must equal the source with no row twice, and the ledger must show every shard once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { clusterInfo, createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';
import { PgBossQueue } from '../../connectors/queue-pgboss/pgboss-queue.js';
import { connectionVariable } from './connections.js';
import { QUEUE_PROTOCOL, versionMismatch, type ShardJobPayload } from './job-payload.js';

const BIN = fileURLToPath(new URL('../cli/bin.js', import.meta.url));
const ROWS = 2_000_000;
/** Shards slowed so that a worker is killed or paused in the middle of one. */
const RUN_ENV = { RB_SHARD_MIN_BYTES: '0', RB_QUEUE_POLL_MS: '100', RB_RETRY_BASE_MS: '50' };
const WORKER_ENV = { RB_WORKER_POLL_MS: '200' };

let src: TestDb;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  src = await createTestDatabase('q_src');
  await src.query(`
    create table big (id int primary key, v text not null);
    insert into big select g, md5(g::text) from generate_series(1, ${ROWS}) g;
    create table small (id int primary key, v text not null);
    insert into small select g, repeat(md5(g::text), 4) from generate_series(1, 100000) g;
    analyze;
  `);
}, 120_000);
afterEach(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
});
afterAll(dropTestDatabases);

/** A process whose stderr lines are kept and can be waited for. */
interface Proc {
  child: ChildProcess;
  lines: string[];
  out: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
}

function start(args: string[], env: Record<string, string>, cwd: string): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const lines: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  let buf = '';
  const p: Proc = {
    child,
    lines,
    out: '',
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
    waitFor(re, timeoutMs = 60_000) {
      const hit = lines.find((l) => re.test(l));
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms; stderr:\n${lines.join('\n')}`)), timeoutMs);
        waiters.push({ re, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      });
    },
  };
  child.stdout!.on('data', (d: Buffer) => (p.out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  return p;
}

interface Setup {
  pipeline: string;
  dst: TestDb;
  queue: TestDb;
  file: string;
  coordinatorDir: string;
  /** Worker A: credentials from RB_CONNECTION_* variables; worker B: from its own copy of the pipeline file. */
  worker(which: 'A' | 'B', concurrency?: number): Proc;
  run(extra?: string[], env?: Record<string, string>): Proc;
}

async function setup(name: string, table: string, writeMode: 'append' | 'replace' | 'upsert', shards: number, more: { stream?: string; resources?: string } = {}): Promise<Setup> {
  const dst = await createTestDatabase('q_dst');
  const queue = await createTestDatabase('q_queue');
  const yaml = pipelineYaml({ name, srcUrl: src.url, dstUrl: dst.url, streams: [table], writeMode, extra: `resources: { parallelism: ${shards}${more.resources ? `, ${more.resources}` : ''} }` });
  const text = more.stream ? yaml.replace(`    - name: ${table}\n`, `    - name: ${table}\n${more.stream}`) : yaml;
  const coordinatorDir = mkdtempSync(join(tmpdir(), 'rb-coord-'));
  const file = join(coordinatorDir, 'pipeline.yaml');
  writeFileSync(file, text);
  const dirs = { A: mkdtempSync(join(tmpdir(), 'rb-worker-a-')), B: mkdtempSync(join(tmpdir(), 'rb-worker-b-')) };
  writeFileSync(join(dirs.B, 'mine.yaml'), text);
  return {
    pipeline: name,
    dst,
    queue,
    file,
    coordinatorDir,
    worker(which, concurrency = 1) {
      const args = ['worker', '--queue', queue.url, '--concurrency', String(concurrency)];
      if (which === 'A') {
        return start(args, { ...WORKER_ENV, [connectionVariable({ pipeline: name, role: 'source' })]: src.url, [connectionVariable({ pipeline: name, role: 'destination' })]: dst.url }, dirs.A);
      }
      return start([...args, '--pipeline', 'mine.yaml'], WORKER_ENV, dirs.B);
    },
    run(extra = [], env = {}) {
      return start(['run', file, '--queue', queue.url, '--json', ...extra], { ...RUN_ENV, ...env }, coordinatorDir);
    },
  };
}

interface QueuedJson {
  status: string;
  executor: string;
  rows_written: number;
  snapshots: number;
  resumed_from?: string;
  queue: { jobs: number; workers: Record<string, number>; shards: Array<{ stream: string; shard: number; worker: string | null; attempts: number; rows: number }> };
  error?: { message: string };
}

async function finished(p: Proc): Promise<QueuedJson> {
  const { code } = await p.exited;
  const json = JSON.parse(p.out) as QueuedJson;
  expect(code, `coordinator: ${JSON.stringify(json.error)}\n${p.lines.join('\n')}`).toBe(0);
  return json;
}

/** Destination equal to the source, each key once; every shard once in the ledger. */
async function expectEqual(s: Setup, table: string, shards: number): Promise<void> {
  const want = await src.query(`select count(*)::int as n, md5(string_agg(id || ':' || v, ',' order by id)) as h from ${table}`);
  const got = await s.dst.query(`select count(*)::int as n, count(distinct id)::int as d, md5(string_agg(id || ':' || v, ',' order by id)) as h from ${table}`);
  expect(got.rows[0]).toEqual({ n: want.rows[0].n, d: want.rows[0].n, h: want.rows[0].h });
  const ledger = await s.dst.query(`select count(*)::int as n, count(distinct shard)::int as d from _rb.shard_ledger where pipeline = $1`, [s.pipeline]);
  expect(ledger.rows[0]).toEqual({ n: shards, d: shards });
}

/** Which worker (host:pid) a worker process reports as. */
const nameOf = (p: Proc) => `:${p.child.pid}`;

describe('rb run --queue with rb worker processes', () => {
  it('2M rows in 8 shards, two workers, one SIGKILLed after its first commit: the run completes, equal, no duplicates, both workers in --json', async () => {
    const s = await setup('q_two_workers', 'big', 'append', 8);
    const a = s.worker('A');
    const b = s.worker('B');
    await Promise.all([a.waitFor(/waiting for shard jobs/), b.waitFor(/waiting for shard jobs/)]);
    const run = s.run(['--job-timeout', '3'], { RB_BENCH_DELAY_MS: '150' });
    // A commits one shard and takes the next; it dies holding it.
    await a.waitFor(/committed: \d+ rows/);
    const took = () => a.lines.filter((l) => /took big shard/.test(l));
    while (took().length < 2) await new Promise((r) => setTimeout(r, 20));
    a.child.kill('SIGKILL');
    const held = took()[1];
    const json = await finished(run);
    b.child.kill('SIGTERM');
    expect((await b.exited).code).toBe(0);
    await expectEqual(s, 'big', 8);
    expect(json.executor).toBe('queue');
    expect(json.rows_written).toBe(ROWS);
    const workers = new Set(json.queue.shards.map((x) => x.worker));
    expect([...workers].some((w) => w?.endsWith(nameOf(a))), JSON.stringify(json.queue)).toBe(true);
    expect([...workers].some((w) => w?.endsWith(nameOf(b))), JSON.stringify(json.queue)).toBe(true);
    // The shard A held when it died expired and was redone by B.
    const heldShard = Number(/took big shard (\d+)/.exec(held)![1]);
    const redone = json.queue.shards.find((x) => x.shard === heldShard)!;
    expect(redone.worker?.endsWith(nameOf(b))).toBe(true);
    expect(redone.attempts).toBeGreaterThanOrEqual(2);
    // No password in the queue: the jobs carry the connections' names and labels only.
    const leaked = await s.queue.query(`select count(*)::int as n from pgboss.job where data::text like '%' || $1 || '%'`, [clusterInfo().password]);
    expect(leaked.rows[0].n).toBe(0);
    expect((await s.queue.query(`select count(*)::int as n from pgboss.job where name = 'rb-shards'`)).rows[0].n).toBe(8);
  });

  it('workers SIGKILLed at random moments, a new one started in their place: every run completes equal, no shard twice (3 trials)', async () => {
    const moments: number[] = [];
    let inHand = 0;
    for (let trial = 0; trial < 3; trial++) {
      const s = await setup(`q_random_${trial}`, 'small', 'append', 8);
      const a = s.worker('A');
      const b = s.worker('B');
      await Promise.all([a.waitFor(/waiting for shard jobs/), b.waitFor(/waiting for shard jobs/)]);
      const run = s.run(['--job-timeout', '2'], { RB_BENCH_DELAY_MS: '100' });
      const at = 300 + Math.round(Math.random() * 2500);
      moments.push(at);
      await new Promise((r) => setTimeout(r, at));
      a.child.kill('SIGKILL');
      // Shards A had taken and not reported when it died: their jobs expire and go to B or A2.
      const took = a.lines.filter((l) => /took small shard/.test(l)).map((l) => /shard (\d+)/.exec(l)![1]);
      const done = new Set(a.lines.filter((l) => /committed: /.test(l)).map((l) => /shard (\d+)/.exec(l)![1]));
      if (took.some((x) => !done.has(x))) inHand++;
      const a2 = s.worker('A');
      const json = await finished(run);
      expect(json.rows_written, `trial ${trial}, A killed at ${at} ms`).toBe(100000);
      for (const w of [b, a2]) w.child.kill('SIGTERM');
      await expectEqual(s, 'small', 8);
    }
    // The kills must have landed inside shards, or they show nothing.
    expect(inHand, `kill moments ${moments.join(', ')} ms`).toBeGreaterThanOrEqual(1);
  });

  it('a zombie worker (SIGSTOP past its expiry, SIGCONT after its shard was redone) is refused by the ledger: nothing doubled', async () => {
    const s = await setup('q_zombie', 'small', 'append', 8);
    const a = s.worker('A');
    await a.waitFor(/waiting for shard jobs/);
    const run = s.run(['--job-timeout', '2'], { RB_BENCH_DELAY_MS: '300' });
    const took = await a.waitFor(/took small shard \d+/);
    const shard = /took small shard (\d+)/.exec(took)![1];
    // Paused inside the shard's move (each of its ~4 chunks waits 300 ms), past its ledger check.
    await new Promise((r) => setTimeout(r, 500));
    a.child.kill('SIGSTOP');
    // B starts after A is paused: A's shard expires and B redoes it among the others.
    const b = s.worker('B');
    const redone = new RegExp(`small shard ${shard} committed`);
    await b.waitFor(redone, 60_000);
    a.child.kill('SIGCONT');
    await a.waitFor(new RegExp(`small shard ${shard}: the ledger refused this attempt's commit: .*already committed by another attempt`), 60_000);
    await a.waitFor(/expired while this worker ran it; another attempt owns it/, 30_000);
    const json = await finished(run);
    expect(json.queue.shards.find((x) => String(x.shard) === shard)?.worker?.endsWith(nameOf(b))).toBe(true);
    for (const w of [a, b]) w.child.kill('SIGTERM');
    expect((await a.exited).code).toBe(0);
    await expectEqual(s, 'small', 8);
  });

  it('the coordinator SIGKILLed mid-run: the run is left unfinished, the next rb run --queue resumes it; equal, no duplicates', async () => {
    const s = await setup('q_coord_kill', 'small', 'append', 8);
    const a = s.worker('A');
    const b = s.worker('B');
    await Promise.all([a.waitFor(/waiting for shard jobs/), b.waitFor(/waiting for shard jobs/)]);
    const first = s.run(['--job-timeout', '5'], { RB_BENCH_DELAY_MS: '200' });
    await Promise.race([a.waitFor(/committed: \d+ rows/), b.waitFor(/committed: \d+ rows/)]);
    first.child.kill('SIGKILL');
    await first.exited;
    const second = await finished(s.run(['--job-timeout', '5']));
    expect(second.resumed_from).toBeDefined();
    for (const w of [a, b]) w.child.kill('SIGTERM');
    await expectEqual(s, 'small', 8);
    // The dead coordinator's shards that had not started failed at once (its snapshot was gone), or were kept.
    const statuses = await s.dst.query(`select status, count(*)::int as n from _rb.runs where pipeline = $1 group by status order by status`, [s.pipeline]);
    expect(statuses.rows).toEqual([
      { status: 'abandoned', n: 1 },
      { status: 'succeeded', n: 1 },
    ]);
  });

  it('SIGTERM to a worker holding a shard: it finishes and reports that shard, takes no other, exits 0', async () => {
    const s = await setup('q_sigterm', 'small', 'append', 4);
    const a = s.worker('A');
    await a.waitFor(/waiting for shard jobs/);
    const run = s.run(['--job-timeout', '30'], { RB_BENCH_DELAY_MS: '300' });
    const took = await a.waitFor(/took small shard \d+/);
    const shard = /shard (\d+)/.exec(took)![1];
    a.child.kill('SIGTERM');
    expect((await a.exited).code).toBe(0);
    expect(a.lines.filter((l) => /took small shard/.test(l))).toHaveLength(1);
    expect(a.lines.some((l) => new RegExp(`small shard ${shard} committed: `).test(l)), a.lines.join('\n')).toBe(true);
    const b = s.worker('B');
    const json = await finished(run);
    expect(json.queue.shards.find((x) => String(x.shard) === shard)?.worker?.endsWith(nameOf(a))).toBe(true);
    b.child.kill('SIGTERM');
    await expectEqual(s, 'small', 4);
  });

  it('a job from a coordinator of another rb version fails, not retryable, naming both versions', async () => {
    const queue = await createTestDatabase('q_queue');
    const q = new PgBossQueue<ShardJobPayload>({ url: queue.url, maintenanceSeconds: 0 });
    await q.start();
    const payload = { protocol: QUEUE_PROTOCOL, rbVersion: '0.0.0-other', coordinator: 'elsewhere:1', task: { stream: 'public.t', shardIndex: 0, runId: 'r' } } as unknown as ShardJobPayload;
    const id = '6a1d4b1e-0000-4000-8000-0000000000aa';
    await q.enqueue([{ id, data: payload, expireInSeconds: 60, retryLimit: 3, retryDelaySeconds: 1 }]);
    const dir = mkdtempSync(join(tmpdir(), 'rb-worker-v-'));
    const w = start(['worker', '--queue', queue.url, '--concurrency', '1'], WORKER_ENV, dir);
    await w.waitFor(/public\.t shard 0 failed \(not retryable\)/);
    // The worker logs the failure, then reports it.
    let [st] = await q.statuses([id]);
    for (let i = 0; i < 50 && !st.output; i++) {
      await new Promise((r) => setTimeout(r, 100));
      [st] = await q.statuses([id]);
    }
    expect(st.output).toMatchObject({ kind: 'failed', retryable: false, error: { code: 'usage' } });
    expect((st.output as { error: { message: string } }).error.message).toBe(`public.t shard 0: ${versionMismatch(payload)}`);
    expect(versionMismatch(payload)).toMatch(/elsewhere:1 runs rb 0\.0\.0-other .* this worker rb /);
    w.child.kill('SIGTERM');
    expect((await w.exited).code).toBe(0);
    await q.close();
  });

  /**
   * The next runs of an incremental stream read one shard that checkpoints (rows and cursor
   * committed together). On a queue its job can be taken over: the next attempt continues after
   * the last checkpoint, and an attempt that was taken over cannot commit rows the other did.
   */
  const incremental = async (name: string, writeMode: 'append' | 'upsert') => {
    const table = `inc_${name}`;
    await src.query(`create table ${table} (id int primary key, v text not null); insert into ${table} select g, md5(g::text) from generate_series(1, 20000) g`);
    const s = await setup(name, table, writeMode, 4, {
      stream: '      sync_mode: incremental\n      cursor_field: id\n',
      resources: 'checkpoint_interval_rows: 8000, max_batch_bytes: 64kb',
    });
    const a = s.worker('A');
    await a.waitFor(/waiting for shard jobs/);
    // The first run: the whole table in shards, the cursor stored at the finish.
    await finished(s.run(['--job-timeout', '30']));
    await src.query(`insert into ${table} select g, md5(g::text) from generate_series(20001, 100000) g`);
    const rowsNow = async () => (await s.dst.query(`select count(*)::int as n from ${table}`)).rows[0].n as number;
    const equal = async () => {
      const want = await src.query(`select count(*)::int as n, md5(string_agg(id || ':' || v, ',' order by id)) as h from ${table}`);
      const got = await s.dst.query(`select count(*)::int as n, count(distinct id)::int as d, md5(string_agg(id || ':' || v, ',' order by id)) as h from ${table}`);
      expect(got.rows[0]).toEqual({ n: want.rows[0].n, d: want.rows[0].n, h: want.rows[0].h });
      const cursor = await s.dst.query(`select cursor from _rb.stream_state where pipeline = $1`, [s.pipeline]);
      expect(cursor.rows[0].cursor).toEqual(['100000']);
    };
    return { s, a, table, rowsNow, equal };
  };
  /** Waits until the destination holds more than `n` rows of the table (a checkpoint committed). */
  const untilRows = async (rowsNow: () => Promise<number>, n: number) => {
    for (let i = 0; i < 600 && (await rowsNow()) <= n; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await rowsNow()).toBeGreaterThan(n);
  };

  it('an incremental next run: its worker SIGKILLed after a checkpoint, the other continues after it; equal, no row twice (append)', async () => {
    const { s, a, rowsNow, equal } = await incremental('q_incr_kill', 'append');
    // 80,000 new rows in ~57 chunks of 64 kB, 40 ms each (~2.5 s), a checkpoint every ~6 chunks.
    const run = s.run(['--job-timeout', '4'], { RB_BENCH_DELAY_MS: '40' });
    await a.waitFor(/took inc_q_incr_kill shard 0/);
    await untilRows(rowsNow, 20000);
    a.child.kill('SIGKILL');
    const kept = await rowsNow();
    expect(kept).toBeLessThan(100000);
    const b = s.worker('B');
    const json = await finished(run);
    await b.waitFor(/shard 0: continues after the cursor an earlier attempt checkpointed/);
    b.child.kill('SIGTERM');
    await equal();
    expect(json.queue.shards[0].worker?.endsWith(nameOf(b))).toBe(true);
    expect(json.queue.shards[0].attempts).toBeGreaterThanOrEqual(2);
    // B wrote only what A had not committed.
    expect(json.queue.shards[0].rows).toBe(100000 - kept);
  });

  it('an incremental next run: a zombie worker resumed while another continues its shard checkpoints nothing twice (append)', async () => {
    const { s, a, rowsNow, equal } = await incremental('q_incr_zombie', 'append');
    const run = s.run(['--job-timeout', '3'], { RB_BENCH_DELAY_MS: '30' });
    await untilRows(rowsNow, 20000);
    a.child.kill('SIGSTOP');
    const kept = await rowsNow();
    const b = s.worker('B');
    // B continues after A's checkpoint; A wakes up once B has checkpointed, while B is still at it.
    await b.waitFor(/shard 0: continues after the cursor an earlier attempt checkpointed/);
    await untilRows(rowsNow, kept);
    a.child.kill('SIGCONT');
    const json = await finished(run);
    await a.waitFor(/expired while this worker ran it; another attempt owns it/, 60_000);
    for (const w of [a, b]) w.child.kill('SIGTERM');
    await equal();
    // A's open part was refused at its next checkpoint: its stored cursor had moved, or the run had finished.
    expect(a.lines.join('\n')).toMatch(/its stored cursor moved while this attempt ran|run [0-9a-f-]+ is succeeded/);
    expect(json.status).toBe('succeeded');
  });

  it('a cdc pipeline: the first run’s copy runs on the workers, the coordinator applies the changes; the next run only catches up', async () => {
    await src.query(`create table cdc_q (id int primary key, v text not null); insert into cdc_q select g, md5(g::text) from generate_series(1, 50000) g`);
    const s = await setup('q_cdc', 'cdc_q', 'upsert', 4, { stream: '      sync_mode: cdc\n' });
    const a = s.worker('A');
    await a.waitFor(/waiting for shard jobs/);
    const equal = async () => {
      const q = `select count(*)::int as n, md5(string_agg(id || ':' || v, ',' order by id)) as h from cdc_q`;
      expect((await s.dst.query(q)).rows[0]).toEqual((await src.query(q)).rows[0]);
    };
    try {
      // Changes made while the copy runs come through the slot.
      const first = s.run(['--job-timeout', '30'], { RB_BENCH_DELAY_MS: '20' });
      await a.waitFor(/took cdc_q shard/);
      await src.query(`update cdc_q set v = 'during ' || id where id % 100 = 0; delete from cdc_q where id between 10 and 19; insert into cdc_q values (60001, 'new')`);
      const json = (await finished(first)) as QueuedJson & { cdc: { changes: number } };
      expect(json.executor).toBe('queue');
      expect(json.queue.jobs).toBeGreaterThanOrEqual(1);
      expect(Object.keys(json.queue.workers)).toEqual([expect.stringMatching(new RegExp(`${nameOf(a)}$`))]);
      await equal();

      await src.query(`update cdc_q set v = 'after ' || id where id % 7 = 0; delete from cdc_q where id between 100 and 199`);
      const next = (await finished(s.run())) as QueuedJson & { cdc: { changes: number } };
      expect(next.queue.jobs).toBe(0);
      // 7,141 updates (every 7th id left), then 100 deletes.
      expect(next.cdc.changes).toBe(7141 + 100);
      await equal();
    } finally {
      a.child.kill('SIGTERM');
      const reset = start(['state', 'reset', s.file, '--yes'], {}, s.coordinatorDir);
      expect((await reset.exited).code).toBe(0);
    }
  });

  it('refuses --job-timeout without --queue (exit 2)', async () => {
    const s = await setup('q_refuse', 'small', 'append', 2);
    const noQueue = start(['run', s.file, '--job-timeout', '5'], RUN_ENV, s.coordinatorDir);
    expect((await noQueue.exited).code).toBe(2);
    expect(noQueue.lines.join('\n')).toMatch(/--job-timeout .* needs --queue/);
  });
});
