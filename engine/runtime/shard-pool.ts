/**
 * Runs shard tasks on a Piscina pool sized from the effective parallelism (docs/design.md section 3).
 *
 * Stage modes (RB_STAGE_MODE, see StageMode in shard-task.ts):
 *   joined  one pool task per shard runs both stages (copy-shard.ts): one thread per shard;
 *   split   per shard, a source task and a destination task on two threads, joined by a ring
 *           channel that the main thread creates (and cancels when either task fails or dies, so
 *           its partner never waits on a stage that is gone).
 *
 * Co-scheduling: a split shard's stages must run at the same time (the source blocks on a full
 * ring until the destination drains it). So the scheduler never has more tasks outstanding than
 * the pool has threads, and submits a shard's two tasks together, only when two threads are free:
 * both start at once on idle workers, and no stage ever waits on a stage that cannot be scheduled.
 * Any number of shards completes with any pool size. A pool of one thread cannot hold a pair: every
 * shard then runs joined. With an odd pool in split mode one thread stays idle.
 *
 * The first failure aborts every other task (Piscina terminates their workers, which closes their
 * sockets, so the servers roll their transactions back) and is the error reported.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { isTransient, RbError } from '../errors.js';
import { COMPILED, repoPath } from '../paths.js';
import { RingChannel } from './ring-channel.js';
import runShardJob, { type ShardOutcome } from './shard-worker.js';
import { STAGE_MODES, type ShardJob, type ShardProgress, type ShardResult, type ShardTask, type StageMode } from './shard-task.js';

/**
 * The module each pool worker loads. Compiled: a CommonJS file that import()s dist's ESM worker,
 * never the ESM file itself: Piscina require()s a worker's module, and a worker terminated while
 * Node's require() of an ES module is under way aborts the process (shard-worker-entry.cjs says
 * more; test: shard-pool-boot.test.ts). From the sources, tsx compiles the TypeScript worker for
 * require(), which has no such hazard.
 */
export const workerFile = (compiled: boolean): string =>
  compiled ? repoPath('engine', 'runtime', 'shard-worker-entry.cjs') : repoPath('engine', 'runtime', 'shard-worker.ts');
const WORKER_FILE = workerFile(COMPILED);

/**
 * Worker flags when running from the TypeScript sources: tsx's loader by absolute URL. A bare
 * `--import tsx` is resolved from the process's working directory, so `rb run` started anywhere but
 * the repository would have every worker fail to load.
 */
function sourceWorkerExecArgv(): string[] {
  return ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href];
}

/** Ring frames are the chunk size rounded up to this; larger chunks travel as several frames. */
const FRAME_ROUND_BYTES = 64 * 1024;

/**
 * Retrying shards that failed with a transient error (connection loss, admin shutdown,
 * serialization failure, deadlock: `isTransient`), within the same run and snapshot, with
 * exponential backoff. Before each retry `committed` asks the shard ledger whether the failed
 * attempt's COMMIT did reach the destination (a connection lost right after COMMIT): such a shard
 * is done and is never copied again.
 */
export interface RetryPolicy {
  maxRetries: number;
  /** Delay before the first retry; doubled for each next one, up to MAX_RETRY_DELAY_MS. */
  baseDelayMs: number;
  committed(task: ShardTask): Promise<ShardResult | null>;
  /**
   * The task to run again: an incremental shard that committed checkpoints before it failed must
   * continue after its last stored cursor, not re-read (append would duplicate) what is committed.
   */
  refresh?(task: ShardTask): Promise<ShardTask>;
  onRetry?(task: ShardTask, attempt: number, err: RbError, delayMs: number): void;
}

const MAX_RETRY_DELAY_MS = 10_000;

/** The shard's isolating attempt: read and written as COPY text, row by row when it must. */
function isolating(task: ShardTask): ShardTask {
  return { ...task, isolate: true, read: { ...task.read, format: 'text' }, contract: { ...task.contract, format: 'text' } };
}

export interface ShardPoolOptions {
  onProgress?: (p: ShardProgress) => void;
  retry?: RetryPolicy;
  /** Default 'joined'. 'split' needs two threads per shard (on a one-thread pool shards run joined). */
  stageMode?: StageMode;
  /** Cancels the run's shards (SIGINT/SIGTERM): running ones are stopped, the rest never start; rejects with a `cancelled` error. */
  signal?: AbortSignal;
}

/**
 * What runs one job (a whole shard, or one stage of a split shard): the pool's worker threads, or
 * this thread (InlineRunner: a run of one shard needs no thread started for it).
 */
export interface JobRunner {
  readonly threads: number;
  run(job: ShardJob, signal: AbortSignal): Promise<ShardOutcome>;
  /** Calls `listener` with an error that makes the runner unusable (a worker that cannot start). */
  onStartError(listener: (e: RbError) => void): () => void;
  destroy(): Promise<void>;
}

/**
 * The run's worker pool. Created as soon as the effective parallelism is known (before discovery
 * and DDL), so worker start-up overlaps the leader's planning.
 */
