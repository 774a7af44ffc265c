import { describe, expect, it } from 'vitest';
import { lastRowFields } from './copy-last-row.js';

/** A binary COPY tuple built by hand (i16 count, then i32 length + bytes; -1 = NULL). */
function tuple(fields: Array<Buffer | null>): Buffer {
  const parts: Buffer[] = [Buffer.from([0, fields.length])];
  for (const f of fields) {
    const len = Buffer.alloc(4);
    len.writeInt32BE(f ? f.length : -1);
    parts.push(len, ...(f ? [f] : []));
  }
  return Buffer.concat(parts);
}

describe('lastRowFields', () => {
  it('binary: the chosen fields of the last tuple, raw, NULL as null', () => {
    const chunk = Buffer.concat([tuple([Buffer.from('a'), Buffer.from('1'), null]), tuple([Buffer.from('bb'), null, Buffer.from('xyz')])]);
    expect(lastRowFields(chunk, 'binary', 3, [2, 1])).toEqual([Buffer.from('xyz'), null]);
  });
  it('text: the last line, unescaped, \\N as null', () => {
    const chunk = Buffer.from('1\tone\t\\N\n2\ttab\\there\t\\N\n');
    expect(lastRowFields(chunk, 'text', 3, [1, 2, 0])).toEqual(['tab\there', null, '2']);
  });
});
