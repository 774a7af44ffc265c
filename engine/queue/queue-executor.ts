/**
 * The coordinator's side of a queued run (`rb run --queue <url>`, docs/design.md section 14): a
 * ShardExecutor (engine/runtime/executor.ts) that runs no shard itself. It enqueues one job per
 * shard task (without passwords: job-payload.ts) and waits until
 *
 *   the shard ledger shows every shard committed          → the shards' results, and which
 *                                                           worker ran each (from the jobs)
 *   a job failed for good, or reported a failure that
 *   retrying cannot fix (not transient)                    → that error; the other jobs are cancelled
 *   the signal aborts (SIGINT/SIGTERM)                     → cancelled; the jobs are cancelled
 *
 * The ledger decides what is done, never the queue: a job run twice, completed late or by a zombie
 * changes nothing here. The coordinator keeps the run's snapshot open meanwhile (run-pipeline.ts):
 * workers import it, so they must reach the same source server while it lives.
 */
import os from 'node:os';
import { setTimeout as wait } from 'node:timers/promises';
import { PgBossQueue } from '../../connectors/queue-pgboss/pgboss-queue.js';
import type { JobStatus } from '../../connectors/contract/queue.js';
import type { LedgerRow } from '../../connectors/contract/state.js';
import { RbError } from '../errors.js';
import type { ExecuteOptions, ShardExecutor } from '../runtime/executor.js';
import type { ShardResult, ShardTask } from '../runtime/shard-task.js';
import { jobId, toPayload, type ShardJobPayload, type ShardJobReport } from './job-payload.js';

export interface QueueRunOptions {
  /** postgres:// URL of the queue database (pg-boss's tables live in its schema `pgboss`). */
  url: string;
  /** `--job-timeout`: seconds a worker may hold a shard before it is given to another; default from the shard's estimated bytes. */
  jobTimeoutSeconds?: number;
  log?: (line: string) => void;
}

/** Which worker ran a shard, in `--json` (`queue.shards`). */
export interface QueuedShardReport {
  stream: string;
  shard: number;
  /** `host:pid` of the `rb worker` that committed it; null when that attempt died before it reported. */
  worker: string | null;
  /** 1 + the times the job was put back (expired, or failed transiently) and taken again. */
  attempts: number;
  rows: number;
  duration_ms: number;
  /** The reporting worker found the shard committed by an attempt that died before it reported (`worker` null). */
  skipped?: boolean;
}

export interface QueueReport {
  /** The queue database, without password. */
  queue: string;
  jobs: number;
  /** Shards each worker committed. */
  workers: Record<string, number>;
  shards: QueuedShardReport[];
}

/** How long the coordinator waits for the jobs between two looks at the ledger and the queue. */
const POLL_MS = Number(process.env.RB_QUEUE_POLL_MS) || 250;
/** After every shard is in the ledger, how long to wait for the last jobs' reports (which worker). */
const REPORT_GRACE_MS = 5_000;
/** Said once when no worker has taken a job this long after enqueueing. */
const NO_WORKER_WARNING_MS = 30_000;
/** Shards per eligible stream of a queued run with `parallelism: auto`. */
export const QUEUED_AUTO_SHARDS = 16;
/** At most this many shards per stream: each is a job, a snapshot import and a destination transaction. */
export const MAX_QUEUED_SHARDS = 1024;
/** Job timeout when none is given: 2 minutes + 1 s per 16 MiB of the shard (≥ 16 MiB/s per shard), below pg-boss's 24 h. */
export function defaultJobTimeoutSeconds(estimatedBytes: number | undefined): number {
  return Math.min(23 * 3600, 120 + Math.ceil(Math.max(0, estimatedBytes ?? 0) / (16 * 1024 * 1024)));
}

export class QueueExecutor implements ShardExecutor {
  readonly stageMode = 'joined' as const;
  report: QueueReport | null = null;
  private readonly queue: PgBossQueue<ShardJobPayload>;
  private opening: Promise<void> | null = null;
  private released: Promise<void> | null = null;

  constructor(private readonly opts: QueueRunOptions) {
    // Expired jobs are put back by a maintenance pass: a few of them per job timeout.
    const maintenanceSeconds = Math.min(30, Math.max(1, Math.floor((opts.jobTimeoutSeconds ?? 120) / 4)));
    this.queue = new PgBossQueue({ url: opts.url, maintenanceSeconds, onError: (e) => opts.log?.(`rb: job queue: ${e.message}`) });
  }

