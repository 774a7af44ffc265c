/**
 * What each stream of a run reads (docs/design.md section 7): its shards, the cursor bounds of an
 * incremental stream, and — when an earlier run of the pipeline did not finish — what of that run
 * is kept.
 *
 * Resume rules, per stream, after a run that died (kill -9, power loss) or failed:
 *   replace, upsert   start clean: the target was never touched (staging is rebuilt by prepare),
 *                     so nothing is kept and the ledger rows of the old plan are dropped.
 *   append, key-range or single shard
 *                     the old plan's shards are read again with the same predicates; shards the
 *                     ledger has are skipped. The data then spans two snapshots (runs.snapshots).
 *   append, ctid shards
 *                     ctid ranges name different rows under a new snapshot (updates move rows),
 *                     so the rows the old run's committed shards wrote are deleted (by the
 *                     transaction ids in the ledger: the rows' xmin) and the stream is read anew.
 *   incremental, after its first run
 *                     nothing to resume: every checkpoint committed its rows with the cursor, so
 *                     the next read simply starts at the stored cursor.
 */
import type { CheckpointSpec, CursorContinuation, CursorPosition, CursorSpec, ShardKind, ShardSpec, SnapshotSource } from '../../connectors/contract/connector.js';
import type { LedgerRow, StateStore, StoredRun, StreamState } from '../../connectors/contract/state.js';
import type { WriteContract } from '../../connectors/contract/write-contract.js';
import type { PipelineConfig } from '../config/index.js';
import { RbError } from '../errors.js';
import type { StreamPlan } from './plan-streams.js';

/** A stream's read as stored in `runs.plan`, so that a resumed run reads the very same shards. */
export interface StoredStreamPlan {
  kind: ShardKind;
  key: string | null;
  shards: ShardSpec[];
  /** Predicates every shard of the stream adds (cursor bounds). */
  predicates: string[];
  orderBy?: string;
  writeMode: string;
  /** Incremental: 'first' reads everything up to the mark (sharded), 'next' reads after the stored cursor. */
  incremental?: 'first' | 'next';
  cursor?: { fields: string[]; mark: CursorPosition | null; lookback: string | null };
}

export interface StoredPlan {
  streams: Record<string, StoredStreamPlan>;
}

export interface ReadPlan {
  stored: StoredStreamPlan;
  /** Shard ids (ledger `shard`) an earlier run of the same plan committed: not copied again. */
  skipped: Set<string>;
  /** Incremental reads after the first: how the shard checkpoints. */
  checkpoint?: (contract: WriteContract) => CheckpointSpec;
  /** Incremental reads after the first: how an attempt continues after a checkpointed cursor (continue-task.ts). */
  continuation?: CursorContinuation;
}

/** The pipeline's latest run when it did not finish (running = died, failed, cancelled), else null. */
export async function previousRunToResume(state: StateStore): Promise<StoredRun | null> {
  const last = await state.latestRun();
  return last && (last.status === 'running' || last.status === 'failed' || last.status === 'cancelled') ? last : null;
}

export interface PlanReadInput {
  config: PipelineConfig;
  stream: StreamPlan;
  /** Inside the run's snapshot transaction. */
  source: SnapshotSource;
  state: StateStore;
  /** The pipeline's stream states as the run read them (none while the state tables do not exist yet at this rb's layout). */
  states: readonly StreamState[];
  planId: string;
  resume: StoredRun | null;
  committed: LedgerRow[];
  /** Shards wanted (the resolver's target for this stream). */
  target: number;
  lookbackClock: string | null;
  /** False for a CDC run that only catches up (its streams were copied by an earlier run): no shards. */
  copy: boolean;
  opts: { log?: (line: string) => void };
}

export async function planRead(input: PlanReadInput): Promise<ReadPlan> {
  const { config, stream: s, source, state, planId, resume } = input;
  const writeMode = config.destination.write_mode;
  const old = (resume?.plan as StoredPlan | null | undefined)?.streams?.[s.name];
  const mine = input.committed.filter((c) => c.stream === s.name);

  if (old && writeMode === 'append' && old.writeMode === 'append' && old.kind !== 'ctid' && old.incremental !== 'next') {
    const skipped = new Set(mine.map((c) => c.shard));
    return { stored: old, skipped };
  }
  if (resume && mine.length) {
    if (old && writeMode === 'append' && old.writeMode === 'append' && old.kind === 'ctid') {
      const undone = await state.undoShards(s.target, planId, s.name, mine);
      input.opts.log?.(`rb: ${s.name}: the unfinished run ${resume.runId} had committed ${mine.length} ctid shard(s); removed their ${undone} row(s) to copy the table again whole`);
    } else {
      await state.forgetShards(planId, s.name);
    }
  }

  if (!input.copy) return { stored: { kind: 'single', key: null, shards: [], predicates: [], writeMode }, skipped: new Set() };
  if (s.syncMode !== 'incremental') {
    const shards = await source.planShards(s.source, input.target, { partitionKey: s.partitionKey });
    return { stored: { ...shards, predicates: [], writeMode }, skipped: new Set() };
  }
  return planIncremental(input);
}

