/**
 * rb's durable state as the engine sees it (docs/design.md section 7). The store lives in the
 * destination (connectors/dest-postgres/state-store.ts), so data and the state that covers it
 * commit in one transaction: a shard's ledger row in the shard's transaction, an incremental
 * cursor with the checkpoint or finish that delivers its rows.
 */
import type { QualifiedName } from './qualified-name.js';

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled' | 'abandoned';

export interface StoredRun {
  runId: string;
  /** The run that made the shard plan (a resumed run keeps its predecessor's). */
  planId: string;
  status: RunStatus;
  startedAt: Date;
  finishedAt: Date | null;
  resumedFrom: string | null;
  plan: unknown;
}

export interface StreamState {
  stream: string;
  syncMode: string;
  /** Column names the cursor values belong to (cursor first, then the tie-breaker columns). */
  cursorFields: string[];
  /** Text forms of the last delivered row's cursor fields; null entries are SQL NULLs. */
  cursor: Array<string | null> | null;
  /** Lower bound a next run must re-read from (late commits): text form of a cursor value. */
  lookback: string | null;
  /** CDC: the source position everything before which is applied (`X/Y`), else null. */
  lsn?: string | null;
  updatedAt: Date;
  runId: string;
}

/** A stream's state as written (the store stamps `updatedAt`). */
export type StreamStateWrite = Omit<StreamState, 'updatedAt'>;

export interface LedgerRow {
  stream: string;
  shard: string;
  rows: number;
  bytes: number;
  runId: string;
  /** The 32-bit transaction id (as it appears in xmin) that committed the shard. */
  destXid: number;
}

/** The ledger row a shard transaction inserts just before its COMMIT. */
export interface LedgerEntry {
  schema: string;
  pipeline: string;
  planId: string;
  runId: string;
  stream: string;
  shard: string;
  /**
   * Commit only while the run is `running` (queued shards, docs/design.md section 14): a worker's
   * shard whose coordinator died, failed or was superseded by a later run is rolled back.
   */
  whileRunning?: boolean;
}

/** `details.ledger` of the error a shard transaction fails with when its ledger row cannot go in. */
export type LedgerRefusal =
  /** Another attempt of the same run committed the shard first (an expired job redone, a zombie). */
  | 'committed'
  /** A different run committed it after this run planned (a dead coordinator's worker, late). */
  | 'committed_by_other_run'
  /** The run is no longer `running` (whileRunning). */
  | 'run_not_running'
  /** An incremental checkpoint found the stream's cursor moved by another attempt since this one started (CheckpointSpec.from). */
  | 'superseded';

export interface RunStart {
  runId: string;
  planId: string;
  resumedFrom: string | null;
  plan: unknown;
  snapshots: number;
}

export interface RunFinish {
  status: Exclude<RunStatus, 'running'>;
  rowsWritten: number;
  bytesWritten: number;
  streams: unknown;
  error: unknown;
  retries: number;
}

/**
 * One pipeline's state, on the leader's destination connection. Reads work before `ensure` (an
 * absent or older layout reads as "nothing stored"), so planning writes nothing: bad input found
 * while planning leaves the destination as it was.
 */
export interface StateStore {
  readonly pipeline: string;
  /** Where the runs are recorded, for messages (`"_rb".runs`). */
  readonly runsTable: string;
  /** Takes the pipeline's run lock for the session (one run per pipeline at a time). */
  lock(): Promise<void>;
  /** True when the stored layout is the one this rb writes (else nothing stored is read). */
  readable(): Promise<boolean>;
  /** Creates or upgrades the state tables. */
  ensure(): Promise<void>;
  latestRun(): Promise<StoredRun | null>;
  recentRuns(limit?: number): Promise<Array<Record<string, unknown>>>;
  startRun(s: RunStart): Promise<void>;
  finishRun(runId: string, f: RunFinish): Promise<void>;
  abandonRun(runId: string, why: string): Promise<void>;
  ledger(planId: string): Promise<LedgerRow[]>;
  /** Drops a stream's ledger rows of a plan (its committed shards will not be kept). */
  forgetShards(planId: string, stream: string): Promise<void>;
  /**
   * Removes the rows that `shards` (committed ledger rows) wrote into `target`, and their ledger
   * rows, in one transaction; returns the rows removed. For shards that cannot be finished one by
   * one under a new snapshot (ctid ranges).
   */
  undoShards(target: QualifiedName, planId: string, stream: string, shards: readonly LedgerRow[]): Promise<number>;
  streamStates(): Promise<StreamState[]>;
  /** Forgets the cursors of the named streams (all when null); returns how many went. */
  resetStreams(streams: string[] | null): Promise<number>;
  /**
   * The `unique` rule's claims (dest-postgres/unique-values.ts): made ready for a run of `keepPlan`
   * (the table created when missing, other plans' claims dropped; a resumed plan keeps its own),
   * or, with null, all dropped (the run succeeded).
   */
  uniqueClaims(keepPlan: string | null, restart?: readonly string[]): Promise<void>;
}
