/**
 * Effective parallelism for a run (docs/design.md section 4). A pure function of the machine's core count,
 * the streams, the transform count and the user's override, so it can be tested as a table and
 * printed as telemetry.
 *
 *   cap                = min(cores, MAX_AUTO_CAP)
 *   eligible           = full_refresh streams from postgres sources (never incremental or cdc)
 *   if manual N:        effective = N
 *   elif eligible == 0: effective = 1
 *   else:
 *     per_stream_target = min(MAX_SHARD_DEPTH, max(1, floor(cap / eligible)))
 *     base              = min(cap, eligible * per_stream_target)
 *     factor            = max(MIN_TRANSFORM_FACTOR, 1 / (1 + TRANSFORM_PENALTY_SLOPE * transforms))
 *     effective         = clamp(round(base * factor), 1, cap)
 *
 * Why incremental and cdc streams are never sharded: an incremental read must be ordered by its
 * cursor to checkpoint safely, and a cdc stream's snapshot is cut by the CDC planner, not here.
 * Each of them is exactly one unit of work.
 *
 * Why transforms lower the pool size: transform stages run in the same pool as the source and
 * destination stages, so each shard keeps more threads busy; fewer concurrent shards avoid
 * oversubscribing the cores. The factor never goes below MIN_TRANSFORM_FACTOR.
 */

import type { SyncMode } from '../../connectors/contract/domain.js';

export type { SyncMode };

/** Auto mode never sizes the pool above this many threads, whatever the core count. */
export const MAX_AUTO_CAP = 16;
/** An eligible stream is cut into at most this many shards. */
export const MAX_SHARD_DEPTH = 4;
/** Each transform reduces the pool by this slope: factor = 1 / (1 + slope * transforms). */
export const TRANSFORM_PENALTY_SLOPE = 0.15;
/** Floor of the transform factor. */
export const MIN_TRANSFORM_FACTOR = 0.6;

export type SourceKind = 'postgres';
export type ParallelismMode = 'auto' | 'manual';

export interface ParallelismStream {
  name: string;
  syncMode: SyncMode;
  sourceKind: SourceKind;
}

export interface ParallelismInput {
  /** `os.availableParallelism()` on the machine that runs the pool. */
  availableCores: number;
  streams: ParallelismStream[];
  transformCount: number;
  /** `resources.parallelism` or `--parallelism`: a worker count N >= 1, or 'auto' (the default). */
  manual?: number | 'auto';
}

export interface ParallelismPlan {
  mode: ParallelismMode;
  /** Pool size: how many shards move at once. */
  effective: number;
  /** min(availableCores, MAX_AUTO_CAP). Reported in manual mode too, where it does not bound N. */
  cap: number;
  availableCores: number;
  eligibleStreams: number;
  transformCount: number;
  /**
   * Shards to aim for per eligible stream (an upper bound: the sharder makes fewer when the
   * table is small or has fewer useful ranges). 1 when no stream is eligible.
   */
  perStreamTarget: number;
  /** Per stream name: its shard target. Non-eligible streams are always 1 (never sharded). */
  shardTargets: Record<string, number>;
  /** Manual N above the cap: kept as asked, and said (more workers than cores compete for them). */
  warning?: string;
}

/** The telemetry block of the run result and `--json` output (docs/design.md section 4). */
export interface ParallelismTelemetry {
  parallelism_mode: ParallelismMode;
  parallelism_effective: number;
  parallelism_cap: number;
  parallelism_available_cores: number;
  parallelism_eligible_streams: number;
  parallelism_transform_count: number;
}

/** True when a stream may be cut into shards (and so counts towards auto parallelism). */
export function isShardEligible(stream: ParallelismStream): boolean {
  return stream.syncMode === 'full_refresh' && stream.sourceKind === 'postgres';
}

