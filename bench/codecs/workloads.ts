/**
 * Deterministic inputs for the codec micro-benchmarks (`rb bench --profile codecs`): the same
 * bytes on every machine and every run, built once before timing.
 *
 *   copy          10k rows × 8 columns (int4, int8, float8, bool, text ~30 B, timestamptz, uuid,
 *                 numeric as its binary send bytes), NULLs in three columns: the JS values the
 *                 peers encode from, the `ColumnBatch` rb encodes from, and the COPY binary file.
 *   copyData      the same file as the server sends it during COPY TO STDOUT: one CopyData ('d')
 *                 message for the header, one per row, one for the trailer.
 *   pgoutput      protocol 1 with binary tuples: the real v1 capture (native/testing/fixtures),
 *                 then 100k Insert/Update/Delete messages on one relation in 100 transactions,
 *                 their values taken from the copy rows.
 *   placeholders  1000 rows × 10 columns.
 *
 * The COPY file and the pgoutput messages come from the simple fixture builders in
 * `native/testing/`, never from the codecs under test.
 */
import type { Column, ColumnBatch, ColumnCodec } from '../../native/batch.js';
import { batchToWireRows, buildCopyBinary, buildCopyTuples, prng } from '../../native/testing/copy-fixture.js';
import { frameCopyData } from '../../native/testing/parity-cases.js';
import { loadCaptures, pgo, pgoutputInput, type PgoutputInput, type RelationSpec, type TupleValue } from '../../native/testing/pgoutput-fixture.js';
import { PG_EPOCH_UNIX_MS } from '../../native/pgoutput-types.js';
import { codecsForTypes, TypeOid } from '../../native/type-codecs.js';

/** The type names pg-copy-streams-binary knows (`lib/pg_types.js`); uuid and numeric go as bytea. */
export type PeerCopyType = 'int4' | 'int8' | 'float8' | 'bool' | 'text' | 'timestamptz' | 'bytea';

export interface BenchColumn {
  name: string;
  typeOid: number;
  /** How pg-copy-streams-binary encodes/decodes the column (same wire bytes as `typeOid`). */
  peerType: PeerCopyType;
  /** Share of NULL rows. */
  nullRate: number;
}

/** A JS value as a Node user holds it: what pg-copy-streams-binary encodes from and decodes to. */
export type JsValue = number | bigint | boolean | string | Date | Buffer | null;

export const BENCH_COLUMNS: readonly BenchColumn[] = [
  { name: 'id', typeOid: TypeOid.int4, peerType: 'int4', nullRate: 0 },
  { name: 'account_id', typeOid: TypeOid.int8, peerType: 'int8', nullRate: 0 },
  { name: 'score', typeOid: TypeOid.float8, peerType: 'float8', nullRate: 0.05 },
  { name: 'active', typeOid: TypeOid.bool, peerType: 'bool', nullRate: 0 },
  { name: 'label', typeOid: TypeOid.text, peerType: 'text', nullRate: 0.05 },
  { name: 'created_at', typeOid: TypeOid.timestamptz, peerType: 'timestamptz', nullRate: 0 },
  { name: 'uid', typeOid: TypeOid.uuid, peerType: 'bytea', nullRate: 0 },
  { name: 'amount', typeOid: TypeOid.numeric, peerType: 'bytea', nullRate: 0.1 },
];

export interface CopyWorkload {
  columns: readonly BenchColumn[];
  codecs: ColumnCodec[];
  rows: number;
  /** Column-major JS values (`values[col][row]`). */
  values: JsValue[][];
  /** The same values in rb's columnar layout (what the rb encoders take). */
  batch: ColumnBatch;
  /** The complete COPY binary file: header, tuples, trailer. */
  file: Buffer;
  headerBytes: number;
}

export interface CopyDataWorkload {
  /** Backend CopyData messages, one per row plus header and trailer, back to back. */
  framed: Buffer;
  messages: number;
}

