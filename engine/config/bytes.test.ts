import { describe, expect, it } from 'vitest';
import { formatByteSize, parseByteSize } from './bytes.js';

describe('parseByteSize', () => {
  it('reads kb, mb and gb as binary units', () => {
    expect(parseByteSize('512kb')).toBe(512 * 1024);
    expect(parseByteSize('64mb')).toBe(64 * 1024 * 1024);
    expect(parseByteSize('1gb')).toBe(1024 * 1024 * 1024);
  });

  it('ignores case and accepts a space before the unit', () => {
    expect(parseByteSize('64MB')).toBe(64 * 1024 * 1024);
    expect(parseByteSize('64 mb')).toBe(64 * 1024 * 1024);
    expect(parseByteSize(' 2 Gb ')).toBe(2 * 1024 * 1024 * 1024);
  });

  it('accepts plain integers, as numbers or digit strings, and a b suffix', () => {
    expect(parseByteSize(4096)).toBe(4096);
    expect(parseByteSize('4096')).toBe(4096);
    expect(parseByteSize('4096b')).toBe(4096);
    expect(parseByteSize(0)).toBe(0);
  });

  it('accepts fractions that come out as whole bytes', () => {
    expect(parseByteSize('1.5gb')).toBe(1.5 * 1024 * 1024 * 1024);
    expect(parseByteSize('0.5kb')).toBe(512);
  });

  it('rejects fractional bytes, negatives, unknown units and other types', () => {
    for (const bad of ['0.1kb', '-1mb', -1, 1.5, '64 megabytes', '64tb', 'mb', '', '6 4mb', true, null, undefined, {}]) {
      expect(parseByteSize(bad), JSON.stringify(bad)).toBeUndefined();
    }
  });

  it('rejects sizes beyond Number.MAX_SAFE_INTEGER', () => {
    expect(parseByteSize('99999999999gb')).toBeUndefined();
  });
});

describe('formatByteSize', () => {
  it('uses the largest exact unit so the text parses back to the same number', () => {
    expect(formatByteSize(64 * 1024 * 1024)).toBe('64mb');
    expect(formatByteSize(64 * 1024)).toBe('64kb');
    expect(formatByteSize(3 * 1024 * 1024 * 1024)).toBe('3gb');
    expect(formatByteSize(1536)).toBe('1536');
    expect(formatByteSize(0)).toBe('0');
    for (const n of [1, 1000, 1536, 65536, 3 << 20]) expect(parseByteSize(formatByteSize(n))).toBe(n);
  });
});
