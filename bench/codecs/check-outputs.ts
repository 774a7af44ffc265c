/**
 * Before anything is timed, every implementation's output for the bench workload is checked: rb's
 * native and TypeScript codecs must agree byte for byte (and with the fixture builders), and each
 * peer must produce the same data, so that every number in the report is for the same work.
 * Each check returns null or a description of the first difference.
 */
import type { CopyDecodeResult } from '../../native/codec-api.js';
import { ChangeOp, TupleKind, type PgoutputBatch, type PgoutputChangeSet, type TupleColumns } from '../../native/pgoutput-types.js';
import { batchDifference } from '../../native/testing/copy-fixture.js';
import { canonical } from '../../native/testing/parity-cases.js';
import type { PeerDecodedRow, PeerPgoutputMessage } from './peers.js';
import type { CopyWorkload, JsValue } from './workloads.js';

function sameBytes(a: ArrayBufferView | null, b: ArrayBufferView | null): boolean {
  if (a === null || b === null) return a === b;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

export function bytesDifference(what: string, got: Uint8Array, want: Uint8Array): string | null {
  if (sameBytes(got, want)) return null;
  let i = 0;
  while (i < got.length && i < want.length && got[i] === want[i]) i++;
  return `${what}: ${got.length} bytes, expected ${want.length}; first difference at byte ${i}`;
}

export function decodeDifference(what: string, got: CopyDecodeResult, copy: CopyWorkload): string | null {
  if (got.rows !== copy.rows || got.end !== copy.file.length || !got.done) {
    return `${what}: rows ${got.rows}, end ${got.end}, done ${got.done}; expected ${copy.rows}, ${copy.file.length}, true`;
  }
  const d = batchDifference(got.batch, copy.batch);
  return d === null ? null : `${what}: ${d}`;
}

function jsValueEqual(a: JsValue | undefined, b: JsValue): boolean {
  if (a === undefined) return false;
  if (a === null || b === null) return a === b;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  return a === b;
}

/** The peer's decoded rows against the JS values the file was built from. */
export function peerRowsDifference(what: string, rows: readonly PeerDecodedRow[], copy: CopyWorkload): string | null {
  if (rows.length !== copy.rows) return `${what}: ${rows.length} rows, expected ${copy.rows}`;
  for (let r = 0; r < rows.length; r++) {
    for (let j = 0; j < copy.columns.length; j++) {
      const name = copy.columns[j].name;
      if (!jsValueEqual(rows[r][name], copy.values[j][r])) return `${what}: row ${r} column ${name} is ${String(rows[r][name])}, expected ${String(copy.values[j][r])}`;
    }
  }
  return null;
}

function tuplesDifference(a: TupleColumns | null, b: TupleColumns | null): string | null {
  if (a === null || b === null) return a === b ? null : 'one side has no old tuples';
  if (a.rowCount !== b.rowCount || a.columns.length !== b.columns.length) return 'tuple shapes differ';
  for (let c = 0; c < a.columns.length; c++) {
    const x = a.columns[c];
    const y = b.columns[c];
    if (!sameBytes(x.kinds, y.kinds) || !sameBytes(x.offsets, y.offsets) || !sameBytes(x.data, y.data)) return `column ${c} differs`;
  }
  return null;
}

function changeSetDifference(a: PgoutputChangeSet, b: PgoutputChangeSet): string | null {
  if (a.relationOid !== b.relationOid || a.eventIndex !== b.eventIndex || a.rowCount !== b.rowCount) return 'set headers differ';
  for (const k of ['ops', 'lsns', 'xids', 'oldKind'] as const) if (!sameBytes(a[k], b[k])) return `${k} differ`;
  return tuplesDifference(a.newTuples, b.newTuples) ?? tuplesDifference(a.oldTuples, b.oldTuples);
}

/** Native against TypeScript pgoutput output: events canonically, change sets array by array. */
export function pgoutputDifference(what: string, got: PgoutputBatch, want: PgoutputBatch): string | null {
  if (canonical(got.events) !== canonical(want.events)) return `${what}: events differ`;
  if (got.changes.length !== want.changes.length) return `${what}: ${got.changes.length} change sets, expected ${want.changes.length}`;
  for (let s = 0; s < got.changes.length; s++) {
    const d = changeSetDifference(got.changes[s], want.changes[s]);
    if (d !== null) return `${what}: change set ${s}: ${d}`;
  }
  return null;
}

interface FlatChange {
  op: number;
  /** New tuple (insert, update) or key (delete): bytes of 'b' values, null otherwise. */
  values: Array<Uint8Array | null>;
}

function rbChanges(batch: PgoutputBatch, relationOid: number): FlatChange[] {
  const out: FlatChange[] = [];
  for (const set of batch.changes) {
    if (set.relationOid !== relationOid) continue;
    for (let r = 0; r < set.rowCount; r++) {
      const op = set.ops[r];
      const tuples = op === ChangeOp.delete ? set.oldTuples : set.newTuples;
      const values = (tuples as TupleColumns).columns.map((col) => (col.kinds[r] === TupleKind.binary ? col.data.subarray(col.offsets[r], col.offsets[r + 1]) : null));
      out.push({ op, values });
    }
  }
  return out;
}

const PEER_OPS: Record<string, number> = { insert: ChangeOp.insert, update: ChangeOp.update, delete: ChangeOp.delete };

function peerChanges(messages: readonly PeerPgoutputMessage[], relationOid: number, columnNames: readonly string[]): FlatChange[] {
  const out: FlatChange[] = [];
  for (const m of messages) {
    if ((m.tag !== 'insert' && m.tag !== 'update' && m.tag !== 'delete') || m.relation.relationOid !== relationOid) continue;
    const record = (m.tag === 'delete' ? m.key : m.new) as Record<string, unknown>;
    out.push({ op: PEER_OPS[m.tag], values: columnNames.map((n) => (record[n] instanceof Uint8Array ? (record[n] as Uint8Array) : null)) });
  }
  return out;
}

/** The peer's parsed changes on the bench relation against rb's (ops, new tuples, delete keys). */
export function peerPgoutputDifference(what: string, peer: readonly PeerPgoutputMessage[], rb: PgoutputBatch, relationOid: number, columnNames: readonly string[], changes: number): string | null {
  const a = peerChanges(peer, relationOid, columnNames);
  const b = rbChanges(rb, relationOid);
  if (a.length !== changes || b.length !== changes) return `${what}: ${a.length} changes, rb ${b.length}, expected ${changes}`;
  for (let i = 0; i < a.length; i++) {
    if (a[i].op !== b[i].op) return `${what}: change ${i} is ${String.fromCharCode(a[i].op)}, rb says ${String.fromCharCode(b[i].op)}`;
    for (let c = 0; c < columnNames.length; c++) {
      if (!sameBytes(a[i].values[c], b[i].values[c])) return `${what}: change ${i} column ${columnNames[c]} differs`;
    }
  }
  return null;
}
