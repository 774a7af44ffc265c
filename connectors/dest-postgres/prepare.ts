/**
 * Leader-side destination setup for one stream (docs/design.md section 2, "Prepare"): schema, user types,
 * the target table with the source's exact types, the staging table, and the WriteContract.
 * Every stream of a run in one transaction (prepareStreams): a failure leaves the destination as
 * it was. Workers never run DDL.
 *
 * Replace never touches an existing target here: workers fill a staging table and `finalizeStream`
 * swaps it in with one transaction, so a crash before the swap leaves the old table intact.
 */
import type pg from 'pg';
import { RbError } from '../contract/errors.js';
import { copyFormatFor, discoverTable, resolveTableOid, type ColumnInfo, type TableInfo } from '../postgres/catalog.js';
import { queryError } from '../postgres/connection.js';
import { SQL_REQUIRED_COLUMNS } from '../postgres/sql.js';
import { displayName, quoteIdent, quoteQualified, type QualifiedName } from '../postgres/identifiers.js';
import { TypePlanner, createUserTypes } from './type-ddl.js';
import { readKept, refusals, replaceRefused, stagingRules } from './replace-keep.js';
import type { ContractColumn, SchemaChange, WriteContract } from '../contract/write-contract.js';
import { fitsIn } from './type-widening.js';
import type { PrepareInput } from '../contract/connector.js';
import type { CopyFormat, SchemaEvolutionPolicy } from '../contract/domain.js';

export type { PrepareInput, SchemaEvolutionPolicy };

/** Staging table name: deterministic per target, within PostgreSQL's 63-byte identifier limit. */
export function stagingName(target: QualifiedName, suffix: string): QualifiedName {
  const tail = `__rb_${suffix}`;
  let base = target.table;
  while (Buffer.byteLength(base + tail) > 63) base = base.slice(0, -1);
  return { schema: target.schema, table: base + tail };
}

/**
 * Prepares every stream of a run in one transaction: a failure in any of them (a missing column,
 * an upsert target without a key) leaves the destination exactly as it was, also for the streams
 * before it.
 */
export async function prepareStreams(dest: pg.Client, source: pg.Client, inputs: readonly PrepareInput[]): Promise<WriteContract[]> {
  await dest.query('begin');
  try {
    const contracts: WriteContract[] = [];
    for (const input of inputs) contracts.push(await prepareStream(dest, source, input, { inTransaction: true }));
    await dest.query('commit');
    return contracts;
  } catch (e) {
    await dest.query('rollback').catch(() => {});
    throw e;
  }
}

