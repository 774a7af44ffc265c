/**
 * rb's columnar batch layout: the one shape that the COPY binary decoder produces and the encoder
 * consumes, in TypeScript and in Rust alike. It is deliberately made of flat typed arrays so the
 * native addon can read and write it without per-value JS objects, and so each column maps onto an
 * Arrow vector without copying (see `native/arrow.ts`).
 *
 * A column is described by a `ColumnCodec`, chosen once per column from its type OID
 * (`codecForType` in `native/type-codecs.ts`):
 *
 *   fixed(width, swap)  every non-null value is exactly `width` bytes on the wire.
 *                       `values` holds rowCount * width bytes; a null row's slot is zero-filled.
 *                       swap = true: numbers, stored little-endian (the wire is big-endian), so
 *                       `new Int32Array(values.buffer, values.byteOffset, rowCount)` reads them.
 *                       swap = false: opaque bytes kept in wire order (uuid).
 *   var                 `offsets` has rowCount + 1 entries; value i is data[offsets[i], offsets[i+1]).
 *                       A null row has an empty range. Bytes are the wire bytes (PostgreSQL binary
 *                       send format, or text for text-format COPY).
 *
 * `nulls[i]` is 1 when row i is NULL, else 0 (one byte per row: simpler and faster than bitmaps
 * for the codecs; the Arrow view packs it into a validity bitmap).
 *
 * Wire-value conventions for fixed columns (all PostgreSQL binary send formats, byte-swapped):
 *   bool 1 byte; int2 2; int4, oid, date (days since 2000-01-01), float4 4;
 *   int8, float8, timestamp/timestamptz (µs since 2000-01-01), time (µs), money (cents) 8;
 *   uuid 16 (not swapped). Infinity dates/timestamps keep PostgreSQL's sentinels: lossless.
 */

export type ColumnCodec =
  | { kind: 'fixed'; width: 1 | 2 | 4 | 8 | 16; swap: boolean }
  | { kind: 'var' };

export interface FixedColumn {
  kind: 'fixed';
  width: 1 | 2 | 4 | 8 | 16;
  swap: boolean;
  values: Uint8Array;
  nulls: Uint8Array;
}

export interface VarColumn {
  kind: 'var';
  offsets: Int32Array;
  data: Uint8Array;
  nulls: Uint8Array;
}

export type Column = FixedColumn | VarColumn;

export interface ColumnBatch {
  rowCount: number;
  columns: Column[];
}

/** Encodes codecs for the native boundary: one int per column, 0 = var, else width | (swap << 8). */
export function packCodecs(codecs: readonly ColumnCodec[]): Int32Array {
  const out = new Int32Array(codecs.length);
  codecs.forEach((c, i) => {
    out[i] = c.kind === 'var' ? 0 : c.width | (c.swap ? 1 << 8 : 0);
  });
  return out;
}

export function unpackCodec(packed: number): ColumnCodec {
  if (packed === 0) return { kind: 'var' };
  const width = packed & 0xff;
  if (width !== 1 && width !== 2 && width !== 4 && width !== 8 && width !== 16) {
    throw new Error(`batch: invalid packed codec ${packed}`);
  }
  return { kind: 'fixed', width, swap: (packed & (1 << 8)) !== 0 };
}

/** Bytes a value of row `row` occupies on the wire, or -1 for NULL. */
export function valueLength(col: Column, row: number): number {
  if (col.nulls[row]) return -1;
  return col.kind === 'fixed' ? col.width : col.offsets[row + 1] - col.offsets[row];
}