  /**
   * Shards for a stream that may be sharded (`localTarget` > 1): a local run caps them at its
   * pool's depth (resolve-parallelism.ts), but a queue spreads them over machines, so the
   * parallelism asked for (`resources.parallelism` / `--parallelism`: the workers' total
   * concurrency) is shared among the eligible streams uncapped; auto: QUEUED_AUTO_SHARDS each.
   */
  shardTarget(localTarget: number, manual: 'auto' | number, eligibleStreams: number): number {
    if (localTarget <= 1) return localTarget;
    const want = manual === 'auto' ? QUEUED_AUTO_SHARDS : Math.ceil(manual / Math.max(1, eligibleStreams));
    return Math.min(MAX_QUEUED_SHARDS, Math.max(1, want));
  }

  /** Opens the queue (pg-boss creates its tables on first use) while the leader plans. */
  warm(): void {
    this.open().catch(() => {});
  }

  private open(): Promise<void> {
    this.opening ??= this.queue.start();
    return this.opening;
  }

  async execute(tasks: ShardTask[], opts: ExecuteOptions): Promise<ShardResult[]> {
    const ledger = opts.ledger;
    if (!ledger) throw new RbError('internal', 'a queued run needs the shard ledger to see what is committed');
    // Nothing to copy (a cdc run that only catches up, which the coordinator does itself).
    if (!tasks.length) return this.results(new Map(), new Map(), new Map(), queueLabel(this.opts.url));
    await this.open();
    const coordinator = `${os.hostname()}:${process.pid}`;
    const retry = { maxRetries: opts.retry?.maxRetries ?? 0, baseDelayMs: opts.retry?.baseDelayMs ?? 500 };
    const byId = new Map<string, ShardTask>();
    const jobs = tasks.map((t) => {
      const id = jobId(t);
      byId.set(id, t);
      // Workers commit a shard only while this run is `running` (state-store.ts insertLedgerRow).
      const queued: ShardTask = t.ledger ? { ...t, ledger: { ...t.ledger, whileRunning: true } } : t;
      return {
        id,
        data: toPayload(queued, { coordinator, retry }),
        expireInSeconds: this.opts.jobTimeoutSeconds ?? defaultJobTimeoutSeconds(t.estimatedBytes),
        // Each expiry (a dead worker) and each transient failure a worker gave up on costs one.
        retryLimit: Math.max(3, retry.maxRetries + 1),
        retryDelaySeconds: 1,
      };
    });
    await this.queue.enqueue(jobs);
    const label = queueLabel(this.opts.url);
    this.opts.log?.(`rb: ${jobs.length} shard job(s) queued on ${label}; rb worker --queue processes run them`);

    const committed = new Map<string, LedgerRow>();
    const statuses = new Map<string, JobStatus>();
    const pending = new Set(byId.keys());
    const started = Date.now();
    let warned = false;
    const keyOf = (t: ShardTask) => `${t.stream}\u0000${t.ledger?.shard ?? t.shardIndex}`;
    try {
      for (;;) {
        if (opts.signal?.aborted) throw new RbError('cancelled', 'cancelled (SIGINT/SIGTERM)');
        const [rows, states] = await Promise.all([ledger(), this.queue.statuses([...byId.keys()])]);
        const inLedger = new Map(rows.map((r) => [`${r.stream}\u0000${r.shard}`, r]));
        for (const s of states) statuses.set(s.id, s);
        for (const id of [...pending]) {
          const t = byId.get(id)!;
          const row = inLedger.get(keyOf(t));
          if (row) {
            pending.delete(id);
            committed.set(id, row);
            opts.onProgress?.({ stream: t.stream, shardIndex: t.shardIndex, rows: row.rows, bytes: row.bytes });
            continue;
          }
          const failure = givenUp(statuses.get(id), t);
          if (failure) throw failure;
        }
        if (!pending.size) break;
        if (!warned && Date.now() - started > NO_WORKER_WARNING_MS && [...statuses.values()].every((s) => s.state === 'created')) {
          warned = true;
          this.opts.log?.(`rb: no worker has taken a job for ${NO_WORKER_WARNING_MS / 1000} s: start rb worker --queue <this queue> on machines that reach the source and the destination`);
        }
        await pause(POLL_MS, opts.signal);
      }
      // Every shard is committed; the reports say who did it (a zombie may never report: grace).
      const graceEnd = Date.now() + REPORT_GRACE_MS;
      while (Date.now() < graceEnd && [...byId.keys()].some((id) => !reported(statuses.get(id)))) {
        await pause(POLL_MS);
        for (const s of await this.queue.statuses([...byId.keys()])) statuses.set(s.id, s);
      }
    } catch (e) {
      // Nothing more of this run should start; active shards that still commit are rolled back
      // once the run is no longer `running` (or kept in the ledger, like a local run's, for append).
      await this.queue.cancel([...pending]).catch(() => {});
      throw e;
    }
    return this.results(byId, committed, statuses, label);
  }

