/**
 * The fields of the last row of a tuple-aligned COPY chunk (no header, no trailer), for
 * incremental checkpoints: the cursor of the last row written is the stream's new position.
 *
 *   binary tuple: i16 fieldCount, then per field: i32 length (-1 = NULL), length bytes
 *   text line:    fields separated by TAB, ended by LF; \N is NULL; backslash escapes
 *                 (PostgreSQL docs, "COPY", File Formats)
 *
 * Binary: walks the tuples' length words to the last tuple (no value is decoded) and returns the
 * chosen fields' raw bytes — their type's binary send form, which the destination turns into text
 * by binding them as binary parameters. Text: the last line, parsed by copy-text.ts.
 */
import { parseCopyTextRows } from './copy-text.js';

export type RawField = Buffer | string | null;

export function lastRowFields(bytes: Buffer, format: 'binary' | 'text', fieldCount: number, indexes: readonly number[]): RawField[] {
  return format === 'binary' ? lastBinaryRow(bytes, indexes) : lastTextRow(bytes, fieldCount, indexes);
}

function lastBinaryRow(bytes: Buffer, indexes: readonly number[]): RawField[] {
  let pos = 0;
  let last = -1;
  while (pos + 2 <= bytes.length) {
    last = pos;
    const n = bytes.readInt16BE(pos);
    pos += 2;
    for (let f = 0; f < n; f++) {
      const len = bytes.readInt32BE(pos);
      pos += 4 + (len > 0 ? len : 0);
    }
  }
  if (last < 0) throw new Error('COPY chunk holds no row');
  const fields: RawField[] = [];
  pos = last;
  const n = bytes.readInt16BE(pos);
  pos += 2;
  const wanted = new Map(indexes.map((i, k) => [i, k]));
  for (let f = 0; f < n; f++) {
    const len = bytes.readInt32BE(pos);
    pos += 4;
    const k = wanted.get(f);
    if (k !== undefined) fields[k] = len < 0 ? null : Buffer.from(bytes.subarray(pos, pos + len));
    pos += len > 0 ? len : 0;
  }
  return fields;
}

function lastTextRow(bytes: Buffer, fieldCount: number, indexes: readonly number[]): RawField[] {
  const end = bytes.length && bytes[bytes.length - 1] === 0x0a ? bytes.length - 1 : bytes.length;
  const start = bytes.lastIndexOf(0x0a, end - 1) + 1;
  const [row] = parseCopyTextRows(bytes.subarray(start, end), fieldCount);
  return indexes.map((i) => row[i]);
}
