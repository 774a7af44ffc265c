/**
 * Arrow view of a `ColumnBatch` (batch.ts), for transforms and anything that speaks Arrow.
 *
 * Exact Arrow types where the conversion is lossless:
 *   int2 → Int16, int4 → Int32, int8 → Int64, oid → Uint32, float4 → Float32, float8 → Float64
 *   (views over the little-endian `values`, no copy), bool → Bool (bit-packed), uuid →
 *   FixedSizeBinary(16), text/varchar/bpchar/name → Utf8, bytea → Binary (offsets + data, no copy).
 * Everything else (numeric, date, time, timestamps — PostgreSQL's ±infinity sentinels do not fit
 * Arrow timestamps —, interval, inet, ranges, arrays, json, jsonb, ...) → Binary holding the
 * PostgreSQL wire bytes (fixed-width types in their big-endian send format), marked with field
 * metadata `pg.encoding` = `binary` (or `text` for values of a text-format COPY).
 * Every field carries `pg.type` (the type name) and `pg.oid`.
 *
 * `arrowToBatch(batchToArrow(b))` encodes to the same COPY bytes as `b`.
 *
 * apache-arrow is loaded on demand (`await loadArrow()` before the first conversion): it is the
 * largest library rb ships (~320 kB of JavaScript), and the fast path, which most runs take, never
 * touches it — every worker thread would otherwise compile and evaluate it at start-up.
 */
import type * as ArrowModule from 'apache-arrow';
import type { Data, DataType, Field, RecordBatch } from 'apache-arrow';
import type { Column, ColumnBatch, FixedColumn, VarColumn } from './batch.js';
import { CodecError } from './codec-api.js';
import { codecForType, type CopyFormat, TypeOid } from './type-codecs.js';

export interface ArrowFieldSpec {
  name: string;
  typeOid: number;
  /** The type as the user knows it (`format_type`), stored as `pg.type`. */
  typeName: string;
  /** Format of the values in var columns; default binary. */
  encoding?: CopyFormat;
}

export const PG_TYPE_KEY = 'pg.type';
export const PG_OID_KEY = 'pg.oid';
export const PG_ENCODING_KEY = 'pg.encoding';

let arrowModule: typeof ArrowModule | undefined;

/** Loads apache-arrow (once per thread); the conversions below need it. */
export async function loadArrow(): Promise<void> {
  arrowModule ??= await import('apache-arrow');
}

function arrow(): typeof ArrowModule {
  if (!arrowModule) throw new Error('native/arrow: apache-arrow is not loaded yet (await loadArrow() first)');
  return arrowModule;
}

const TEXT_OIDS = new Set<number>([TypeOid.text, TypeOid.varchar, TypeOid.bpchar, TypeOid.name]);

/** Numeric types whose little-endian `values` are exactly an Arrow primitive buffer. */
const EXACT_NUMERIC = new Map<number, { width: number; type: () => DataType }>([
  [TypeOid.int2, { width: 2, type: () => new (arrow().Int16)() }],
  [TypeOid.int4, { width: 4, type: () => new (arrow().Int32)() }],
  [TypeOid.int8, { width: 8, type: () => new (arrow().Int64)() }],
  [TypeOid.oid, { width: 4, type: () => new (arrow().Uint32)() }],
  [TypeOid.float4, { width: 4, type: () => new (arrow().Float32)() }],
  [TypeOid.float8, { width: 8, type: () => new (arrow().Float64)() }],
]);

function fail(message: string): never {
  throw new CodecError(`arrow: ${message}`, 0);
}

/** Arrow validity bitmap (bit set = valid, LSB first) from rb's one-byte null flags. */
function packValidity(nulls: Uint8Array, rows: number): { bitmap: Uint8Array | undefined; nullCount: number } {
  let nullCount = 0;
  for (let i = 0; i < rows; i++) if (nulls[i] !== 0) nullCount++;
  if (nullCount === 0) return { bitmap: undefined, nullCount };
  const bitmap = new Uint8Array((rows + 7) >> 3);
  for (let i = 0; i < rows; i++) if (nulls[i] === 0) bitmap[i >> 3] |= 1 << (i & 7);
  return { bitmap, nullCount };
}

function primitiveView(values: Uint8Array, rows: number, width: number, type: DataType): ArrayBufferView {
  // An unaligned view is impossible in JS: copy in that (rare) case.
  const bytes = values.byteOffset % width === 0 ? values : new Uint8Array(values.subarray(0, rows * width));
  const Ctor = (type as unknown as { ArrayType: new (b: ArrayBufferLike, o: number, n: number) => ArrayBufferView }).ArrayType;
  return new Ctor(bytes.buffer, bytes.byteOffset, rows);
}

