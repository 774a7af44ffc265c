/**
 * Change records (CDC, docs/design.md section 8): what a change source reads from the source's
 * log and a change sink applies, as whole source transactions in commit order, and the two
 * leader-side capabilities that move them (PostgreSQL: connectors/source-postgres/postgres-cdc.ts,
 * connectors/dest-postgres/apply-changes.ts).
 */
import type { PgoutputRelation } from '../../native/pgoutput-types.js';
import type { BadRowPolicy } from './connector.js';
import type { SchemaEvolutionPolicy } from './domain.js';
import type { QualifiedName } from './qualified-name.js';
import type { ChangeTransform, ReadStep } from './transforms.js';
import type { StreamStateWrite } from './state.js';
import type { ContractColumn, SchemaChange, WriteContract } from './write-contract.js';

/** A column value of a change: text, SQL NULL, or an unchanged TOASTed value that was not sent. */
export type ChangeValue = string | null | typeof UNCHANGED;
export const UNCHANGED: unique symbol = Symbol('unchanged TOAST value');

export type RowChange =
  | { kind: 'insert'; relation: PgoutputRelation; values: ChangeValue[] }
  | { kind: 'update'; relation: PgoutputRelation; values: ChangeValue[]; old: ChangeValue[] | null }
  | { kind: 'delete'; relation: PgoutputRelation; old: ChangeValue[] };

export type TransactionItem = RowChange | { kind: 'truncate'; relations: PgoutputRelation[]; cascade: boolean };

/** Where a source table's changes go. */
export interface ChangeTarget {
  /** The source table, as the change records name it. */
  source: QualifiedName;
  contract: WriteContract;
  /** What to do when the source's columns change while streaming. */
  schema: SchemaEvolutionPolicy;
  /** Every column the source table had when the run planned (selected or not). */
  sourceColumns: readonly string[];
  /** The stream lists its columns (`columns:`): a column the source adds is not part of it. */
  explicitColumns: boolean;
  /** A change the destination rejects (`destination.on_data_error`): fail, or isolated and skipped or dead-lettered. */
  badRows: BadRowPolicy;
  /** The stream's transforms, on each change's values (renames, masks, validate; a cast is the destination's type). */
  transform?: ChangeTransform;
  /**
   * The stream's filters: judges changes' new rows (values by `filter.columns`, the source's
   * column names; undefined = not sent). A row that fails is deleted from the destination.
   */
  filter?: { columns: readonly string[]; judge(rows: ReadonlyArray<ReadonlyArray<string | null | undefined>>): Promise<boolean[]> };
}

/** Changes the destination rejected and that were skipped or dead-lettered, and values written as NULL (type_change: null); committed groups only. */
export interface RejectedChanges {
  skipped: number;
  deadLettered: number;
  nulled: number;
}

/**
 * Applies change records to the destination, in one destination transaction at a time: `write`
 * adds row changes to it (beginning it when none is open) — whole source transactions, or a
 * piece of a large one, so a transaction of millions of rows never has to be held in memory —
 * and `commit` ends it together with the streams' new positions. Only whole source transactions
 * are ever committed: the reader commits at transaction boundaries.
 */
export interface ChangeSink {
  /** Writes `items` (commit order) in the open destination transaction. Returns the rows written. */
  write(items: readonly TransactionItem[]): Promise<number>;
  /** Commits the open destination transaction with `states` (opening one if none is). */
  commit(states: readonly StreamStateWrite[]): Promise<void>;
  /** Rolls back the open destination transaction, if any. */
  rollback(): Promise<void>;
  /** Stores positions on their own (a catch-up that ended past the last change). */
  storeStates(states: readonly StreamStateWrite[]): Promise<void>;
  /** Rejected changes of the groups committed so far, per stream. */
  rejected(): Record<string, RejectedChanges>;
  /** The schema_evolution decisions taken on Relation messages, per stream. */
  schemaChanges(): Record<string, SchemaChange[]>;
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
   * committed before it has been received. Null: follow until `signal` aborts.
   */
  until: { lsn: bigint; content: string } | null;
  /** Stop (follow): the transaction in hand is read to its end, the group committed, then the read ends. */
  signal?: AbortSignal;
  /** Transactions ending at or before this were applied already. */
  skipThrough: bigint;
  /** About this many changes per destination transaction (it ends at a transaction boundary), and per piece written. */
  groupChanges: number;
  /** Following: a group is committed at the latest this long after its first transaction. */
  groupMs: number;
  /**
   * Decode the next changes while the destination writes the last ones (writes and commits stay
   * in order on the one destination connection; a position is still confirmed only once its
   * commit resolved). False: each write is awaited before reading on.
   */
  overlap: boolean;
  /**
   * Ask the server to stream large transactions while they are in progress (pgoutput protocol 2,
   * PostgreSQL 14+; ignored by older servers, which send each transaction at its commit). They
   * wait in rb's spill until their commit. Default true; false is protocol 1 (the A/B).
   */
  streaming?: boolean;
  /** Writes row changes in the open destination transaction (whole transactions or pieces of one). */
  write(items: TransactionItem[]): Promise<void>;
  /** Commits the open destination transaction, which holds every transaction ending at or before `end`. */
  commit(end: bigint): Promise<void>;
  /** About once a second, after each commit, and at once when work arrives after a quiet spell (before its first write). */
  onProgress?(p: ChangeProgress): void;
  log?: (line: string) => void;
}

export interface ChangeProgress {
  transactions: number;
  changes: number;
  /** The position confirmed (applied, or passed with nothing to apply). */
  confirmed: bigint;
  /** Bytes of WAL the source has past `confirmed` (its current position, asked every few seconds, or how far it has decoded). */
  lagBytes: number;
  /** Seconds since the commit of the last applied transaction while more is waiting; 0 when caught up. */
  lagSeconds: number;
}

export interface ChangeReadResult {
  transactions: number;
  changes: number;
  skipped: number;
  /** The last position confirmed to the server. */
  confirmed: bigint;
  /** The largest transaction read, in row changes (it was written in pieces when over `groupChanges`). */
  largestTransaction: number;
  /** Transactions the server streamed while in progress that committed and were replayed (or skipped). */
  streamedTransactions: number;
  /** The server's WAL end last reported, and the lag at the end. */
  lagBytes: number;
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
  /** True when the source publishes stored generated columns' values (PostgreSQL 18+). */
  publishesGeneratedColumns(): Promise<boolean>;
  readChanges(opts: ChangeReadOptions): Promise<ChangeReadResult>;
  /** `rb state reset`: drops the slot, and the publication when rb created it for this pipeline. */
  drop(names: CdcNames): Promise<{ slot: boolean; publication: boolean }>;
  /**
   * A cdc stream's filter on changes' new rows, judged by the source with the query layers the
   * copy read through: true where a row passes. Values in `read.columns` order; undefined = not
   * sent (unchanged TOAST): taken from the table's current row.
   */
  judgeRows(read: JudgedRead, rows: ReadonlyArray<ReadonlyArray<string | null | undefined>>): Promise<boolean[]>;
}

/** What a filter on changes is judged with (ChangeSource.judgeRows). */
export interface JudgedRead {
  table: QualifiedName;
  /** The stream's columns as the source has them, in the order of each row's values. */
  columns: readonly ContractColumn[];
  key: readonly string[];
  /** The stream's pushed-down steps, its filters among them. */
  steps: readonly ReadStep[];
}
