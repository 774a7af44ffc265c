/**
 * Joined vs split stage mode, measured (issue: parallel runtime — "or, where that measures faster,
 * in one task"). Copies one table (2M rows of about 150 bytes by default) between two embedded
 * clusters with `rb run` in-process (`runPipeline`, write_mode replace), in alternation after a
 * warm-up round, and prints the median seconds, rows/s and each variant's ratio to joined.
 *
 *   npx tsx bench/parallel/stage-mode.ts [--rows 2000000] [--repeat 3] [--parallelism 2,4]
 *                                        [--variants joined,split,split-2x] [--json out.json]
 *
 * Variants at parallelism P (P = resources.parallelism = pool threads, as the resolver sizes it):
 *   joined     P threads, one task per shard: P shards move at once.
 *   split      P threads, two tasks per shard: P/2 shards move at once (same threads as joined).
 *   split-2x   2P threads (run with parallelism 2P): P shards move at once, as in joined, with
 *              twice the threads (the shard count is min(4, 2P) then, so at P=2 it cuts 4 shards).
 * Each measured run's row count is checked; the destination's checksum is compared with the
 * source's once per variant (outside the timing).
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { parsePipelineConfig } from '../../engine/config/index.js';
import { clusterUrl, ensureCluster, ensureDatabase } from '../../engine/embedded/cluster.js';
import { runPipeline, type RunResult } from '../../engine/run/run-pipeline.js';
import { quickChecksum } from '../../engine/verify/index.js';

type Variant = 'joined' | 'split' | 'split-2x';
const VARIANTS: Variant[] = ['joined', 'split', 'split-2x'];
const TABLE = 'stage_bench';

interface Sample {
  variant: Variant;
  parallelism: number;
  seconds: number;
  moveSeconds: number;
  peakRssMb: number;
  stageMode: string | undefined;
  shards: number;
}

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '2000000' },
    repeat: { type: 'string', default: '3' },
    parallelism: { type: 'string', default: '2,4' },
    variants: { type: 'string', default: VARIANTS.join(',') },
    json: { type: 'string' },
  },
});
const ROWS = Number(args.rows);
const REPEAT = Number(args.repeat);
const PARALLELISMS = args.parallelism!.split(',').map(Number);
const variants = args.variants!.split(',') as Variant[];
for (const v of variants) if (!VARIANTS.includes(v)) throw new Error(`--variants: unknown variant ${v} (expected ${VARIANTS.join(', ')})`);

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Generates the source table once (kept across invocations while the row count matches). */
async function prepareSource(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const have = await c.query(`select obj_description('public.${TABLE}'::regclass) as d`).catch(() => ({ rows: [{ d: null }] }));
    if (have.rows[0].d === `rows=${ROWS}`) return;
    log(`generating ${ROWS} rows in ${TABLE} ...`);
    await c.query(`drop table if exists ${TABLE}`);
    // About 150 bytes a row on disk: a key, ints, a timestamp, a numeric, a uuid-ish text, a label.
    await c.query(`create table ${TABLE} (id bigint primary key, customer int not null, amount numeric(12,2), created_at timestamptz,
      status smallint, ref text, note text)`);
    await c.query(`insert into ${TABLE}
      select g, g % 100003, (g % 100000) / 100.0, timestamptz '2026-01-01' + g * interval '1 second', (g % 7)::smallint,
             md5(g::text), 'order ' || g || ' ' || repeat(chr(97 + g % 26), 30 + g % 40)
      from generate_series(1, ${ROWS}) g`);
    await c.query(`vacuum analyze ${TABLE}`);
    await c.query(`comment on table ${TABLE} is 'rows=${ROWS}'`);
    const size = await c.query(`select pg_size_pretty(pg_table_size('${TABLE}')) as s, pg_table_size('${TABLE}') / ${ROWS} as per_row`);
    log(`  ${size.rows[0].s} (${size.rows[0].per_row} bytes/row)`);
  } finally {
    await c.end();
  }
}

function pipelineYaml(srcUrl: string, dstUrl: string): string {
  return `version: "1.0"
pipeline: stage_mode_bench
source:
  use: postgres
  config: { url: "${srcUrl}" }
  streams:
    - name: public.${TABLE}
destination:
  use: postgres
  config: { url: "${dstUrl}" }
  write_mode: replace
`;
}

