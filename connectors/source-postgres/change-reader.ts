/**
 * Reading a logical replication slot (docs/design.md section 8): the change source of a CDC
 * catch-up or follow. Streams pgoutput (text values; protocol 2 with streaming where the server
 * has it, else 1) from `from`, decodes it (`codecs.pgoutputDecode`) and hands the row changes of
 * each transaction, in commit order, to `write` — the open destination transaction — in pieces
 * of about `groupChanges` changes, so a transaction of millions of rows is never held whole
 * (outside stream blocks the server sends a transaction only once it decoded its commit, so the
 * rest of a transaction in hand is always on its way). A transaction streamed while in progress
 * waits in a `StreamSpills` until its Stream Commit, then is decoded and written the same way
 * (docs/design.md section 8 "Streamed transactions").
 * A group of whole transactions is committed (`commit`, with their position) once it holds
 * about `groupChanges` changes, or — following — `groupMs` after it began, or when the stream
 * has nothing more for now. Only after `commit` resolved is the group's last Commit end LSN
 * confirmed to the server (the slot's flush position). When nothing is pending and no
 * transaction is open, a keepalive's WAL end is confirmed instead, so an idle slot keeps no WAL.
 *
 * A catch-up ends once the server has sent everything before `until`, a logical message the run
 * wrote at its start (its arrival, or a keepalive past it, with no transaction open: decoding runs
 * in WAL order, and XLogData arrive before the keepalive that follows them). A follow ends when
 * `signal` aborts (a catch-up stops on it too): the transaction in hand is read to its end, the
 * group committed and confirmed.
 * Transactions whose commit is before `skipThrough` (applied by an earlier run) are dropped: a
 * restart after a crash applies each transaction exactly once.
 */
import { codecs } from '../../native/index.js';
import { newPgoutputState, type PgoutputState } from '../../native/codec-api.js';
import { ChangeOp, forEachInOrder, OldTupleKind, pgTimeToDate, TupleKind, type PgoutputChangeSet, type PgoutputEvent, type PgoutputRelation, type TupleColumns } from '../../native/pgoutput-types.js';
import { UNCHANGED, type ChangeProgress, type ChangeReadOptions, type ChangeReadResult, type ChangeValue, type RowChange, type TransactionItem } from '../contract/changes.js';
import { RbError } from '../contract/errors.js';
import { endLostBackend, type PgEndpoint } from '../postgres/connection.js';
import { MARK_PREFIX } from './cdc-setup.js';
import { openReplicationConnection, type ReplicationStream, type XLogDataMessage } from './replication-stream.js';
import { StreamSpills } from './stream-spill.js';

export type { ChangeValue, RowChange, TransactionItem } from '../contract/changes.js';
export { UNCHANGED } from '../contract/changes.js';

/** pgoutput message tags of stream blocks (protocol 2+): Stream Start, Stream Stop, Stream Commit. */
const TAG_STREAM_START = 0x53; // 'S'
const TAG_STREAM_STOP = 0x45; // 'E'
const TAG_STREAM_COMMIT = 0x63; // 'c'

/** How often a caught-up reader asks the server for a keepalive (its WAL position). */
const POLL_MS = 100;
const PROGRESS_MS = 1000;
/** How often the source's WAL position is asked for (the lag). */
const POSITION_MS = 5000;
/** Overlap: destination jobs (pieces, commits) queued beyond the one running. */
const MAX_AHEAD = 2;

/** The source transaction being read (between its Begin and Commit). */
interface OpenTransaction {
  xid: number;
  /** Applied by an earlier run: its changes are dropped. */
  skip: boolean;
  changes: number;
}

/**
 * `sourcePosition`: the source's current WAL position (asked every few seconds for the lag; the
 * stream itself only tells how far the server has decoded).
 */
