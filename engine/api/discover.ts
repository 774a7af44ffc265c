/**
 * `rb discover <pipeline.yaml>`: for each source table in the chosen schemas, its columns with
 * exact types, nullability, primary key, estimated rows and size, and how it can be sharded. For a
 * table the pipeline reads incrementally: the index its reads go through, or that there is none
 * (every run then scans the whole table) and the index to create.
 */
import type pg from 'pg';
import { cursorIndex, discoverTable, resolveTableOid, type TableInfo } from '../../connectors/postgres/catalog.js';
import { connect } from '../../connectors/postgres/connection.js';
import { displayName, parseQualifiedName, quoteIdent, quoteQualified } from '../../connectors/postgres/identifiers.js';
import { SQL_LIST_TABLES } from '../../connectors/postgres/sql.js';
import { loadPipelineConfig, type PipelineConfig } from '../config/index.js';
import { EXIT_SOURCE, RbError } from '../errors.js';
import { shardKeyFor, shardMinBytes } from '../../connectors/source-postgres/plan-shards.js';
import { resolveEndpoint } from '../run/endpoints.js';
import { describeConnection, formatBytes, formatCount, printError, table } from './output.js';

export async function discoverCommand(file: string, o: { json?: boolean; schema?: string[] }): Promise<number> {
  try {
    const config = loadPipelineConfig(file);
    const schemas = o.schema?.length ? o.schema : [...new Set(config.source.streams.map((s) => parseQualifiedName(s.name).schema))];
    const src = await connect(await resolveEndpoint(config.source.config, 'source'), 'source', 'rb discover');
    try {
      const names = (await src.query(SQL_LIST_TABLES, [schemas])).rows as Array<{ schema: string; name: string }>;
      const tables: TableInfo[] = [];
      for (const n of names) tables.push(await discoverTable(src, { schema: n.schema, table: n.name }));
      const out = [];
      for (const t of tables) out.push({ ...describe(t), ...(await incrementalRead(src, config, t)) });
      // A configured stream whose table is not there is what rb run would stop at: exit 3.
      const missing: string[] = [];
      for (const [i, s] of config.source.streams.entries()) {
        if (!(await resolveTableOid(src, parseQualifiedName(s.name)))) missing.push(`source.streams[${i}].name: table ${displayName(parseQualifiedName(s.name))} does not exist in the source`);
      }
      const source = describeConnection(config.source.config, 'rb_source');
      if (o.json) process.stdout.write(`${JSON.stringify({ source, schemas, tables: out, ...(missing.length ? { missing_streams: missing } : {}) })}\n`);
      else {
        process.stdout.write(`source: ${source}\n`);
        printTables(out);
      }
      if (missing.length) {
        for (const m of missing) process.stderr.write(`rb: ${m}\n`);
        return EXIT_SOURCE;
      }
    } finally {
      await src.end().catch(() => {});
    }
    return 0;
  } catch (e) {
    if (e instanceof RbError) {
      printError(e, !!o.json);
      return e.exitCode;
    }
    throw e;
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

interface IncrementalRead {
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

function printTables(tables: Array<ReturnType<typeof describe> & { incremental?: IncrementalRead }>): void {
  for (const t of tables) {
    process.stdout.write(
      `\n${t.name}  ~${formatCount(t.estimated_rows)} rows, ${formatBytes(t.size_bytes)} with indexes and TOAST; key (${t.primary_key.join(', ') || 'none'}); ${t.shard_note}; COPY ${t.copy_format}\n`,
    );
    if (t.incremental) process.stdout.write(`  ${t.incremental.index ? '' : 'WARNING: '}${t.incremental.stream}: ${t.incremental.note}\n`);
    const rows = t.columns.map((c) => [c.name, c.type, c.nullable ? 'null' : 'not null', [c.generated ? 'generated' : '', c.identity ? 'identity' : '', t.primary_key.includes(c.name) ? 'pk' : ''].filter(Boolean).join(' ')]);
    process.stdout.write(`${table(['column', 'type', 'nullable', 'notes'], rows).replace(/^/gm, '  ')}\n`);
  }
  if (tables.length === 0) process.stdout.write('no tables found\n');
}
