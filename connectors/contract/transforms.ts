/**
 * Transforms as the connectors receive them (docs/design.md section 9), planned by the engine
 * from the `transforms:` list (engine/run/plan-transforms.ts). Where a transform is exact in SQL
 * it runs inside the source's query (`ReadStep`: the fast path stays a pass-through); otherwise
 * the destination stage applies it to each row's text forms (`RowStep`), in the pool.
 */
import type { DataErrorPolicy } from './domain.js';

/** The plan of a cdc stream's standing `unique` claims (kept across runs: dest-postgres/unique-values.ts). */
export const STANDING_UNIQUE_PLAN = '00000000-0000-0000-0000-000000000000';

/** What `redact` writes in place of a value (NULL stays NULL). */
export const REDACTED = '[redacted]';

/** A mask the source can compute in its query (hmac_sha256 never: its key would be in the SQL). */
export type SqlMask = 'sha256' | 'redact' | 'null';

/**
 * One layer of the source query over the previous one (the first over the projected table):
 * `project` names each output column after one of the layer below, masked or not; `filter`
 * keeps the rows its predicate (the user's SQL, over the names of the layer below) is true for.
 */
export type ReadStep = { kind: 'project'; columns: Array<{ name: string; from: string; mask?: SqlMask }> } | { kind: 'filter'; where: string };

/** A check of `validate` (one per rule; `range` compares numbers, `allowed` text forms; `unique`: once per run, dest-postgres/unique-values.ts). */
export type RowCheck = { not_null: true } | { regex: string } | { range: { min?: number; max?: number } } | { allowed: string[] } | { unique: true };

/** What the destination stage does to each row's text forms, by output column position. */
export type RowStep =
  | { kind: 'mask'; column: number; method: 'sha256' | 'hmac_sha256' | 'redact' | 'null'; key?: string }
  | { kind: 'validate'; column: number; name: string; check: RowCheck; policy: DataErrorPolicy; rule: string };

/**
 * A cdc stream's transforms as the change applier runs them on each change's text values
 * (connectors/dest-postgres/apply-changes.ts): the first run's copy reads through the source query
 * steps above, the changes after it through these, with the same results (a mask hashes the same
 * text form the source's SQL does). By output (destination) column name.
 */
export interface ChangeTransform {
  /** The source column each output column comes from (renames followed). */
  sourceNames: Record<string, string>;
  /** The source's type of each output column before any transform (what a Relation message is compared with). */
  sourceTypes: Record<string, number>;
  /** Every mask and validate of the list, in its order. */
  steps: ChangeStep[];
  /** With a filter in the list: the source query's steps a change's row is judged with (ChangeSource.judgeRows). */
  filterSteps?: ReadStep[];
}

export type ChangeStep =
  | { kind: 'mask'; column: string; method: 'sha256' | 'hmac_sha256' | 'redact' | 'null'; key?: string }
  | { kind: 'validate'; column: string; check: RowCheck; policy: DataErrorPolicy; rule: string };
