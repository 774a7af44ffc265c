/**
 * Source-vs-destination verification: row counts, exact column types, and one checksum per column.
 *
 * Per column, each side computes
 *   md5(string_agg(format('%L', col), ',' ORDER BY <key>))
 * format('%L') is quote_nullable over the type's output function: NULL becomes the bare word
 * NULL and every value a quoted literal ('NULL', '\N', 'a,b' all stay distinct from NULL and from
 * each other), so the aggregate is an unambiguous encoding of the column in key order. The output
 * function (not a `::text` cast) is what a client and a text COPY see: a binary-coercible cast
 * would show xml's stored declaration, which the output function drops. Text output is made independent of
 * session settings (time zone, float digits, ...; see sql.ts), so equal values give equal text on
 * any two servers. Types come from format_type(atttypid, atttypmod), with user-defined types
 * named without their schema (`mood`, whether it lives in public or beside the table).
 *
 * Order: `orderBy` if given, else the source's primary key (or the destination's, when the source
 * has none), else the row text of the common columns (then a changed row may sort elsewhere and
 * make other columns differ too; the table is still reported unequal). Collatable key columns are
 * compared with COLLATE "C" so two databases with different default collations order rows the
 * same way.
 *
 * Cost: one scan and one sort per table and side; the aggregated text of a table lives in memory
 * on the server (string_agg is limited to 1 GB), so for tables of many millions of rows use
 * `quickChecksum` instead.
 */
import type pg from 'pg';
import { displayName, quoteIdent, quoteQualified, type QualifiedName } from '../../connectors/postgres/identifiers.js';
import { Errors, RbError, pgErrorInfo } from '../errors.js';
import { inStableSnapshot, withClient, type PgTarget } from './session.js';
import { COLUMNS_SQL, PRIMARY_KEY_SQL, RELATION_OID_SQL, SET_SEARCH_PATH_SQL, TYPE_SCHEMAS_SQL } from './sql.js';

export interface TablePair {
  source: QualifiedName;
  dest: QualifiedName;
  /** Columns to compare (default: every source column, then destination-only columns). */
  columns?: string[];
  /** Columns that order rows identically on both sides (default: the primary key). */
  orderBy?: string[];
}

export interface ColumnComparison {
  name: string;
  /** `format_type` of the column, or null when the side has no such column. */
  sourceType: string | null;
  destType: string | null;
  sourceMd5: string | null;
  destMd5: string | null;
  typeEqual: boolean;
  valuesEqual: boolean;
  equal: boolean;
}

export interface TableComparison {
  source: QualifiedName;
  dest: QualifiedName;
  sourceExists: boolean;
  destExists: boolean;
  sourceRows: number;
  destRows: number;
  /** Key the rows were ordered by; empty when ordered by row text (no key found). */
  orderBy: string[];
  columns: ColumnComparison[];
  /** Names of the columns that are not `equal`, in column order. */
  mismatchedColumns: string[];
  equal: boolean;
}

interface ColumnShape {
  type: string;
  collatable: boolean;
}

interface TableShape {
  exists: boolean;
  columns: Map<string, ColumnShape>;
  primaryKey: string[];
}

interface SideChecksum {
  rows: number;
  md5: Map<string, string>;
}

type Side = 'source' | 'dest';

/**
 * Compares each pair of tables.
 * @example
 *   const [r] = await compareTables(srcUrl, dstUrl, [{ source: { schema: 'public', table: 'all_types' }, dest: { schema: 'raw', table: 'all_types' } }]);
 *   if (!r.equal) console.log(formatComparison([r]));
 */
export async function compareTables(source: PgTarget, dest: PgTarget, pairs: TablePair[]): Promise<TableComparison[]> {
  return await withClient(source, (src) =>
    withClient(dest, async (dst) => {
      const results: TableComparison[] = [];
      for (const pair of pairs) results.push(await comparePair(src, dst, pair));
      return results;
    }),
  );
}

async function comparePair(src: pg.ClientBase, dst: pg.ClientBase, pair: TablePair): Promise<TableComparison> {
  const [srcShape, dstShape] = await bothSides(src, dst, () => describeTable(src, pair.source, 'source'), () => describeTable(dst, pair.dest, 'dest'));
  const names = columnNames(pair, srcShape, dstShape);
  const orderBy = chooseOrder(pair, srcShape, dstShape);
  // Row-text ordering must see the same text on both sides: use the common columns whose types agree.
  const common = names.filter((n) => srcShape.columns.has(n) && dstShape.columns.has(n));
  const sameType = common.filter((n) => srcShape.columns.get(n)!.type === dstShape.columns.get(n)!.type);
  const rowTextColumns = sameType.length > 0 ? sameType : common;

  const [srcSum, dstSum] = await bothSides(
    src,
    dst,
    () => checksumSide(src, pair.source, srcShape, names, orderBy, rowTextColumns, 'source'),
    () => checksumSide(dst, pair.dest, dstShape, names, orderBy, rowTextColumns, 'dest'),
  );

  const columns: ColumnComparison[] = names.map((name) => {
    const sourceType = srcShape.columns.get(name)?.type ?? null;
    const destType = dstShape.columns.get(name)?.type ?? null;
    const sourceMd5 = srcSum.md5.get(name) ?? null;
    const destMd5 = dstSum.md5.get(name) ?? null;
    const typeEqual = sourceType !== null && sourceType === destType;
    const valuesEqual = sourceMd5 !== null && sourceMd5 === destMd5;
    return { name, sourceType, destType, sourceMd5, destMd5, typeEqual, valuesEqual, equal: typeEqual && valuesEqual };
  });
  const mismatchedColumns = columns.filter((c) => !c.equal).map((c) => c.name);
  return {
    source: pair.source,
    dest: pair.dest,
    sourceExists: srcShape.exists,
    destExists: dstShape.exists,
    sourceRows: srcSum.rows,
    destRows: dstSum.rows,
    orderBy,
    columns,
    mismatchedColumns,
    equal: srcShape.exists && dstShape.exists && srcSum.rows === dstSum.rows && mismatchedColumns.length === 0,
  };
}

