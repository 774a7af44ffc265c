/**
 * The capabilities the engine uses connectors through (docs/design.md section 15). The engine
 * plans, schedules and keeps the guarantees; connectors speak to the databases. Nothing in the
 * engine writes SQL: predicates, COPY statements, DDL and state rows are made here, by the
 * connector implementing these interfaces (PostgreSQL: connectors/source-postgres,
 * connectors/dest-postgres, wired together in connectors/registry.ts).
 *
 *   leader (main thread)                          workers (pool threads, or machines later)
 *   SnapshotSource  discover, snapshot, shards,   ShardReader  read one shard   ─► FrameSink
 *                   cursor bounds                 ShardWriter  write one shard  ◄─ FrameSource
 *   Sink            prepare, finish, clean up,
 *                   apply changes (ChangeSink)
 *   ChangeSource    CDC setup, read a slot (changes.ts)
 *   StateStore      runs, ledger, cursors (state.ts)
 *
 * Tasks are plain data (structured clone, and later a job payload): endpoints, the shard's read,
 * the write contract, the ledger row and checkpoint rules.
 */
import type { TableInfo, ColumnInfo } from './catalog.js';
import type { ChangeSink, ChangeTarget } from './changes.js';
import type { DataErrorPolicy, LoadMethod, SchemaEvolutionPolicy, WriteMode } from './domain.js';
import type { FrameSink, FrameSource } from './frames.js';
import type { QualifiedName } from './qualified-name.js';
import type { LedgerEntry, StreamStateWrite } from './state.js';
import type { ReadStep, RowStep } from './transforms.js';
import type { ContractColumn, WriteContract } from './write-contract.js';

// ── Shards ──────────────────────────────────────────────────────────────────────────────────────

export type ShardKind = 'single' | 'range' | 'ctid';

export interface ShardSpec {
  index: number;
  /** The source's predicate for this shard (empty for a single shard). Opaque to the engine. */
  predicate: string;
  description: string;
}

export interface ShardPlan {
  kind: ShardKind;
  key: string | null;
  shards: ShardSpec[];
}

/** What one shard reads: the stream's table and columns, filtered by source-made predicates. */
export interface ShardRead {
  table: QualifiedName;
  columns: readonly ContractColumn[];
  format: 'binary' | 'text';
  /** Predicates, ANDed (shard range, cursor bounds); empty for the whole table. Source-made. */
  predicates: readonly string[];
  /** Order of delivery (incremental reads deliver rows in cursor order), or none. Source-made. */
  orderBy?: string;
  /**
   * A key-range shard of several: read it through the key's index. A sequential scan would visit
   * the whole heap to filter its range, so every extra shard would cost the source another full
   * scan (measured on 2M rows: two halves by seq scan + filter 5.9–6.1 s of server time, by
   * index 5.0–5.2 s, the whole table 3.4–4.5 s).
   */
  preferIndexScan?: boolean;
  /** Transforms pushed into the query, in order, over `columns` (contract/transforms.ts). */
  steps?: ReadStep[];
}

export interface ShardProgress {
  stream: string;
  shardIndex: number;
  rows: number;
  bytes: number;
}

export interface StageHooks {
  onProgress?: (p: ShardProgress) => void;
  /** Aborting ends the stage's connection at once: whatever it waits on stops, its server rolls back. */
  signal?: AbortSignal;
}

export interface ReadTask<E> {
  stream: string;
  shardIndex: number;
  source: E;
  /** Snapshot exported by the run's coordinator transaction; every shard reads it. */
  snapshot: string | null;
  read: ShardRead;
  /** Target bytes per frame. */
  chunkBytes: number;
  /** Test/bench hook: sleep this long before pushing each frame (RB_BENCH_SOURCE_DELAY_MS): a slow source. */
  sourceDelayPerChunkMs?: number;
}

/**
 * How an incremental shard commits as it goes: after `bytes` / `rows` / `seconds` (0 = never by
 * that measure) it commits the rows so far together with the stream's cursor — the cursor fields
 * of the last row written — so a crash resumes from there.
 */
export interface CheckpointSpec {
  schema: string;
  pipeline: string;
  runId: string;
  syncMode: string;
  /** Cursor column, then the tie-breaker columns. */
  cursorFields: string[];
  /** Their positions in the contract's columns. */
  fieldIndexes: number[];
  /** Their SQL types, to turn the last row's values into text forms in the destination. */
  fieldTypes: string[];
  bytes: number;
  rows: number;
  seconds: number;
  /** Lookback to store with the final cursor (late commits). */
  lookback: string | null;
  /** The run's high-water mark: stored at the end even when the shard delivered no rows. */
  finalCursor: Array<string | null> | null;
  /**
   * The stream's stored cursor this attempt continues from. Each checkpoint first checks that it
   * is still there (then it becomes the one just written): an attempt another one superseded (a
   * queued worker paused past its job's expiry while another worker continued the shard) fails
   * instead of committing rows that attempt committed too.
   */
  from: StoredCursor;
}

