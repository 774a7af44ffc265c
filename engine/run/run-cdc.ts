/**
 * The CDC part of `rb run` (docs/design.md section 8), through the ChangeSource and ChangeSink
 * capabilities (connectors/contract/changes.ts):
 *
 *   start     first run (a stream without a stored position): publication, and a new slot whose
 *             exported snapshot the run's coordinator imports, so the sharded copy reads exactly
 *             the state the slot's changes start from; next runs: check publication and slot
 *   copy      (first run only) the ordinary sharded full read, upsert; the finish stores the
 *             slot's consistent point as every stream's position, with the merge
 *   catch up  read the slot from the stored position up to a mark written into the source's WAL at
 *             this moment (a logical message) — or, following (`rb run --follow`), until stopped —
 *             applying whole transactions in groups, each group in one destination transaction
 *             with the position it ends at; the server is told only what committed
 *
 * A kill at any moment: before the finish the next run starts over (new slot, new snapshot; the
 * upsert target is untouched until the finish), after it the next run continues from the last
 * committed position and skips what is at or before it.
 */
import type { CdcNames, ChangeProgress, ChangeSource, ChangeTarget, RejectedChanges, SlotSnapshot } from '../../connectors/contract/changes.js';
import type { ReadStep } from '../../connectors/contract/transforms.js';
import type { StreamState, StreamStateWrite } from '../../connectors/contract/state.js';
import type { Sink } from '../../connectors/contract/connector.js';
import type { SchemaChange, WriteContract } from '../../connectors/contract/write-contract.js';
import type { WriteMode } from '../../connectors/contract/domain.js';
import { parseQualifiedName } from '../../connectors/postgres/identifiers.js';
import { formatLsn, parseLsn } from '../../connectors/source-postgres/lsn.js';
import { defaultCdcName } from '../../connectors/source-postgres/postgres-cdc.js';
import type { PipelineConfig } from '../config/index.js';
import { RbError } from '../errors.js';
import type { StreamPlan } from './plan-streams.js';

/** Whole transactions per destination transaction, and pieces of a large one: about this many row changes. */
const GROUP_CHANGES = 20_000;
/** Following: a destination transaction waits at most this long for more source transactions. */
const GROUP_MS = 1000;

export interface CdcStart {
  names: CdcNames;
  /** True when the run copies the tables first (no stored position). */
  first: boolean;
  /** Where the changes start: the new slot's consistent point, or the stored position. */
  from: bigint;
  /** First run: the slot's snapshot for the coordinator to import (release once imported). */
  snapshot: SlotSnapshot | null;
  /** First run: rb created the publication (it existed otherwise). */
  createdPublication?: boolean;
}

export interface CdcResult {
  slot: string;
  publication: string;
  /** Positions (`X/Y`) the catch-up read from and reached. */
  from: string;
  to: string;
  transactions: number;
  /** Row changes read (inserts, updates, deletes, truncates) and rows they wrote. */
  changes: number;
  rows_written: number;
  /** Row changes of the largest source transaction read (written in pieces when large). */
  largest_transaction: number;
  /** Transactions the server streamed while they were in progress (large ones, PostgreSQL 14+), applied at their commit. */
  streamed_transactions: number;
  /** WAL bytes the source had past the position reached, at the end (0 when caught up). */
  lag_bytes: number;
  /** Changes the destination rejected, dropped (`on_data_error: skip`) or dead-lettered (`dlq`); the streams' `rows_skipped`/`rows_dead_lettered` include them. */
  rows_skipped: number;
  rows_dead_lettered: number;
  /** Values a changed column's destination type did not take, written as NULL (`schema_evolution.type_change: null`). */
  values_nulled: number;
  /** The same per stream (internal: folded into the streams' counts). */
  rejected?: Record<string, RejectedChanges>;
  /** schema_evolution decisions on Relation messages, per stream (internal: folded into the streams' schema_changes). */
  decisions?: Record<string, SchemaChange[]>;
}

export function isCdcPipeline(config: PipelineConfig): boolean {
  // The config refuses mixing sync modes with cdc (availability.ts checkCdc).
  return config.source.streams.some((s) => s.sync_mode === 'cdc');
}

export function cdcNames(config: PipelineConfig): CdcNames {
  const name = defaultCdcName(config.pipeline);
  return { slot: config.source.config.replication_slot ?? name, publication: config.source.config.publication ?? name, pipeline: config.pipeline };
}

/** True when every stream has a stored position (a next run: nothing to copy). */
export function cdcPositionsStored(config: PipelineConfig, states: readonly StreamState[]): boolean {
  return config.source.streams.every((s) => !!states.find((x) => x.stream === s.name)?.lsn);
}

