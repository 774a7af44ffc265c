/**
 * The unit of work handed to a pool worker: one shard of one stream, or one stage of it. Plain
 * data (structured clone), built by the main thread after the leader has prepared the destination.
 * A shard task is both halves of the connector contract (connectors/contract/connector.ts): what
 * the source reads (ReadTask) and how the destination writes it (WriteTask).
 */
import type { CheckpointSpec, CursorContinuation, ReadTask, ShardHighWater, ShardProgress, WriteResult, WriteTask } from '../../connectors/contract/connector.js';
import type { Endpoint } from '../../connectors/registry.js';
import { RbError } from '../errors.js';
import type { RingChannelHandle } from './ring-channel.js';
import type { StageWaits } from './stage-timing.js';

export type { CheckpointSpec, ShardProgress };

export interface ShardTask extends ReadTask<Endpoint>, WriteTask<Endpoint> {
  runId: string;
  /** Index of the stream in the run (for ring-buffer frame headers and progress). */
  streamIndex: number;
  shardCount: number;
  /** Frames allowed in flight between the source and destination stage. */
  maxInflightChunks: number;
  /** The planner's estimate of the shard's size (a queued job's default timeout). */
  estimatedBytes?: number;
  /** An incremental shard that checkpoints: how a later attempt continues after a stored cursor (continue-task.ts). */
  continuation?: CursorContinuation;
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
  /** Where the shard's committed data reaches (WriteResult.highWater). */
  highWater?: ShardHighWater;
  /** Rows the destination rejected, dropped (`skip`) or dead-lettered (`dlq`): not in `rows`. */
  rowsSkipped?: number;
  rowsDeadLettered?: number;
  /** Values written as NULL because the destination's type did not take them (type_change: null). */
  valuesNulled?: number;
  /** A queued shard: the `rb worker` (host:pid) that committed it. */
  worker?: string;
  /** Time the source stage was blocked by backpressure, and the destination stage waited for data (stage-timing.ts; absent with RB_TELEMETRY=0). */
  sourceBlockedMs?: number;
  destWaitMs?: number;
}

/** The error for a stage that stopped because the other stage or the run stopped first. */
export function cancelledError(task: { stream: string; shardIndex: number }): RbError {
  return new RbError('cancelled', `${task.stream} shard ${task.shardIndex}: cancelled`, { stream: task.stream, shard: task.shardIndex });
}

/** A shard's result from what its destination stage wrote. */
export function shardResult(task: { stream: string; shardIndex: number }, w: WriteResult, durationMs: number, waits?: Partial<StageWaits>): ShardResult {
  return {
    stream: task.stream,
    shardIndex: task.shardIndex,
    rows: w.rows,
    bytes: w.bytes,
    durationMs,
    ...(w.checkpoints ? { checkpoints: w.checkpoints } : {}),
    ...(w.highWater ? { highWater: w.highWater } : {}),
    ...(w.rowsSkipped ? { rowsSkipped: w.rowsSkipped } : {}),
    ...(w.rowsDeadLettered ? { rowsDeadLettered: w.rowsDeadLettered } : {}),
    ...(w.valuesNulled ? { valuesNulled: w.valuesNulled } : {}),
    ...(waits?.sourceBlockedMs !== undefined ? { sourceBlockedMs: waits.sourceBlockedMs } : {}),
    ...(waits?.destWaitMs !== undefined ? { destWaitMs: waits.destWaitMs } : {}),
  };
}
