/**
 * Stream planning on the main thread: discover each configured stream in the source, check the
 * projection, and decide the destination name and key. Nothing is written anywhere here, so a
 * mistake found at this stage leaves the destination exactly as it was.
 */
import type { ColumnInfo, TableInfo } from '../../connectors/contract/catalog.js';
import type { SnapshotSource } from '../../connectors/contract/connector.js';
import { displayName, parseQualifiedName, type QualifiedName } from '../../connectors/postgres/identifiers.js';
import { INTEGER_TYPES } from '../../connectors/source-postgres/plan-shards.js';
import { RbError } from '../errors.js';
import type { TransformPlan } from './plan-transforms.js';
import type { PipelineConfig, SyncMode } from '../config/index.js';

export interface StreamPlan {
  /** The stream's name as configured. */
  name: string;
  index: number;
  syncMode: SyncMode;
  source: TableInfo;
  /** Projected columns in output order (generated/identity columns included: they arrive as values). */
  columns: ColumnInfo[];
  /**
   * Generated columns the destination computes itself instead of receiving them (a cdc stream
   * whose source does not publish them: run-cdc.ts computeUnpublished). Not read, not written.
   */
  computed: ColumnInfo[];
  /** The stream's transforms (plan-transforms.ts), or null without any. */
  transform?: TransformPlan | null;
  target: QualifiedName;
  key: string[];
  partitionKey?: string;
}

export async function planStreams(config: PipelineConfig, source: SnapshotSource): Promise<StreamPlan[]> {
  const destSchema = config.destination.config.schema ?? 'public';
  const plans: StreamPlan[] = [];
  for (const [index, s] of config.source.streams.entries()) {
    const qn = parseQualifiedName(s.name);
    let table: TableInfo;
    try {
      table = await source.discover(qn);
    } catch (e) {
      if (e instanceof RbError) {
        e.stream ??= s.name;
        if (e.code === 'source_missing_table') {
          throw new RbError('source_missing_table', `source.streams[${index}].name: table ${displayName(qn)} does not exist in the source`, { stream: s.name });
        }
      }
      throw e;
    }
    let columns = table.columns;
    if (s.columns && s.columns.length) {
      const byName = new Map(table.columns.map((c) => [c.name, c]));
      const missing = s.columns.filter((c) => !byName.has(c));
      if (missing.length) {
        const i = s.columns.indexOf(missing[0]);
        throw new RbError(
          'source_missing_column',
          `source.streams[${index}].columns[${i}]: column ${JSON.stringify(missing[0])} does not exist in ${displayName(qn)} (columns: ${table.columns.map((c) => c.name).join(', ')})`,
          { stream: s.name },
        );
      }
      columns = s.columns.map((c) => byName.get(c)!);
    }
    const configuredKey = s.primary_key ?? config.destination.primary_key;
    let key: string[];
    if (configuredKey && configuredKey.length) {
      key = configuredKey;
      const missingKey = key.find((k) => !columns.some((c) => c.name === k));
      if (missingKey) {
        const path = s.primary_key ? `source.streams[${index}].primary_key` : 'destination.primary_key';
        throw new RbError('config_invalid', `${path}: key column ${JSON.stringify(missingKey)} is not among the columns of stream ${s.name}`, { stream: s.name });
      }
    } else {
      key = table.primaryKey.every((k) => columns.some((c) => c.name === k)) ? table.primaryKey : [];
    }
    // A cdc stream without a key is applied as append (insert-only tables: run-cdc.ts).
    if (config.destination.write_mode === 'upsert' && key.length === 0 && s.sync_mode !== 'cdc') {
      throw new RbError('config_invalid', `destination.primary_key: required for write_mode upsert (stream ${s.name} has no primary key to default to)`, { stream: s.name });
    }
    if (s.partition_key) {
      const col = table.columns.find((c) => c.name === s.partition_key);
      if (!col) {
        throw new RbError('source_missing_column', `source.streams[${index}].partition_key: column ${JSON.stringify(s.partition_key)} does not exist in ${displayName(qn)}`, { stream: s.name });
      }
      if (!INTEGER_TYPES.has(col.typeOid)) {
        throw new RbError('config_invalid', `source.streams[${index}].partition_key: column ${JSON.stringify(s.partition_key)} is ${col.typeName}; key-range shards need an integer column (smallint, integer, bigint) — leave partition_key out to shard by ctid`, { stream: s.name });
      }
    }
    plans.push({
      name: s.name,
      index,
      syncMode: s.sync_mode,
      source: table,
      columns,
      computed: [],
      target: { schema: destSchema, table: qn.table },
      key,
      partitionKey: s.partition_key,
    });
  }
  return plans;
}
