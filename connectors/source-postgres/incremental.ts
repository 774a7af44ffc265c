/**
 * The source side of incremental sync (docs/design.md section 7): predicates and order over a
 * cursor (the cursor column, then tie-breaker columns), the high-water mark of a snapshot, and the
 * lookback that catches late commits.
 *
 * Order: `cursor ASC NULLS FIRST, tb1 ASC, …` — a NULL cursor sorts below every value, so rows
 * whose cursor is NULL are read by the first run, and later only once they get a value. The
 * tie-breaker columns are NOT NULL (a primary key by default), so equal cursor values are ordered
 * and a boundary between two runs never loses or repeats one of them.
 *
 * Positions are text forms of the fields (what PostgreSQL's output functions print under rb's
 * pinned session settings), written back into SQL as `'text'::type` literals.
 */
import type pg from 'pg';
import type { CursorPosition, CursorRange, CursorRead, CursorSpec } from '../contract/connector.js';
import { quoteIdent, quoteLiteral, quoteQualified, type QualifiedName } from '../postgres/identifiers.js';

export type { CursorPosition, CursorSpec };

function lit(spec: CursorSpec, i: number, value: string): string {
  return `${quoteLiteral(value)}::${spec.types[i]}`;
}

function row(spec: CursorSpec, from: number, values: CursorPosition): { cols: string; vals: string } {
  const idx = spec.fields.map((_, i) => i).slice(from);
  return {
    cols: `(${idx.map((i) => quoteIdent(spec.fields[i])).join(', ')})`,
    vals: `(${idx.map((i) => lit(spec, i, values[i] as string)).join(', ')})`,
  };
}

/** Rows strictly after `pos` in cursor order. */
export function cursorAfter(spec: CursorSpec, pos: CursorPosition): string {
  const c = quoteIdent(spec.fields[0]);
  if (pos[0] === null) {
    const tb = row(spec, 1, pos);
    return spec.fields.length > 1 ? `(${c} is not null or ${tb.cols} > ${tb.vals})` : `${c} is not null`;
  }
  const all = row(spec, 0, pos);
  return `(${c} is not null and ${all.cols} > ${all.vals})`;
}

/**
 * Rows at or before `pos` in cursor order. `withNulls` false: the read's lower bound already
 * excludes NULL cursors, so the bound is a plain row comparison (an index range scan).
 */
export function cursorAtMost(spec: CursorSpec, pos: CursorPosition, withNulls = true): string {
  const c = quoteIdent(spec.fields[0]);
  if (!withNulls && pos[0] !== null) {
    const all = row(spec, 0, pos);
    return `${all.cols} <= ${all.vals}`;
  }
  if (pos[0] === null) {
    const tb = row(spec, 1, pos);
    return spec.fields.length > 1 ? `(${c} is null and ${tb.cols} <= ${tb.vals})` : `${c} is null`;
  }
  const all = row(spec, 0, pos);
  return `(${c} is null or ${all.cols} <= ${all.vals})`;
}

/**
 * ORDER BY for a read: NULL cursors first when the read can include them; otherwise plain
 * ascending order, which a `(cursor, tie-breaker)` index delivers without a sort.
 */
export function cursorOrder(spec: CursorSpec, mayIncludeNulls = true): string {
  return spec.fields.map((f, i) => `${quoteIdent(f)} asc${i === 0 && mayIncludeNulls ? ' nulls first' : ''}`).join(', ');
}

/**
 * The last row in cursor order, read inside the run's snapshot: the position the run will reach.
 * Null for an empty table. Two probes, each a backward scan of a plain `(cursor, tie-breaker)`
 * index when there is one (NULLS FIRST order itself would need a sort of the whole table): the
 * largest non-NULL cursor, else, when every cursor is NULL, the largest tie-breaker.
 */
export async function readHighWater(client: pg.Client, table: QualifiedName, spec: CursorSpec): Promise<CursorPosition | null> {
  const list = spec.fields.map((f, i) => `${quoteIdent(f)}::text as v${i}`).join(', ');
  const c = quoteIdent(spec.fields[0]);
  const desc = spec.fields.map((f) => `${quoteIdent(f)} desc`).join(', ');
  let r = await client.query(`select ${list} from ${quoteQualified(table)} where ${c} is not null order by ${desc} limit 1`);
  if (!r.rows.length) r = await client.query(`select ${list} from ${quoteQualified(table)} where ${c} is null order by ${desc} limit 1`);
  if (!r.rows.length) return null;
  return spec.fields.map((_, i) => r.rows[0][`v${i}`] as string | null);
}