/** One stream, in a transaction of its own unless `inTransaction` (the caller's, as prepareStreams). */
export async function prepareStream(dest: pg.Client, source: pg.Client, input: PrepareInput, opts: { inTransaction?: boolean } = {}): Promise<WriteContract> {
  const { stream, target } = input;
  const fail = (msg: string) => new RbError('dest_prepare', `${stream}: ${msg}`, { stream });
  if (input.writeMode === 'upsert' && input.key.length === 0) {
    throw new RbError('config_invalid', `destination.primary_key: required for write_mode upsert (stream ${stream} has no primary key to default to)`, { stream });
  }
  for (const k of input.key) {
    if (!input.columns.some((c) => c.name === k)) throw fail(`key column ${JSON.stringify(k)} is not among the stream's columns`);
  }

  const planner = new TypePlanner(source);
  await planner.addColumns([...input.columns, ...(input.computed ?? [])]);
  const typeDefs = planner.definitions();
  const columns: ContractColumn[] = [];
  for (const c of input.columns) columns.push({ name: c.name, sourceTypeOid: c.typeOid, typeSql: await planner.typeSql(c.typeOid, c.typeName) });
  const computed: ComputedColumn[] = [];
  for (const c of input.computed ?? []) computed.push({ name: c.name, attnum: c.attnum, notNull: c.notNull, expr: c.generationExpr!, typeSql: await planner.typeSql(c.typeOid, c.typeName) });

  let format = input.forceText ? 'text' : copyFormatFor(input.columns);
  const schemaChanges: SchemaChange[] = [];
  const nullOnMisfit: string[] = [];
  let targetCreated = false;
  if (!opts.inTransaction) await dest.query('begin');
  try {
    await dest.query(`create schema if not exists ${quoteIdent(target.schema)}`);
    await createUserTypes(dest, typeDefs);
    const existing = await resolveTableOid(dest, target);
    let destInfo: TableInfo | null = null;
    if (existing && input.writeMode !== 'replace') {
      // Replace builds a new table from the source's schema; the others write into this one.
      destInfo = await discoverTable(dest, target);
      format = await reconcileExisting(dest, input, destInfo, columns, format, schemaChanges, nullOnMisfit);
      // Columns added or widened: the staging table below takes the target's types as they are now.
      if (schemaChanges.some((c) => c.change === 'added' || c.change === 'widened')) destInfo = await discoverTable(dest, target);
      await reconcileComputed(dest, input, destInfo, computed);
      if (input.writeMode === 'upsert' && !hasUniqueKey(destInfo, input.key)) {
        throw fail(`write_mode upsert needs a primary key or unique constraint on (${input.key.join(', ')}) in ${displayName(target)}; the table has none`);
      }
    }
    let staging: QualifiedName | null = null;
    if (input.writeMode === 'append') {
      if (!existing) {
        // Append keeps every row it is given (twice when run twice): no key on a table it creates.
        await createTable(dest, createTableSql(target, columns, [], input.columns, computed), input, computed);
        targetCreated = true;
      }
    } else if (input.writeMode === 'replace') {
      staging = stagingName(target, 'replace');
      await dest.query(`drop table if exists ${quoteQualified(staging)}`);
      // No indexes while loading: the finish builds them before it takes the target's lock.
      await createTable(dest, createTableSql(staging, columns, [], input.columns, computed), input, computed);
      if (existing) await keepForReplace(dest, input, existing.oid, staging);
      targetCreated = !existing;
    } else {
      if (!existing) {
        await createTable(dest, createTableSql(target, columns, input.key, input.columns, computed), input, computed);
        targetCreated = true;
      }
      staging = stagingName(target, 'upsert');
      await dest.query(`drop table if exists ${quoteQualified(staging)}`);
      await dest.query(destInfo ? await checkedStagingSql(dest, staging, columns, destInfo) : `create unlogged table ${quoteQualified(staging)} (${columns.map((c) => `${quoteIdent(c.name)} ${c.typeSql}`).join(', ')})`);
    }
    if (!opts.inTransaction) await dest.query('commit');
    return {
      stream,
      target,
      writeTable: staging ?? target,
      staging,
      targetCreated,
      columns,
      writeMode: input.writeMode,
      key: input.key,
      format,
      loadMethod: input.loadMethod,
      ...(schemaChanges.length ? { schemaChanges } : {}),
      ...(nullOnMisfit.length ? { nullOnMisfit } : {}),
    };
  } catch (e) {
    if (!opts.inTransaction) await dest.query('rollback').catch(() => {});
    if (e instanceof RbError) throw e;
    throw queryError(e, 'destination', `${stream}: preparing ${displayName(target)}`, { stream });
  }
}

/**
 * Replace into an existing table: refuse now what the swap could not carry over (nothing written
 * yet), and give the staging table the target's CHECK / FOREIGN KEY constraints, NOT NULLs,
 * defaults and storage, so rows that break them fail while loading (replace-keep.ts).
 */
async function keepForReplace(dest: pg.Client, input: PrepareInput, targetOid: number, staging: QualifiedName): Promise<void> {
  const kept = await readKept(dest, input.target, targetOid);
  const stagingOid = (await resolveTableOid(dest, staging))!.oid;
  const refused = await refusals(dest, kept, stagingOid);
  if (refused.length) throw replaceRefused(input.stream, input.target, refused, 'prepare');
  const names = new Set([...input.columns.map((c) => c.name), ...(input.computed ?? []).map((c) => c.name)]);
  for (const sql of stagingRules(kept, staging, names)) {
    try {
      await dest.query(sql);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new RbError('dest_prepare', `${input.stream}: write_mode replace cannot give the new table what ${displayName(input.target)} has (${sql}): ${why}`, { stream: input.stream, cause: e });
    }
  }
}

/** A generated column the destination computes itself (PrepareInput.computed). */
interface ComputedColumn {
  name: string;
  typeSql: string;
  expr: string;
  notNull: boolean;
  /** Its position in the source table: it is created among the written columns there. */
  attnum: number;
}

const computedSql = (g: ComputedColumn): string => `${quoteIdent(g.name)} ${g.typeSql} generated always as (${g.expr}) stored${g.notNull ? ' not null' : ''}`;

export function createTableSql(name: QualifiedName, columns: readonly ContractColumn[], key: readonly string[], source: readonly ColumnInfo[], computed: readonly ComputedColumn[] = []): string {
  const defs = columns.map((c, i) => ({ sql: `${quoteIdent(c.name)} ${c.typeSql}${source[i]?.notNull ? ' not null' : ''}`, attnum: source[i]?.attnum ?? 0 }));
  for (const g of computed) {
    const at = defs.findIndex((d) => d.attnum > g.attnum);
    defs.splice(at < 0 ? defs.length : at, 0, { sql: computedSql(g), attnum: g.attnum });
  }
  const parts = defs.map((d) => d.sql);
  if (key.length) parts.push(`primary key (${key.map(quoteIdent).join(', ')})`);
  return `create table ${quoteQualified(name)} (${parts.join(', ')})`;
}

