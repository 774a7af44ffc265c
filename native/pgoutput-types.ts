/**
 * The output of `pgoutputDecode` (codec-api.ts): a compact, columnar view of a run of pgoutput
 * messages, produced identically by the TypeScript parser (`native/ts/pgoutput-decode.ts`) and
 * the Rust addon.
 *
 * Row changes (Insert/Update/Delete) are not one JS object per row: consecutive changes of one
 * relation are grouped into a `PgoutputChangeSet` made of flat typed arrays, one entry per change.
 * Everything else (Begin, Commit, Relation, ...) is a `PgoutputEvent` with a literal `kind`.
 *
 * Order: a change set with `eventIndex = k` comes after `events[k - 1]` and before `events[k]`;
 * change sets with the same `eventIndex` follow each other in array order. `forEachInOrder`
 * replays the exact message order. Within a set, rows are in message order.
 *
 * LSNs are bigint (never floats); timestamps are bigint microseconds since 2000-01-01 UTC
 * (PostgreSQL's epoch; `pgTimeToDate` converts). Strings (names, prefixes, GIDs) are decoded as
 * UTF-8, the server encoding rb requires.
 */

/** Per-value kind byte in `TupleColumn.kinds` (the pgoutput TupleData markers). */
export const TupleKind = {
  /** No tuple for this row (the new tuple of a Delete, the old tuple of an Insert). */
  absent: 0,
  null: 0x6e, // 'n'
  unchangedToast: 0x75, // 'u': the value did not change and was not sent
  text: 0x74, // 't'
  binary: 0x62, // 'b'
} as const;

/** `PgoutputChangeSet.ops` values: the message tag of the change. */
export const ChangeOp = { insert: 0x49, update: 0x55, delete: 0x44 } as const; // 'I' 'U' 'D'

/** `PgoutputChangeSet.oldKind` values: which old tuple the Update/Delete carried. */
export const OldTupleKind = { none: 0, key: 0x4b, full: 0x4f } as const; // 'K' (replica identity key) 'O' (full row)

/**
 * One column of a run of tuples, in `ColumnBatch` var layout: value i is
 * data[offsets[i], offsets[i+1]) (empty unless kinds[i] is 't' or 'b').
 */
export interface TupleColumn {
  kinds: Uint8Array;
  offsets: Int32Array;
  data: Uint8Array;
}

export interface TupleColumns {
  rowCount: number;
  columns: TupleColumn[];
}

export interface PgoutputChangeSet {
  relationOid: number;
  /** Index into `PgoutputBatch.events` of the first event that follows this set. */
  eventIndex: number;
  rowCount: number;
  /** 'I' | 'U' | 'D' char codes (`ChangeOp`). */
  ops: Uint8Array;
  /** XLogData start LSN of each change's message. */
  lsns: BigInt64Array;
  /**
   * Transaction id of each change inside a streamed block (Stream Start..Stop), else 0. It is the
   * id of the (sub)transaction that made the change: a subtransaction's changes carry its own xid,
   * which a Stream Abort with that `subXid` discards.
   */
  xids: Uint32Array;
  /** Column values of the new tuple (kind 0 = absent, for deletes). */
  newTuples: TupleColumns;
  /** Column values of the old tuple, or null when no change of the set carries one. */
  oldTuples: TupleColumns | null;
  /** 'K' | 'O' | 0 per change (`OldTupleKind`). */
  oldKind: Uint8Array;
}

export interface PgoutputRelationColumn {
  /** 1 = part of the replica identity key. */
  flags: number;
  name: string;
  typeOid: number;
  typmod: number;
}

export interface PgoutputRelation {
  oid: number;
  /** '' means pg_catalog. */
  namespace: string;
  name: string;
  /** relreplident: 'd' default, 'n' nothing, 'f' full, 'i' index. */
  replicaIdentity: string;
  columns: PgoutputRelationColumn[];
}

/** Fields common to every event: the XLogData start LSN of its message. */
interface EventBase {
  lsn: bigint;
}

export type PgoutputEvent =
  | (EventBase & { kind: 'begin'; finalLsn: bigint; commitTimeUs: bigint; xid: number })
  | (EventBase & { kind: 'commit'; flags: number; commitLsn: bigint; endLsn: bigint; commitTimeUs: bigint })
  | (EventBase & { kind: 'origin'; originLsn: bigint; name: string })
  | (EventBase & { kind: 'relation'; xid: number; relation: PgoutputRelation })
  | (EventBase & { kind: 'type'; xid: number; typeOid: number; namespace: string; name: string })
  | (EventBase & { kind: 'truncate'; xid: number; cascade: boolean; restartIdentity: boolean; relationOids: number[] })
  | (EventBase & { kind: 'message'; xid: number; transactional: boolean; messageLsn: bigint; prefix: string; content: Uint8Array })
  | (EventBase & { kind: 'streamStart'; xid: number; firstSegment: boolean })
  | (EventBase & { kind: 'streamStop' })
  | (EventBase & { kind: 'streamCommit'; xid: number; flags: number; commitLsn: bigint; endLsn: bigint; commitTimeUs: bigint })
  /** abortLsn/abortTimeUs: only with protocol 4 and streaming = parallel, else null. */
  | (EventBase & { kind: 'streamAbort'; xid: number; subXid: number; abortLsn: bigint | null; abortTimeUs: bigint | null })
  | (EventBase & { kind: 'beginPrepare'; prepareLsn: bigint; endLsn: bigint; prepareTimeUs: bigint; xid: number; gid: string })
  | (EventBase & { kind: 'prepare'; flags: number; prepareLsn: bigint; endLsn: bigint; prepareTimeUs: bigint; xid: number; gid: string })
  | (EventBase & { kind: 'commitPrepared'; flags: number; commitLsn: bigint; endLsn: bigint; commitTimeUs: bigint; xid: number; gid: string })
  | (EventBase & {
      kind: 'rollbackPrepared';
      flags: number;
      prepareEndLsn: bigint;
      rollbackEndLsn: bigint;
      prepareTimeUs: bigint;
      rollbackTimeUs: bigint;
      xid: number;
      gid: string;
    })
  | (EventBase & { kind: 'streamPrepare'; flags: number; prepareLsn: bigint; endLsn: bigint; prepareTimeUs: bigint; xid: number; gid: string });

export type PgoutputEventKind = PgoutputEvent['kind'];

export interface PgoutputBatch {
  events: PgoutputEvent[];
  changes: PgoutputChangeSet[];
}

/**
 * Replays a batch in message order: events and change sets interleaved exactly as the messages
 * arrived.
 *
 * @example
 *   forEachInOrder(batch, (e) => log(e.kind), (set) => apply(set));
 */
export function forEachInOrder(batch: PgoutputBatch, onEvent: (event: PgoutputEvent, index: number) => void, onChanges: (set: PgoutputChangeSet) => void): void {
  let c = 0;
  for (let e = 0; e <= batch.events.length; e++) {
    while (c < batch.changes.length && batch.changes[c].eventIndex === e) onChanges(batch.changes[c++]);
    if (e < batch.events.length) onEvent(batch.events[e], e);
  }
}

/** PostgreSQL timestamps count microseconds from 2000-01-01 00:00:00 UTC. */
export const PG_EPOCH_UNIX_MS = 946_684_800_000;

export function pgTimeToDate(us: bigint): Date {
  return new Date(PG_EPOCH_UNIX_MS + Number(us / 1000n));
}
