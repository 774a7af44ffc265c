/**
 * `rb bench --profile codecs`: rb's codecs, native and TypeScript, beside the ecosystem libraries
 * that do the same jobs (peers.ts), on the same deterministic inputs (workloads.ts), with tinybench.
 *
 * Each tinybench task does one whole workload per call (cases.ts), so per-call timer overhead is
 * negligible. Outputs are checked before timing. A machine shared with other jobs is noisy: each
 * task's median latency is used, and `repeat` runs all tasks again in rounds (interleaving the
 * implementations over time) and reports the median over the rounds.
 */
import os from 'node:os';
import { Bench } from 'tinybench';
import { Errors } from '../../engine/errors.js';
import type { Codecs } from '../../native/codec-api.js';
import { codecs as chosenCodecs, nativeStatus, rawNativeCodecs, tsCodecs } from '../../native/index.js';

// Measure the addon itself, not the engine's small-input routing around it.
const codecs = rawNativeCodecs ?? chosenCodecs;
import { buildCases, CODEC_NAMES, type CodecCase, type CodecName } from './cases.js';
import { codecGoals, codecRatios, codecReportJson, describeCodecMachine, fingerprintAddon, renderCodecTable, significant, type CodecBenchReport, type CodecResult } from './report.js';
import { buildWorkloads } from './workloads.js';

export interface CodecBenchOptions {
  /** Print the JSON report instead of the table. */
  json: boolean;
  /** Time budget per task and round, in ms (tinybench `time`). */
  time?: number;
  /** Minimum timed ops per task and round (tinybench `iterations`). */
  iterations?: number;
  /** Codec names to run (default: all six). */
  only?: string[];
  /** Rounds of all tasks; the median over the rounds is reported (default 1). */
  repeat?: number;
  /** Shrinks the workloads (0 < scale <= 1; the tests use a small one). Default 1. */
  scale?: number;
  /**
   * 'wall' (default): elapsed time. 'cpu': the process's CPU time (user + system, all its threads),
   * which a machine shared with other jobs disturbs far less than elapsed time.
   */
  clock?: CodecClock;
  /** Print the report to stdout and progress to stderr (default true). */
  print?: boolean;
}

export type CodecClock = 'wall' | 'cpu';

/** Process CPU time in µs as a tinybench timestamp provider (process.cpuUsage has µs resolution). */
export const CPU_CLOCK = {
  name: 'process.cpuUsage',
  fn: (): number => {
    const u = process.cpuUsage();
    return u.user + u.system;
  },
  toMs: (v: number | bigint): number => Number(v) / 1000,
  fromMs: (ms: number): number => ms * 1000,
};

export const DEFAULT_TIME_MS = 1000;
export const DEFAULT_MIN_ITERATIONS = 10;
const WARMUP_MS = 250;
const WARMUP_ITERATIONS = 3;

function parseOnly(only: string[] | undefined): CodecName[] {
  const names = (only ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) return [...CODEC_NAMES];
  for (const n of names) {
    if (!(CODEC_NAMES as readonly string[]).includes(n)) throw Errors.usage(`--only: unknown codec '${n}', expected one of ${CODEC_NAMES.join(', ')}`);
  }
  return CODEC_NAMES.filter((n) => names.includes(n));
}

function positive(what: string, v: number | undefined, fallback: number, integer: boolean): number {
  if (v === undefined) return fallback;
  if (!(v > 0) || (integer && !Number.isInteger(v))) throw Errors.usage(`${what}: expected a positive ${integer ? 'integer' : 'number'}, found ${v}`);
  return v;
}

