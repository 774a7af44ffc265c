/**
 * The `unique` rule of `validate` (docs/design.md section 9): a value of the column may be written
 * once per run (per plan: a resumed run keeps what its killed predecessor committed), across all
 * of the stream's shards. Each value a shard is about to write is claimed in
 * `<state schema>.unique_values` inside the shard's own transaction:
 *
 *   insert … select unnest($values) on conflict do nothing returning value
 *
 * so a claim commits (or rolls back) with the rows it covers. The first row of a value to claim it
 * is written; a later one — in the same chunk, in another chunk, or in another shard once that
 * shard commits (a concurrent claim waits for the other transaction) — fails the rule and follows
 * `on_fail`. Values are claimed in sorted order, so two shards' chunks take their row locks in one
 * order (a deadlock between chunks of different times is a transient error: the shard is retried).
 * NULL passes, as for every rule but not_null.
 *
 * A cdc stream's claims are standing (plan STANDING_PLAN, kept across runs): each value is held by
 * the key of the row that has it (`holder`), claimed by the first run's copy and then kept current
 * by the changes — a change of a row to another value gives its old one back, a deleted row all of
 * its values — so "unique" means what a unique index would: no two rows of the stream hold the
 * same value. A row writing its own value again is not a duplicate.
 */
import type pg from 'pg';
import { STANDING_UNIQUE_PLAN } from '../contract/transforms.js';
import { quoteIdent } from '../postgres/identifiers.js';

/** Values per claiming statement. */
const CLAIM_BATCH = 10_000;

/** A row's key values as the holder of its unique values (the copy and the changes must agree). */
export function holderKey(key: ReadonlyArray<string | null>): string | null {
  return key.length === 1 ? key[0] : JSON.stringify(key);
}

export function uniqueValuesTable(schema: string): string {
  return `${quoteIdent(schema)}.unique_values`;
}

/** Creates the claims table when missing (a run with a unique rule, before its shards start). */
export async function ensureUniqueValues(client: pg.Client, schema: string): Promise<void> {
  await client.query(
    `create table if not exists ${uniqueValuesTable(schema)} (
       pipeline text not null, plan_id uuid not null, stream text not null, column_name text not null, value text not null,
       holder text,
       primary key (pipeline, plan_id, stream, column_name, value))`,
  );
  await client.query(`create index if not exists unique_values_holder on ${uniqueValuesTable(schema)} (pipeline, plan_id, stream, column_name, holder)`);
}

/**
 * Drops a pipeline's run claims, but those of `keepPlan` (the plan a run continues); the standing
 * claims of cdc streams stay, except for `restart` streams (copied anew by this run).
 */
export async function clearUniqueValues(client: pg.Client, schema: string, pipeline: string, keepPlan: string | null, restart: readonly string[] = []): Promise<void> {
  const t = uniqueValuesTable(schema);
  await client.query(`delete from ${t} where pipeline = $1 and plan_id <> $3::uuid and ($2::uuid is null or plan_id <> $2::uuid)`, [pipeline, keepPlan, STANDING_UNIQUE_PLAN]);
  if (restart.length) await client.query(`delete from ${t} where pipeline = $1 and plan_id = $2::uuid and stream = any($3::text[])`, [pipeline, STANDING_UNIQUE_PLAN, [...restart]]);
}

export interface UniqueScope {
  schema: string;
  pipeline: string;
  planId: string;
  stream: string;
}

export class UniqueClaims {
  constructor(
    private readonly client: pg.Client,
    private readonly scope: UniqueScope,
  ) {}

  /**
   * Claims `values` (one per row, in row order) for `column`: true for the rows whose value this
   * call claimed (every row of that value: the caller picks the first it keeps), false for a
   * value claimed before; NULL is always true.
   */
  async claim(column: string, values: ReadonlyArray<string | null>, holders?: ReadonlyArray<string | null>): Promise<boolean[]> {
    // The holder of a value is its first row's key (a cdc stream's later change of that row may write it again).
    const holderOf = new Map<string, string | null>();
    values.forEach((v, k) => v !== null && !holderOf.has(v) && holderOf.set(v, holders?.[k] ?? null));
    const got = new Set<string>();
    const wanted = [...holderOf.keys()].sort();
    for (let at = 0; at < wanted.length; at += CLAIM_BATCH) {
      for (const v of await this.insertNew(column, wanted.slice(at, at + CLAIM_BATCH), holderOf)) got.add(v);
    }
    return values.map((v) => v === null || got.has(v));
  }

