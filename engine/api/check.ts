/**
 * `check(config)`: what `rb check` reports (docs/design.md section 11), as data — the library's
 * check (engine/api/index.ts) and the CLI's (engine/cli/check-command.ts prints it). After the
 * config: connectivity (per connection: TLS or not, its protocol, whether the certificate was
 * verified; for `embedded: true`, which cluster) and privileges: SELECT on each stream's table,
 * rb run's own planning (engine/run/plan-pipeline.ts: the same function, so check refuses what
 * run would refuse), CREATE on the destination database or schema, and for cdc pipelines
 * (section 8) wal_level and the slot/sender settings, the REPLICATION of the source role, the
 * publication and the slot (read only: absent ones are made by the first `rb run`; present ones
 * checked as the run would, the slot's retained WAL shown) and tables without a primary key (a
 * warning: they are applied insert-only). Each failure says its fix. The exit code is the first
 * failing check's; warnings do not fail.
 */
import type pg from 'pg';
import { resolveTableOid } from '../../connectors/postgres/catalog.js';
import { connect, connectionSecurity, describeSecurity, type ConnectionSecurity, type EndpointRole, type PgEndpoint } from '../../connectors/postgres/connection.js';
import { displayName, parseQualifiedName, quoteIdent, quoteQualified, type QualifiedName } from '../../connectors/postgres/identifiers.js';
import { keylessTableNotes, publishesGeneratedColumns } from '../../connectors/source-postgres/cdc-setup.js';
import type { Connection, PipelineConfig } from '../config/index.js';
import { EXIT_DESTINATION, EXIT_OK, EXIT_SOURCE, RbError } from '../errors.js';
import { PostgresSnapshotSource } from '../../connectors/source-postgres/postgres-source.js';
import { describeConnection, resolveEndpoint } from '../run/endpoints.js';
import { planPipelineStreams } from '../run/plan-pipeline.js';
import { cdcNames } from '../run/run-cdc.js';
import { formatBytes } from '../cli/output.js';

export interface CheckLine {
  check: string;
  ok: boolean;
  /** Passes, but worth knowing (printed `warn`; `"warn": true` in --json). */
  warn?: boolean;
  detail: string;
  /** Connection lines: TLS in use, its protocol, whether the certificate was verified. */
  tls?: { in_use: boolean; protocol?: string; cipher?: string; verified: ConnectionSecurity['verified']; sslmode: string; unix_socket?: boolean };
  /** The exit code this line fails with (0 for a line that cannot fail). */
  exitCode: number;
}

/** `conn`: an embedded connection's line names the cluster directory it talks to (engine/embedded/root.ts). */
function connectedLine(check: string, client: pg.Client, ep: PgEndpoint, conn: Connection, embeddedDatabase: string): CheckLine {
  const s = connectionSecurity(client, ep);
  return {
    check,
    ok: true,
    detail: `connected ${conn.kind === 'embedded' ? `to ${describeConnection(conn, embeddedDatabase)} ` : ''}${describeSecurity(s)}`,
    tls: { in_use: s.tls, ...(s.protocol ? { protocol: s.protocol } : {}), ...(s.cipher ? { cipher: s.cipher } : {}), verified: s.verified, sslmode: s.sslmode, ...(s.unixSocket ? { unix_socket: true } : {}) },
    exitCode: 0,
  };
}

export interface CheckResult {
  status: 'ok' | 'failed';
  /** The first failing check's exit code (2 config, 3 source, 4 destination), else 0. */
  exitCode: number;
  checks: CheckLine[];
}

export interface CheckOptions {
  /** The pipeline file's name, for the lines and the fixes they suggest (`rb state reset <file> --yes`). */
  file?: string;
}

const exitCodeOf = (role: EndpointRole, e: unknown) => (e instanceof RbError ? e.exitCode : role === 'source' ? EXIT_SOURCE : EXIT_DESTINATION);

/** Connects one side, recording `<role> connection` either way. */
async function connectSide(role: EndpointRole, conn: Connection, lines: CheckLine[]): Promise<pg.Client | undefined> {
  try {
    const ep = await resolveEndpoint(conn, role);
    const client = await connect(ep, role, 'rb check');
    lines.push(connectedLine(`${role} connection`, client, ep, conn, role === 'source' ? 'rb_source' : 'rb_dest'));
    return client;
  } catch (e) {
    lines.push({ check: `${role} connection`, ok: false, detail: (e as Error).message, exitCode: exitCodeOf(role, e) });
    return undefined;
  }
}

