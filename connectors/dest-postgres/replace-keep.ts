/**
 * What a replace keeps (docs/design.md section 2, "What a replace keeps"). A replace loads a new
 * table and swaps it in by dropping the old one and renaming the new one into its place; what users
 * attached to the old table is read from the catalog and recreated on the new one in the swap
 * transaction. PostgreSQL cannot give one relation another's storage, and a swap that keeps the
 * relation (TRUNCATE + INSERT … SELECT) would hold readers off for the whole copy.
 *
 *   prepare    readKept + refusals: anything rb cannot carry fails the run before data moves;
 *              stagingRules: CHECK / FOREIGN KEY / NOT NULL / DEFAULT / storage onto the new table,
 *              so rows that break them fail while loading, not at the swap
 *   finish     prebuildStatements (primary key, indexes, unique and exclusion constraints under
 *              temporary names) before the lock; under the lock readKept again, refusals again,
 *              then swapStatements
 */
import type pg from 'pg';
import { RbError } from '../contract/errors.js';
import { quoteIdent, quoteLiteral, quoteQualified, displayName, type QualifiedName } from '../postgres/identifiers.js';
import {
  SQL_CHANGED_COLUMNS_IN_USE,
  SQL_COLUMN_NAMES,
  SQL_DEPENDENT_VIEWS,
  SQL_OTHER_DEPENDENTS,
  SQL_OWNED_SEQUENCES,
  SQL_POLICIES,
  SQL_PUBLICATIONS,
  SQL_RELATION_ATTACHMENTS,
  SQL_RULES,
  SQL_STATISTICS,
  SQL_TARGET_COLUMN_RULES,
  SQL_TARGET_CONSTRAINTS,
  SQL_TARGET_INDEXES,
  SQL_TRIGGERS,
} from './replace-sql.js';

interface Grant {
  /** null: PUBLIC. */
  grantee: string | null;
  grantor: string;
  privilege: string;
  grantable: boolean;
  column?: string;
}

/** What any relation (the target, a dependent view) carries: owner, grants, comments, triggers. */
interface RelationAttachments {
  relkind: string;
  owner: string;
  /** No ACL stored: the owner's default privileges, nothing for anyone else. */
  defaultAcl: boolean;
  grants: Grant[];
  columnGrants: Grant[];
  comment: string | null;
  columnComments: Array<{ column: string; comment: string }>;
  triggers: Array<{ name: string; def: string; enabled: string; comment: string | null }>;
  rules: string[];
  /** Defaults of columns (a view's columns may have them too). */
  columnRules: Array<{ name: string; notNull: boolean; defaultExpr: string | null }>;
  raw: Record<string, unknown>;
}

interface KeptIndex {
  name: string;
  primary: boolean;
  def: string;
  defPrefix: string;
  constraintName: string | null;
  constraintDef: string | null;
  constraintComment: string | null;
  comment: string | null;
  replicaIdentity: boolean;
  keyColumns: string[];
}

interface KeptView extends RelationAttachments {
  oid: number;
  name: QualifiedName;
  depth: number;
  definition: string | null;
  options: string[] | null;
}

/** Everything of the target a replace recreates, and what it refuses. */
export interface KeptObjects extends RelationAttachments {
  oid: number;
  target: QualifiedName;
  rowSecurity: boolean;
  forceRowSecurity: boolean;
  replicaIdentity: string;
  persistence: string;
  options: string[] | null;
  tablespace: string | null;
  indexes: KeptIndex[];
  constraints: Array<{ name: string; type: string; def: string; selfReference: boolean; comment: string | null }>;
  policies: Array<{ name: string; permissive: boolean; cmd: string; roles: Array<string | null>; qual: string | null; withCheck: string | null; comment: string | null }>;
  statistics: Array<{ def: string; schema: string; name: string; comment: string | null }>;
  ownedSequences: Array<{ schema: string; name: string; column: string }>;
  views: KeptView[];
  publications: string[];
  /** Objects depending on the target or a view that rb cannot recreate (PostgreSQL's descriptions). */
  otherDependents: string[];
  inherits: boolean;
  partition: boolean;
  identityColumns: string[];
}

