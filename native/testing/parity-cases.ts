/**
 * Inputs and comparison for the native-vs-TypeScript parity checks, shared by
 * `native/native-parity.test.ts` (bounded, in CI) and `native/testing/fuzz-native.ts` (long runs
 * by hand). Valid inputs come from the simple fixture builders (`copy-fixture.ts`,
 * `pgoutput-fixture.ts`), never from either implementation; malformed ones are random bytes or
 * valid inputs with random mutations.
 *
 * The parity rule: for the same input both implementations return deeply equal results, or both
 * throw a CodecError (`code = 'codec'`) with the same message and offset.
 */
import type { ColumnCodec } from '../batch.js';
import { CodecError, newPgoutputState, type Codecs, type PgoutputState } from '../codec-api.js';
import { buildCopyBinary, prng, randomBatch, randomCodecs, batchToWireRows } from './copy-fixture.js';
import { pgo, pgoutputInput, type RelationSpec, type TupleValue } from './pgoutput-fixture.js';

export type Rng = () => number;

export const int = (rnd: Rng, lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
const pick = <T>(rnd: Rng, items: readonly T[]): T => items[Math.floor(rnd() * items.length)];

export function randomBytes(rnd: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rnd() * 256);
  return out;
}

export type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export function attempt(f: () => unknown): Outcome {
  try {
    return { ok: true, value: f() };
  } catch (error) {
    return { ok: false, error };
  }
}

function describeError(e: unknown): string {
  if (e instanceof CodecError) return `CodecError(${e.message} @${e.offset})`;
  return `${(e as Error)?.name ?? typeof e}: ${(e as Error)?.message ?? String(e)}`;
}

/**
 * Null when both outcomes agree: equal values (typed arrays by content, Maps, bigints), or both
 * CodecErrors with the same message and offset. Otherwise a description of the difference.
 */
export function outcomeDifference(ts: Outcome, native: Outcome): string | null {
  if (!ts.ok || !native.ok) {
    if (ts.ok || native.ok) {
      return ts.ok ? `ts returned, native threw ${describeError((native as { error: unknown }).error)}` : `native returned, ts threw ${describeError(ts.error)}`;
    }
    const a = ts.error;
    const b = native.error;
    if (!(a instanceof CodecError) || !(b instanceof CodecError)) return `non-codec error: ts ${describeError(a)}, native ${describeError(b)}`;
    if (a.message !== b.message || a.offset !== b.offset) return `errors differ: ts ${describeError(a)}, native ${describeError(b)}`;
    return null;
  }
  const a = canonical(ts.value);
  const b = canonical(native.value);
  if (a === b) return null;
  let i = 0;
  while (a[i] === b[i]) i++;
  return `results differ at char ${i}: ts …${a.slice(Math.max(0, i - 60), i + 60)}… native …${b.slice(Math.max(0, i - 60), i + 60)}…`;
}

/**
 * A canonical text form of a codec result for exact comparison: typed arrays as their type and
 * hex bytes (views compare by content, whatever their backing buffer), bigints tagged, Maps as
 * entry lists, object keys in insertion order (both implementations build the same literals).
 * Much faster than a generic deep-equal on large batches.
 */
