/**
 * Runs shard tasks on a Piscina pool sized from the effective parallelism (DESIGN section 3).
 * Each task runs a shard's source and destination stage together, so no stage ever waits on a
 * stage that cannot be scheduled: any number of shards completes with any pool size.
 * The first failure aborts every other task (Piscina terminates their workers, which closes their
 * sockets, so the servers roll their transactions back) and is the error reported.
 */
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { RbError } from '../errors.js';
import type { ShardOutcome } from './shard-worker.js';
import type { ShardProgress, ShardResult, ShardTask } from './shard-task.js';

const WORKER_FILE = fileURLToPath(new URL('./shard-worker.ts', import.meta.url));

export interface ShardPoolOptions {
  onProgress?: (p: ShardProgress) => void;
}

/**
 * The run's worker pool. Created as soon as the effective parallelism is known (before discovery
 * and DDL), so worker start-up overlaps the leader's planning.
 */
export class ShardPool {
  readonly threads: number;
  readonly piscina: Piscina;

  constructor(threads: number) {
    this.threads = Math.max(1, threads);
    this.piscina = new Piscina({
      filename: WORKER_FILE,
      minThreads: this.threads,
      maxThreads: this.threads,
      concurrentTasksPerWorker: 1,
      idleTimeout: 30_000,
      // Workers run the TypeScript sources through tsx, like the main thread.
      execArgv: ['--import', 'tsx'],
    });
  }

  async destroy(): Promise<void> {
    await this.piscina.destroy();
  }
}

export async function runShardsOnPool(shardPool: ShardPool, tasks: ShardTask[], opts: ShardPoolOptions = {}): Promise<ShardResult[]> {
  const pool = shardPool.piscina;
  const progressChannel = `rb-progress-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const channel = new BroadcastChannel(progressChannel);
  channel.onmessage = (ev: MessageEvent) => opts.onProgress?.(ev.data as ShardProgress);
  const abort = new AbortController();
  let first: RbError | null = null;
  try {
    const runs = tasks.map(async (task) => {
      try {
        const outcome = (await pool.run({ ...task, progressChannel }, { signal: abort.signal })) as ShardOutcome;
        if (!outcome.ok) throw RbError.fromJSON(outcome.error);
        return outcome.result;
      } catch (e) {
        const err = e instanceof RbError ? e : abort.signal.aborted ? new RbError('cancelled', 'cancelled') : new RbError('internal', `shard worker failed: ${(e as Error)?.message ?? e}`, { stream: task.stream, shard: task.shardIndex, cause: e });
        // The first failure wins; later ones are its consequences (cancellation).
        if (!first && err.code !== 'cancelled') {
          first = err;
          abort.abort(err);
        }
        throw err;
      }
    });
    const settled = await Promise.allSettled(runs);
    if (first) throw first;
    const failed = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failed) throw failed.reason;
    return settled.map((s) => (s as PromiseFulfilledResult<ShardResult>).value);
  } finally {
    channel.close();
  }
}
