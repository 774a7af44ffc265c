/** `rb discover <pipeline.yaml>`: prints what engine/api/discover.ts finds, as text or `--json`; exit 3 when a configured stream's table does not exist. */
import { discover, type DiscoveredTable } from '../api/discover.js';
import { loadPipelineConfig } from '../config/index.js';
import { EXIT_OK, EXIT_SOURCE, RbError } from '../errors.js';
import { formatBytes, formatCount, printError, table } from './output.js';

export async function discoverCommand(file: string, o: { json?: boolean; schema?: string[] }): Promise<number> {
  try {
    const r = await discover(loadPipelineConfig(file), { schemas: o.schema });
    if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else {
      process.stdout.write(`source: ${r.source}\n`);
      printTables(r.tables);
    }
    for (const m of r.missing_streams ?? []) process.stderr.write(`rb: ${m}\n`);
    return r.missing_streams ? EXIT_SOURCE : EXIT_OK;
  } catch (e) {
    if (e instanceof RbError) {
      printError(e, !!o.json);
      return e.exitCode;
    }
    throw e;
  }
}

function printTables(tables: DiscoveredTable[]): void {
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