/** A side's checks; an unexpected failure among them becomes one `<role> checks` line. */
async function lineOnFailure(role: EndpointRole, lines: CheckLine[], checks: () => Promise<void>): Promise<void> {
  try {
    await checks();
  } catch (e) {
    lines.push({ check: `${role} checks`, ok: false, detail: (e as Error).message, exitCode: exitCodeOf(role, e) });
  }
}

/** Runs every check (read only) and returns them; a failure is a line, never a rejection. */
export async function check(config: PipelineConfig, opts: CheckOptions = {}): Promise<CheckResult> {
  const file = opts.file ?? `${config.pipeline}.yaml`;
  const lines: CheckLine[] = [{ check: 'config', ok: true, detail: `${opts.file ?? `pipeline ${config.pipeline}`} is valid (${config.source.streams.length} streams)`, exitCode: 0 }];
  let src: pg.Client | undefined;
  let dst: pg.Client | undefined;
  try {
    src = await connectSide('source', config.source.config, lines);
    if (src) await lineOnFailure('source', lines, () => checkSource(src!, config, file, lines));
    dst = await connectSide('destination', config.destination.config, lines);
    if (dst) await lineOnFailure('destination', lines, () => checkDestination(dst!, config, lines));
  } finally {
    await src?.end().catch(() => {});
    await dst?.end().catch(() => {});
  }
  const failed = lines.find((l) => !l.ok);
  return { status: failed ? 'failed' : 'ok', exitCode: failed ? failed.exitCode : EXIT_OK, checks: lines };
}

async function checkSource(src: pg.Client, config: PipelineConfig, file: string, lines: CheckLine[]): Promise<void> {
  const found: QualifiedName[] = [];
  const streamOf: string[] = [];
  for (const s of config.source.streams) {
    const qn = parseQualifiedName(s.name);
    const rel = await resolveTableOid(src, qn);
    if (!rel) {
      lines.push({ check: `source table ${s.name}`, ok: false, detail: `${displayName(qn)} does not exist`, exitCode: EXIT_SOURCE });
      continue;
    }
    found.push(qn);
    streamOf.push(s.name);
    const r = await src.query(`select has_table_privilege($1, 'select') as ok`, [quoteQualified(qn)]);
    lines.push({ check: `source table ${s.name}`, ok: r.rows[0].ok, detail: r.rows[0].ok ? 'SELECT granted' : 'no SELECT privilege', exitCode: EXIT_SOURCE });
  }
  // What rb run's planning would refuse (missing columns, keys, cursors, cdc columns), by the same function.
  if (found.length === config.source.streams.length) lines.push(await planLine(src, config));
  if (!config.source.streams.some((s) => s.sync_mode === 'cdc')) return;
  // REPLICATION: the attribute, superuser, or (managed services such as RDS) membership in rds_replication.
  const r = await src.query(
    `select current_setting('wal_level') as wal, current_setting('max_replication_slots')::int as slots, current_setting('max_wal_senders')::int as senders,
            current_user as role,
            coalesce((select rolreplication or rolsuper from pg_roles where rolname = current_user), false)
              or exists (select 1 from pg_roles g where g.rolname = 'rds_replication' and pg_has_role(current_user, g.oid, 'member')) as repl`,
  );
  const x = r.rows[0];
  lines.push({ check: 'source wal_level', ...walLevelCheck(x.wal, x.slots, x.senders), exitCode: EXIT_SOURCE });
  lines.push({ check: 'source REPLICATION', ...replicationCheck(x.role, !!x.repl), exitCode: EXIT_SOURCE });
  await checkPublication(src, config, found, lines);
  await checkReplicationSlot(src, config, file, lines);
  // Keyless tables are applied insert-only; whether a table is insert-only is not knowable here: a warning.
  for (const [i, qn] of found.entries()) {
    const [note] = await keylessTableNotes(src, [qn]);
    if (note) lines.push({ check: `source table ${streamOf[i]} primary key`, ok: true, warn: true, detail: note.replace(/^rb: /, ''), exitCode: EXIT_SOURCE });
  }
}

