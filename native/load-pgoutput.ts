/**
 * Adapts the addon's pgoutput parser to `Codecs.pgoutputDecode` (shape: pgoutput-types.ts).
 *
 * Rust parses and validates every message, copies the tuples of the change sets into one
 * buffer, and writes the other events to a tape of i64 slots in front of it (layout in
 * `native/src/pgoutput_fill.rs`). This file only makes typed-array views for the change sets and
 * builds the (few) event objects from the tape: building plain JS objects in JS is far cheaper
 * than property-by-property from native code. Names and prefixes are decoded here from byte
 * ranges of the input, with the same TextDecoder as the TypeScript parser.
 *
 * Tape records, one i64 slot per field ([kind, messageIndex, ...fields], see `native/src/pgoutput_events.rs`):
 *   begin            finalLsn commitTime xid
 *   commit           flags commitLsn endLsn commitTime
 *   origin           originLsn name(start end)
 *   relation         xid oid namespace(2) name(2) replIdent ncols (flags name(2) typeOid typmod)*ncols
 *   type             xid typeOid namespace(2) name(2)
 *   truncate         xid nrels options relOid*nrels
 *   message          xid flags messageLsn prefix(2) contentStart contentLength
 *   streamStart      xid firstSegment
 *   streamStop       -
 *   streamCommit     xid flags commitLsn endLsn commitTime
 *   streamAbort      xid subXid parallel [abortLsn abortTime]
 *   beginPrepare     prepareLsn endLsn prepareTime xid gid(2)
 *   prepare, streamPrepare, commitPrepared   flags lsn endLsn time xid gid(2)
 *   rollbackPrepared flags prepareEndLsn rollbackEndLsn prepareTime rollbackTime xid gid(2)
 */
import { CodecError, type PgoutputState } from './codec-api.js';
import type { PgoutputBatch, PgoutputChangeSet, PgoutputEvent, PgoutputRelation, PgoutputRelationColumn, TupleColumn, TupleColumns } from './pgoutput-types.js';

export interface NativePgoutput {
  pgoutputDecode(buf: Uint8Array, offsets: Int32Array, lsns: BigInt64Array, inStream: boolean, scratch: Float64Array): Uint8Array | [Uint8Array, string];
}

export type PgoutputDecodeFn = (buf: Uint8Array, offsets: Int32Array, lsns: BigInt64Array, protoVersion: number, state: PgoutputState) => PgoutputBatch;

const K_BEGIN = 1;
const K_COMMIT = 2;
const K_ORIGIN = 3;
const K_RELATION = 4;
const K_TYPE = 5;
const K_TRUNCATE = 6;
const K_MESSAGE = 7;
const K_STREAM_START = 8;
const K_STREAM_STOP = 9;
const K_STREAM_COMMIT = 10;
const K_STREAM_ABORT = 11;
const K_BEGIN_PREPARE = 12;
const K_PREPARE = 13;
const K_COMMIT_PREPARED = 14;
const K_ROLLBACK_PREPARED = 15;
const K_STREAM_PREPARE = 16;

/** Slots per set descriptor before its columns (`SET_HEADER_SLOTS` in pgoutput_fill.rs). */
const SET_HEADER_SLOTS = 9;

const utf8 = new TextDecoder('utf-8');

/** Reads the tape: i32/u32 from the low word of a slot (little-endian), 64-bit values whole. */
class TapeReader {
  readonly i32: Int32Array;
  readonly u32: Uint32Array;
  readonly i64: BigInt64Array;
  readonly u64: BigUint64Array;
  k = 0;

  constructor(
    ab: ArrayBuffer,
    base: number,
    slots: number,
    readonly buf: Uint8Array,
  ) {
    this.i32 = new Int32Array(ab, base, slots * 2);
    this.u32 = new Uint32Array(ab, base, slots * 2);
    this.i64 = new BigInt64Array(ab, base, slots);
    this.u64 = new BigUint64Array(ab, base, slots);
  }

  int(): number {
    return this.i32[2 * this.k++];
  }

  uint(): number {
    return this.u32[2 * this.k++];
  }

  /** Unsigned 64-bit (LSNs). */
  lsn(): bigint {
    return this.u64[this.k++];
  }

  /** Signed 64-bit (timestamps). */
  time(): bigint {
    return this.i64[this.k++];
  }

