/**
 * What a run's `--json` says about where its time went (docs/design.md section 16): rb's process
 * CPU and utilization, each shard's wall time and waits, each stream's skew, and a verdict when
 * one side clearly held the other back. Pure functions of the shard results and the clocks, so
 * they are tested as tables (run-telemetry.test.ts) and by runs slowed on purpose
 * (telemetry.test.ts: RB_BENCH_DELAY_MS slows the writers, RB_BENCH_SOURCE_DELAY_MS the readers).
 *
 *   writers waited   Σ destWaitMs / Σ shard wall: destination stages waiting for data
 *   readers blocked  Σ sourceBlockedMs / Σ shard wall: source stages blocked by a full channel
 *
 *   rb's CPU ≥ CPU_BOUND of its cores                           → rb-bound (the process itself)
 *   readers blocked ≥ CLEAR_WAIT and writers waited ≤ SMALL_WAIT → destination-bound
 *   writers waited ≥ CLEAR_WAIT and readers blocked ≤ SMALL_WAIT → source-bound
 *   rb + the local servers ≥ CPU_BOUND of the cores               → machine-bound (only when the waits say nothing)
 *   otherwise                                                    → no verdict (not clear)
 *
 * The servers' CPU (engine/telemetry/server-cpu.ts) is the whole server's — every database,
 * autovacuum, other clients — so it never overrides what the waits of this run's own stages say;
 * it only names a saturated machine when they do not (a lower bound: other processes add to it).
 */
import type { ShardResult } from '../runtime/shard-task.js';
import type { ServerCpu } from '../telemetry/server-cpu.js';

/** A wait this large a share of the shards' time names the side that held the other back. */
export const CLEAR_WAIT = 0.5;
/** ... while the other side waited at most this share. */
export const SMALL_WAIT = 0.2;
/** rb's process using this share of the machine's cores is the bottleneck itself. */
export const CPU_BOUND = 0.9;

/** One shard as `streams[].shard_times` reports it. */
export interface ShardTime {
  shard: number;
  rows: number;
  bytes: number;
  wall_ms: number;
  /** The destination stage waiting for data (the channel empty). */
  dest_wait_ms: number;
  /** The source stage blocked by backpressure (the channel full). */
  source_blocked_ms: number;
  retries: number;
}

/** `streams[].skew`: the slowest shard against the median one. */
export interface StreamSkew {
  slowest_shard: number;
  slowest_ms: number;
  median_ms: number;
  /** slowest / median (1 for a single shard). */
  ratio: number;
}

export type Bound = 'destination' | 'source' | 'rb-cpu' | 'machine-cpu';