/**
 * Resolves the pool size and per-stream shard targets.
 *
 * Manual N keeps N exactly (it may exceed the auto cap: the user asked for it). Its shard target
 * is `min(MAX_SHARD_DEPTH, max(1, ceil(N / eligible)))`: ceil rather than floor so that N workers
 * have at least N shards to work on when the depth limit allows (N = 6 over 4 streams gives 2
 * shards each, 8 shards for 6 workers; floor would give 4 shards and leave 2 workers idle).
 *
 * @example
 *   resolveParallelism({ availableCores: 8, transformCount: 0,
 *     streams: [{ name: 'public.orders', syncMode: 'full_refresh', sourceKind: 'postgres' }] })
 *   // => { mode: 'auto', effective: 4, cap: 8, perStreamTarget: 4, ... }
 */
export function resolveParallelism(input: ParallelismInput): ParallelismPlan {
  const { availableCores, streams, transformCount } = input;
  if (!Number.isInteger(availableCores) || availableCores < 1) {
    throw new RangeError(`resolveParallelism: availableCores must be an integer >= 1, got ${availableCores}`);
  }
  if (!Number.isInteger(transformCount) || transformCount < 0) {
    throw new RangeError(`resolveParallelism: transformCount must be an integer >= 0, got ${transformCount}`);
  }
  const manual = input.manual === undefined || input.manual === 'auto' ? undefined : input.manual;
  if (manual !== undefined && (!Number.isInteger(manual) || manual < 1)) {
    // The config layer already rejects these with a path and line; this guards direct callers.
    throw new RangeError(`resolveParallelism: manual parallelism must be an integer >= 1, got ${manual}`);
  }

  const cap = Math.min(availableCores, MAX_AUTO_CAP);
  const eligible = streams.filter(isShardEligible).length;

  let effective: number;
  let perStreamTarget: number;
  if (manual !== undefined) {
    effective = Math.max(1, manual);
    perStreamTarget = eligible === 0 ? 1 : Math.min(MAX_SHARD_DEPTH, Math.max(1, Math.ceil(manual / eligible)));
  } else if (eligible === 0) {
    effective = 1;
    perStreamTarget = 1;
  } else {
    perStreamTarget = Math.min(MAX_SHARD_DEPTH, Math.max(1, Math.floor(cap / eligible)));
    const base = Math.min(cap, eligible * perStreamTarget);
    effective = clamp(Math.round(base * transformFactor(transformCount)), 1, cap);
  }

  const shardTargets: Record<string, number> = {};
  for (const s of streams) shardTargets[s.name] = isShardEligible(s) ? perStreamTarget : 1;

  return {
    mode: manual !== undefined ? 'manual' : 'auto',
    effective,
    cap,
    availableCores,
    eligibleStreams: eligible,
    transformCount,
    perStreamTarget,
    shardTargets,
    ...(manual !== undefined && manual > cap ? { warning: aboveCapWarning(manual, cap, availableCores) } : {}),
  };
}

/**
 * @example aboveCapWarning(64, 2, 2) === "parallelism 64 is more than this machine's 2 cores: kept as asked, but workers beyond 2 wait for a core (auto would use at most 2)"
 */
export function aboveCapWarning(manual: number, cap: number, availableCores: number): string {
  if (cap < availableCores) return `parallelism ${manual} is above auto's limit of ${cap} (${availableCores} cores): kept as asked`;
  return `parallelism ${manual} is more than this machine's ${availableCores} core${availableCores === 1 ? '' : 's'}: kept as asked, but workers beyond ${cap} wait for a core (auto would use at most ${cap})`;
}

/** max(MIN_TRANSFORM_FACTOR, 1 / (1 + TRANSFORM_PENALTY_SLOPE * transforms)). */
export function transformFactor(transformCount: number): number {
  return Math.max(MIN_TRANSFORM_FACTOR, 1 / (1 + TRANSFORM_PENALTY_SLOPE * transformCount));
}

/** The snake_case telemetry fields for the run result and `--json`. */
export function telemetry(plan: ParallelismPlan): ParallelismTelemetry {
  return {
    parallelism_mode: plan.mode,
    parallelism_effective: plan.effective,
    parallelism_cap: plan.cap,
    parallelism_available_cores: plan.availableCores,
    parallelism_eligible_streams: plan.eligibleStreams,
    parallelism_transform_count: plan.transformCount,
  };
}

function clamp(value: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, value));
}
