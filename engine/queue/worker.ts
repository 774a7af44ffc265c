/**
 * `rb worker --queue <url>` (docs/design.md section 14): takes shard jobs from the queue and runs
 * each with the same stages as a local run (the pool of engine/runtime/shard-pool.ts: ShardReader →
 * ShardWriter, data and ledger row committed in one destination transaction, transient failures
 * retried under the run's policy, rejected rows isolated under on_data_error).
 *
 *   per slot (--concurrency N):  take a job ─► version check ─► resolve its connections
 *       (connections.ts) ─► ledger has the shard? ─yes─► report done (skipped)
 *                                        └─no──► run it on the pool ─► report done / failed
 *
 * Reports: `done` with the shard's result; `failed` with the error, classified `retryable` when it
 * is transient (the queue gives the job to another attempt) or not (the coordinator stops the run).
 * A ledger refusal because another attempt committed the shard first is `done`: nothing doubled.
 * A job that expired while this worker ran it belongs to another attempt now: nothing is reported.
 *
 * Signals: the first SIGTERM/SIGINT stops taking jobs and lets the shards in hand finish, then the
 * worker exits 0; a second one stops them (their transactions roll back) and puts their jobs back.
 */
import os from 'node:os';
import { setTimeout as wait } from 'node:timers/promises';
import { PgBossQueue } from '../../connectors/queue-pgboss/pgboss-queue.js';
import type { TakenJob } from '../../connectors/contract/queue.js';
import { openStateStore } from '../../connectors/registry.js';
import { isTransient, RbError } from '../errors.js';
import { continueAfterCheckpoint } from '../runtime/continue-task.js';
import { runShardsOnPool, ShardPool } from '../runtime/shard-pool.js';
import type { ShardResult, ShardTask } from '../runtime/shard-task.js';
import { ConnectionResolver } from './connections.js';
import { versionMismatch, type ShardJobPayload, type ShardJobReport } from './job-payload.js';

export interface WorkerOptions {
  queueUrl: string;
  concurrency: number;
  /** `--pipeline` files the worker may take connections from. */
  pipelineFiles: string[];
  log: (line: string) => void;
  /** Aborted: take no more jobs, finish those in hand. */
  drain: AbortSignal;
  /** Aborted: stop the shards in hand and put their jobs back. */
  stop: AbortSignal;
  /** How long an idle slot waits before it asks the queue again. */
  pollMs?: number;
  /** Expire stale jobs of dead workers at this pace too (seconds). */
  maintenanceSeconds?: number;
}

export interface WorkerSummary {
  worker: string;
  shardsCommitted: number;
  shardsSkipped: number;
  shardsFailed: number;
  released: number;
}

type Job = TakenJob<ShardJobPayload>;

