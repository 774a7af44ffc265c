import { describe, expect, it } from 'vitest';
import type { ColumnBatch, ColumnCodec, FixedColumn, VarColumn } from '../batch.js';
import { CodecError } from '../codec-api.js';
import { batchDifference, batchToWireRows, buildCopyBinary, buildCopyTuples, randomBatch, randomCodecs, wire, type WireRow } from '../testing/copy-fixture.js';
import { codecForType, TypeOid } from '../type-codecs.js';
import { tsCodecs as codecs } from './index.js';

const INT4 = codecForType(TypeOid.int4);
const INT8 = codecForType(TypeOid.int8);
const FLOAT8 = codecForType(TypeOid.float8);
const TEXT = codecForType(TypeOid.text);
const BOOL = codecForType(TypeOid.bool);
const UUID = codecForType(TypeOid.uuid);
const INT2 = codecForType(TypeOid.int2);

const uuid = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const sample: WireRow[] = [
  [wire.int4(1), wire.int8(-2n), wire.float8(1.5), wire.text('héllo'), wire.bool(true), uuid, wire.int2(-7)],
  [null, null, null, null, null, null, null],
  [wire.int4(-2147483648), wire.int8(9007199254740993n), wire.float8(-0), wire.text(''), wire.bool(false), Buffer.alloc(16), wire.int2(32767)],
];
const sampleCodecs = [INT4, INT8, FLOAT8, TEXT, BOOL, UUID, INT2];

function encode(batch: ColumnBatch): Buffer {
  const out = Buffer.alloc(codecs.copyEncodedLength(batch));
  expect(codecs.copyEncodeInto(batch, out, 0)).toBe(out.length);
  return out;
}

function codecError(fn: () => unknown): CodecError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CodecError);
    return e as CodecError;
  }
  throw new Error('expected a CodecError');
}

/** Concatenates batches row-wise (for split-chunk comparisons). */
function concatWire(batches: ColumnBatch[]): WireRow[] {
  return batches.flatMap(batchToWireRows);
}

describe('copyDecode', () => {
  const file = buildCopyBinary(sample);

  it('decodes fixed columns little-endian, var columns as offsets + data, NULL as flags', () => {
    const { batch, rows, end, done } = codecs.copyDecode(file, 19, sampleCodecs);
    expect({ rows, end, done }).toEqual({ rows: 3, end: file.length, done: true });
    const [id, big, dbl, txt, flag, uid, small] = batch.columns as [FixedColumn, FixedColumn, FixedColumn, VarColumn, FixedColumn, FixedColumn, FixedColumn];
    expect(Array.from(new Int32Array(id.values.buffer, id.values.byteOffset, 3))).toEqual([1, 0, -2147483648]);
    expect(Array.from(id.nulls)).toEqual([0, 1, 0]);
    expect(Array.from(new BigInt64Array(big.values.buffer, big.values.byteOffset, 3))).toEqual([-2n, 0n, 9007199254740993n]);
    expect(Object.is(new Float64Array(dbl.values.buffer, dbl.values.byteOffset, 3)[2], -0)).toBe(true);
    expect(Array.from(txt.offsets)).toEqual([0, 6, 6, 6]);
    expect(Buffer.from(txt.data).toString()).toBe('héllo');
    expect(Array.from(flag.values)).toEqual([1, 0, 0]);
    expect(Buffer.from(uid.values.subarray(0, 16)).equals(uuid)).toBe(true);
    expect(Array.from(new Int16Array(small.values.buffer, small.values.byteOffset, 3))).toEqual([-7, 0, 32767]);
  });

  it('round-trips byte for byte: encode(decode(x)) == x', () => {
    const { batch } = codecs.copyDecode(file, 19, sampleCodecs);
    expect(encode(batch).equals(buildCopyTuples(sample))).toBe(true);
  });

  it('stops after maxRows without reading further', () => {
    const r = codecs.copyDecode(file, 19, sampleCodecs, 2);
    expect(r.rows).toBe(2);
    expect(r.done).toBe(false);
    const rest = codecs.copyDecode(file, r.end, sampleCodecs);
    expect(rest.rows).toBe(1);
    expect(rest.done).toBe(true);
    expect(concatWire([r.batch, rest.batch])).toEqual(sample);
    expect(codecs.copyDecode(file, 19, sampleCodecs, 0).rows).toBe(0);
  });

  it('decodes any cut of the input: a tuple cut at its start, middle and end, then the leftover', () => {
    const body = buildCopyBinary(sample, { header: false });
    for (let cut = 0; cut <= body.length; cut++) {
      const a = codecs.copyDecode(body.subarray(0, cut), 0, sampleCodecs);
      expect(a.batch.rowCount).toBe(a.rows);
      const rest = Buffer.concat([body.subarray(a.end, cut), body.subarray(cut)]);
      const b = a.done ? codecs.copyDecode(new Uint8Array(0), 0, sampleCodecs) : codecs.copyDecode(rest, 0, sampleCodecs);
      expect(a.done || b.done).toBe(true);
      expect(concatWire([a.batch, b.batch])).toEqual(sample);
      // Var data is sized exactly even when the cut tuple had var bytes counted.
      expect((a.batch.columns[3] as VarColumn).data.length).toBe((a.batch.columns[3] as VarColumn).offsets[a.rows]);
    }
  });

  it('returns an empty batch shaped by the codecs when no tuple is complete', () => {
    const r = codecs.copyDecode(new Uint8Array(0), 0, sampleCodecs);
    expect(r.rows).toBe(0);
    expect(r.batch.columns.map((c) => c.kind)).toEqual(['fixed', 'fixed', 'fixed', 'var', 'fixed', 'fixed', 'fixed']);
    expect(Array.from((r.batch.columns[3] as VarColumn).offsets)).toEqual([0]);
    expect(encode(r.batch).length).toBe(0);
  });

  it('rejects a fixed value of the wrong width, naming field, tuple and offset', () => {
    const bad = buildCopyTuples([[wire.int4(1)], [wire.int8(1n)]]);
    const e = codecError(() => codecs.copyDecode(bad, 0, [INT4]));
    expect(e.message).toBe('copy binary: field 0 of tuple at offset 10 has length 8 at offset 12, expected 4 (fixed-width column)');
    expect(e.offset).toBe(12);
  });

  it('rejects a field count that differs from the codecs', () => {
    const e = codecError(() => codecs.copyDecode(buildCopyTuples(sample), 0, [INT4, INT8]));
    expect(e.message).toBe('copy binary: tuple at offset 0 has 7 fields, expected 2');
  });

  it('rejects invalid codecs', () => {
    expect(codecError(() => codecs.copyDecode(file, 19, [{ kind: 'fixed', width: 3 as 4, swap: true }])).message).toContain('invalid codec');
  });
});

