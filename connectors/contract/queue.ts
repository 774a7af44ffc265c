/**
 * The job queue queued runs hand their shards through (docs/design.md section 14): the coordinator
 * enqueues one job per shard and watches their states; `rb worker`s take jobs, run them and report.
 * The queue only carries work and reports: whether a shard is done is the shard ledger's word
 * (state.ts), never the queue's, so a job run twice or reported late does no harm.
 *
 * PostgreSQL implementation: connectors/queue-pgboss/pgboss-queue.ts (pg-boss 10).
 */

/** pg-boss's job states (created → active → completed | retry → active … | failed | cancelled). */
export type JobState = 'created' | 'retry' | 'active' | 'completed' | 'cancelled' | 'failed';

export interface JobSpec<T> {
  /** Given by the sender: enqueueing the same id twice makes one job. */
  id: string;
  data: T;
  /** An active job not reported within this is put back for another worker (its worker is presumed dead). */
  expireInSeconds: number;
  /** How often the job may be put back (expiry or a retryable failure) before it fails for good. */
  retryLimit: number;
  /** Delay before a job put back may be taken again. */
  retryDelaySeconds: number;
}

export interface JobStatus {
  id: string;
  state: JobState;
  /** 0 for the first attempt. */
  attempt: number;
  /** What the last report left (JobReport), or null. */
  output: unknown;
}

/** A job a worker holds: its attempt is identified by when it started. */
export interface TakenJob<T> {
  id: string;
  data: T;
  attempt: number;
  startedAt: Date;
}

export interface ShardQueue<T> {
  /** Connects, creates the queue's tables and the queue when missing. */
  start(): Promise<void>;
  enqueue(jobs: ReadonlyArray<JobSpec<T>>): Promise<void>;
  /** The states of these jobs (one round trip). */
  statuses(ids: readonly string[]): Promise<JobStatus[]>;
  /** The next job to run, or null when there is none. */
  take(): Promise<TakenJob<T> | null>;
  /**
   * False when the job was put back or taken again since `job` started (this attempt expired): its
   * report would land on another attempt, so the worker must not report it.
   */
  stillMine(job: TakenJob<T>): Promise<boolean>;
  complete(job: TakenJob<T>, output: object): Promise<void>;
  /** Reports a failure: the job goes back for another attempt while its retries last, else fails for good. */
  fail(job: TakenJob<T>, output: object): Promise<void>;
  /** Jobs that have not run yet do not; active ones are marked cancelled (their workers' reports are ignored). */
  cancel(ids: readonly string[]): Promise<void>;
  close(): Promise<void>;
}
