/**
 * The read-only part of `rb run`'s planning that decides whether a pipeline can run at all, as one
 * function `rb check` calls too (so both reach the same verdict, issue 15): every stream
 * discovered with its projection, key and partition key (plan-streams.ts), cdc streams' key and
 * generated columns (run-cdc.ts planCdcColumns), incremental streams' cursor and tie-breaker
 * (resume.ts cursorSpecFor). Nothing is written. What `rb run` plans after this needs its run
 * lock, its state or its snapshot (shards, cursor bounds, the slot).
 *
 * Transforms (plan-transforms.ts): each one's columns are followed through the list, and the
 * source compiles (never runs) the query its pushed-down steps make, so a filter's SQL that does
 * not compile is a config error naming the entry and its line.
 */
import type { SnapshotSource } from '../../connectors/contract/connector.js';
import { configLocation, type PipelineConfig } from '../config/index.js';
import { RbError } from '../errors.js';
import { planTransforms } from './plan-transforms.js';
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
    s.transform = planTransforms(config, s);
    if (s.transform?.steps.length) await probeTransforms(config, from.source, s);
  }
  return streams;
}

async function probeTransforms(config: PipelineConfig, source: SnapshotSource, s: StreamPlan): Promise<void> {
  try {
    await source.probeRead({
      table: s.source.name,
      columns: s.columns.map((c) => ({ name: c.name, sourceTypeOid: c.typeOid, typeSql: c.typeName })),
      format: 'text',
      predicates: [],
      steps: s.transform!.steps,
    });
  } catch (e) {
    if (!(e instanceof RbError) || e.code !== 'source_query') throw e;
    // The SQL that can fail to compile is a filter's.
    const filters = config.transforms.map((t, i) => ({ t, i })).filter(({ t }) => t.stream === s.name && t.type === 'filter');
    const path = filters.length === 1 ? ['transforms', filters[0].i, 'where'] : ['transforms'];
    const at = configLocation(config, path);
    const label = path.map((p, k) => (typeof p === 'number' ? `[${p}]` : k ? `.${p}` : p)).join('');
    throw new RbError('config_invalid', `${at ? `${at} ` : ''}${label}: the transforms of stream ${s.name} do not compile in the source: ${e.message.replace(/^[^:]*: the transformed read: /, '')}`, { stream: s.name });
  }
}