export class ShardPool implements JobRunner {
  readonly threads: number;
  readonly piscina: Piscina;
  /** The first error of a worker outside any task (it failed to start): the pool cannot work. */
  startError: RbError | null = null;
  private readonly startErrorListeners = new Set<(e: RbError) => void>();

  constructor(threads: number, opts: { filename?: string } = {}) {
    this.threads = Math.max(1, threads);
    this.piscina = new Piscina({
      filename: opts.filename ?? WORKER_FILE,
      minThreads: this.threads,
      maxThreads: this.threads,
      concurrentTasksPerWorker: 1,
      idleTimeout: 30_000,
      // Compiled (dist/): plain JavaScript workers with the process's own flags (undefined: inherit).
      // From the sources: through tsx, like the main thread.
      execArgv: COMPILED ? undefined : sourceWorkerExecArgv(),
    });
    // Piscina reports a worker that dies outside a task (e.g. its module fails to load) here, and
    // keeps replacing it: without this listener the process crashes, and a task waits forever.
    this.piscina.on('error', (e: unknown) => {
      if (this.startError) return;
      this.startError = new RbError('internal', `a pool worker failed outside any shard (did it start?): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      for (const l of this.startErrorListeners) l(this.startError);
    });
  }

  /** Calls `listener` with the pool's start error, now if there is one, or when it happens. */
  onStartError(listener: (e: RbError) => void): () => void {
    if (this.startError) listener(this.startError);
    else this.startErrorListeners.add(listener);
    return () => this.startErrorListeners.delete(listener);
  }

  run(job: ShardJob, signal: AbortSignal): Promise<ShardOutcome> {
    return this.piscina.run(job, { signal }) as Promise<ShardOutcome>;
  }

  async destroy(): Promise<void> {
    await this.piscina.destroy();
  }
}

/**
 * Runs jobs in this thread, one at a time: for a run of one shard (an incremental stream's next
 * read), where starting a worker thread (~150–250 ms of CPU here, module loading included) would
 * cost more than the shard. Joined stages only (one thread).
 */
export class InlineRunner implements JobRunner {
  readonly threads = 1;
  run(job: ShardJob, signal: AbortSignal): Promise<ShardOutcome> {
    return runShardJob(job, signal);
  }
  onStartError(): () => void {
    return () => {};
  }
  async destroy(): Promise<void> {}
}

/** `RB_STAGE_MODE`: joined (default) | split. Anything else is a usage error naming the variable. */
export function stageModeFromEnv(env: NodeJS.ProcessEnv = process.env): StageMode {
  const raw = env.RB_STAGE_MODE?.trim();
  if (!raw) return 'joined';
  if ((STAGE_MODES as readonly string[]).includes(raw)) return raw as StageMode;
  throw new RbError('usage', `RB_STAGE_MODE: expected one of ${STAGE_MODES.join(', ')}, found '${raw}'`);
}

/** The mode shards actually run in: split needs at least two threads. */
export function effectiveStageMode(mode: StageMode, threads: number): StageMode {
  return mode === 'split' && threads >= 2 ? 'split' : 'joined';
}

/** The ring's largest frame for a task: its chunk size, rounded up. */
export function ringFrameBytes(chunkBytes: number): number {
  return Math.ceil(Math.max(1, chunkBytes) / FRAME_ROUND_BYTES) * FRAME_ROUND_BYTES;
}

export async function runShardsOnPool(shardPool: JobRunner, tasks: ShardTask[], opts: ShardPoolOptions = {}): Promise<ShardResult[]> {
  const mode = effectiveStageMode(opts.stageMode ?? 'joined', shardPool.threads);
  const threadsPerShard = mode === 'split' ? 2 : 1;
  const progressChannel = `rb-progress-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const channel = new BroadcastChannel(progressChannel);
  channel.onmessage = (ev: MessageEvent) => opts.onProgress?.(ev.data as ShardProgress);
  const abort = new AbortController();
  const rings = new Set<RingChannel>();
  let first: RbError | null = null;
  let freeThreads = shardPool.threads;
  let wake: (() => void) | null = null;
  const wakeScheduler = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  abort.signal.addEventListener('abort', () => {
    for (const ring of rings) ring.cancel();
    wakeScheduler();
  });
  const cancel = () => {
    if (first) return;
    first = new RbError('cancelled', 'cancelled (SIGINT/SIGTERM)');
    abort.abort(first);
  };
  if (opts.signal?.aborted) cancel();
  opts.signal?.addEventListener('abort', cancel, { once: true });
  // The first failure wins; later ones are its consequences (cancellation).
  const record = (err: RbError) => {
    if (!first && err.code !== 'cancelled') {
      first = err;
      abort.abort(err);
    }
  };

  const runJob = async (job: ShardJob): Promise<ShardResult> => {
    try {
      const outcome = await shardPool.run({ ...job, progressChannel }, abort.signal);
      if (!outcome.ok) throw RbError.fromJSON(outcome.error);
      return outcome.result;
    } catch (e) {
      throw e instanceof RbError ? e : abort.signal.aborted ? new RbError('cancelled', 'cancelled') : new RbError('internal', `shard worker failed: ${(e as Error)?.message ?? e}`, { stream: job.stream, shard: job.shardIndex, cause: e });
    }
  };

  const runSplit = async (task: ShardTask): Promise<ShardResult> => {
    const ring = RingChannel.create({ capacity: task.maxInflightChunks, maxFrameBytes: ringFrameBytes(task.chunkBytes) });
    rings.add(ring);
    const handle = ring.handle();
    // A stage that failed without closing the ring (a crashed worker) must not leave its partner
    // waiting; after a fail() or end() the cancel is a no-op for the state the partner reads.
    const stopPartner = (e: unknown): never => {
      ring.cancel();
      throw e;
    };
    try {
      const [read, written] = await Promise.allSettled([
        runJob({ ...task, role: 'source', ring: handle }).catch(stopPartner),
        runJob({ ...task, role: 'dest', ring: handle }).catch(stopPartner),
      ]);
      // The stage that failed first owns the error; its partner's is a cancellation.
      const failures = [read, written].filter((x): x is PromiseRejectedResult => x.status === 'rejected').map((x) => x.reason as RbError);
      if (failures.length) throw failures.find((e) => e?.code !== 'cancelled') ?? failures[0];
      if (read.status !== 'fulfilled' || written.status !== 'fulfilled') throw new RbError('internal', 'unreachable');
      const rejected = (written.value.rowsSkipped ?? 0) + (written.value.rowsDeadLettered ?? 0);
      if (read.value.rows !== written.value.rows + rejected) {
        throw new RbError('internal', `${task.stream} shard ${task.shardIndex}: the source stage read ${read.value.rows} rows, the destination stage wrote ${written.value.rows}`, { stream: task.stream, shard: task.shardIndex });
      }
      // The shard's waits: the source stage's blocked time and the destination stage's wait.
      return read.value.sourceBlockedMs === undefined ? written.value : { ...written.value, sourceBlockedMs: read.value.sourceBlockedMs };
    } finally {
      rings.delete(ring);
    }
  };

  /** One shard, retried on transient failures; holds its thread(s) until it is done for good. */
  const runShard = async (first: ShardTask): Promise<ShardResult> => {
    const retry = opts.retry;
    let task = first;
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          const result = threadsPerShard === 2 ? await runSplit(task) : await runJob({ ...task, role: 'joined' });
          return attempt ? { ...result, retries: attempt } : result;
        } catch (e) {
          const err = e as RbError;
          // The destination rejected a row: run the shard again isolating its bad rows
          // (connectors/dest-postgres/bad-rows.ts), under the same snapshot. Not a retry: nothing
          // transient happened, and it does not count against max_retries.
          if (err.code === 'data_error' && err.details?.isolate === true && !task.isolate && !abort.signal.aborted) {
            if (retry?.refresh) task = await retry.refresh(task);
            task = isolating(task);
            attempt--;
            continue;
          }
          if (!retry || abort.signal.aborted || attempt >= retry.maxRetries || !isTransient(err)) {
            record(err);
            throw err;
          }
          const delayMs = Math.min(MAX_RETRY_DELAY_MS, retry.baseDelayMs * 2 ** attempt);
          retry.onRetry?.(task, attempt + 1, err, delayMs);
          await new Promise((r) => setTimeout(r, delayMs));
          if (abort.signal.aborted) throw new RbError('cancelled', 'cancelled');
          const done = await retry.committed(task).catch(() => null);
          if (done) return { ...done, retries: attempt + 1 };
          // Unreadable state (the destination still down): the next attempt fails and says so.
          if (retry.refresh) task = await retry.refresh(task).catch(() => task);
        }
      }
    } finally {
      freeThreads += threadsPerShard;
      wakeScheduler();
    }
  };

  // A pool whose workers cannot start fails the run instead of leaving its tasks waiting.
  const stopListening = shardPool.onStartError(record);
  try {
    const runs: Array<Promise<ShardResult>> = [];
    for (const task of tasks) {
      // Never more tasks than threads, and a split shard's two tasks only together: every submitted
      // task starts at once, so a stage never waits for its partner to be scheduled.
      while (freeThreads < threadsPerShard && !abort.signal.aborted) await new Promise<void>((r) => (wake = r));
      if (abort.signal.aborted) break;
      freeThreads -= threadsPerShard;
      const run = runShard(task);
      run.catch(() => {});
      runs.push(run);
    }
    const settled = await Promise.allSettled(runs);
    if (first) throw first;
    const failed = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failed) throw failed.reason;
    if (runs.length < tasks.length) throw new RbError('cancelled', 'cancelled');
    return settled.map((s) => (s as PromiseFulfilledResult<ShardResult>).value);
  } finally {
    opts.signal?.removeEventListener('abort', cancel);
    stopListening();
    channel.close();
  }
}
