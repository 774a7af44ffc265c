/**
 * Parser for COPY text format rows (PostgreSQL docs, COPY "Text Format"): fields separated by
 * tab, rows by newline, `\N` for NULL, backslash escapes \b \f \n \r \t \v \\, octal \NNN and
 * hex \xHH (bytes, then decoded as UTF-8). Used by the INSERT path for text-format tables.
 */

import type { UNCHANGED } from '../contract/changes.js';

const ESCAPES: Record<string, number> = { b: 8, f: 12, n: 10, r: 13, t: 9, v: 11 };

export function parseCopyTextRows(chunk: Uint8Array, fieldCount: number): Array<Array<string | null>> {
  const text = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  const rows: Array<Array<string | null>> = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf(0x0a, start);
    if (end === -1) end = text.length;
    const fields: Array<string | null> = [];
    let fs = start;
    for (let i = start; i <= end; i++) {
      if (i === end || text[i] === 0x09) {
        fields.push(unescapeField(text, fs, i));
        fs = i + 1;
      }
    }
    if (fields.length !== fieldCount) throw new Error(`copy text: row ${rows.length + 1} has ${fields.length} fields, expected ${fieldCount}`);
    rows.push(fields);
    start = end + 1;
  }
  return rows;
}

function unescapeField(buf: Buffer, start: number, end: number): string | null {
  if (end - start === 2 && buf[start] === 0x5c && buf[start + 1] === 0x4e) return null; // \N
  if (buf.indexOf(0x5c, start) === -1 || buf.indexOf(0x5c, start) >= end) return buf.toString('utf8', start, end);
  const out: number[] = [];
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b !== 0x5c || i + 1 >= end) {
      out.push(b);
      continue;
    }
    const n = String.fromCharCode(buf[++i]);
    if (n in ESCAPES) out.push(ESCAPES[n]);
    else if (n >= '0' && n <= '7') {
      let v = Number(n);
      for (let k = 0; k < 2 && i + 1 < end && buf[i + 1] >= 0x30 && buf[i + 1] <= 0x37; k++) v = v * 8 + (buf[++i] - 0x30);
      out.push(v & 0xff);
    } else if (n === 'x' && i + 1 < end && /[0-9a-fA-F]/.test(String.fromCharCode(buf[i + 1]))) {
      let hex = String.fromCharCode(buf[++i]);
      if (i + 1 < end && /[0-9a-fA-F]/.test(String.fromCharCode(buf[i + 1]))) hex += String.fromCharCode(buf[++i]);
      out.push(parseInt(hex, 16));
    } else out.push(buf[i]);
  }
  return Buffer.from(out).toString('utf8');
}

const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A value in COPY's text format: NULL as \N; backslash, tab, newline and carriage return escaped. */
export function copyText(v: string | null | typeof UNCHANGED): string {
  if (v === null) return '\\N';
  if (typeof v !== 'string') throw new Error('an unchanged TOAST value cannot be copied');
  return COPY_SPECIAL.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]) : v;
}
