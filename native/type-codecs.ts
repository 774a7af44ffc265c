/**
 * Type OID → `ColumnCodec` (batch.ts): which built-in types have a fixed-width binary send format
 * (and are numbers to byte-swap), and which are variable-length. Chosen once per column.
 *
 * Only built-in OIDs are listed: they are the same in every PostgreSQL database. Everything else
 * (numeric, text, arrays, user types, ...) is var, which is always correct: var keeps the exact
 * wire bytes whatever their length.
 */
import type { ColumnCodec } from './batch.js';

/** Built-in type OIDs (pg_type.dat); stable across PostgreSQL versions and databases. */
export const TypeOid = {
  bool: 16,
  bytea: 17,
  char: 18,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  xml: 142,
  float4: 700,
  float8: 701,
  money: 790,
  inet: 869,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  interval: 1186,
  timetz: 1266,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
} as const;

export type CopyFormat = 'binary' | 'text';

const VAR: ColumnCodec = Object.freeze({ kind: 'var' });
const fixed = (width: 1 | 2 | 4 | 8 | 16, swap: boolean): ColumnCodec => Object.freeze({ kind: 'fixed', width, swap });

const FIXED_BY_OID = new Map<number, ColumnCodec>([
  // 1 byte: nothing to swap.
  [TypeOid.bool, fixed(1, false)],
  [TypeOid.int2, fixed(2, true)],
  [TypeOid.int4, fixed(4, true)],
  [TypeOid.oid, fixed(4, true)],
  [TypeOid.float4, fixed(4, true)],
  // days since 2000-01-01 (int32)
  [TypeOid.date, fixed(4, true)],
  [TypeOid.int8, fixed(8, true)],
  [TypeOid.float8, fixed(8, true)],
  // cents (int64)
  [TypeOid.money, fixed(8, true)],
  // µs since midnight (int64)
  [TypeOid.time, fixed(8, true)],
  // µs since 2000-01-01 (int64), infinity as INT64_MAX/MIN
  [TypeOid.timestamp, fixed(8, true)],
  [TypeOid.timestamptz, fixed(8, true)],
  // 16 opaque bytes in wire order
  [TypeOid.uuid, fixed(16, false)],
]);

/**
 * The codec for one column of COPY data in `format`. Text COPY is always var (values are text).
 *
 * @example
 *   codecForType(TypeOid.int4)   // { kind: 'fixed', width: 4, swap: true }
 *   codecForType(TypeOid.text)   // { kind: 'var' }
 */
export function codecForType(typeOid: number, format: CopyFormat = 'binary'): ColumnCodec {
  if (format === 'text') return VAR;
  return FIXED_BY_OID.get(typeOid) ?? VAR;
}

export function codecsForTypes(typeOids: readonly number[], format: CopyFormat = 'binary'): ColumnCodec[] {
  return typeOids.map((oid) => codecForType(oid, format));
}
