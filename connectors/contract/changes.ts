/**
 * Change records (CDC, docs/design.md section 8): what a change source reads from the source's
 * log and a change sink applies, as whole source transactions in commit order, and the two
 * leader-side capabilities that move them (PostgreSQL: connectors/source-postgres/postgres-cdc.ts,
 * connectors/dest-postgres/apply-changes.ts).
 */
import type { PgoutputRelation } from '../../native/pgoutput-types.js';
import type { QualifiedName } from './qualified-name.js';
import type { StreamStateWrite } from './state.js';
import type { WriteContract } from './write-contract.js';

/** A column value of a change: text, SQL NULL, or an unchanged TOASTed value that was not sent. */
export type ChangeValue = string | null | typeof UNCHANGED;
export const UNCHANGED: unique symbol = Symbol('unchanged TOAST value');

export type RowChange =
  | { kind: 'insert'; relation: PgoutputRelation; values: ChangeValue[] }
  | { kind: 'update'; relation: PgoutputRelation; values: ChangeValue[]; old: ChangeValue[] | null }
  | { kind: 'delete'; relation: PgoutputRelation; old: ChangeValue[] };

export type TransactionItem = RowChange | { kind: 'truncate'; relations: PgoutputRelation[]; cascade: boolean };

export interface Transaction {
  xid: number;
  commitLsn: bigint;
  /** The end of the commit record: the position to confirm once the transaction is applied. */
  endLsn: bigint;
  items: TransactionItem[];
  changes: number;
}

/** Where a source table's changes go. */
export interface ChangeTarget {
  /** The source table, as the change records name it. */
  source: QualifiedName;
  contract: WriteContract;
}

/** Applies change records to the destination. */
export interface ChangeSink {
  /**
   * Applies `txns` (whole transactions, commit order) and stores `states` — the streams' new
   * positions — in the same destination transaction. Returns the rows written.
   */
  apply(txns: readonly Transaction[], states: readonly StreamStateWrite[]): Promise<number>;
  /** Stores positions on their own (a catch-up that ended past the last change). */
  storeStates(states: readonly StreamStateWrite[]): Promise<void>;
}

export interface CdcNames {
  slot: string;
  publication: string;
  /** The pipeline they belong to (a publication rb creates is marked with it). */
  pipeline: string;
}

/** The snapshot a new slot exported: importable until `release()`. */
export interface SlotSnapshot {
  name: string;
  consistentPoint: bigint;
  release(): Promise<void>;
}

export interface ChangeReadOptions {
  slot: string;
  publications: string[];
  /** Where to start (the stored LSN, or the slot's consistent point). */
  from: bigint;
  /**
   * Stop once everything before this mark was sent: the position of a logical message the run
   * wrote (`markEnd`), whose arrival — or a keepalive past it — says every transaction that
   * committed before it has been received.
   */
  until: { lsn: bigint; content: string };
  /** Transactions ending at or before this were applied already. */
  skipThrough: bigint;
  /** About this many changes per call of `apply` (whole transactions only). */
  groupChanges: number;
  /** Applies a group of transactions in the destination (committing their position with them). */
  apply(txns: Transaction[]): Promise<void>;
  log?: (line: string) => void;
}

export interface ChangeReadResult {
  transactions: number;
  changes: number;
  skipped: number;
  /** The last position confirmed to the server. */
  confirmed: bigint;
}

/**
 * The change source on the leader: publication and slot setup, the source's log position, and
 * reading the slot from a position up to another, handing whole transactions to `apply` and
 * confirming to the server only what `apply` committed.
 */
export interface ChangeSource {
  /** First run: publication, and a new slot whose exported snapshot the copy reads. */
  setupFirst(names: CdcNames, tables: readonly QualifiedName[], log?: (line: string) => void): Promise<{ createdPublication: boolean; snapshot: SlotSnapshot }>;
  /** Next runs: the publication publishes the tables, the slot exists and is usable. */
  checkNext(names: CdcNames, tables: readonly QualifiedName[]): Promise<void>;
  /**
   * Writes a non-transactional logical message (prefix `rb`, `content`) into the source's WAL and
   * returns its position: the end of a catch-up. Unlike pg_current_wal_lsn() — which lags behind
   * transactions committed with synchronous_commit off until the WAL writer flushes them — every
   * transaction committed before the call is decoded before the message.
   */
  markEnd(content: string): Promise<{ lsn: bigint; content: string }>;
  readChanges(opts: ChangeReadOptions): Promise<ChangeReadResult>;
  /** `rb state reset`: drops the slot, and the publication when rb created it for this pipeline. */
  drop(names: CdcNames): Promise<{ slot: boolean; publication: boolean }>;
}