export interface PgoutputWorkload {
  protoVersion: 1;
  input: PgoutputInput;
  /** Each message as its own Buffer (what a per-message parser is handed). */
  messages: Buffer[];
  relation: RelationSpec;
  /** Insert/Update/Delete messages on `relation` (the real capture has a few more). */
  changes: number;
  /** Messages taken from the real capture, at the start of the stream. */
  capturedMessages: number;
}

export interface PlaceholderWorkload {
  rows: number;
  cols: number;
  /**
   * First parameter number. Not 1: with `first = 1` both implementations return a slice of a
   * cached full-statement text (a few ns, nothing to measure); any other start builds the text.
   */
  first: number;
}

export interface CodecWorkloads {
  scale: number;
  copy: CopyWorkload;
  copyData: CopyDataWorkload;
  pgoutput: PgoutputWorkload;
  placeholders: PlaceholderWorkload;
}

export const COPY_ROWS = 10_000;
export const PGOUTPUT_CHANGES = 100_000;
export const CHANGES_PER_TRANSACTION = 1000;
export const PLACEHOLDER_ROWS = 1000;
export const PLACEHOLDER_COLS = 10;
const SEED = 20240611;
const BENCH_RELATION_OID = 910_001;

const WORDS = ['order', 'invoice', 'customer', 'parcel', 'refund', 'Zoë', 'café', 'shipment', 'north', 'south', 'priority', 'pending'];

/**
 * numeric's binary send format: int16 ndigits, int16 weight, uint16 sign, int16 dscale, then
 * ndigits base-10000 digits (PostgreSQL numeric.c, numeric_send), for `cents / 100` at scale 2.
 */
export function numericSend(cents: number): Buffer {
  const neg = cents < 0;
  const abs = Math.abs(cents);
  let whole = Math.floor(abs / 100);
  const digits: number[] = [];
  while (whole > 0) {
    digits.unshift(whole % 10000);
    whole = Math.floor(whole / 10000);
  }
  let weight = digits.length - 1;
  digits.push((abs % 100) * 100);
  while (digits.length > 0 && digits[digits.length - 1] === 0) digits.pop();
  while (digits.length > 0 && digits[0] === 0) {
    digits.shift();
    weight--;
  }
  if (digits.length === 0) weight = 0;
  const out = Buffer.alloc(8 + 2 * digits.length);
  out.writeInt16BE(digits.length, 0);
  out.writeInt16BE(weight, 2);
  out.writeUInt16BE(neg && digits.length > 0 ? 0x4000 : 0, 4);
  out.writeInt16BE(2, 6);
  digits.forEach((d, i) => out.writeInt16BE(d, 8 + 2 * i));
  return out;
}

function jsValues(rows: number): JsValue[][] {
  const rnd = prng(SEED);
  const baseMs = Date.UTC(2024, 0, 1);
  const cols: JsValue[][] = BENCH_COLUMNS.map(() => new Array<JsValue>(rows));
  for (let r = 0; r < rows; r++) {
    const label = `${WORDS[Math.floor(rnd() * WORDS.length)]}-${r.toString(36)}-${WORDS[Math.floor(rnd() * WORDS.length)]}`;
    const uid = Buffer.alloc(16);
    for (let k = 0; k < 16; k++) uid[k] = Math.floor(rnd() * 256);
    const row: JsValue[] = [
      r + 1,
      BigInt(Math.floor(rnd() * 2 ** 40)),
      Math.round(rnd() * 1e6) / 100,
      rnd() < 0.5,
      label.padEnd(24 + Math.floor(rnd() * 12), '.'),
      // Whole milliseconds: pg-copy-streams-binary takes Dates, which carry no microseconds.
      new Date(baseMs + Math.floor(rnd() * 365 * 86_400_000)),
      uid,
      numericSend(Math.floor((rnd() - 0.1) * 1e8)),
    ];
    BENCH_COLUMNS.forEach((c, j) => (cols[j][r] = rnd() < c.nullRate ? null : row[j]));
  }
  return cols;
}

