/**
 * The codec bench's report: its JSON shape (`rb bench --profile codecs --json`), the ratios and
 * goals derived from the measurements, and the human table.
 *
 *   { codecs: [{ name, impl, ops_per_sec, mb_per_sec, ms_per_op, samples }],
 *     ratios: { <codec>: { native_vs_ts, native_vs_<peer>, ts_vs_<peer> } },
 *     goals: [{ codec, impl, versus, target, measured, met }],
 *     native: { impl, reason }, machine: {...}, workloads: {...}, settings: {...} }
 *
 * MB is 10^6 bytes of COPY / wire data (placeholders: of SQL text) per op.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addonCandidates } from '../../native/load.js';
import { CODEC_PEERS, type CodecName } from './cases.js';
import { REPO_ROOT } from '../../engine/paths.js';

export interface CodecResult {
  name: CodecName;
  /** 'native', 'ts' or the peer package's name. */
  impl: string;
  /** Median over the rounds of (1000 / median latency in ms). */
  ops_per_sec: number;
  mb_per_sec: number;
  ms_per_op: number;
  /** Timed ops over all rounds. */
  samples: number;
}

export interface CodecGoal {
  codec: CodecName;
  impl: 'native';
  versus: string;
  /** Required speed-up (ops/s ratio). */
  target: number;
  /** Measured ratio, or null when one side was not run (no addon, codec filtered out). */
  measured: number | null;
  met: boolean | null;
}

/** Which build of the addon was measured (its version string does not change between builds). */
export interface AddonFingerprint {
  file: string;
  sha256: string;
  modified: string;
}

/** The addon file `native/load.ts` picks (the first candidate that exists), hashed. */
export function fingerprintAddon(): AddonFingerprint | undefined {
  const file = addonCandidates().find((f) => existsSync(f));
  if (!file) return undefined;
  return {
    file: path.relative(REPO_ROOT, file),
    sha256: createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16),
    modified: statSync(file).mtime.toISOString(),
  };
}

export interface CodecMachine {
  cpu_model: string;
  cores: number;
  memory_gib: number;
  os: string;
  node: string;
  /** 1-minute load average before and after: the bench is only as quiet as the machine. */
  load_avg_1m: { start: number; end: number };
}

export interface CodecBenchReport {
  codecs: CodecResult[];
  /** Per codec: `a_vs_b` = ops/s of a ÷ ops/s of b (above 1: a is faster). */
  ratios: Partial<Record<CodecName, Record<string, number>>>;
  goals: CodecGoal[];
  native: { impl: 'native' | 'ts'; reason: string; addon?: AddonFingerprint };
  machine: CodecMachine;
  workloads: Partial<Record<CodecName, { op: string; bytes: number }>>;
  settings: { time_ms: number; min_iterations: number; rounds: number; scale: number; clock: 'wall' | 'cpu' };
}

/** The issue's goals: native COPY ≥ 5× TypeScript and ≥ 10× pg-copy-streams-binary; pgoutput ≥ 5× pg-logical-replication. */
export const CODEC_GOALS: ReadonlyArray<Pick<CodecGoal, 'codec' | 'versus' | 'target'>> = [
  { codec: 'copy-encode', versus: 'ts', target: 5 },
  { codec: 'copy-encode', versus: 'pg-copy-streams-binary', target: 10 },
  { codec: 'copy-decode', versus: 'ts', target: 5 },
  { codec: 'copy-decode', versus: 'pg-copy-streams-binary', target: 10 },
  { codec: 'pgoutput', versus: 'pg-logical-replication', target: 5 },
];

const round = (v: number, digits: number): number => Number(v.toFixed(digits));

/** `v` to 4 significant digits (ops/s span 0.5 to 20,000 across codecs and implementations). */
export function significant(v: number): number {
  return Number(v.toPrecision(4));
}