/** rb run's planning, read only (engine/run/plan-pipeline.ts): its verdict as a check line. */
async function planLine(src: pg.Client, config: PipelineConfig): Promise<CheckLine> {
  try {
    const streams = await planPipelineStreams(config, { source: new PostgresSnapshotSource(src), publishesGeneratedColumns: () => publishesGeneratedColumns(src) });
    return { check: 'plan', ok: true, detail: `${streams.length} stream${streams.length === 1 ? '' : 's'} planned as rb run plans them (columns, keys${streams.some((s) => s.syncMode === 'incremental') ? ', cursors' : ''})`, exitCode: 0 };
  } catch (e) {
    if (!(e instanceof RbError)) throw e;
    return { check: e.stream ? `plan stream ${e.stream}` : 'plan', ok: false, detail: e.message, exitCode: e.exitCode };
  }
}

/** The REPLICATION a cdc source role needs, with the fix when it lacks it. */
export function replicationCheck(role: string, canReplicate: boolean): { ok: boolean; detail: string } {
  return canReplicate
    ? { ok: true, detail: `role ${role} can replicate` }
    : { ok: false, detail: `role ${role} lacks the REPLICATION attribute CDC needs (fix, as a superuser: ALTER ROLE ${quoteIdent(role)} WITH REPLICATION;)` };
}

/**
 * The publication of a cdc pipeline, read only (rb check changes nothing): absent, the first
 * `rb run` creates it, which needs ownership of the tables (and CREATE on the database); present,
 * it must publish every stream's table and every operation (the checks of ensurePublication).
 */
async function checkPublication(src: pg.Client, config: PipelineConfig, tables: readonly QualifiedName[], lines: CheckLine[]): Promise<void> {
  const { publication: name } = cdcNames(config);
  const check = `source publication ${name}`;
  const gencols = await publishesGeneratedColumns(src);
  const pub = await src.query(`select pubinsert, pubupdate, pubdelete, pubtruncate, puballtables${gencols ? `, pubgencols::text = 's' as gencols` : ''} from pg_publication where pubname = $1`, [name]);
  const create = `CREATE PUBLICATION ${quoteIdent(name)} FOR TABLE ${tables.map(quoteQualified).join(', ')};`;
  if (!pub.rows.length) {
    const own = await src.query(
      `select has_database_privilege(current_database(), 'create') as db,
              coalesce(array_agg(c.oid::regclass::text) filter (where not pg_has_role(current_user, c.relowner, 'usage')), '{}') as not_owned
         from pg_class c where c.oid = any($1::regclass[])`,
      [tables.map(quoteQualified)],
    );
    const { db, not_owned: notOwned } = own.rows[0] as { db: boolean; not_owned: string[] };
    const lacks = [...(notOwned.length ? [`does not own ${notOwned.join(', ')}`] : []), ...(db ? [] : ['has no CREATE privilege on the database'])];
    const problem = lacks.length ? `absent, and the first rb run cannot create it: the source user ${lacks.join(' and ')}` : null;
    lines.push({
      check,
      ok: !problem || !tables.length,
      detail: problem && tables.length ? `${problem} (fix, as the tables' owner with CREATE on the database: ${create})` : 'absent: will be created by the first rb run (needs ownership of the tables)',
      exitCode: EXIT_SOURCE,
    });
    return;
  }
  const p = pub.rows[0];
  const problems: string[] = [];
  const missingOps = ['insert', 'update', 'delete', 'truncate'].filter((op) => !p[`pub${op}`]);
  if (missingOps.length) problems.push(`does not publish ${missingOps.join(', ')} (fix: ALTER PUBLICATION ${quoteIdent(name)} SET (publish = 'insert, update, delete, truncate');)`);
  if (!p.puballtables) {
    const have = await src.query(`select schemaname, tablename from pg_publication_tables where pubname = $1`, [name]);
    const set = new Set(have.rows.map((r) => `${r.schemaname}.${r.tablename}`));
    const missing = tables.filter((t) => !set.has(`${t.schema}.${t.table}`));
    if (missing.length) problems.push(`does not publish ${missing.map(displayName).join(', ')} (fix: ALTER PUBLICATION ${quoteIdent(name)} ADD TABLE ${missing.map(quoteQualified).join(', ')};)`);
  }
  if (gencols && !p.gencols && tables.length) {
    const g = await src.query(`select distinct a.attrelid::regclass::text as t from pg_attribute a where a.attrelid = any($1::regclass[]) and a.attgenerated::text = 's' and not a.attisdropped`, [tables.map(quoteQualified)]);
    if (g.rows.length) problems.push(`does not publish the stored generated columns of ${g.rows.map((r) => r.t).join(', ')} (fix: ALTER PUBLICATION ${quoteIdent(name)} SET (publish_generated_columns = stored);)`);
  }
  lines.push({ check, ok: !problems.length, detail: problems.length ? problems.join('; ') : p.puballtables ? 'exists (FOR ALL TABLES)' : 'exists and publishes every stream', exitCode: EXIT_SOURCE });
}

