/**
 * What rb's shard queue (docs/design.md section 14) relies on in the pinned pg-boss (10.4.2),
 * checked against a real server so an upgrade that changes one of them fails here first:
 *
 *   1. an active job past its expireInSeconds is put back (state `retry`) by the maintenance
 *      loop of any instance with `supervise`, and re-fetched with retry_count + 1;
 *   2. a live worker past the expiry is not told anything: its job is re-run while it works, and
 *      its late `complete` lands on the other worker's attempt (pg-boss does not check who
 *      completes) — rb's worker checks the attempt is still its own before reporting;
 *   3. completed (and failed) jobs stay queryable by id, with their output;
 *   4. singletonKey alone does not deduplicate on a `standard` queue; a job id given by the
 *      sender does (insert … on conflict do nothing), which is what rb uses;
 *   5. `fail` with retries left puts the job in `retry`; without, `failed` for good.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import PgBoss from 'pg-boss';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';

let db: TestDb;
let boss: PgBoss;
const Q = 'facts';

beforeAll(async () => {
  db = await createTestDatabase('boss');
  boss = new PgBoss({ connectionString: db.url, supervise: true, maintenanceIntervalSeconds: 1, schedule: false, max: 3 });
  boss.on('error', () => {});
  await boss.start();
  await boss.createQueue(Q, { name: Q, policy: 'standard' });
});

afterAll(async () => {
  await boss?.stop({ graceful: false, wait: true, close: true }).catch(() => {});
  await dropTestDatabases();
});

async function fetchOne(): Promise<PgBoss.JobWithMetadata | null> {
  const jobs = await boss.fetch(Q, { batchSize: 1, includeMetadata: true });
  return (jobs[0] as PgBoss.JobWithMetadata | undefined) ?? null;
}

async function until<T>(what: () => Promise<T | null>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await what();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('pg-boss 10 as rb uses it', () => {
  it('re-runs an expired active job, lets a late complete land on the new attempt, keeps completed jobs', async () => {
    const id = await boss.send(Q, { shard: 1 }, { expireInSeconds: 1, retryLimit: 3, retryDelay: 0 });
    const first = await fetchOne();
    expect(first?.id).toBe(id);
    expect(first?.retryCount).toBe(0);
    // Nobody completes it: after the expiry + a maintenance pass it is fetchable again.
    const second = await until(fetchOne, 8000);
    expect(second.id).toBe(id);
    expect(second.retryCount).toBe(1);
    expect(new Date(second.startedOn).getTime()).toBeGreaterThan(new Date(first!.startedOn).getTime());
    const expired = await boss.getJobById(Q, id!);
    expect(expired?.state).toBe('active');
    // The first (zombie) worker completes late: pg-boss accepts it on the second attempt's row.
    // pg-boss 10's types say void; it resolves with { jobs, requested, affected }.
    const late = (await boss.complete(Q, id!, { by: 'zombie' })) as unknown as { affected: number };
    expect(late.affected).toBe(1);
    // The second attempt's own complete then finds nothing active.
    const own = (await boss.complete(Q, id!, { by: 'second' })) as unknown as { affected: number };
    expect(own.affected).toBe(0);
    const done = await boss.getJobById(Q, id!);
    expect(done?.state).toBe('completed');
    expect(done?.output).toEqual({ by: 'zombie' });
  });

  it('singletonKey alone does not deduplicate on a standard queue; a sender-given id does', async () => {
    const a = await boss.send(Q, { n: 1 }, { singletonKey: 'k' });
    const b = await boss.send(Q, { n: 2 }, { singletonKey: 'k' });
    expect(a).not.toBeNull();
    expect(b).not.toBeNull();
    expect(a).not.toBe(b);
    const fixed = '6a1d4b1e-0000-4000-8000-000000000001';
    expect(await boss.send(Q, { n: 3 }, { id: fixed })).toBe(fixed);
    expect(await boss.send(Q, { n: 4 }, { id: fixed })).toBeNull();
    expect((await boss.getJobById(Q, fixed))?.data).toEqual({ n: 3 });
    // clean the queue for the next case
    for (const id of [a!, b!, fixed]) await boss.cancel(Q, id);
  });

  it('fail: retry while retries are left, then failed for good, output kept', async () => {
    const id = await boss.send(Q, { shard: 2 }, { retryLimit: 1, retryDelay: 0 });
    let job = await until(fetchOne, 3000);
    expect(job.id).toBe(id);
    await boss.fail(Q, id!, { retryable: true });
    expect((await boss.getJobById(Q, id!))?.state).toBe('retry');
    job = await until(fetchOne, 3000);
    await boss.fail(Q, id!, { retryable: true, message: 'second' });
    const failed = await boss.getJobById(Q, id!);
    expect(failed?.state).toBe('failed');
    expect(failed?.output).toEqual({ retryable: true, message: 'second' });
    expect(job.retryCount).toBe(1);
  });
});
