/**
 * Performance regression gate (issue point 4). It compares rb's ratio to the raw psql binary pipe
 * (median of the paired iterations, see results.ts) with a committed baseline, not absolute times:
 * a shared CI machine's speed drifts from run to run, but both contenders drift together.
 *
 * Verdict: fail when current < baseline × (1 − tolerance). A faster rb always passes.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RbError } from '../engine/errors.js';
import type { MachineDescription } from './machine.js';
import type { ProfileReport } from './report.js';

export const DEFAULT_TOLERANCE = 0.15;
export const GATE_CANDIDATE_ID = 'rb:auto';
export const GATE_REFERENCE_ID = 'psql-binary';

export interface Baseline {
  rb_bench_baseline: 1;
  profile: string;
  candidate: string;
  reference: string;
  /** Median of per-iteration (reference seconds / candidate seconds). */
  ratio: number;
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
}

export interface GateReport extends Partial<GateVerdict> {
  baseline_file: string;
  pass: boolean;
  message: string;
}

/** The comparison itself. */
export function compareWithBaseline(current: number, baseline: number, tolerance: number): GateVerdict {
  if (!(baseline > 0)) throw new RbError('usage', `baseline ratio must be > 0, found ${baseline}`);
  const threshold = baseline * (1 - tolerance);
  return { pass: current >= threshold, current, baseline, threshold, tolerance, change: (current - baseline) / baseline };
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

export function formatVerdict(v: GateVerdict, baselineFile: string): string {
  const head = v.pass ? 'gate PASS' : 'gate FAIL (performance regression)';
  return (
    `${head}: rb (auto) / psql binary pipe throughput ratio now ${v.current.toFixed(3)}, baseline ${v.baseline.toFixed(3)} (${baselineFile}); ` +
    `change ${v.change >= 0 ? '+' : ''}${pct(v.change)}, tolerance ${pct(v.tolerance)}, lowest passing ratio ${v.threshold.toFixed(3)}`
  );
}

function gateContenders(p: ProfileReport): { rb: ProfileReport['contenders'][number]; ref: ProfileReport['contenders'][number] } {
  const rb = p.contenders.find((c) => c.id === GATE_CANDIDATE_ID);
  const ref = p.contenders.find((c) => c.id === GATE_REFERENCE_ID);
  const problem = (label: string, c: ProfileReport['contenders'][number] | undefined): string | undefined =>
    !c ? `${label} was not run` : c.status !== 'ok' ? `${label} ${c.status}: ${c.reason ?? ''}` : undefined;
  const why = problem('rb (auto)', rb) ?? problem('psql binary pipe', ref) ?? (rb!.ratio_to_psql_binary === undefined ? 'no paired iterations to compare' : undefined);
  if (why) throw new RbError('internal', `gate: cannot measure rb's ratio: ${why}`);
  return { rb: rb!, ref: ref! };
}

export function baselineFromReport(p: ProfileReport, machine: MachineDescription, now = new Date()): Baseline {
  const { rb, ref } = gateContenders(p);
  return {
    rb_bench_baseline: 1,
    profile: p.profile,
    candidate: GATE_CANDIDATE_ID,
    reference: GATE_REFERENCE_ID,
    ratio: rb.ratio_to_psql_binary!,
    ratios: rb.ratios ?? [],
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
  let rb: ProfileReport['contenders'][number];
  try {
    rb = gateContenders(p).rb;
  } catch (e) {
    return { baseline_file: baselineFile, pass: false, message: `gate FAIL: ${(e as Error).message.replace(/^gate: /, '')}` };
  }
  const v = compareWithBaseline(rb.ratio_to_psql_binary!, baseline.ratio, tolerance);
  return { ...v, baseline_file: baselineFile, message: formatVerdict(v, baselineFile) };
}
