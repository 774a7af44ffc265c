/**
 * The shard queue on pg-boss 10 (connectors/contract/queue.ts; docs/design.md section 14 has what
 * rb relies on, checked by engine/queue/pgboss-facts.test.ts):
 *   - an active job past its expiry is put back (`retry`) by the maintenance pass of any instance
 *     that supervises; the coordinator supervises at a pace set by the run's job timeout;
 *   - completed and failed jobs stay queryable, with what their worker reported (`output`);
 *   - a sender-given id deduplicates (insert … on conflict do nothing); singletonKey alone does not
 *     on a standard queue, so it is only a label here;
 *   - a worker past the expiry is not told, and pg-boss accepts a report from whoever sends it:
 *     `stillMine` compares the job's start time and attempt with the worker's before it reports.
 * `fetch` in pg-boss 10 swallows query errors (an unreachable queue reads as "no job"); `take`
 * checks the connection itself after an empty fetch so a worker says the queue is down.
 */
import PgBoss from 'pg-boss';
import { RbError } from '../contract/errors.js';
import type { JobSpec, JobState, JobStatus, ShardQueue, TakenJob } from '../contract/queue.js';

/** The one queue every rb coordinator and worker of a queue database uses. */
export const SHARD_QUEUE_NAME = 'rb-shards';

/**
 * The states of a run's jobs in one round trip. pg-boss 10 reads one job per query
 * (getJobById); its own table, partitioned by queue name, holds the same row.
 */
const JOB_STATUSES_SQL = (schema: string) => `select id, state, retry_count, output from ${schema}.job where name = $1 and id = any($2::uuid[])`;

export interface PgBossQueueOptions {
  /** postgres:// URL of the queue database. */
  url: string;
  /** Expire stale jobs at this pace (seconds, ≥ 1); 0: leave it to other instances. */
  maintenanceSeconds: number;
  /** Connections in pg-boss's pool. */
  poolSize?: number;
  onError?: (e: Error) => void;
}

export class PgBossQueue<T extends object> implements ShardQueue<T> {
  private boss: PgBoss;
  private readonly schema = 'pgboss';

  constructor(private readonly opts: PgBossQueueOptions) {
    this.boss = this.newBoss();
  }

  private newBoss(): PgBoss {
    const boss = new PgBoss({
      connectionString: this.opts.url,
      schema: this.schema,
      max: this.opts.poolSize ?? 2,
      supervise: this.opts.maintenanceSeconds > 0,
      ...(this.opts.maintenanceSeconds > 0 ? { maintenanceIntervalSeconds: Math.max(1, Math.round(this.opts.maintenanceSeconds)) } : {}),
      schedule: false,
      application_name: 'rb queue',
    });
    boss.on('error', (e: Error) => this.opts.onError?.(e));
    return boss;
  }

  async start(): Promise<void> {
    // Instances starting together on a new queue database race on pg-boss's DDL (its schema
    // install, the queue's partition): a deadlock or duplicate there is retried.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.boss.start();
        if (!(await this.boss.getQueue(SHARD_QUEUE_NAME))) await this.boss.createQueue(SHARD_QUEUE_NAME, { name: SHARD_QUEUE_NAME, policy: 'standard' });
        return;
      } catch (e) {
        const sqlstate = (e as { code?: string }).code;
        if (attempt < 5 && (sqlstate === '40P01' || sqlstate === '23505' || sqlstate === '42P07')) {
          // A PgBoss whose start failed cannot start again (it stays "starting"): a new one.
          await this.boss.stop({ graceful: false, close: true, wait: true }).catch(() => {});
          this.boss = this.newBoss();
          await new Promise((r) => setTimeout(r, 50 + Math.random() * 200 * attempt));
          continue;
        }
        throw queueError('could not open the job queue', e);
      }
    }
  }

  async enqueue(jobs: ReadonlyArray<JobSpec<T>>): Promise<void> {
    if (!jobs.length) return;
    await this.boss
      .insert(
        jobs.map((j) => ({
          id: j.id,
          name: SHARD_QUEUE_NAME,
          data: j.data,
          expireInSeconds: Math.max(1, Math.round(j.expireInSeconds)),
          retryLimit: j.retryLimit,
          retryDelay: j.retryDelaySeconds,
        })),
      )
      .catch((e: unknown) => {
        throw queueError('could not enqueue the shards', e);
      });
  }

  async statuses(ids: readonly string[]): Promise<JobStatus[]> {
    if (!ids.length) return [];
    const r = await this.boss
      .getDb()
      .executeSql(JOB_STATUSES_SQL(this.schema), [SHARD_QUEUE_NAME, ids])
      .catch((e: unknown) => {
        throw queueError('could not read the jobs', e);
      });
    return r.rows.map((row) => ({ id: row.id as string, state: row.state as JobState, attempt: Number(row.retry_count), output: row.output ?? null }));
  }

  async take(): Promise<TakenJob<T> | null> {
    const jobs = await this.boss.fetch<T>(SHARD_QUEUE_NAME, { batchSize: 1, includeMetadata: true });
    const job = jobs[0];
    if (!job) {
      // pg-boss 10 returns [] when the fetch query failed: make a dead queue visible.
      await this.boss
        .getDb()
        .executeSql('select 1', [])
        .catch((e: unknown) => {
          throw queueError('the job queue is unreachable', e);
        });
      return null;
    }
    return { id: job.id, data: job.data, attempt: job.retryCount, startedAt: new Date(job.startedOn) };
  }

  async stillMine(job: TakenJob<T>): Promise<boolean> {
    const now = await this.boss.getJobById<T>(SHARD_QUEUE_NAME, job.id);
    return !!now && now.state === 'active' && now.retryCount === job.attempt && new Date(now.startedOn).getTime() === job.startedAt.getTime();
  }

  async complete(job: TakenJob<T>, output: object): Promise<void> {
    await this.boss.complete(SHARD_QUEUE_NAME, job.id, output);
  }

  async fail(job: TakenJob<T>, output: object): Promise<void> {
    await this.boss.fail(SHARD_QUEUE_NAME, job.id, output);
  }

  async cancel(ids: readonly string[]): Promise<void> {
    if (ids.length) await this.boss.cancel(SHARD_QUEUE_NAME, [...ids]);
  }

  async close(): Promise<void> {
    await this.boss.stop({ graceful: false, close: true, wait: true }).catch(() => {});
  }
}

function queueError(what: string, e: unknown): RbError {
  const message = e instanceof Error ? e.message : String(e);
  return new RbError('usage', `${what}: ${message}`, { cause: e, details: { queue: true } });
}
