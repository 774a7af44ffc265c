/**
 * What rows the destination rejects cost (docs/design.md section 9): the same 1M-row append with
 * 0, 1, 100 and 10,000 rows rejected, under `on_data_error: dlq`, and the price of isolation
 * relative to the clean run.
 *
 *   npx tsx bench/bad-rows/bad-rows.ts [--rows 1000000] [--iters 3] [--json out.json]
 *
 * Databases: two embedded clusters of their own (`.rb/badrows-src`, `.rb/badrows-dst`, database
 * `rb_badrows`). One source table `br_<rows>` (int id primary key, int v = id, text s, text pad)
 * is generated once. The targets differ only in a CHECK on v that rejects k rows spread over the
 * table (k = 0: `v >= 0`; 1: `v <> rows/2`; 100 and 10,000: `v % (rows/k) <> 0`), so every round
 * evaluates one CHECK per row. Each round drops and creates its target, then times one
 * `rb run --json` started as the README says (node engine/cli/bin.js, never npx); the k values
 * alternate within an iteration. Reported as medians and ratios to k = 0; nothing is asserted.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { clusterUrl, ensureCluster, ensureDatabase } from '../../engine/embedded/cluster.js';
import { ensureCompiled } from '../compiled.js';
import { queryOnce as query } from '../databases.js';
import { median } from '../results.js';
import { REPO_ROOT } from '../runner.js';

const DATABASE = 'rb_badrows';
const BIN = path.join(REPO_ROOT, 'engine/cli/bin.js');
const log = (line: string) => process.stderr.write(`${line}\n`);
const BAD = [0, 1, 100, 10_000] as const;

function check(rows: number, k: number): string {
  if (k === 0) return 'v >= 0';
  if (k === 1) return `v <> ${Math.floor(rows / 2)}`;
  return `v % ${Math.floor(rows / k)} <> 0`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rows: { type: 'string', default: '1000000' }, iters: { type: 'string', default: '3' }, json: { type: 'string' } } });
  const rows = Number(values.rows);
  const iters = Number(values.iters);
  ensureCompiled(log);
  const src = await ensureCluster(path.join(REPO_ROOT, '.rb', 'badrows-src'), { log });
  const dst = await ensureCluster(path.join(REPO_ROOT, '.rb', 'badrows-dst'), { log });
  await ensureDatabase(src, DATABASE);
  await ensureDatabase(dst, DATABASE);
  const srcUrl = clusterUrl(src, DATABASE);
  const dstUrl = clusterUrl(dst, DATABASE);
  const table = `br_${rows}`;
  const have = await query(srcUrl, `select count(*)::int8 as n from pg_class where relname = '${table}'`);
  if (Number(have.rows[0].n) === 0) {
    log(`bench: generating ${table} (${rows.toLocaleString()} rows)`);
    await query(srcUrl, `create table ${table} (id int primary key, v int not null, s text, pad text);
      insert into ${table} select g, g, 's' || g, md5(g::text) from generate_series(1, ${rows}) g; analyze ${table}`);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rb-bench-badrows-'));
  const file = path.join(dir, 'p.yaml');
  writeFileSync(
    file,
    `version: "1.0"
pipeline: bench_badrows
source:
  use: postgres
  config: { url: "${srcUrl}" }
  streams:
    - name: ${table}
destination:
  use: postgres
  config: { url: "${dstUrl}" }
  write_mode: append
  on_data_error: dlq
`,
  );
  const times = new Map<number, number[]>(BAD.map((k) => [k, []]));
  for (let i = 0; i < iters; i++) {
    for (const k of i % 2 ? [...BAD].reverse() : BAD) {
      await query(dstUrl, `drop table if exists ${table}; create table ${table} (id int primary key, v int check (${check(rows, k)}), s text, pad text); truncate _rb.dlq`).catch(async () => {
        await query(dstUrl, `drop table if exists ${table}; create table ${table} (id int primary key, v int check (${check(rows, k)}), s text, pad text)`);
      });
      await query(dstUrl, 'checkpoint');
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [BIN, 'run', file, '--json', '--fresh'], { encoding: 'utf8', maxBuffer: 64 << 20 });
      const ms = performance.now() - t0;
      if (r.status !== 0) throw new Error(`rb run failed (${r.status}): ${r.stderr}${r.stdout}`);
      const j = JSON.parse(r.stdout) as { streams: Array<{ rows: number; rows_dead_lettered: number }> };
      if (j.streams[0].rows_dead_lettered !== k || j.streams[0].rows !== rows - k) throw new Error(`k=${k}: rb wrote ${j.streams[0].rows} rows and dead-lettered ${j.streams[0].rows_dead_lettered}`);
      times.get(k)!.push(ms);
      log(`bench bad-rows: run ${i + 1}/${iters} k=${k}: ${(ms / 1000).toFixed(2)} s, verified (${j.streams[0].rows} written, ${k} dead-lettered)`);
    }
  }
  const base = median(times.get(0)!);
  const result = BAD.map((k) => ({ bad_rows: k, median_s: +(median(times.get(k)!) / 1000).toFixed(3), ratio_to_clean: +(median(times.get(k)!) / base).toFixed(3), runs_s: times.get(k)!.map((t) => +(t / 1000).toFixed(3)) }));
  process.stdout.write(`${rows.toLocaleString()} rows, append, on_data_error: dlq — median of ${iters}\n`);
  process.stdout.write(`bad rows   median s   vs clean\n`);
  for (const r of result) process.stdout.write(`${String(r.bad_rows).padStart(8)}   ${r.median_s.toFixed(2).padStart(8)}   ${r.ratio_to_clean.toFixed(2)}×\n`);
  if (values.json) writeFileSync(values.json, JSON.stringify({ rows, iters, machine: `${os.cpus().length} cores`, result }, null, 2));
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : e}\n`);
  process.exit(1);
});