describe('copyEncodeInto', () => {
  it('matches the independent fixture builder on random batches (NULLs, empties, huge values)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const cols = randomCodecs(seed, 1 + (seed % 9));
      const rows = seed % 7 === 0 ? 0 : (seed * 37) % 300;
      const batch = randomBatch(seed, cols, rows);
      const bytes = encode(batch);
      expect(bytes.equals(buildCopyTuples(batchToWireRows(batch)))).toBe(true);
      const back = codecs.copyDecode(bytes, 0, cols);
      expect(back.rows).toBe(rows);
      expect(batchDifference(back.batch, batch)).toBeNull();
      expect(encode(back.batch).equals(bytes)).toBe(true);
    }
  });

  it('writes at an offset and returns the bytes written', () => {
    const batch = codecs.copyDecode(buildCopyTuples(sample), 0, sampleCodecs).batch;
    const out = Buffer.alloc(codecs.copyEncodedLength(batch) + 10, 0xaa);
    expect(codecs.copyEncodeInto(batch, out, 10)).toBe(out.length - 10);
    expect(out.subarray(0, 10).every((b) => b === 0xaa)).toBe(true);
    expect(out.subarray(10).equals(buildCopyTuples(sample))).toBe(true);
  });

  it('encodes var values whatever offsets[0] is, and ignores bytes under NULL rows', () => {
    const col: VarColumn = { kind: 'var', offsets: Int32Array.from([3, 5, 9, 9]), data: Buffer.from('xxxabNULLz'), nulls: Uint8Array.from([0, 1, 0]) };
    const bytes = encode({ rowCount: 3, columns: [col] });
    expect(bytes.equals(buildCopyTuples([[Buffer.from('ab')], [null], [Buffer.alloc(0)]]))).toBe(true);
  });

  it('refuses an output that is too small', () => {
    const batch = codecs.copyDecode(buildCopyTuples(sample), 0, sampleCodecs).batch;
    const need = codecs.copyEncodedLength(batch);
    const e = codecError(() => codecs.copyEncodeInto(batch, new Uint8Array(need + 3), 4));
    expect(e.message).toBe(`copy binary: output has ${need - 1} bytes free at offset 4, need ${need}`);
  });

  it('refuses malformed batches', () => {
    const short: ColumnBatch = { rowCount: 2, columns: [{ kind: 'fixed', width: 4, swap: true, values: new Uint8Array(4), nulls: new Uint8Array(2) }] };
    expect(codecError(() => codecs.copyEncodedLength(short)).message).toBe('copy binary: column 0 has 4 value bytes, expected 8');
    const outside: ColumnBatch = { rowCount: 1, columns: [{ kind: 'var', offsets: Int32Array.from([0, 9]), data: new Uint8Array(4), nulls: new Uint8Array(1) }] };
    expect(codecError(() => codecs.copyEncodedLength(outside)).message).toBe('copy binary: column 0 row 0 has range [0, 9) outside its 4 data bytes');
    const backwards: ColumnBatch = { rowCount: 1, columns: [{ kind: 'var', offsets: Int32Array.from([3, 1]), data: new Uint8Array(4), nulls: new Uint8Array(1) }] };
    expect(() => codecs.copyEncodedLength(backwards)).toThrow(CodecError);
    const nulls: ColumnBatch = { rowCount: 3, columns: [{ kind: 'var', offsets: new Int32Array(4), data: new Uint8Array(0), nulls: new Uint8Array(1) }] };
    expect(() => codecs.copyEncodedLength(nulls)).toThrow(CodecError);
  });

  it('encodes zero-column rows as a bare field count', () => {
    const bytes = encode({ rowCount: 2, columns: [] });
    expect(bytes.equals(buildCopyTuples([[], []]))).toBe(true);
    expect(codecs.copyDecode(bytes, 0, []).rows).toBe(2);
  });

  it('keeps every byte pattern of swapped fixed values (NaN payloads, -0)', () => {
    const codecsAll: ColumnCodec[] = [
      { kind: 'fixed', width: 2, swap: true },
      { kind: 'fixed', width: 4, swap: true },
      { kind: 'fixed', width: 8, swap: true },
      { kind: 'fixed', width: 16, swap: true },
    ];
    const rows: WireRow[] = [];
    for (let i = 0; i < 256; i++) rows.push([Buffer.from([i, 255 - i]), Buffer.from([0x7f, 0xc0 | (i & 0xf), i, 1]), Buffer.from([0xff, 0xf8, i, 0, 0, 0, 1, i]), Buffer.alloc(16, i)]);
    const bytes = buildCopyTuples(rows);
    expect(encode(codecs.copyDecode(bytes, 0, codecsAll).batch).equals(bytes)).toBe(true);
  });
});