async function planIncremental(input: PlanReadInput): Promise<ReadPlan> {
  const { config, stream: s, source } = input;
  const writeMode = config.destination.write_mode;
  const sc = config.source.streams[s.index];
  const spec = cursorSpecFor(s, sc.cursor_field!, sc.tie_breaker_field);
  const prev = input.states.find((x) => x.stream === s.name);
  const mark = await source.highWater(s.source.name, spec);
  const lookback = input.lookbackClock ? await source.lookbackFor(spec.types[0], input.lookbackClock) : null;
  const cursor = { fields: spec.fields, mark, lookback };

  if (!prev?.cursor || !sameFields(prev.cursorFields, spec.fields)) {
    if (prev?.cursor) input.opts.log?.(`rb: ${s.name}: the cursor fields changed (${prev.cursorFields.join(', ')} → ${spec.fields.join(', ')}); reading the whole table again`);
    // First run: the whole table up to the mark, sharded like a full refresh.
    const shards = await source.planShards(s.source, input.target, { partitionKey: s.partitionKey });
    const { predicates } = await source.cursorRead(spec, { after: null, lookback: null, atMost: mark });
    return { stored: { ...shards, predicates, writeMode, incremental: 'first', cursor }, skipped: new Set() };
  }

  // Later runs: after the stored cursor, up to the mark, in cursor order, one shard that checkpoints.
  // Upsert also re-reads from the previous run's lookback (late commits; it absorbs the repeats).
  const { predicates, orderBy } = await source.cursorRead(spec, { after: prev.cursor, lookback: writeMode === 'upsert' ? prev.lookback : null, atMost: mark });
  const finalCursor = mark ?? prev.cursor;
  const r = config.resources;
  return {
    stored: { kind: 'single', key: null, shards: [{ index: 0, predicate: '', description: 'after the stored cursor' }], predicates, orderBy, writeMode, incremental: 'next', cursor: { ...cursor, mark: finalCursor } },
    skipped: new Set(),
    continuation: { spec, atMost: mark },
    checkpoint: (contract) => {
      const fieldIndexes = spec.fields.map((f) => contract.columns.findIndex((c) => c.name === f));
      return {
        schema: config.state.schema,
        pipeline: config.pipeline,
        runId: '',
        syncMode: 'incremental',
        cursorFields: spec.fields,
        fieldIndexes,
        fieldTypes: fieldIndexes.map((i) => contract.columns[i].typeSql),
        bytes: r.checkpoint_interval_bytes,
        rows: r.checkpoint_interval_rows,
        seconds: r.checkpoint_interval_seconds,
        lookback,
        finalCursor,
        from: { runId: prev.runId, cursor: prev.cursor },
      };
    },
  };
}

function sameFields(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * The cursor of an incremental stream: the cursor column, then the tie-breaker (the configured
 * column, else the primary key). Every field must be among the columns read, and the tie-breaker
 * NOT NULL (a NULL would make equal cursors unordered at a run boundary).
 */
export function cursorSpecFor(s: StreamPlan, cursorField: string, tieBreaker: string | undefined): CursorSpec {
  const path = `source.streams[${s.index}]`;
  const byName = new Map(s.columns.map((c) => [c.name, c]));
  const cursor = byName.get(cursorField);
  if (!cursor) {
    const exists = s.source.columns.some((c) => c.name === cursorField);
    throw new RbError(exists ? 'config_invalid' : 'source_missing_column', `${path}.cursor_field: column ${JSON.stringify(cursorField)} ${exists ? 'must be among the stream\'s columns' : `does not exist in ${s.name}`}`, { stream: s.name });
  }
  const tb = tieBreaker ? [tieBreaker] : s.source.primaryKey;
  if (tb.length === 0) {
    throw new RbError('config_invalid', `${path}.tie_breaker_field: required: ${s.name} has no primary key to order rows with equal cursor values (name a NOT NULL unique column)`, { stream: s.name });
  }
  const fields = [cursorField, ...tb.filter((f) => f !== cursorField)];
  const types = fields.map((f) => {
    const c = byName.get(f);
    if (!c) {
      throw new RbError('config_invalid', `${path}.tie_breaker_field: column ${JSON.stringify(f)} ${s.source.columns.some((x) => x.name === f) ? "must be among the stream's columns" : `does not exist in ${s.name}`}`, { stream: s.name });
    }
    if (f !== cursorField && !c.notNull) {
      throw new RbError('config_invalid', `${path}.tie_breaker_field: column ${JSON.stringify(f)} may be NULL; a tie-breaker must be NOT NULL (and unique with the cursor)`, { stream: s.name });
    }
    return c.typeName;
  });
  return { fields, types };
}
