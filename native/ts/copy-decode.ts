/**
 * COPY binary tuples → `ColumnBatch` (layout in batch.ts; wire grammar in copy-scan.ts).
 *
 * Two passes over the one input buffer: the first validates every tuple (field count, NULL or
 * non-negative lengths, fixed widths) and sums the bytes of each var column; the second fills
 * output arrays allocated once at their exact size. No per-value allocation: values are read
 * with byte arithmetic and copied with a loop (small) or `set(subarray)` (large).
 */
import type { Column, ColumnBatch, ColumnCodec } from '../batch.js';
import { CodecError, type CopyDecodeResult } from '../codec-api.js';
import { fieldCountError, fieldLengthError } from './copy-scan.js';
import { checkOffset, copyBytes, int16At, int32At, plain } from './reader.js';

const MAX_INT32 = 0x7fffffff;
const VALID_WIDTHS = new Set([1, 2, 4, 8, 16]);

/** An empty batch with the columns `codecs` describe (zero rows). */
export function emptyBatch(codecs: readonly ColumnCodec[]): ColumnBatch {
  return allocateBatch(codecs, 0, new Float64Array(codecs.length));
}

function allocateBatch(codecs: readonly ColumnCodec[], rows: number, varBytes: Float64Array): ColumnBatch {
  const columns: Column[] = new Array(codecs.length);
  for (let j = 0; j < codecs.length; j++) {
    const c = codecs[j];
    columns[j] =
      c.kind === 'fixed'
        ? { kind: 'fixed', width: c.width, swap: c.swap, values: new Uint8Array(rows * c.width), nulls: new Uint8Array(rows) }
        : { kind: 'var', offsets: new Int32Array(rows + 1), data: new Uint8Array(varBytes[j]), nulls: new Uint8Array(rows) };
  }
  return { rowCount: rows, columns };
}

function checkCodecs(codecs: readonly ColumnCodec[]): void {
  if (codecs.length > 0x7fff) throw new CodecError(`copy binary: ${codecs.length} columns, expected at most 32767`, 0);
  for (let j = 0; j < codecs.length; j++) {
    const c = codecs[j];
    if (c.kind === 'fixed' ? !VALID_WIDTHS.has(c.width) : c.kind !== 'var') {
      throw new CodecError(`copy binary: column ${j} has an invalid codec ${JSON.stringify(c)}`, 0);
    }
  }
}

/**
 * Decodes complete tuples from `offset` (at most `maxRows`). Every tuple must have exactly
 * `codecs.length` fields and every non-null fixed value exactly its width.
 *
 * @example
 *   const start = copyHeaderLength(buf, 0);
 *   const { batch, end, done } = copyDecode(buf, start, [codecForType(23), codecForType(25)]);
 */
export function copyDecode(buf: Uint8Array, offset: number, codecs: readonly ColumnCodec[], maxRows: number = Number.MAX_SAFE_INTEGER): CopyDecodeResult {
  checkOffset('copy binary', buf, offset);
  checkCodecs(codecs);
  buf = plain(buf);
  if (!(maxRows >= 0)) throw new CodecError(`copy binary: maxRows ${maxRows}, expected >= 0`, offset);
  maxRows = Math.floor(maxRows);
  const ncols = codecs.length;
  // widths[j] = 0 for var columns; swaps[j] = 1 when the fixed value is byte-swapped.
  const widths = new Int32Array(ncols);
  const swaps = new Uint8Array(ncols);
  for (let j = 0; j < ncols; j++) {
    const c = codecs[j];
    if (c.kind === 'fixed') {
      widths[j] = c.width;
      swaps[j] = c.swap ? 1 : 0;
    }
  }
  const varBytes = new Float64Array(ncols);
  const len = buf.length;

  // Pass 1: validate, count rows, size var columns.
  let p = offset;
  let rows = 0;
  let done = false;
  let end = offset;
  while (rows < maxRows) {
    if (len - p < 2) break;
    const fc = int16At(buf, p);
    if (fc === -1) {
      done = true;
      end = p + 2;
      break;
    }
    if (fc !== ncols) throw fieldCountError(p, fc, ncols);
    let q = p + 2;
    let f = 0;
    for (; f < ncols; f++) {
      if (len - q < 4) break;
      const n = int32At(buf, q);
      if (n < 0) {
        if (n !== -1) throw fieldLengthError(p, f, q, n);
        q += 4;
        continue;
      }
      const w = widths[f];
      if (w !== 0) {
        if (n !== w) {
          throw new CodecError(`copy binary: field ${f} of tuple at offset ${p} has length ${n} at offset ${q}, expected ${w} (fixed-width column)`, q);
        }
      } else {
        varBytes[f] += n;
      }
      if (len - q - 4 < n) break;
      q += 4 + n;
    }
    if (f < ncols) {
      undoPartialTuple(buf, p, f, widths, varBytes);
      break;
    }
    rows++;
    p = q;
  }
  if (!done) end = p;
  for (let j = 0; j < ncols; j++) {
    if (varBytes[j] > MAX_INT32) throw new CodecError(`copy binary: column ${j} holds ${varBytes[j]} bytes, more than one batch can (2 GiB)`, offset);
  }

  const batch = allocateBatch(codecs, rows, varBytes);
  if (rows > 0) fill(buf, offset, rows, batch.columns, widths, swaps);
  return { rows, end, done, batch };
}