/** A stream's cursor as `stream_state` holds it: the run that stored it and the position. */
export interface StoredCursor {
  runId: string | null;
  cursor: CursorPosition | null;
}

/**
 * An incremental shard that checkpoints: what a later attempt needs to continue after the cursor
 * an earlier one stored (SourceReads.continueRead), wherever that attempt runs.
 */
export interface CursorContinuation {
  spec: CursorSpec;
  /** The run's high-water mark (null: the table was empty). */
  atMost: CursorPosition | null;
}

export interface WriteTask<E> {
  stream: string;
  shardIndex: number;
  dest: E;
  contract: WriteContract;
  /** Inserted in the shard's destination transaction just before COMMIT: a retried or resumed run finds it. */
  ledger?: LedgerEntry;
  /** Incremental reads: checkpoint the stream's cursor with the data as it goes. */
  checkpoint?: CheckpointSpec;
  /** Test/bench hook: sleep this long after writing each frame (RB_BENCH_DELAY_MS): a slow destination. */
  delayPerChunkMs: number;
  /**
   * Bench hook (RB_BENCH_CPU_SLOWDOWN=f): after each chunk, busy CPU work for f × the time the chunk
   * took, so the move is about f slower through real work, not a sleep (the gate's detection test).
   */
  cpuSlowdown?: number;
  /** What happens to a row the destination rejects (`destination.on_data_error`). */
  badRows: BadRowPolicy;
  /** Transforms applied to each row's text forms before it is written (contract/transforms.ts). */
  rowSteps?: RowStep[];
  /** The plan a `unique` rule's claims are made under when not the ledger's: a cdc stream's standing claims (unique-values.ts). */
  uniquePlan?: string;
  /**
   * Isolate rejected rows: the shard's second attempt after a data error. Chunks are text and
   * written under savepoints, a failing one bisected down to its bad rows (docs/design.md section 9).
   */
  isolate?: boolean;
}

/** `destination.on_data_error` for one stream, with what a dead letter records. */
export interface BadRowPolicy {
  policy: DataErrorPolicy;
  /** The state schema: dead letters go to `<schema>.dlq`. */
  schema: string;
  pipeline: string;
  runId: string;
  /** Columns that name a row in messages (the key, else the source's primary key); empty: its position. */
  rowKey: string[];
}

export interface ReadResult {
  rows: number;
  bytes: number;
}

/**
 * Where a shard's committed data reaches in the source's order: an incremental read's cursor (the
 * position stored with its last commit). A change stream will report its LSN the same way.
 */
export interface ShardHighWater {
  cursor: CursorPosition | null;
}

export interface WriteResult {
  rows: number;
  bytes: number;
  /** Checkpoint commits (incremental), the final one included. */
  checkpoints?: number;
  /** Incremental reads: the cursor the shard committed last (the stream's new position). */
  highWater?: ShardHighWater;
  /** Rows the destination rejected: dropped (`skip`) or written to the DLQ (`dlq`). Not in `rows`. */
  rowsSkipped?: number;
  rowsDeadLettered?: number;
  /** Values written as NULL because the destination's type did not take them (`type_change: null`). */
  valuesNulled?: number;
}

/**
 * Worker side of a source: reads one shard under the run's snapshot into `sink`, and ends the sink
 * only once the source vouched for what it delivered (so the destination commits nothing short).
 * On failure it fails the sink with its error, unless the sink failed first (the destination
 * stopped it and owns the error).
 */
export interface ShardReader<E> {
  readShard(task: ReadTask<E>, sink: FrameSink, hooks?: StageHooks): Promise<ReadResult>;
}

/**
 * Worker side of a sink: writes one shard's frames in one destination transaction (a checkpoint
 * commits what came so far together with the cursor), adds the ledger row and commits after `end`.
 * On failure it rolls back and fails the source.
 */
export interface ShardWriter<E> {
  writeShard(task: WriteTask<E>, source: FrameSource, hooks?: StageHooks): Promise<WriteResult>;
}

// ── Leader side ─────────────────────────────────────────────────────────────────────────────────

/** Text forms of a cursor's fields (cursor column, then tie-breakers); null entries are NULLs. */
export type CursorPosition = Array<string | null>;