  private results(byId: Map<string, ShardTask>, committed: Map<string, LedgerRow>, statuses: Map<string, JobStatus>, label: string): ShardResult[] {
    const report: QueueReport = { queue: label, jobs: byId.size, workers: {}, shards: [] };
    const results: ShardResult[] = [];
    for (const [id, t] of byId) {
      const row = committed.get(id)!;
      const st = statuses.get(id);
      const out = st?.output as ShardJobReport | null | undefined;
      const done = out?.kind === 'done' ? out : null;
      // A worker that found the shard committed did not run it: the attempt that did died before it reported.
      const worker = done && !done.result.skipped ? done.worker : null;
      const attempts = (st?.attempt ?? 0) + 1;
      const base = done?.result ?? { stream: t.stream, shardIndex: t.shardIndex, rows: row.rows, bytes: row.bytes, durationMs: 0 };
      const retries = (base.retries ?? 0) + attempts - 1;
      results.push({ ...base, rows: row.rows, bytes: row.bytes, skipped: undefined, worker: worker ?? undefined, ...(retries ? { retries } : { retries: undefined }) });
      if (worker) report.workers[worker] = (report.workers[worker] ?? 0) + 1;
      report.shards.push({ stream: t.stream, shard: t.shardIndex, worker, attempts, rows: row.rows, duration_ms: Math.round(base.durationMs), ...(done?.result.skipped ? { skipped: true } : {}) });
    }
    this.report = report;
    return results;
  }

  release(): Promise<void> {
    this.released ??= (this.opening ? this.opening.catch(() => {}) : Promise.resolve()).then(() => this.queue.close());
    return this.released;
  }
}

/** Whether a job's report is in (or it can no longer come). */
function reported(s: JobStatus | undefined): boolean {
  return !s || s.state === 'completed' || s.state === 'failed' || s.state === 'cancelled';
}

/**
 * The error to stop the run with when a shard's job cannot succeed any more: it failed for good
 * (retries spent, or expired once too often), was cancelled, or its worker reported a failure that
 * another attempt would only repeat (not transient: bad data, a missing connection, another rb
 * version). Null while it may still succeed.
 */
function givenUp(s: JobStatus | undefined, t: ShardTask): RbError | null {
  if (!s) return null;
  const out = s.output as (ShardJobReport & { value?: { message?: string } }) | null;
  const reportedFailure = out?.kind === 'failed' ? out : null;
  const where = `${t.stream} shard ${t.shardIndex}`;
  if (reportedFailure && (!reportedFailure.retryable || s.state === 'failed')) {
    const e = RbError.fromJSON(reportedFailure.error);
    return new RbError(e.code, `${e.message} (on worker ${reportedFailure.worker}${s.state === 'failed' ? `, attempt ${s.attempt + 1}, no retries left` : ''})`, {
      stream: e.stream ?? t.stream,
      shard: e.shard ?? t.shardIndex,
      pg: e.pg,
      details: e.details,
    });
  }
  if (s.state === 'failed') {
    const why = out?.value?.message ?? 'no report';
    return new RbError('internal', `${where}: its job failed for good after ${s.attempt + 1} attempt(s): ${why} (a worker that died or ran past the job timeout each time: raise --job-timeout, or look at the workers' logs)`, { stream: t.stream, shard: t.shardIndex });
  }
  if (s.state === 'cancelled') return new RbError('cancelled', `${where}: its job was cancelled in the queue`, { stream: t.stream, shard: t.shardIndex });
  return null;
}

/** The queue URL for messages: its password replaced. */
export function queueLabel(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'the queue database';
  }
}

/** Waits `ms`, or less when `signal` aborts. */
const pause = (ms: number, signal?: AbortSignal): Promise<void> => wait(ms, undefined, { signal }).catch(() => {});
