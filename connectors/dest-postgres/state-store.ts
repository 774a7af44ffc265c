/**
 * rb's durable state, kept in the destination database (schema `state.schema`, default `_rb`) so
 * that data and the state that covers it commit in one transaction (docs/design.md section 7):
 *
 *   meta          key → value; `version` is the layout of these tables (STATE_VERSION)
 *   runs          one row per run: 'running' from its start, then succeeded | failed | cancelled |
 *                 abandoned; the shard plan (so a resumed run reads the same shards), the run it
 *                 resumed, how many snapshots its data spans, retries
 *   stream_state  per pipeline and stream: the incremental cursor (text forms of the cursor and
 *                 tie-breaker values of the last row delivered) or a CDC LSN
 *   shard_ledger  one row per committed shard, inserted in the shard's own destination
 *                 transaction: a resumed or retried run skips shards found here, never copies one
 *                 twice. `plan_id` is the run that made the plan (a resumed run keeps it).
 *   dlq           rows the destination rejected under `on_data_error: dlq`, written in the
 *                 transaction of the shard they came in (connectors/dest-postgres/bad-rows.ts)
 *   unique_values the `unique` rule's claimed values of a plan, made only when a pipeline has
 *                 one (connectors/dest-postgres/unique-values.ts), dropped when the run succeeds
 *
 * A pipeline runs once at a time: the leader holds a session advisory lock on the pipeline for
 * the whole run, so a `running` row whose lock is free belongs to a run that died.
 */
import type pg from 'pg';
import { markTransient, RbError } from '../contract/errors.js';
import { clearUniqueValues, ensureUniqueValues } from './unique-values.js';
import type { StoredCursor } from '../contract/connector.js';
import type { QualifiedName } from '../contract/qualified-name.js';
import type { LedgerEntry, LedgerRefusal, LedgerRow, RunFinish, RunStart, RunStatus, StateStore, StoredRun, StreamState, StreamStateWrite } from '../contract/state.js';
import { quoteIdent, quoteQualified } from '../postgres/identifiers.js';

export type { LedgerEntry, LedgerRow, RunFinish, RunStart, RunStatus, StoredRun, StreamState };

/** Layout version of the state tables. Bump it with a step in `MIGRATIONS`. */
export const STATE_VERSION = 2;

/** Advisory lock class for "this pipeline is running" (the second key is hashtext(pipeline)). */
const PIPELINE_LOCK_CLASS = 0x7262; // 'rb'

/** Schema-qualified names of the state tables. */
export class StateTables {
  readonly schema: string;
  constructor(schema: string) {
    this.schema = quoteIdent(schema);
  }
  get meta(): string {
    return `${this.schema}.meta`;
  }
  get runs(): string {
    return `${this.schema}.runs`;
  }
  get streamState(): string {
    return `${this.schema}.stream_state`;
  }
  get ledger(): string {
    return `${this.schema}.shard_ledger`;
  }
  get dlq(): string {
    return `${this.schema}.dlq`;
  }
}

/**
 * Steps from version N-1 to N. Version 0 is what rb wrote before the state store existed: a
 * `runs` table (every column NOT NULL but error) or nothing at all.
 */
