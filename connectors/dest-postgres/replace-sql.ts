/**
 * Catalog queries of a replace (docs/design.md section 2, "What a replace keeps"): what users
 * attached to the target, read in prepare (to refuse what rb cannot carry and to give the staging
 * table the target's constraints) and again under the swap's lock (to recreate it on the new table).
 * $1 is always the target's (or a dependent view's) oid; names come back raw and are quoted by the caller.
 */

/** One relation: owner, grants (table and column), comments, row security, replica identity, storage. */
export const SQL_RELATION_ATTACHMENTS = `
select c.relkind, c.relispartition, c.relpersistence, c.reloptions, c.relrowsecurity, c.relforcerowsecurity,
       c.relreplident, pg_get_userbyid(c.relowner) as owner, c.relacl is null as default_acl,
       (select spcname from pg_tablespace where oid = c.reltablespace) as tablespace,
       obj_description(c.oid, 'pg_class') as comment,
       coalesce((select json_agg(json_build_object('grantee', case when a.grantee = 0 then null else pg_get_userbyid(a.grantee) end,
                                                   'grantor', pg_get_userbyid(a.grantor), 'privilege', a.privilege_type, 'grantable', a.is_grantable))
                 from aclexplode(c.relacl) a), '[]') as grants,
       coalesce((select json_agg(json_build_object('column', t.attname, 'grantee', case when a.grantee = 0 then null else pg_get_userbyid(a.grantee) end,
                                                   'grantor', pg_get_userbyid(a.grantor), 'privilege', a.privilege_type, 'grantable', a.is_grantable))
                 from pg_attribute t, aclexplode(t.attacl) a
                 where t.attrelid = c.oid and t.attnum > 0 and not t.attisdropped), '[]') as column_grants,
       coalesce((select json_agg(json_build_object('column', t.attname, 'comment', d.description))
                 from pg_attribute t join pg_description d on d.objoid = t.attrelid and d.classoid = 'pg_class'::regclass and d.objsubid = t.attnum
                 where t.attrelid = c.oid and t.attnum > 0 and not t.attisdropped), '[]') as column_comments,
       exists (select 1 from pg_inherits i where i.inhrelid = c.oid or i.inhparent = c.oid) as inherits,
       (select array_agg(t.attname::text) from pg_attribute t where t.attrelid = c.oid and t.attnum > 0 and not t.attisdropped and t.attidentity <> '') as identity_columns
from pg_class c where c.oid = $1::oid`;

/** Indexes of the target: the primary key, constraint-backed ones (unique, exclusion) and plain ones. */
export const SQL_TARGET_INDEXES = `
select ic.relname as name, i.indisprimary as primary, pg_get_indexdef(i.indexrelid) as def,
       'CREATE ' || case when i.indisunique then 'UNIQUE ' else '' end || 'INDEX ' || quote_ident(ic.relname) || ' ON ' ||
         quote_ident(n.nspname) || '.' || quote_ident(tc.relname) || ' USING ' as def_prefix,
       k.conname as constraint_name, case when k.oid is not null then pg_get_constraintdef(k.oid) end as constraint_def,
       case when k.oid is not null then obj_description(k.oid, 'pg_constraint') end as constraint_comment,
       obj_description(i.indexrelid, 'pg_class') as comment, i.indisreplident as replica_identity,
       array(select a.attname::text from unnest(i.indkey[0:i.indnkeyatts - 1]) with ordinality u(attnum, ord)
               join pg_attribute a on a.attrelid = i.indrelid and a.attnum = u.attnum order by u.ord) as key_columns
from pg_index i
join pg_class ic on ic.oid = i.indexrelid
join pg_class tc on tc.oid = i.indrelid
join pg_namespace n on n.oid = tc.relnamespace
left join pg_constraint k on k.conindid = i.indexrelid and k.conrelid = i.indrelid and k.contype in ('p', 'u', 'x')
where i.indrelid = $1::oid
order by ic.relname`;

/** CHECK and FOREIGN KEY constraints of the target (given to the staging table in prepare). */
export const SQL_TARGET_CONSTRAINTS = `
select k.conname as name, k.contype as type, pg_get_constraintdef(k.oid) as def, k.confrelid = k.conrelid as self_reference,
       obj_description(k.oid, 'pg_constraint') as comment
from pg_constraint k where k.conrelid = $1::oid and k.contype in ('c', 'f') and k.conparentid = 0
order by k.conname`;

/** Columns: NOT NULL and DEFAULT of the target's plain columns (given to the staging table in prepare). */
export const SQL_TARGET_COLUMN_RULES = `
select a.attname as name, a.attnotnull as not_null, case when a.attgenerated = '' then pg_get_expr(d.adbin, d.adrelid) end as default_expr
from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
where a.attrelid = $1::oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
order by a.attnum`;

/** Row-level security policies. polroles {0} is PUBLIC. */
export const SQL_POLICIES = `
select p.polname as name, p.polpermissive as permissive, p.polcmd as cmd,
       array(select case when r = 0 then null else pg_get_userbyid(r)::text end from unnest(p.polroles) r) as roles,
       pg_get_expr(p.polqual, p.polrelid) as qual, pg_get_expr(p.polwithcheck, p.polrelid) as with_check,
       obj_description(p.oid, 'pg_policy') as comment
from pg_policy p where p.polrelid = $1::oid order by p.polname`;