export async function readChanges(ep: PgEndpoint, opts: ChangeReadOptions, sourcePosition?: () => Promise<bigint>): Promise<ChangeReadResult> {
  const conn = await openReplicationConnection(ep, 'rb cdc');
  let stream: ReplicationStream | undefined;
  /** Writes and commits handed to the destination, in order; `inflight` of them not done yet. */
  let chain: Promise<void> = Promise.resolve();
  let inflight = 0;
  let failure: unknown = null;
  const result: ChangeReadResult = { transactions: 0, changes: 0, skipped: 0, confirmed: opts.from, largestTransaction: 0, streamedTransactions: 0, lagBytes: 0 };
  // Large transactions streamed while in progress where the server can (PostgreSQL 14+): they
  // wait in rb's spill instead of the source's pg_replslot directory.
  const streaming = opts.streaming !== false && conn.server.maxProtoVersion >= 2;
  const protoVersion = streaming ? 2 : 1;
  const spills = streaming ? new StreamSpills({ chunkMessages: opts.groupChanges }) : null;
  try {
    stream = await conn.startReplication(opts.slot, opts.from, { publications: opts.publications, protoVersion, binary: false, streaming, messages: true });
    const s: ReplicationStream = stream;
    const state = newPgoutputState();
    /** Inside a stream block: the top-level xid its Stream Start named. */
    let streamXid: number | null = null;
    let open: OpenTransaction | null = null;
    // Row changes not written yet, and the group: whole transactions in the destination's open
    // transaction (written or waiting), ending at `groupEnd`.
    let waiting: TransactionItem[] = [];
    let groupTxns = 0;
    let groupChanges = 0;
    let groupEnd = 0n;
    let groupStarted = 0;
    /** Changes of the group in hand (its transactions' and the open one's, written or waiting). */
    let sinceCommit = 0;
    let appliedCommitTime = 0;
    let walEnd = 0n;
    let marked = false;
    let caughtUp = false;
    let lastProgress = 0;

    // Overlap: up to MAX_AHEAD writes and commits queue on the destination connection (in order)
    // while the next changes are decoded; without it each is awaited before reading on.
    const maxAhead = opts.overlap ? MAX_AHEAD : 0;
    const run = async (job: () => Promise<void>) => {
      if (failure) throw failure;
      // Work arriving after a quiet spell shows in the lag before the first write, which may take long.
      progress(false);
      inflight++;
      // After a failed job nothing runs: a commit queued behind a failed write would store a
      // position past changes that were rolled back.
      const p = chain.then(() => (failure ? undefined : job()));
      chain = p.then(
        () => void inflight--,
        (e) => {
          inflight--;
          failure ??= e;
        },
      );
      if (inflight > maxAhead) await drain();
    };
    const drain = async () => {
      await chain;
      if (failure) throw failure;
    };
    const writeWaiting = async () => {
      if (!waiting.length) return;
      const items = waiting;
      waiting = [];
      await run(() => opts.write(items));
    };
    let serverPos = 0n;
    let askedPos = 0;
    const askPosition = () => {
      if (!sourcePosition || performance.now() - askedPos < POSITION_MS) return;
      askedPos = performance.now();
      sourcePosition().then(
        (p) => void (p > serverPos && (serverPos = p)),
        () => {},
      );
    };
    /**
     * The furthest commit rb has seen (a Begin names its commit's position): the source's WAL
     * reaches at least this far. Without it the lag read 0 while a large transaction was applied,
     * since the stream's own positions may already be past the transaction's changes.
     */
    let seenEnd = 0n;
    const seen = (lsn: bigint) => void (lsn > seenEnd && (seenEnd = lsn));
    const lag = (): ChangeProgress => {
      let end = s.lastWalEnd > result.confirmed ? s.lastWalEnd : result.confirmed;
      if (serverPos > end) end = serverPos;
      if (seenEnd > end) end = seenEnd;
      const idle = caughtUp && !open && !groupTxns && !waiting.length;
      return {
        transactions: result.transactions,
        changes: result.changes,
        confirmed: result.confirmed,
        lagBytes: idle ? 0 : Number(end - result.confirmed),
        lagSeconds: idle || !appliedCommitTime ? 0 : Math.max(0, (Date.now() - appliedCommitTime) / 1000),
      };
    };
    let reportedLag = 0;
    /** At most every PROGRESS_MS unless forced, and at once when the lag leaves 0 (work arrived). */
    const progress = (force: boolean) => {
      if (!opts.onProgress) return;
      const now = performance.now();
      const due = force || now - lastProgress >= PROGRESS_MS;
      if (!due && reportedLag !== 0) return;
      const p = lag();
      if (!due && p.lagBytes === 0) return;
      lastProgress = now;
      reportedLag = p.lagBytes;
      opts.onProgress(p);
    };
    /** Groups that reached `groupChanges` at a commit in the batch being read, to commit after it. */
    const full: Array<{ items: TransactionItem[]; end: bigint; txns: number; changes: number }> = [];
    const commitWritten = (end: bigint, txns: number, changes: number) =>
      run(async () => {
        await opts.commit(end);
        result.transactions += txns;
        result.changes += changes;
        if (end > result.confirmed) result.confirmed = end;
        s.sendStatus({ flushed: result.confirmed });
        progress(true);
      });
    /** Commits the group in hand (no transaction open). */
    const commitGroup = async () => {
      if (!groupTxns) return;
      await writeWaiting();
      const [end, txns, changes] = [groupEnd, groupTxns, groupChanges];
      groupTxns = 0;
      groupChanges = 0;
      sinceCommit = 0;
      await commitWritten(end, txns, changes);
    };

    /** The commit of the transaction in hand: it joins the group, or is dropped (skipped, nothing of ours). */
    const closeTransaction = (t: OpenTransaction, endLsn: bigint, commitTimeUs: bigint) => {
      if (t.changes > result.largestTransaction) result.largestTransaction = t.changes;
      if (t.skip) result.skipped++;
      else if (t.changes) {
        if (!groupTxns) groupStarted = performance.now();
        groupTxns++;
        groupChanges += t.changes;
        groupEnd = endLsn;
        appliedCommitTime = pgTimeToDate(commitTimeUs).getTime();
        if (sinceCommit >= opts.groupChanges) {
          // A full group ends here, at this transaction's commit; what follows starts the next.
          full.push({ items: waiting, end: groupEnd, txns: groupTxns, changes: groupChanges });
          waiting = [];
          groupTxns = 0;
          groupChanges = 0;
          sinceCommit = 0;
        }
      } else if (endLsn > result.confirmed && !groupTxns && !waiting.length && !full.length && !inflight) {
        // Nothing of ours in it (another table's transaction) and nothing before it still to
        // apply — a full group of this batch waits in `full` — so its end may be confirmed.
        result.confirmed = endLsn;
      }
    };
    /** Full groups (each ended at a commit) are written and committed, in order. */
    const flushFull = async () => {
      for (const g of full.splice(0)) {
        if (g.items.length) await run(() => opts.write(g.items));
        await commitWritten(g.end, g.txns, g.changes);
      }
    };
    const onTruncate = (e: Extract<PgoutputEvent, { kind: 'truncate' }>) => {
      if (!open) throw new RbError('internal', 'pgoutput: Truncate outside a transaction');
      if (open.skip) return;
      waiting.push({ kind: 'truncate', relations: e.relationOids.map((oid) => relationOf(state.relations, oid)), cascade: e.cascade });
      open.changes++;
      sinceCommit++;
    };
    const onChanges = (set: PgoutputChangeSet, keep?: (i: number) => boolean) => {
      if (!open) throw new RbError('internal', 'pgoutput: a row change outside a transaction');
      if (open.skip) return;
      const relation = relationOf(state.relations, set.relationOid);
      const before = waiting.length;
      for (const c of rowChanges(set, relation, keep)) waiting.push(c);
      open.changes += waiting.length - before;
      sinceCommit += waiting.length - before;
    };
    /** Decodes messages sent outside stream blocks; a segment ends with at most one Stream Commit, replayed after it. */
    const decodeSegment = async (msgs: XLogDataMessage[]) => {
      const total = msgs.reduce((a, m) => a + m.payload.length, 0);
      const buf = Buffer.allocUnsafe(total);
      const offsets = new Int32Array(msgs.length + 1);
      const lsns = new BigInt64Array(msgs.length);
      let at = 0;
      msgs.forEach((m, i) => {
        offsets[i] = at;
        m.payload.copy(buf, at);
        at += m.payload.length;
        lsns[i] = BigInt.asIntN(64, m.walStart);
      });
      offsets[msgs.length] = at;
      const batch = codecs.pgoutputDecode(buf, offsets, lsns, protoVersion, state);
      let committed: Extract<PgoutputEvent, { kind: 'streamCommit' }> | null = null;
      forEachInOrder(
        batch,
        (e) => {
          if (e.kind === 'begin') {
            if (open) throw new RbError('internal', `pgoutput: Begin of xid ${e.xid} inside transaction ${open.xid}`);
            // finalLsn is the commit record's position: one before the stored end was applied.
            open = { xid: e.xid, skip: e.finalLsn < opts.skipThrough, changes: 0 };
            if (!open.skip) seen(e.finalLsn);
          } else if (e.kind === 'commit') {
            if (!open) throw new RbError('internal', 'pgoutput: Commit outside a transaction');
            closeTransaction(open, e.endLsn, e.commitTimeUs);
            open = null;
          } else if (e.kind === 'message') {
            if (opts.until && !e.transactional && e.prefix === MARK_PREFIX && Buffer.from(e.content).toString('utf8') === opts.until.content) marked = true;
          } else if (e.kind === 'truncate') onTruncate(e);
          else if (e.kind === 'streamAbort') spills?.abort(e.xid, e.subXid);
          else if (e.kind === 'streamCommit') {
            committed = e;
            if (e.commitLsn >= opts.skipThrough) seen(e.commitLsn);
          }
        },
        (set) => onChanges(set),
      );
      if (committed) await replayStreamed(committed);
    };
    /**
     * A streamed transaction committed: its messages are decoded and written like a transaction
     * sent whole (in pieces), without the changes of its aborted subtransactions.
     */
    const replayStreamed = async (e: Extract<PgoutputEvent, { kind: 'streamCommit' }>) => {
      if (open) throw new RbError('internal', `pgoutput: Stream Commit of xid ${e.xid} inside transaction ${open.xid}`);
      // What the segment's commits completed goes first: the replay's pieces come after it.
      await flushFull();
      const t = spills?.take(e.xid);
      const txn: OpenTransaction = { xid: e.xid, skip: e.commitLsn < opts.skipThrough, changes: 0 };
      open = txn;
      try {
        if (t && !txn.skip) {
          const aborted = t.aborted;
          const keep = aborted.size ? (set: PgoutputChangeSet) => (i: number) => !aborted.has(set.xids[i]) : null;
          // The stream's messages carry their xid; its Relation messages update the one relation cache.
          const replayState: PgoutputState = { relations: state.relations, inStream: true };
          for (const chunk of t.chunks()) {
            forEachInOrder(
              codecs.pgoutputDecode(chunk.buf, chunk.offsets, chunk.lsns, protoVersion, replayState),
              (ev) => {
                if (ev.kind === 'truncate' && !aborted.has(ev.xid)) onTruncate(ev);
              },
              (set) => onChanges(set, keep?.(set)),
            );
            if (waiting.length >= opts.groupChanges) await writeWaiting();
          }
        }
        if (t) result.streamedTransactions++;
      } finally {
        t?.dispose();
      }
      open = null;
      closeTransaction(txn, e.endLsn, e.commitTimeUs);
      await flushFull();
    };

    s.sendStatus({ flushed: opts.from, replyRequested: true });
    let lastAsk = performance.now();
    for (;;) {
      const messages = await s.read(4096, POLL_MS);
      if (failure) throw failure; // a write or commit failed: nothing after it may be confirmed
      if (!messages.length && s.ended) throw s.failure ?? new RbError('source_query', `replication of slot ${opts.slot} ended before ${opts.until ? "the run's end mark" : 'rb stopped'}`);
      const data = messages.filter((m): m is XLogDataMessage => m.kind === 'xlogdata');
      for (const m of messages) if (m.kind === 'keepalive' && m.walEnd > walEnd) walEnd = m.walEnd;
      caughtUp = !data.length;
      // Stream blocks (Stream Start .. Stop) go to their transaction's spill; the rest is decoded
      // in segments, each ending at a Stream Commit, whose transaction is then replayed in place.
      let segment: typeof data = [];
      for (const m of data) {
        const tag = m.payload[0];
        if (streamXid !== null) {
          if (tag === TAG_STREAM_STOP) streamXid = null;
          else {
            spills!.add(streamXid, m.payload, m.walStart);
            seen(m.walStart);
          }
          continue;
        }
        // Stream Start: 'S', the top-level xid (int32), first-segment flag (int8).
        if (tag === TAG_STREAM_START && spills) {
          streamXid = m.payload.readUInt32BE(1);
          // A later segment of a transaction whose first one rb did not see would replay only
          // its tail: never expected (a new stream sends each transaction from its start), so
          // an error rather than a silent loss.
          if (m.payload[5] === 1) spills.begin(streamXid);
          else if (!spills.has(streamXid)) throw new RbError('internal', `pgoutput: a stream block of transaction ${streamXid} arrived without its first segment`);
          continue;
        }
        segment.push(m);
        if (tag === TAG_STREAM_COMMIT) {
          await decodeSegment(segment);
          segment = [];
        }
      }
      if (segment.length) await decodeSegment(segment);
      // Full groups (each ended at a commit) go first, then — inside a large transaction — a piece
      // of the next group goes into the open destination transaction, so memory stays bounded.
      await flushFull();
      if (waiting.length >= opts.groupChanges) await writeWaiting();
      // A catch-up also stops on the signal (cancelled), after the transaction in hand.
      const reached = !!opts.until && (marked || walEnd > opts.until.lsn);
      const stopping = reached || opts.signal?.aborted === true;
      if (!open && stopping) {
        await commitGroup();
        await drain();
        // Nothing pending: the server may release WAL up to the keepalive's position, or the mark
        // once it arrived.
        const end = reached && opts.until!.lsn > walEnd ? opts.until!.lsn : walEnd;
        if (end > result.confirmed) result.confirmed = end;
        s.sendStatus({ flushed: result.confirmed });
        break;
      }
      // Following: a group waits at most groupMs, and not at all once the stream has nothing more.
      if (!opts.until && !open && groupTxns && (caughtUp || performance.now() - groupStarted >= opts.groupMs)) await commitGroup();
      if (!open && !groupTxns && !waiting.length && !inflight && !failure && walEnd > result.confirmed) {
        // Nothing pending: every transaction before the keepalive's position was received and
        // applied, or had nothing of ours.
        result.confirmed = walEnd;
        s.sendStatus({ flushed: result.confirmed });
      }
      if (!messages.length || performance.now() - lastAsk >= POLL_MS) {
        s.sendStatus({ flushed: result.confirmed, replyRequested: true });
        lastAsk = performance.now();
      }
      askPosition();
      progress(false);
    }
    // A catch-up ends at its mark: caught up with the source as it was when the run started.
    result.lagBytes = opts.until ? 0 : lag().lagBytes;
    await s.stop();
    return result;
  } finally {
    await chain; // never rejects: a failure is kept in `failure`
    spills?.close();
    await conn.close().catch(() => {});
    // A stream given up as lost: its walsender may live on, keeping the slot active.
    if (stream?.failure) await endLostBackend(ep, 'source', stream.failure);
  }
}

