/**
 * Parallel scaling, measured (issue: "a script that copies a 2M-row table at parallelism 1, 2, 4
 * and auto, back to back with the raw psql binary COPY pipe"; goals: auto at least as fast as the
 * single raw pipe on a 2-core machine, peak RSS flat within 20% from 1M to 5M rows).
 *
 *   npx tsx bench/parallel/scaling.ts [--rows 2000000] [--rss-rows 1000000,5000000] [--iters 3]
 *                                     [--parallelism 1,2,4,auto] [--json out.json]
 *
 * Databases: two embedded clusters of their own (`.rb/scale-src`, `.rb/scale-dst`, database
 * `rb_scale`), so this script never touches `rb bench`'s clusters while it runs next to it. One
 * table per row count (`scale_2m`, `scale_1m`, `scale_5m`, about 170 bytes a row: bigint id primary
 * key, int, text, timestamptz, numeric, a short jsonb), generated once with generate_series and
 * kept while its comment (row count + a hash of the SQL) matches.
 *
 * Scaling: one warm-up round, then `--iters` rounds of rb p=1, p=2, p=4, auto, rb replace (auto),
 * psql pipe (A B C …), each verified afterwards (row count + checksum vs the source). As in
 * `rb bench`, every contender gets the same job as the pipe — an empty bare table (same columns, no
 * key) to append to — except rb replace, which builds a new table with its primary key and swaps it
 * in (the atomic full refresh: more work than the pipe does).
 * Contenders are `rb bench`'s own (bench/contenders/rb.ts, psql-pipe.ts) and are measured by
 * bench/measure.ts: wall time, CPU (GNU time: user+sys of the whole tree) and peak RSS = the sum of
 * VmHWM over the tree's processes (rb: the node process, whose worker threads share its RSS; the
 * pipe: bash + both psql, which run at the same time, so their peaks add up).
 *
 * RSS flatness: rb --parallelism auto on the `--rss-rows` tables, alternating, `--iters` times each.
 */
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { clusterUrl, ensureCluster, ensureDatabase } from '../../engine/embedded/cluster.js';
import { quickChecksum, sameQuickChecksum, type QuickChecksum } from '../../engine/verify/index.js';
import type { Contender, ContenderContext } from '../contenders/contender.js';
import { ensureCompiled } from '../compiled.js';
import { writePgpass } from '../contenders/pgpass.js';
import { psqlPipeContender } from '../contenders/psql-pipe.js';
import { rbContender } from '../contenders/rb.js';
import { serverInfo } from '../databases.js';
import { describeMachine } from '../machine.js';
import { measureProcess } from '../measure.js';
import type { Profile } from '../profiles.js';
import { idChunks } from '../profiles.js';
import { median, pairedRatios, type RunRecord } from '../results.js';
import { REPO_ROOT } from '../runner.js';
import { connect } from '../verify.js';

const SOURCE_ROOT = '.rb/scale-src';
const DEST_ROOT = '.rb/scale-dst';
const DATABASE = 'rb_scale';
const PIPE_ID = 'psql-binary';
/** The issue's bar for "flat": the larger table's peak RSS within 20% of the smaller one's. */
const RSS_FLAT_TOLERANCE = 0.2;
/** Engine knobs meant for tests and other benches; a stray one would distort every rb figure. */
const ENGINE_TEST_ENV = ['RB_BENCH_DELAY_MS', 'RB_BENCH_SLOWDOWN_FACTOR', 'RB_SHARD_MIN_BYTES', 'RB_STAGE_MODE'];

