import { describe, expect, it } from 'vitest';
import {
  MAX_AUTO_CAP,
  MAX_SHARD_DEPTH,
  MIN_TRANSFORM_FACTOR,
  TRANSFORM_PENALTY_SLOPE,
  resolveParallelism,
  telemetry,
  transformFactor,
  type ParallelismStream,
  type SyncMode,
} from './resolve-parallelism.js';

function streams(fullRefresh: number, others: SyncMode[] = []): ParallelismStream[] {
  const out: ParallelismStream[] = [];
  for (let i = 0; i < fullRefresh; i++) out.push({ name: `public.fr_${i}`, syncMode: 'full_refresh', sourceKind: 'postgres' });
  others.forEach((syncMode, i) => out.push({ name: `public.${syncMode}_${i}`, syncMode, sourceKind: 'postgres' }));
  return out;
}

describe('resolveParallelism constants', () => {
  it('has the values named in DESIGN section 4', () => {
    expect(MAX_AUTO_CAP).toBe(16);
    expect(MAX_SHARD_DEPTH).toBe(4);
    expect(TRANSFORM_PENALTY_SLOPE).toBe(0.15);
    expect(MIN_TRANSFORM_FACTOR).toBe(0.6);
  });
});

describe('resolveParallelism (auto)', () => {
  it('uses one worker when no stream is eligible', () => {
    const plan = resolveParallelism({ availableCores: 8, streams: streams(0, ['incremental', 'cdc']), transformCount: 0 });
    expect(plan.mode).toBe('auto');
    expect(plan.effective).toBe(1);
    expect(plan.eligibleStreams).toBe(0);
    expect(plan.perStreamTarget).toBe(1);
  });

  it('treats an absent override and "auto" the same', () => {
    const a = resolveParallelism({ availableCores: 8, streams: streams(3), transformCount: 1 });
    const b = resolveParallelism({ availableCores: 8, streams: streams(3), transformCount: 1, manual: 'auto' });
    expect(b).toEqual(a);
  });

  it('caps by min(cores, 16)', () => {
    const plan = resolveParallelism({ availableCores: 64, streams: streams(40), transformCount: 0 });
    expect(plan.cap).toBe(16);
    expect(plan.effective).toBe(16);
    expect(plan.availableCores).toBe(64);
    const small = resolveParallelism({ availableCores: 3, streams: streams(40), transformCount: 0 });
    expect(small.cap).toBe(3);
    expect(small.effective).toBe(3);
  });

  it('gives one stream at most MAX_SHARD_DEPTH shards, however many cores', () => {
    const plan = resolveParallelism({ availableCores: 32, streams: streams(1), transformCount: 0 });
    expect(plan.perStreamTarget).toBe(4);
    expect(plan.effective).toBe(4);
    expect(plan.shardTargets['public.fr_0']).toBe(4);
  });

  it('never shards incremental or cdc streams and does not count them', () => {
    const plan = resolveParallelism({ availableCores: 16, streams: streams(2, ['incremental', 'cdc', 'incremental']), transformCount: 0 });
    expect(plan.eligibleStreams).toBe(2);
    expect(plan.perStreamTarget).toBe(4);
    expect(plan.effective).toBe(8);
    expect(plan.shardTargets).toEqual({
      'public.fr_0': 4,
      'public.fr_1': 4,
      'public.incremental_0': 1,
      'public.cdc_1': 1,
      'public.incremental_2': 1,
    });
  });

  it('applies the transform factor max(0.6, 1/(1+0.15n))', () => {
    expect(transformFactor(0)).toBe(1);
    expect(transformFactor(1)).toBeCloseTo(1 / 1.15, 12);
    expect(transformFactor(3)).toBeCloseTo(1 / 1.45, 12);
    expect(transformFactor(10)).toBe(0.6); // 1/2.5 = 0.4 is below the floor
    // With 16 cores and 4 eligible streams base = 16: 16, round(13.91), round(11.03), 16 * 0.6.
    const eff = (n: number) => resolveParallelism({ availableCores: 16, streams: streams(4), transformCount: n }).effective;
    expect([eff(0), eff(1), eff(3), eff(10)]).toEqual([16, 14, 11, 10]);
  });

  it('never goes below one worker, even with many transforms on one core', () => {
    const plan = resolveParallelism({ availableCores: 1, streams: streams(1), transformCount: 100 });
    expect(plan.effective).toBe(1);
  });

  // Expected values worked out by hand from the formula (see the header of resolve-parallelism.ts).
  // [cores, eligible, transforms, effective, perStreamTarget]
  const table: Array<[number, number, number, number, number]> = [
    [1, 0, 0, 1, 1], [1, 0, 2, 1, 1], [1, 0, 10, 1, 1],
    [1, 1, 0, 1, 1], [1, 1, 2, 1, 1], [1, 1, 10, 1, 1],
    [1, 3, 0, 1, 1], [1, 3, 2, 1, 1], [1, 3, 10, 1, 1],
    [1, 10, 0, 1, 1], [1, 10, 2, 1, 1], [1, 10, 10, 1, 1],
    [2, 0, 0, 1, 1], [2, 0, 2, 1, 1], [2, 0, 10, 1, 1],
    [2, 1, 0, 2, 2], [2, 1, 2, 2, 2], [2, 1, 10, 1, 2],
    [2, 3, 0, 2, 1], [2, 3, 2, 2, 1], [2, 3, 10, 1, 1],
    [2, 10, 0, 2, 1], [2, 10, 2, 2, 1], [2, 10, 10, 1, 1],
    [8, 0, 0, 1, 1], [8, 0, 2, 1, 1], [8, 0, 10, 1, 1],
    [8, 1, 0, 4, 4], [8, 1, 2, 3, 4], [8, 1, 10, 2, 4],
    [8, 3, 0, 6, 2], [8, 3, 2, 5, 2], [8, 3, 10, 4, 2],
    [8, 10, 0, 8, 1], [8, 10, 2, 6, 1], [8, 10, 10, 5, 1],
    [32, 0, 0, 1, 1], [32, 0, 2, 1, 1], [32, 0, 10, 1, 1],
    [32, 1, 0, 4, 4], [32, 1, 2, 3, 4], [32, 1, 10, 2, 4],
    [32, 3, 0, 12, 4], [32, 3, 2, 9, 4], [32, 3, 10, 7, 4],
    [32, 10, 0, 10, 1], [32, 10, 2, 8, 1], [32, 10, 10, 6, 1],
  ];
  it.each(table)('cores=%i eligible=%i transforms=%i -> effective %i, %i shards per stream', (cores, eligible, transforms, effective, perStream) => {
    // Non-eligible streams ride along in every case: they must change nothing.
    const plan = resolveParallelism({ availableCores: cores, streams: streams(eligible, ['incremental', 'cdc']), transformCount: transforms });
    expect(plan.effective).toBe(effective);
    expect(plan.perStreamTarget).toBe(perStream);
    expect(plan.cap).toBe(Math.min(cores, 16));
    expect(plan.eligibleStreams).toBe(eligible);
    expect(plan.effective).toBeGreaterThanOrEqual(1);
    expect(plan.effective).toBeLessThanOrEqual(plan.cap);
    expect(plan.shardTargets['public.incremental_0']).toBe(1);
    expect(plan.shardTargets['public.cdc_1']).toBe(1);
  });
});

