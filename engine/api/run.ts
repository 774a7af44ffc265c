/**
 * `run(config)`: one run of a pipeline (engine/run/run-pipeline.ts) with its progress as typed
 * events and an AbortSignal to cancel it — what `rb run` uses (engine/cli/run-command.ts turns the
 * events into progress bars and the signal into SIGINT/SIGTERM).
 */
import type { CdcProgress } from '../run/run-cdc.js';
import { exitCodeOf, runPipeline, type CdcCommit, type ShardRetry, type FinishStep, type FinishStepTime, type PhaseEvent, type RunPhase, type RunResult, type StreamResult } from '../run/run-pipeline.js';
import type { PipelineConfig } from '../config/index.js';
import type { LifecycleEvent } from '../run/lifecycle.js';

export interface PlannedStream {
  name: string;
  /** The source's estimate (pg_class.reltuples); the run's rows may differ. */
  estimatedRows: number;
  estimatedBytes: number;
  shards: number;
}

/**
 * What a run reports while it runs: `start` first, `phase` start/end around each phase, `planned`
 * once at the end of plan, then `progress` / `stream-finish` / `cdc` / `log` / `retry` as they come;
 * the lifecycle's `slot-created`, `snapshot-done` (cdc, first run), `cdc-commit` (each group) and
 * `cursor-commit` (incremental) when they happen.
 */
export type RunEvent =
  /** start · slot-created · snapshot-done · cursor-commit (engine/run/lifecycle.ts). */
  | LifecycleEvent
  | { kind: 'planned'; streams: PlannedStream[] }
  /** Rows and bytes one shard has moved so far (cumulative for that shard). */
  | { kind: 'progress'; stream: string; shardIndex: number; rows: number; bytes: number }
  /** CDC: changes applied and lag, about once a second while changes are read. */
  | ({ kind: 'cdc' } & CdcProgress)
  /** A line rb would print on stderr (a warning, a resume). */
  | { kind: 'log'; line: string }
  /** A shard retried after a transient failure (`line`: what rb prints for it). */
  | ({ kind: 'retry' } & ShardRetry)
  /** CDC: a group of source transactions committed in the destination, with the position stored. */
  | ({ kind: 'cdc-commit' } & CdcCommit)
  /**
   * A phase (plan, prepare, move, finish) starting or ending, with its elapsed time at the end; and
   * each stream's finish steps (replace: index build, swap; upsert: merge; append: commit) with their times.
   */
  | PhaseEvent;

export interface RunOptions {
  /** Overrides `resources.parallelism`. */
  parallelism?: 'auto' | number;
  /** Do not resume an unfinished earlier run of this pipeline. */
  fresh?: boolean;
  /** CDC pipelines: after the catch-up keep streaming until `signal` aborts (then finish, `succeeded`). */
  follow?: boolean;
  /**
   * Cancels the run: shards stop and roll back, what the run created and did not finish is
   * dropped, the run is recorded `cancelled` and the promise resolves with status `cancelled`.
   */
  signal?: AbortSignal;
  onEvent?: (event: RunEvent) => void;
  /** Cores the parallelism resolver assumes (default: os.availableParallelism()). */
  availableCores?: number;
  /** Return before the worker threads have exited (a caller that ends the process right after, like the CLI). */
  leavePoolClosing?: boolean;
  /**
   * Run the shards as jobs on a pg-boss queue in this PostgreSQL database (`url`), taken by
   * `rb worker --queue` processes on any machine; `jobTimeoutSeconds`: how long a worker may hold
   * a shard before another redoes it (default from the shard's estimated size).
   */
  queue?: { url: string; jobTimeoutSeconds?: number };
}

/** Every RunEvent kind (checked against the union: a kind added there must be added here). */
export const RUN_EVENT_KINDS = ['start', 'phase', 'stream-finish', 'planned', 'progress', 'cdc', 'cdc-commit', 'log', 'retry', 'slot-created', 'snapshot-done', 'cursor-commit'] as const satisfies readonly RunEvent['kind'][];
type MissingKind = Exclude<RunEvent['kind'], (typeof RUN_EVENT_KINDS)[number]>;
const everyKind: MissingKind extends never ? true : MissingKind = true;
void everyKind;

export type { CdcCommit, LifecycleEvent, ShardRetry, FinishStep, FinishStepTime, PhaseEvent, RunPhase, RunResult, StreamResult };

/**
 * Runs the pipeline once. Resolves with the result whatever happened — `status` is `succeeded`,
 * `failed` (with `error`) or `cancelled`; `exitCode(result)` is what `rb run` would exit with.
 *
 * @example
 *   const result = await run(loadPipeline('pipeline.yaml'), { onEvent: (e) => e.kind === 'log' && console.error(e.line) });
 */
export async function run(config: PipelineConfig, opts: RunOptions = {}): Promise<RunResult> {
  const emit = opts.onEvent ?? (() => {});
  return runPipeline(config, {
    parallelism: opts.parallelism,
    fresh: opts.fresh,
    follow: opts.follow,
    signal: opts.signal,
    availableCores: opts.availableCores,
    leavePoolClosing: opts.leavePoolClosing,
    queue: opts.queue,
    log: (line) => emit({ kind: 'log', line }),
    onPlanned: (streams) => emit({ kind: 'planned', streams }),
    onProgress: (p) => emit({ kind: 'progress', stream: p.stream, shardIndex: p.shardIndex, rows: p.rows, bytes: p.bytes }),
    onCdcProgress: (p) => emit({ kind: 'cdc', ...p }),
    onCdcCommit: (c) => emit({ kind: 'cdc-commit', ...c }),
    onRetry: (r) => emit({ kind: 'retry', ...r }),
    onPhase: (e) => emit(e),
    onLifecycle: (e) => emit(e),
  });
}

/** The exit code `rb run` gives a result: 0 succeeded, 130 cancelled, else the error's (2–5, 1 internal). */
export function exitCode(result: RunResult): number {
  return exitCodeOf(result);
}