const COLUMNS = ['id', 'customer_id', 'label', 'created_at', 'amount', 'attrs'];
const createSql = (table: string, withKey: boolean): string => `create table public.${table} (
  id bigint not null${withKey ? ' primary key' : ''},
  customer_id int not null,
  label text not null,
  created_at timestamptz not null,
  amount numeric(12,2) not null,
  attrs jsonb
)`;
// Reproducible values from seeded hashes of the row number (as bench/tables.ts does), so chunks can
// be generated concurrently; about 170 bytes a row (pg_column_size), printed after generation.
const insertSql = (table: string, lo: number, hi: number): string => `insert into public.${table}
select i, abs(h1 % 1000000)::int,
  'order ' || i::text || ' ' || (array['web','ios','android','api','store'])[1 + abs(h2 % 5)] || ' ' || m || ' ' || substr(m, 1, 8 + abs(h1 % 24)::int),
  timestamptz '2024-01-01 00:00:00+00' + (abs(h2 % 31536000000000) * interval '1 microsecond'),
  round(abs(h1 % 10000000) / 100.0, 2)::numeric(12,2),
  case when abs(h2 % 10) = 0 then null
       else jsonb_build_object('src', (array['ads','mail','seo'])[1 + abs(h1 % 3)], 'n', abs(h2 % 100), 'ok', h1 % 2 = 0) end
from (select i, hashint8extended(i, 4242) as h1, hashint8extended(i, 4243) as h2, md5('scale-' || i::text) as m
      from generate_series(${lo}::bigint, ${hi}::bigint) as i offset 0) g`;
const GENERATION_HASH = createHash('sha256').update(createSql('t', true) + insertSql('t', 1, 2)).digest('hex').slice(0, 12);

interface Args {
  rows: number;
  rssRows: number[];
  iters: number;
  parallelisms: string[];
  json?: string;
}

interface SizedTable {
  table: string;
  rows: number;
  bytesPerRow: number;
  checksum: QuickChecksum;
}

interface Measured extends RunRecord {
  loadAverage1m: number;
  telemetry?: Record<string, unknown>;
}

const log = (line: string): void => void process.stderr.write(`${line}\n`);

function parseCliArgs(): Args {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '2000000' },
      'rss-rows': { type: 'string', default: '1000000,5000000' },
      iters: { type: 'string', default: '3' },
      parallelism: { type: 'string', default: '1,2,4,auto' },
      json: { type: 'string' },
    },
  });
  const count = (name: string, s: string): number => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: expected an integer >= 1, found '${s}'`);
    return n;
  };
  const parallelisms = values.parallelism!.split(',').map((s) => s.trim());
  for (const p of parallelisms) if (p !== 'auto') count('parallelism', p);
  return {
    rows: count('rows', values.rows!),
    rssRows: values['rss-rows']!.split(',').filter(Boolean).map((s) => count('rss-rows', s.trim())),
    iters: count('iters', values.iters!),
    parallelisms,
    json: values.json,
  };
}

/** `scale_2m`, `scale_500k`, `scale_1234`. */
function tableFor(rows: number): string {
  if (rows % 1_000_000 === 0) return `scale_${rows / 1_000_000}m`;
  if (rows % 1_000 === 0) return `scale_${rows / 1_000}k`;
  return `scale_${rows}`;
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = await connect(url);
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => {});
  }
}

/** Generates the table unless its comment says it already holds these rows from this SQL. */
async function ensureSourceTable(url: string, rows: number): Promise<SizedTable> {
  const table = tableFor(rows);
  const marker = `rows=${rows};sql=${GENERATION_HASH}`;
  const have = await withClient(url, async (c) => (await c.query<{ d: string | null }>(`select obj_description(to_regclass($1), 'pg_class') as d`, [`public.${table}`])).rows[0].d);
  if (have !== marker) {
    const t0 = performance.now();
    log(`scaling: generating ${rows.toLocaleString('en-US')} rows in ${table}`);
    await withClient(url, async (c) => {
      await c.query(`drop table if exists public.${table}`);
      await c.query(createSql(table, false));
    });
    await Promise.all(idChunks(rows, rows >= 100_000 ? Math.min(4, os.availableParallelism()) : 1).map(([lo, hi]) => withClient(url, (c) => c.query(insertSql(table, lo, hi)))));
    await withClient(url, async (c) => {
      await c.query("set maintenance_work_mem to '512MB'");
      await c.query(`alter table public.${table} add primary key (id)`);
      // Frozen and analyzed now, so no contender pays for hint bits or statistics.
      await c.query(`vacuum (freeze, analyze) public.${table}`);
      await c.query(`comment on table public.${table} is '${marker}'`);
    });
    log(`scaling:   ${table} generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const bytesPerRow = await withClient(url, async (c) => Number((await c.query<{ b: string }>(`select avg(pg_column_size(t.*))::int as b from (select * from public.${table} limit 100000) t`)).rows[0].b));
  const checksum = await quickChecksum(url, { schema: 'public', table }, { columns: COLUMNS });
  return { table, rows, bytesPerRow, checksum };
}