export async function startCdc(config: PipelineConfig, changes: ChangeSource, states: readonly StreamState[], log?: (line: string) => void): Promise<CdcStart> {
  const names = cdcNames(config);
  const tables = config.source.streams.map((s) => parseQualifiedName(s.name));
  if (cdcPositionsStored(config, states)) {
    await changes.checkNext(names, tables);
    const lsns = config.source.streams.map((s) => parseLsn(states.find((x) => x.stream === s.name)!.lsn!));
    // Positions move together (one slot, one destination transaction per group).
    const from = lsns.reduce((a, b) => (b < a ? b : a));
    return { names, first: false, from, snapshot: null };
  }
  const { snapshot, createdPublication } = await changes.setupFirst(names, tables, log);
  return { names, first: true, from: snapshot.consistentPoint, snapshot, createdPublication };
}

/** Every stream's state at `lsn` (what a group's transaction stores). */
export function cdcStates(config: PipelineConfig, runId: string, lsn: bigint): StreamStateWrite[] {
  return config.source.streams.map((s) => ({ stream: s.name, syncMode: 'cdc', cursorFields: [], cursor: null, lookback: null, lsn: formatLsn(lsn), runId }));
}

/**
 * How a cdc stream's destination is prepared. Keyed: upsert (the copy merges at the finish; the
 * changes apply by key). Keyless (insert-only tables, like pgbench_history): the first run's copy
 * replaces the target at the finish — nothing of a killed copy is ever visible, so a new copy
 * never adds to an old one — and the changes are appended; next runs write into the target.
 */
export function cdcWriteMode(s: StreamPlan, start: CdcStart): WriteMode {
  if (s.key.length) return 'upsert';
  return start.first ? 'replace' : 'append';
}

/**
 * Checks a cdc pipeline's streams and decides where generated columns come from. Stored generated
 * columns are published from PostgreSQL 18 on (publish_generated_columns = stored) and arrive as
 * values; before that, and virtual ones always, the source sends none of them — neither in the
 * changes nor, to stay consistent, in the copy: the destination computes them from the written
 * columns with the source's expression (`StreamPlan.computed`, docs/design.md section 8).
 */
export function planCdcColumns(streams: StreamPlan[], generatedPublished: boolean): void {
  for (const s of streams) {
    // Deletes and key changes carry only the replica identity's columns of the old row: another
    // key could not find the row to delete.
    if (s.key.length && s.key.join('\u0000') !== s.source.primaryKey.join('\u0000')) {
      throw new RbError(
        'config_invalid',
        `source.streams[${s.index}].primary_key: a cdc stream is applied by its table's primary key (${s.source.primaryKey.join(', ') || 'none'}); another key (${s.key.join(', ')}) is not available in this version of rb yet`,
        { stream: s.name },
      );
    }
    const unpublished = s.columns.filter((c) => c.generated && (c.generatedVirtual || !generatedPublished));
    for (const c of unpublished) {
      if (s.key.includes(c.name)) {
        throw new RbError(
          'config_invalid',
          `source.streams[${s.index}]: key column ${JSON.stringify(c.name)} of ${s.name} is generated, and the source does not publish ${c.generatedVirtual ? 'virtual generated columns' : 'generated columns before PostgreSQL 18'}; cdc by such a key is not available in this version of rb yet`,
          { stream: s.name },
        );
      }
      if (!c.generationExpr) throw new RbError('internal', `${s.name}: generated column ${JSON.stringify(c.name)} has no expression in the source catalog`, { stream: s.name });
    }
    if (unpublished.length) {
      s.computed = unpublished;
      s.columns = s.columns.filter((c) => !unpublished.includes(c));
    }
  }
}

/** A group of source transactions committed in the destination (metrics: batch sizes, apply latency). */
export interface CdcCommit {
  /** The position stored with it. */
  lsn: bigint;
  /** Rows written, and row changes per stream (the config's stream names). */
  rows: number;
  changesByStream: Record<string, number>;
  /** From the group's first write to its commit's end. */
  applyMs: number;
}

export interface CatchUpOptions {
  /** Keep streaming until `signal` aborts (`rb run --follow`), instead of stopping at a mark written at the start. */
  follow?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: CdcProgress) => void;
  onCommit?: (c: CdcCommit) => void;
  log?: (line: string) => void;
}

export type CdcProgress = ChangeProgress;

