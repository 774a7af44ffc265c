/**
 * Leader-side completion of a stream after every shard has committed (docs/design.md section 2,
 * "Finish"): replace swaps the staging table into place, upsert merges staging into the target.
 * Each is one transaction: a failure leaves the target as it was.
 */
import type pg from 'pg';
import { resolveTableOid } from '../postgres/catalog.js';
import { queryError } from '../postgres/connection.js';
import { quoteIdent, quoteQualified } from '../postgres/identifiers.js';
import { SQL_SECONDARY_INDEXES } from '../postgres/sql.js';
import type { WriteContract } from '../contract/write-contract.js';

export interface FinalizeResult {
  /** Rows inserted or updated by an upsert merge; rows in the new table for replace. */
  rowsAffected: number;
}

/**
 * `alsoInTransaction` runs inside the finishing transaction (the stream's state row: an
 * incremental cursor commits with the merge that delivers its rows). Append has nothing to
 * finish, so there it runs in a transaction of its own.
 */
export async function finalizeStream(dest: pg.Client, contract: WriteContract, alsoInTransaction?: (dest: pg.Client) => Promise<void>): Promise<FinalizeResult> {
  if ((contract.writeMode === 'append' || !contract.staging) && !alsoInTransaction) return { rowsAffected: 0 };
  await dest.query('begin');
  try {
    const result = contract.writeMode === 'append' || !contract.staging ? { rowsAffected: 0 } : contract.writeMode === 'replace' ? await swapIn(dest, contract) : await mergeIn(dest, contract);
    await alsoInTransaction?.(dest);
    await dest.query('commit');
    return result;
  } catch (e) {
    await dest.query('rollback').catch(() => {});
    throw queryError(e, 'destination', `${contract.stream}: finishing ${contract.writeMode} into ${quoteQualified(contract.target)}`, { stream: contract.stream });
  }
}

async function swapIn(dest: pg.Client, c: WriteContract): Promise<FinalizeResult> {
  const target = quoteQualified(c.target);
  const existing = await resolveTableOid(dest, c.target);
  let indexDefs: string[] = [];
  if (existing) {
    // Take the lock first so readers see either the old table or the new one, never neither.
    await dest.query(`lock table ${target} in access exclusive mode`);
    indexDefs = (await dest.query(SQL_SECONDARY_INDEXES, [existing.oid])).rows.map((r) => r.def as string);
    await dest.query(`drop table ${target}`);
  }
  await dest.query(`alter table ${quoteQualified(c.staging!)} rename to ${quoteIdent(c.target.table)}`);
  if (c.key.length) await dest.query(`alter table ${target} add primary key (${c.key.map(quoteIdent).join(', ')})`);
  for (const def of indexDefs) await dest.query(def);
  const n = await dest.query(`select count(*)::int8 as n from ${target}`);
  return { rowsAffected: Number(n.rows[0].n) };
}

async function mergeIn(dest: pg.Client, c: WriteContract): Promise<FinalizeResult> {
  const rowsAffected = await mergeStaging(dest, c);
  await dest.query(`drop table ${quoteQualified(c.staging!)}`);
  return { rowsAffected };
}

/**
 * Upserts the staging table's rows into the target by the key (inside the caller's transaction);
 * `truncate` empties staging afterwards, for incremental checkpoints that merge as they go.
 */
export async function mergeStaging(dest: pg.Client, c: WriteContract, opts: { truncate?: boolean } = {}): Promise<number> {
  const cols = c.columns.map((x) => quoteIdent(x.name));
  const keySet = new Set(c.key);
  const updates = c.columns.filter((x) => !keySet.has(x.name)).map((x) => `${quoteIdent(x.name)} = excluded.${quoteIdent(x.name)}`);
  const action = updates.length ? `do update set ${updates.join(', ')}` : 'do nothing';
  const r = await dest.query(
    `insert into ${quoteQualified(c.target)} (${cols.join(', ')}) select ${cols.join(', ')} from ${quoteQualified(c.staging!)} ` +
      `on conflict (${c.key.map(quoteIdent).join(', ')}) ${action}`,
  );
  if (opts.truncate) await dest.query(`truncate ${quoteQualified(c.staging!)}`);
  return r.rowCount ?? 0;
}

/** After a failed or cancelled run: drops the stream's staging table (and an empty upsert target the run created). */
export async function cleanupStream(dest: pg.Client, contract: WriteContract): Promise<void> {
  if (contract.staging) await dest.query(`drop table if exists ${quoteQualified(contract.staging)}`).catch(() => {});
  // An upsert target this run created and left empty goes too. (One that holds rows — an
  // incremental stream's checkpoints merge as they go — and an append target this run created,
  // which holds its committed shards, are kept: the next run goes on from them.)
  if (contract.targetCreated && contract.writeMode === 'upsert') {
    const t = quoteQualified(contract.target);
    const empty = await dest.query(`select not exists (select 1 from ${t}) as empty`).catch(() => null);
    if (empty?.rows[0]?.empty) await dest.query(`drop table if exists ${t}`).catch(() => {});
  }
}