/** An incremental stream's cursor: the columns and their SQL types. */
export interface CursorSpec {
  fields: string[];
  types: string[];
}

/** Which rows an incremental read takes, by cursor. */
export interface CursorRange {
  /** Rows after this position (null: from the first row). */
  after: CursorPosition | null;
  /**
   * Also re-read rows from this cursor value on (late commits: a lookback stored by the previous
   * run). The source folds it into one range its index can serve.
   */
  lookback: string | null;
  /** Rows at or before this position: the run's high-water mark (null: the table was empty). */
  atMost: CursorPosition | null;
}

export interface CursorRead {
  /** Predicates for ShardRead (source-made). */
  predicates: string[];
  /** ShardRead.orderBy: cursor order. */
  orderBy: string;
}

/** Reads the source plans without a connection: a queued shard's worker computes them as the coordinator would. */
export interface SourceReads {
  /** Every row after `after` up to `atMost`, in cursor order (no lookback). */
  continueRead(spec: CursorSpec, after: CursorPosition, atMost: CursorPosition | null): CursorRead;
}

/**
 * The source on the leader: one connection, and the run's coordinator transaction whose snapshot
 * every shard imports. Methods marked "in the snapshot" run inside that transaction, so what they
 * see (key bounds, high-water marks) is what the shards will read.
 */
export interface SnapshotSource {
  discover(name: QualifiedName): Promise<TableInfo>;
  /** The clock late commits are measured from (before the snapshot: incremental.ts). */
  lookbackClock(): Promise<string>;
  /**
   * Begins the coordinator transaction and exports its snapshot. `importFrom`: first take the
   * snapshot another session exported (a new replication slot's), so the shards read exactly the
   * state the slot's changes start from.
   */
  openSnapshot(importFrom?: string): Promise<string>;
  /** In the snapshot: about `target` shards that cover every row exactly once. */
  planShards(table: TableInfo, target: number, opts?: { partitionKey?: string }): Promise<ShardPlan>;
  /** In the snapshot: the highest cursor position (null for an empty table). */
  highWater(table: QualifiedName, spec: CursorSpec): Promise<CursorPosition | null>;
  /** The lookback to store for a cursor of this type, from the clock measured before the snapshot. */
  lookbackFor(cursorType: string, clock: string): Promise<string | null>;
  /** The predicates and order that read `range`. */
  cursorRead(spec: CursorSpec, range: CursorRange): Promise<CursorRead>;
  /** Ends the coordinator transaction (after the move). */
  closeSnapshot(): Promise<void>;
  /** Compiles a read (its pushed-down transforms) without running it; a user's SQL that does not compile throws. */
  probeRead(read: ShardRead): Promise<void>;
}

export interface PrepareInput {
  stream: string;
  source: TableInfo;
  /** The projected source columns, in output order. */
  columns: ColumnInfo[];
  /**
   * Generated columns the destination computes from the written ones (`GENERATED ALWAYS AS
   * (expr) STORED` with the source's expression): created with the table, never written.
   */
  computed?: ColumnInfo[];
  target: QualifiedName;
  writeMode: WriteMode;
  /** Write COPY text whatever the types (a cast, or transforms in the pool). */
  forceText?: boolean;
  /** Configured key (destination.primary_key or the stream's), else the source's primary key. */
  key: string[];
  loadMethod: LoadMethod;
  schemaEvolution: SchemaEvolutionPolicy;
}

/** A step of a stream's finish (Sink.finalize): replace builds the new table's indexes, then swaps it in; upsert merges; append commits its state. */
export type FinishStep = 'index build' | 'swap' | 'merge' | 'commit';

/**
 * The destination on the leader: prepares each stream once before any worker writes (tables,
 * staging, user types: leader-first), and finishes it after every shard committed — replace swaps,
 * upsert merges — committing the stream's state in the same transaction.
 */
export interface Sink {
  /** Every stream of the run at once, atomically: a failure leaves the destination as it was. */
  prepare(inputs: readonly PrepareInput[]): Promise<WriteContract[]>;
  /** `onStep`: told as each step of the finish begins (progress shows them with their times). */
  finalize(contract: WriteContract, state?: StreamStateWrite, onStep?: (step: FinishStep) => void): Promise<void>;
  /** After a failed run: drops what prepare made for the run (staging); the target stays as it was. */
  cleanup(contract: WriteContract): Promise<void>;
  /** CDC: applies change records to prepared streams (connectors/contract/changes.ts). */
  changeSink(targets: readonly ChangeTarget[]): ChangeSink;
}