const MIGRATIONS: Array<(t: StateTables) => string[]> = [
  (t) => [
    `create table if not exists ${t.runs} (
       run_id uuid primary key,
       pipeline text not null,
       started_at timestamptz not null,
       finished_at timestamptz not null,
       status text not null,
       rows_written int8 not null,
       bytes_written int8 not null,
       streams jsonb not null,
       error jsonb)`,
    `alter table ${t.runs} alter column finished_at drop not null`,
    `alter table ${t.runs} add column if not exists plan_id uuid`,
    `alter table ${t.runs} add column if not exists resumed_from uuid`,
    `alter table ${t.runs} add column if not exists plan jsonb`,
    `alter table ${t.runs} add column if not exists snapshots int4 not null default 1`,
    `alter table ${t.runs} add column if not exists retries int4 not null default 0`,
    `update ${t.runs} set plan_id = run_id where plan_id is null`,
    `create index if not exists runs_pipeline_started on ${t.runs} (pipeline, started_at desc)`,
    `create table if not exists ${t.streamState} (
       pipeline text not null,
       stream text not null,
       sync_mode text not null,
       cursor_fields jsonb not null default '[]',
       cursor jsonb,
       lookback text,
       lsn pg_lsn,
       updated_at timestamptz not null default now(),
       run_id uuid not null,
       primary key (pipeline, stream))`,
    `create table if not exists ${t.ledger} (
       pipeline text not null,
       plan_id uuid not null,
       stream text not null,
       shard text not null,
       rows int8 not null,
       bytes int8 not null,
       run_id uuid not null,
       dest_xid int8 not null,
       committed_at timestamptz not null default now(),
       primary key (pipeline, plan_id, stream, shard))`,
  ],
  // 2: dead letters (destination.on_data_error: dlq; connectors/dest-postgres/bad-rows.ts). A row
  // is its columns' exact text forms as JSON (NULL as null); row_number counts from 1 in its shard.
  (t) => [
    `create table if not exists ${t.dlq} (
       id bigserial primary key,
       pipeline text not null,
       run_id uuid not null,
       stream text not null,
       shard int4 not null,
       row_number int8 not null,
       row_data jsonb not null,
       error text not null,
       detail text,
       sqlstate text,
       constraint_name text,
       column_name text,
       failed_at timestamptz not null default now())`,
    `create index if not exists dlq_pipeline_run on ${t.dlq} (pipeline, run_id)`,
  ],
];

/**
 * Creates or upgrades the state tables to STATE_VERSION, in one transaction under a lock, so two
 * rb processes starting at once do not race on `create table`. A newer layout than this rb knows
 * is refused (an older rb must not write into it).
 */
export async function ensureStateSchema(client: pg.Client, schema: string): Promise<StateTables> {
  const t = new StateTables(schema);
  await client.query('begin');
  try {
    await client.query('select pg_advisory_xact_lock($1, hashtext($2))', [PIPELINE_LOCK_CLASS + 1, `rb state ${schema}`]);
    await client.query(`create schema if not exists ${t.schema}`);
    await client.query(`create table if not exists ${t.meta} (key text primary key, value text not null)`);
    const r = await client.query(`select value from ${t.meta} where key = 'version'`);
    const current = r.rows.length ? Number(r.rows[0].value) : 0;
    if (current > STATE_VERSION) {
      throw new RbError('dest_prepare', `the state schema ${t.schema} has layout version ${current}; this rb knows up to ${STATE_VERSION} (upgrade rb)`);
    }
    for (let v = current; v < STATE_VERSION; v++) for (const sql of MIGRATIONS[v](t)) await client.query(sql);
    await client.query(`insert into ${t.meta} (key, value) values ('version', $1) on conflict (key) do update set value = excluded.value`, [String(STATE_VERSION)]);
    await client.query('commit');
    return t;
  } catch (e) {
    await client.query('rollback').catch(() => {});
    throw e;
  }
}

/**
 * Takes the pipeline's run lock (a session advisory lock on the leader's connection, released when
 * it closes — also when the process is killed). A killed run's backend may take a moment to notice
 * its client is gone, so the lock is retried for `waitMs` before giving up.
 */
export async function lockPipeline(client: pg.Client, pipeline: string, waitMs = 10_000): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const r = await client.query('select pg_try_advisory_lock($1, hashtext($2)) as ok', [PIPELINE_LOCK_CLASS, pipeline]);
    if (r.rows[0].ok) return;
    if (Date.now() >= deadline) {
      const who = await client.query(
        `select a.pid, a.application_name, a.backend_start from pg_locks l join pg_stat_activity a using (pid)
          where l.locktype = 'advisory' and l.classid = $1 and l.objid = hashtext($2)::oid and l.granted limit 1`,
        [PIPELINE_LOCK_CLASS, pipeline],
      );
      const holder = who.rows[0] ? ` (destination backend pid ${who.rows[0].pid}, ${who.rows[0].application_name})` : '';
      throw new RbError('dest_prepare', `pipeline ${pipeline} is already running${holder}; wait for it to finish or stop it`);
    }
    await new Promise((r2) => setTimeout(r2, 200));
  }
}

