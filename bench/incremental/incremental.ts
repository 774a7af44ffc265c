/**
 * Incremental sync, measured (issue 10): how much faster an incremental run that delivers 1% changed
 * rows is than a full refresh of the same table, and what checkpoints cost.
 *
 *   npx tsx bench/incremental/incremental.ts [--rows 10000000] [--iters 3] [--only speedup|checkpoints] [--json out.json]
 *
 * Databases: two embedded clusters of their own (`.rb/incr-src`, `.rb/incr-dst`, database
 * `rb_incr`). The source table `incr_<rows>` (bigint id primary key, text, timestamptz updated_at,
 * an index on (updated_at, id)) is generated once and kept while its row count matches.
 *
 * Rounds, alternating, each an `rb run --json` started as the README says (node engine/cli/bin.js,
 * never npx), timed from outside:
 *   full          full_refresh append of the whole table into an empty table
 *   incremental   upsert, after 1% of the rows got a new updated_at (the cursor); A/B of its lone
 *                 shard in rb's main thread (default) and on a pool thread (RB_IN_PROCESS=0);
 *                 then an incremental append of the same 1% (no merge)
 *   big delta     upsert of a 50% delta with checkpoint_interval_bytes 64mb, vs the same delta with
 *                 checkpoints off (0): the ratio is the checkpoints' cost (a merge per checkpoint);
 *                 the same for an incremental append (a commit per checkpoint, no merge)
 * Before every measured delta run the destination tables are vacuumed (every upsert leaves the
 * rows it replaced dead: the next merge would probe more dead index entries than the one before)
 * and autovacuum is off on them (it would start in the middle of one run and not of the other).
 * Reported as medians and ratios; nothing is asserted.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { clusterUrl, ensureCluster, ensureDatabase } from '../../engine/embedded/cluster.js';
import { ensureCompiled } from '../compiled.js';
import { queryOnce as query } from '../databases.js';
import { REPO_ROOT } from '../runner.js';

const DATABASE = 'rb_incr';
const BIN = path.join(REPO_ROOT, 'engine/cli/bin.js');
const log = (line: string) => process.stderr.write(`${line}\n`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

type Mode = 'full' | 'upsert' | 'append';

function pipeline(name: string, srcUrl: string, dstUrl: string, table: string, mode: Mode, checkpointBytes: string): string {
  const schema = mode === 'full' ? 'full_copy' : mode === 'append' ? 'appended' : 'public';
  return `version: "1.0"
pipeline: ${name}
source:
  use: postgres
  config: { url: "${srcUrl}" }
  streams:
    - name: ${table}
${mode === 'full' ? '' : '      sync_mode: incremental\n      cursor_field: updated_at\n'}destination:
  use: postgres
  config: { url: "${dstUrl}", schema: ${schema} }
  write_mode: ${mode === 'upsert' ? 'upsert' : 'append'}
${mode === 'upsert' ? '  primary_key: [id]\n' : ''}resources: { checkpoint_interval_bytes: ${checkpointBytes} }
`;
}

/** One `rb run --json`: wall ms and the rows it wrote. */
function timedRun(file: string, env: Record<string, string> = {}): { ms: number; rows: number; checkpoints: number; executor: string } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [BIN, 'run', file, '--json'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ...env } });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`rb run ${file} failed (${r.status}): ${r.stderr}${r.stdout}`);
  const j = JSON.parse(r.stdout) as { rows_written: number; executor?: string; streams: Array<{ checkpoints?: number }> };
  return { ms, rows: j.rows_written, checkpoints: j.streams[0]?.checkpoints ?? 0, executor: j.executor ?? 'pool' };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rows: { type: 'string', default: '10000000' }, iters: { type: 'string', default: '3' }, only: { type: 'string' }, json: { type: 'string' } } });
  const only = values.only;
  if (only !== undefined && only !== 'speedup' && only !== 'checkpoints') throw new Error(`--only: expected speedup or checkpoints, found ${only}`);
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
  const incFile = write('inc', pipeline('incr_bench_inc', srcUrl, dstUrl, table, 'upsert', '64mb'));
  const incNoCpFile = write('inc_nocp', pipeline('incr_bench_inc', srcUrl, dstUrl, table, 'upsert', '0'));
  const appFile = write('app', pipeline('incr_bench_app', srcUrl, dstUrl, table, 'append', '64mb'));
  const appNoCpFile = write('app_nocp', pipeline('incr_bench_app', srcUrl, dstUrl, table, 'append', '0'));
  await query(dstUrl, `drop schema if exists full_copy cascade; drop schema if exists appended cascade; drop table if exists public.${table}; drop schema if exists _rb cascade`);
  log('bench: first incremental runs (the whole table; not timed)');
  timedRun(incFile);
  timedRun(appFile);
  const targets = [`public.${table}`, `appended.${table}`];
  for (const t of targets) await query(dstUrl, `alter table ${t} set (autovacuum_enabled = off)`);

  let bump = 0;
  /**
   * Moves `fraction` of the rows forward (a new cursor value), spread over the table: the rows with
   * `id % (1 / fraction) = part` (default: the next part in turn).
   */
  const change = async (fraction: number, part?: number) => {
    bump++;
    const every = Math.round(1 / fraction);
    // The clock, as an application's `updated_at = now()` would: a cursor in the future would sit
    // inside every later run's late-commit lookback (which starts at the clock) and be re-read.
    await query(srcUrl, `update ${table} set updated_at = clock_timestamp() where id % ${every} = ${part ?? bump % every}`);
    await query(srcUrl, `vacuum analyze ${table}`);
    for (const t of targets) await query(dstUrl, `vacuum analyze ${t}`);
  };
  const full: number[] = [];
  const inc: number[] = [];
  const incPool: number[] = [];
  const incAppend: number[] = [];
  const cp = { upsert: { with: [] as number[], without: [] as number[] }, append: { with: [] as number[], without: [] as number[] } };
  let cps = 0;
  for (let i = 0; i < iters; i++) {
    await query(dstUrl, `drop schema if exists full_copy cascade`);
    full.push(timedRun(fullFile).ms);
    if (only !== 'checkpoints') {
      // A/B of the lone shard in the main thread (default) against a pool thread (RB_IN_PROCESS=0).
      const order: Array<[Record<string, string>, number[]]> = i % 2 ? [[{ RB_IN_PROCESS: '0' }, incPool], [{}, inc]] : [[{}, inc], [{ RB_IN_PROCESS: '0' }, incPool]];
      for (const [env, out] of order) {
        await change(0.01);
        const r = timedRun(incFile, env);
        out.push(r.ms);
        // The append pipeline catches up on the same 1% (so its next delta is only what changes
        // after this): an incremental append, no merge, timed too.
        const a = timedRun(appFile, env);
        if (!('RB_IN_PROCESS' in env)) incAppend.push(a.ms);
        log(`bench: round ${i + 1}: incremental upsert ${Math.round(r.ms)} ms, append ${Math.round(a.ms)} ms (${r.rows} rows, ${r.executor})`);
      }
      log(`bench: round ${i + 1}: full ${Math.round(full[i])} ms`);
    }
    if (only === 'speedup') continue;
    // Checkpoint cost: the same size of delta with and without checkpoints, alternating order; the
    // other pipeline catches up untimed after each change, so every measured delta is the same size.
    for (const mode of ['upsert', 'append'] as const) {
      const [withFile, withoutFile, other] = mode === 'upsert' ? [incFile, incNoCpFile, appFile] : [appFile, appNoCpFile, incFile];
      // Which half of the rows a delta is matters (their heap and index order differ after earlier
      // rounds: measured ~20% apart), so each side gets each half in turn, not always the same one.
      const order: Array<[string, number[], number]> =
        i % 2 ? [[withoutFile, cp[mode].without, 0], [withFile, cp[mode].with, 1]] : [[withFile, cp[mode].with, 0], [withoutFile, cp[mode].without, 1]];
      for (const [file, out, half] of order) {
        await change(0.5, half);
        const d = timedRun(file);
        out.push(d.ms);
        if (file === withFile) cps = d.checkpoints;
        timedRun(other);
      }
      log(`bench: round ${i + 1}: ${mode} of a 50% delta with checkpoints ${Math.round(cp[mode].with[i])} ms (${cps} commits), without ${Math.round(cp[mode].without[i])} ms`);
    }
  }
  const cost = (m: 'upsert' | 'append') => ({
    with_checkpoints_64mb_ms: Math.round(median(cp[m].with)),
    without_checkpoints_ms: Math.round(median(cp[m].without)),
    checkpoint_cost: +(median(cp[m].with) / median(cp[m].without) - 1).toFixed(3),
    checkpoint_cost_vs_full_refresh: +((median(cp[m].with) - median(cp[m].without)) / median(full)).toFixed(3),
  });
  const report = {
    rows,
    iters,
    full_refresh_ms: Math.round(median(full)),
    ...(only !== 'checkpoints'
      ? {
          incremental_1pct_ms: Math.round(median(inc)),
          speedup: +(median(full) / median(inc)).toFixed(2),
          incremental_1pct_on_pool_thread_ms: Math.round(median(incPool)),
          incremental_append_1pct_ms: Math.round(median(incAppend)),
          speedup_append: +(median(full) / median(incAppend)).toFixed(2),
        }
      : {}),
    ...(only !== 'speedup' ? { delta_50pct_upsert: cost('upsert'), delta_50pct_append: cost('append') } : {}),
    machine: `${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(2)}`,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