/** Wire (big-endian) bytes of a fixed column as a Binary column; nulls get empty ranges. */
function fixedAsWire(col: FixedColumn, rows: number): { offsets: Int32Array; data: Uint8Array } {
  const w = col.width;
  const offsets = new Int32Array(rows + 1);
  let present = 0;
  for (let i = 0; i < rows; i++) if (col.nulls[i] === 0) present++;
  const data = new Uint8Array(present * w);
  let at = 0;
  for (let i = 0; i < rows; i++) {
    if (col.nulls[i] === 0) {
      const o = i * w;
      if (col.swap) for (let k = 0; k < w; k++) data[at + k] = col.values[o + w - 1 - k];
      else for (let k = 0; k < w; k++) data[at + k] = col.values[o + k];
      at += w;
    }
    offsets[i + 1] = at;
  }
  return { offsets, data };
}

function columnToData(col: Column, spec: ArrowFieldSpec, rows: number, meta: Map<string, string>): Data {
  const { makeData, Bool, FixedSizeBinary, Binary, Utf8 } = arrow();
  const { bitmap, nullCount } = packValidity(col.nulls, rows);
  const base = { length: rows, nullCount, nullBitmap: bitmap };
  if (col.kind === 'fixed') {
    const exact = EXACT_NUMERIC.get(spec.typeOid);
    if (exact && col.swap && col.width === exact.width) {
      const type = exact.type();
      return makeData({ ...base, type, data: primitiveView(col.values, rows, exact.width, type) } as never);
    }
    if (spec.typeOid === TypeOid.bool && col.width === 1) {
      const bits = new Uint8Array((rows + 7) >> 3);
      for (let i = 0; i < rows; i++) if (col.values[i] !== 0) bits[i >> 3] |= 1 << (i & 7);
      return makeData({ ...base, type: new Bool(), data: bits });
    }
    if (spec.typeOid === TypeOid.uuid && col.width === 16 && !col.swap) {
      return makeData({ ...base, type: new FixedSizeBinary(16), data: col.values.subarray(0, rows * 16) });
    }
    meta.set(PG_ENCODING_KEY, 'binary');
    const wire = fixedAsWire(col, rows);
    return makeData({ ...base, type: new Binary(), valueOffsets: wire.offsets, data: wire.data });
  }
  const encoding = spec.encoding ?? 'binary';
  const valueOffsets = col.offsets.subarray(0, rows + 1);
  if (TEXT_OIDS.has(spec.typeOid)) return makeData({ ...base, type: new Utf8(), valueOffsets, data: col.data });
  if (encoding === 'text') {
    meta.set(PG_ENCODING_KEY, 'text');
    return makeData({ ...base, type: new Utf8(), valueOffsets, data: col.data });
  }
  if (spec.typeOid !== TypeOid.bytea) meta.set(PG_ENCODING_KEY, 'binary');
  return makeData({ ...base, type: new Binary(), valueOffsets, data: col.data });
}

/**
 * An Arrow RecordBatch over `batch`, zero-copy where the layouts agree.
 *
 * @example
 *   const rb = batchToArrow(batch, [{ name: 'id', typeOid: 23, typeName: 'integer' }]);
 *   rb.getChildAt(0)?.get(0) // the first id as a number
 */
export function batchToArrow(batch: ColumnBatch, fields: readonly ArrowFieldSpec[]): RecordBatch {
  if (fields.length !== batch.columns.length) fail(`${fields.length} fields for ${batch.columns.length} columns`);
  const { Field, Schema, RecordBatch, makeData, Struct } = arrow();
  const rows = batch.rowCount;
  const arrowFields: Field[] = [];
  const children: Data[] = [];
  for (let j = 0; j < fields.length; j++) {
    const spec = fields[j];
    const meta = new Map<string, string>([
      [PG_TYPE_KEY, spec.typeName],
      [PG_OID_KEY, String(spec.typeOid)],
    ]);
    const data = columnToData(batch.columns[j], spec, rows, meta);
    children.push(data);
    arrowFields.push(new Field(spec.name, data.type, true, meta));
  }
  const schema = new Schema(arrowFields);
  return new RecordBatch(schema, makeData({ type: new Struct(arrowFields), length: rows, nullCount: 0, children }));
}

/** rb's null flags from an Arrow child (honouring its offset into the bitmap). */
function unpackValidity(data: Data, rows: number): Uint8Array {
  const nulls = new Uint8Array(rows);
  const bitmap = data.nullBitmap;
  if (data.nullCount === 0 || !bitmap || bitmap.length === 0) return nulls;
  const off = data.offset;
  for (let i = 0; i < rows; i++) {
    const b = i + off;
    if ((bitmap[b >> 3] & (1 << (b & 7))) === 0) nulls[i] = 1;
  }
  return nulls;
}

/** Fixed values from an Arrow buffer; null slots must read as zero, so copy only if they do not. */
function fixedFromArrow(values: ArrayBufferView, rows: number, width: 1 | 2 | 4 | 8 | 16, swap: boolean, nulls: Uint8Array): FixedColumn {
  let bytes = new Uint8Array(values.buffer, values.byteOffset, rows * width);
  let copied = false;
  for (let i = 0; i < rows; i++) {
    if (nulls[i] === 0) continue;
    for (let k = 0; k < width; k++) {
      if (bytes[i * width + k] !== 0) {
        if (!copied) {
          bytes = new Uint8Array(bytes);
          copied = true;
        }
        bytes[i * width + k] = 0;
      }
    }
  }
  return { kind: 'fixed', width, swap, values: bytes, nulls };
}