  str(): string {
    const a = this.int();
    const b = this.int();
    return utf8.decode(this.buf.subarray(a, b));
  }
}

/** Builds the next event of the tape and applies its effect on `state`, as the TS parser does. */
function readEvent(t: TapeReader, lsns: BigInt64Array, state: PgoutputState): PgoutputEvent {
  const kind = t.int();
  const lsn = lsns[t.int()];
  switch (kind) {
    case K_BEGIN:
      return { kind: 'begin', lsn, finalLsn: t.lsn(), commitTimeUs: t.time(), xid: t.uint() };
    case K_COMMIT:
      return { kind: 'commit', lsn, flags: t.int(), commitLsn: t.lsn(), endLsn: t.lsn(), commitTimeUs: t.time() };
    case K_ORIGIN:
      return { kind: 'origin', lsn, originLsn: t.lsn(), name: t.str() };
    case K_RELATION: {
      const xid = t.uint();
      const oid = t.uint();
      const namespace = t.str();
      const name = t.str();
      const replicaIdentity = String.fromCharCode(t.int());
      const ncols = t.int();
      const columns: PgoutputRelationColumn[] = [];
      for (let c = 0; c < ncols; c++) columns.push({ flags: t.int(), name: t.str(), typeOid: t.uint(), typmod: t.int() });
      const relation: PgoutputRelation = { oid, namespace, name, replicaIdentity, columns };
      state.relations.set(oid, relation);
      return { kind: 'relation', lsn, xid, relation };
    }
    case K_TYPE:
      return { kind: 'type', lsn, xid: t.uint(), typeOid: t.uint(), namespace: t.str(), name: t.str() };
    case K_TRUNCATE: {
      const xid = t.uint();
      const nrels = t.uint();
      const options = t.int();
      const relationOids: number[] = new Array(nrels);
      for (let k = 0; k < nrels; k++) relationOids[k] = t.uint();
      return { kind: 'truncate', lsn, xid, cascade: (options & 1) !== 0, restartIdentity: (options & 2) !== 0, relationOids };
    }
    case K_MESSAGE: {
      const xid = t.uint();
      const flags = t.int();
      const messageLsn = t.lsn();
      const prefix = t.str();
      const start = t.int();
      const len = t.int();
      // A copy, so the event does not pin the input chunk (as WireReader.bytes).
      const content = new Uint8Array(len);
      content.set(t.buf.subarray(start, start + len));
      return { kind: 'message', lsn, xid, transactional: (flags & 1) !== 0, messageLsn, prefix, content };
    }
    case K_STREAM_START: {
      const event: PgoutputEvent = { kind: 'streamStart', lsn, xid: t.uint(), firstSegment: t.int() === 1 };
      state.inStream = true;
      return event;
    }
    case K_STREAM_STOP:
      state.inStream = false;
      return { kind: 'streamStop', lsn };
    case K_STREAM_COMMIT:
      return { kind: 'streamCommit', lsn, xid: t.uint(), flags: t.int(), commitLsn: t.lsn(), endLsn: t.lsn(), commitTimeUs: t.time() };
    case K_STREAM_ABORT: {
      const xid = t.uint();
      const subXid = t.uint();
      const parallel = t.int() === 1;
      return { kind: 'streamAbort', lsn, xid, subXid, abortLsn: parallel ? t.lsn() : null, abortTimeUs: parallel ? t.time() : null };
    }
    case K_BEGIN_PREPARE:
      return { kind: 'beginPrepare', lsn, prepareLsn: t.lsn(), endLsn: t.lsn(), prepareTimeUs: t.time(), xid: t.uint(), gid: t.str() };
    case K_PREPARE:
      return { kind: 'prepare', lsn, flags: t.int(), prepareLsn: t.lsn(), endLsn: t.lsn(), prepareTimeUs: t.time(), xid: t.uint(), gid: t.str() };
    case K_COMMIT_PREPARED:
      return { kind: 'commitPrepared', lsn, flags: t.int(), commitLsn: t.lsn(), endLsn: t.lsn(), commitTimeUs: t.time(), xid: t.uint(), gid: t.str() };
    case K_ROLLBACK_PREPARED:
      return {
        kind: 'rollbackPrepared',
        lsn,
        flags: t.int(),
        prepareEndLsn: t.lsn(),
        rollbackEndLsn: t.lsn(),
        prepareTimeUs: t.time(),
        rollbackTimeUs: t.time(),
        xid: t.uint(),
        gid: t.str(),
      };
    case K_STREAM_PREPARE:
      return { kind: 'streamPrepare', lsn, flags: t.int(), prepareLsn: t.lsn(), endLsn: t.lsn(), prepareTimeUs: t.time(), xid: t.uint(), gid: t.str() };
    default:
      throw new CodecError(`pgoutput: native tape has unknown event kind ${kind} at slot ${t.k - 2}`, 0);
  }
}

