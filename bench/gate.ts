/**
 * Performance regression gate. It compares a ratio of rb to the raw psql binary pipe (median of the
 * paired iterations, see results.ts) with a committed baseline, not absolute times: a shared CI
 * machine's speed drifts from run to run, but both contenders drift together. The figure is the
 * baseline's own (`figure`; a baseline without one is `wall`):
 *
 *   wall  pipe wall s / rb wall s (process start to exit)
 *   move  pipe wall s / rb's move phase s (rb's --json phases_ms.move)
 *   cpu   pipe client CPU s / rb client CPU s
 *
 * which one `--save-baseline` writes, and why, is in bench/README.md ("Choosing the gate").
 * Verdict: fail when current < baseline × (1 − tolerance). A faster rb always passes.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RbError } from '../engine/errors.js';
import type { MachineDescription } from './machine.js';
import type { ProfileReport } from './report.js';
import type { RatioFigure } from './results.js';

/** The tolerance of the baseline's own figure unless --tolerance says otherwise. */
export const DEFAULT_TOLERANCE = 0.2;
/** A new baseline's second check: rb's wall time against the pipe's, at this looser tolerance. */
export const WALL_GUARD_TOLERANCE = 0.35;
export type GateFigure = RatioFigure;
export const GATE_FIGURES: readonly GateFigure[] = ['wall', 'move', 'cpu'];
/** The figure a new baseline is saved with (bench/README.md, "Choosing the gate"). */
export const DEFAULT_GATE_FIGURE: GateFigure = 'cpu';
const FIGURE_WORDS: Record<GateFigure, string> = {
  wall: 'rb (auto) / psql binary pipe throughput ratio',
  move: "psql binary pipe's time / rb (auto)'s move phase",
  cpu: 'psql binary pipe client CPU / rb (auto) client CPU',
};
export const GATE_CANDIDATE_ID = 'rb:auto';
export const GATE_REFERENCE_ID = 'psql-binary';

export interface Baseline {
  rb_bench_baseline: 1;
  profile: string;
  candidate: string;
  reference: string;
  /** Which ratio `ratio` is (absent in baselines saved before figures existed: wall). */
  figure?: GateFigure;
  /** Median of the per-iteration ratios of that figure. */
  ratio: number;
  /**
   * A second check the gate also makes, at its own tolerance: the wall-time ratio, so that a
   * slowdown that costs rb no CPU (a worse plan, a wait) still fails when it is large.
   */
  guard?: { figure: GateFigure; ratio: number; tolerance: number };
  ratios: number[];
  iterations: number;
  candidate_median_seconds: number;
  reference_median_seconds: number;
  machine: MachineDescription;
  created_at: string;
}

export interface GateVerdict {
  pass: boolean;
  current: number;
  baseline: number;
  /** The lowest ratio that still passes. */
  threshold: number;
  tolerance: number;
  /** (current − baseline) / baseline: negative is slower. */
  change: number;
  figure?: GateFigure;
}

export interface GateReport extends Partial<GateVerdict> {
  baseline_file: string;
  pass: boolean;
  message: string;
  /** The baseline's second check (the wall-time guard), when it has one. */
  guard?: GateVerdict;
}

/** The comparison itself. */
export function compareWithBaseline(current: number, baseline: number, tolerance: number, figure: GateFigure = 'wall'): GateVerdict {
  if (!(baseline > 0)) throw new RbError('usage', `baseline ratio must be > 0, found ${baseline}`);
  const threshold = baseline * (1 - tolerance);
  return { pass: current >= threshold, current, baseline, threshold, tolerance, change: (current - baseline) / baseline, figure };
}