/** User triggers (not the internal ones of foreign keys). */
export const SQL_TRIGGERS = `
select t.tgname as name, pg_get_triggerdef(t.oid) as def, t.tgenabled as enabled, obj_description(t.oid, 'pg_trigger') as comment
from pg_trigger t where t.tgrelid = $1::oid and not t.tgisinternal order by t.tgname`;

/** Extended statistics objects. */
export const SQL_STATISTICS = `
select pg_get_statisticsobjdef(s.oid) as def, s.stxnamespace::regnamespace::text as schema, s.stxname as name,
       obj_description(s.oid, 'pg_statistic_ext') as comment
from pg_statistic_ext s where s.stxrelid = $1::oid order by s.stxname`;

/** Sequences owned by a column of the target (serial): they would go with the dropped table. */
export const SQL_OWNED_SEQUENCES = `
select s.relnamespace::regnamespace::text as schema, s.relname as name, a.attname as column
from pg_depend d
join pg_class s on s.oid = d.objid and s.relkind = 'S'
join pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
where d.classid = 'pg_class'::regclass and d.refclassid = 'pg_class'::regclass and d.refobjid = $1::oid and d.deptype = 'a'`;

/**
 * Views depending on the target, directly or through each other, with the longest path's depth
 * (creating them by increasing depth creates every view after the ones it reads).
 */
export const SQL_DEPENDENT_VIEWS = `
with recursive dep(oid, depth) as (
  select r.ev_class, 1 from pg_depend d join pg_rewrite r on r.oid = d.objid
  where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass and d.refobjid = $1::oid and r.ev_class <> $1::oid
  union
  select r.ev_class, dep.depth + 1 from dep join pg_depend d on d.refclassid = 'pg_class'::regclass and d.refobjid = dep.oid
  join pg_rewrite r on r.oid = d.objid and d.classid = 'pg_rewrite'::regclass
  where r.ev_class <> dep.oid and dep.depth < 100
)
select c.oid::int8 as oid, n.nspname as schema, c.relname as name, c.relkind, max(dep.depth)::int as depth,
       case when c.relkind = 'v' then pg_get_viewdef(c.oid) end as definition
from dep join pg_class c on c.oid = dep.oid join pg_namespace n on n.oid = c.relnamespace
group by c.oid, n.nspname, c.relname, c.relkind
order by depth, c.oid`;

/**
 * Objects depending on a relation that a replace cannot carry: everything with a normal
 * dependency on it but the relation's own constraints, policies and triggers, and the plain views
 * rb recreates ($2: their oids). Named as PostgreSQL describes them.
 */
export const SQL_OTHER_DEPENDENTS = `
select distinct pg_describe_object(d.classid, d.objid, 0) as what
from pg_depend d
where d.refclassid = 'pg_class'::regclass and d.refobjid = $1::oid and d.deptype = 'n'
  and not (d.classid = 'pg_constraint'::regclass and exists (select 1 from pg_constraint k where k.oid = d.objid and k.conrelid = $1::oid))
  and not (d.classid = 'pg_policy'::regclass and exists (select 1 from pg_policy p where p.oid = d.objid and p.polrelid = $1::oid))
  and not (d.classid = 'pg_trigger'::regclass and exists (select 1 from pg_trigger t where t.oid = d.objid and t.tgrelid = $1::oid))
  and not (d.classid = 'pg_rewrite'::regclass and exists (select 1 from pg_rewrite r join pg_class v on v.oid = r.ev_class
                                                          where r.oid = d.objid and r.rulename = '_RETURN' and v.relkind = 'v' and v.oid = any($2::oid[])))
order by 1`;

/** Rules other than a view's own _RETURN rule, on the target or a dependent view. */
export const SQL_RULES = `
select r.rulename as name from pg_rewrite r where r.ev_class = $1::oid and r.rulename <> '_RETURN' order by 1`;

/** Publications that publish the table (listed, by schema or all tables). $1 schema, $2 table. */
export const SQL_PUBLICATIONS = `
select pubname from pg_publication_tables where schemaname = $1 and tablename = $2 order by 1`;

/**
 * Columns of the target that carried objects use (views, policies, triggers, indexes, constraints,
 * statistics, owned sequences) where the new table ($2) has no column of that name, or one of
 * another type or collation.
 */
export const SQL_CHANGED_COLUMNS_IN_USE = `
select distinct pg_describe_object(d.classid, d.objid, 0) as what, t.attname as column,
       format_type(t.atttypid, t.atttypmod) as was, case when s.attname is not null then format_type(s.atttypid, s.atttypmod) end as now
from pg_depend d
join pg_attribute t on t.attrelid = d.refobjid and t.attnum = d.refobjsubid
left join pg_attribute s on s.attrelid = $2::oid and s.attname = t.attname and s.attnum > 0 and not s.attisdropped
where d.refclassid = 'pg_class'::regclass and d.refobjid = $1::oid and d.refobjsubid > 0
  and d.classid <> 'pg_attrdef'::regclass
  and not (d.classid = 'pg_constraint'::regclass and exists (select 1 from pg_constraint k where k.oid = d.objid and k.contype in ('p', 'n')))
  and not (d.classid = 'pg_class'::regclass and exists (select 1 from pg_index i where i.indexrelid = d.objid and i.indisprimary))
  and not (s.attname is not null and s.atttypid = t.atttypid and s.atttypmod = t.atttypmod and s.attcollation = t.attcollation)
order by 1, 2`;

/** The new table's column names (staging). */
export const SQL_COLUMN_NAMES = `
select array_agg(a.attname::text order by a.attnum) as names from pg_attribute a where a.attrelid = $1::oid and a.attnum > 0 and not a.attisdropped`;
