/**
 * pgoutput parser (PostgreSQL docs, "Logical Replication Message Formats"), protocol versions 1-4.
 * Integers are big-endian; str = NUL-terminated; [xid] = u32 xid, present only inside a streamed
 * block (between Stream Start and Stream Stop, tracked in `PgoutputState.inStream`).
 *
 *   BEGIN             'B' u64 finalLsn  i64 commitTime  u32 xid
 *   COMMIT            'C' u8 flags  u64 commitLsn  u64 endLsn  i64 commitTime
 *   ORIGIN            'O' u64 originCommitLsn  str name
 *   RELATION          'R' [xid] u32 relOid  str namespace  str name  u8 replIdent  i16 ncols  COLUMN[ncols]
 *     COLUMN          u8 flags (1 = key)  str name  u32 typeOid  i32 typmod
 *   TYPE              'Y' [xid] u32 typeOid  str namespace  str name
 *   INSERT            'I' [xid] u32 relOid  'N' TUPLE
 *   UPDATE            'U' [xid] u32 relOid  [('K' | 'O') TUPLE]  'N' TUPLE
 *   DELETE            'D' [xid] u32 relOid  ('K' | 'O') TUPLE
 *   TRUNCATE          'T' [xid] u32 nrels  u8 options (1 cascade, 2 restart identity)  u32 relOid[nrels]
 *   MESSAGE           'M' [xid] u8 flags (1 transactional)  u64 lsn  str prefix  u32 len  byte[len]
 *   STREAM START      'S' u32 xid  u8 firstSegment                                          (v2+)
 *   STREAM STOP       'E'                                                                   (v2+)
 *   STREAM COMMIT     'c' u32 xid  u8 flags  u64 commitLsn  u64 endLsn  i64 commitTime       (v2+)
 *   STREAM ABORT      'A' u32 xid  u32 subXid  [u64 abortLsn  i64 abortTime]  (v2+; the bracket only in v4 with streaming = parallel)
 *   BEGIN PREPARE     'b' u64 prepareLsn  u64 endLsn  i64 prepareTime  u32 xid  str gid     (v3+)
 *   PREPARE           'P' u8 flags  u64 prepareLsn  u64 endLsn  i64 prepareTime  u32 xid  str gid   (v3+)
 *   COMMIT PREPARED   'K' u8 flags  u64 commitLsn  u64 endLsn  i64 commitTime  u32 xid  str gid     (v3+)
 *   ROLLBACK PREPARED 'r' u8 flags  u64 prepareEndLsn  u64 rollbackEndLsn  i64 prepareTime  i64 rollbackTime  u32 xid  str gid (v3+)
 *   STREAM PREPARE    'p' u8 flags  u64 prepareLsn  u64 endLsn  i64 prepareTime  u32 xid  str gid   (v3+)
 *   TUPLE             i16 ncols  VALUE[ncols]
 *     VALUE           'n' (null) | 'u' (unchanged TOAST) | 't' i32 len byte[len] | 'b' i32 len byte[len]
 *
 * `protoVersion` must be 1-4 but does not gate messages: no layout depends on it (Stream Abort's
 * optional fields are recognised by the message length). A message must be consumed exactly.
 *
 * Two passes, like the COPY decoder: pass 1 validates every message, emits the events, updates the
 * relation cache and sizes each change set; pass 2 copies tuple values into arrays allocated at
 * their exact size, without checks.
 */
import { CodecError, type PgoutputState } from '../codec-api.js';
import type { PgoutputBatch, PgoutputChangeSet, PgoutputEvent, PgoutputRelationColumn, TupleColumn, TupleColumns } from '../pgoutput-types.js';
import { copyBytes, int16At, int32At, plain, tagName, WireReader } from './reader.js';

const T_NEW = 0x4e; // 'N'
const T_KEY = 0x4b; // 'K'
const T_OLD = 0x4f; // 'O'
const V_NULL = 0x6e; // 'n'
const V_UNCHANGED = 0x75; // 'u'
const V_TEXT = 0x74; // 't'
const V_BINARY = 0x62; // 'b'
const OP_INSERT = 0x49; // 'I'
const OP_UPDATE = 0x55; // 'U'
const OP_DELETE = 0x44; // 'D'

/** Pass-1 sizing of one change set. */
interface SetPlan {
  relationOid: number;
  ncols: number;
  eventIndex: number;
  rows: number;
  newBytes: Float64Array;
  oldBytes: Float64Array;
  hasOld: boolean;
}

const reader = new WireReader('pgoutput');