/**
 * A ContenderContext for one scale table. rb bench's contenders read only `profile.name` (the
 * pipeline's name) and `tables` (as table names) from it; their types are narrower than that use
 * (`ProfileName`, `BenchTableName`), hence the casts. Reported to the integrator.
 */
function contextFor(base: Omit<ContenderContext, 'profile' | 'tables'>, table: string): ContenderContext {
  const profile = { name: table, tables: [], runTimeoutMs: 0, hidden: true, description: table } as unknown as Profile;
  return { ...base, profile, tables: [table] as unknown as ContenderContext['tables'] };
}

/** Drops the target; `bare`: then creates it bare (same columns, no key, no index), as for the pipe. */
async function resetTarget(destUrl: string, table: string, bare: boolean): Promise<void> {
  await withClient(destUrl, async (c) => {
    await c.query(`drop table if exists public.${table} cascade`);
    if (bare) await c.query(createSql(table, false));
    await c.query('checkpoint').catch(() => {}); // so no run flushes the previous run's dirty buffers
  });
}

async function runOnce(c: Contender, ctx: ContenderContext, t: SizedTable, iteration: number): Promise<Measured> {
  // Every contender but rb replace gets the pipe's job: the empty bare table, appended to.
  await resetTarget(ctx.destUrl, t.table, c.kind !== 'rb-replace');
  const cmd = await c.command(ctx);
  const m = await measureProcess({ ...cmd, cwd: REPO_ROOT, timeoutMs: Math.max(600_000, t.rows / 5) });
  const loadAverage1m = os.loadavg()[0];
  if (m.timedOut || m.exitCode !== 0) {
    const tail = `${m.stderr}\n${m.stdout}`.trim().split('\n').slice(-3).join(' | ');
    throw new Error(`${c.label} on ${t.table}: ${m.timedOut ? 'timed out' : `exit ${m.exitCode ?? m.signal}`}: ${tail}`);
  }
  const got = await quickChecksum(ctx.destUrl, { schema: 'public', table: t.table }, { columns: COLUMNS });
  if (!sameQuickChecksum(got, t.checksum)) {
    throw new Error(`${c.label} on ${t.table}: wrong data: ${got.rows} rows / hash ${got.hashSum}, expected ${t.checksum.rows} / ${t.checksum.hashSum}`);
  }
  return { iteration, wallSeconds: m.wallSeconds, cpuSeconds: m.cpuSeconds, peakRssBytes: m.peakRssBytes, loadAverage1m, telemetry: c.parseOutput?.(m.stdout) };
}

const mib = (bytes: number): number => Math.round(bytes / 2 ** 20);
const round = (x: number, digits: number): number => Number(x.toFixed(digits));

interface ContenderRow {
  id: string;
  label: string;
  median_seconds: number;
  rows_per_second: number;
  peak_rss_mib: number;
  median_cpu_seconds: number;
  /** Median of per-iteration (pipe seconds / contender seconds): > 1 is faster than the pipe. */
  ratio_to_pipe: number;
  ratios: number[];
  seconds: number[];
  parallelism_effective?: unknown;
  shards?: unknown;
}

function summarize(c: Contender, runs: Measured[], pipeRuns: Measured[], rows: number): ContenderRow {
  const sec = median(runs.map((r) => r.wallSeconds));
  const ratios = pairedRatios(pipeRuns, runs);
  const tel = runs[runs.length - 1]?.telemetry;
  const streams = tel?.streams as Array<{ shards?: unknown }> | undefined;
  return {
    id: c.id,
    label: c.label,
    median_seconds: round(sec, 3),
    rows_per_second: Math.round(rows / sec),
    peak_rss_mib: mib(Math.max(...runs.map((r) => r.peakRssBytes))),
    median_cpu_seconds: round(median(runs.map((r) => r.cpuSeconds)), 2),
    ratio_to_pipe: round(median(ratios), 3),
    ratios: ratios.map((x) => round(x, 3)),
    seconds: runs.map((r) => round(r.wallSeconds, 3)),
    ...(tel ? { parallelism_effective: tel.parallelism_effective, shards: streams?.[0]?.shards } : {}),
  };
}

