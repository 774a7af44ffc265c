/**
 * Incremental sync, measured (issue 10): how much faster an incremental run that delivers 1% changed
 * rows is than a full refresh of the same table, and what checkpoints cost.
 *
 *   npx tsx bench/incremental/incremental.ts [--rows 10000000] [--iters 3] [--json out.json]
 *
 * Databases: two embedded clusters of their own (`.rb/incr-src`, `.rb/incr-dst`, database
 * `rb_incr`). The source table `incr_<rows>` (bigint id primary key, text, timestamptz updated_at,
 * an index on (updated_at, id)) is generated once and kept while its row count matches.
 *
 * Rounds, alternating, each an `rb run --json` started as the README says (node engine/cli/bin.js,
 * never npx), timed from outside:
 *   full          full_refresh append of the whole table into an empty table
 *   incremental   upsert, after 1% of the rows got a new updated_at (the cursor)
 *   big delta     upsert of a 50% delta with checkpoint_interval_bytes 64mb, vs the same delta with
 *                 checkpoints off (0): the ratio is the checkpoints' cost
 * Reported as medians and ratios; nothing is asserted.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { clusterUrl, ensureCluster, ensureDatabase } from '../../engine/embedded/cluster.js';
import { ensureCompiled } from '../compiled.js';
import { REPO_ROOT } from '../runner.js';

const DATABASE = 'rb_incr';
const BIN = path.join(REPO_ROOT, 'engine/cli/bin.js');
const log = (line: string) => process.stderr.write(`${line}\n`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function query(url: string, sql: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

function pipeline(name: string, srcUrl: string, dstUrl: string, table: string, mode: 'full' | 'incremental', checkpointBytes: string): string {
  return `version: "1.0"
pipeline: ${name}
source:
  use: postgres
  config: { url: "${srcUrl}" }
  streams:
    - name: ${table}
${mode === 'incremental' ? '      sync_mode: incremental\n      cursor_field: updated_at\n' : ''}destination:
  use: postgres
  config: { url: "${dstUrl}", schema: ${mode === 'full' ? 'full_copy' : 'public'} }
  write_mode: ${mode === 'full' ? 'append' : 'upsert'}
${mode === 'full' ? '' : '  primary_key: [id]\n'}resources: { checkpoint_interval_bytes: ${checkpointBytes} }
`;
}

/** One `rb run --json`: wall ms and the rows it wrote. */
function timedRun(file: string): { ms: number; rows: number; checkpoints: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [BIN, 'run', file, '--json'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`rb run ${file} failed (${r.status}): ${r.stderr}${r.stdout}`);
  const j = JSON.parse(r.stdout) as { rows_written: number; streams: Array<{ checkpoints?: number }> };
  return { ms, rows: j.rows_written, checkpoints: j.streams[0]?.checkpoints ?? 0 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rows: { type: 'string', default: '10000000' }, iters: { type: 'string', default: '3' }, json: { type: 'string' } } });
  const rows = Number(values.rows);
  const iters = Number(values.iters);
  await ensureCompiled(log);
  const srcInfo = await ensureCluster(path.join(REPO_ROOT, '.rb/incr-src'), { log });
  const dstInfo = await ensureCluster(path.join(REPO_ROOT, '.rb/incr-dst'), { log });
  await ensureDatabase(srcInfo, DATABASE);
  await ensureDatabase(dstInfo, DATABASE);
  const srcUrl = clusterUrl(srcInfo, DATABASE);
  const dstUrl = clusterUrl(dstInfo, DATABASE);
  const table = `incr_${rows}`;
  const have = await query(srcUrl, `select coalesce((select reltuples::int8 from pg_class where oid = to_regclass('public.${table}')), -1) as n`);
  if (Number(have.rows[0].n) < rows * 0.99) {
    log(`bench: generating ${rows} rows in ${table}`);
    await query(srcUrl, `drop table if exists ${table}; create table ${table} (id bigint primary key, v text not null, updated_at timestamptz not null)`);
    await query(srcUrl, `insert into ${table} select g, md5(g::text) || md5((g * 7)::text), timestamptz '2025-01-01' + g * interval '1 millisecond' from generate_series(1, ${rows}) g`);
    await query(srcUrl, `create index on ${table} (updated_at, id); analyze ${table}`);
  }
  // Earlier rounds moved rows to the clock: put every cursor back where generation put it.
  await query(srcUrl, `update ${table} set updated_at = timestamptz '2025-01-01' + id * interval '1 millisecond' where updated_at <> timestamptz '2025-01-01' + id * interval '1 millisecond'`);
  await query(srcUrl, `vacuum analyze ${table}`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rb-incr-bench-'));
  const write = (name: string, text: string) => {
    const f = path.join(dir, `${name}.yaml`);
    writeFileSync(f, text);
    return f;
  };
  const fullFile = write('full', pipeline('incr_bench_full', srcUrl, dstUrl, table, 'full', '64mb'));
  const incFile = write('inc', pipeline('incr_bench_inc', srcUrl, dstUrl, table, 'incremental', '64mb'));
  const incNoCpFile = write('inc_nocp', pipeline('incr_bench_inc', srcUrl, dstUrl, table, 'incremental', '0'));
  await query(dstUrl, `drop schema if exists full_copy cascade; drop table if exists public.${table}; drop schema if exists _rb cascade`);
  log('bench: first incremental run (the whole table; not timed)');
  timedRun(incFile);

  let bump = 0;
  /** Moves `fraction` of the rows forward (a new cursor value), spread over the table. */
  const change = async (fraction: number) => {
    bump++;
    const every = Math.round(1 / fraction);
    // The clock, as an application's `updated_at = now()` would: a cursor in the future would sit
    // inside every later run's late-commit lookback (which starts at the clock) and be re-read.
    await query(srcUrl, `update ${table} set updated_at = clock_timestamp() where id % ${every} = ${bump % every}`);
    await query(srcUrl, `vacuum analyze ${table}`);
  };
  const full: number[] = [];
  const inc: number[] = [];
  const withCp: number[] = [];
  const noCp: number[] = [];
  let cps = 0;
  for (let i = 0; i < iters; i++) {
    await query(dstUrl, `drop schema if exists full_copy cascade`);
    full.push(timedRun(fullFile).ms);
    await change(0.01);
    const r = timedRun(incFile);
    inc.push(r.ms);
    log(`bench: round ${i + 1}: full ${Math.round(full[i])} ms, incremental ${Math.round(r.ms)} ms (${r.rows} rows)`);
    // Checkpoint cost: the same size of delta with and without checkpoints, alternating order.
    for (const [file, out] of (i % 2 ? [[incNoCpFile, noCp], [incFile, withCp]] : [[incFile, withCp], [incNoCpFile, noCp]]) as Array<[string, number[]]>) {
      await change(0.5);
      const d = timedRun(file);
      out.push(d.ms);
      if (file === incFile) cps = d.checkpoints;
    }
    log(`bench: round ${i + 1}: 50% delta with checkpoints ${Math.round(withCp[i])} ms (${cps} commits), without ${Math.round(noCp[i])} ms`);
  }
  const report = {
    rows,
    iters,
    full_refresh_ms: Math.round(median(full)),
    incremental_1pct_ms: Math.round(median(inc)),
    speedup: +(median(full) / median(inc)).toFixed(2),
    delta_50pct_checkpoints_64mb_ms: Math.round(median(withCp)),
    delta_50pct_no_checkpoints_ms: Math.round(median(noCp)),
    checkpoint_cost: +(median(withCp) / median(noCp) - 1).toFixed(3),
    checkpoint_cost_vs_full_refresh: +((median(withCp) - median(noCp)) / median(full)).toFixed(3),
    machine: `${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(2)}`,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