export interface RunTelemetry {
  /** rb's process (every thread), over the whole run. */
  cpu_user_s: number;
  cpu_system_s: number;
  cores: number;
  /** (user + system) / wall / cores. */
  cpu_utilization: number;
  /** Percent of the shards' wall time the destination stages waited for data, and the source stages were blocked. */
  writers_waited_pct: number;
  readers_blocked_pct: number;
  /**
   * CPU seconds of the source's and the destination's PostgreSQL server over the run, when it runs
   * on this machine and /proc shows it; null otherwise (`server_cpu_unknown` says why). On one
   * server both are that server's figure (`same_server`), counted once in `server_cpu_s`.
   */
  source_server_cpu_s: number | null;
  destination_server_cpu_s: number | null;
  same_server: boolean;
  server_cpu_s: number | null;
  /** (rb's CPU + server_cpu_s) / wall / cores; null without a measured server. */
  machine_cpu_utilization: number | null;
  server_cpu_unknown?: { source?: string; destination?: string };
  verdict: { bound: Bound; text: string } | null;
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

/** The shards this run moved (not those a resumed run kept), in shard order. */
export function shardTimes(results: readonly ShardResult[]): ShardTime[] {
  return results
    .filter((r) => !r.skipped)
    .map((r) => ({
      shard: r.shardIndex,
      rows: r.rows,
      bytes: r.bytes,
      wall_ms: round(r.durationMs),
      dest_wait_ms: round(Math.min(r.destWaitMs ?? 0, r.durationMs)),
      source_blocked_ms: round(Math.min(r.sourceBlockedMs ?? 0, r.durationMs)),
      retries: r.retries ?? 0,
    }))
    .sort((a, b) => a.shard - b.shard);
}

export function streamSkew(times: readonly ShardTime[]): StreamSkew | null {
  if (!times.length) return null;
  const walls = times.map((t) => t.wall_ms).sort((a, b) => a - b);
  const mid = walls.length >> 1;
  const median = walls.length % 2 ? walls[mid] : (walls[mid - 1] + walls[mid]) / 2;
  const slowest = times.reduce((a, b) => (b.wall_ms > a.wall_ms ? b : a));
  return { slowest_shard: slowest.shard, slowest_ms: slowest.wall_ms, median_ms: round(median), ratio: median > 0 ? round(slowest.wall_ms / median, 2) : 1 };
}

export interface TelemetryInput {
  cpu: NodeJS.CpuUsage;
  wallMs: number;
  cores: number;
  shards: readonly ShardTime[];
  /** False when the waits were not measured (RB_TELEMETRY=0): no wait shares, no verdict. */
  waitsMeasured: boolean;
  /** The local servers' CPU over the run (null: not sampled, e.g. the run failed before connecting). */
  servers?: ServerCpu | null;
}

const NOT_SAMPLED = 'not sampled: the run ended before its connections were open';

export function runTelemetry({ cpu, wallMs, cores, shards, waitsMeasured, servers }: TelemetryInput): RunTelemetry {
  const userS = cpu.user / 1e6;
  const systemS = cpu.system / 1e6;
  const utilization = wallMs > 0 ? (userS + systemS) / (wallMs / 1000) / Math.max(1, cores) : 0;
  const wall = shards.reduce((a, s) => a + s.wall_ms, 0);
  const waited = wall > 0 ? shards.reduce((a, s) => a + s.dest_wait_ms, 0) / wall : 0;
  const blocked = wall > 0 ? shards.reduce((a, s) => a + s.source_blocked_ms, 0) / wall : 0;
  const serverS = servers?.total_s ?? null;
  const machine = serverS !== null && wallMs > 0 ? (userS + systemS + serverS) / (wallMs / 1000) / Math.max(1, cores) : null;
  const unknown = servers ? servers.unknown : { source: NOT_SAMPLED, destination: NOT_SAMPLED };
  return {
    cpu_user_s: round(userS, 3),
    cpu_system_s: round(systemS, 3),
    cores,
    cpu_utilization: round(utilization, 3),
    writers_waited_pct: round(waited * 100),
    readers_blocked_pct: round(blocked * 100),
    source_server_cpu_s: servers?.source_s ?? null,
    destination_server_cpu_s: servers?.destination_s ?? null,
    same_server: servers?.same_server ?? false,
    server_cpu_s: serverS,
    machine_cpu_utilization: machine === null ? null : round(machine, 3),
    ...(unknown.source || unknown.destination ? { server_cpu_unknown: unknown } : {}),
    verdict: waitsMeasured && wall > 0 ? verdict(utilization, cores, waited, blocked, machine ?? undefined) : null,
  };
}

/** `machine`: rb's and the local servers' CPU over the cores, when a server was measured. */
export function verdict(utilization: number, cores: number, waited: number, blocked: number, machine?: number): RunTelemetry['verdict'] {
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  const waits = `writers waited ${pct(waited)} of the time, readers were blocked ${pct(blocked)}`;
  if (utilization >= CPU_BOUND) return { bound: 'rb-cpu', text: `rb-bound: rb's process used ${pct(utilization)} of ${cores} core(s) (${waits})` };
  if (blocked >= CLEAR_WAIT && waited <= SMALL_WAIT) return { bound: 'destination', text: `destination-bound: ${waits}` };
  if (waited >= CLEAR_WAIT && blocked <= SMALL_WAIT) return { bound: 'source', text: `source-bound: ${waits}` };
  if (machine !== undefined && machine >= CPU_BOUND) {
    return { bound: 'machine-cpu', text: `machine-bound: rb and the local PostgreSQL servers used ${pct(machine)} of ${cores} core(s) (rb's process ${pct(utilization)}; ${waits})` };
  }
  return null;
}
