/**
 * The source side of a snapshot read: the coordinator transaction whose exported snapshot every
 * shard of a run imports (so all shards see one moment of the source), and the COPY statement
 * that reads one shard of a stream.
 */
import type pg from 'pg';
import type { ContractColumn } from '../dest-postgres/write-contract.js';
import { quoteQualified, type QualifiedName } from '../postgres/identifiers.js';
import { selectList } from './select-list.js';

/** Begins the coordinator transaction and exports its snapshot; commit it when the move is done. */
export async function openSnapshot(client: pg.Client): Promise<string> {
  await client.query('begin isolation level repeatable read read only');
  return (await client.query('select pg_export_snapshot() as s')).rows[0].s as string;
}

export interface ShardRead {
  table: QualifiedName;
  columns: readonly ContractColumn[];
  format: 'binary' | 'text';
  /** SQL predicates, ANDed (shard range, cursor bounds); empty for the whole table. */
  predicates: readonly string[];
  /** ORDER BY list (incremental reads deliver rows in cursor order), or none. */
  orderBy?: string;
}

export function shardCopySql(r: ShardRead): string {
  const preds = r.predicates.filter(Boolean);
  const where = preds.length ? ` where ${preds.map((p) => (preds.length > 1 ? `(${p})` : p)).join(' and ')}` : '';
  const order = r.orderBy ? ` order by ${r.orderBy}` : '';
  const fmt = r.format === 'binary' ? ' (format binary)' : '';
  return `copy (select ${selectList(r.columns)} from ${quoteQualified(r.table)}${where}${order}) to stdout${fmt}`;
}