/** rb's columnar layout of `values` (fixed numbers little-endian, var as bytes + offsets). */
function batchFromValues(values: JsValue[][], codecs: ColumnCodec[], rows: number): ColumnBatch {
  const columns: Column[] = BENCH_COLUMNS.map((c, j) => {
    const codec = codecs[j];
    const vals = values[j];
    const nulls = new Uint8Array(rows);
    for (let r = 0; r < rows; r++) nulls[r] = vals[r] === null ? 1 : 0;
    if (codec.kind === 'var') {
      const bytes = vals.map((v) => (v === null ? Buffer.alloc(0) : typeof v === 'string' ? Buffer.from(v, 'utf8') : (v as Buffer)));
      const offsets = new Int32Array(rows + 1);
      for (let r = 0; r < rows; r++) offsets[r + 1] = offsets[r] + bytes[r].length;
      return { kind: 'var', offsets, data: new Uint8Array(Buffer.concat(bytes)), nulls };
    }
    // Typed-array views write host order, little-endian: the `swap` layout (loadAddon checks LE).
    const values8 = new Uint8Array(rows * codec.width);
    const i32 = new Int32Array(values8.buffer, 0, codec.width === 4 ? rows : 0);
    const i64 = new BigInt64Array(values8.buffer, 0, codec.width === 8 ? rows : 0);
    const f64 = new Float64Array(values8.buffer, 0, codec.width === 8 ? rows : 0);
    for (let r = 0; r < rows; r++) {
      const v = vals[r];
      if (v === null) continue;
      if (c.typeOid === TypeOid.int4) i32[r] = v as number;
      else if (c.typeOid === TypeOid.int8) i64[r] = v as bigint;
      else if (c.typeOid === TypeOid.float8) f64[r] = v as number;
      else if (c.typeOid === TypeOid.bool) values8[r] = v ? 1 : 0;
      else if (c.typeOid === TypeOid.timestamptz) i64[r] = BigInt((v as Date).getTime() - PG_EPOCH_UNIX_MS) * 1000n;
      else if (c.typeOid === TypeOid.uuid) values8.set(v as Buffer, r * 16);
      else throw new Error(`bench workload: no layout for type ${c.typeOid}`);
    }
    return { kind: 'fixed', width: codec.width, swap: codec.swap, values: values8, nulls };
  });
  return { rowCount: rows, columns };
}

export function buildCopyWorkload(rows: number): CopyWorkload {
  const codecs = codecsForTypes(BENCH_COLUMNS.map((c) => c.typeOid));
  const values = jsValues(rows);
  const batch = batchFromValues(values, codecs, rows);
  const file = buildCopyBinary(batchToWireRows(batch));
  return { columns: BENCH_COLUMNS, codecs, rows, values, batch, file, headerBytes: 19 };
}

export function buildCopyDataWorkload(copy: CopyWorkload): CopyDataWorkload {
  const payloads: Uint8Array[] = [copy.file.subarray(0, copy.headerBytes)];
  for (const row of batchToWireRows(copy.batch)) payloads.push(buildCopyTuples([row]));
  payloads.push(copy.file.subarray(copy.file.length - 2));
  return { framed: frameCopyData(payloads), messages: payloads.length };
}

