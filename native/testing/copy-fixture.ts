/**
 * Test fixtures for the COPY codecs, shared by the TypeScript tests and the Rust parity tests.
 *
 * `buildCopyBinary` is deliberately simple and independent of the production encoder: it
 * concatenates small Buffers, one per length and value, so a bug in the codecs cannot hide in
 * the fixtures. `randomBatch` / `randomCodecs` produce seeded, reproducible inputs with NULLs,
 * empty values, huge values and empty batches.
 */
import type { Column, ColumnBatch, ColumnCodec } from '../batch.js';
import { COPY_BINARY_HEADER, COPY_BINARY_TRAILER } from '../codec-api.js';

export type WireRow = Array<Uint8Array | null>;

function int16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(v);
  return b;
}

function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
}

/** COPY binary tuples (no header, no trailer) for rows of wire values (null = SQL NULL). */
export function buildCopyTuples(rows: readonly WireRow[]): Buffer {
  const parts: Buffer[] = [];
  for (const row of rows) {
    parts.push(int16(row.length));
    for (const v of row) {
      if (v === null) {
        parts.push(int32(-1));
      } else {
        parts.push(int32(v.length), Buffer.from(v));
      }
    }
  }
  return Buffer.concat(parts);
}

export interface CopyFileOptions {
  header?: boolean;
  trailer?: boolean;
  /** Header extension bytes (the format allows them; PostgreSQL writes none). */
  extension?: Uint8Array;
}

/** A COPY binary stream: header, tuples, trailer (each optional). */
export function buildCopyBinary(rows: readonly WireRow[], opts: CopyFileOptions = {}): Buffer {
  const parts: Buffer[] = [];
  if (opts.header !== false) {
    const ext = opts.extension ?? new Uint8Array(0);
    parts.push(Buffer.from(COPY_BINARY_HEADER.subarray(0, 15)), int32(ext.length), Buffer.from(ext));
  }
  parts.push(buildCopyTuples(rows));
  if (opts.trailer !== false) parts.push(Buffer.from(COPY_BINARY_TRAILER));
  return Buffer.concat(parts);
}

/** Wire values of a batch, computed the slow obvious way (for comparing with encoder output). */
export function batchToWireRows(batch: ColumnBatch): WireRow[] {
  const rows: WireRow[] = [];
  for (let r = 0; r < batch.rowCount; r++) {
    rows.push(batch.columns.map((col) => wireValue(col, r)));
  }
  return rows;
}

function wireValue(col: Column, r: number): Uint8Array | null {
  if (col.nulls[r]) return null;
  if (col.kind === 'var') return Buffer.from(col.data.subarray(col.offsets[r], col.offsets[r + 1]));
  const v = Buffer.from(col.values.subarray(r * col.width, (r + 1) * col.width));
  return col.swap ? v.reverse() : v;
}

/** Wire encodings of common values, for readable tests. */
export const wire = {
  int2: (v: number): Buffer => int16(v),
  int4: (v: number): Buffer => int32(v),
  int8: (v: bigint): Buffer => {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(v);
    return b;
  },
  float8: (v: number): Buffer => {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(v);
    return b;
  },
  bool: (v: boolean): Buffer => Buffer.from([v ? 1 : 0]),
  text: (s: string): Buffer => Buffer.from(s, 'utf8'),
};

/** mulberry32: a tiny, fast, seedable PRNG (uniform floats in [0, 1)). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CODEC_CHOICES: ColumnCodec[] = [
  { kind: 'var' },
  { kind: 'var' },
  { kind: 'var' },
  { kind: 'fixed', width: 1, swap: false },
  { kind: 'fixed', width: 2, swap: true },
  { kind: 'fixed', width: 4, swap: true },
  { kind: 'fixed', width: 8, swap: true },
  { kind: 'fixed', width: 16, swap: false },
  { kind: 'fixed', width: 1, swap: true },
  { kind: 'fixed', width: 2, swap: false },
  { kind: 'fixed', width: 4, swap: false },
  { kind: 'fixed', width: 8, swap: false },
  { kind: 'fixed', width: 16, swap: true },
];

/** `n` column codecs covering every width, both swap flags and var (weighted towards var). */
export function randomCodecs(seed: number, n: number): ColumnCodec[] {
  const rnd = prng(seed ^ 0x5eed);
  return Array.from({ length: n }, () => ({ ...CODEC_CHOICES[Math.floor(rnd() * CODEC_CHOICES.length)] }));
}