/**
 * Parses messages buf[offsets[i], offsets[i+1]) with XLogData start LSNs `lsns[i]`. Relation
 * messages update `state.relations`; Stream Start/Stop set `state.inStream`. On a CodecError the
 * state reflects the messages before the failing one.
 *
 * @example
 *   const state = newPgoutputState();
 *   const batch = pgoutputDecode(buf, offsets, lsns, 4, state);
 *   forEachInOrder(batch, onEvent, onChangeSet);
 */
export function pgoutputDecode(buf: Uint8Array, offsets: Int32Array, lsns: BigInt64Array, protoVersion: number, state: PgoutputState): PgoutputBatch {
  if (!Number.isInteger(protoVersion) || protoVersion < 1 || protoVersion > 4) {
    throw new CodecError(`pgoutput: protocol version ${protoVersion}, expected 1-4`, 0);
  }
  const n = offsets.length - 1;
  if (n < 0) throw new CodecError('pgoutput: offsets is empty, expected n + 1 entries', 0);
  if (lsns.length < n) throw new CodecError(`pgoutput: ${lsns.length} lsns for ${n} messages`, 0);
  for (let i = 0; i < n; i++) {
    const a = offsets[i];
    const b = offsets[i + 1];
    if (a < 0 || b <= a || b > buf.length) {
      throw new CodecError(`pgoutput: message ${i} has range [${a}, ${b}), expected a non-empty range inside ${buf.length} bytes`, a);
    }
  }

  buf = plain(buf);
  const events: PgoutputEvent[] = [];
  const plans: SetPlan[] = [];
  const msgSet = new Int32Array(n).fill(-1);
  const msgBody = new Int32Array(n);
  const msgXid = new Uint32Array(n);
  const r = reader;
  try {
    for (let i = 0; i < n; i++) {
      r.setBuffer(buf, offsets[i], offsets[i + 1]);
      const tag = r.u8();
      r.tag = tag;
      if (tag === OP_INSERT || tag === OP_UPDATE || tag === OP_DELETE) {
        planChange(r, tag, i, state.inStream, events.length, plans, msgSet, msgBody, msgXid);
      } else {
        events.push(decodeEvent(r, tag, lsns[i], state));
      }
      r.expectEnd();
    }
  } finally {
    r.release();
  }

  const changes: PgoutputChangeSet[] = plans.map(allocateSet);
  const cursor = new Int32Array(plans.length);
  for (let i = 0; i < n; i++) {
    const s = msgSet[i];
    if (s < 0) continue;
    const set = changes[s];
    const row = cursor[s]++;
    const op = buf[offsets[i]];
    set.ops[row] = op;
    set.lsns[row] = lsns[i];
    set.xids[row] = msgXid[i];
    let p = msgBody[i];
    let m = buf[p++];
    if (m === T_KEY || m === T_OLD) {
      set.oldKind[row] = m;
      p = fillTuple(buf, p, set.oldTuples as TupleColumns, row);
      m = op === OP_DELETE ? 0 : buf[p++];
    } else if (set.oldTuples) {
      fillAbsent(set.oldTuples, row);
    }
    if (m === T_NEW) fillTuple(buf, p, set.newTuples, row);
    else fillAbsent(set.newTuples, row);
  }
  return { events, changes };
}

function planChange(
  r: WireReader,
  op: number,
  i: number,
  inStream: boolean,
  eventIndex: number,
  plans: SetPlan[],
  msgSet: Int32Array,
  msgBody: Int32Array,
  msgXid: Uint32Array,
): void {
  msgXid[i] = inStream ? r.u32() : 0;
  const relationOid = r.u32();
  msgBody[i] = r.pos;
  let marker = r.u8();
  let plan: SetPlan | undefined;
  const expectNew = op !== OP_DELETE;
  if (marker === T_KEY || marker === T_OLD) {
    if (op === OP_INSERT) r.fail(`expected 'N' at offset ${r.pos - 1}, found ${tagName(marker)}`, r.pos - 1);
    plan = planFor(plans, relationOid, r.i16(), eventIndex, r);
    plan.hasOld = true;
    scanValues(r, plan.ncols, plan.oldBytes);
    if (expectNew) marker = r.u8();
  } else if (op === OP_DELETE) {
    r.fail(`expected 'K' or 'O' at offset ${r.pos - 1}, found ${tagName(marker)}`, r.pos - 1);
  }
  if (expectNew) {
    if (marker !== T_NEW) r.fail(`expected 'N' at offset ${r.pos - 1}, found ${tagName(marker)}`, r.pos - 1);
    const at = r.pos;
    const ncols = r.i16();
    if (plan && ncols !== plan.ncols) r.fail(`new tuple at offset ${at} has ${ncols} columns, old tuple has ${plan.ncols}`, at);
    plan ??= planFor(plans, relationOid, ncols, eventIndex, r);
    scanValues(r, ncols, plan.newBytes);
  }
  const planIndex = plans.length - 1; // planFor always leaves the current set last
  plans[planIndex].rows++;
  msgSet[i] = planIndex;
}