/**
 * The tuple at `p` was cut inside field `cutField`: take back the var bytes pass 1 added for its
 * fields (including the cut one when its length header was complete).
 */
function undoPartialTuple(buf: Uint8Array, p: number, cutField: number, widths: Int32Array, varBytes: Float64Array): void {
  let q = p + 2;
  for (let f = 0; f <= cutField; f++) {
    if (buf.length - q < 4) return;
    const n = int32At(buf, q);
    q += 4;
    if (n < 0) continue;
    if (widths[f] === 0) varBytes[f] -= n;
    q += n;
  }
}

/** Pass 2: the input was validated by pass 1, so no checks here. */
function fill(buf: Uint8Array, offset: number, rows: number, columns: Column[], widths: Int32Array, swaps: Uint8Array): void {
  const ncols = columns.length;
  const nulls: Uint8Array[] = new Array(ncols);
  const values: Uint8Array[] = new Array(ncols); // fixed values or var data
  const offsets: Int32Array[] = new Array(ncols);
  const pos = new Int32Array(ncols); // write position in var data
  for (let j = 0; j < ncols; j++) {
    const col = columns[j];
    nulls[j] = col.nulls;
    if (col.kind === 'fixed') {
      values[j] = col.values;
      offsets[j] = new Int32Array(0);
    } else {
      values[j] = col.data;
      offsets[j] = col.offsets;
    }
  }
  let p = offset;
  for (let r = 0; r < rows; r++) {
    let q = p + 2;
    for (let j = 0; j < ncols; j++) {
      const n = int32At(buf, q);
      q += 4;
      const w = widths[j];
      if (n < 0) {
        nulls[j][r] = 1;
        if (w === 0) offsets[j][r + 1] = pos[j];
        continue;
      }
      const v = values[j];
      if (w === 0) {
        const at = pos[j];
        copyBytes(buf, q, n, v, at);
        pos[j] = at + n;
        offsets[j][r + 1] = at + n;
      } else if (swaps[j] === 0) {
        copyBytes(buf, q, w, v, r * w);
      } else {
        // Big-endian wire → little-endian storage, unrolled per width.
        const o = r * w;
        switch (w) {
          case 2:
            v[o] = buf[q + 1];
            v[o + 1] = buf[q];
            break;
          case 4:
            v[o] = buf[q + 3];
            v[o + 1] = buf[q + 2];
            v[o + 2] = buf[q + 1];
            v[o + 3] = buf[q];
            break;
          case 8:
            v[o] = buf[q + 7];
            v[o + 1] = buf[q + 6];
            v[o + 2] = buf[q + 5];
            v[o + 3] = buf[q + 4];
            v[o + 4] = buf[q + 3];
            v[o + 5] = buf[q + 2];
            v[o + 6] = buf[q + 1];
            v[o + 7] = buf[q];
            break;
          default:
            for (let i = 0; i < w; i++) v[o + i] = buf[q + w - 1 - i];
        }
      }
      q += n;
    }
    p = q;
  }
}