function toRun(row: Record<string, unknown>): StoredRun {
  return {
    runId: row.run_id as string,
    planId: (row.plan_id as string) ?? (row.run_id as string),
    status: row.status as RunStatus,
    startedAt: row.started_at as Date,
    finishedAt: (row.finished_at as Date | null) ?? null,
    resumedFrom: (row.resumed_from as string | null) ?? null,
    plan: row.plan,
  };
}

/** The pipeline's latest run, or null. */
export async function latestRun(client: pg.Client, t: StateTables, pipeline: string): Promise<StoredRun | null> {
  const r = await client.query(`select * from ${t.runs} where pipeline = $1 order by started_at desc, finished_at desc nulls first limit 1`, [pipeline]);
  return r.rows.length ? toRun(r.rows[0]) : null;
}

/**
 * Records a run as running (committed at once, so a kill leaves it there for the next run to find).
 * Ledger rows of the pipeline's other plans go: only the latest run can be resumed, so they can
 * never be read again (the ledger stays one plan's size).
 */
export async function startRun(client: pg.Client, t: StateTables, s: RunStart & { pipeline: string }): Promise<void> {
  await client.query(`delete from ${t.ledger} where pipeline = $1 and plan_id <> $2`, [s.pipeline, s.planId]);
  await client.query(
    `insert into ${t.runs} (run_id, plan_id, pipeline, started_at, finished_at, status, rows_written, bytes_written, streams, resumed_from, plan, snapshots)
     values ($1, $2, $3, now(), null, 'running', 0, 0, '[]', $4, $5, $6)`,
    [s.runId, s.planId, s.pipeline, s.resumedFrom, JSON.stringify(s.plan), s.snapshots],
  );
}

export async function finishRun(client: pg.Client, t: StateTables, runId: string, f: RunFinish): Promise<void> {
  await client.query(
    `update ${t.runs} set finished_at = now(), status = $2, rows_written = $3, bytes_written = $4, streams = $5, error = $6, retries = $7 where run_id = $1`,
    [runId, f.status, f.rowsWritten, f.bytesWritten, JSON.stringify(f.streams), f.error ? JSON.stringify(f.error) : null, f.retries],
  );
}

/** Marks a run that will not be continued (its successor started fresh or resumed it). */
export async function abandonRun(client: pg.Client, t: StateTables, runId: string, why: string): Promise<void> {
  await client.query(
    `update ${t.runs} set status = 'abandoned', finished_at = coalesce(finished_at, now()),
       error = coalesce(error, '{}'::jsonb) || jsonb_build_object('abandoned', $2::text) where run_id = $1`,
    [runId, why],
  );
}

export async function ledgerRows(client: pg.Client, t: StateTables, pipeline: string, planId: string): Promise<LedgerRow[]> {
  const r = await client.query(`select stream, shard, rows, bytes, run_id, dest_xid from ${t.ledger} where pipeline = $1 and plan_id = $2`, [pipeline, planId]);
  return r.rows.map((row) => ({ stream: row.stream, shard: row.shard, rows: Number(row.rows), bytes: Number(row.bytes), runId: row.run_id, destXid: Number(row.dest_xid) }));
}

/**
 * The shard's ledger row, in its own transaction just before COMMIT. The key is unique: a second
 * attempt at the same shard (a queued job redone after it expired while the first was still at
 * work) waits for the first's transaction and, when that committed, inserts nothing — this one then
 * fails with `details.ledger` saying why (LedgerRefusal) and rolls back, so no shard is written
 * twice. `whileRunning` first takes the run's row FOR SHARE: a run marked finished, failed or
 * abandoned (by the next run, before it prepares) is not written into any more.
 */
