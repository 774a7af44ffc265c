/**
 * The read-only part of `rb run`'s planning that decides whether a pipeline can run at all, as one
 * function `rb check` calls too (so both reach the same verdict, issue 15): every stream
 * discovered with its projection, key and partition key (plan-streams.ts), cdc streams' key and
 * generated columns (run-cdc.ts planCdcColumns), incremental streams' cursor and tie-breaker
 * (resume.ts cursorSpecFor). Nothing is written. What `rb run` plans after this needs its run
 * lock, its state or its snapshot (shards, cursor bounds, the slot).
 *
 * Transforms are refused by the config today (engine/config/availability.ts); when they run, the
 * check that each names an existing stream and column belongs here.
 */
import type { SnapshotSource } from '../../connectors/contract/connector.js';
import type { PipelineConfig } from '../config/index.js';
import { planStreams, type StreamPlan } from './plan-streams.js';
import { cursorSpecFor } from './resume.js';
import { isCdcPipeline, planCdcColumns } from './run-cdc.js';

export interface PlanningSource {
  source: SnapshotSource;
  /** Whether the source publishes stored generated columns to CDC (PostgreSQL 18). Asked only for cdc pipelines. */
  publishesGeneratedColumns(): Promise<boolean>;
}

/** Throws the RbError `rb run` would stop with (exit 2 config, 3 source); returns the stream plans. */
export async function planPipelineStreams(config: PipelineConfig, from: PlanningSource): Promise<StreamPlan[]> {
  const streams = await planStreams(config, from.source);
  if (isCdcPipeline(config)) planCdcColumns(streams, await from.publishesGeneratedColumns());
  for (const s of streams) {
    const sc = config.source.streams[s.index];
    if (s.syncMode === 'incremental') cursorSpecFor(s, sc.cursor_field!, sc.tie_breaker_field);
  }
  return streams;
}