/** The rb implementations to measure: TypeScript always, native when the addon is in use. */
function rbCodecs(): Codecs[] {
  return nativeStatus.impl === 'native' ? [codecs, tsCodecs] : [tsCodecs];
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Keeps results alive so no task's work can be optimised away. */
let sink: unknown;

/** One round: every task of every case once through tinybench; ops/s per "codec|impl". */
async function runRound(cases: readonly CodecCase[], timeMs: number, iterations: number, clock: CodecClock): Promise<Map<string, { ops: number; samples: number }>> {
  const bench = new Bench({
    ...(clock === 'cpu' ? { timestampProvider: CPU_CLOCK } : {}),
    time: timeMs,
    iterations,
    warmupTime: Math.min(WARMUP_MS, timeMs),
    warmupIterations: Math.min(WARMUP_ITERATIONS, iterations),
    throws: true,
  });
  for (const c of cases) {
    for (const t of c.tasks) {
      const run = t.run;
      bench.add(`${c.name}|${t.impl}`, () => {
        sink = run();
      });
    }
  }
  await bench.run();
  const out = new Map<string, { ops: number; samples: number }>();
  for (const task of bench.tasks) {
    const r = task.result;
    if (r.state !== 'completed') throw Errors.internal(`codec bench: task ${task.name} ended ${r.state}`);
    out.set(task.name, { ops: 1000 / r.latency.p50, samples: r.latency.samplesCount });
  }
  return out;
}

/**
 * Runs the codec micro-benchmarks and returns the report (printing it unless `print: false`).
 *
 * @example
 *   const report = await runCodecBench({ json: false, time: 1000, repeat: 3 });
 *   report.ratios['copy-encode']?.native_vs_ts
 */
export async function runCodecBench(opts: CodecBenchOptions): Promise<CodecBenchReport> {
  const names = parseOnly(opts.only);
  const timeMs = positive('--time', opts.time, DEFAULT_TIME_MS, false);
  const iterations = positive('--iterations', opts.iterations, DEFAULT_MIN_ITERATIONS, true);
  const rounds = positive('--repeat', opts.repeat, 1, true);
  const scale = opts.scale ?? 1;
  if (!(scale > 0 && scale <= 1)) throw Errors.usage(`scale: expected 0 < scale <= 1, found ${scale}`);
  const clock = opts.clock ?? 'wall';
  if (clock !== 'wall' && clock !== 'cpu') throw Errors.usage(`--clock: expected wall or cpu, found '${String(clock)}'`);
  const print = opts.print !== false;
  const progress = (line: string): void => {
    if (print) process.stderr.write(`${line}\n`);
  };

  const loadStart = os.loadavg()[0];
  // Hashed now, close to when the addon was loaded: a rebuild during the run must not be credited.
  const addon = nativeStatus.impl === 'native' ? fingerprintAddon() : undefined;
  if (nativeStatus.impl !== 'native') progress(`codec bench: native addon not in use (${nativeStatus.reason}); measuring TypeScript and peers only`);
  progress('codec bench: building workloads and checking that all implementations agree…');
  const workloads = buildWorkloads(scale);
  const cases = buildCases(workloads, rbCodecs(), names);

  const perRound: Array<Map<string, { ops: number; samples: number }>> = [];
  for (let i = 0; i < rounds; i++) {
    progress(`codec bench: round ${i + 1}/${rounds}`);
    perRound.push(await runRound(cases, timeMs, iterations, clock));
  }
  sink = undefined;

  const results: CodecResult[] = [];
  for (const c of cases) {
    for (const t of c.tasks) {
      const key = `${c.name}|${t.impl}`;
      const ops = median(perRound.map((m) => m.get(key)!.ops));
      results.push({
        name: c.name,
        impl: t.impl,
        ops_per_sec: ops,
        mb_per_sec: (ops * c.bytes) / 1e6,
        ms_per_op: 1000 / ops,
        samples: perRound.reduce((n, m) => n + m.get(key)!.samples, 0),
      });
    }
  }
  // Ratios from the unrounded numbers (a peer at 0.8 ops/s would otherwise carry a 6% error).
  const ratios = codecRatios(results);
  const report: CodecBenchReport = {
    codecs: results.map((r) => ({ ...r, ops_per_sec: significant(r.ops_per_sec), mb_per_sec: significant(r.mb_per_sec), ms_per_op: significant(r.ms_per_op) })),
    ratios,
    goals: codecGoals(ratios),
    native: { impl: nativeStatus.impl, reason: nativeStatus.reason, ...(addon ? { addon } : {}) },
    machine: describeCodecMachine(loadStart),
    workloads: Object.fromEntries(cases.map((c) => [c.name, { op: c.op, bytes: c.bytes }])),
    settings: { time_ms: timeMs, min_iterations: iterations, rounds, scale, clock },
  };
  if (print) process.stdout.write(`${opts.json ? codecReportJson(report) : renderCodecTable(report)}\n`);
  return report;
}