/** Runs a CREATE TABLE; when it carries computed columns, a failure says their expressions are why. */
async function createTable(dest: pg.Client, sql: string, input: PrepareInput, computed: readonly ComputedColumn[]): Promise<void> {
  try {
    await dest.query(sql);
  } catch (e) {
    if (!computed.length) throw e;
    const why = e instanceof Error ? e.message : String(e);
    throw new RbError(
      'dest_prepare',
      `${input.stream}: cannot create ${displayName(input.target)} with the generated column(s) ${computed.map((g) => `${g.name} (${g.expr})`).join(', ')} computed in the destination (the source does not publish generated columns to cdc): ${why}`,
      { stream: input.stream },
    );
  }
}

/**
 * An existing target of a stream with computed columns: each must be a generated column there
 * (rb cannot fill a plain one: the source does not send its values), or be added as one by
 * `schema_evolution.new_column`.
 */
async function reconcileComputed(dest: pg.Client, input: PrepareInput, destInfo: TableInfo, computed: readonly ComputedColumn[]): Promise<void> {
  for (const g of computed) {
    const d = destInfo.columns.find((c) => c.name === g.name);
    const fix = `GENERATED ALWAYS AS (${g.expr}) STORED`;
    if (d && d.generated) continue;
    if (d) {
      throw new RbError(
        'dest_prepare',
        `${input.stream}: column ${JSON.stringify(g.name)} of ${displayName(input.target)} is a plain column, but the source does not publish generated columns to cdc, so rb cannot fill it; make it ${fix} there, or drop the table and let rb create it`,
        { stream: input.stream },
      );
    }
    if (input.schemaEvolution.new_column === 'fail') {
      throw new RbError('dest_prepare', `${input.stream}: generated column ${JSON.stringify(g.name)} is missing in ${displayName(input.target)} (schema_evolution.new_column: fail; add it as ${fix})`, { stream: input.stream });
    }
    if (input.schemaEvolution.new_column === 'add') await dest.query(`alter table ${quoteQualified(input.target)} add column ${computedSql(g)}`);
  }
}

/**
 * An upsert's staging table for an existing target: its columns in the target's types, NOT NULL
 * where the target's are, and the target's CHECK constraints that involve only these columns, so
 * a row the target would reject is rejected while its shard is written — where rb can isolate it
 * (bad-rows.ts) — not in the merge, where one bad row fails the whole stream.
 */
async function checkedStagingSql(dest: pg.Client, staging: QualifiedName, columns: readonly ContractColumn[], destInfo: TableInfo): Promise<string> {
  const byName = new Map(destInfo.columns.map((c) => [c.name, c]));
  const defs = columns.map((c) => {
    const d = byName.get(c.name);
    return `${quoteIdent(c.name)} ${d ? d.typeName : c.typeSql}${d?.notNull ? ' not null' : ''}`;
  });
  const names = new Set(columns.map((c) => c.name));
  const checks = await dest.query(
    `select c.conname as name, pg_get_constraintdef(c.oid) as def, array(select a.attname::text from unnest(c.conkey) k join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k) as cols
     from pg_constraint c where c.conrelid = $1::oid and c.contype = 'c' order by c.conname`,
    [destInfo.oid],
  );
  // The target's names, so a rejected row names the constraint the user knows.
  for (const r of checks.rows as Array<{ name: string; def: string; cols: string[] }>) {
    if (r.cols.length && r.cols.every((c) => names.has(c))) defs.push(`constraint ${quoteIdent(r.name)} ${r.def.replace(/\s+NOT VALID$/i, '')}`);
  }
  return `create unlogged table ${quoteQualified(staging)} (${defs.join(', ')})`;
}

function hasUniqueKey(t: TableInfo, key: readonly string[]): boolean {
  const want = [...key].sort().join('\u0000');
  return [t.primaryKey, ...t.uniqueKeys].some((k) => k.length > 0 && [...k].sort().join('\u0000') === want);
}

/**
 * The target already exists: check it against the stream's columns under the schema-evolution
 * policy. New columns are added (or the run fails); a type difference either fails or switches
 * the table to text COPY so PostgreSQL coerces values through the types' input functions.
 */
