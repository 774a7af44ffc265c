/**
 * RB_BENCH_CPU_SLOWDOWN's work (write-shard.ts cpuSlowdown): after each chunk the writer spins for
 * the given share of the time the chunk took — CPU used, not a sleep — which is what the bench
 * gate's detection rate was measured with (bench/README.md, "Choosing the gate").
 */
import { describe, expect, it } from 'vitest';
import { cpuSlowdown } from './write-shard.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('RB_BENCH_CPU_SLOWDOWN', () => {
  it('spins for the share of the time since the previous chunk, on the CPU', async () => {
    const slow = cpuSlowdown(0.5);
    await sleep(200); // "a chunk that took 200 ms"
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    slow();
    const wall = performance.now() - t0;
    const used = process.cpuUsage(cpu);
    expect(wall).toBeGreaterThanOrEqual(100); // 0.5 × 200 ms
    expect((used.user + used.system) / 1000).toBeGreaterThan(25); // busy, not asleep
    // The next chunk is measured from the end of the spin: right away, almost nothing to add.
    const t1 = performance.now();
    slow();
    expect(performance.now() - t1).toBeLessThan(wall);
  });
});
