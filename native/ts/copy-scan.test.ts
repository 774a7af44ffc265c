import { describe, expect, it } from 'vitest';
import { CodecError, COPY_BINARY_HEADER } from '../codec-api.js';
import { buildCopyBinary, buildCopyTuples, wire } from '../testing/copy-fixture.js';
import { tsCodecs as codecs } from './index.js';

const rows = [
  [wire.int4(1), wire.text('alpha'), null],
  [wire.int4(2), wire.text(''), wire.bool(true)],
  [null, null, null],
];

function codecError(fn: () => unknown): CodecError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CodecError);
    return e as CodecError;
  }
  throw new Error('expected a CodecError');
}

describe('copyHeaderLength', () => {
  it('returns 19 for the standard header and 19 + n with an extension', () => {
    expect(codecs.copyHeaderLength(buildCopyBinary([]), 0)).toBe(19);
    const ext = buildCopyBinary([], { extension: Uint8Array.from([1, 2, 3]) });
    expect(codecs.copyHeaderLength(ext, 0)).toBe(22);
  });

  it('returns -1 until the whole header (with extension) is there', () => {
    const full = buildCopyBinary([], { extension: Uint8Array.from([9, 9]) });
    for (let n = 0; n < 21; n++) expect(codecs.copyHeaderLength(full.subarray(0, n), 0)).toBe(-1);
    expect(codecs.copyHeaderLength(full.subarray(0, 21), 0)).toBe(21);
  });

  it('honours the offset', () => {
    const buf = Buffer.concat([Buffer.from('junk'), buildCopyBinary([])]);
    expect(codecs.copyHeaderLength(buf, 4)).toBe(19);
  });

  it('rejects a bad signature as soon as one byte differs', () => {
    const e = codecError(() => codecs.copyHeaderLength(Buffer.from('PGCOPX'), 0));
    expect(e.offset).toBe(5);
    expect(e.message).toBe('copy binary: bad header signature at offset 5: expected 0x59, found 0x58');
  });

  it('rejects critical flag bits and a negative extension length', () => {
    const h = Buffer.from(COPY_BINARY_HEADER);
    h[12] = 0x01; // bit 16: OIDs included
    expect(codecError(() => codecs.copyHeaderLength(h, 0)).message).toContain('unsupported header flags 0x10000 at offset 11');
    const low = Buffer.from(COPY_BINARY_HEADER);
    low[14] = 0x01; // bits 0-15 are to be ignored
    expect(codecs.copyHeaderLength(low, 0)).toBe(19);
    const neg = Buffer.from(COPY_BINARY_HEADER);
    neg.writeInt32BE(-1, 15);
    expect(codecError(() => codecs.copyHeaderLength(neg, 0)).offset).toBe(15);
  });
});

describe('copyScan', () => {
  const body = buildCopyTuples(rows);
  const file = buildCopyBinary(rows);

  it('counts tuples and stops at the trailer', () => {
    expect(codecs.copyScan(file, 19, 3)).toEqual({ rows: 3, end: file.length, done: true });
    expect(codecs.copyScan(file, 19, -1)).toEqual({ rows: 3, end: file.length, done: true });
  });

  it('stops before an incomplete tuple, cut at any byte', () => {
    const boundaries = [0];
    for (let i = 1; i <= rows.length; i++) boundaries.push(buildCopyTuples(rows.slice(0, i)).length);
    for (let cut = 0; cut <= body.length; cut++) {
      const complete = boundaries.filter((b) => b <= cut);
      const r = codecs.copyScan(body.subarray(0, cut), 0, 3);
      expect(r).toEqual({ rows: complete.length - 1, end: complete[complete.length - 1], done: false });
    }
  });

  it('resumes on the leftover once the rest arrives', () => {
    for (let cut = 0; cut <= file.length - 19; cut++) {
      const first = file.subarray(19, 19 + cut);
      const a = codecs.copyScan(first, 0, 3);
      if (a.done) {
        expect(a.rows).toBe(3);
        continue;
      }
      const rest = Buffer.concat([first.subarray(a.end), file.subarray(19 + cut)]);
      const b = codecs.copyScan(rest, 0, 3);
      expect(a.rows + b.rows).toBe(3);
      expect(b.done).toBe(true);
      expect(b.end).toBe(rest.length);
    }
  });

  it('does not look past the trailer', () => {
    const buf = Buffer.concat([file, Buffer.from('garbage after the trailer')]);
    expect(codecs.copyScan(buf, 19, 3)).toEqual({ rows: 3, end: file.length, done: true });
  });

  it('handles zero-field tuples and empty input', () => {
    const zero = buildCopyTuples([[], []]);
    expect(codecs.copyScan(zero, 0, 0)).toEqual({ rows: 2, end: 4, done: false });
    expect(codecs.copyScan(new Uint8Array(0), 0, 5)).toEqual({ rows: 0, end: 0, done: false });
  });

  it('reports a wrong field count with its offset', () => {
    const e = codecError(() => codecs.copyScan(file, 19, 5));
    expect(e.message).toBe('copy binary: tuple at offset 19 has 3 fields, expected 5');
    expect(e.offset).toBe(19);
    const second = buildCopyTuples([[wire.int4(1)], [wire.int4(1), wire.int4(2)]]);
    expect(codecError(() => codecs.copyScan(second, 0, 1)).offset).toBe(10);
  });

  it('reports a negative field count other than -1 and a bad field length', () => {
    const bad = Buffer.from([0xff, 0xfe]);
    expect(codecError(() => codecs.copyScan(bad, 0, -1)).message).toBe('copy binary: tuple at offset 0 has -2 fields, expected a count >= 0 or -1 (trailer)');
    const len = Buffer.from([0, 1, 0xff, 0xff, 0xff, 0xfe]);
    const e = codecError(() => codecs.copyScan(len, 0, 1));
    expect(e.message).toBe('copy binary: field 0 of tuple at offset 0 has length -2 at offset 2, expected -1 (NULL) or >= 0');
    expect(e.offset).toBe(2);
  });

  it('rejects an offset outside the buffer', () => {
    expect(codecError(() => codecs.copyScan(file, file.length + 1, 3)).message).toContain('outside the buffer');
    expect(codecError(() => codecs.copyScan(file, -1, 3)).message).toContain('outside the buffer');
  });
});
