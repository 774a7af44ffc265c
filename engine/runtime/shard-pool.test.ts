/**
 * A pool whose workers cannot start (their module fails to load) fails the run with a clear
 * internal error instead of crashing the process or leaving the shards waiting forever (Piscina
 * replaces such workers again and again and keeps the tasks queued).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RbError } from '../errors.js';
import { ShardPool, runShardsOnPool } from './shard-pool.js';
import type { ShardTask } from './shard-task.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rb-pool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const task = { stream: 'public.t', shardIndex: 0, maxInflightChunks: 4, chunkBytes: 65536 } as unknown as ShardTask;

function brokenWorker(name: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, "throw new Error('worker module exploded at load');\n");
  return file;
}

async function failure(pool: ShardPool): Promise<unknown> {
  return await runShardsOnPool(pool, [task, { ...task, shardIndex: 1 }]).then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('ShardPool whose workers cannot start', () => {
  it('fails the run when the workers died before any shard was submitted (the pool boots during planning)', async () => {
    const pool = new ShardPool(2, { filename: brokenWorker('broken-a.mjs') });
    try {
      for (let i = 0; i < 200 && !pool.startError; i++) await new Promise((r) => setTimeout(r, 50));
      expect(pool.startError?.message).toMatch(/pool worker failed .*worker module exploded at load/);
      const started = Date.now();
      const err = await failure(pool);
      expect(err).toBeInstanceOf(RbError);
      expect((err as RbError).code).toBe('internal');
      expect((err as RbError).message).toMatch(/pool worker failed .*worker module exploded at load/);
      expect(Date.now() - started).toBeLessThan(30_000);
    } finally {
      await pool.destroy();
    }
  });

  it('fails the run when a shard was already waiting for the worker', async () => {
    const pool = new ShardPool(2, { filename: brokenWorker('broken-b.mjs') });
    try {
      const err = await failure(pool);
      expect(err).toBeInstanceOf(RbError);
      expect((err as RbError).code).toBe('internal');
      expect((err as RbError).message).toMatch(/worker module exploded at load/);
    } finally {
      await pool.destroy();
    }
  });
});
