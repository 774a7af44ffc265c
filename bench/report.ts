/**
 * The bench report: one JSON document (`--json`, and the data behind the HTML page) and its text
 * rendering (a table per profile). Pure functions over the run results.
 */
import { isRbKind } from './contenders/contender.js';
import type { GateReport } from './gate.js';
import type { MachineDescription } from './machine.js';
import { summarizeProfile, type ProfileRun, type ServerCpu } from './results.js';

export interface ContenderReport {
  id: string;
  label: string;
  kind: string;
  status: 'ok' | 'failed' | 'skipped';
  reason?: string;
  note?: string;
  median_seconds?: number;
  rows_per_second?: number;
  mb_per_second?: number;
  peak_rss_bytes?: number;
  cpu_seconds?: number;
  /** CPU of the local (embedded) servers during the run, median per side; absent for remote servers. */
  server_cpu_seconds?: { source?: number; destination?: number };
  /** Median of per-iteration (psql binary seconds / contender seconds); > 1 is faster than the pipe. */
  ratio_to_psql_binary?: number;
  ratios?: number[];
  /** Median of per-iteration (psql binary wall seconds / rb's move phase seconds): rb only. */
  move_ratio_to_psql_binary?: number;
  /** Median of per-iteration (psql binary client CPU seconds / contender client CPU seconds). */
  cpu_ratio_to_psql_binary?: number;
  runs: Array<{ iteration: number; wall_seconds: number; cpu_seconds: number; peak_rss_bytes: number; server_cpu_seconds?: { source?: number; destination?: number }; move_seconds?: number }>;
  /** rb only: parallelism telemetry from `rb run --json`, version and native/fallback mode. */
  rb?: Record<string, unknown>;
  info?: Record<string, unknown>;
}

export interface ProfileReport {
  profile: string;
  description: string;
  rows: number;
  text_bytes: number;
  iterations: number;
  warmup: boolean;
  tables: Array<{ table: string; rows: number; text_bytes: number; checksum: string }>;
  source: ProfileRun['source'];
  destination: ProfileRun['destination'];
  reference: 'psql-binary';
  contenders: ContenderReport[];
}

export interface BenchReport {
  rb_bench_report: 1;
  created_at: string;
  machine: MachineDescription;
  settings: { iterations: number; parallelism: string[]; contenders: string[]; slowdown_factor?: number };
  profiles: ProfileReport[];
  gate?: GateReport;
}

const round = (x: number | undefined, digits: number): number | undefined => (x === undefined ? undefined : Number(x.toFixed(digits)));

const serverCpuJson = (s: ServerCpu | undefined): { server_cpu_seconds?: { source?: number; destination?: number } } =>
  s ? { server_cpu_seconds: { source: round(s.source, 2), destination: round(s.dest, 2) } } : {};

/** "src+dst" server CPU seconds for the tables, `—` for a side that was not measured. */
export function formatServerCpu(s: ContenderReport['server_cpu_seconds']): string {
  if (!s) return '—';
  const side = (x: number | undefined): string => (x === undefined ? '—' : x.toFixed(2));
  return `${side(s.source)}+${side(s.destination)}`;
}

