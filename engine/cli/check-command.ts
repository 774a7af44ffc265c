/**
 * `rb check <pipeline.yaml>`: validates the file, then connectivity and privileges (docs/design.md
 * section 11): SELECT on each stream's table, REPLICATION and wal_level=logical for CDC streams,
 * CREATE on the destination database or schema. Exit code of the first failing check.
 */
import type pg from 'pg';
import { resolveTableOid } from '../../connectors/postgres/catalog.js';
import { connect } from '../../connectors/postgres/connection.js';
import { displayName, parseQualifiedName, quoteIdent, quoteQualified } from '../../connectors/postgres/identifiers.js';
import { loadPipelineConfig, type PipelineConfig } from '../config/index.js';
import { EXIT_DESTINATION, EXIT_OK, EXIT_SOURCE, RbError } from '../errors.js';
import { resolveEndpoint } from '../run/endpoints.js';
import { printError } from './output.js';

interface CheckLine {
  check: string;
  ok: boolean;
  detail: string;
  exitCode: number;
}

export async function checkCommand(file: string, o: { json?: boolean }): Promise<number> {
  const lines: CheckLine[] = [];
  let config: PipelineConfig;
  try {
    config = loadPipelineConfig(file);
    lines.push({ check: 'config', ok: true, detail: `${file} is valid (${config.source.streams.length} streams)`, exitCode: 0 });
  } catch (e) {
    if (!(e instanceof RbError)) throw e;
    printError(e, !!o.json);
    return e.exitCode;
  }
  let src: pg.Client | undefined;
  let dst: pg.Client | undefined;
  try {
    try {
      src = await connect(await resolveEndpoint(config.source.config, 'source'), 'source', 'rb check');
      lines.push({ check: 'source connection', ok: true, detail: 'connected', exitCode: 0 });
      await checkSource(src, config, lines);
    } catch (e) {
      lines.push({ check: 'source connection', ok: false, detail: (e as Error).message, exitCode: e instanceof RbError ? e.exitCode : EXIT_SOURCE });
    }
    try {
      dst = await connect(await resolveEndpoint(config.destination.config, 'destination'), 'destination', 'rb check');
      lines.push({ check: 'destination connection', ok: true, detail: 'connected', exitCode: 0 });
      await checkDestination(dst, config, lines);
    } catch (e) {
      lines.push({ check: 'destination connection', ok: false, detail: (e as Error).message, exitCode: e instanceof RbError ? e.exitCode : EXIT_DESTINATION });
    }
  } finally {
    await src?.end().catch(() => {});
    await dst?.end().catch(() => {});
  }
  const failed = lines.find((l) => !l.ok);
  if (o.json) process.stdout.write(`${JSON.stringify({ status: failed ? 'failed' : 'ok', checks: lines.map(({ exitCode: _x, ...l }) => l) })}\n`);
  else for (const l of lines) process.stdout.write(`${l.ok ? 'ok  ' : 'FAIL'}  ${l.check}: ${l.detail}\n`);
  return failed ? failed.exitCode : EXIT_OK;
}

async function checkSource(src: pg.Client, config: PipelineConfig, lines: CheckLine[]): Promise<void> {
  for (const s of config.source.streams) {
    const qn = parseQualifiedName(s.name);
    const rel = await resolveTableOid(src, qn);
    if (!rel) {
      lines.push({ check: `source table ${s.name}`, ok: false, detail: `${displayName(qn)} does not exist`, exitCode: EXIT_SOURCE });
      continue;
    }
    const r = await src.query(`select has_table_privilege($1, 'select') as ok`, [quoteQualified(qn)]);
    lines.push({ check: `source table ${s.name}`, ok: r.rows[0].ok, detail: r.rows[0].ok ? 'SELECT granted' : 'no SELECT privilege', exitCode: EXIT_SOURCE });
  }
  if (config.source.streams.some((s) => s.sync_mode === 'cdc')) {
    const r = await src.query(
      `select current_setting('wal_level') as wal, current_setting('max_replication_slots')::int as slots, current_setting('max_wal_senders')::int as senders,
              current_user as role, (select rolreplication or rolsuper from pg_roles where rolname = current_user) as repl`,
    );
    const x = r.rows[0];
    lines.push({ check: 'source wal_level', ...walLevelCheck(x.wal, x.slots, x.senders), exitCode: EXIT_SOURCE });
    lines.push({
      check: 'source REPLICATION',
      ok: !!x.repl,
      detail: x.repl ? `role ${x.role} can replicate` : `role ${x.role} lacks the REPLICATION attribute CDC needs (fix, as a superuser: ALTER ROLE ${quoteIdent(x.role)} WITH REPLICATION;)`,
      exitCode: EXIT_SOURCE,
    });
  }
}

/** The server settings CDC needs, with the fix when one is missing. */
export function walLevelCheck(walLevel: string, maxSlots: number, maxSenders: number): { ok: boolean; detail: string } {
  const fixes: string[] = [];
  if (walLevel !== 'logical') fixes.push(`ALTER SYSTEM SET wal_level = logical;`);
  if (maxSlots < 1) fixes.push(`ALTER SYSTEM SET max_replication_slots = 10;`);
  if (maxSenders < 1) fixes.push(`ALTER SYSTEM SET max_wal_senders = 10;`);
  const now = `wal_level = ${walLevel}, max_replication_slots = ${maxSlots}, max_wal_senders = ${maxSenders}`;
  return fixes.length ? { ok: false, detail: `${now}: CDC needs wal_level logical and a free slot and sender (fix: ${fixes.join(' ')} then restart the server)` } : { ok: true, detail: now };
}

async function checkDestination(dst: pg.Client, config: PipelineConfig, lines: CheckLine[]): Promise<void> {
  const schema = config.destination.config.schema ?? 'public';
  const r = await dst.query(
    `select exists(select 1 from pg_namespace where nspname = $1) as schema_exists,
            case when exists(select 1 from pg_namespace where nspname = $1) then has_schema_privilege($1, 'create')
                 else has_database_privilege(current_database(), 'create') end as can_create`,
    [schema],
  );
  const { schema_exists, can_create } = r.rows[0];
  lines.push({
    check: `destination schema ${schema}`,
    ok: can_create,
    detail: can_create ? (schema_exists ? 'CREATE granted' : 'schema will be created (CREATE on database granted)') : `no CREATE privilege on ${schema_exists ? 'schema' : 'database'}`,
    exitCode: EXIT_DESTINATION,
  });
}