/** A contender's ratio to the pipe by one figure. */
export function figureRatio(c: ProfileReport['contenders'][number], figure: GateFigure): number | undefined {
  return figure === 'wall' ? c.ratio_to_psql_binary : figure === 'move' ? c.move_ratio_to_psql_binary : c.cpu_ratio_to_psql_binary;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

export function formatVerdict(v: GateVerdict, baselineFile: string): string {
  const head = v.pass ? 'gate PASS' : 'gate FAIL (performance regression)';
  return (
    `${head}: ${FIGURE_WORDS[v.figure ?? 'wall']} now ${v.current.toFixed(3)}, baseline ${v.baseline.toFixed(3)} (${baselineFile}); ` +
    `change ${v.change >= 0 ? '+' : ''}${pct(v.change)}, tolerance ${pct(v.tolerance)}, lowest passing ratio ${v.threshold.toFixed(3)}`
  );
}

function gateContenders(p: ProfileReport, figure: GateFigure = 'wall'): { rb: ProfileReport['contenders'][number]; ref: ProfileReport['contenders'][number] } {
  const rb = p.contenders.find((c) => c.id === GATE_CANDIDATE_ID);
  const ref = p.contenders.find((c) => c.id === GATE_REFERENCE_ID);
  const problem = (label: string, c: ProfileReport['contenders'][number] | undefined): string | undefined =>
    !c ? `${label} was not run` : c.status !== 'ok' ? `${label} ${c.status}: ${c.reason ?? ''}` : undefined;
  const why = problem('rb (auto)', rb) ?? problem('psql binary pipe', ref) ?? (figureRatio(rb!, figure) === undefined ? `no paired iterations to compare (${figure})` : undefined);
  if (why) throw new RbError('internal', `gate: cannot measure rb's ratio: ${why}`);
  return { rb: rb!, ref: ref! };
}

export function baselineFromReport(p: ProfileReport, machine: MachineDescription, now = new Date(), figure: GateFigure = DEFAULT_GATE_FIGURE): Baseline {
  const { rb, ref } = gateContenders(p, figure);
  return {
    rb_bench_baseline: 1,
    profile: p.profile,
    candidate: GATE_CANDIDATE_ID,
    reference: GATE_REFERENCE_ID,
    figure,
    ratio: figureRatio(rb, figure)!,
    ratios: figure === 'wall' ? (rb.ratios ?? []) : [],
    ...(figure !== 'wall' && rb.ratio_to_psql_binary !== undefined ? { guard: { figure: 'wall' as const, ratio: rb.ratio_to_psql_binary, tolerance: WALL_GUARD_TOLERANCE } } : {}),
    iterations: p.iterations,
    candidate_median_seconds: rb.median_seconds!,
    reference_median_seconds: ref.median_seconds!,
    machine,
    created_at: now.toISOString(),
  };
}

export function loadBaseline(file: string): Baseline {
  let doc: Partial<Baseline>;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8')) as Partial<Baseline>;
  } catch (e) {
    throw new RbError('usage', `--check: cannot read baseline ${file}: ${(e as Error).message}`, { cause: e });
  }
  if (doc.rb_bench_baseline !== 1 || typeof doc.ratio !== 'number' || !(doc.ratio > 0) || typeof doc.profile !== 'string') {
    throw new RbError('usage', `--check: ${file} is not an rb bench baseline (expected rb_bench_baseline: 1, profile and a ratio > 0)`);
  }
  if (doc.figure !== undefined && !GATE_FIGURES.includes(doc.figure)) {
    throw new RbError('usage', `--check: ${file}: figure must be one of ${GATE_FIGURES.join(', ')}, found '${String(doc.figure)}'`);
  }
  return doc as Baseline;
}

export function saveBaseline(file: string, b: Baseline): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileSync(file, `${JSON.stringify(b, null, 2)}\n`);
}

/**
 * Runs the gate on a profile's report: both figures are in the message. A missing or failed rb
 * or reference fails the gate (a gate that cannot measure must not pass).
 */
export function runGate(p: ProfileReport, baseline: Baseline, baselineFile: string, tolerance: number): GateReport {
  if (baseline.profile !== p.profile) {
    return { baseline_file: baselineFile, pass: false, message: `gate FAIL: ${baselineFile} is a baseline for profile '${baseline.profile}', this run is '${p.profile}'` };
  }
  const figure = baseline.figure ?? 'wall';
  let rb: ProfileReport['contenders'][number];
  try {
    rb = gateContenders(p, figure).rb;
  } catch (e) {
    return { baseline_file: baselineFile, pass: false, message: `gate FAIL: ${(e as Error).message.replace(/^gate: /, '')}` };
  }
  const v = compareWithBaseline(figureRatio(rb, figure)!, baseline.ratio, tolerance, figure);
  const g = baseline.guard;
  const guardNow = g ? figureRatio(rb, g.figure) : undefined;
  if (!g) return { ...v, baseline_file: baselineFile, message: formatVerdict(v, baselineFile) };
  if (guardNow === undefined) return { ...v, pass: false, baseline_file: baselineFile, message: `${formatVerdict(v, baselineFile)}\ngate FAIL: no ${g.figure} ratio to check the guard with` };
  const w = compareWithBaseline(guardNow, g.ratio, g.tolerance, g.figure);
  return { ...v, pass: v.pass && w.pass, guard: w, baseline_file: baselineFile, message: `${formatVerdict(v, baselineFile)}\n${formatVerdict(w, baselineFile)}` };
}