/** The change mix of a busy OLTP table: mostly inserts, plain updates, a few key changes and deletes. */
export function buildPgoutputWorkload(copy: CopyWorkload, changes: number): PgoutputWorkload {
  const capture = loadCaptures().find((c) => c.capture.protoVersion === 1 && c.capture.binary);
  if (!capture) throw new Error('bench workload: native/testing/fixtures has no protocol-1 binary capture');
  const captured: Buffer[] = [];
  const capturedLsns: bigint[] = [];
  for (let i = 0; i + 1 < capture.input.offsets.length; i++) {
    captured.push(capture.input.buf.subarray(capture.input.offsets[i], capture.input.offsets[i + 1]));
    capturedLsns.push(capture.input.lsns[i]);
  }

  const relation: RelationSpec = {
    oid: BENCH_RELATION_OID,
    namespace: 'public',
    name: 'bench_events',
    replicaIdentity: 'd',
    columns: BENCH_COLUMNS.map((c, j) => ({ flags: j === 0 ? 1 : 0, name: c.name, typeOid: c.typeOid })),
  };
  const wireRows = batchToWireRows(copy.batch);
  const tupleOf = (r: number): TupleValue[] => wireRows[r % wireRows.length].map((v) => (v === null ? null : { b: v }));
  const keyOf = (r: number): TupleValue[] => tupleOf(r).map((v, j) => (j === 0 ? v : null));

  // Row r's message of a kind is the same bytes every time the rows wrap around: build it once.
  const built = new Map<string, Buffer>();
  const once = (kind: string, r: number, build: () => Buffer): Buffer => {
    const key = `${kind}${r % wireRows.length}`;
    let m = built.get(key);
    if (!m) built.set(key, (m = build()));
    return m;
  };

  const rnd = prng(SEED ^ 0x6b1);
  const synthetic: Buffer[] = [];
  let lsn = capturedLsns[capturedLsns.length - 1] + 0x10000n;
  let commitTimeUs = 800_000_000_000_000n;
  for (let done = 0, xid = 5000; done < changes; xid++) {
    const n = Math.min(CHANGES_PER_TRANSACTION, changes - done);
    const finalLsn = lsn + BigInt(n + 2) * 0x100n;
    synthetic.push(pgo.begin(finalLsn, commitTimeUs, xid));
    if (done === 0) synthetic.push(pgo.relation(relation));
    for (let k = 0; k < n; k++, done++) {
      const pick = rnd();
      const r = done;
      if (pick < 0.7) synthetic.push(once('I', r, () => pgo.insert(relation.oid, tupleOf(r))));
      else if (pick < 0.9) synthetic.push(once('U', r, () => pgo.update(relation.oid, tupleOf(r))));
      else if (pick < 0.95) synthetic.push(once('K', r, () => pgo.update(relation.oid, tupleOf(r), { kind: 'K', values: keyOf(r + 1) })));
      else synthetic.push(once('D', r, () => pgo.delete(relation.oid, 'K', keyOf(r))));
    }
    synthetic.push(pgo.commit(finalLsn, finalLsn + 0x30n, commitTimeUs));
    commitTimeUs += 1000n;
    lsn = finalLsn + 0x100n;
  }
  const messages = [...captured, ...synthetic];
  const syntheticStart = capturedLsns[capturedLsns.length - 1] + 0x10000n;
  const lsns = [...capturedLsns, ...synthetic.map((_, i) => syntheticStart + BigInt(i) * 0x100n)];
  const input = pgoutputInput(messages, 0n, lsns);
  const views = messages.map((_, i) => input.buf.subarray(input.offsets[i], input.offsets[i + 1]));
  return { protoVersion: 1, input, messages: views, relation, changes, capturedMessages: captured.length };
}

/**
 * All workloads. `scale` shrinks the row and message counts (the tests use a small one); the
 * placeholder shape is fixed.
 *
 * @example
 *   const w = buildWorkloads();          // 10k COPY rows, 100k pgoutput changes
 *   const tiny = buildWorkloads(0.01);   // 100 rows, 1000 changes
 */
export function buildWorkloads(scale = 1): CodecWorkloads {
  if (!(scale > 0 && scale <= 1)) throw new Error(`bench workload: scale ${scale}, expected 0 < scale <= 1`);
  const copy = buildCopyWorkload(Math.max(10, Math.round(COPY_ROWS * scale)));
  return {
    scale,
    copy,
    copyData: buildCopyDataWorkload(copy),
    pgoutput: buildPgoutputWorkload(copy, Math.max(10, Math.round(PGOUTPUT_CHANGES * scale))),
    placeholders: { rows: PLACEHOLDER_ROWS, cols: PLACEHOLDER_COLS, first: PLACEHOLDER_ROWS * PLACEHOLDER_COLS + 1 },
  };
}
