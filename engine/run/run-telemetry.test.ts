import { describe, expect, it } from 'vitest';
import { runTelemetry, shardTimes, streamSkew, verdict } from './run-telemetry.js';

const shard = (shardIndex: number, durationMs: number, destWaitMs = 0, sourceBlockedMs = 0) => ({ stream: 's', shardIndex, rows: 10, bytes: 100, durationMs, destWaitMs, sourceBlockedMs });

describe('run telemetry (pure)', () => {
  it.each([
    [0.95, 0.1, 0.1, 'rb-cpu'],
    [0.3, 0.03, 0.61, 'destination'],
    [0.3, 0.72, 0.02, 'source'],
    [0.3, 0.3, 0.3, null],
    [0.3, 0.5, 0.25, null],
    [0.3, 0.1, 0.45, null],
  ])('utilization %s, writers waited %s, readers blocked %s → %s', (u, waited, blocked, bound) => {
    expect(verdict(u, 2, waited, blocked)?.bound ?? null).toBe(bound);
  });

  it('says the shares in the verdict line', () => {
    expect(verdict(0.2, 2, 0.03, 0.61)!.text).toBe('destination-bound: writers waited 3% of the time, readers were blocked 61%');
    expect(verdict(0.95, 2, 0.1, 0.2)!.text).toBe("rb-bound: rb's process used 95% of 2 core(s) (writers waited 10% of the time, readers were blocked 20%)");
  });

  it('skew is the slowest shard over the median; kept shards are not this run’s', () => {
    const times = shardTimes([shard(2, 300), shard(0, 100), shard(1, 150), { ...shard(3, 0), skipped: true }]);
    expect(times.map((t) => t.shard)).toEqual([0, 1, 2]);
    expect(streamSkew(times)).toEqual({ slowest_shard: 2, slowest_ms: 300, median_ms: 150, ratio: 2 });
    expect(streamSkew(shardTimes([shard(0, 100), shard(1, 300)]))).toMatchObject({ median_ms: 200, ratio: 1.5 });
    expect(streamSkew([])).toBeNull();
  });

  it('waits are capped by the wall time, and shares are of the shards’ summed time', () => {
    const times = shardTimes([shard(0, 100, 150, 0), shard(1, 300, 0, 150)]);
    expect(times[0].dest_wait_ms).toBe(100);
    const t = runTelemetry({ cpu: { user: 500_000, system: 100_000 }, wallMs: 1000, cores: 2, shards: times, waitsMeasured: true });
    expect(t).toMatchObject({ cpu_user_s: 0.5, cpu_system_s: 0.1, cpu_utilization: 0.3, writers_waited_pct: 25, readers_blocked_pct: 37.5, verdict: null });
    expect(runTelemetry({ cpu: { user: 1, system: 1 }, wallMs: 1000, cores: 2, shards: times, waitsMeasured: false }).verdict).toBeNull();
  });

  it('machine-bound only when the waits name no side and rb + the local servers fill the cores', () => {
    // The waits decide first: the servers' figure is the whole server's, not only this run's.
    expect(verdict(0.3, 2, 0.03, 0.61, 0.97)?.bound).toBe('destination');
    expect(verdict(0.95, 2, 0.1, 0.1, 0.99)?.bound).toBe('rb-cpu');
    expect(verdict(0.3, 2, 0.3, 0.3, 0.85)).toBeNull();
    expect(verdict(0.3, 2, 0.3, 0.3, 0.93)!.text).toBe("machine-bound: rb and the local PostgreSQL servers used 93% of 2 core(s) (rb's process 30%; writers waited 30% of the time, readers were blocked 30%)");
  });

  it('server CPU: fields from the meter, null with reasons without one', () => {
    const times = shardTimes([shard(0, 1000, 300, 300)]);
    const servers = { source_s: 0.8, destination_s: null, same_server: false, total_s: 0.8, wall_s: 1, unknown: { destination: 'the server is not on this machine' } };
    const t = runTelemetry({ cpu: { user: 800_000, system: 200_000 }, wallMs: 1000, cores: 2, shards: times, waitsMeasured: true, servers });
    expect(t).toMatchObject({ source_server_cpu_s: 0.8, destination_server_cpu_s: null, same_server: false, server_cpu_s: 0.8, machine_cpu_utilization: 0.9, server_cpu_unknown: servers.unknown });
    expect(t.verdict?.bound).toBe('machine-cpu');
    const none = runTelemetry({ cpu: { user: 1, system: 1 }, wallMs: 1000, cores: 2, shards: times, waitsMeasured: true });
    expect(none).toMatchObject({ source_server_cpu_s: null, destination_server_cpu_s: null, server_cpu_s: null, machine_cpu_utilization: null });
    expect(none.server_cpu_unknown!.source).toMatch(/not sampled/);
  });
});
