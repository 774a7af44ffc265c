/**
 * Catalog queries shared by the source and destination connectors, one named constant each.
 * Parameters are always bound ($n), never interpolated.
 */

/** $1 = quoted qualified name. Returns the relation oid and kind, or no row. */
export const SQL_RESOLVE_TABLE = `
select c.oid::int8 as oid, c.relkind, n.nspname as schema, c.relname as name
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.oid = to_regclass($1)`;

/** $1 = relation oid. Live columns in attnum order, with type details. */
export const SQL_TABLE_COLUMNS = `
select a.attnum::int as attnum,
       a.attname as name,
       a.atttypid::int8 as type_oid,
       a.atttypmod as typmod,
       format_type(a.atttypid, a.atttypmod) as type_name,
       a.attnotnull as not_null,
       a.attgenerated <> '' as generated,
       a.attgenerated::text = 'v' as generated_virtual,
       case when a.attgenerated <> '' then pg_get_expr(d.adbin, d.adrelid) end as generation_expr,
       a.attidentity <> '' as identity,
       a.attndims as ndims,
       t.typtype as typtype,
       t.typcategory as typcategory,
       t.typelem::int8 as elem_oid,
       tn.nspname as type_schema,
       t.typname as type_base_name
from pg_attribute a
join pg_type t on t.oid = a.atttypid
join pg_namespace tn on tn.oid = t.typnamespace
left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
where a.attrelid = $1::oid and a.attnum > 0 and not a.attisdropped
order by a.attnum`;

/** $1 = relation oid. Primary key column names in key order (no row when there is none). */
export const SQL_PRIMARY_KEY = `
select array_agg(a.attname::text order by k.ord) as columns, i.indexrelid::regclass::text as index_name
from pg_index i
cross join lateral unnest(i.indkey) with ordinality as k(attnum, ord)
join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
where i.indrelid = $1::oid and i.indisprimary
group by i.indexrelid`;

/** $1 = relation oid. Unique (non-partial, non-expression) indexes with their columns. */
export const SQL_UNIQUE_KEYS = `
select array_agg(a.attname::text order by k.ord) as columns
from pg_index i
cross join lateral unnest(i.indkey) with ordinality as k(attnum, ord)
join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
where i.indrelid = $1::oid and i.indisunique and i.indpred is null and i.indexprs is null
group by i.indexrelid`;

/** $1 = relation oid. Size estimate. */
export const SQL_TABLE_SIZE = `
select greatest(c.reltuples, 0)::int8 as estimated_rows,
       pg_relation_size(c.oid)::int8 as relation_bytes,
       pg_total_relation_size(c.oid)::int8 as total_bytes,
       current_setting('block_size')::int as block_size
from pg_class c where c.oid = $1::oid`;

/** $1 = array of schema names. Ordinary and partitioned tables in those schemas. */
export const SQL_LIST_TABLES = `
select n.nspname as schema, c.relname as name
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p') and n.nspname = any($1::text[]) and not c.relispartition
order by n.nspname, c.relname`;

/** $1 = array of type oids. Those types' details for DDL. */
export const SQL_TYPE_INFO = `
select t.oid::int8 as oid, n.nspname as schema, t.typname as name, t.typtype, t.typcategory,
       t.typelem::int8 as elem_oid, t.typbasetype::int8 as base_oid, t.typtypmod as base_typmod,
       format_type(t.typbasetype, t.typtypmod) as base_type_name,
       t.typnotnull as not_null, t.typdefault as default_expr, t.typrelid::int8 as relid,
       (select e.extname from pg_depend d join pg_extension e on e.oid = d.refobjid
         where d.classid = 'pg_type'::regclass and d.objid = t.oid and d.deptype = 'e' limit 1) as extension
from pg_type t join pg_namespace n on n.oid = t.typnamespace
where t.oid = any($1::oid[])`;

/** $1 = enum type oid. Labels in sort order. */
export const SQL_ENUM_LABELS = `
select enumlabel as label from pg_enum where enumtypid = $1::oid order by enumsortorder`;

/** $1 = domain type oid. CHECK constraints. */
export const SQL_DOMAIN_CHECKS = `
select conname as name, pg_get_constraintdef(oid) as def
from pg_constraint where contypid = $1::oid and contype = 'c' order by conname`;

/** $1 = composite type's relid. Attributes with their types. */
export const SQL_COMPOSITE_ATTRS = `
select a.attname as name, a.atttypid::int8 as type_oid, format_type(a.atttypid, a.atttypmod) as type_name
from pg_attribute a where a.attrelid = $1::oid and a.attnum > 0 and not a.attisdropped
order by a.attnum`;

/** $1 = schema, $2 = type name. Whether a type exists. */
export const SQL_TYPE_EXISTS = `
select t.oid::int8 as oid, t.typtype from pg_type t join pg_namespace n on n.oid = t.typnamespace
where n.nspname = $1 and t.typname = $2`;

/** $1 = relation oid, $2 = column name. min/max of an integer key for range sharding. */
export const sqlKeyBounds = (qualified: string, quotedKey: string): string =>
  `select min(${quotedKey})::text as lo, max(${quotedKey})::text as hi from ${qualified}`;

/**
 * The valid, non-partial B-tree indexes of a table with their key columns in order (INCLUDE
 * columns left out; an expression column is NULL).
 */
export const SQL_BTREE_INDEX_KEYS = `
select c.relname as name,
       array(select a.attname::text from unnest(x.indkey[0:x.indnkeyatts - 1]) with ordinality k(attnum, n)
               left join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.attnum
              order by k.n) as cols
from pg_index x
join pg_class c on c.oid = x.indexrelid
join pg_am am on am.oid = c.relam
where x.indrelid = $1::oid and am.amname = 'btree' and x.indisvalid and x.indpred is null
order by x.indisprimary desc, c.relname`;

/**
 * $1 = relation oid. Columns an INSERT that leaves them out cannot fill: NOT NULL, no default, not
 * generated, not identity (a destination target's columns a stream does not write must not be these).
 */
export const SQL_REQUIRED_COLUMNS = `
select a.attname as name
from pg_attribute a
where a.attrelid = $1::oid and a.attnum > 0 and not a.attisdropped and a.attnotnull
  and a.attgenerated = '' and a.attidentity = '' and not a.atthasdef
order by a.attnum`;
