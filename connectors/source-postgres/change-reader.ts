/**
 * Reading a logical replication slot into whole transactions (docs/design.md section 8): the
 * change source of a CDC catch-up. Streams pgoutput (protocol 1, text values) from `from`,
 * decodes it (`codecs.pgoutputDecode`), assembles each transaction between Begin and Commit, and
 * hands complete transactions to `apply` in commit order, in groups of about `groupChanges`
 * changes. Only after `apply` resolved — the destination committed them together with their LSN —
 * is the group's last Commit end LSN confirmed to the server (the slot's flush position). When
 * nothing is pending, a keepalive's WAL end is confirmed instead, so an idle slot keeps no WAL.
 *
 * The read ends once the server has sent everything before `until`, a logical message the run
 * wrote at its start (its arrival, or a keepalive past it, with no transaction open: decoding runs
 * in WAL order, and XLogData arrive before the keepalive that follows them), and
 * transactions whose end LSN is not after `skipThrough` (applied by an earlier run) are dropped:
 * a restart after a crash applies each transaction exactly once.
 *
 * A whole transaction is held in memory until it commits (protocol 1 sends it at commit time,
 * after the server decoded it); streaming of large in-progress transactions is not used yet.
 */
import { codecs } from '../../native/index.js';
import { newPgoutputState } from '../../native/codec-api.js';
import { ChangeOp, forEachInOrder, OldTupleKind, TupleKind, type PgoutputChangeSet, type PgoutputRelation, type TupleColumns } from '../../native/pgoutput-types.js';
import { UNCHANGED, type ChangeReadOptions, type ChangeReadResult, type ChangeValue, type RowChange, type Transaction } from '../contract/changes.js';
import { RbError } from '../contract/errors.js';
import type { PgEndpoint } from '../postgres/connection.js';
import { MARK_PREFIX } from './cdc-setup.js';
import { openReplicationConnection, type ReplicationStream } from './replication-stream.js';

export type { ChangeValue, RowChange, Transaction, TransactionItem } from '../contract/changes.js';
export { UNCHANGED } from '../contract/changes.js';

/** How often a caught-up reader asks the server for a keepalive (its WAL position). */
const POLL_MS = 100;

export async function readChanges(ep: PgEndpoint, opts: ChangeReadOptions): Promise<ChangeReadResult> {
  const conn = await openReplicationConnection(ep, 'rb cdc');
  let stream: ReplicationStream | undefined;
  const result: ChangeReadResult = { transactions: 0, changes: 0, skipped: 0, confirmed: opts.from };
  try {
    stream = await conn.startReplication(opts.slot, opts.from, { publications: opts.publications, protoVersion: 1, binary: false, streaming: false, messages: true });
    const state = newPgoutputState();
    let open: Transaction | null = null;
    let pending: Transaction[] = [];
    let pendingChanges = 0;
    let walEnd = 0n;
    let marked = false;
    const flush = async () => {
      if (!pending.length) return;
      await opts.apply(pending);
      const last = pending[pending.length - 1].endLsn;
      result.transactions += pending.length;
      result.changes += pendingChanges;
      pending = [];
      pendingChanges = 0;
      if (last > result.confirmed) result.confirmed = last;
      stream!.sendStatus({ flushed: result.confirmed });
    };
    stream.sendStatus({ flushed: opts.from, replyRequested: true });
    let lastAsk = performance.now();
    for (;;) {
      const messages = await stream.read(4096, POLL_MS);
      if (!messages.length && stream.ended) throw stream.failure ?? new RbError('source_query', `replication of slot ${opts.slot} ended before the run's end mark`);
      const data = messages.filter((m) => m.kind === 'xlogdata');
      for (const m of messages) if (m.kind === 'keepalive' && m.walEnd > walEnd) walEnd = m.walEnd;
      if (data.length) {
        const total = data.reduce((a, m) => a + m.payload.length, 0);
        const buf = Buffer.allocUnsafe(total);
        const offsets = new Int32Array(data.length + 1);
        const lsns = new BigInt64Array(data.length);
        let at = 0;
        data.forEach((m, i) => {
          offsets[i] = at;
          m.payload.copy(buf, at);
          at += m.payload.length;
          lsns[i] = BigInt.asIntN(64, m.walStart);
        });
        offsets[data.length] = at;
        const batch = codecs.pgoutputDecode(buf, offsets, lsns, 1, state);
        forEachInOrder(
          batch,
          (e) => {
            if (e.kind === 'begin') {
              if (open) throw new RbError('internal', `pgoutput: Begin of xid ${e.xid} inside transaction ${open.xid}`);
              open = { xid: e.xid, commitLsn: 0n, endLsn: 0n, items: [], changes: 0 };
            } else if (e.kind === 'commit') {
              if (!open) throw new RbError('internal', 'pgoutput: Commit outside a transaction');
              const t: Transaction = open;
              t.commitLsn = e.commitLsn;
              t.endLsn = e.endLsn;
              open = null;
              if (t.endLsn <= opts.skipThrough) result.skipped++;
              else if (t.items.length) {
                pending.push(t);
                pendingChanges += t.changes;
              } else if (t.endLsn > result.confirmed && !pending.length) {
                // Nothing of ours in it (another table's transaction): nothing to apply before it.
                result.confirmed = t.endLsn;
              }
            } else if (e.kind === 'message') {
              if (!e.transactional && e.prefix === MARK_PREFIX && Buffer.from(e.content).toString('utf8') === opts.until.content) marked = true;
            } else if (e.kind === 'truncate') {
              if (!open) throw new RbError('internal', 'pgoutput: Truncate outside a transaction');
              open.items.push({ kind: 'truncate', relations: e.relationOids.map((oid) => relationOf(state.relations, oid)), cascade: e.cascade });
              open.changes++;
            }
          },
          (set) => {
            if (!open) throw new RbError('internal', 'pgoutput: a row change outside a transaction');
            const relation = relationOf(state.relations, set.relationOid);
            for (const c of rowChanges(set, relation)) open.items.push(c);
            open.changes += set.rowCount;
          },
        );
      }
      if (pendingChanges >= opts.groupChanges) await flush();
      if (!open && (marked || walEnd > opts.until.lsn)) {
        await flush();
        // Caught up with nothing pending: the server may release WAL up to the mark (or further).
        const end = walEnd > opts.until.lsn ? walEnd : opts.until.lsn;
        if (end > result.confirmed) result.confirmed = end;
        stream.sendStatus({ flushed: result.confirmed });
        break;
      }
      if (!messages.length || performance.now() - lastAsk >= POLL_MS) {
        stream.sendStatus({ flushed: result.confirmed, replyRequested: true });
        lastAsk = performance.now();
      }
    }
    await stream.stop();
    return result;
  } finally {
    await conn.close().catch(() => {});
  }
}

function relationOf(relations: Map<number, PgoutputRelation>, oid: number): PgoutputRelation {
  const r = relations.get(oid);
  if (!r) throw new RbError('internal', `pgoutput: a change for relation ${oid} before its Relation message`);
  return r;
}

function rowChanges(set: PgoutputChangeSet, relation: PgoutputRelation): RowChange[] {
  const out: RowChange[] = [];
  for (let i = 0; i < set.rowCount; i++) {
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