describe('resolveParallelism (manual)', () => {
  it('keeps N, even above the auto cap', () => {
    const plan = resolveParallelism({ availableCores: 2, streams: streams(3), transformCount: 5, manual: 24 });
    expect(plan.mode).toBe('manual');
    expect(plan.effective).toBe(24);
    expect(plan.cap).toBe(2);
  });

  it('warns when N is above the cap, and only then', () => {
    const over = resolveParallelism({ availableCores: 2, streams: streams(1), transformCount: 0, manual: 64 });
    expect(over.effective).toBe(64);
    expect(over.warning).toBe("parallelism 64 is more than this machine's 2 cores: kept as asked, but workers beyond 2 wait for a core (auto would use at most 2)");
    const big = resolveParallelism({ availableCores: 32, streams: streams(1), transformCount: 0, manual: 20 });
    expect(big.warning).toBe("parallelism 20 is above auto's limit of 16 (32 cores): kept as asked");
    expect(resolveParallelism({ availableCores: 2, streams: streams(1), transformCount: 0, manual: 2 }).warning).toBeUndefined();
    expect(resolveParallelism({ availableCores: 2, streams: streams(3), transformCount: 0 }).warning).toBeUndefined();
  });

  it('keeps N with no eligible stream', () => {
    const plan = resolveParallelism({ availableCores: 8, streams: streams(0, ['cdc']), transformCount: 0, manual: 3 });
    expect(plan.effective).toBe(3);
    expect(plan.perStreamTarget).toBe(1);
    expect(plan.shardTargets).toEqual({ 'public.cdc_0': 1 });
  });

  it('targets ceil(N / eligible) shards per stream, at most MAX_SHARD_DEPTH', () => {
    const target = (n: number, eligible: number) =>
      resolveParallelism({ availableCores: 8, streams: streams(eligible), transformCount: 0, manual: n }).perStreamTarget;
    expect(target(6, 4)).toBe(2); // 8 shards keep 6 workers busy
    expect(target(1, 4)).toBe(1);
    expect(target(4, 1)).toBe(4);
    expect(target(64, 2)).toBe(4);
    expect(target(3, 10)).toBe(1);
  });

  it('still never shards incremental or cdc streams', () => {
    const plan = resolveParallelism({ availableCores: 8, streams: streams(1, ['incremental', 'cdc']), transformCount: 0, manual: 8 });
    expect(plan.shardTargets).toEqual({ 'public.fr_0': 4, 'public.incremental_0': 1, 'public.cdc_1': 1 });
  });

  it('rejects N < 1 and non-integers with a RangeError', () => {
    const base = { availableCores: 4, streams: streams(1), transformCount: 0 };
    expect(() => resolveParallelism({ ...base, manual: 0 })).toThrow(RangeError);
    expect(() => resolveParallelism({ ...base, manual: -2 })).toThrow(RangeError);
    expect(() => resolveParallelism({ ...base, manual: 1.5 })).toThrow(/manual parallelism must be an integer >= 1, got 1.5/);
  });

  it('rejects impossible core and transform counts', () => {
    expect(() => resolveParallelism({ availableCores: 0, streams: [], transformCount: 0 })).toThrow(RangeError);
    expect(() => resolveParallelism({ availableCores: 4, streams: [], transformCount: -1 })).toThrow(RangeError);
  });
});

describe('telemetry', () => {
  it('reports the plan in snake_case', () => {
    const plan = resolveParallelism({ availableCores: 8, streams: streams(3, ['cdc']), transformCount: 2 });
    expect(telemetry(plan)).toEqual({
      parallelism_mode: 'auto',
      parallelism_effective: 5,
      parallelism_cap: 8,
      parallelism_available_cores: 8,
      parallelism_eligible_streams: 3,
      parallelism_transform_count: 2,
    });
    const manual = resolveParallelism({ availableCores: 8, streams: streams(3), transformCount: 0, manual: 2 });
    expect(telemetry(manual).parallelism_mode).toBe('manual');
    expect(telemetry(manual).parallelism_effective).toBe(2);
  });
});