/** Var column from Arrow offsets + data; compacts when a null row has a non-empty range. */
function varFromArrow(offsets: Int32Array, data: Uint8Array, rows: number, nulls: Uint8Array): VarColumn {
  let clean = true;
  for (let i = 0; i < rows && clean; i++) if (nulls[i] !== 0 && offsets[i + 1] !== offsets[i]) clean = false;
  if (clean) return { kind: 'var', offsets, data, nulls };
  const out = new Int32Array(rows + 1);
  let size = 0;
  for (let i = 0; i < rows; i++) if (nulls[i] === 0) size += offsets[i + 1] - offsets[i];
  const bytes = new Uint8Array(size);
  let at = 0;
  for (let i = 0; i < rows; i++) {
    if (nulls[i] === 0) {
      bytes.set(data.subarray(offsets[i], offsets[i + 1]), at);
      at += offsets[i + 1] - offsets[i];
    }
    out[i + 1] = at;
  }
  return { kind: 'var', offsets: out, data: bytes, nulls };
}

/** Wire bytes of a Binary column back into a fixed column (big-endian → little-endian if swap). */
function wireToFixed(col: VarColumn, rows: number, width: 1 | 2 | 4 | 8 | 16, swap: boolean, name: string): FixedColumn {
  const values = new Uint8Array(rows * width);
  for (let i = 0; i < rows; i++) {
    if (col.nulls[i] !== 0) continue;
    const a = col.offsets[i];
    const n = col.offsets[i + 1] - a;
    if (n !== width) fail(`field ${name} row ${i} has ${n} bytes, expected ${width} (pg.encoding binary)`);
    const o = i * width;
    if (swap) for (let k = 0; k < width; k++) values[o + k] = col.data[a + width - 1 - k];
    else for (let k = 0; k < width; k++) values[o + k] = col.data[a + k];
  }
  return { kind: 'fixed', width, swap, values, nulls: col.nulls };
}

/**
 * arrow-js slices lazily: `data.offset` applies to bit-packed buffers (validity, Bool values),
 * while value and offset buffers are already sliced to start at row 0.
 */
function dataToColumn(data: Data, field: Field, rows: number): Column {
  const { DataType, Precision } = arrow();
  const type = data.type;
  const nulls = unpackValidity(data, rows);
  if (DataType.isInt(type) || DataType.isFloat(type)) {
    const width = DataType.isInt(type) ? type.bitWidth / 8 : type.precision === Precision.DOUBLE ? 8 : type.precision === Precision.SINGLE ? 4 : 2;
    if (width !== 2 && width !== 4 && width !== 8) fail(`field ${field.name} has unsupported type ${type}`);
    return fixedFromArrow(data.values as ArrayBufferView, rows, width, true, nulls);
  }
  if (DataType.isBool(type)) {
    const values = new Uint8Array(rows);
    const bits = data.values as Uint8Array;
    for (let i = 0; i < rows; i++) {
      const b = i + data.offset;
      if (nulls[i] === 0 && (bits[b >> 3] & (1 << (b & 7))) !== 0) values[i] = 1;
    }
    return { kind: 'fixed', width: 1, swap: false, values, nulls };
  }
  if (DataType.isFixedSizeBinary(type)) {
    const w = type.byteWidth;
    if (w !== 1 && w !== 2 && w !== 4 && w !== 8 && w !== 16) fail(`field ${field.name} has unsupported type ${type}`);
    return fixedFromArrow(data.values as Uint8Array, rows, w, false, nulls);
  }
  if (DataType.isUtf8(type) || DataType.isBinary(type)) {
    const offsets = (data.valueOffsets as Int32Array).subarray(0, rows + 1);
    const col = varFromArrow(offsets, data.values as Uint8Array, rows, nulls);
    const oid = Number(field.metadata.get(PG_OID_KEY));
    if (field.metadata.get(PG_ENCODING_KEY) === 'binary' && Number.isInteger(oid)) {
      const codec = codecForType(oid);
      if (codec.kind === 'fixed') return wireToFixed(col, rows, codec.width, codec.swap, field.name);
    }
    return col;
  }
  return fail(`field ${field.name} has unsupported type ${type}`);
}

/**
 * A `ColumnBatch` over an Arrow RecordBatch (zero-copy for primitive, Utf8 and Binary buffers).
 * Binary fields with `pg.encoding` = `binary` of a fixed-width PostgreSQL type become fixed
 * columns again.
 */
export function arrowToBatch(rb: RecordBatch): ColumnBatch {
  const rows = rb.numRows;
  const fields = rb.schema.fields;
  const columns: Column[] = new Array(fields.length);
  for (let j = 0; j < fields.length; j++) {
    const data = rb.data.children[j];
    if (!data) fail(`field ${fields[j].name} has no data`);
    columns[j] = dataToColumn(data, fields[j], rows);
  }
  return { rowCount: rows, columns };
}
