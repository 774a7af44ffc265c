import { Field, Int8, makeData, RecordBatch, Schema, Struct, Table, tableFromIPC, tableToIPC, Type } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { arrowToBatch, batchToArrow, loadArrow, type ArrowFieldSpec } from './arrow.js';
import type { ColumnBatch, VarColumn } from './batch.js';
import { CodecError } from './codec-api.js';
import { batchDifference, buildCopyTuples, randomBatch, wire } from './testing/copy-fixture.js';
import { tsCodecs as codecs } from './ts/index.js';
import { codecForType, TypeOid } from './type-codecs.js';

await loadArrow();

const fields: ArrowFieldSpec[] = [
  { name: 'i2', typeOid: TypeOid.int2, typeName: 'smallint' },
  { name: 'i4', typeOid: TypeOid.int4, typeName: 'integer' },
  { name: 'i8', typeOid: TypeOid.int8, typeName: 'bigint' },
  { name: 'f4', typeOid: TypeOid.float4, typeName: 'real' },
  { name: 'f8', typeOid: TypeOid.float8, typeName: 'double precision' },
  { name: 'b', typeOid: TypeOid.bool, typeName: 'boolean' },
  { name: 't', typeOid: TypeOid.text, typeName: 'text' },
  { name: 'vc', typeOid: TypeOid.varchar, typeName: 'character varying(20)' },
  { name: 'by', typeOid: TypeOid.bytea, typeName: 'bytea' },
  { name: 'u', typeOid: TypeOid.uuid, typeName: 'uuid' },
  { name: 'o', typeOid: TypeOid.oid, typeName: 'oid' },
  { name: 'd', typeOid: TypeOid.date, typeName: 'date' },
  { name: 'ts', typeOid: TypeOid.timestamptz, typeName: 'timestamp with time zone' },
  { name: 'n', typeOid: TypeOid.numeric, typeName: 'numeric(10,2)' },
  { name: 'j', typeOid: TypeOid.jsonb, typeName: 'jsonb' },
];
const colCodecs = fields.map((f) => codecForType(f.typeOid));

const f4 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeFloatBE(v);
  return b;
};
const uuid = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
const tsInfinity = wire.int8(0x7fffffffffffffffn);
const numeric = Buffer.from([0, 1, 0, 0, 0, 0, 0, 2, 0, 42]); // PostgreSQL binary numeric
const jsonb = Buffer.concat([Buffer.from([1]), Buffer.from('{"a":1}')]);
const rows = [
  [wire.int2(-3), wire.int4(7), wire.int8(-9n), f4(1.5), wire.float8(Math.PI), wire.bool(true), wire.text('héllo'), wire.text('v'), Buffer.from([0, 255]), uuid, wire.int4(-1), wire.int4(-2), tsInfinity, numeric, jsonb],
  fields.map(() => null),
  [wire.int2(0), wire.int4(0), wire.int8(0n), f4(-0), wire.float8(NaN), wire.bool(false), wire.text(''), wire.text(''), Buffer.alloc(0), Buffer.alloc(16), wire.int4(0), wire.int4(0), wire.int8(0n), numeric, jsonb],
];
const copyBytes = buildCopyTuples(rows);

function encode(batch: ColumnBatch): Buffer {
  const out = Buffer.alloc(codecs.copyEncodedLength(batch));
  codecs.copyEncodeInto(batch, out, 0);
  return out;
}