/**
 * Refuses (`run_not_running`) a queued shard's commit when its run is no longer `running` or its
 * coordinator is gone. The run's coordinator is alive while its leader session, connected before
 * the run started, holds the pipeline's lock (a later run's leader connected after this run
 * started). The run's row is taken `for share`: a finishing or abandoning run waits for this
 * transaction.
 */
async function assertRunCoordinated(client: pg.Client, e: LedgerEntry): Promise<void> {
  const t = new StateTables(e.schema);
  const run = await client.query(
    `select r.status, exists (select 1 from pg_locks l join pg_stat_activity a using (pid)
                                where l.locktype = 'advisory' and l.classid = $2 and l.objid = hashtext($3)::oid and l.granted
                                  and a.backend_start <= r.started_at) as coordinated
       from ${t.runs} r where r.run_id = $1 for share of r`,
    [e.runId, PIPELINE_LOCK_CLASS, e.pipeline],
  );
  const row = run.rows[0] as { status: string; coordinated: boolean } | undefined;
  if (row?.status !== 'running' || !row.coordinated) {
    const why = !row ? `is not in this destination (${t.runs})` : row.status !== 'running' ? `is ${row.status}` : 'has lost its coordinator (its destination session is gone)';
    throw ledgerRefusal('run_not_running', `${e.stream} shard ${e.shard}: run ${e.runId} ${why}; this attempt is rolled back`);
  }
}

export async function insertLedgerRow(client: pg.Client, e: LedgerEntry, rows: number, bytes: number): Promise<void> {
  const t = new StateTables(e.schema);
  const label = `${e.stream} shard ${e.shard}`;
  if (e.whileRunning) await assertRunCoordinated(client, e);
  const r = await client.query(
    `insert into ${t.ledger} (pipeline, plan_id, stream, shard, rows, bytes, run_id, dest_xid)
     values ($1, $2, $3, $4, $5, $6, $7, pg_current_xact_id()::text::int8 % 4294967296)
     on conflict (pipeline, plan_id, stream, shard) do nothing`,
    [e.pipeline, e.planId, e.stream, e.shard, rows, bytes, e.runId],
  );
  if (r.rowCount === 1) return;
  const other = await client.query(`select run_id from ${t.ledger} where pipeline = $1 and plan_id = $2 and stream = $3 and shard = $4`, [e.pipeline, e.planId, e.stream, e.shard]);
  const by = other.rows[0]?.run_id as string | undefined;
  if (by === e.runId) throw ledgerRefusal('committed', `${label}: already committed by another attempt of this run; this attempt is rolled back`);
  throw ledgerRefusal('committed_by_other_run', `${label}: committed by run ${by} after this run planned (a worker of a run that had stopped); this attempt is rolled back — run the pipeline again`);
}

function ledgerRefusal(why: LedgerRefusal, message: string): RbError {
  return new RbError('dest_query', message, { details: { ledger: why } });
}

/**
 * An incremental checkpoint's fence (CheckpointSpec.from), before it stores its cursor: the
 * stream's row is locked and must still hold the cursor this attempt continued from. Otherwise
 * another attempt of the shard checkpointed since (a queued worker paused past its job's expiry
 * while another continued the shard, or a commit that landed after its connection was lost), and
 * this attempt's rows are its rows too: it fails (`superseded`, transient: the retry continues
 * after the cursor now stored) and rolls back. A queued shard also checks its run is still
 * running and coordinated, as its ledger row will.
 */