async function reconcileExisting(
  dest: pg.Client,
  input: PrepareInput,
  destInfo: TableInfo,
  columns: ContractColumn[],
  format: CopyFormat,
  changes: SchemaChange[],
  nullOnMisfit: string[],
): Promise<CopyFormat> {
  const policy = input.schemaEvolution;
  const fail = (msg: string) => new RbError('dest_prepare', `${input.stream}: ${msg}`, { stream: input.stream });
  const target = quoteQualified(input.target);
  const byName = new Map(destInfo.columns.map((c) => [c.name, c]));
  for (let i = 0; i < columns.length; i++) {
    const c = columns[i];
    const d = byName.get(c.name);
    if (!d) {
      if (policy.new_column === 'fail') throw fail(`column ${JSON.stringify(c.name)} is missing in ${displayName(input.target)} (schema_evolution.new_column: fail)`);
      if (policy.new_column === 'add') {
        await dest.query(`alter table ${target} add column ${quoteIdent(c.name)} ${c.typeSql}`);
        changes.push({ column: c.name, change: 'added', policy: 'new_column: add', source: c.typeSql });
        continue;
      }
      // ignore: drop the column from what we write.
      changes.push({ column: c.name, change: 'not_written', policy: 'new_column: ignore', source: c.typeSql });
      columns.splice(i, 1);
      input.columns.splice(i, 1);
      i--;
      continue;
    }
    if (normalizeType(d.typeName) !== normalizeType(c.typeSql)) {
      const types = { source: c.typeSql, destination: d.typeName };
      if (policy.type_change === 'fail') throw fail(`column ${JSON.stringify(c.name)} is ${c.typeSql} in the source but ${d.typeName} in ${displayName(input.target)} (schema_evolution.type_change: fail)`);
      if (policy.type_change === 'coerce' && !fitsIn(c.typeSql, d.typeName) && fitsIn(d.typeName, c.typeSql)) {
        // The source's type holds more: the destination column takes it (rows already there fit).
        await dest.query(`alter table ${target} alter column ${quoteIdent(c.name)} type ${c.typeSql}`);
        changes.push({ column: c.name, change: 'widened', policy: 'type_change: coerce', ...types });
        continue;
      }
      // Written through the text form; the destination's type reads it (coerce: a value that does
      // not fit is a data error; null: it is written as NULL, recorded like one).
      if (policy.type_change === 'null') nullOnMisfit.push(c.name);
      changes.push({ column: c.name, change: policy.type_change === 'null' ? 'null_when_not_fitting' : 'coerced', policy: `type_change: ${policy.type_change}`, ...types });
      format = 'text';
    }
    const source = input.columns[i];
    if (d.notNull && source && !source.notNull && !d.generated) {
      if (policy.nullability_change === 'fail') throw fail(`column ${JSON.stringify(c.name)} allows NULL in the source but is NOT NULL in ${displayName(input.target)} (schema_evolution.nullability_change: fail)`);
      changes.push({ column: c.name, change: 'nullability_differs', policy: 'nullability_change: allow', source: 'null', destination: 'not null' });
    }
  }
  await checkRequiredColumns(dest, input, destInfo, columns);
  const names = new Set(columns.map((c) => c.name));
  const extra = destInfo.columns.filter((d) => !names.has(d.name) && !d.generated);
  if (extra.length && policy.removed_column === 'fail') throw fail(`${displayName(input.target)} has columns the source does not send: ${extra.map((e) => e.name).join(', ')} (schema_evolution.removed_column: fail)`);
  for (const e of extra) changes.push({ column: e.name, change: 'left_unwritten', policy: 'removed_column: ignore', destination: e.typeName });
  return format;
}

/**
 * An existing target's NOT NULL columns without a default that the stream does not write would
 * fail every row with only the server's "null value in column" message: say why instead — the
 * stream's projection (`columns:`) leaves the column out, or the source has no such column.
 */
async function checkRequiredColumns(dest: pg.Client, input: PrepareInput, destInfo: TableInfo, columns: readonly ContractColumn[]): Promise<void> {
  const written = new Set(columns.map((c) => c.name));
  const required = (await dest.query(SQL_REQUIRED_COLUMNS, [destInfo.oid])).rows.map((r) => r.name as string).filter((n) => !written.has(n));
  if (!required.length) return;
  const inSource = required.filter((n) => input.source.columns.some((c) => c.name === n));
  const list = (names: string[]) => names.map((n) => JSON.stringify(n)).join(', ');
  const why = inSource.length
    ? `the stream's projection (columns: ${input.columns.map((c) => c.name).join(', ')}) leaves out ${list(inSource)}, which ${inSource.length === 1 ? 'is' : 'are'} NOT NULL without a default in ${displayName(input.target)}, so every row would fail; add ${inSource.length === 1 ? 'it' : 'them'} to columns, or give the destination column a default`
    : `${displayName(input.target)} has NOT NULL column${required.length === 1 ? '' : 's'} without a default that the source table does not have: ${list(required)}; give ${required.length === 1 ? 'it' : 'them'} a default or drop NOT NULL in the destination`;
  throw new RbError('dest_prepare', `${input.stream}: ${why}`, { stream: input.stream });
}

function normalizeType(t: string): string {
  return t.replace(/"/g, '').replace(/^public\./, '').toLowerCase();
}
