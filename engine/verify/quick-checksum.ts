/**
 * A cheap, order-independent fingerprint for big tables: row count plus
 * sum(hashtext(row::text)::bigint). One sequential scan, no sort, constant memory, so it suits
 * tables of many millions of rows where `compareTables` (which sorts and aggregates every value)
 * would be slow. It says *whether* two tables differ, not *which column* does, and a 32-bit hash
 * per row means a collision is possible in principle; use `compareTables` to find the culprit.
 */
import { displayName, quoteIdent, quoteQualified, type QualifiedName } from '../../connectors/postgres/identifiers.js';
import { RbError, pgErrorInfo } from '../errors.js';
import { inStableSnapshot, withClient, type PgTarget } from './session.js';

export interface QuickChecksum {
  rows: number;
  /** Sum of the per-row hashes, as a decimal string (it can exceed 2^53). */
  hashSum: string;
}

export interface QuickChecksumOptions {
  /** Hash these columns (in this order) instead of the whole row: use when the sides' column sets differ. */
  columns?: string[];
}

/**
 * @example
 *   const [a, b] = await Promise.all([quickChecksum(srcUrl, t), quickChecksum(dstUrl, t)]);
 *   const same = a.rows === b.rows && a.hashSum === b.hashSum;
 */
export async function quickChecksum(target: PgTarget, table: QualifiedName, opts: QuickChecksumOptions = {}): Promise<QuickChecksum> {
  const rowText = opts.columns ? `row(${opts.columns.map((c) => `t.${quoteIdent(c)}`).join(', ')})::text` : 't::text';
  const sql = `select count(*)::int8::text as rows, coalesce(sum(hashtext(${rowText})::int8), 0)::text as hash_sum from ${quoteQualified(table)} as t`;
  return await withClient(target, async (client) => {
    try {
      const row = await inStableSnapshot(client, table.schema, async () => (await client.query<{ rows: string; hash_sum: string }>(sql)).rows[0]);
      return { rows: Number(row.rows), hashSum: row.hash_sum };
    } catch (e) {
      throw new RbError('internal', `verify: quick checksum of ${displayName(table)}: ${e instanceof Error ? e.message : String(e)}`, {
        cause: e,
        pg: pgErrorInfo(e),
      });
    }
  });
}

/** True when both fingerprints match. */
export function sameQuickChecksum(a: QuickChecksum, b: QuickChecksum): boolean {
  return a.rows === b.rows && a.hashSum === b.hashSum;
}