const NULL_RATES = [0, 0, 0.1, 0.5, 1];
const HUGE_MIN_BYTES = 64 * 1024;
const HUGE_MAX_BYTES = 256 * 1024;
const HUGE_PER_BATCH = 3;

/**
 * A valid batch of `rows` rows for `codecs` with random bytes. Each column gets a null rate from
 * {0, 10%, 50%, 100%}; var values are mostly short, often empty, and a few are huge (64-256 KiB).
 *
 * @example
 *   const batch = randomBatch(42, randomCodecs(42, 6), 1000);
 */
export function randomBatch(seed: number, codecs: readonly ColumnCodec[], rows: number): ColumnBatch {
  const rnd = prng(seed);
  let hugeLeft = HUGE_PER_BATCH;
  const columns: Column[] = codecs.map((codec) => {
    const nullRate = NULL_RATES[Math.floor(rnd() * NULL_RATES.length)];
    const nulls = new Uint8Array(rows);
    for (let r = 0; r < rows; r++) nulls[r] = rnd() < nullRate ? 1 : 0;
    if (codec.kind === 'fixed') {
      const values = new Uint8Array(rows * codec.width);
      for (let r = 0; r < rows; r++) {
        if (nulls[r]) continue;
        for (let k = 0; k < codec.width; k++) values[r * codec.width + k] = Math.floor(rnd() * 256);
      }
      return { kind: 'fixed', width: codec.width, swap: codec.swap, values, nulls };
    }
    const lengths = new Array<number>(rows).fill(0);
    for (let r = 0; r < rows; r++) {
      if (nulls[r]) continue;
      const pick = rnd();
      if (pick < 0.15) lengths[r] = 0;
      else if (pick < 0.997 || hugeLeft === 0) lengths[r] = Math.floor(rnd() * 40);
      else {
        hugeLeft--;
        lengths[r] = HUGE_MIN_BYTES + Math.floor(rnd() * (HUGE_MAX_BYTES - HUGE_MIN_BYTES));
      }
    }
    const offsets = new Int32Array(rows + 1);
    for (let r = 0; r < rows; r++) offsets[r + 1] = offsets[r] + lengths[r];
    const data = new Uint8Array(offsets[rows]);
    for (let i = 0; i < data.length; i++) data[i] = Math.floor(rnd() * 256);
    return { kind: 'var', offsets, data, nulls };
  });
  return { rowCount: rows, columns };
}

function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/**
 * The first difference between two batches (row count, column kinds, nulls, values, offsets,
 * data), or null when they are identical. Fast on large batches, unlike a generic deep-equal.
 */
export function batchDifference(a: ColumnBatch, b: ColumnBatch): string | null {
  if (a.rowCount !== b.rowCount) return `rowCount ${a.rowCount} != ${b.rowCount}`;
  if (a.columns.length !== b.columns.length) return `${a.columns.length} columns != ${b.columns.length}`;
  for (let j = 0; j < a.columns.length; j++) {
    const x = a.columns[j];
    const y = b.columns[j];
    if (x.kind !== y.kind) return `column ${j}: kind ${x.kind} != ${y.kind}`;
    if (!sameBytes(x.nulls, y.nulls)) return `column ${j}: nulls differ`;
    if (x.kind === 'fixed' && y.kind === 'fixed') {
      if (x.width !== y.width || x.swap !== y.swap) return `column ${j}: codec fixed(${x.width}, ${x.swap}) != fixed(${y.width}, ${y.swap})`;
      if (!sameBytes(x.values, y.values)) return `column ${j}: values differ`;
    } else if (x.kind === 'var' && y.kind === 'var') {
      if (!sameBytes(x.offsets, y.offsets)) return `column ${j}: offsets differ`;
      if (!sameBytes(x.data, y.data)) return `column ${j}: data differ`;
    }
  }
  return null;
}