function formatTable(rows: ContenderRow[]): string {
  const head = ['contender', 'threads', 'shards', 'median s', 'rows/s', 'peak RSS MiB', 'CPU s', 'ratio to pipe'];
  const body = rows.map((r) => [r.label, String(r.parallelism_effective ?? '-'), String(r.shards ?? '-'), r.median_seconds.toFixed(2), r.rows_per_second.toLocaleString('en-US'), String(r.peak_rss_mib), r.median_cpu_seconds.toFixed(1), r.ratio_to_pipe.toFixed(2)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  return [head, ...body].map((cells) => cells.map((s, i) => (i === 0 ? s.padEnd(widths[i]) : s.padStart(widths[i]))).join('  ')).join('\n');
}

async function main(): Promise<void> {
  const args = parseCliArgs();
  for (const k of ENGINE_TEST_ENV) delete process.env[k];
  const started = new Date();
  const loadAtStart = os.loadavg();
  const [srcInfo, dstInfo] = [await ensureCluster(SOURCE_ROOT, { log }), await ensureCluster(DEST_ROOT, { log })];
  await ensureDatabase(srcInfo, DATABASE);
  await ensureDatabase(dstInfo, DATABASE);
  const sourceUrl = clusterUrl(srcInfo, DATABASE);
  const destUrl = clusterUrl(dstInfo, DATABASE);
  const [src, dst] = await Promise.all([serverInfo(sourceUrl), serverInfo(destUrl)]);
  const machine = await describeMachine(`source ${src.version} (embedded), destination ${dst.version} (embedded)`);

  const sizes = [...new Set([args.rows, ...args.rssRows])];
  const tables = new Map<number, SizedTable>();
  for (const n of sizes) tables.set(n, await ensureSourceTable(sourceUrl, n));

  const workDir = mkdtempSync(path.join(os.tmpdir(), 'rb-scale-'));
  try {
    const pgpass = writePgpass(workDir, [sourceUrl, destUrl]);
    const base = { sourceUrl, destUrl, sourceMajor: Math.floor(src.versionNum / 10000), workDir, pgpassFile: pgpass.file, sourceUrlNoPassword: pgpass.urls[0], destUrlNoPassword: pgpass.urls[1], repoRoot: REPO_ROOT };
    await ensureCompiled(log);
    const contenders: Contender[] = [...args.parallelisms.map((p) => rbContender(p)), rbContender('auto', 'replace'), psqlPipeContender('binary')];
    log(`scaling: ${machine.cores} cores, load average ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}; contenders ${contenders.map((c) => c.label).join(', ')}`);

    // Scaling: warm-up round (0), then A B C … rounds, so drift on a shared machine hits all alike.
    const main = tables.get(args.rows)!;
    const mainCtx = contextFor(base, main.table);
    const runs = new Map<string, Measured[]>(contenders.map((c) => [c.id, []]));
    for (let i = 0; i <= args.iters; i++) {
      for (const c of contenders) {
        const r = await runOnce(c, mainCtx, main, i);
        if (i > 0) runs.get(c.id)!.push(r);
        log(`scaling: ${i === 0 ? 'warm-up' : `run ${i}/${args.iters}`} ${c.label.padEnd(16)} ${r.wallSeconds.toFixed(2)} s, peak RSS ${mib(r.peakRssBytes)} MiB, CPU ${r.cpuSeconds.toFixed(1)} s, load ${r.loadAverage1m.toFixed(2)}, verified`);
      }
    }
    const pipeRuns = runs.get(PIPE_ID)!;
    const rows = contenders.map((c) => summarize(c, runs.get(c.id)!, pipeRuns, main.rows));

    // RSS flatness: rb auto on each --rss-rows table, alternating.
    const auto = rbContender('auto');
    const rss = new Map<number, Measured[]>(args.rssRows.map((n) => [n, []]));
    for (let i = 1; i <= args.iters; i++) {
      for (const n of args.rssRows) {
        const t = tables.get(n)!;
        const r = await runOnce(auto, contextFor(base, t.table), t, i);
        rss.get(n)!.push(r);
        log(`scaling: rss run ${i}/${args.iters} rb (auto) ${t.table.padEnd(10)} ${r.wallSeconds.toFixed(2)} s, peak RSS ${mib(r.peakRssBytes)} MiB, load ${r.loadAverage1m.toFixed(2)}, verified`);
      }
    }
    await resetTarget(destUrl, main.table, false); // leave the destination small
    for (const n of args.rssRows) await resetTarget(destUrl, tableFor(n), false);

    const rssRows = args.rssRows.map((n) => {
      const rs = rss.get(n)!;
      return { rows: n, table: tableFor(n), peak_rss_mib: mib(Math.max(...rs.map((r) => r.peakRssBytes))), peak_rss_mib_runs: rs.map((r) => mib(r.peakRssBytes)), median_seconds: round(median(rs.map((r) => r.wallSeconds)), 3), rows_per_second: Math.round(n / median(rs.map((r) => r.wallSeconds))) };
    });
    const rssSmall = rssRows[0];
    const rssLarge = rssRows[rssRows.length - 1];
    const rssRatio = rssLarge.peak_rss_mib / rssSmall.peak_rss_mib;
    const autoRow = rows.find((r) => r.id === 'rb:auto');
    const allLoads = [...runs.values(), ...rss.values()].flat().map((r) => r.loadAverage1m);
    const report = {
      command: `npx tsx bench/parallel/scaling.ts ${process.argv.slice(2).join(' ')}`.trim(),
      started_at: started.toISOString(),
      finished_at: new Date().toISOString(),
      machine,
      load_average: { at_start: loadAtStart.map((x) => round(x, 2)), at_end: os.loadavg().map((x) => round(x, 2)), after_runs_1m: { min: round(Math.min(...allLoads), 2), median: round(median(allLoads), 2), max: round(Math.max(...allLoads), 2) } },
      iters: args.iters,
      warmup_rounds: 1,
      rss_measure: 'sum of VmHWM over the contender process tree (rb: one node process incl. its worker threads; pipe: bash + both psql)',
      cpu_measure: machine.cpu_measurement,
      tables: [...tables.values()].map((t) => ({ table: t.table, rows: t.rows, avg_row_bytes: t.bytesPerRow })),
      scaling: { table: main.table, rows: main.rows, contenders: rows },
      rss_flatness: { runs: rssRows, ratio_large_to_small: round(rssRatio, 3), tolerance: RSS_FLAT_TOLERANCE },
      goals: {
        auto_at_least_pipe: autoRow ? { ratio_to_pipe: autoRow.ratio_to_pipe, met: autoRow.ratio_to_pipe >= 1 } : undefined,
        rss_flat_within_20pct: { ratio: round(rssRatio, 3), met: Math.abs(rssRatio - 1) <= RSS_FLAT_TOLERANCE },
      },
      runs: Object.fromEntries([...runs].map(([id, rs]) => [id, rs.map(({ telemetry: _t, ...r }) => r)])),
    };

    console.log(`\n${main.rows.toLocaleString('en-US')} rows (${main.bytesPerRow} B/row) ${main.table}, median of ${args.iters} runs after 1 warm-up round; ${machine.cores} cores; load ${report.load_average.after_runs_1m.min}–${report.load_average.after_runs_1m.max}`);
    console.log(formatTable(rows));
    console.log('\npeak RSS of rb (auto) by table size:');
    for (const r of rssRows) console.log(`  ${r.rows.toLocaleString('en-US').padStart(10)} rows: ${r.peak_rss_mib} MiB (runs ${r.peak_rss_mib_runs.join(', ')}), ${r.median_seconds.toFixed(2)} s`);
    console.log(`  ratio ${rssLarge.rows.toLocaleString('en-US')} / ${rssSmall.rows.toLocaleString('en-US')}: ${rssRatio.toFixed(2)} (goal: within ±${RSS_FLAT_TOLERANCE * 100}%: ${report.goals.rss_flat_within_20pct.met ? 'met' : 'NOT met'})`);
    if (autoRow) console.log(`auto vs pipe: ${autoRow.ratio_to_pipe.toFixed(2)} (goal >= 1.00: ${autoRow.ratio_to_pipe >= 1 ? 'met' : 'NOT met'})`);
    if (args.json) writeFileSync(args.json, `${JSON.stringify(report, null, 2)}\n`);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
