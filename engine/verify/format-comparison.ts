/**
 * Human-readable verification report (for `rb demo` and test failures):
 *
 *   table             rows source → dest    columns equal   result
 *   shop.customers    50,000 → 50,000       7/7             ok
 *   shop.orders       150,000 → 149,999     6/7             MISMATCH: row count; total (values)
 *
 *   1 of 2 tables differ
 */
import { displayName, quoteIdent } from '../../connectors/postgres/identifiers.js';
import type { ColumnComparison, TableComparison } from './compare-tables.js';

const HEADERS = ['table', 'rows source → dest', 'columns equal', 'result'] as const;

export function formatComparison(results: TableComparison[]): string {
  const rows = results.map((r) => [tableLabel(r), rowsLabel(r), columnsLabel(r), resultLabel(r)]);
  const widths = HEADERS.map((h, i) => Math.max(width(h), ...rows.map((row) => width(row[i]))));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i] - width(c))))
      .join('   ')
      .trimEnd();
  const differing = results.filter((r) => !r.equal).length;
  const summary =
    results.length === 0
      ? 'no tables compared'
      : differing === 0
        ? `${results.length} ${results.length === 1 ? 'table' : 'tables'} equal`
        : `${differing} of ${results.length} ${results.length === 1 ? 'table differs' : 'tables differ'}`;
  return [line(HEADERS), ...rows.map(line), '', summary].join('\n');
}

function tableLabel(r: TableComparison): string {
  const src = displayName(r.source);
  const dst = displayName(r.dest);
  return src === dst ? src : `${src} → ${dst}`;
}

function rowsLabel(r: TableComparison): string {
  const n = (exists: boolean, rows: number) => (exists ? rows.toLocaleString('en-US') : '-');
  return `${n(r.sourceExists, r.sourceRows)} → ${n(r.destExists, r.destRows)}`;
}

function columnsLabel(r: TableComparison): string {
  if (!r.sourceExists || !r.destExists) return '-';
  return `${r.columns.length - r.mismatchedColumns.length}/${r.columns.length}`;
}

function resultLabel(r: TableComparison): string {
  if (r.equal) return 'ok';
  const problems: string[] = [];
  if (!r.sourceExists) problems.push('source table missing');
  if (!r.destExists) problems.push('destination table missing');
  if (r.sourceExists && r.destExists) {
    if (r.sourceRows !== r.destRows) problems.push('row count');
    for (const c of r.columns) if (!c.equal) problems.push(columnProblem(c));
  }
  return `MISMATCH: ${problems.join('; ')}`;
}

function columnProblem(c: ColumnComparison): string {
  const name = /^[a-z_][a-z0-9_$]*$/.test(c.name) ? c.name : quoteIdent(c.name);
  if (c.sourceType === null) return `${name} (not in source)`;
  if (c.destType === null) return `${name} (not in destination)`;
  if (!c.typeEqual) return `${name} (type ${c.sourceType} → ${c.destType}${c.valuesEqual ? '' : ', values'})`;
  return `${name} (values)`;
}

/** Display width: wide (CJK, emoji) characters take two terminal cells. */
function width(s: string): number {
  let w = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    w += cp >= 0x1100 && (cp <= 0x115f || (cp >= 0x2e80 && cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) || (cp >= 0xffe0 && cp <= 0xffe6) || cp >= 0x1f300) ? 2 : 1;
  }
  return w;
}