  /** Inserts the `values` not claimed yet, each for its holder; returns those it inserted. */
  private async insertNew(column: string, values: readonly string[], holderOf: ReadonlyMap<string, string | null>): Promise<string[]> {
    const { schema, pipeline, planId, stream } = this.scope;
    const r = await this.client.query(
      `insert into ${uniqueValuesTable(schema)} (pipeline, plan_id, stream, column_name, value, holder)
       select $1, $2, $3, $4, v, h from unnest($5::text[], $6::text[]) x(v, h) on conflict do nothing returning value`,
      [pipeline, planId, stream, column, values, values.map((v) => holderOf.get(v) ?? null)],
    );
    return (r.rows as Array<{ value: string }>).map((x) => x.value);
  }

  /**
   * Change streams: claims each pair's value for its holder (a row's key), in order. True where
   * the value is now this holder's — new, or held by the same key already; false where another
   * key holds it (in the table, or earlier in `pairs`).
   */
  async claimHeld(column: string, pairs: ReadonlyArray<{ value: string | null; holder: string }>): Promise<boolean[]> {
    const first = new Map<string, string>();
    for (const p of pairs) if (p.value !== null && !first.has(p.value)) first.set(p.value, p.holder);
    const values = [...first.keys()].sort();
    const holderNow = new Map<string, string | null>();
    const { schema, pipeline, planId, stream } = this.scope;
    const t = uniqueValuesTable(schema);
    for (let at = 0; at < values.length; at += CLAIM_BATCH) {
      const part = values.slice(at, at + CLAIM_BATCH);
      // A new value goes to its first pair's holder; one held already keeps its holder.
      await this.insertNew(column, part, first);
      const r = await this.client.query(`select value, holder from ${t} where pipeline = $1 and plan_id = $2 and stream = $3 and column_name = $4 and value = any($5::text[])`, [pipeline, planId, stream, column, part]);
      for (const row of r.rows as Array<{ value: string; holder: string | null }>) holderNow.set(row.value, row.holder);
    }
    return pairs.map((p) => p.value === null || holderNow.get(p.value) === p.holder);
  }

  /** Change streams: each holder keeps only `keep` (its row's value now; null: none, the row is gone). */
  async settle(column: string, holders: ReadonlyArray<{ holder: string; keep: string | null }>): Promise<void> {
    if (!holders.length) return;
    const { schema, pipeline, planId, stream } = this.scope;
    await this.client.query(
      `delete from ${uniqueValuesTable(schema)} u using unnest($5::text[], $6::text[]) x(h, v)
        where u.pipeline = $1 and u.plan_id = $2 and u.stream = $3 and u.column_name = $4 and u.holder = x.h and u.value is distinct from x.v`,
      [pipeline, planId, stream, column, holders.map((x) => x.holder), holders.map((x) => x.keep)],
    );
  }

  /** Every claim of the stream (its table was truncated). */
  async forgetAll(): Promise<void> {
    const { schema, pipeline, planId, stream } = this.scope;
    await this.client.query(`delete from ${uniqueValuesTable(schema)} where pipeline = $1 and plan_id = $2 and stream = $3`, [pipeline, planId, stream]);
  }

  /** Gives back `values` of `column` (claimed for rows a later rule rejected). */
  async release(column: string, values: readonly string[]): Promise<void> {
    if (!values.length) return;
    const { schema, pipeline, planId, stream } = this.scope;
    await this.client.query(`delete from ${uniqueValuesTable(schema)} where pipeline = $1 and plan_id = $2 and stream = $3 and column_name = $4 and value = any($5::text[])`, [pipeline, planId, stream, column, [...values]]);
  }
}