export async function runWorker(opts: WorkerOptions): Promise<WorkerSummary> {
  const me = `${os.hostname()}:${process.pid}`;
  const resolver = new ConnectionResolver(opts.pipelineFiles);
  const queue = new PgBossQueue<ShardJobPayload>({ url: opts.queueUrl, maintenanceSeconds: opts.maintenanceSeconds ?? 30, poolSize: Math.min(10, opts.concurrency + 1), onError: (e) => opts.log(`rb worker: job queue: ${e.message}`) });
  const summary: WorkerSummary = { worker: me, shardsCommitted: 0, shardsSkipped: 0, shardsFailed: 0, released: 0 };
  await queue.start();
  const pool = new ShardPool(opts.concurrency);
  const pollMs = opts.pollMs ?? 1000;
  opts.log(`rb worker ${me}: waiting for shard jobs (concurrency ${opts.concurrency})`);

  const report = async (job: Job, output: ShardJobReport, how: 'complete' | 'fail') => {
    // An attempt that outlived its expiry: the job is another worker's now.
    if (!(await queue.stillMine(job).catch(() => false))) {
      opts.log(`rb worker ${me}: job ${job.id} expired while this worker ran it; another attempt owns it (nothing reported)`);
      return;
    }
    await (how === 'complete' ? queue.complete(job, output) : queue.fail(job, output));
  };

  const runJob = async (job: Job): Promise<void> => {
    const p = job.data;
    const where = `${p.task.stream} shard ${p.task.shardIndex}`;
    opts.log(`rb worker ${me}: took ${where} of run ${p.task.runId} (attempt ${job.attempt + 1})`);
    const started = performance.now();
    try {
      const mismatch = versionMismatch(p);
      if (mismatch) throw new RbError('usage', `${where}: ${mismatch}`);
      const [source, dest] = await Promise.all([resolver.resolve(p.source), resolver.resolve(p.dest)]);
      const task: ShardTask = { ...p.task, source, dest };
      const result = await runShard(task, p, opts.stop);
      if (result.skipped) summary.shardsSkipped++;
      else summary.shardsCommitted++;
      await report(job, { kind: 'done', worker: me, result }, 'complete');
      opts.log(`rb worker ${me}: ${where} ${result.skipped ? 'was committed already; skipped' : `committed: ${result.rows} rows in ${Math.round(performance.now() - started)} ms`}`);
    } catch (e) {
      const err = e instanceof RbError ? e : new RbError('internal', e instanceof Error ? e.message : String(e));
      if (opts.stop.aborted && err.code === 'cancelled') {
        summary.released++;
        opts.log(`rb worker ${me}: ${where} stopped (rolled back); its job goes back to the queue`);
        await report(job, { kind: 'failed', worker: me, retryable: true, error: err.toJSON() }, 'fail').catch(() => {});
        return;
      }
      summary.shardsFailed++;
      const retryable = isTransient(err);
      opts.log(`rb worker ${me}: ${where} failed (${retryable ? 'retryable' : 'not retryable'}): ${err.message}`);
      await report(job, { kind: 'failed', worker: me, retryable, error: err.toJSON() }, 'fail').catch((r) => opts.log(`rb worker ${me}: could not report the failure: ${(r as Error).message}`));
    }
  };

  /** The shard unless the ledger has it; a ledger refusal because another attempt won is a skip. */
  const runShard = async (task: ShardTask, p: ShardJobPayload, stop: AbortSignal): Promise<ShardResult> => {
    const ledger = task.ledger;
    const state = ledger ? await openStateStore(task.dest, { schema: ledger.schema, pipeline: ledger.pipeline }) : null;
    const committed = async (t: ShardTask): Promise<ShardResult | null> => {
      if (!state || !t.ledger) return null;
      const row = (await state.state.ledger(t.ledger.planId)).find((r) => r.stream === t.stream && r.shard === t.ledger!.shard);
      return row ? { stream: t.stream, shardIndex: t.shardIndex, rows: row.rows, bytes: row.bytes, durationMs: 0, skipped: true } : null;
    };
    // An incremental shard that checkpoints continues after what an earlier attempt committed.
    const refresh = async (t: ShardTask): Promise<ShardTask> => (state && t.checkpoint ? continueAfterCheckpoint(t, await state.state.streamStates()) : t);
    try {
      const before = await committed(task);
      if (before) return before;
      const first = await refresh(task);
      if (first !== task) opts.log(`rb worker ${me}: ${task.stream} shard ${task.shardIndex}: continues after the cursor an earlier attempt checkpointed`);
      try {
        const [result] = await runShardsOnPool(pool, [first], {
          signal: stop,
          stageMode: 'joined',
          retry: {
            maxRetries: p.retry.maxRetries,
            baseDelayMs: p.retry.baseDelayMs,
            committed,
            refresh,
            onRetry: (t, attempt, err, delayMs) => opts.log(`rb worker ${me}: ${t.stream} shard ${t.shardIndex}: ${err.message} — retry ${attempt} of ${p.retry.maxRetries} in ${delayMs} ms`),
          },
        });
        return result;
      } catch (e) {
        if (e instanceof RbError && e.details?.ledger === 'committed') {
          opts.log(`rb worker ${me}: ${task.stream} shard ${task.shardIndex}: the ledger refused this attempt's commit: ${e.message}`);
          const after = await committed(task);
          if (after) return after;
        }
        throw e;
      }
    } finally {
      await state?.close();
    }
  };

  const slot = async (): Promise<void> => {
    let idle = pollMs;
    while (!opts.drain.aborted && !opts.stop.aborted) {
      let job: Job | null;
      try {
        job = await queue.take();
        idle = pollMs;
      } catch (e) {
        opts.log(`rb worker ${me}: ${(e as Error).message}; trying again in ${Math.round(idle / 1000)} s`);
        await pause(idle, opts.drain);
        idle = Math.min(30_000, idle * 2);
        continue;
      }
      if (!job) {
        await pause(pollMs, opts.drain);
        continue;
      }
      await runJob(job);
    }
  };

  try {
    await Promise.all(Array.from({ length: opts.concurrency }, slot));
  } finally {
    await pool.destroy().catch(() => {});
    await queue.close();
  }
  opts.log(`rb worker ${me}: stopped (${summary.shardsCommitted} committed, ${summary.shardsSkipped} skipped, ${summary.shardsFailed} failed, ${summary.released} put back)`);
  return summary;
}

/** Waits `ms`, or less when `signal` aborts. */
const pause = (ms: number, signal?: AbortSignal): Promise<void> => wait(ms, undefined, { signal }).catch(() => {});