export async function claimStreamCursor(client: pg.Client, target: { schema: string; pipeline: string; stream: string }, from: StoredCursor, queued?: LedgerEntry): Promise<void> {
  if (queued?.whileRunning) await assertRunCoordinated(client, queued);
  const t = new StateTables(target.schema);
  const r = await client.query(`select run_id, cursor from ${t.streamState} where pipeline = $1 and stream = $2 for update`, [target.pipeline, target.stream]);
  const row = r.rows[0] as { run_id: string | null; cursor: StoredCursor['cursor'] } | undefined;
  const now: StoredCursor = { runId: row?.run_id ?? null, cursor: row?.cursor ?? null };
  if (now.runId === from.runId && JSON.stringify(now.cursor) === JSON.stringify(from.cursor)) return;
  const show = (c: StoredCursor) => `${JSON.stringify(c.cursor)} of run ${c.runId ?? 'none'}`;
  const err = ledgerRefusal('superseded', `${target.stream}: its stored cursor moved while this attempt ran (now ${show(now)}; this attempt continued from ${show(from)}): another attempt of the shard checkpointed it; this attempt is rolled back`);
  throw markTransient(err, true);
}

export async function deleteLedgerRows(client: pg.Client, t: StateTables, pipeline: string, planId: string, stream: string): Promise<void> {
  await client.query(`delete from ${t.ledger} where pipeline = $1 and plan_id = $2 and stream = $3`, [pipeline, planId, stream]);
}

export async function readStreamStates(client: pg.Client, t: StateTables, pipeline: string): Promise<StreamState[]> {
  const r = await client.query(`select * from ${t.streamState} where pipeline = $1 order by stream`, [pipeline]);
  return r.rows.map((row) => ({
    stream: row.stream,
    syncMode: row.sync_mode,
    cursorFields: row.cursor_fields ?? [],
    cursor: row.cursor ?? null,
    lookback: row.lookback ?? null,
    lsn: row.lsn ?? null,
    updatedAt: row.updated_at,
    runId: row.run_id,
  }));
}

/** Upserts a stream's state row; call inside the transaction that commits the data it covers. */
export async function writeStreamState(client: pg.Client, schema: string, pipeline: string, s: StreamStateWrite): Promise<void> {
  const t = new StateTables(schema);
  await client.query(
    `insert into ${t.streamState} (pipeline, stream, sync_mode, cursor_fields, cursor, lookback, lsn, updated_at, run_id)
     values ($1, $2, $3, $4, $5, $6, $8::pg_lsn, now(), $7)
     on conflict (pipeline, stream) do update set sync_mode = excluded.sync_mode, cursor_fields = excluded.cursor_fields,
       cursor = excluded.cursor, lookback = excluded.lookback, lsn = excluded.lsn, updated_at = now(), run_id = excluded.run_id`,
    [pipeline, s.stream, s.syncMode, JSON.stringify(s.cursorFields), s.cursor === null ? null : JSON.stringify(s.cursor), s.lookback, s.runId, s.lsn ?? null],
  );
}

/** `rb state reset`: forgets the streams' cursors (all, or the named ones). Returns how many rows went. */
export async function resetStreamStates(client: pg.Client, t: StateTables, pipeline: string, streams: string[] | null): Promise<number> {
  const r = streams
    ? await client.query(`delete from ${t.streamState} where pipeline = $1 and stream = any($2)`, [pipeline, streams])
    : await client.query(`delete from ${t.streamState} where pipeline = $1`, [pipeline]);
  return r.rowCount ?? 0;
}

/** The last `limit` runs of a pipeline, newest first, for `rb state show`. */
export async function recentRuns(client: pg.Client, t: StateTables, pipeline: string, limit = 10): Promise<Array<Record<string, unknown>>> {
  const r = await client.query(
    `select run_id, status, started_at, finished_at, rows_written, bytes_written, resumed_from, snapshots, retries, error, streams
       from ${t.runs} where pipeline = $1 order by started_at desc limit $2`,
    [pipeline, limit],
  );
  return r.rows;
}

/**
 * The layout version of the state tables (0: none, or what rb wrote before the state store).
 * Read-only, so a run can look for an earlier unfinished run before it writes anything (bad input
 * found while planning leaves the destination exactly as it was).
 */
