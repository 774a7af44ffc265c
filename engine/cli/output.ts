/** Shared output helpers: errors as one readable block (or JSON), numbers and durations. */
import { errorClass, type RbError } from '../errors.js';

export function printError(e: RbError, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ status: 'failed', error: { ...e.toJSON(), class: errorClass(e) } })}\n`);
    return;
  }
  const where = [e.stream ? `stream ${e.stream}` : '', e.shard !== undefined ? `shard ${e.shard}` : ''].filter(Boolean).join(', ');
  process.stderr.write(`rb: error [${e.code}]${where ? ` (${where})` : ''}: ${e.message}\n`);
  if (e.pg?.detail) process.stderr.write(`  detail: ${e.pg.detail}\n`);
  if (e.pg?.hint) process.stderr.write(`  hint: ${e.pg.hint}\n`);
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** A plain left-aligned text table. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (c ?? '').padEnd(widths[i])).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
