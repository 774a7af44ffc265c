/**
 * Recreates in the destination the user-defined types a source table uses (docs/design.md section 2,
 * "Prepare"): enums, domains (base type, NOT NULL, DEFAULT, CHECKs), composites, arrays of those,
 * and extension types (by `CREATE EXTENSION IF NOT EXISTS`). Types are created in the same schema
 * they have in the source, dependencies first. A type that cannot be recreated (a user-defined
 * range or a base type from C code outside an extension) fails the run with a clear message.
 */
import type pg from 'pg';
import { RbError } from '../contract/errors.js';
import type { ColumnInfo } from '../postgres/catalog.js';
import { quoteIdent, quoteLiteral } from '../postgres/identifiers.js';
import { SQL_COMPOSITE_ATTRS, SQL_DOMAIN_CHECKS, SQL_ENUM_LABELS, SQL_TYPE_EXISTS, SQL_TYPE_INFO } from '../postgres/sql.js';

const BUILTIN_SCHEMAS = new Set(['pg_catalog', 'information_schema']);

export type UserTypeDef =
  | { kind: 'extension'; name: string }
  | { kind: 'enum'; schema: string; name: string; labels: string[] }
  | { kind: 'domain'; schema: string; name: string; baseSql: string; notNull: boolean; defaultExpr: string | null; checks: Array<{ name: string; def: string }> }
  | { kind: 'composite'; schema: string; name: string; attributes: Array<{ name: string; typeSql: string }> };

interface TypeRow {
  oid: number;
  schema: string;
  name: string;
  typtype: string;
  typcategory: string;
  elem_oid: string;
  base_oid: string;
  base_typmod: number;
  base_type_name: string;
  not_null: boolean;
  default_expr: string | null;
  relid: string;
  extension: string | null;
}

/** Collects the type definitions a set of columns needs, in creation order. */
export class TypePlanner {
  private readonly defs: UserTypeDef[] = [];
  private readonly seen = new Set<number>();
  private readonly cache = new Map<number, TypeRow>();

  constructor(private readonly source: pg.Client) {}

  private async info(oid: number): Promise<TypeRow> {
    if (!this.cache.has(oid)) await this.fetch([oid]);
    const row = this.cache.get(oid);
    if (!row) throw new RbError('source_query', `type oid ${oid} not found in the source catalog`);
    return row;
  }

  /** Loads the details of every type not cached yet in one round trip. */
  private async fetch(oids: readonly number[]): Promise<void> {
    const missing = [...new Set(oids)].filter((o) => !this.cache.has(o));
    if (missing.length === 0) return;
    const r = await this.source.query(SQL_TYPE_INFO, [missing]);
    for (const row of r.rows as TypeRow[]) this.cache.set(Number(row.oid), row);
  }

  /** SQL for a column of type `oid`, given the source's `format_type` text for it. */
  async typeSql(oid: number, formatted: string): Promise<string> {
    const t = await this.info(oid);
    if (BUILTIN_SCHEMAS.has(t.schema)) return formatted;
    if (t.typcategory === 'A' && Number(t.elem_oid) !== 0) {
      const e = await this.info(Number(t.elem_oid));
      if (BUILTIN_SCHEMAS.has(e.schema)) return formatted;
      return `${quoteIdent(e.schema)}.${quoteIdent(e.name)}[]`;
    }
    return `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
  }

  async addColumns(columns: readonly ColumnInfo[]): Promise<void> {
    // One query for all the columns' types (a round trip per type adds up on wide tables).
    await this.fetch(columns.map((c) => c.typeOid));
    for (const c of columns) await this.visit(c.typeOid, c.name);
  }

  private async visit(oid: number, usedBy: string): Promise<void> {
    if (this.seen.has(oid)) return;
    this.seen.add(oid);
    const t = await this.info(oid);
    if (BUILTIN_SCHEMAS.has(t.schema)) return;
    if (t.extension) {
      if (!this.defs.some((d) => d.kind === 'extension' && d.name === t.extension)) this.defs.push({ kind: 'extension', name: t.extension });
      return;
    }
    if (t.typcategory === 'A' && Number(t.elem_oid) !== 0) {
      await this.visit(Number(t.elem_oid), usedBy);
      return;
    }
    switch (t.typtype) {
      case 'e': {
        const labels = (await this.source.query(SQL_ENUM_LABELS, [oid])).rows.map((r) => r.label as string);
        this.defs.push({ kind: 'enum', schema: t.schema, name: t.name, labels });
        return;
      }
      case 'd': {
        const baseOid = Number(t.base_oid);
        await this.visit(baseOid, usedBy);
        const baseSql = await this.typeSql(baseOid, t.base_type_name);
        const checks = (await this.source.query(SQL_DOMAIN_CHECKS, [oid])).rows.map((r) => ({ name: r.name as string, def: r.def as string }));
        this.defs.push({ kind: 'domain', schema: t.schema, name: t.name, baseSql, notNull: t.not_null, defaultExpr: t.default_expr, checks });
        return;
      }
      case 'c': {
        const attrs = (await this.source.query(SQL_COMPOSITE_ATTRS, [t.relid])).rows;
        const attributes: Array<{ name: string; typeSql: string }> = [];
        for (const a of attrs) {
          await this.visit(Number(a.type_oid), usedBy);
          attributes.push({ name: a.name, typeSql: await this.typeSql(Number(a.type_oid), a.type_name) });
        }
        this.defs.push({ kind: 'composite', schema: t.schema, name: t.name, attributes });
        return;
      }
      default:
        throw new RbError(
          'dest_prepare',
          `column ${JSON.stringify(usedBy)} uses ${t.schema}.${t.name}, a user-defined ${t.typtype === 'r' ? 'range' : t.typtype === 'm' ? 'multirange' : 'base'} type rb cannot recreate; create it in the destination first`,
        );
    }
  }

  definitions(): UserTypeDef[] {
    return [...this.defs];
  }
}

export function typeDefSql(d: UserTypeDef): string[] {
  switch (d.kind) {
    case 'extension':
      return [`create extension if not exists ${quoteIdent(d.name)}`];
    case 'enum':
      return [`create type ${quoteIdent(d.schema)}.${quoteIdent(d.name)} as enum (${d.labels.map(quoteLiteral).join(', ')})`];
    case 'domain': {
      let sql = `create domain ${quoteIdent(d.schema)}.${quoteIdent(d.name)} as ${d.baseSql}`;
      if (d.defaultExpr !== null) sql += ` default ${d.defaultExpr}`;
      if (d.notNull) sql += ' not null';
      for (const c of d.checks) sql += ` constraint ${quoteIdent(c.name)} ${c.def}`;
      return [sql];
    }
    case 'composite':
      return [`create type ${quoteIdent(d.schema)}.${quoteIdent(d.name)} as (${d.attributes.map((a) => `${quoteIdent(a.name)} ${a.typeSql}`).join(', ')})`];
  }
}

/** Creates each type in the destination unless a type of that name already exists there. */
export async function createUserTypes(dest: pg.Client, defs: readonly UserTypeDef[]): Promise<string[]> {
  const created: string[] = [];
  for (const d of defs) {
    if (d.kind !== 'extension') {
      const exists = await dest.query(SQL_TYPE_EXISTS, [d.schema, d.name]);
      if (exists.rowCount) continue;
      await dest.query(`create schema if not exists ${quoteIdent(d.schema)}`);
    }
    for (const sql of typeDefSql(d)) await dest.query(sql);
    created.push(d.kind === 'extension' ? `extension ${d.name}` : `${d.kind} ${d.schema}.${d.name}`);
  }
  return created;
}
