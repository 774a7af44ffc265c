/**
 * What a bench run produces, and the statistics derived from it. Pure: no I/O, unit-tested.
 *
 * Ratio to the reference (the raw psql binary pipe) = reference seconds / contender seconds, i.e.
 * the contender's throughput over the pipe's: 1.0 is as fast as the pipe, 1.2 is 20% faster. The
 * contenders run in alternation, so iteration i of every contender ran under the same conditions;
 * the ratio is taken per iteration and the median of those ratios is reported (drift on a shared
 * machine hits both sides of a pair alike).
 */
import type { ContenderKind } from './contenders/contender.js';
import type { ProfileName } from './profiles.js';
import type { TableChecksum } from './verify.js';

export interface RunRecord {
  iteration: number;
  wallSeconds: number;
  cpuSeconds: number;
  peakRssBytes: number;
  /** CPU seconds the local source and destination servers used during the run (embedded clusters). */
  serverCpuSeconds?: ServerCpu;
  /** rb's own move phase (its --json phases_ms.move), for rb's contenders. */
  moveSeconds?: number;
}

export interface ServerCpu {
  source?: number;
  dest?: number;
}

export type ContenderStatus = 'ok' | 'failed' | 'skipped';

export interface ContenderResult {
  id: string;
  label: string;
  kind: ContenderKind;
  status: ContenderStatus;
  /** Why it failed or was skipped. */
  reason?: string;
  /** Timed runs (the warm-up is not among them). */
  runs: RunRecord[];
  /** rb: the --json summary's telemetry of the last run. */
  telemetry?: Record<string, unknown>;
  /** Version and mode facts (rb --version, native/fallback, pgcopydb version). */
  info?: Record<string, unknown>;
  note?: string;
}

export interface EndpointInfo {
  embedded: boolean;
  serverVersion: string;
}

export interface ProfileRun {
  profile: ProfileName;
  description: string;
  iterations: number;
  /** Whether an untimed warm-up round ran first. */
  warmup: boolean;
  tables: TableChecksum[];
  source: EndpointInfo & { generated: boolean; generationSeconds?: number };
  destination: EndpointInfo;
  contenders: ContenderResult[];
}

export interface ContenderSummary {
  id: string;
  label: string;
  kind: ContenderKind;
  status: ContenderStatus;
  reason?: string;
  note?: string;
  medianSeconds?: number;
  rowsPerSecond?: number;
  mbPerSecond?: number;
  /** Highest peak RSS over the timed runs. */
  peakRssBytes?: number;
  /** Median CPU seconds over the timed runs. */
  cpuSeconds?: number;
  /** Median server CPU seconds over the timed runs, per side (when the servers are local). */
  serverCpuSeconds?: ServerCpu;
  /** Median of the per-iteration ratios to the reference; undefined without a reference. */
  ratioToReference?: number;
  ratios?: number[];
  /** Median of per-iteration (reference wall s / rb's move phase s): rb's contenders only. */
  moveRatioToReference?: number;
  /** Median of per-iteration (reference client CPU s / contender client CPU s). */
  cpuRatioToReference?: number;
}

export interface ProfileSummary {
  profile: ProfileName;
  rows: number;
  textBytes: number;
  contenders: ContenderSummary[];
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The ratios a run pair is compared by (bench/gate.ts): which figure of the reference over which of the contender. */
export type RatioFigure = 'wall' | 'move' | 'cpu';
export const RATIO_FIGURES: Record<RatioFigure, { ref: (r: RunRecord) => number | undefined; cand: (r: RunRecord) => number | undefined }> = {
  wall: { ref: (r) => r.wallSeconds, cand: (r) => r.wallSeconds },
  move: { ref: (r) => r.wallSeconds, cand: (r) => r.moveSeconds },
  cpu: { ref: (r) => r.cpuSeconds, cand: (r) => r.cpuSeconds },
};

/** reference[i] / candidate[i] for the iterations both have, of one figure (default wall seconds). */
export function pairedRatios(
  reference: readonly RunRecord[],
  candidate: readonly RunRecord[],
  figure: (typeof RATIO_FIGURES)[RatioFigure] = RATIO_FIGURES.wall,
): number[] {
  const out: number[] = [];
  for (const c of candidate) {
    const r = reference.find((x) => x.iteration === c.iteration);
    const [a, b] = r ? [figure.ref(r), figure.cand(c)] : [undefined, undefined];
    if (a !== undefined && b !== undefined && b > 0) out.push(a / b);
  }
  return out;
}

/** Per side, the median over the runs that measured it; undefined when no run did. */
export function medianServerCpu(runs: readonly RunRecord[]): ServerCpu | undefined {
  const side = (k: keyof ServerCpu): number | undefined => {
    const xs = runs.map((r) => r.serverCpuSeconds?.[k]).filter((x): x is number => x !== undefined);
    return xs.length ? median(xs) : undefined;
  };
  const out: ServerCpu = { source: side('source'), dest: side('dest') };
  return out.source === undefined && out.dest === undefined ? undefined : out;
}

export function summarizeProfile(run: ProfileRun, referenceKind: ContenderKind = 'psql-binary'): ProfileSummary {
  const rows = run.tables.reduce((s, t) => s + t.rows, 0);
  const textBytes = run.tables.reduce((s, t) => s + t.textBytes, 0);
  const reference = run.contenders.find((c) => c.kind === referenceKind && c.status === 'ok');
  const contenders = run.contenders.map((c): ContenderSummary => {
    const base: ContenderSummary = { id: c.id, label: c.label, kind: c.kind, status: c.status, reason: c.reason, note: c.note };
    if (c.status !== 'ok' || c.runs.length === 0) return base;
    const medianSeconds = median(c.runs.map((r) => r.wallSeconds));
    const ratios = reference ? pairedRatios(reference.runs, c.runs) : [];
    const moveRatios = reference ? pairedRatios(reference.runs, c.runs, RATIO_FIGURES.move) : [];
    const cpuRatios = reference ? pairedRatios(reference.runs, c.runs, RATIO_FIGURES.cpu) : [];
    return {
      ...base,
      medianSeconds,
      rowsPerSecond: rows / medianSeconds,
      mbPerSecond: textBytes / 1e6 / medianSeconds,
      peakRssBytes: Math.max(...c.runs.map((r) => r.peakRssBytes)),
      cpuSeconds: median(c.runs.map((r) => r.cpuSeconds)),
      serverCpuSeconds: medianServerCpu(c.runs),
      ratioToReference: ratios.length ? median(ratios) : undefined,
      ratios: ratios.length ? ratios : undefined,
      moveRatioToReference: moveRatios.length ? median(moveRatios) : undefined,
      cpuRatioToReference: cpuRatios.length ? median(cpuRatios) : undefined,
    };
  });
  return { profile: run.profile, rows, textBytes, contenders };
}
