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
 */
import type pg from 'pg';
import { quoteIdent } from '../postgres/identifiers.js';

/** Values per claiming statement. */
const CLAIM_BATCH = 10_000;

export function uniqueValuesTable(schema: string): string {
  return `${quoteIdent(schema)}.unique_values`;
}

/** Creates the claims table when missing (a run with a unique rule, before its shards start). */
export async function ensureUniqueValues(client: pg.Client, schema: string): Promise<void> {
  await client.query(
    `create table if not exists ${uniqueValuesTable(schema)} (
       pipeline text not null, plan_id uuid not null, stream text not null, column_name text not null, value text not null,
       primary key (pipeline, plan_id, stream, column_name, value))`,
  );
}

/** Drops a pipeline's claims, but those of `keepPlan` (the plan a run continues). */
export async function clearUniqueValues(client: pg.Client, schema: string, pipeline: string, keepPlan: string | null): Promise<void> {
  await client.query(`delete from ${uniqueValuesTable(schema)} where pipeline = $1 and ($2::uuid is null or plan_id <> $2::uuid)`, [pipeline, keepPlan]);
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
  async claim(column: string, values: ReadonlyArray<string | null>): Promise<boolean[]> {
    const wanted = [...new Set(values.filter((v): v is string => v !== null))].sort();
    const got = new Set<string>();
    const { schema, pipeline, planId, stream } = this.scope;
    for (let at = 0; at < wanted.length; at += CLAIM_BATCH) {
      const r = await this.client.query(
        `insert into ${uniqueValuesTable(schema)} (pipeline, plan_id, stream, column_name, value)
         select $1, $2, $3, $4, v from unnest($5::text[]) v on conflict do nothing returning value`,
        [pipeline, planId, stream, column, wanted.slice(at, at + CLAIM_BATCH)],
      );
      for (const row of r.rows as Array<{ value: string }>) got.add(row.value);
    }
    return values.map((v) => v === null || got.has(v));
  }

  /** Gives back `values` of `column` (claimed for rows a later rule rejected). */
  async release(column: string, values: readonly string[]): Promise<void> {
    if (!values.length) return;
    const { schema, pipeline, planId, stream } = this.scope;
    await this.client.query(`delete from ${uniqueValuesTable(schema)} where pipeline = $1 and plan_id = $2 and stream = $3 and column_name = $4 and value = any($5::text[])`, [pipeline, planId, stream, column, [...values]]);
  }
}