/** Ratios between every pair of native, ts and the codec's peer that were measured. */
export function codecRatios(results: readonly CodecResult[]): CodecBenchReport['ratios'] {
  const ratios: CodecBenchReport['ratios'] = {};
  for (const name of new Set(results.map((r) => r.name))) {
    const ops = new Map(results.filter((r) => r.name === name).map((r) => [r.impl, r.ops_per_sec]));
    const peer = CODEC_PEERS[name];
    const pairs: Array<[string, string]> = [['native', 'ts']];
    if (peer) pairs.push(['native', peer], ['ts', peer]);
    const out: Record<string, number> = {};
    for (const [a, b] of pairs) {
      const x = ops.get(a);
      const y = ops.get(b);
      if (x !== undefined && y !== undefined && y > 0) out[`${a}_vs_${b}`] = significant(x / y);
    }
    ratios[name] = out;
  }
  return ratios;
}

export function codecGoals(ratios: CodecBenchReport['ratios']): CodecGoal[] {
  return CODEC_GOALS.map((g) => {
    const measured = ratios[g.codec]?.[`native_vs_${g.versus}`] ?? null;
    return { ...g, impl: 'native', measured, met: measured === null ? null : measured >= g.target };
  });
}

export function describeCodecMachine(loadStart: number): CodecMachine {
  const cpus = os.cpus();
  return {
    cpu_model: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memory_gib: round(os.totalmem() / 2 ** 30, 1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    load_avg_1m: { start: round(loadStart, 2), end: round(os.loadavg()[0], 2) },
  };
}

function fmt(v: number): string {
  if (v >= 100) return Math.round(v).toLocaleString('en-US');
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function ratioText(report: CodecBenchReport, r: CodecResult): string {
  const ratios = report.ratios[r.name] ?? {};
  const parts = Object.entries(ratios)
    .filter(([k]) => k.startsWith(`${r.impl}_vs_`))
    .map(([k, v]) => `${fmt(v)}× ${k.slice(r.impl.length + 4)}`);
  return parts.join(', ');
}

/** The human report: one line per codec and implementation, then the goals. */
export function renderCodecTable(report: CodecBenchReport): string {
  const m = report.machine;
  const lines = [
    `rb bench --profile codecs — codecs in use: ${report.native.impl} (${report.native.reason})`,
    ...(report.native.addon ? [`addon: ${report.native.addon.file}, sha256 ${report.native.addon.sha256}…, built ${report.native.addon.modified}`] : []),
    `machine: ${m.cores} cores (${m.cpu_model}), ${m.memory_gib} GiB, ${m.os}, Node ${m.node}; load 1m ${m.load_avg_1m.start} → ${m.load_avg_1m.end}`,
    `settings: ${report.settings.clock} clock, ${report.settings.time_ms} ms per task, at least ${report.settings.min_iterations} ops, ${report.settings.rounds} round(s), medians reported`,
    '',
  ];
  const header = ['codec', 'impl', 'ops/s', 'MB/s', 'ms/op', 'ratio'];
  const rows = report.codecs.map((r) => [r.name, r.impl, fmt(r.ops_per_sec), fmt(r.mb_per_sec), r.ms_per_op.toFixed(3), ratioText(report, r)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  lines.push(line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), '');
  for (const [name, w] of Object.entries(report.workloads)) lines.push(`  ${name}: one op = ${w.op} (${fmt(w.bytes / 1e6)} MB)`);
  lines.push('', 'goals (native vs):');
  for (const g of report.goals) {
    const status = g.met === null ? 'not measured' : g.met ? 'met' : 'NOT met';
    lines.push(`  ${g.codec} ≥ ${g.target}× ${g.versus}: ${g.measured === null ? '-' : `${fmt(g.measured)}×`} (${status})`);
  }
  if (report.native.impl !== 'native') lines.push('', `native addon not in use (${report.native.reason}): TypeScript and peers only.`);
  return lines.join('\n');
}

export function codecReportJson(report: CodecBenchReport): string {
  return JSON.stringify(report, null, 2);
}

