/**
 * Leader-side completion of a stream after every shard has committed (docs/design.md section 2,
 * "Finish"): replace swaps the staging table into place, upsert merges staging into the target.
 * Each is one transaction: a failure leaves the target as it was.
 */
import type pg from 'pg';
import { resolveTableOid } from '../postgres/catalog.js';
import { queryError } from '../postgres/connection.js';
import { quoteIdent, quoteQualified } from '../postgres/identifiers.js';
import { prebuildStatements, readKept, refusals, replaceRefused, swapStatements, type Prebuilt } from './replace-keep.js';
import type { FinishStep } from '../contract/connector.js';
import type { WriteContract } from '../contract/write-contract.js';

export interface FinalizeResult {
  /** Rows inserted or updated by an upsert merge; null for replace (its shards' results count the rows). */
  rowsAffected: number | null;
}

/**
 * `alsoInTransaction` runs inside the finishing transaction (the stream's state row: an
 * incremental cursor commits with the merge that delivers its rows). Append has nothing to
 * finish, so there it runs in a transaction of its own.
 */
export async function finalizeStream(
  dest: pg.Client,
  contract: WriteContract,
  alsoInTransaction?: (dest: pg.Client) => Promise<void>,
  onStep?: (step: FinishStep) => void,
): Promise<FinalizeResult> {
  if ((contract.writeMode === 'append' || !contract.staging) && !alsoInTransaction) return { rowsAffected: 0 };
  await dest.query('begin');
  try {
    const nothingToFinish = contract.writeMode === 'append' || !contract.staging;
    // Append only commits its state: that is its one step.
    if (nothingToFinish) onStep?.('commit');
    const result = nothingToFinish ? { rowsAffected: 0 } : contract.writeMode === 'replace' ? await swapIn(dest, contract, onStep) : await mergeIn(dest, contract, onStep);
    await alsoInTransaction?.(dest);
    await dest.query('commit');
    return result;
  } catch (e) {
    await dest.query('rollback').catch(() => {});
    throw queryError(e, 'destination', `${contract.stream}: finishing ${contract.writeMode} into ${quoteQualified(contract.target)}`, { stream: contract.stream });
  }
}

/**
 * Replace: build the primary key and the target's indexes on the staging table while readers still
 * use the old one, then lock the old table, drop it and rename the new one into its place, carrying
 * what users attached to it (replace-keep.ts; docs/design.md section 2, "What a replace keeps").
 * Readers wait only for the statements after the lock. The rows are not counted here: the shards'
 * results have them.
 */
async function swapIn(dest: pg.Client, c: WriteContract, onStep?: (step: FinishStep) => void): Promise<FinalizeResult> {
  const staging = c.staging!;
  const existing = await resolveTableOid(dest, c.target);
  const done: Prebuilt = { built: new Map() };
  onStep?.('index build');
  let kept = existing ? await readKept(dest, c.target, existing.oid) : null;
  // In the swap's transaction: committing the build first was measured slower (+17% run time) and
  // no shorter a wait for readers (bench/replace-wait/README.md).
  for (const sql of prebuildStatements(kept, c.target, staging, c.key, done)) await dest.query(sql);
  onStep?.('swap');
  if (existing) {
    // Readers see the old table or the new one, never neither.
    await dest.query(`lock table ${quoteQualified(c.target)} in access exclusive mode`);
    // Read again under the lock: what users attached while the rows moved is kept too.
    kept = await readKept(dest, c.target, existing.oid);
    const refused = await refusals(dest, kept, (await resolveTableOid(dest, staging))!.oid);
    if (refused.length) throw replaceRefused(c.stream, c.target, refused, 'finish');
    // An index created on the target since the build above: built now, under the lock.
    for (const sql of prebuildStatements(kept, c.target, staging, c.key, done)) await dest.query(sql);
  }
  // One round trip for the whole swap: the lock is held for as short a time as the server needs.
  await dest.query(swapStatements(kept, c.target, staging, done).join(';\n'));
  return { rowsAffected: null };
}

async function mergeIn(dest: pg.Client, c: WriteContract, onStep?: (step: FinishStep) => void): Promise<FinalizeResult> {
  onStep?.('merge');
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
  const nonKey = c.columns.filter((x) => !keySet.has(x.name)).map((x) => quoteIdent(x.name));
  const keys = c.key.map(quoteIdent);
  const target = quoteQualified(c.target);
  const updates = nonKey.map((x) => `${x} = excluded.${x}`);
  const action = updates.length ? `do update set ${updates.join(', ')}` : 'do nothing';
  // Only the rows that are new or changed go into the INSERT: a row whose written columns are
  // already identical in the target is left alone (no new row version, no index entries, no
  // trigger). Found by one join of staging with the target (a hash join for a whole table, index
  // lookups for a few rows: the planner's choice), which costs less than ON CONFLICT's lookup and
  // lock of every row. Identical means the same binary image (record `*=`), so 1.0 → 1.00, 0 → -0
  // or a citext's case still update, and every type compares, json and point included.
  // RB_UPSERT_SKIP_UNCHANGED=0 sends every row through ON CONFLICT (the A/B in bench/README.md).
  const skip = process.env.RB_UPSERT_SKIP_UNCHANGED !== '0' && nonKey.length > 0;
  const image = (alias: string) => `(row(${nonKey.map((x) => `${alias}.${x}`).join(', ')})::record)`;
  const rows = skip
    ? `select ${cols.map((x) => `s.${x}`).join(', ')} from ${quoteQualified(c.staging!)} s left join ${target} o on ${keys.map((k) => `o.${k} = s.${k}`).join(' and ')} ` +
      `where o.${keys[0]} is null or not ${image('o')} *= ${image('s')}`
    : `select ${cols.join(', ')} from ${quoteQualified(c.staging!)}`;
  const r = await dest.query(`insert into ${target} (${cols.join(', ')}) ${rows} on conflict (${keys.join(', ')}) ${action}`);
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
