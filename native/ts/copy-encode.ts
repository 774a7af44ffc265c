/**
 * `ColumnBatch` → COPY binary tuples (wire grammar in copy-scan.ts). Tuples only: callers write
 * COPY_BINARY_HEADER before the first batch and COPY_BINARY_TRAILER after the last.
 *
 * `copyEncodedLength` is also the batch validator: it checks every array is long enough and every
 * non-null var range lies inside its data, so `copyEncodeInto` can write without checks.
 */
import type { ColumnBatch } from '../batch.js';
import { CodecError } from '../codec-api.js';
import { checkOffset, copyBytes, plain, writeInt32At } from './reader.js';

const VALID_WIDTHS = new Set([1, 2, 4, 8, 16]);

function fail(message: string): never {
  throw new CodecError(`copy binary: ${message}`, 0);
}

/** Exact byte length of the tuples of `batch`; throws a CodecError on a malformed batch. */
export function copyEncodedLength(batch: ColumnBatch): number {
  const rows = batch.rowCount;
  const ncols = batch.columns.length;
  if (!Number.isInteger(rows) || rows < 0) fail(`batch rowCount ${rows}, expected an integer >= 0`);
  if (ncols > 0x7fff) fail(`batch has ${ncols} columns, expected at most 32767`);
  let total = rows * (2 + 4 * ncols);
  for (let j = 0; j < ncols; j++) {
    const col = batch.columns[j];
    const nulls = col.nulls;
    if (nulls.length < rows) fail(`column ${j} has ${nulls.length} null flags, expected ${rows}`);
    if (col.kind === 'fixed') {
      const w = col.width;
      if (!VALID_WIDTHS.has(w)) fail(`column ${j} has fixed width ${w}, expected 1, 2, 4, 8 or 16`);
      if (col.values.length < rows * w) fail(`column ${j} has ${col.values.length} value bytes, expected ${rows * w}`);
      let present = 0;
      for (let r = 0; r < rows; r++) if (nulls[r] === 0) present++;
      total += present * w;
    } else {
      const offsets = col.offsets;
      const size = col.data.length;
      if (offsets.length < rows + 1) fail(`column ${j} has ${offsets.length} offsets, expected ${rows + 1}`);
      for (let r = 0; r < rows; r++) {
        if (nulls[r] !== 0) continue;
        const a = offsets[r];
        const b = offsets[r + 1];
        if (a < 0 || b < a || b > size) fail(`column ${j} row ${r} has range [${a}, ${b}) outside its ${size} data bytes`);
        total += b - a;
      }
    }
  }
  return total;
}

/**
 * Writes the tuples of `batch` into `out` at `offset` and returns the bytes written.
 *
 * @example
 *   const out = new Uint8Array(copyEncodedLength(batch));
 *   copyEncodeInto(batch, out, 0);
 */
export function copyEncodeInto(batch: ColumnBatch, out: Uint8Array, offset: number): number {
  checkOffset('copy binary', out, offset);
  const need = copyEncodedLength(batch);
  if (out.length - offset < need) {
    throw new CodecError(`copy binary: output has ${out.length - offset} bytes free at offset ${offset}, need ${need}`, offset);
  }
  out = plain(out);
  const rows = batch.rowCount;
  const ncols = batch.columns.length;
  const widths = new Int32Array(ncols); // 0 = var
  const swaps = new Uint8Array(ncols);
  const nulls: Uint8Array[] = new Array(ncols);
  const values: Uint8Array[] = new Array(ncols); // fixed values or var data
  const offsets: Int32Array[] = new Array(ncols);
  const noOffsets = new Int32Array(0);
  for (let j = 0; j < ncols; j++) {
    const col = batch.columns[j];
    nulls[j] = plain(col.nulls);
    if (col.kind === 'fixed') {
      widths[j] = col.width;
      swaps[j] = col.swap ? 1 : 0;
      values[j] = plain(col.values);
      offsets[j] = noOffsets;
    } else {
      values[j] = plain(col.data);
      offsets[j] = col.offsets;
    }
  }
  const fcHi = ncols >>> 8;
  const fcLo = ncols & 0xff;
  let p = offset;
  for (let r = 0; r < rows; r++) {
    out[p] = fcHi;
    out[p + 1] = fcLo;
    p += 2;
    for (let j = 0; j < ncols; j++) {
      if (nulls[j][r] !== 0) {
        out[p] = out[p + 1] = out[p + 2] = out[p + 3] = 0xff;
        p += 4;
        continue;
      }
      const w = widths[j];
      const v = values[j];
      if (w === 0) {
        const a = offsets[j][r];
        const n = offsets[j][r + 1] - a;
        writeInt32At(out, p, n);
        copyBytes(v, a, n, out, p + 4);
        p += 4 + n;
        continue;
      }
      out[p] = 0;
      out[p + 1] = 0;
      out[p + 2] = 0;
      out[p + 3] = w;
      p += 4;
      const o = r * w;
      if (swaps[j] === 0) {
        copyBytes(v, o, w, out, p);
      } else {
        // Little-endian storage → big-endian wire, unrolled per width.
        switch (w) {
          case 2:
            out[p] = v[o + 1];
            out[p + 1] = v[o];
            break;
          case 4:
            out[p] = v[o + 3];
            out[p + 1] = v[o + 2];
            out[p + 2] = v[o + 1];
            out[p + 3] = v[o];
            break;
          case 8:
            out[p] = v[o + 7];
            out[p + 1] = v[o + 6];
            out[p + 2] = v[o + 5];
            out[p + 3] = v[o + 4];
            out[p + 4] = v[o + 3];
            out[p + 5] = v[o + 2];
            out[p + 6] = v[o + 1];
            out[p + 7] = v[o];
            break;
          default:
            for (let i = 0; i < w; i++) out[p + i] = v[o + w - 1 - i];
        }
      }
      p += w;
    }
  }
  return p - offset;
}