/** The open set when this change continues it (same relation and width, no event between). */
function planFor(plans: SetPlan[], relationOid: number, ncols: number, eventIndex: number, r: WireReader): SetPlan {
  if (ncols < 0) r.fail(`tuple at offset ${r.pos - 2} has ${ncols} columns, expected >= 0`, r.pos - 2);
  const last = plans.length > 0 ? plans[plans.length - 1] : undefined;
  if (last && last.eventIndex === eventIndex && last.relationOid === relationOid && last.ncols === ncols) return last;
  const plan: SetPlan = { relationOid, ncols, eventIndex, rows: 0, newBytes: new Float64Array(ncols), oldBytes: new Float64Array(ncols), hasOld: false };
  plans.push(plan);
  return plan;
}

function scanValues(r: WireReader, ncols: number, bytes: Float64Array): void {
  for (let c = 0; c < ncols; c++) {
    const kind = r.u8();
    if (kind === V_TEXT || kind === V_BINARY) {
      const len = r.i32();
      if (len < 0) r.fail(`column ${c} value length ${len} at offset ${r.pos - 4}, expected >= 0`, r.pos - 4);
      r.need(len);
      r.pos += len;
      bytes[c] += len;
    } else if (kind !== V_NULL && kind !== V_UNCHANGED) {
      r.fail(`column ${c} has value kind 0x${kind.toString(16)} at offset ${r.pos - 1}, expected 'n', 'u', 't' or 'b'`, r.pos - 1);
    }
  }
}

function allocateTuples(rows: number, bytes: Float64Array): TupleColumns {
  const columns: TupleColumn[] = new Array(bytes.length);
  for (let c = 0; c < bytes.length; c++) {
    if (bytes[c] > 0x7fffffff) throw new CodecError(`pgoutput: column ${c} holds ${bytes[c]} bytes, more than one batch can (2 GiB)`, 0);
    columns[c] = { kinds: new Uint8Array(rows), offsets: new Int32Array(rows + 1), data: new Uint8Array(bytes[c]) };
  }
  return { rowCount: rows, columns };
}

function allocateSet(plan: SetPlan): PgoutputChangeSet {
  const rows = plan.rows;
  return {
    relationOid: plan.relationOid,
    eventIndex: plan.eventIndex,
    rowCount: rows,
    ops: new Uint8Array(rows),
    lsns: new BigInt64Array(rows),
    xids: new Uint32Array(rows),
    newTuples: allocateTuples(rows, plan.newBytes),
    oldTuples: plan.hasOld ? allocateTuples(rows, plan.oldBytes) : null,
    oldKind: new Uint8Array(rows),
  };
}

/** Copies one validated tuple at `p` (its i16 ncols) into row `row`; returns the offset after it. */
function fillTuple(buf: Uint8Array, p: number, tuples: TupleColumns, row: number): number {
  const ncols = int16At(buf, p);
  p += 2;
  const columns = tuples.columns;
  for (let c = 0; c < ncols; c++) {
    const col = columns[c];
    const kind = buf[p++];
    col.kinds[row] = kind;
    const at = col.offsets[row];
    if (kind === V_TEXT || kind === V_BINARY) {
      const len = int32At(buf, p);
      p += 4;
      copyBytes(buf, p, len, col.data, at);
      p += len;
      col.offsets[row + 1] = at + len;
    } else {
      col.offsets[row + 1] = at;
    }
  }
  return p;
}

function fillAbsent(tuples: TupleColumns, row: number): void {
  const columns = tuples.columns;
  for (let c = 0; c < columns.length; c++) columns[c].offsets[row + 1] = columns[c].offsets[row];
}