function readTuples(ab: ArrayBuffer, base: number, d: Float64Array, at: number, rows: number, ncols: number): TupleColumns {
  const columns: TupleColumn[] = new Array(ncols);
  for (let c = 0; c < ncols; c++) {
    const s = at + 4 * c;
    columns[c] = {
      kinds: new Uint8Array(ab, base + d[s], rows),
      offsets: new Int32Array(ab, base + d[s + 1], rows + 1),
      data: new Uint8Array(ab, base + d[s + 2], d[s + 3]),
    };
  }
  return { rowCount: rows, columns };
}

/** Change sets from the descriptors after the tape (offsets relative to the buffer start). */
function readSets(out: Uint8Array, tapeSlots: number, sets: number): PgoutputChangeSet[] {
  const changes: PgoutputChangeSet[] = new Array(sets);
  if (sets === 0) return changes;
  const ab = out.buffer as ArrayBuffer;
  const base = out.byteOffset;
  const d = new Float64Array(ab, base + tapeSlots * 8, Math.floor((out.byteLength - tapeSlots * 8) / 8));
  let s = 0;
  for (let k = 0; k < sets; k++) {
    const rows = d[s + 2];
    const ncols = d[s + 3];
    const hasOld = d[s + 4] === 1;
    const cols = s + SET_HEADER_SLOTS;
    changes[k] = {
      relationOid: d[s],
      eventIndex: d[s + 1],
      rowCount: rows,
      ops: new Uint8Array(ab, base + d[s + 5], rows),
      lsns: new BigInt64Array(ab, base + d[s + 6], rows),
      xids: new Uint32Array(ab, base + d[s + 7], rows),
      newTuples: readTuples(ab, base, d, cols, rows, ncols),
      oldTuples: hasOld ? readTuples(ab, base, d, cols + 4 * ncols, rows, ncols) : null,
      oldKind: new Uint8Array(ab, base + d[s + 8], rows),
    };
    s = cols + 4 * ncols * (hasOld ? 2 : 1);
  }
  return changes;
}

/** `Codecs.pgoutputDecode` over the addon; `rethrow` maps native errors to CodecError. */
export function adaptPgoutput(addon: NativePgoutput, rethrow: (err: unknown) => never): PgoutputDecodeFn {
  // Per-thread scratch: tapeSlots, events, sets, inStream, failed, errorOffset.
  const scratch = new Float64Array(6);
  return (buf, offsets, lsns, protoVersion, state) => {
    if (!Number.isInteger(protoVersion) || protoVersion < 1 || protoVersion > 4) {
      throw new CodecError(`pgoutput: protocol version ${protoVersion}, expected 1-4`, 0);
    }
    let result: Uint8Array | [Uint8Array, string];
    try {
      result = addon.pgoutputDecode(buf, offsets, lsns, state.inStream, scratch);
    } catch (err) {
      rethrow(err);
    }
    const failed = scratch[4] === 1;
    const out = Array.isArray(result) ? result[0] : result;
    const tapeSlots = scratch[0];
    const nEvents = scratch[1];
    const events: PgoutputEvent[] = new Array(nEvents);
    const tape = new TapeReader(out.buffer as ArrayBuffer, out.byteOffset, tapeSlots, buf);
    if (failed) {
      // Apply the state effects of the events parsed before the error, then fail like the TS parser.
      while (tape.k < tapeSlots) readEvent(tape, lsns, state);
      throw new CodecError(Array.isArray(result) ? result[1] : 'pgoutput: native parser failed', scratch[5]);
    }
    for (let e = 0; e < nEvents; e++) events[e] = readEvent(tape, lsns, state);
    return { events, changes: readSets(out, tapeSlots, scratch[2]) };
  };
}
