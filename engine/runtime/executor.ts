/**
 * The executor seam: what runs a run's shard tasks. The leader plans, prepares and finishes; an
 * executor only takes tasks (plain data: connectors/contract/connector.ts) and reports each
 * shard's result, retrying transient failures under the run's RetryPolicy and never repeating a
 * shard the ledger shows committed.
 *
 *   LocalExecutor  the Piscina pool of this process (shard-pool.ts): joined or split stages
 *   (a job queue of workers on other machines is the next implementation: issue 14)
 *
 * Created as soon as the parallelism is known, so a local pool's threads start while the leader
 * plans; `release` lets the threads go once the move is done (the leader still finishes).
 */
import { ShardPool, effectiveStageMode, runShardsOnPool, type ShardPoolOptions } from './shard-pool.js';
import type { ShardResult, ShardTask, StageMode } from './shard-task.js';

export type ExecuteOptions = Omit<ShardPoolOptions, 'stageMode'>;

export interface ShardExecutor {
  /** How shards' stages are placed (RunResult.stage_mode). */
  readonly stageMode: StageMode;
  /** Runs every task; resolves with their results, or rejects with the first failure (the others stopped). */
  execute(tasks: ShardTask[], opts: ExecuteOptions): Promise<ShardResult[]>;
  /** Frees the executor's resources (idempotent); the promise settles when they are gone. */
  release(): Promise<void>;
}

export class LocalExecutor implements ShardExecutor {
  readonly stageMode: StageMode;
  private readonly pool: ShardPool;
  private released: Promise<void> | null = null;

  constructor(threads: number, stageMode: StageMode) {
    this.pool = new ShardPool(threads);
    this.stageMode = effectiveStageMode(stageMode, this.pool.threads);
  }

  execute(tasks: ShardTask[], opts: ExecuteOptions): Promise<ShardResult[]> {
    return runShardsOnPool(this.pool, tasks, { ...opts, stageMode: this.stageMode });
  }

  release(): Promise<void> {
    this.released ??= this.pool.destroy().catch(() => {});
    return this.released;
  }
}
