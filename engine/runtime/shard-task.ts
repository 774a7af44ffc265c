/**
 * The unit of work handed to a pool worker: one shard of one stream, or one stage of it. Plain
 * data (structured clone), built by the main thread after the leader has prepared the destination.
 */
import type { PgEndpoint } from '../../connectors/postgres/connection.js';
import { queryError } from '../../connectors/postgres/connection.js';
import type { LedgerEntry } from '../../connectors/dest-postgres/state-store.js';
import type { WriteContract } from '../../connectors/dest-postgres/write-contract.js';
import { RbError, classifyPgError, isConnectionError, pgErrorInfo } from '../errors.js';
import type { RingChannelHandle } from './ring-channel.js';

export interface ShardTask {
  runId: string;
  stream: string;
  /** Index of the stream in the run (for ring-buffer frame headers and progress). */
  streamIndex: number;
  shardIndex: number;
  shardCount: number;
  source: PgEndpoint;
  dest: PgEndpoint;
  /** Snapshot exported by the run's coordinator transaction; every shard reads it. */
  snapshot: string | null;
  /** `COPY (SELECT ... WHERE <shard predicate>) TO STDOUT ...` for this shard. */
  copyOutSql: string;
  /**
   * A key-range shard of several: read it through the key's index (`enable_seqscan = off` for the
   * snapshot transaction). A sequential scan would visit the whole heap to filter its range, so
   * every extra shard would cost the source another full scan (measured on 2M rows: two halves by
   * seq scan + filter 5.9–6.1 s of server time, by index 5.0–5.2 s, the whole table 3.4–4.5 s).
   * Without a usable index the planner still scans sequentially; an uncorrelated key gets a bitmap
   * scan (each page once).
   */
  preferIndexScan?: boolean;
  contract: WriteContract;
  /** Target bytes per chunk moved between source and destination. */
  chunkBytes: number;
  /** Chunks allowed in flight between the source and destination stage. */
  maxInflightChunks: number;
  /** Test/bench hook: sleep this long per chunk (RB_BENCH_DELAY_MS). */
  delayPerChunkMs: number;
  /**
   * The shard's ledger row, inserted in the shard's destination transaction just before COMMIT
   * (connectors/dest-postgres/state-store.ts): a retried or resumed run finds it and skips the shard.
   */
  ledger?: LedgerEntry;
  /** Incremental reads: checkpoint the stream's cursor with the data as it goes (checkpoint.ts). */
  checkpoint?: CheckpointSpec;
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
  /** Lookback to store with the final cursor (late commits; run-incremental.ts). */
  lookback: string | null;
  /** The run's high-water mark: stored at the end even when the shard delivered no rows. */
  finalCursor: Array<string | null> | null;
}

/**
 * How a shard's two stages are placed on the pool (issue: parallel runtime):
 *   joined  both stages in one pool task, joined by an in-thread AsyncQueue (no copies);
 *   split   the source stage and the destination stage in two pool tasks on two threads,
 *           joined by a SharedArrayBuffer RingChannel. Needs two free threads per shard: on a
 *           pool of one thread every shard runs joined.
 */
export type StageMode = 'joined' | 'split';

export const STAGE_MODES: readonly StageMode[] = ['joined', 'split'];

/** What a pool worker runs: a whole shard, or one stage of a split shard with the ring it shares. */
export type ShardJob =
  | (ShardTask & { role: 'joined'; progressChannel?: string })
  | (ShardTask & { role: 'source'; ring: RingChannelHandle; progressChannel?: string })
  | (ShardTask & { role: 'dest'; ring: RingChannelHandle; progressChannel?: string });

export interface ShardResult {
  stream: string;
  shardIndex: number;
  rows: number;
  bytes: number;
  durationMs: number;
  /** Attempts that failed with a transient error before this one succeeded. */
  retries?: number;
  /** True when the ledger already had the shard: nothing was copied this time. */
  skipped?: boolean;
  /** Checkpoint commits the shard made (incremental). */
  checkpoints?: number;
}

export interface ShardProgress {
  stream: string;
  shardIndex: number;
  rows: number;
  bytes: number;
}

/** A failure that came from a server or its connection (as opposed to a bug of ours). */
function isDatabaseSide(e: unknown): boolean {
  return pgErrorInfo(e) !== undefined || isConnectionError(e);
}

/**
 * Remembers the last error a client emitted on its own (a FATAL ErrorResponse that arrived between
 * queries, such as 57P01 "terminating connection due to administrator command"): when the stage
 * then fails with a bare socket or "not queryable" error, the server's message says why.
 */
export function watchClientErrors(client: { on(event: 'error', listener: (e: Error) => void): unknown }): () => unknown {
  let last: unknown;
  client.on('error', (e) => {
    last ??= e;
  });
  return () => last;
}

/** The server's error when `e` is only its consequence (a broken socket, an unusable client). */
export function explainedBy(e: unknown, clientError: unknown): unknown {
  if (clientError === undefined || e instanceof RbError || pgErrorInfo(e)) return e;
  return pgErrorInfo(clientError) ? clientError : e;
}

/**
 * The RbError a stage reports for `e`: an RbError is kept as it is (it may be the other stage's
 * error, delivered through the channel); a server or socket failure becomes `source_query` or
 * `dest_query` naming the shard and what the stage was doing; anything else is `internal`.
 */
export function stageError(task: ShardTask, e: unknown, role: 'source' | 'destination', doing: string): RbError {
  const where = { stream: task.stream, shard: task.shardIndex };
  let err: RbError;
  if (e instanceof RbError) err = e;
  else if (isDatabaseSide(e)) err = markTransient(queryError(e, role, `${task.stream} shard ${task.shardIndex}: ${doing}`, where), classifyPgError(e) === 'retryable');
  else err = new RbError('internal', `${task.stream} shard ${task.shardIndex}: ${e instanceof Error ? e.message : String(e)}`, { ...where, cause: e });
  err.stream ??= task.stream;
  err.shard ??= task.shardIndex;
  return err;
}

/**
 * Marks whether a stage's failure is transient (connection loss, admin shutdown, serialization
 * failure, deadlock: classifyPgError) in the error's details, which survive the trip to the main
 * thread, where the scheduler decides to retry the shard (shard-pool.ts).
 */
export function markTransient(err: RbError, transient: boolean): RbError {
  if (transient) (err as { details?: Record<string, unknown> }).details = { ...err.details, transient: true };
  return err;
}

/** True for an error the scheduler may retry the shard for: marked transient, or a failed connect. */
export function isTransient(err: RbError): boolean {
  return err.details?.transient === true || err.code === 'source_connect' || err.code === 'dest_connect';
}

/** The error for a stage that stopped because the other stage or the run stopped first. */
export function cancelledError(task: ShardTask): RbError {
  return new RbError('cancelled', `${task.stream} shard ${task.shardIndex}: cancelled`, { stream: task.stream, shard: task.shardIndex });
}