describe('batchToArrow', () => {
  const batch = codecs.copyDecode(copyBytes, 0, colCodecs).batch;
  const rb = batchToArrow(batch, fields);

  it('uses exact Arrow types where lossless and Binary with pg.* metadata elsewhere', () => {
    expect(rb.schema.fields.map((f) => Type[f.type.typeId])).toEqual([
      'Int', 'Int', 'Int', 'Float', 'Float', 'Bool', 'Utf8', 'Utf8', 'Binary', 'FixedSizeBinary', 'Int', 'Binary', 'Binary', 'Binary', 'Binary',
    ]);
    for (const [i, f] of rb.schema.fields.entries()) {
      expect(f.metadata.get('pg.type')).toBe(fields[i].typeName);
      expect(f.metadata.get('pg.oid')).toBe(String(fields[i].typeOid));
    }
    const enc = rb.schema.fields.map((f) => f.metadata.get('pg.encoding') ?? '');
    expect(enc).toEqual(['', '', '', '', '', '', '', '', '', '', '', 'binary', 'binary', 'binary', 'binary']);
  });

  it('reads back the values, with NULLs as null', () => {
    const row0 = rb.get(0)!.toJSON() as Record<string, unknown>;
    expect(row0.i2).toBe(-3);
    expect(row0.i4).toBe(7);
    expect(row0.i8).toBe(-9n);
    expect(row0.f4).toBe(1.5);
    expect(row0.f8).toBe(Math.PI);
    expect(row0.b).toBe(true);
    expect(row0.t).toBe('héllo');
    expect(Buffer.from(row0.by as Uint8Array).equals(Buffer.from([0, 255]))).toBe(true);
    expect(Buffer.from(row0.u as Uint8Array).equals(uuid)).toBe(true);
    expect(row0.o).toBe(4294967295);
    // Fixed-width fallbacks keep their big-endian wire bytes (timestamptz 'infinity' intact).
    expect(Buffer.from(row0.ts as Uint8Array).equals(tsInfinity)).toBe(true);
    expect(Buffer.from(row0.n as Uint8Array).equals(numeric)).toBe(true);
    const row1 = rb.get(1)!.toJSON() as Record<string, unknown>;
    expect(Object.values(row1).every((v) => v === null)).toBe(true);
    expect(rb.get(2)!.toJSON().b).toBe(false);
  });

  it('shares buffers instead of copying (Utf8/Binary offsets + data, primitive values)', () => {
    const text = batch.columns[6] as VarColumn;
    const child = rb.getChildAt(6)!.data[0];
    expect(child.values.buffer).toBe(text.data.buffer);
    expect(child.valueOffsets.buffer).toBe(text.offsets.buffer);
    expect(rb.getChildAt(1)!.data[0].values.buffer).toBe((batch.columns[1] as { values: Uint8Array }).values.buffer);
  });

  it('marks var values of a text-format COPY as Utf8 with pg.encoding = text', () => {
    const textRows = [[Buffer.from('42'), Buffer.from('2024-01-01')]];
    const b = codecs.copyDecode(buildCopyTuples(textRows), 0, [codecForType(TypeOid.int4, 'text'), codecForType(TypeOid.date, 'text')]).batch;
    const t = batchToArrow(b, [
      { name: 'a', typeOid: TypeOid.int4, typeName: 'integer', encoding: 'text' },
      { name: 'd', typeOid: TypeOid.date, typeName: 'date', encoding: 'text' },
    ]);
    expect(t.schema.fields.map((f) => [Type[f.type.typeId], f.metadata.get('pg.encoding')])).toEqual([
      ['Utf8', 'text'],
      ['Utf8', 'text'],
    ]);
    expect(t.get(0)!.toJSON()).toEqual({ a: '42', d: '2024-01-01' });
    expect(encode(arrowToBatch(t)).equals(buildCopyTuples(textRows))).toBe(true);
  });

  it('rejects a field list that does not match the columns', () => {
    expect(() => batchToArrow(batch, fields.slice(1))).toThrow(CodecError);
  });
});

describe('arrowToBatch', () => {
  const batch = codecs.copyDecode(copyBytes, 0, colCodecs).batch;

  it('round-trips batch → arrow → batch to identical COPY bytes', () => {
    const back = arrowToBatch(batchToArrow(batch, fields));
    expect(batchDifference(back, batch)).toBeNull();
    expect(encode(back).equals(copyBytes)).toBe(true);
  });

  it('round-trips random batches of every mapped type, through Arrow IPC as well', () => {
    for (let seed = 1; seed <= 25; seed++) {
      const n = seed % 6 === 0 ? 0 : 1 + ((seed * 13) % 200);
      const b = randomBatch(seed, colCodecs, n);
      const boolCol = b.columns[5] as { values: Uint8Array };
      for (let i = 0; i < n; i++) boolCol.values[i] &= 1; // PostgreSQL sends bool as 0 or 1
      const bytes = encode(b);
      const rb = batchToArrow(b, fields);
      expect(encode(arrowToBatch(rb)).equals(bytes), `seed ${seed}`).toBe(true);
      const viaIpc = tableFromIPC(tableToIPC(new Table(rb)));
      if (n > 0) {
        expect(viaIpc.batches).toHaveLength(1);
        expect(encode(arrowToBatch(viaIpc.batches[0])).equals(bytes), `seed ${seed} via IPC`).toBe(true);
      }
    }
  });

  it('honours slice offsets (validity, bool bits, offsets)', () => {
    const rb = batchToArrow(batch, fields);
    const sliced = rb.slice(1, 3);
    expect(encode(arrowToBatch(sliced)).equals(buildCopyTuples(rows.slice(1, 3)))).toBe(true);
  });

  it('rejects a Binary fallback value of the wrong width and unsupported Arrow types', () => {
    const rb = batchToArrow(batch, fields);
    const dateData = rb.getChildAt(11)!.data[0];
    (dateData.valueOffsets as Int32Array)[1] = 3; // a 3-byte "date"
    expect(() => arrowToBatch(rb)).toThrow(/field d row 0 has 3 bytes, expected 4/);
    const int8 = makeData({ type: new Int8(), data: Int8Array.from([1, 2]) });
    const odd = new RecordBatch(new Schema([new Field('tiny', new Int8(), true)]), makeData({ type: new Struct([new Field('tiny', new Int8(), true)]), length: 2, nullCount: 0, children: [int8] }));
    expect(() => arrowToBatch(odd)).toThrow(CodecError);
    expect(() => arrowToBatch(odd)).toThrow(/field tiny has unsupported type Int8/);
  });
});