/** Both sides at once on two connections; one after the other when both are the same client. */
async function bothSides<A, B>(src: pg.ClientBase, dst: pg.ClientBase, a: () => Promise<A>, b: () => Promise<B>): Promise<[A, B]> {
  if (src === dst) return [await a(), await b()];
  return await Promise.all([a(), b()]);
}

async function describeTable(client: pg.ClientBase, ref: QualifiedName, side: Side): Promise<TableShape> {
  return await onSide(side, ref, () =>
    inStableSnapshot(client, ref.schema, async () => {
      const rel = await client.query<{ oid: string }>(RELATION_OID_SQL, [ref.schema, ref.table]);
      if (rel.rowCount === 0) return { exists: false, columns: new Map(), primaryKey: [] };
      const oid = rel.rows[0].oid;
      // Name user types without their schema: rb may create them beside the table or keep the
      // source's schema, and either is the same type (values are compared separately).
      const typeSchemas = (await client.query<{ schemas: string }>(TYPE_SCHEMAS_SQL, [oid])).rows[0].schemas;
      await client.query(SET_SEARCH_PATH_SQL, [[quoteIdent(ref.schema), typeSchemas, 'pg_catalog'].filter(Boolean).join(', ')]);
      const cols = await client.query<{ name: string; type: string; collatable: boolean }>(COLUMNS_SQL, [oid]);
      const pk = await client.query<{ name: string }>(PRIMARY_KEY_SQL, [oid]);
      return {
        exists: true,
        columns: new Map(cols.rows.map((c) => [c.name, { type: c.type, collatable: c.collatable }])),
        primaryKey: pk.rows.map((r) => r.name),
      };
    }),
  );
}

function columnNames(pair: TablePair, src: TableShape, dst: TableShape): string[] {
  if (pair.columns) return [...pair.columns];
  const names = [...src.columns.keys()];
  for (const n of dst.columns.keys()) if (!src.columns.has(n)) names.push(n);
  return names;
}

function chooseOrder(pair: TablePair, src: TableShape, dst: TableShape): string[] {
  if (pair.orderBy) {
    for (const [side, shape, ref] of [['source', src, pair.source], ['destination', dst, pair.dest]] as const) {
      if (!shape.exists) continue;
      const missing = pair.orderBy.filter((k) => !shape.columns.has(k));
      if (missing.length) throw Errors.usage(`verify: orderBy column ${missing.map(quoteIdent).join(', ')} does not exist in ${side} table ${displayName(ref)}`);
    }
    return [...pair.orderBy];
  }
  const onBoth = (key: string[]) => key.length > 0 && key.every((k) => src.columns.has(k) && dst.columns.has(k));
  if (onBoth(src.primaryKey)) return src.primaryKey;
  if (onBoth(dst.primaryKey)) return dst.primaryKey;
  return [];
}

async function checksumSide(
  client: pg.ClientBase,
  ref: QualifiedName,
  shape: TableShape,
  names: string[],
  orderBy: string[],
  rowTextColumns: string[],
  side: Side,
): Promise<SideChecksum> {
  if (!shape.exists) return { rows: 0, md5: new Map() };
  const present = names.filter((n) => shape.columns.has(n));
  const col = (n: string) => `t.${quoteIdent(n)}`;
  let order: string;
  if (orderBy.length > 0) {
    order = orderBy.map((k) => (shape.columns.get(k)!.collatable ? `${col(k)} collate "C"` : col(k))).join(', ');
  } else if (rowTextColumns.length > 0) {
    order = `row(${rowTextColumns.map(col).join(', ')})::text collate "C"`;
  } else {
    order = '';
  }
  const orderClause = order ? ` order by ${order}` : '';
  const aggregates = present.map((n, i) => `md5(coalesce(string_agg(format('%L', ${col(n)}), ','${orderClause}), '')) as c${i}`);
  const sql = `select ${['count(*)::int8::text as n', ...aggregates].join(',\n       ')}\nfrom ${quoteQualified(ref)} as t`;

  const row = await onSide(side, ref, () =>
    inStableSnapshot(client, ref.schema, async () => (await client.query<Record<string, string>>(sql)).rows[0]),
  );
  return { rows: Number(row.n), md5: new Map(present.map((n, i) => [n, row[`c${i}`]])) };
}

/** Wraps a failure as a source or destination query error naming the table. */
async function onSide<T>(side: Side, ref: QualifiedName, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof RbError) throw e;
    const message = e instanceof Error ? e.message : String(e);
    const where = side === 'source' ? 'source' : 'destination';
    throw new RbError(side === 'source' ? 'source_query' : 'dest_query', `verify: ${where} table ${displayName(ref)}: ${message}`, {
      cause: e,
      pg: pgErrorInfo(e),
    });
  }
}