export function profileReport(run: ProfileRun): ProfileReport {
  const summary = summarizeProfile(run);
  return {
    profile: run.profile,
    description: run.description,
    rows: summary.rows,
    text_bytes: summary.textBytes,
    iterations: run.iterations,
    warmup: run.warmup,
    tables: run.tables.map((t) => ({ table: t.table, rows: t.rows, text_bytes: t.textBytes, checksum: t.checksum })),
    source: run.source,
    destination: run.destination,
    reference: 'psql-binary',
    contenders: summary.contenders.map((s, i): ContenderReport => {
      const c = run.contenders[i];
      const rb = isRbKind(c.kind) ? { ...(c.telemetry ?? {}), ...(c.info ? { version: c.info.version, native_mode: c.info.native_mode } : {}) } : undefined;
      return {
        id: s.id,
        label: s.label,
        kind: s.kind,
        status: s.status,
        ...(s.reason ? { reason: s.reason } : {}),
        ...(s.note ? { note: s.note } : {}),
        median_seconds: round(s.medianSeconds, 4),
        rows_per_second: round(s.rowsPerSecond, 0),
        mb_per_second: round(s.mbPerSecond, 2),
        peak_rss_bytes: s.peakRssBytes,
        cpu_seconds: round(s.cpuSeconds, 3),
        ...serverCpuJson(s.serverCpuSeconds),
        ratio_to_psql_binary: round(s.ratioToReference, 4),
        ratios: s.ratios?.map((r) => Number(r.toFixed(4))),
        ...(s.moveRatioToReference !== undefined ? { move_ratio_to_psql_binary: round(s.moveRatioToReference, 4) } : {}),
        ...(s.cpuRatioToReference !== undefined ? { cpu_ratio_to_psql_binary: round(s.cpuRatioToReference, 4) } : {}),
        runs: c.runs.map((r) => ({
          iteration: r.iteration,
          wall_seconds: round(r.wallSeconds, 4)!,
          cpu_seconds: round(r.cpuSeconds, 3)!,
          peak_rss_bytes: r.peakRssBytes,
          ...serverCpuJson(r.serverCpuSeconds),
          ...(r.moveSeconds !== undefined ? { move_seconds: round(r.moveSeconds, 4) } : {}),
        })),
        ...(rb && Object.keys(rb).length ? { rb } : {}),
        ...(c.info && !isRbKind(c.kind) ? { info: c.info } : {}),
      };
    }),
  };
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
export const formatMb = (bytes: number): string => `${(bytes / 1e6).toFixed(bytes >= 1e9 ? 0 : 1)} MB`;

function pad(cells: string[], widths: number[], rightAlignFrom: number): string {
  return cells.map((c, i) => (i >= rightAlignFrom ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
}

/** The human table for one profile. */
export function formatProfileTable(p: ProfileReport): string {
  const header = ['contender', 'median s', 'rows/s', 'MB/s', 'peak RSS', 'CPU s', 'server CPU s', 'vs psql binary'];
  const rows: string[][] = [];
  const lines: string[] = [];
  for (const c of p.contenders) {
    if (c.status !== 'ok') continue;
    rows.push([
      c.label,
      c.median_seconds!.toFixed(2),
      int(c.rows_per_second!),
      c.mb_per_second!.toFixed(1),
      formatMb(c.peak_rss_bytes!),
      c.cpu_seconds!.toFixed(2),
      formatServerCpu(c.server_cpu_seconds),
      c.ratio_to_psql_binary === undefined ? '—' : `${c.ratio_to_psql_binary.toFixed(2)}×`,
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length), ...(i === 0 ? p.contenders.map((c) => c.label.length) : [])));
  const tables = p.tables.map((t) => `${t.table} ${int(t.rows)}`).join(', ');
  lines.push(`${p.profile} — ${int(p.rows)} rows, ${formatMb(p.text_bytes)} (${tables}) — median of ${p.iterations} run${p.iterations === 1 ? '' : 's'} ${p.warmup === false ? 'without' : 'after'} a warm-up, each verified`);
  lines.push(pad(header, widths, 1));
  let r = 0;
  for (const c of p.contenders) {
    if (c.status === 'ok') lines.push(pad(rows[r++], widths, 1));
    else lines.push(`${c.label.padEnd(widths[0])}  ${c.status.toUpperCase()}: ${c.reason ?? ''}`);
  }
  const notes = p.contenders.filter((c) => c.note).map((c) => `  ${c.label}: ${c.note}`);
  const rb = p.contenders.filter((c) => c.rb && c.status === 'ok').map((c) => `  ${c.label}: ${describeRbTelemetry(c.rb!, c.runs.at(-1)?.wall_seconds)}`);
  if (rb.length) lines.push('rb telemetry:', ...rb);
  if (notes.length) lines.push('notes:', ...notes);
  lines.push('MB = 10^6 bytes of the rows\' text form; peak RSS and CPU are the client process tree\'s; server CPU = source+destination server processes during the run (local embedded servers only, — otherwise); ratio = median over iterations of (psql binary seconds / contender seconds) for the runs made side by side, so on a noisy machine it can differ from the ratio of the medians.');
  return lines.join('\n');
}

export function describeRbTelemetry(t: Record<string, unknown>, lastWallSeconds?: number): string {
  const parts: string[] = [];
  if (t.parallelism_mode !== undefined) parts.push(`parallelism ${String(t.parallelism_mode)}`);
  if (t.parallelism_effective !== undefined) parts.push(`effective ${String(t.parallelism_effective)}`);
  if (t.parallelism_available_cores !== undefined) parts.push(`${String(t.parallelism_available_cores)} cores`);
  if (Array.isArray(t.streams)) {
    const shards = (t.streams as Array<{ name?: unknown; shards?: unknown }>).filter((s) => s.shards !== undefined).map((s) => `${String(s.name)} shards: ${String(s.shards)}`);
    if (shards.length) parts.push(shards.join(', '));
  }
  if (t.native_mode !== undefined) parts.push(`codecs ${String(t.native_mode)}`);
  else if (t.codecs !== undefined) parts.push(`codecs ${String(t.codecs)}`);
  if (typeof t.duration_ms === 'number') {
    const phases = t.phases_ms && typeof t.phases_ms === 'object' ? ` (${Object.entries(t.phases_ms as Record<string, unknown>).map(([k, v]) => `${k} ${String(v)}`).join(', ')} ms)` : '';
    const wall = lastWallSeconds === undefined ? '' : ` of ${lastWallSeconds.toFixed(2)} s wall (the rest is process start-up and exit)`;
    parts.push(`last run: rb reported ${(t.duration_ms / 1000).toFixed(2)} s${phases}${wall}`);
  }
  return parts.length ? parts.join(', ') : 'no telemetry in rb --json output';
}

export function formatReport(report: BenchReport): string {
  const out = report.profiles.map(formatProfileTable);
  return `${out.join('\n\n')}\n`;
}