function relationOf(relations: Map<number, PgoutputRelation>, oid: number): PgoutputRelation {
  const r = relations.get(oid);
  if (!r) throw new RbError('internal', `pgoutput: a change for relation ${oid} before its Relation message`);
  return r;
}

/** The set's row changes, those `keep` accepts (all without it). */
function rowChanges(set: PgoutputChangeSet, relation: PgoutputRelation, keep?: (i: number) => boolean): RowChange[] {
  const out: RowChange[] = [];
  for (let i = 0; i < set.rowCount; i++) {
    if (keep && !keep(i)) continue;
    const op = set.ops[i];
    if (op === ChangeOp.insert) out.push({ kind: 'insert', relation, values: tupleValues(set.newTuples, i) });
    else if (op === ChangeOp.update) {
      const old = set.oldKind[i] !== OldTupleKind.none && set.oldTuples ? tupleValues(set.oldTuples, i) : null;
      out.push({ kind: 'update', relation, values: tupleValues(set.newTuples, i), old });
    } else if (op === ChangeOp.delete) {
      if (!set.oldTuples || set.oldKind[i] === OldTupleKind.none) {
        throw new RbError('source_query', `${relation.namespace || 'pg_catalog'}.${relation.name}: a DELETE arrived without the old row's key (replica identity NOTHING?)`);
      }
      out.push({ kind: 'delete', relation, old: tupleValues(set.oldTuples, i) });
    }
  }
  return out;
}

function tupleValues(t: TupleColumns, row: number): ChangeValue[] {
  return t.columns.map((c) => {
    const kind = c.kinds[row];
    if (kind === TupleKind.null || kind === TupleKind.absent) return null;
    if (kind === TupleKind.unchangedToast) return UNCHANGED;
    if (kind === TupleKind.text) return Buffer.from(c.data.buffer, c.data.byteOffset + c.offsets[row], c.offsets[row + 1] - c.offsets[row]).toString('utf8');
    throw new RbError('internal', `pgoutput: a binary column value, but the stream asked for text`);
  });
}