export async function catchUp(
  config: PipelineConfig,
  start: CdcStart,
  changes: ChangeSource,
  sink: Sink,
  streams: readonly StreamPlan[],
  contracts: readonly WriteContract[],
  runId: string,
  opts: CatchUpOptions = {},
): Promise<CdcResult> {
  // The end: a mark written now; every transaction committed before it is applied by the end.
  const until = opts.follow ? null : await changes.markEnd(`catch-up of run ${runId}`);
  const out = sink.changeSink(
    streams.map((s, i) => ({
      source: s.source.name,
      contract: contracts[i],
      schema: config.destination.schema_evolution,
      sourceColumns: s.source.columns.map((c) => c.name),
      explicitColumns: !!config.source.streams[s.index].columns,
      badRows: { policy: config.destination.on_data_error, schema: config.state.schema, pipeline: config.pipeline, runId, rowKey: contracts[i].key },
      ...(s.transform ? { transform: s.transform.change } : {}),
      ...(s.transform?.change.filterSteps ? { filter: filterOf(changes, s, contracts[i], s.transform.change.filterSteps) } : {}),
    })),
  );
  let applied = start.from;
  let rowsWritten = 0;
  // Per-group counts, only when someone listens (a loop over the changes of each write).
  const onCommit = opts.onCommit;
  const streamOf = new Map(streams.map((s) => [`${s.source.name.schema}.${s.source.name.table}`, s.name]));
  let group = { startedAt: 0, rows: 0, changesByStream: {} as Record<string, number> };
  let r;
  try {
    r = await changes.readChanges({
      slot: start.names.slot,
      publications: [start.names.publication],
      from: start.from,
      until,
      signal: opts.signal,
      skipThrough: start.from,
      groupChanges: GROUP_CHANGES,
      groupMs: GROUP_MS,
      // RB_CDC_OVERLAP=0: decode and apply in turn (the A/B of bench/cdc/README.md).
      overlap: process.env.RB_CDC_OVERLAP !== '0',
      // RB_CDC_STREAMING=0: protocol 1, each transaction sent at its commit (the A/B of bench/cdc/README.md).
      streaming: process.env.RB_CDC_STREAMING !== '0',
      write: async (items) => {
        if (onCommit) {
          if (!group.startedAt) group.startedAt = performance.now();
          for (const it of items) {
            for (const rel of it.kind === 'truncate' ? it.relations : [it.relation]) {
              const name = streamOf.get(`${rel.namespace}.${rel.name}`) ?? `${rel.namespace}.${rel.name}`;
              group.changesByStream[name] = (group.changesByStream[name] ?? 0) + 1;
            }
          }
        }
        const n = await out.write(items);
        rowsWritten += n;
        group.rows += n;
      },
      commit: async (end) => {
        await out.commit(cdcStates(config, runId, end));
        applied = end;
        if (onCommit) onCommit({ lsn: end, rows: group.rows, changesByStream: group.changesByStream, applyMs: group.startedAt ? performance.now() - group.startedAt : 0 });
        group = { startedAt: 0, rows: 0, changesByStream: {} };
      },
      onProgress: opts.onProgress,
      log: opts.log,
    });
  } catch (e) {
    await out.rollback();
    throw e;
  }
  // Caught up past the last change (other tables' transactions, or none): store that position too,
  // so the next run starts there.
  if (r.confirmed > applied) await out.storeStates(cdcStates(config, runId, r.confirmed));
  return {
    slot: start.names.slot,
    publication: start.names.publication,
    from: formatLsn(start.from),
    to: formatLsn(r.confirmed > applied ? r.confirmed : applied),
    transactions: r.transactions,
    changes: r.changes,
    rows_written: rowsWritten,
    largest_transaction: r.largestTransaction,
    streamed_transactions: r.streamedTransactions,
    lag_bytes: r.lagBytes,
    ...rejectedTotals(out.rejected()),
    decisions: out.schemaChanges(),
  };
}

function rejectedTotals(rejected: Record<string, RejectedChanges>): Pick<CdcResult, 'rows_skipped' | 'rows_dead_lettered' | 'values_nulled' | 'rejected'> {
  const all = Object.values(rejected);
  const sum = (f: (r: RejectedChanges) => number) => all.reduce((a, r) => a + f(r), 0);
  return { rows_skipped: sum((r) => r.skipped), rows_dead_lettered: sum((r) => r.deadLettered), values_nulled: sum((r) => r.nulled), rejected };
}

/** A cdc stream's filters on its changes: judged by the source (ChangeSource.judgeRows) over the stream's source columns. */
function filterOf(changes: ChangeSource, s: StreamPlan, contract: WriteContract, steps: ReadStep[]): NonNullable<ChangeTarget['filter']> {
  const read = { table: s.source.name, columns: s.columns.map((c) => ({ name: c.name, sourceTypeOid: c.typeOid, typeSql: c.typeName })), key: contract.key, steps };
  return { columns: read.columns.map((c) => c.name), judge: (rows) => changes.judgeRows(read, rows) };
}
