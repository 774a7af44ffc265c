/**
 * The executor seam: what runs a run's shard tasks. The leader plans, prepares and finishes; an
 * executor only takes tasks (plain data: connectors/contract/connector.ts) and reports each
 * shard's result, retrying transient failures under the run's RetryPolicy and never repeating a
 * shard the ledger shows committed.
 *
 *   LocalExecutor  the Piscina pool of this process (shard-pool.ts): joined or split stages; a
 *                  run of a single shard whose pool was never started runs in this thread
 *   QueueExecutor  engine/queue/queue-executor.ts: one job per shard on a pg-boss queue, run by
 *                  `rb worker` processes on any machine; done when the ledger has every shard
 *
 * Created as soon as the parallelism is known; `warm()` starts a local pool's threads so they boot
 * while the leader plans (worth it when shards are coming); `release` lets the threads go once the
 * move is done (the leader still finishes).
 */
import type { LedgerRow } from '../../connectors/contract/state.js';
import { InlineRunner, ShardPool, effectiveStageMode, runShardsOnPool, type JobRunner, type ShardPoolOptions } from './shard-pool.js';
import type { ShardResult, ShardTask, StageMode } from './shard-task.js';

export type ExecuteOptions = Omit<ShardPoolOptions, 'stageMode'> & {
  /** The run's committed shards (the ledger): what a queued run waits on (engine/queue/queue-executor.ts). */
  ledger?: () => Promise<LedgerRow[]>;
};

export interface ShardExecutor {
  /** How shards' stages are placed (RunResult.stage_mode). */
  readonly stageMode: StageMode;
  /** Runs every task; resolves with their results, or rejects with the first failure (the others stopped). */
  execute(tasks: ShardTask[], opts: ExecuteOptions): Promise<ShardResult[]>;
  /** Starts what the executor needs ahead of `execute` (a local pool's threads). Idempotent. */
  warm(): void;
  /** Frees the executor's resources (idempotent); the promise settles when they are gone. */
  release(): Promise<void>;
}

export class LocalExecutor implements ShardExecutor {
  readonly stageMode: StageMode;
  private readonly threads: number;
  private pool: ShardPool | null = null;
  private runner: JobRunner | null = null;
  private released: Promise<void> | null = null;

  constructor(threads: number, stageMode: StageMode) {
    this.threads = Math.max(1, threads);
    this.stageMode = effectiveStageMode(stageMode, this.threads);
  }

  warm(): void {
    this.pool ??= new ShardPool(this.threads);
  }

  /**
   * One joined shard and no pool started yet: this thread runs it (InlineRunner); otherwise the
   * pool (started now if `warm` was not called).
   */
  execute(tasks: ShardTask[], opts: ExecuteOptions): Promise<ShardResult[]> {
    // RB_IN_PROCESS=0: always the pool (the A/B of bench/incremental).
    if (!this.pool && tasks.length === 1 && this.stageMode === 'joined' && process.env.RB_IN_PROCESS !== '0') this.runner = new InlineRunner();
    else this.runner = this.pool ??= new ShardPool(this.threads);
    return runShardsOnPool(this.runner, tasks, { ...opts, stageMode: this.stageMode });
  }

  /** How the last `execute` ran its shards: on the pool's threads, or in this thread. */
  get ranInline(): boolean {
    return this.runner instanceof InlineRunner;
  }

  release(): Promise<void> {
    this.released ??= (this.pool?.destroy() ?? Promise.resolve()).catch(() => {});
    return this.released;
  }
}
