/**
 * `discover(config)`: what `rb discover` lists, as data (the library's discover, engine/api/index.ts;
 * engine/cli/discover-command.ts prints it): for each source table in the chosen schemas, its
 * columns with exact types, nullability, primary key, estimated rows and size, and how it can be
 * sharded. For a table the pipeline reads incrementally: the index its reads go through, or that
 * there is none (every run then scans the whole table) and the index to create. Configured streams
 * whose table does not exist are listed in `missing_streams` (the CLI exits 3 on them).
 */
import type pg from 'pg';
import { cursorIndex, discoverTable, resolveTableOid, type TableInfo } from '../../connectors/postgres/catalog.js';
import { connect } from '../../connectors/postgres/connection.js';
import { displayName, parseQualifiedName, quoteIdent, quoteQualified } from '../../connectors/postgres/identifiers.js';
import { SQL_LIST_TABLES } from '../../connectors/postgres/sql.js';
import type { PipelineConfig } from '../config/index.js';
import { shardKeyFor, shardMinBytes } from '../../connectors/source-postgres/plan-shards.js';
import { describeConnection, resolveEndpoint } from '../run/endpoints.js';
import { formatBytes } from '../cli/output.js';

export interface DiscoverOptions {
  /** Schemas to list (default: the schemas of the configured streams). */
  schemas?: string[];
}

export type DiscoveredTable = ReturnType<typeof describe> & { incremental?: IncrementalRead };

export interface DiscoverResult {
  /** The server (and for embedded: true, the cluster directory) discovered, without a password. */
  source: string;
  schemas: string[];
  tables: DiscoveredTable[];
  /** `source.streams[i].name: table … does not exist in the source`, one per missing table. */
  missing_streams?: string[];
}

/** Reads the source's catalog (read only). A connection failure rejects with its RbError (exit 3). */
export async function discover(config: PipelineConfig, opts: DiscoverOptions = {}): Promise<DiscoverResult> {
  const schemas = opts.schemas?.length ? opts.schemas : [...new Set(config.source.streams.map((s) => parseQualifiedName(s.name).schema))];
  const src = await connect(await resolveEndpoint(config.source.config, 'source'), 'source', 'rb discover');
  try {
    const names = (await src.query(SQL_LIST_TABLES, [schemas])).rows as Array<{ schema: string; name: string }>;
    const tables: DiscoveredTable[] = [];
    for (const n of names) {
      const t = await discoverTable(src, { schema: n.schema, table: n.name });
      tables.push({ ...describe(t), ...(await incrementalRead(src, config, t)) });
    }
    // A configured stream whose table is not there is what rb run would stop at.
    const missing: string[] = [];
    for (const [i, s] of config.source.streams.entries()) {
      if (!(await resolveTableOid(src, parseQualifiedName(s.name)))) missing.push(`source.streams[${i}].name: table ${displayName(parseQualifiedName(s.name))} does not exist in the source`);
    }
    return { source: describeConnection(config.source.config, 'rb_source'), schemas, tables, ...(missing.length ? { missing_streams: missing } : {}) };
  } finally {
    await src.end().catch(() => {});
  }
}

function describe(t: TableInfo) {
  const key = shardKeyFor(t);
  const small = t.relationBytes < shardMinBytes();
  return {
    name: displayName(t.name),
    schema: t.name.schema,
    table: t.name.table,
    estimated_rows: t.estimatedRows,
    size_bytes: t.totalBytes,
    /** The table alone (no indexes, TOAST): what the shard threshold is compared with. */
    table_bytes: t.relationBytes,
    primary_key: t.primaryKey,
    shardable: !small,
    shard_key: key ?? 'ctid',
    shard_note: small ? `one shard (table ${formatBytes(t.relationBytes)}, under ${formatBytes(shardMinBytes())})` : key ? `integer ranges on ${key}` : 'ctid block ranges',
    copy_format: t.columns.every((c) => c.binaryPortable) ? 'binary' : 'text',
    columns: t.columns.map((c) => ({ name: c.name, type: c.typeName, nullable: !c.notNull, generated: c.generated, identity: c.identity, binary_portable: c.binaryPortable })),
  };
}

export interface IncrementalRead {
  stream: string;
  cursor_fields: string[];
  /** The index the reads go through, or null (a whole-table scan per run). */
  index: string | null;
  index_covers: 'all' | 'cursor' | null;
  note: string;
}

/** For a table the pipeline reads incrementally: which index serves its cursor. */
async function incrementalRead(src: pg.Client, config: PipelineConfig, t: TableInfo): Promise<{ incremental?: IncrementalRead }> {
  const s = config.source.streams.find((x) => x.sync_mode === 'incremental' && x.cursor_field && sameTable(parseQualifiedName(x.name), t));
  if (!s) return {};
  const fields = [s.cursor_field!, ...(s.tie_breaker_field ? [s.tie_breaker_field] : t.primaryKey).filter((f) => f !== s.cursor_field)];
  const ix = await cursorIndex(src, t.oid, fields);
  const list = fields.map(quoteIdent).join(', ');
  const note = !ix
    ? `no index starts with (${fields.join(', ')}): every incremental run scans the whole table — create index on ${quoteQualified(t.name)} (${list})`
    : ix.covers === 'all'
      ? `incremental reads go through index ${ix.name} (${fields.join(', ')})`
      : `index ${ix.name} serves the cursor range on ${fields[0]}, not the tie-breaker order (rows are sorted per run) — an index on (${list}) serves both`;
  return { incremental: { stream: s.name, cursor_fields: fields, index: ix?.name ?? null, index_covers: ix?.covers ?? null, note } };
}

function sameTable(a: { schema: string; table: string }, t: TableInfo): boolean {
  return a.schema === t.name.schema && a.table === t.name.table;
}
