/**
 * Transforms as the connectors receive them (docs/design.md section 9), planned by the engine
 * from the `transforms:` list (engine/run/plan-transforms.ts). Where a transform is exact in SQL
 * it runs inside the source's query (`ReadStep`: the fast path stays a pass-through); otherwise
 * the destination stage applies it to each row's text forms (`RowStep`), in the pool.
 */
import type { DataErrorPolicy } from './domain.js';

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

/** A check of `validate` (one per rule; `range` compares numbers, `allowed` text forms). */
export type RowCheck = { not_null: true } | { regex: string } | { range: { min?: number; max?: number } } | { allowed: string[] };

/** What the destination stage does to each row's text forms, by output column position. */
export type RowStep =
  | { kind: 'mask'; column: number; method: 'sha256' | 'hmac_sha256' | 'redact' | 'null'; key?: string }
  | { kind: 'validate'; column: number; name: string; check: RowCheck; policy: DataErrorPolicy; rule: string };
