/**
 * Shard planning (docs/design.md section 5). A shard is a predicate over the source table; together the
 * predicates of a stream cover every row exactly once:
 *
 *   integer key   [lo, hi) ranges from min/max (read under the run's snapshot), the first one also
 *                 taking NULL keys, the last one open-ended (key >= lo).
 *   ctid          block ranges [b0, b1) from pg_relation_size / block_size, the last open-ended
 *                 (PostgreSQL 14+ runs these as TID range scans).
 *   one shard     tables under the size threshold, or when only one shard is wanted.
 */
import type pg from 'pg';
import type { TableInfo } from '../contract/catalog.js';
import type { ShardPlan, ShardSpec } from '../contract/connector.js';
import { quoteIdent, quoteQualified } from '../postgres/identifiers.js';
import { sqlKeyBounds } from '../postgres/sql.js';

export type { ShardKind, ShardPlan, ShardSpec } from '../contract/connector.js';

/** Tables smaller than this are copied as one shard (RB_SHARD_MIN_BYTES overrides, for tests). */
export const DEFAULT_SHARD_MIN_BYTES = 8 * 1024 * 1024;
/** Column types a table can be range-sharded on: int8, int2, int4. */
export const INTEGER_TYPES = new Set([20, 21, 23]);

export function shardMinBytes(): number {
  const env = Number(process.env.RB_SHARD_MIN_BYTES);
  return Number.isFinite(env) && env >= 0 && process.env.RB_SHARD_MIN_BYTES !== undefined ? env : DEFAULT_SHARD_MIN_BYTES;
}

/** The integer key a table can be range-sharded on: partition_key, else a one-column integer PK. */
export function shardKeyFor(table: TableInfo, partitionKey?: string): string | null {
  if (partitionKey) return partitionKey;
  if (table.primaryKey.length === 1) {
    const col = table.columns.find((c) => c.name === table.primaryKey[0]);
    if (col && INTEGER_TYPES.has(col.typeOid)) return col.name;
  }
  return null;
}

/**
 * Plans the shards of one stream. `client` must be inside the run's snapshot transaction so the
 * key bounds match what the shards will read.
 */
export async function planShards(client: pg.Client, table: TableInfo, target: number, opts: { partitionKey?: string; minBytes?: number } = {}): Promise<ShardPlan> {
  const minBytes = opts.minBytes ?? shardMinBytes();
  const single: ShardPlan = { kind: 'single', key: null, shards: [{ index: 0, predicate: '', description: 'whole table' }] };
  if (target <= 1 || table.relationBytes < minBytes || table.relkind !== 'r') return single;
  // RB_SHARD_KIND=ctid: block ranges even for a table with an integer key (for the A/B in bench/README.md).
  const key = process.env.RB_SHARD_KIND === 'ctid' && !opts.partitionKey ? null : shardKeyFor(table, opts.partitionKey);
  if (key) {
    const q = quoteIdent(key);
    const r = await client.query(sqlKeyBounds(quoteQualified(table.name), q));
    const { lo, hi } = r.rows[0] as { lo: string | null; hi: string | null };
    if (lo === null || hi === null) return single;
    const min = BigInt(lo);
    const max = BigInt(hi);
    const span = max - min + 1n;
    const n = BigInt(target) > span ? Number(span) : target;
    if (n <= 1) return single;
    const step = span / BigInt(n);
    const shards: ShardSpec[] = [];
    for (let i = 0; i < n; i++) {
      const a = min + step * BigInt(i);
      const b = min + step * BigInt(i + 1);
      const parts: string[] = [];
      if (i > 0) parts.push(`${q} >= ${a}`);
      if (i < n - 1) parts.push(`${q} < ${b}`);
      let predicate = parts.join(' and ');
      if (i === 0) predicate = `(${predicate} or ${q} is null)`;
      shards.push({ index: i, predicate, description: `${key} in [${i === 0 ? '-inf' : a}, ${i === n - 1 ? '+inf' : b})` });
    }
    return { kind: 'range', key, shards };
  }
  const blocks = Math.ceil(table.relationBytes / table.blockSize);
  const n = Math.min(target, blocks);
  if (n <= 1) return single;
  const step = Math.ceil(blocks / n);
  const shards: ShardSpec[] = [];
  for (let i = 0; i < n; i++) {
    const a = i * step;
    const b = (i + 1) * step;
    const parts: string[] = [];
    if (i > 0) parts.push(`ctid >= '(${a},0)'::tid`);
    if (i < n - 1) parts.push(`ctid < '(${b},0)'::tid`);
    shards.push({ index: i, predicate: parts.join(' and '), description: `blocks [${i === 0 ? 0 : a}, ${i === n - 1 ? 'end' : b})` });
  }
  return { kind: 'ctid', key: 'ctid', shards };
}
