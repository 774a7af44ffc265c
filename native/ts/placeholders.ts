/**
 * Multi-row INSERT placeholders: `($1,$2),($3,$4)` for `load_method: insert`, chunked so that no
 * statement has more than 65,535 parameters (the Bind message's int16 parameter count).
 *
 * Chunked inserts ask for the same shape again and again (`first = 1`, same column count), and the
 * text for r rows is a prefix of the text for r + 1 rows. So the full-capacity text per column
 * count is built once and sliced (V8 slices strings without copying); other shapes are built with
 * one array join over cached `$n` strings.
 */
import { CodecError, MAX_QUERY_PARAMS } from '../codec-api.js';

/** `$n` strings, grown on demand up to the protocol's parameter bound. */
const dollars: string[] = [''];

function dollar(n: number): string {
  if (n > MAX_QUERY_PARAMS) return `$${n}`;
  while (dollars.length <= n) dollars.push(`$${dollars.length}`);
  return dollars[n];
}

function checkCount(what: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new CodecError(`placeholders: ${what} ${v}, expected an integer >= ${min}`, 0);
}

function build(rows: number, cols: number, first: number): string {
  const parts = new Array<string>(rows);
  let n = first;
  for (let r = 0; r < rows; r++) {
    if (cols === 0) {
      parts[r] = '()';
      continue;
    }
    let s = '(' + dollar(n++);
    for (let c = 1; c < cols; c++) s += ',' + dollar(n++);
    parts[r] = s + ')';
  }
  return parts.join(',');
}

interface PrefixEntry {
  text: string;
  /** rowEnd[r] = length of the text covering the first r rows (without the trailing comma). */
  rowEnd: Int32Array;
}

const MAX_CACHED_SHAPES = 16;
const prefixCache = new Map<number, PrefixEntry>();

function prefixEntry(cols: number): PrefixEntry {
  let e = prefixCache.get(cols);
  if (e) return e;
  const capacity = Math.floor(MAX_QUERY_PARAMS / cols);
  const text = build(capacity, cols, 1);
  const rowEnd = new Int32Array(capacity + 1);
  // Each row is '(' + its $n joined by ',' + ')' and rows are joined by ','.
  let len = 0;
  let n = 1;
  for (let r = 1; r <= capacity; r++) {
    let rowLen = 2 + (cols - 1);
    for (let c = 0; c < cols; c++) rowLen += dollar(n++).length;
    len += (r > 1 ? 1 : 0) + rowLen;
    rowEnd[r] = len;
  }
  if (prefixCache.size >= MAX_CACHED_SHAPES) prefixCache.delete(prefixCache.keys().next().value as number);
  e = { text, rowEnd };
  prefixCache.set(cols, e);
  return e;
}

/**
 * `($first,...),(...)` for `rows` rows of `cols` columns; '' for zero rows, `(),()` for zero
 * columns.
 *
 * @example
 *   placeholders(2, 2)    // '($1,$2),($3,$4)'
 *   placeholders(1, 3, 7) // '($7,$8,$9)'
 */
export function placeholders(rows: number, cols: number, first: number = 1): string {
  checkCount('rows', rows, 0);
  checkCount('cols', cols, 0);
  checkCount('first', first, 1);
  if (rows === 0) return '';
  if (first === 1 && cols > 0 && rows * cols <= MAX_QUERY_PARAMS) {
    const e = prefixEntry(cols);
    return e.text.slice(0, e.rowEnd[rows]);
  }
  return build(rows, cols, first);
}

/**
 * Rows per INSERT statement so none has more than `maxParams` parameters: full chunks then the
 * remainder. Zero rows → []; zero columns → one statement of all rows.
 *
 * @example
 *   insertChunks(100_000, 3) // [21845, 21845, 21845, 21845, 12620]
 */
export function insertChunks(rows: number, cols: number, maxParams: number = MAX_QUERY_PARAMS): number[] {
  checkCount('rows', rows, 0);
  checkCount('cols', cols, 0);
  checkCount('maxParams', maxParams, 1);
  if (rows === 0) return [];
  if (cols === 0) return [rows];
  if (cols > maxParams) throw new CodecError(`placeholders: ${cols} columns do not fit in one statement of at most ${maxParams} parameters`, 0);
  const per = Math.floor(maxParams / cols);
  const out: number[] = [];
  let left = rows;
  while (left > per) {
    out.push(per);
    left -= per;
  }
  out.push(left);
  return out;
}