/**
 * Runs catalog queries in one round trip (a multi-statement simple query: the lock is held while
 * the swap reads them). Parameters are bound as literals here: oids, names, oid arrays.
 */
async function queryAll(dest: pg.Client, queries: Array<[string, ReadonlyArray<number | string | number[]>]>): Promise<pg.QueryResultRow[][]> {
  if (queries.length === 0) return [];
  const lit = (v: number | string | number[]) => (Array.isArray(v) ? `'{${v.map((x) => Math.trunc(x)).join(',')}}'` : typeof v === 'number' ? String(Math.trunc(v)) : quoteLiteral(v));
  const text = queries.map(([sql, params]) => sql.replace(/\$(\d+)/g, (_, n: string) => lit(params[Number(n) - 1]))).join(';\n');
  const r = (await dest.query(text)) as unknown as pg.QueryResult | pg.QueryResult[];
  return (Array.isArray(r) ? r : [r]).map((x) => x.rows);
}

const relationQueries = (oid: number): Array<[string, number[]]> => [
  [SQL_RELATION_ATTACHMENTS, [oid]],
  [SQL_TRIGGERS, [oid]],
  [SQL_RULES, [oid]],
  [SQL_TARGET_COLUMN_RULES, [oid]],
];

function relation(rows: pg.QueryResultRow[][]): RelationAttachments {
  const [[r], triggers, rules, columnRules] = rows;
  return {
    relkind: r.relkind,
    owner: r.owner,
    defaultAcl: r.default_acl,
    grants: r.grants,
    columnGrants: r.column_grants,
    comment: r.comment,
    columnComments: r.column_comments,
    triggers: triggers.map((t) => ({ name: t.name as string, def: t.def as string, enabled: t.enabled as string, comment: t.comment as string | null })),
    rules: rules.map((x) => x.name as string),
    columnRules: columnRules.map((x) => ({ name: x.name as string, notNull: x.not_null as boolean, defaultExpr: x.default_expr as string | null })),
    raw: r,
  };
}