async function runOnce(variant: Variant, parallelism: number, yaml: string): Promise<{ sample: Sample; result: RunResult }> {
  process.env.RB_STAGE_MODE = variant === 'joined' ? 'joined' : 'split';
  const threads = variant === 'split-2x' ? 2 * parallelism : parallelism;
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const started = performance.now();
  const result = await runPipeline(parsePipelineConfig(yaml, 'stage-mode.yaml', {}), { parallelism: threads });
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  if (result.status !== 'succeeded') throw new Error(`${variant} p=${parallelism}: run failed: ${JSON.stringify(result.error)}`);
  if (result.rows_written !== ROWS) throw new Error(`${variant} p=${parallelism}: wrote ${result.rows_written} rows, expected ${ROWS}`);
  const sample: Sample = {
    variant,
    parallelism,
    seconds,
    moveSeconds: result.phases_ms.move / 1000,
    peakRssMb: Math.round(peak / 2 ** 20),
    stageMode: result.stage_mode,
    shards: result.streams[0].shards,
  };
  return { sample, result };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  delete process.env.RB_BENCH_DELAY_MS;
  delete process.env.RB_SHARD_MIN_BYTES;
  const srcInfo = await ensureCluster('.rb/stage-src');
  const dstInfo = await ensureCluster('.rb/stage-dst');
  await ensureDatabase(srcInfo, 'stage_src');
  await ensureDatabase(dstInfo, 'stage_dst');
  const srcUrl = clusterUrl(srcInfo, 'stage_src');
  const dstUrl = clusterUrl(dstInfo, 'stage_dst');
  await prepareSource(srcUrl);
  const want = await quickChecksum(srcUrl, { schema: 'public', table: TABLE });
  const yaml = pipelineYaml(srcUrl, dstUrl);
  log(`machine: ${os.availableParallelism()} cores, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}; ${ROWS} rows; variants ${variants.join(', ')}`);

  const samples: Sample[] = [];
  for (const p of PARALLELISMS) {
    log(`\nparallelism ${p}: warm-up`);
    for (const v of variants) await runOnce(v, p, yaml);
    const verified = new Set<Variant>();
    for (let i = 0; i < REPEAT; i++) {
      // A B C A B C …: drift on a shared machine hits every variant alike.
      for (const v of variants) {
        const { sample } = await runOnce(v, p, yaml);
        samples.push(sample);
        log(`  ${v.padEnd(8)} p=${p} run ${i + 1}: ${sample.seconds.toFixed(2)} s (move ${sample.moveSeconds.toFixed(2)} s, ${sample.shards} shards, ${sample.stageMode}, peak RSS ${sample.peakRssMb} MB)`);
        if (!verified.has(v)) {
          const got = await quickChecksum(dstUrl, { schema: 'public', table: TABLE });
          if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${v} p=${p}: destination checksum differs from the source`);
          verified.add(v);
        }
      }
    }
  }

  const summary = [];
  console.log(`\n${ROWS} rows, ${REPEAT} runs per variant (median), ${os.availableParallelism()} cores`);
  console.log('parallelism  variant   threads  shards  median s  move s   rows/s      vs joined  peak RSS MB');
  for (const p of PARALLELISMS) {
    const base = median(samples.filter((s) => s.parallelism === p && s.variant === 'joined').map((s) => s.seconds));
    for (const v of variants) {
      const mine = samples.filter((s) => s.parallelism === p && s.variant === v);
      const sec = median(mine.map((s) => s.seconds));
      const move = median(mine.map((s) => s.moveSeconds));
      const row = {
        parallelism: p,
        variant: v,
        threads: v === 'split-2x' ? 2 * p : p,
        shards: mine[0].shards,
        median_seconds: Number(sec.toFixed(3)),
        median_move_seconds: Number(move.toFixed(3)),
        rows_per_second: Math.round(ROWS / sec),
        // > 1: faster than joined at the same parallelism.
        speedup_vs_joined: Number.isFinite(base) ? Number((base / sec).toFixed(3)) : null,
        peak_rss_mb: Math.max(...mine.map((s) => s.peakRssMb)),
        seconds: mine.map((s) => Number(s.seconds.toFixed(3))),
      };
      summary.push(row);
      console.log(
        `${String(p).padEnd(13)}${v.padEnd(10)}${String(row.threads).padEnd(9)}${String(row.shards).padEnd(8)}${sec.toFixed(2).padEnd(10)}${move.toFixed(2).padEnd(9)}${String(row.rows_per_second).padEnd(12)}${String(row.speedup_vs_joined ?? '-').padEnd(11)}${row.peak_rss_mb}`,
      );
    }
  }
  if (args.json) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(args.json, JSON.stringify({ rows: ROWS, repeat: REPEAT, cores: os.availableParallelism(), summary, samples }, null, 2));
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