export async function stateVersion(client: pg.Client, schema: string): Promise<number> {
  const t = new StateTables(schema);
  const r = await client.query(`select to_regclass($1) is not null as ok`, [t.meta]);
  if (!r.rows[0].ok) return 0;
  const v = await client.query(`select value from ${t.meta} where key = 'version'`);
  return v.rows.length ? Number(v.rows[0].value) : 0;
}

/**
 * Resuming an append whose shards were ctid ranges (not stable across snapshots, so they cannot be
 * finished shard by shard): removes the rows the earlier run's committed shards wrote — found by
 * the transaction ids the ledger recorded, which are those rows' xmin — and their ledger rows, in
 * one transaction. The stream is then copied again whole, under the new snapshot.
 */
export async function undoCommittedShards(client: pg.Client, t: StateTables, target: string, pipeline: string, planId: string, stream: string, xids: number[]): Promise<number> {
  await client.query('begin');
  try {
    const r = xids.length ? await client.query(`delete from ${target} where xmin::text::int8 = any($1::int8[])`, [xids]) : { rowCount: 0 };
    await deleteLedgerRows(client, t, pipeline, planId, stream);
    await client.query('commit');
    return r.rowCount ?? 0;
  } catch (e) {
    await client.query('rollback').catch(() => {});
    throw e;
  }
}

/** The StateStore of one pipeline, on the leader's destination connection (connectors/contract/state.ts). */
export class PostgresStateStore implements StateStore {
  readonly tables: StateTables;
  readonly runsTable: string;

  constructor(
    private readonly client: pg.Client,
    readonly schema: string,
    readonly pipeline: string,
  ) {
    this.tables = new StateTables(schema);
    this.runsTable = this.tables.runs;
  }

  lock(): Promise<void> {
    return lockPipeline(this.client, this.pipeline);
  }
  async readable(): Promise<boolean> {
    return (await stateVersion(this.client, this.schema)) === STATE_VERSION;
  }
  async ensure(): Promise<void> {
    await ensureStateSchema(this.client, this.schema);
  }
  latestRun(): Promise<StoredRun | null> {
    return latestRun(this.client, this.tables, this.pipeline);
  }
  recentRuns(limit?: number): Promise<Array<Record<string, unknown>>> {
    return recentRuns(this.client, this.tables, this.pipeline, limit);
  }
  startRun(s: RunStart): Promise<void> {
    return startRun(this.client, this.tables, { ...s, pipeline: this.pipeline });
  }
  finishRun(runId: string, f: RunFinish): Promise<void> {
    return finishRun(this.client, this.tables, runId, f);
  }
  abandonRun(runId: string, why: string): Promise<void> {
    return abandonRun(this.client, this.tables, runId, why);
  }
  ledger(planId: string): Promise<LedgerRow[]> {
    return ledgerRows(this.client, this.tables, this.pipeline, planId);
  }
  forgetShards(planId: string, stream: string): Promise<void> {
    return deleteLedgerRows(this.client, this.tables, this.pipeline, planId, stream);
  }
  undoShards(target: QualifiedName, planId: string, stream: string, shards: readonly LedgerRow[]): Promise<number> {
    return undoCommittedShards(this.client, this.tables, quoteQualified(target), this.pipeline, planId, stream, shards.map((r) => r.destXid));
  }
  streamStates(): Promise<StreamState[]> {
    return readStreamStates(this.client, this.tables, this.pipeline);
  }
  resetStreams(streams: string[] | null): Promise<number> {
    return resetStreamStates(this.client, this.tables, this.pipeline, streams);
  }
  async uniqueClaims(keepPlan: string | null, restart: readonly string[] = []): Promise<void> {
    if (keepPlan) await ensureUniqueValues(this.client, this.schema);
    await clearUniqueValues(this.client, this.schema, this.pipeline, keepPlan, restart);
  }
}