/** Reads what the target `oid` carries (three round trips); `target` is its name. */
export async function readKept(dest: pg.Client, target: QualifiedName, oid: number): Promise<KeptObjects> {
  const rows = await queryAll(dest, [
    ...relationQueries(oid),
    [SQL_TARGET_INDEXES, [oid]],
    [SQL_TARGET_CONSTRAINTS, [oid]],
    [SQL_POLICIES, [oid]],
    [SQL_STATISTICS, [oid]],
    [SQL_OWNED_SEQUENCES, [oid]],
    [SQL_DEPENDENT_VIEWS, [oid]],
    [SQL_PUBLICATIONS, [target.schema, target.table]],
  ]);
  const rel = relation(rows.slice(0, 4));
  const [indexRows, constraintRows, policyRows, statisticsRows, sequenceRows, viewRows, publicationRows] = rows.slice(4);
  const r = rel.raw;
  const indexes = indexRows.map((x) => ({
    name: x.name,
    primary: x.primary,
    def: x.def,
    defPrefix: x.def_prefix,
    constraintName: x.constraint_name,
    constraintDef: x.constraint_def,
    constraintComment: x.constraint_comment,
    comment: x.comment,
    replicaIdentity: x.replica_identity,
    keyColumns: x.key_columns,
  }));
  const constraints = constraintRows.map((x) => ({ name: x.name, type: x.type, def: x.def, selfReference: x.self_reference, comment: x.comment }));
  const policies = policyRows.map((x) => ({ name: x.name, permissive: x.permissive, cmd: x.cmd, roles: x.roles, qual: x.qual, withCheck: x.with_check, comment: x.comment }));
  const statistics = statisticsRows.map((x) => ({ def: x.def, schema: x.schema, name: x.name, comment: x.comment }));
  const ownedSequences = sequenceRows.map((x) => ({ schema: x.schema, name: x.name, column: x.column }));
  const viewOids = viewRows.map((v) => Number(v.oid));
  const carried = viewRows.filter((v) => v.relkind === 'v').map((v) => Number(v.oid));
  // The views' own attachments and everything that depends on the target or a view, in one more trip.
  const more = await queryAll(dest, [...viewOids.flatMap(relationQueries), ...[oid, ...viewOids].map((o): [string, Array<number | number[]>] => [SQL_OTHER_DEPENDENTS, [o, carried]])]);
  const views: KeptView[] = viewRows.map((v, i) => {
    const a = relation(more.slice(i * 4, i * 4 + 4));
    return { ...a, oid: Number(v.oid), name: { schema: v.schema, table: v.name }, depth: v.depth, definition: v.definition, options: (a.raw.reloptions as string[] | null) ?? null };
  });
  const otherDependents = new Set<string>(more.slice(viewOids.length * 4).flatMap((rs) => rs.map((x) => x.what as string)));
  return {
    ...rel,
    oid,
    target,
    rowSecurity: r.relrowsecurity as boolean,
    forceRowSecurity: r.relforcerowsecurity as boolean,
    replicaIdentity: r.relreplident as string,
    persistence: r.relpersistence as string,
    options: (r.reloptions as string[] | null) ?? null,
    tablespace: r.tablespace as string | null,
    indexes,
    constraints,
    policies,
    statistics,
    ownedSequences,
    views,
    publications: publicationRows.map((x) => x.pubname as string),
    otherDependents: [...otherDependents],
    inherits: r.inherits as boolean,
    partition: r.relkind === 'p' || (r.relispartition as boolean),
    identityColumns: (r.identity_columns as string[] | null) ?? [],
  };
}

/**
 * What rb cannot carry from the target onto the new table `stagingOid`, one sentence per object
 * (empty: the replace can keep everything). Read in prepare and again under the swap's lock.
 */
export async function refusals(dest: pg.Client, k: KeptObjects, stagingOid: number): Promise<string[]> {
  const out: string[] = [];
  if (k.relkind !== 'r' && k.relkind !== 'p') out.push(`${displayName(k.target)} is not a table (relkind '${k.relkind}')`);
  if (k.partition) out.push(`${displayName(k.target)} is partitioned or a partition (rb replaces it with a plain table)`);
  if (k.inherits) out.push(`${displayName(k.target)} has inheritance parents or children`);
  for (const c of k.identityColumns) out.push(`identity column ${c} (its sequence would restart)`);
  for (const d of k.otherDependents) out.push(d);
  for (const p of k.publications) out.push(`publication ${p} publishes it (its subscribers would not see the swap)`);
  for (const c of k.constraints) if (c.selfReference) out.push(`constraint ${c.name} (a foreign key into the table itself)`);
  for (const r of k.rules) out.push(`rule ${r} on ${displayName(k.target)}`);
  for (const v of k.views) {
    if (v.relkind !== 'v') continue; // a materialized view is named by otherDependents
    for (const r of v.rules) out.push(`rule ${r} on view ${displayName(v.name)}`);
  }
  const [changed, [stagingColumns]] = await queryAll(dest, [
    [SQL_CHANGED_COLUMNS_IN_USE, [k.oid, stagingOid]],
    [SQL_COLUMN_NAMES, [stagingOid]],
  ]);
  for (const x of changed) {
    out.push(x.now ? `${x.what} uses column ${x.column}, ${x.was} in the target but ${x.now} from the source` : `${x.what} uses column ${x.column}, which the source no longer has`);
  }
  const names = new Set((stagingColumns?.names as string[] | null) ?? []);
  for (const g of k.columnGrants) if (!names.has(g.column!)) out.push(`the grant of ${g.privilege} on column ${g.column} (the source no longer has the column)`);
  for (const c of k.columnComments) if (!names.has(c.column)) out.push(`the comment on column ${c.column} (the source no longer has the column)`);
  for (const i of k.indexes) if (!i.constraintName && !i.def.startsWith(i.defPrefix)) out.push(`index ${i.name} (rb cannot read its definition: ${i.def})`);
  return out;
}