export function canonical(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key, json: unknown) {
    // The holder's own value: JSON.stringify has already applied toJSON (Buffer) to `json`.
    const v = key === '' ? value : this[key];
    if (typeof v === 'bigint') return `${v}n`;
    if (v instanceof Map) return { map: [...v.entries()] };
    if (ArrayBuffer.isView(v)) return `${v.constructor.name}:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
    return json;
  });
}

/** Runs `f` on both implementations and returns the difference (see `outcomeDifference`). */
export function compareImpls(ts: Codecs, native: Codecs, f: (c: Codecs) => unknown): string | null {
  return outcomeDifference(attempt(() => f(ts)), attempt(() => f(native)));
}

/** Random edits: byte flips, cuts, insertions, duplicated spans, -1 / huge lengths. */
export function mutate(rnd: Rng, input: Uint8Array): Uint8Array {
  let b = Uint8Array.from(input);
  const edits = int(rnd, 1, 4);
  for (let e = 0; e < edits; e++) {
    const at = b.length === 0 ? 0 : int(rnd, 0, b.length - 1);
    switch (int(rnd, 0, 6)) {
      case 0:
        if (b.length) b[at] = Math.floor(rnd() * 256);
        break;
      case 1:
        b = b.subarray(0, at);
        break;
      case 2: {
        const ins = randomBytes(rnd, int(rnd, 1, 8));
        b = Uint8Array.from([...b.subarray(0, at), ...ins, ...b.subarray(at)]);
        break;
      }
      case 3: {
        const end = Math.min(b.length, at + int(rnd, 1, 16));
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(end)]);
        break;
      }
      case 4:
        // A length or count field set to -1 / a huge value.
        for (let k = 0; k < 4 && at + k < b.length; k++) b[at + k] = pick(rnd, [0xff, 0x7f, 0x80, 0x00]);
        break;
      case 5:
        if (b.length) b[at] ^= 1 << int(rnd, 0, 7);
        break;
      default: {
        const end = Math.min(b.length, at + int(rnd, 1, 32));
        b = Uint8Array.from([...b.subarray(0, end), ...b.subarray(at, end), ...b.subarray(end)]);
      }
    }
  }
  return b;
}

/** A COPY binary stream (header, tuples, trailer) of a random batch, with its codecs. */
export function randomCopyStream(seed: number, maxRows = 40, maxCols = 8): { codecs: ColumnCodec[]; bytes: Buffer } {
  const rnd = prng(seed ^ 0xc0b1);
  const codecs = randomCodecs(seed, int(rnd, 0, maxCols));
  const rows = int(rnd, 0, maxRows);
  const batch = randomBatch(seed, codecs, rows);
  const extension = rnd() < 0.2 ? randomBytes(rnd, int(rnd, 0, 8)) : undefined;
  return { codecs, bytes: buildCopyBinary(batchToWireRows(batch), { extension }) };
}

/** CopyData framing of `payloads`, optionally followed by a CopyDone ('c') and more bytes. */
export function frameCopyData(payloads: readonly Uint8Array[], tail: Uint8Array = new Uint8Array(0)): Buffer {
  const parts: Buffer[] = [];
  for (const p of payloads) {
    const h = Buffer.alloc(5);
    h[0] = 0x64;
    h.writeInt32BE(p.length + 4, 1);
    parts.push(h, Buffer.from(p));
  }
  parts.push(Buffer.from(tail));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// pgoutput streams

function randomText(rnd: Rng): string {
  const n = int(rnd, 0, 12);
  let s = '';
  for (let i = 0; i < n; i++) s += pick(rnd, ['a', 'z', '0', ' ', 'é', 'ß', '€', '😀', "'", '"', '\\', 'x']);
  return s;
}

function randomValue(rnd: Rng): TupleValue {
  const k = rnd();
  if (k < 0.15) return null;
  if (k < 0.25) return 'u';
  if (k < 0.8) return { t: randomText(rnd) };
  if (k < 0.998) return { b: randomBytes(rnd, int(rnd, 0, 24)) };
  return { b: randomBytes(rnd, int(rnd, 1 << 12, 1 << 15)) };
}

function randomRelation(rnd: Rng, oid: number): RelationSpec {
  const ncols = int(rnd, 0, 6);
  return {
    oid,
    namespace: pick(rnd, ['', 'public', 'sales', 'schéma']),
    name: `t_${oid}_${randomText(rnd)}`,
    replicaIdentity: pick(rnd, ['d', 'n', 'f', 'i'] as const),
    columns: Array.from({ length: ncols }, (_, c) => ({ flags: c === 0 ? 1 : 0, name: `c${c}${randomText(rnd)}`, typeOid: pick(rnd, [16, 20, 23, 25, 1043, 3802, 0xfffffff0]), typmod: pick(rnd, [-1, 4, 65540]) })),
  };
}

const randomLsn = (rnd: Rng): bigint => (BigInt(Math.floor(rnd() * 2 ** 32)) << 32n) | BigInt(Math.floor(rnd() * 2 ** 32));
const randomTime = (rnd: Rng): bigint => BigInt(Math.floor((rnd() - 0.3) * 2 ** 52));

/** The changes of one transaction (or streamed segment) on random relations. */
function randomChanges(rnd: Rng, rels: RelationSpec[], xid: number | undefined, out: Buffer[]): void {
  const n = int(rnd, 0, 12);
  for (let i = 0; i < n; i++) {
    const rel = pick(rnd, rels);
    // Mostly the relation's width; sometimes another, which starts a new change set.
    const width = rnd() < 0.9 ? rel.columns.length : int(rnd, 0, 4);
    const values = (): TupleValue[] => Array.from({ length: width }, () => randomValue(rnd));
    const op = rnd();
    if (op < 0.5) out.push(pgo.insert(rel.oid, values(), xid));
    else if (op < 0.8) {
      const old = rnd() < 0.5 ? undefined : { kind: pick(rnd, ['K', 'O'] as const), values: values() };
      out.push(pgo.update(rel.oid, values(), old, xid));
    } else out.push(pgo.delete(rel.oid, pick(rnd, ['K', 'O'] as const), values(), xid));
    if (rnd() < 0.05) out.push(pgo.relation(rel, xid));
  }
}

/** A random but well-formed pgoutput message stream covering every message kind. */
export function randomPgoutputMessages(seed: number, groups = 8): Buffer[] {
  const rnd = prng(seed ^ 0x9047);
  const rels = Array.from({ length: int(rnd, 1, 4) }, (_, k) => randomRelation(rnd, 16384 + k * 7 + (seed % 5)));
  const out: Buffer[] = [];
  let xid = 700 + (seed % 1000);
  for (let g = 0; g < groups; g++) {
    xid++;
    const kind = rnd();
    if (kind < 0.55) {
      out.push(pgo.begin(randomLsn(rnd), randomTime(rnd), xid));
      if (rnd() < 0.2) out.push(pgo.origin(randomLsn(rnd), randomText(rnd)));
      for (const rel of rels) if (rnd() < 0.5) out.push(pgo.relation(rel));
      if (rnd() < 0.2) out.push(pgo.type(int(rnd, 16384, 99999), 'public', randomText(rnd)));
      randomChanges(rnd, rels, undefined, out);
      if (rnd() < 0.15) out.push(pgo.truncate(rels.filter(() => rnd() < 0.6).map((r) => r.oid), int(rnd, 0, 3)));
      if (rnd() < 0.15) out.push(pgo.message(rnd() < 0.5, randomLsn(rnd), randomText(rnd), randomBytes(rnd, int(rnd, 0, 40))));
      out.push(pgo.commit(randomLsn(rnd), randomLsn(rnd), randomTime(rnd), int(rnd, 0, 1)));
    } else if (kind < 0.8) {
      const segments = int(rnd, 1, 3);
      for (let s = 0; s < segments; s++) {
        out.push(pgo.streamStart(xid, s === 0));
        for (const rel of rels) if (rnd() < 0.4) out.push(pgo.relation(rel, xid));
        if (rnd() < 0.1) out.push(pgo.type(int(rnd, 16384, 99999), 'public', randomText(rnd), xid));
        randomChanges(rnd, rels, xid, out);
        if (rnd() < 0.1) out.push(pgo.truncate([rels[0].oid], 1, xid));
        if (rnd() < 0.1) out.push(pgo.message(true, randomLsn(rnd), 'p', randomBytes(rnd, 3), xid));
        out.push(pgo.streamStop());
      }
      const end = rnd();
      if (end < 0.4) out.push(pgo.streamCommit(xid, randomLsn(rnd), randomLsn(rnd), randomTime(rnd)));
      else if (end < 0.7) out.push(pgo.streamAbort(xid, xid + int(rnd, 0, 3)));
      else if (end < 0.85) out.push(pgo.streamAbort(xid, xid, { abortLsn: randomLsn(rnd), abortTimeUs: randomTime(rnd) }));
      else out.push(pgo.streamPrepare(randomLsn(rnd), randomLsn(rnd), randomTime(rnd), xid, `gid-${randomText(rnd)}`));
    } else {
      const gid = `gid-${xid}-${randomText(rnd)}`;
      out.push(pgo.beginPrepare(randomLsn(rnd), randomLsn(rnd), randomTime(rnd), xid, gid));
      randomChanges(rnd, rels, undefined, out);
      out.push(pgo.prepare(randomLsn(rnd), randomLsn(rnd), randomTime(rnd), xid, gid));
      if (rnd() < 0.6) out.push(pgo.commitPrepared(randomLsn(rnd), randomLsn(rnd), randomTime(rnd), xid, gid));
      else out.push(pgo.rollbackPrepared(randomLsn(rnd), randomLsn(rnd), randomTime(rnd), randomTime(rnd), xid, gid));
    }
  }
  return out;
}

export interface PgoutputRun {
  batches: unknown[];
  state: PgoutputState;
}

/**
 * Decodes `messages` in calls of random sizes, carrying the state between calls as a replication
 * client does; returns every call's output and the final state (or throws at the first error).
 */
export function decodeInCalls(codecs: Codecs, messages: readonly Uint8Array[], cuts: readonly number[], protoVersion = 4): PgoutputRun {
  const state = newPgoutputState();
  const batches: unknown[] = [];
  let from = 0;
  for (const to of [...cuts, messages.length]) {
    const { buf, offsets, lsns } = pgoutputInput(messages.slice(from, to), BigInt(from) * 0x100n + 0x1000000n);
    batches.push(codecs.pgoutputDecode(buf, offsets, lsns, protoVersion, state));
    from = to;
  }
  return { batches, state };
}

export function randomCuts(rnd: Rng, n: number, count: number): number[] {
  const cuts = Array.from({ length: count }, () => int(rnd, 0, n));
  return cuts.sort((a, b) => a - b);
}