function decodeEvent(r: WireReader, tag: number, lsn: bigint, state: PgoutputState): PgoutputEvent {
  const streamXid = (): number => (state.inStream ? r.u32() : 0);
  switch (tag) {
    case 0x42: // 'B'
      return { kind: 'begin', lsn, finalLsn: r.u64(), commitTimeUs: r.i64(), xid: r.u32() };
    case 0x43: // 'C'
      return { kind: 'commit', lsn, flags: r.u8(), commitLsn: r.u64(), endLsn: r.u64(), commitTimeUs: r.i64() };
    case 0x4f: // 'O'
      return { kind: 'origin', lsn, originLsn: r.u64(), name: r.cstring() };
    case 0x52: {
      // 'R'
      const xid = streamXid();
      const oid = r.u32();
      const namespace = r.cstring();
      const name = r.cstring();
      const replicaIdentity = String.fromCharCode(r.u8());
      const ncols = r.i16();
      if (ncols < 0) r.fail(`relation has ${ncols} columns at offset ${r.pos - 2}, expected >= 0`, r.pos - 2);
      const columns: PgoutputRelationColumn[] = [];
      for (let c = 0; c < ncols; c++) columns.push({ flags: r.u8(), name: r.cstring(), typeOid: r.u32(), typmod: r.i32() });
      const relation = { oid, namespace, name, replicaIdentity, columns };
      state.relations.set(oid, relation);
      return { kind: 'relation', lsn, xid, relation };
    }
    case 0x59: // 'Y'
      return { kind: 'type', lsn, xid: streamXid(), typeOid: r.u32(), namespace: r.cstring(), name: r.cstring() };
    case 0x54: {
      // 'T'
      const xid = streamXid();
      const nrels = r.u32();
      const options = r.u8();
      r.need(nrels * 4); // before allocating: a corrupt count must not allocate gigabytes
      const relationOids: number[] = new Array(nrels);
      for (let k = 0; k < nrels; k++) relationOids[k] = r.u32();
      return { kind: 'truncate', lsn, xid, cascade: (options & 1) !== 0, restartIdentity: (options & 2) !== 0, relationOids };
    }
    case 0x4d: {
      // 'M'
      const xid = streamXid();
      const flags = r.u8();
      const messageLsn = r.u64();
      const prefix = r.cstring();
      const len = r.i32();
      if (len < 0) r.fail(`message content length ${len} at offset ${r.pos - 4}, expected >= 0`, r.pos - 4);
      return { kind: 'message', lsn, xid, transactional: (flags & 1) !== 0, messageLsn, prefix, content: r.bytes(len) };
    }
    case 0x53: {
      // 'S'
      const event: PgoutputEvent = { kind: 'streamStart', lsn, xid: r.u32(), firstSegment: r.u8() === 1 };
      state.inStream = true;
      return event;
    }
    case 0x45: // 'E'
      state.inStream = false;
      return { kind: 'streamStop', lsn };
    case 0x63: // 'c'
      return { kind: 'streamCommit', lsn, xid: r.u32(), flags: r.u8(), commitLsn: r.u64(), endLsn: r.u64(), commitTimeUs: r.i64() };
    case 0x41: {
      // 'A'
      const xid = r.u32();
      const subXid = r.u32();
      const parallel = r.remaining() === 16;
      return { kind: 'streamAbort', lsn, xid, subXid, abortLsn: parallel ? r.u64() : null, abortTimeUs: parallel ? r.i64() : null };
    }
    case 0x62: // 'b'
      return { kind: 'beginPrepare', lsn, prepareLsn: r.u64(), endLsn: r.u64(), prepareTimeUs: r.i64(), xid: r.u32(), gid: r.cstring() };
    case 0x50: // 'P'
      return { kind: 'prepare', lsn, flags: r.u8(), prepareLsn: r.u64(), endLsn: r.u64(), prepareTimeUs: r.i64(), xid: r.u32(), gid: r.cstring() };
    case 0x4b: // 'K'
      return { kind: 'commitPrepared', lsn, flags: r.u8(), commitLsn: r.u64(), endLsn: r.u64(), commitTimeUs: r.i64(), xid: r.u32(), gid: r.cstring() };
    case 0x72: // 'r'
      return {
        kind: 'rollbackPrepared',
        lsn,
        flags: r.u8(),
        prepareEndLsn: r.u64(),
        rollbackEndLsn: r.u64(),
        prepareTimeUs: r.i64(),
        rollbackTimeUs: r.i64(),
        xid: r.u32(),
        gid: r.cstring(),
      };
    case 0x70: // 'p'
      return { kind: 'streamPrepare', lsn, flags: r.u8(), prepareLsn: r.u64(), endLsn: r.u64(), prepareTimeUs: r.i64(), xid: r.u32(), gid: r.cstring() };
    default:
      return r.fail(`unknown message tag at offset ${r.pos - 1}`, r.pos - 1);
  }
}