/** Cursor types whose values come from the clock (now(), clock_timestamp()), and so can commit late. */
const CLOCK_TYPES: Record<string, string> = {
  'timestamp with time zone': '$1::timestamptz',
  // The applications' sessions may write local times in any time zone: widen by the largest offset.
  'timestamp without time zone': "($1::timestamptz at time zone 'UTC') - interval '14 hours'",
  date: "(($1::timestamptz at time zone 'UTC') - interval '14 hours')::date",
};

/**
 * Late commits: a transaction that started before this run's snapshot and commits after it can
 * write a clock cursor value below the run's high-water mark (its now() is its start). It is
 * invisible to the snapshot, so the next run must re-read from the oldest start of any
 * transaction that could be in that position. Call this BEFORE the snapshot is taken: the least of
 * the other backends' transaction starts and the clock itself (a transaction that begins between
 * this query and the snapshot starts after the clock reading). Only this database's sessions can
 * write its tables; prepared (two-phase) transactions are not seen.
 */
export async function measureLookbackClock(client: pg.Client): Promise<string> {
  const r = await client.query(
    `select least(clock_timestamp(), (select min(xact_start) from pg_stat_activity
        where pid <> pg_backend_pid() and datname = current_database() and xact_start is not null and backend_type = 'client backend'))::text as lb`,
  );
  return r.rows[0].lb as string;
}

/** The lookback as a value of the cursor's type, or null for cursor types not from the clock. */
export async function lookbackFor(client: pg.Client, cursorType: string, clock: string): Promise<string | null> {
  const expr = CLOCK_TYPES[cursorType];
  if (!expr) return null;
  return (await client.query(`select (${expr})::text as lb`, [clock])).rows[0].lb as string;
}

/** Rows at or after the lookback (cursor >= lookback). */
export function cursorFromLookback(spec: CursorSpec, lookback: string): string {
  return `${quoteIdent(spec.fields[0])} >= ${lit(spec, 0, lookback)}`;
}

/** `a <= b` for two text forms of the cursor's type, compared by the source. */
export async function cursorValueAtMost(client: pg.Client, type: string, a: string, b: string): Promise<boolean> {
  return (await client.query(`select $1::${type} <= $2::${type} as ok`, [a, b])).rows[0].ok as boolean;
}

/**
 * The predicates and order of an incremental read (SnapshotSource.cursorRead): every row after
 * `after` (all rows when null), also from `lookback` on when one is given, up to `atMost`. Always
 * one range an index on the cursor fields can serve: a lookback at or before the stored cursor
 * covers everything after it too (`cursor >= lookback`); a later one adds nothing to "after the
 * cursor". After a NULL cursor position both ranges are kept (NULLs sort first).
 */
export async function cursorRead(client: pg.Client, spec: CursorSpec, range: CursorRange): Promise<CursorRead> {
  const { after, lookback, atMost } = range;
  if (!after) return { predicates: atMost ? [cursorAtMost(spec, atMost)] : [], orderBy: cursorOrder(spec) };
  if (!lookback) return continueRead(spec, after, atMost);
  let from = cursorAfter(spec, after);
  if (after[0] === null) from = `(${from} or ${cursorFromLookback(spec, lookback)})`;
  else if (await cursorValueAtMost(client, spec.types[0], lookback, after[0])) from = cursorFromLookback(spec, lookback);
  return bounded(spec, from, after, atMost);
}

/**
 * Every row after `after` up to `atMost`, without a lookback: where an attempt of an incremental
 * shard continues after the cursor an earlier attempt checkpointed. Needs no connection, so a
 * queued shard's worker computes it as the coordinator would (SourceReads in contract/connector.ts).
 */
export function continueRead(spec: CursorSpec, after: CursorPosition, atMost: CursorPosition | null): CursorRead {
  return bounded(spec, cursorAfter(spec, after), after, atMost);
}

function bounded(spec: CursorSpec, from: string, after: CursorPosition, atMost: CursorPosition | null): CursorRead {
  // An empty table at the snapshot: nothing to read after the cursor either.
  return { predicates: atMost ? [from, cursorAtMost(spec, atMost, after[0] === null)] : ['false'], orderBy: cursorOrder(spec, after[0] === null) };
}
