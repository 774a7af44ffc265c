/**
 * SQL used by verification, in one place. Catalog lookups take schema and table names as
 * parameters (never spliced into text), so any identifier works.
 */

/** The relation's oid, or no row. Tables, partitioned tables, views, matviews, foreign tables. */
export const RELATION_OID_SQL = `
select c.oid::int8::text as oid
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p', 'v', 'm', 'f')`;

/** Live columns in table order, with their exact types (typmod included). */
export const COLUMNS_SQL = `
select a.attname as name,
       format_type(a.atttypid, a.atttypmod) as type,
       a.attcollation <> 0 as collatable
from pg_attribute a
where a.attrelid = $1::int8::oid and a.attnum > 0 and not a.attisdropped
order by a.attnum`;

/**
 * Schemas of the table's column types (user types; pg_catalog is always on the path). Put on the
 * search_path before COLUMNS_SQL so format_type names user types without a schema on both sides.
 */
export const TYPE_SCHEMAS_SQL = `
select coalesce(string_agg(distinct quote_ident(n.nspname), ', '), '') as schemas
from pg_attribute a
join pg_type t on t.oid = a.atttypid
join pg_namespace n on n.oid = t.typnamespace
where a.attrelid = $1::int8::oid and a.attnum > 0 and not a.attisdropped and n.nspname <> 'pg_catalog'`;

/** Sets `search_path` ($1) for the current transaction only. */
export const SET_SEARCH_PATH_SQL = `select set_config('search_path', $1, true)`;

/** Primary key columns in key order. */
export const PRIMARY_KEY_SQL = `
select a.attname as name
from pg_index i
cross join lateral unnest(i.indkey::int2[]) with ordinality as k(attnum, ord)
join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
where i.indrelid = $1::int8::oid and i.indisprimary
order by k.ord`;

/**
 * Settings that make `value::text` identical for identical values whatever the server's or the
 * role's defaults: time zone, date and interval styles, float digits (shortest exact since PG 12
 * with 1), bytea as hex, money in the C locale.
 */
export const STABLE_TEXT_SETTINGS: ReadonlyArray<readonly [string, string]> = [
  ['TimeZone', 'UTC'],
  ['DateStyle', 'ISO, MDY'],
  ['IntervalStyle', 'postgres'],
  ['extra_float_digits', '1'],
  ['bytea_output', 'hex'],
  ['lc_monetary', 'C'],
];

/** Applies STABLE_TEXT_SETTINGS plus `search_path` ($1) for the current transaction only. */
export const SET_STABLE_TEXT_SQL = `select ${[...STABLE_TEXT_SETTINGS.map(([k, v]) => `set_config('${k}', '${v}', true)`), `set_config('search_path', $1, true)`].join(', ')}`;

export const BEGIN_SNAPSHOT_SQL = 'begin isolation level repeatable read read only';
export const COMMIT_SQL = 'commit';
export const ROLLBACK_SQL = 'rollback';