/** `name` + `tail`, `name` cut to stay within PostgreSQL's 63-byte identifier limit. */
function withSuffix(name: string, tail: string): string {
  let base = name;
  while (Buffer.byteLength(base + tail) > 63) base = base.slice(0, -1);
  return base + tail;
}

/** A temporary name of a target's index or constraint on the staging table (renamed back in the swap). */
const tempName = (name: string): string => withSuffix(name, '__rb_ix');

/**
 * Prepare: what the staging table takes from the target before it is loaded — CHECK and FOREIGN
 * KEY constraints, NOT NULL and DEFAULT of the columns it shares with the target, storage options,
 * persistence, tablespace. Rows that break a constraint then fail while loading.
 */
export function stagingRules(k: KeptObjects, staging: QualifiedName, stagingColumns: ReadonlySet<string>): string[] {
  const s = quoteQualified(staging);
  const out: string[] = [];
  for (const c of k.constraints) if (!c.selfReference) out.push(`alter table ${s} add constraint ${quoteIdent(c.name)} ${c.def}`);
  for (const c of k.columnRules) {
    if (!stagingColumns.has(c.name)) continue;
    if (c.notNull) out.push(`alter table ${s} alter column ${quoteIdent(c.name)} set not null`);
    if (c.defaultExpr !== null) out.push(`alter table ${s} alter column ${quoteIdent(c.name)} set default ${c.defaultExpr}`);
  }
  if (k.options?.length) out.push(`alter table ${s} set (${k.options.join(', ')})`);
  if (k.persistence === 'u') out.push(`alter table ${s} set unlogged`);
  if (k.tablespace) out.push(`alter table ${s} set tablespace ${quoteIdent(k.tablespace)}`);
  return out;
}

/** What prebuildStatements built on the staging table: original name → temporary name. */
export interface Prebuilt {
  built: Map<string, { temp: string; constraint: boolean }>;
}

/**
 * Finish, before the lock: the primary key (the stream's key; the target's own when the stream has
 * none) and the target's other indexes and unique / exclusion constraints, built on the staging
 * table under temporary names. What `done` holds already is not built again (it is filled here).
 */
export function prebuildStatements(k: KeptObjects | null, target: QualifiedName, staging: QualifiedName, key: readonly string[], done: Prebuilt): string[] {
  const s = quoteQualified(staging);
  const out: string[] = [];
  const pk = k?.indexes.find((i) => i.primary);
  const sameKey = pk && (key.length === 0 || pk.keyColumns.join('\u0000') === key.join('\u0000'));
  const pkName = pk?.constraintName ?? withSuffix(target.table, '_pkey');
  if (!done.built.has(pkName) && (key.length || sameKey)) {
    const def = sameKey && pk?.constraintDef ? pk.constraintDef : `primary key (${key.map(quoteIdent).join(', ')})`;
    out.push(`alter table ${s} add constraint ${quoteIdent(tempName(pkName))} ${def}`);
    done.built.set(pkName, { temp: tempName(pkName), constraint: true });
  }
  for (const i of k?.indexes ?? []) {
    const name = i.constraintName ?? i.name;
    if (i.primary || done.built.has(name)) continue;
    const temp = tempName(name);
    if (i.constraintName) out.push(`alter table ${s} add constraint ${quoteIdent(temp)} ${i.constraintDef}`);
    else out.push(`CREATE ${i.defPrefix.startsWith('CREATE UNIQUE') ? 'UNIQUE ' : ''}INDEX ${quoteIdent(temp)} ON ${s} USING ${i.def.slice(i.defPrefix.length)}`);
    done.built.set(name, { temp, constraint: i.constraintName !== null });
  }
  return out;
}

