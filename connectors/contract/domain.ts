/**
 * The domain vocabulary shared by every room (engine config, planner, connectors, bench): each
 * value list and its type is declared once, here. The engine's config schema (config/schema.ts)
 * builds its zod enums from these lists and re-exports them; connectors take the types.
 */

/** `source.streams[].sync_mode`. */
export const SYNC_MODES = ['full_refresh', 'incremental', 'cdc'] as const;
export type SyncMode = (typeof SYNC_MODES)[number];

/** `destination.write_mode`. */
export const WRITE_MODES = ['append', 'replace', 'upsert'] as const;
export type WriteMode = (typeof WRITE_MODES)[number];

/** `destination.config.load_method`: COPY FROM, or multi-row INSERT through the decode path. */
export const LOAD_METHODS = ['copy', 'insert'] as const;
export type LoadMethod = (typeof LOAD_METHODS)[number];

/**
 * COPY format of a table ('binary' | 'text'). Declared by native/ (the codecs choose their
 * decoder by it), which sits below the connectors: re-exported, not redeclared.
 */
export type { CopyFormat } from '../../native/type-codecs.js';

/** `destination.on_data_error`. */
export const DATA_ERROR_POLICIES = ['fail', 'skip', 'dlq'] as const;
export type DataErrorPolicy = (typeof DATA_ERROR_POLICIES)[number];

/** `destination.schema_evolution.*`. */
export const NEW_COLUMN_POLICIES = ['add', 'ignore', 'fail'] as const;
export const REMOVED_COLUMN_POLICIES = ['ignore', 'fail'] as const;
export const TYPE_CHANGE_POLICIES = ['coerce', 'fail', 'null'] as const;
export const NULLABILITY_CHANGE_POLICIES = ['allow', 'fail'] as const;
export type NewColumnPolicy = (typeof NEW_COLUMN_POLICIES)[number];
export type RemovedColumnPolicy = (typeof REMOVED_COLUMN_POLICIES)[number];
export type TypeChangePolicy = (typeof TYPE_CHANGE_POLICIES)[number];
export type NullabilityChangePolicy = (typeof NULLABILITY_CHANGE_POLICIES)[number];

/** `destination.schema_evolution` with its defaults filled in (what prepare acts on). */
export interface SchemaEvolutionPolicy {
  new_column: NewColumnPolicy;
  removed_column: RemovedColumnPolicy;
  type_change: TypeChangePolicy;
  nullability_change: NullabilityChangePolicy;
}
