/**
 * COPY binary header detection and tuple scanning (PostgreSQL docs, COPY, "Binary Format").
 *
 *   FILE    := HEADER TUPLE* TRAILER
 *   HEADER  := "PGCOPY\n\377\r\n\0" int32 flags  int32 extLen  byte[extLen]
 *   TUPLE   := int16 fieldCount (>= 0)  FIELD[fieldCount]
 *   FIELD   := int32 -1 (NULL) | int32 len (>= 0) byte[len]
 *   TRAILER := int16 -1
 *
 * All integers are big-endian. Flags: bits 16-31 are format-critical ("a reader should abort if
 * it finds an unexpected bit set"; bit 16 = OIDs included, which PostgreSQL 12+ never writes and
 * rb does not read); bits 0-15 are to be ignored.
 */
import { CodecError, COPY_BINARY_HEADER, type CopyScanResult } from '../codec-api.js';
import { checkOffset, int16At, int32At, plain } from './reader.js';

const SIGNATURE_BYTES = 11;
const FIXED_HEADER_BYTES = 19;

const hex = (b: number): string => `0x${b.toString(16).padStart(2, '0')}`;

/**
 * Length of the header at `offset` (19 + extension length), or -1 when it is not all there yet.
 * A partial signature that already differs throws at once, so a wrong stream fails early.
 */
export function copyHeaderLength(buf: Uint8Array, offset: number): number {
  checkOffset('copy binary', buf, offset);
  const avail = buf.length - offset;
  const sig = Math.min(avail, SIGNATURE_BYTES);
  for (let i = 0; i < sig; i++) {
    if (buf[offset + i] !== COPY_BINARY_HEADER[i]) {
      throw new CodecError(
        `copy binary: bad header signature at offset ${offset + i}: expected ${hex(COPY_BINARY_HEADER[i])}, found ${hex(buf[offset + i])}`,
        offset + i,
      );
    }
  }
  if (avail < FIXED_HEADER_BYTES) return -1;
  const flags = int32At(buf, offset + SIGNATURE_BYTES);
  if ((flags & 0xffff0000) !== 0) {
    throw new CodecError(
      `copy binary: unsupported header flags ${hex(flags >>> 0)} at offset ${offset + SIGNATURE_BYTES}, expected bits 16-31 clear (OIDs are not supported)`,
      offset + SIGNATURE_BYTES,
    );
  }
  const ext = int32At(buf, offset + SIGNATURE_BYTES + 4);
  if (ext < 0) {
    throw new CodecError(`copy binary: header extension length ${ext} at offset ${offset + 15}, expected >= 0`, offset + 15);
  }
  if (avail - FIXED_HEADER_BYTES < ext) return -1;
  return FIXED_HEADER_BYTES + ext;
}

export function fieldCountError(tupleAt: number, found: number, expected: number): CodecError {
  const want = expected < 0 ? 'a count >= 0 or -1 (trailer)' : `${expected}`;
  return new CodecError(`copy binary: tuple at offset ${tupleAt} has ${found} fields, expected ${want}`, tupleAt);
}

export function fieldLengthError(tupleAt: number, field: number, at: number, found: number): CodecError {
  return new CodecError(
    `copy binary: field ${field} of tuple at offset ${tupleAt} has length ${found} at offset ${at}, expected -1 (NULL) or >= 0`,
    at,
  );
}

/**
 * Counts complete tuples from `offset` without decoding values. `fieldCount` = -1 accepts any
 * count. Stops before an incomplete tuple; `done` when the trailer was read.
 *
 * @example
 *   const { rows, end, done } = copyScan(chunk, copyHeaderLength(chunk, 0), 3);
 *   // chunk.subarray(end) is the partial tuple to prepend to the next chunk
 */
export function copyScan(buf: Uint8Array, offset: number, fieldCount: number): CopyScanResult {
  checkOffset('copy binary', buf, offset);
  buf = plain(buf);
  const len = buf.length;
  let p = offset;
  let rows = 0;
  for (;;) {
    if (len - p < 2) break;
    const fc = int16At(buf, p);
    if (fc === -1) return { rows, end: p + 2, done: true };
    if (fc < 0 || (fieldCount >= 0 && fc !== fieldCount)) throw fieldCountError(p, fc, fieldCount);
    let q = p + 2;
    let f = 0;
    for (; f < fc; f++) {
      if (len - q < 4) break;
      const n = int32At(buf, q);
      if (n < 0) {
        if (n !== -1) throw fieldLengthError(p, f, q, n);
        q += 4;
        continue;
      }
      if (len - q - 4 < n) break;
      q += 4 + n;
    }
    if (f < fc) break; // incomplete tuple: leave it for the next chunk
    rows++;
    p = q;
  }
  return { rows, end: p, done: false };
}
