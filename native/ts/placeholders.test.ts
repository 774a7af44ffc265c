import { describe, expect, it } from 'vitest';
import { CodecError, MAX_QUERY_PARAMS } from '../codec-api.js';
import { tsCodecs as codecs } from './index.js';

/** The obvious reference implementation. */
function reference(rows: number, cols: number, first: number): string {
  const out: string[] = [];
  let n = first;
  for (let r = 0; r < rows; r++) {
    const row: string[] = [];
    for (let c = 0; c < cols; c++) row.push(`$${n++}`);
    out.push(`(${row.join(',')})`);
  }
  return out.join(',');
}

describe('placeholders', () => {
  it('numbers parameters row by row', () => {
    expect(codecs.placeholders(2, 2)).toBe('($1,$2),($3,$4)');
    expect(codecs.placeholders(1, 3, 7)).toBe('($7,$8,$9)');
    expect(codecs.placeholders(3, 1)).toBe('($1),($2),($3)');
  });

  it('agrees with the reference for many shapes, cached or not', () => {
    for (const [rows, cols, first] of [
      [1, 1, 1],
      [10, 7, 1],
      [10, 7, 1], // the cached prefix path, again
      [9, 7, 1],
      [9362, 7, 1], // 65534 parameters
      [5, 4, 65530], // beyond the parameter bound
      [100, 13, 3],
      [1, 65535, 1],
    ]) {
      expect(codecs.placeholders(rows, cols, first)).toBe(reference(rows, cols, first));
    }
  });

  it('handles zero rows and zero columns', () => {
    expect(codecs.placeholders(0, 5)).toBe('');
    expect(codecs.placeholders(2, 0)).toBe('(),()');
  });

  it('rejects negative or fractional counts and first < 1', () => {
    expect(() => codecs.placeholders(-1, 2)).toThrow(CodecError);
    expect(() => codecs.placeholders(1.5, 2)).toThrow(CodecError);
    expect(() => codecs.placeholders(1, 2, 0)).toThrow(CodecError);
  });
});

describe('insertChunks', () => {
  it('cuts rows so no statement exceeds the parameter bound', () => {
    expect(codecs.insertChunks(100_000, 3)).toEqual([21845, 21845, 21845, 21845, 12620]);
    expect(codecs.insertChunks(21845, 3)).toEqual([21845]);
    expect(codecs.insertChunks(21846, 3)).toEqual([21845, 1]);
    expect(codecs.insertChunks(10, 4, 8)).toEqual([2, 2, 2, 2, 2]);
    expect(codecs.insertChunks(5, MAX_QUERY_PARAMS)).toEqual([1, 1, 1, 1, 1]);
  });

  it('sums to the row count for many shapes', () => {
    for (const [rows, cols] of [
      [1, 1],
      [65535, 1],
      [65536, 1],
      [12345, 17],
      [999_999, 9],
    ]) {
      const chunks = codecs.insertChunks(rows, cols);
      expect(chunks.reduce((a, b) => a + b, 0)).toBe(rows);
      expect(Math.max(...chunks) * cols).toBeLessThanOrEqual(MAX_QUERY_PARAMS);
      expect(chunks.every((c) => c > 0)).toBe(true);
    }
  });

  it('handles zero rows and zero columns, and rejects too many columns', () => {
    expect(codecs.insertChunks(0, 3)).toEqual([]);
    expect(codecs.insertChunks(7, 0)).toEqual([7]);
    expect(() => codecs.insertChunks(1, MAX_QUERY_PARAMS + 1)).toThrow(/do not fit/);
    expect(() => codecs.insertChunks(1, 3, 0)).toThrow(CodecError);
  });
});
