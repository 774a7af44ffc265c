/**
 * Table discovery (docs/design.md section 2, "Plan"): columns with exact types, primary key, size
 * estimate, and whether each column's binary COPY form is portable between databases.
 */
import type pg from 'pg';
import type { CopyFormat } from '../contract/domain.js';
import { RbError } from '../contract/errors.js';
import { displayName, quoteQualified, type QualifiedName } from './identifiers.js';
import type { ColumnInfo, TableInfo } from '../contract/catalog.js';
import { SQL_BTREE_INDEX_KEYS, SQL_PRIMARY_KEY, SQL_RESOLVE_TABLE, SQL_TABLE_COLUMNS, SQL_TABLE_SIZE, SQL_UNIQUE_KEYS } from './sql.js';

export type { ColumnInfo, TableInfo } from '../contract/catalog.js';

const BUILTIN_SCHEMAS = new Set(['pg_catalog', 'information_schema']);
/**
 * Built-in types that cannot travel as binary COPY: record and record[] embed OIDs; xml[] is read
 * as text[] (see source-postgres/select-list.ts), whose element OID an xml[] column rejects.
 */
const BINARY_UNSAFE_BUILTINS = new Set([2249 /* record */, 2287 /* _record */, 143 /* _xml */]);

export async function resolveTableOid(client: pg.Client, name: QualifiedName): Promise<{ oid: number; relkind: string } | null> {
  const r = await client.query(SQL_RESOLVE_TABLE, [quoteQualified(name)]);
  if (r.rowCount === 0) return null;
  return { oid: Number(r.rows[0].oid), relkind: r.rows[0].relkind };
}

export async function discoverTable(client: pg.Client, name: QualifiedName): Promise<TableInfo> {
  const rel = await resolveTableOid(client, name);
  if (!rel) throw new RbError('source_missing_table', `table ${displayName(name)} does not exist in the source`, { stream: displayName(name) });
  if (!['r', 'p', 'v', 'm', 'f'].includes(rel.relkind)) {
    throw new RbError('source_query', `${displayName(name)} is not a table (relkind '${rel.relkind}')`, { stream: displayName(name) });
  }
  // One client runs one query at a time: these go in sequence.
  const cols = await client.query(SQL_TABLE_COLUMNS, [rel.oid]);
  const pk = await client.query(SQL_PRIMARY_KEY, [rel.oid]);
  const uniq = await client.query(SQL_UNIQUE_KEYS, [rel.oid]);
  const size = await client.query(SQL_TABLE_SIZE, [rel.oid]);
  const columns: ColumnInfo[] = cols.rows.map((r) => {
    const typeSchema: string = r.type_schema;
    const isArray = r.typcategory === 'A' && Number(r.elem_oid) !== 0;
    const typeOid = Number(r.type_oid);
    const userDefined = !BUILTIN_SCHEMAS.has(typeSchema);
    return {
      name: r.name,
      attnum: r.attnum,
      typeOid,
      typmod: r.typmod,
      typeName: r.type_name,
      notNull: r.not_null,
      generated: r.generated,
      generatedVirtual: r.generated_virtual === true,
      generationExpr: r.generation_expr ?? null,
      identity: r.identity,
      typtype: r.typtype,
      typcategory: r.typcategory,
      elemOid: Number(r.elem_oid),
      typeSchema,
      typeBaseName: r.type_base_name,
      userDefined,
      binaryPortable: false,
      _isArray: isArray,
    } as ColumnInfo & { _isArray: boolean };
  });
  await markBinaryPortability(client, columns as Array<ColumnInfo & { _isArray: boolean }>);
  for (const c of columns) delete (c as Partial<ColumnInfo & { _isArray: boolean }>)._isArray;
  const s = size.rows[0];
  return {
    name,
    oid: rel.oid,
    relkind: rel.relkind,
    columns,
    primaryKey: pk.rowCount ? (pk.rows[0].columns as string[]) : [],
    uniqueKeys: uniq.rows.map((r) => r.columns as string[]),
    estimatedRows: Number(s?.estimated_rows ?? 0),
    relationBytes: Number(s?.relation_bytes ?? 0),
    totalBytes: Number(s?.total_bytes ?? 0),
    blockSize: Number(s?.block_size ?? 8192),
  };
}

/**
 * Binary COPY of arrays and composites carries element/attribute type OIDs. Built-in OIDs are the
 * same in every database; user-defined ones are not. Enums and domains over portable types are
 * safe (enum send = label text; a domain sends as its base type).
 */
async function markBinaryPortability(client: pg.Client, columns: Array<ColumnInfo & { _isArray: boolean }>): Promise<void> {
  for (const c of columns) {
    if (BINARY_UNSAFE_BUILTINS.has(c.typeOid)) c.binaryPortable = false;
    else if (!c.userDefined) {
      // Built-in arrays of built-in elements are portable.
      c.binaryPortable = true;
    } else if (c._isArray) c.binaryPortable = false;
    else if (c.typtype === 'e') c.binaryPortable = true;
    else if (c.typtype === 'd') c.binaryPortable = await domainPortable(client, c.typeOid);
    else c.binaryPortable = false; // composites, user ranges, extension base types
  }
}

async function domainPortable(client: pg.Client, typeOid: number): Promise<boolean> {
  const r = await client.query(
    `with recursive d(oid, base) as (
       select t.oid, t.typbasetype from pg_type t where t.oid = $1::oid
       union all select t.oid, t.typbasetype from pg_type t join d on t.oid = d.base where t.typtype = 'd')
     select t.typtype, t.typcategory, n.nspname as schema, t.typelem::int8 as elem
     from d join pg_type t on t.oid = d.base join pg_namespace n on n.oid = t.typnamespace
     where t.typtype <> 'd'`,
    [typeOid],
  );
  const base = r.rows[0];
  if (!base) return false;
  if (BUILTIN_SCHEMAS.has(base.schema)) {
    if (base.typcategory !== 'A') return true;
    // Array base: portable only if its element is built-in.
    const e = await client.query(`select n.nspname from pg_type t join pg_namespace n on n.oid = t.typnamespace where t.oid = $1::oid`, [base.elem]);
    return BUILTIN_SCHEMAS.has(e.rows[0]?.nspname);
  }
  return base.typtype === 'e';
}

/** The COPY format a table uses: binary when every column's binary form is portable. */
export function copyFormatFor(columns: readonly ColumnInfo[]): CopyFormat {
  return columns.every((c) => c.binaryPortable) ? 'binary' : 'text';
}

/**
 * The index an incremental read over `fields` (cursor column, then tie-breakers) can use: one
 * whose key columns start with all of them serves both the range and the order ('all'); one that
 * starts with the cursor column serves the range only ('cursor', the rest is sorted). Null: none,
 * every incremental run scans the whole table.
 */
export async function cursorIndex(client: pg.Client, tableOid: number, fields: readonly string[]): Promise<{ name: string; covers: 'all' | 'cursor' } | null> {
  const r = await client.query(SQL_BTREE_INDEX_KEYS, [tableOid]);
  const indexes = r.rows as Array<{ name: string; cols: Array<string | null> }>;
  const full = indexes.find((i) => fields.every((f, n) => i.cols[n] === f));
  if (full) return { name: full.name, covers: 'all' };
  const partly = indexes.find((i) => i.cols[0] === fields[0]);
  return partly ? { name: partly.name, covers: 'cursor' } : null;
}
