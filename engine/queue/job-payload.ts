/**
 * A queued shard (docs/design.md section 14): what the coordinator puts in a job and what a worker
 * reports back. The payload is the shard task without its endpoints — no password, no TLS key ever
 * enters the queue; it names the connections instead (pipeline + role), and each worker resolves
 * them from its own environment or pipeline file (connections.ts).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SerializedRbError } from '../errors.js';
import { repoPath } from '../paths.js';
import type { ShardResult, ShardTask } from '../runtime/shard-task.js';

/** Bumped when the payload or the report changes shape; with the package version it must match. */
export const QUEUE_PROTOCOL = 1;

export const RB_VERSION = (JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { version: string }).version;

export type ConnectionRole = 'source' | 'destination';

/** A connection a worker resolves for itself: never the credentials, only which one and where (for messages). */
export interface ConnectionRef {
  pipeline: string;
  role: ConnectionRole;
  /** `user@host:port/db` as the coordinator reached it (no password). */
  label: string;
}

export type QueuedTask = Omit<ShardTask, 'source' | 'dest'>;

export interface ShardJobPayload {
  protocol: number;
  rbVersion: string;
  /** `host:pid` of the coordinator (messages). */
  coordinator: string;
  source: ConnectionRef;
  dest: ConnectionRef;
  task: QueuedTask;
  /** The run's retry policy for transient failures, applied by the worker (shard-pool.ts). */
  retry: { maxRetries: number; baseDelayMs: number };
}

/** What a worker leaves on a job (pg-boss `output`). */
export type ShardJobReport =
  | { kind: 'done'; worker: string; result: ShardResult }
  | { kind: 'failed'; worker: string; retryable: boolean; error: SerializedRbError };

export function toPayload(task: ShardTask, ctx: { coordinator: string; retry: ShardJobPayload['retry'] }): ShardJobPayload {
  const { source, dest, ...rest } = task;
  const pipeline = task.ledger?.pipeline ?? task.badRows.pipeline;
  return {
    protocol: QUEUE_PROTOCOL,
    rbVersion: RB_VERSION,
    coordinator: ctx.coordinator,
    source: { pipeline, role: 'source', label: source.label },
    dest: { pipeline, role: 'destination', label: dest.label },
    task: rest,
    retry: ctx.retry,
  };
}

/** The job id of a run's shard: the same shard enqueued twice is one job. */
export function jobId(task: Pick<ShardTask, 'runId' | 'stream' | 'shardIndex'>): string {
  const h = createHash('sha256').update(`${task.runId}\u0000${task.stream}\u0000${task.shardIndex}`).digest('hex');
  // Shaped as a UUID (pg-boss ids are uuid): version 8 (custom), variant 10.
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Why a worker must not run a payload (another rb version or protocol), or null. */
export function versionMismatch(p: Pick<ShardJobPayload, 'protocol' | 'rbVersion' | 'coordinator'>): string | null {
  if (p.protocol === QUEUE_PROTOCOL && p.rbVersion === RB_VERSION) return null;
  return `the coordinator ${p.coordinator} runs rb ${p.rbVersion} (queue protocol ${p.protocol}), this worker rb ${RB_VERSION} (protocol ${QUEUE_PROTOCOL}): run the same rb version on the coordinator and every worker`;
}