/**
 * The slot of a cdc pipeline, read only: absent, the first `rb run` creates it; present, it must be
 * a logical pgoutput slot of this database, not invalidated (the checks of checkSlot). Reports the
 * WAL it keeps on the source.
 */
async function checkReplicationSlot(src: pg.Client, config: PipelineConfig, file: string, lines: CheckLine[]): Promise<void> {
  const { slot } = cdcNames(config);
  const check = `source replication slot ${slot}`;
  const r = await src.query(
    `select slot_type, plugin, database, active, wal_status, current_database() as db,
            pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::int8 as kept
       from pg_replication_slots where slot_name = $1`,
    [slot],
  );
  if (!r.rows.length) {
    const used = (await src.query(`select count(*)::int as n, current_setting('max_replication_slots')::int as max from pg_replication_slots`)).rows[0];
    const full = used.max > 0 && used.n >= used.max;
    lines.push({
      check,
      ok: !full,
      detail: full
        ? `absent, and the first rb run cannot create it: all ${used.max} replication slots are in use (fix: drop an unused slot with SELECT pg_drop_replication_slot('…'); or raise max_replication_slots and restart the server)`
        : 'absent: will be created by the first rb run',
      exitCode: EXIT_SOURCE,
    });
    return;
  }
  const x = r.rows[0];
  const problem = slotProblem({ type: x.slot_type, plugin: x.plugin, database: x.database, walStatus: x.wal_status }, x.db, file);
  if (problem) {
    lines.push({ check, ok: false, detail: problem, exitCode: EXIT_SOURCE });
    return;
  }
  const kept = `keeps ${formatBytes(Number(x.kept ?? 0))} of WAL on the source (wal_status ${x.wal_status ?? 'unknown'})`;
  lines.push({
    check,
    ok: true,
    ...(x.active ? { warn: true, detail: `${kept}; in use now by another connection (an rb run --follow, or a subscriber): another rb run is refused while it is` } : { detail: kept }),
    exitCode: EXIT_SOURCE,
  });
}

/**
 * What keeps an existing slot from serving a cdc pipeline of `database` (the checks of checkSlot,
 * less "in use"), with the fix; null when it can.
 */
export function slotProblem(slot: { type: string; plugin: string | null; database: string | null; walStatus: string | null }, database: string, file: string): string | null {
  if (slot.type !== 'logical') return `is a ${slot.type} slot; rb needs a logical pgoutput slot (name another slot in source.config.replication_slot)`;
  if (slot.plugin !== 'pgoutput') return `uses plugin ${slot.plugin}; rb needs pgoutput (name another slot in source.config.replication_slot)`;
  if (slot.database !== database) return `belongs to database ${slot.database}, not ${database} (name another slot in source.config.replication_slot)`;
  if (slot.walStatus === 'lost') {
    return `was invalidated by the server (wal_status lost: more WAL than max_slot_wal_keep_size piled up); its changes are gone (fix: rb state reset ${file} --yes, then rb run takes a new snapshot)`;
  }
  return null;
}

/** The server settings CDC needs (wal_level logical, a slot and a WAL sender), with the fix when one is missing. */
export function walLevelCheck(walLevel: string, maxSlots: number, maxSenders: number): { ok: boolean; detail: string } {
  const needs: string[] = [];
  const fixes: string[] = [];
  if (walLevel !== 'logical') {
    needs.push('wal_level logical');
    fixes.push(`ALTER SYSTEM SET wal_level = logical;`);
  }
  if (maxSlots < 1) {
    needs.push('max_replication_slots > 0 (a slot per cdc pipeline)');
    fixes.push(`ALTER SYSTEM SET max_replication_slots = 10;`);
  }
  if (maxSenders < 1) {
    needs.push('max_wal_senders > 0 (a sender per running rb run)');
    fixes.push(`ALTER SYSTEM SET max_wal_senders = 10;`);
  }
  const now = `wal_level = ${walLevel}, max_replication_slots = ${maxSlots}, max_wal_senders = ${maxSenders}`;
  return fixes.length ? { ok: false, detail: `${now}: CDC needs ${needs.join(', ')} (fix, as a superuser: ${fixes.join(' ')} then restart the server)` } : { ok: true, detail: now };
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
