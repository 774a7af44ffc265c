/**
 * The pipeline YAML as a zod schema (docs/design.md section 10), with every default filled in. Every
 * object is strict (unknown keys are errors) except a transform's options, which stay free-form
 * until the transform stages define them. Cross-field rules live in rules.ts.
 *
 * Validate files with `parsePipelineConfig` / `loadPipelineConfig` (load.ts), not with this schema
 * directly: they add source positions, `${VAR}` substitution and readable messages.
 */

import { z } from 'zod';
import {
  DATA_ERROR_POLICIES,
  NEW_COLUMN_POLICIES,
  NULLABILITY_CHANGE_POLICIES,
  REMOVED_COLUMN_POLICIES,
  SYNC_MODES,
  TYPE_CHANGE_POLICIES,
  WRITE_MODES,
} from '../../connectors/contract/domain.js';
import { BYTES_PER_KB, BYTES_PER_MB } from './bytes.js';
import { DestinationConnectionSchema, SourceConnectionSchema } from './connection.js';
import { checkCdc, checkIncrementalWriteMode, checkStreamFieldModes } from './availability.js';
import { checkTransformStreams, TransformSchema } from './transforms.js';
import { checkStream, checkStreamName, checkStreamNames, checkUpsertKey } from './rules.js';
import { ALWAYS, boundedNumber, byteSize, nameList, nonEmptyString, parallelism } from './schema-parts.js';

export const CONFIG_VERSION = '1.0';
export const PIPELINE_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]*$/;

// The domain value lists are declared once, in connectors/contract/domain.ts; re-exported here.
export { DATA_ERROR_POLICIES, NEW_COLUMN_POLICIES, NULLABILITY_CHANGE_POLICIES, REMOVED_COLUMN_POLICIES, SYNC_MODES, TYPE_CHANGE_POLICIES, WRITE_MODES };
export type { DataErrorPolicy, SchemaEvolutionPolicy, SyncMode, WriteMode } from '../../connectors/contract/domain.js';
export { MASK_METHODS, TRANSFORM_TYPES, type MaskMethod, type ValidationRule } from './transforms.js';

export const DEFAULT_STATE_SCHEMA = '_rb';
/** Chunks in flight between a shard's two stages (queue or ring capacity). */
export const DEFAULT_MAX_INFLIGHT_BATCHES = 4;
/** Target size of a chunk moved between a shard's stages; a shard holds up to inflight × this. */
export const DEFAULT_MAX_BATCH_BYTES = 8 * BYTES_PER_MB;
export const MIN_MAX_BATCH_BYTES = 64 * BYTES_PER_KB;
/** A ring frame's limit (engine/runtime/ring-layout.ts MAX_FRAME_BYTES_LIMIT). */
export const MAX_MAX_BATCH_BYTES = 1024 * BYTES_PER_MB;
export const DEFAULT_CHECKPOINT_INTERVAL_BYTES = 64 * BYTES_PER_MB;
export const DEFAULT_MAX_RETRIES = 3;

const PIPELINE_NAME_EXPECTED = 'a name of letters, digits, _ and -, starting with a letter or _';

const StreamSchema = z
  .strictObject({
    name: z.string().superRefine((name, ctx) => checkStreamName(name, ctx)),
    sync_mode: z.enum(SYNC_MODES).default('full_refresh'),
    cursor_field: nonEmptyString().optional(),
    tie_breaker_field: nonEmptyString().optional(),
    partition_key: nonEmptyString().optional(),
    columns: nameList('column').optional(),
    primary_key: nameList('key column').optional(),
  })
  .superRefine((stream, ctx) => {
    checkStream(stream, ctx);
    checkStreamFieldModes(stream, ctx);
  }, ALWAYS);

const SourceSchema = z.strictObject({
  use: z.literal('postgres'),
  config: SourceConnectionSchema,
  streams: z
    .array(StreamSchema)
    .min(1)
    .superRefine((streams, ctx) => checkStreamNames(streams, ctx), ALWAYS),
});

const SchemaEvolutionSchema = z
  .strictObject({
    new_column: z.enum(NEW_COLUMN_POLICIES).default('add'),
    removed_column: z.enum(REMOVED_COLUMN_POLICIES).default('ignore'),
    // `type_change: null` is YAML's null, not the string: read it as the `null` policy.
    type_change: z.preprocess((v) => (v === null ? 'null' : v), z.enum(TYPE_CHANGE_POLICIES)).default('fail'),
    // allow: a source column that allows NULL into a NOT NULL destination column is written as is
    // (a NULL is a row the destination rejects: on_data_error); fail: prepare stops.
    nullability_change: z.enum(NULLABILITY_CHANGE_POLICIES).default('allow'),
  })
  .prefault({});

const DestinationSchema = z.strictObject({
  use: z.literal('postgres'),
  config: DestinationConnectionSchema,
  write_mode: z.enum(WRITE_MODES).default('append'),
  primary_key: nameList('key column').optional(),
  on_data_error: z.enum(DATA_ERROR_POLICIES).default('fail'),
  schema_evolution: SchemaEvolutionSchema,
});

const StateSchema = z.strictObject({ schema: nonEmptyString().default(DEFAULT_STATE_SCHEMA) }).prefault({});

const ResourcesSchema = z
  .strictObject({
    parallelism: parallelism().default('auto'),
    max_inflight_batches: boundedNumber({ integer: true, min: 1 }).default(DEFAULT_MAX_INFLIGHT_BATCHES),
    max_batch_bytes: byteSize(MIN_MAX_BATCH_BYTES, MAX_MAX_BATCH_BYTES).default(DEFAULT_MAX_BATCH_BYTES),
    checkpoint_interval_bytes: byteSize(0).default(DEFAULT_CHECKPOINT_INTERVAL_BYTES),
    checkpoint_interval_rows: boundedNumber({ integer: true, min: 0 }).default(0),
    checkpoint_interval_seconds: boundedNumber({ integer: false, min: 0 }).default(0),
    max_retries: boundedNumber({ integer: true, min: 0 }).default(DEFAULT_MAX_RETRIES),
  })
  .prefault({});

export const PipelineConfigSchema = z
  .strictObject({
    version: z.literal(CONFIG_VERSION),
    pipeline: z.string().regex(PIPELINE_NAME_PATTERN, { error: PIPELINE_NAME_EXPECTED }),
    source: SourceSchema,
    transforms: z.array(TransformSchema).default([]),
    destination: DestinationSchema,
    state: StateSchema,
    resources: ResourcesSchema,
  })
  .superRefine((config, ctx) => {
    checkUpsertKey(config, ctx);
    checkIncrementalWriteMode(config, ctx);
    checkCdc(config, ctx);
    checkTransformStreams(config, ctx);
  }, ALWAYS);

export type PipelineConfig = z.output<typeof PipelineConfigSchema>;
export type SourceConfig = PipelineConfig['source'];
export type StreamConfig = SourceConfig['streams'][number];
export type DestinationConfig = PipelineConfig['destination'];
export type TransformConfig = PipelineConfig['transforms'][number];
export type StateConfig = PipelineConfig['state'];
export type ResourcesConfig = PipelineConfig['resources'];
export type { TransformType } from './transforms.js';