function grantStatements(on: string, owner: string, a: Pick<RelationAttachments, 'defaultAcl' | 'grants' | 'columnGrants'>): string[] {
  const out: string[] = [];
  const role = (r: string | null) => (r === null ? 'public' : quoteIdent(r));
  const grant = (g: Grant) =>
    `grant ${g.privilege}${g.column !== undefined ? ` (${quoteIdent(g.column)})` : ''} on ${on} to ${role(g.grantee)}${g.grantable ? ' with grant option' : ''}${g.grantor !== owner ? ` granted by ${quoteIdent(g.grantor)}` : ''}`;
  if (!a.defaultAcl) {
    // The stored ACL replaces the owner's defaults: start from none, then grant what it lists.
    out.push(`revoke all on ${on} from ${quoteIdent(owner)}`);
    // Grants by other grantors need theirs to exist first: the owner's go first.
    for (const g of [...a.grants].sort((x, y) => Number(x.grantor !== owner) - Number(y.grantor !== owner))) out.push(grant(g));
  }
  for (const g of [...a.columnGrants].sort((x, y) => Number(x.grantor !== owner) - Number(y.grantor !== owner))) out.push(grant(g));
  return out;
}

function commentStatements(kind: string, on: string, a: Pick<RelationAttachments, 'comment' | 'columnComments'>): string[] {
  const out: string[] = [];
  if (a.comment !== null) out.push(`comment on ${kind} ${on} is ${quoteLiteral(a.comment)}`);
  for (const c of a.columnComments) out.push(`comment on column ${on}.${quoteIdent(c.column)} is ${quoteLiteral(c.comment)}`);
  return out;
}

function triggerStatements(on: string, a: Pick<RelationAttachments, 'triggers'>): string[] {
  const out: string[] = [];
  for (const t of a.triggers) {
    out.push(t.def);
    const state = { D: 'disable', R: 'enable replica', A: 'enable always' }[t.enabled];
    if (state) out.push(`alter table ${on} ${state} trigger ${quoteIdent(t.name)}`);
    if (t.comment !== null) out.push(`comment on trigger ${quoteIdent(t.name)} on ${on} is ${quoteLiteral(t.comment)}`);
  }
  return out;
}

const POLICY_COMMANDS: Record<string, string> = { r: 'select', a: 'insert', w: 'update', d: 'delete', '*': 'all' };

/**
 * Under the lock, after the prebuild: drop the dependent views and the old table, rename the
 * staging table and its indexes into place, recreate what the old table carried and the views.
 */
export function swapStatements(k: KeptObjects | null, target: QualifiedName, staging: QualifiedName, done: Prebuilt): string[] {
  const t = quoteQualified(target);
  const s = quoteQualified(staging);
  const out: string[] = [];
  if (k) {
    // Sequences the old table owns (serial) would be dropped with it: the new table owns them.
    for (const q of k.ownedSequences) out.push(`alter sequence ${quoteQualified({ schema: q.schema, table: q.name })} owned by ${s}.${quoteIdent(q.column)}`);
    for (const v of [...k.views].reverse()) out.push(`drop view ${quoteQualified(v.name)}`);
    // No cascade: an object that appeared since the check fails the swap instead of being dropped.
    out.push(`drop table ${t}`);
  }
  out.push(`alter table ${s} rename to ${quoteIdent(target.table)}`);
  // Index names are unique in the schema: the old table's are free only now.
  for (const [name, b] of done.built) {
    out.push(b.constraint ? `alter table ${t} rename constraint ${quoteIdent(b.temp)} to ${quoteIdent(name)}` : `alter index ${quoteIdent(target.schema)}.${quoteIdent(b.temp)} rename to ${quoteIdent(name)}`);
  }
  if (!k) return out;
  out.push(`alter table ${t} owner to ${quoteIdent(k.owner)}`);
  out.push(...grantStatements(t, k.owner, k));
  out.push(...commentStatements('table', t, k));
  for (const i of k.indexes) {
    if (i.comment !== null && !i.constraintName) out.push(`comment on index ${quoteIdent(target.schema)}.${quoteIdent(i.name)} is ${quoteLiteral(i.comment)}`);
    if (i.constraintComment !== null && i.constraintName) out.push(`comment on constraint ${quoteIdent(i.constraintName)} on ${t} is ${quoteLiteral(i.constraintComment)}`);
  }
  for (const c of k.constraints) if (c.comment !== null) out.push(`comment on constraint ${quoteIdent(c.name)} on ${t} is ${quoteLiteral(c.comment)}`);
  if (k.rowSecurity) out.push(`alter table ${t} enable row level security`);
  if (k.forceRowSecurity) out.push(`alter table ${t} force row level security`);
  for (const p of k.policies) {
    const roles = p.roles.map((r) => (r === null ? 'public' : quoteIdent(r))).join(', ');
    out.push(
      `create policy ${quoteIdent(p.name)} on ${t} as ${p.permissive ? 'permissive' : 'restrictive'} for ${POLICY_COMMANDS[p.cmd] ?? 'all'} to ${roles}` +
        `${p.qual !== null ? ` using (${p.qual})` : ''}${p.withCheck !== null ? ` with check (${p.withCheck})` : ''}`,
    );
    if (p.comment !== null) out.push(`comment on policy ${quoteIdent(p.name)} on ${t} is ${quoteLiteral(p.comment)}`);
  }
  out.push(...triggerStatements(t, k));
  const ri = k.indexes.find((i) => i.replicaIdentity);
  if (k.replicaIdentity === 'f') out.push(`alter table ${t} replica identity full`);
  else if (k.replicaIdentity === 'n') out.push(`alter table ${t} replica identity nothing`);
  else if (k.replicaIdentity === 'i' && ri) out.push(`alter table ${t} replica identity using index ${quoteIdent(ri.name)}`);
  for (const st of k.statistics) {
    out.push(st.def);
    if (st.comment !== null) out.push(`comment on statistics ${quoteQualified({ schema: st.schema, table: st.name })} is ${quoteLiteral(st.comment)}`);
  }
  for (const v of k.views) {
    const name = quoteQualified(v.name);
    out.push(`create view ${name}${v.options?.length ? ` with (${v.options.join(', ')})` : ''} as ${v.definition}`);
    for (const c of v.columnRules) if (c.defaultExpr !== null) out.push(`alter view ${name} alter column ${quoteIdent(c.name)} set default ${c.defaultExpr}`);
    out.push(`alter view ${name} owner to ${quoteIdent(v.owner)}`);
    out.push(...grantStatements(name, v.owner, v));
    out.push(...commentStatements('view', name, v));
    out.push(...triggerStatements(name, v));
  }
  return out;
}

/** The error of a replace whose target carries what rb cannot recreate (prepare, or the swap). */
export function replaceRefused(stream: string, target: QualifiedName, what: readonly string[], phase: 'prepare' | 'finish'): RbError {
  return new RbError(
    'dest_prepare',
    `${stream}: write_mode replace cannot keep what is attached to ${displayName(target)}: ${what.join('; ')}. ` +
      `A replace drops the old table and renames the new one into its place, recreating its grants, comments, policies, triggers, indexes and dependent views; ` +
      `remove or change ${what.length > 1 ? 'these' : 'it'}, or use write_mode upsert` +
      (phase === 'finish' ? ' (found under the swap\'s lock: it appeared while the rows moved; the target is unchanged)' : ' (nothing was written)'),
    { stream },
  );
}
