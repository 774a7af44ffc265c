/**
 * The source side of CDC setup (docs/design.md section 8): the publication that names the
 * pipeline's tables, the logical slot that keeps their changes, and the checks that say what is
 * wrong and how to fix it.
 */
import type pg from 'pg';
import type { QualifiedName } from '../contract/qualified-name.js';
import { RbError } from '../contract/errors.js';
import { displayName, quoteIdent, quoteLiteral, quoteQualified } from '../postgres/identifiers.js';
import { parseLsn } from './lsn.js';

/**
 * Creates the publication for `tables` when it does not exist (returns true then); when it does,
 * checks that it publishes every table, inserts, updates, deletes and truncates.
 */
export async function ensurePublication(client: pg.Client, name: string, tables: readonly QualifiedName[], pipeline: string): Promise<boolean> {
  const gencols = await publishesGeneratedColumns(client);
  const pub = await client.query(`select pubinsert, pubupdate, pubdelete, pubtruncate, puballtables${gencols ? `, pubgencols::text = 's' as gencols` : ''} from pg_publication where pubname = $1`, [name]);
  if (!pub.rows.length) {
    try {
      // Stored generated columns are published too (PostgreSQL 18+), so their values arrive.
      await client.query(`create publication ${quoteIdent(name)} for table ${tables.map(quoteQualified).join(', ')}${gencols ? ' with (publish_generated_columns = stored)' : ''}`);
      // The mark `rb state reset` drops it by: only a publication rb made goes with the pipeline.
      await client.query(`comment on publication ${quoteIdent(name)} is ${quoteLiteral(createdMark(pipeline))}`);
    } catch (e) {
      throw new RbError('source_query', `source.config.publication: cannot create publication ${name}: ${(e as Error).message} (the source user must own the tables, or create it: CREATE PUBLICATION ${quoteIdent(name)} FOR TABLE ${tables.map(quoteQualified).join(', ')})`, { cause: e });
    }
    return true;
  }
  const p = pub.rows[0];
  const missingOps = ['insert', 'update', 'delete', 'truncate'].filter((op) => !p[`pub${op}`]);
  if (missingOps.length) {
    throw new RbError('config_invalid', `source.config.publication: publication ${name} does not publish ${missingOps.join(', ')} (ALTER PUBLICATION ${quoteIdent(name)} SET (publish = 'insert, update, delete, truncate'))`);
  }
  if (gencols && !p.gencols) {
    const g = await client.query(`select distinct a.attrelid::regclass::text as t from pg_attribute a where a.attrelid = any($1::regclass[]) and a.attgenerated::text = 's' and not a.attisdropped`, [tables.map(quoteQualified)]);
    if (g.rows.length) {
      throw new RbError('config_invalid', `source.config.publication: publication ${name} does not publish the stored generated columns of ${g.rows.map((r) => r.t).join(', ')} (ALTER PUBLICATION ${quoteIdent(name)} SET (publish_generated_columns = stored))`);
    }
  }
  if (!p.puballtables) {
    const have = await client.query(`select schemaname, tablename from pg_publication_tables where pubname = $1`, [name]);
    const set = new Set(have.rows.map((r) => `${r.schemaname}.${r.tablename}`));
    const missing = tables.filter((t) => !set.has(`${t.schema}.${t.table}`));
    if (missing.length) {
      throw new RbError('config_invalid', `source.config.publication: publication ${name} does not publish ${missing.map(displayName).join(', ')} (ALTER PUBLICATION ${quoteIdent(name)} ADD TABLE ${missing.map(quoteQualified).join(', ')})`);
    }
  }
  return false;
}

/** PostgreSQL 18+ publishes stored generated columns (publish_generated_columns); before, never. */
export async function publishesGeneratedColumns(client: pg.Client): Promise<boolean> {
  return Number((await client.query(`select current_setting('server_version_num') as v`)).rows[0].v) >= 180000;
}

/**
 * Setup notes for tables without a primary key: which identity their UPDATEs and DELETEs would
 * carry, and the fix. rb applies such a table as insert-only; an UPDATE or DELETE for it stops the
 * run (and without a replica identity the source refuses them in the first place).
 */
export async function keylessTableNotes(client: pg.Client, tables: readonly QualifiedName[]): Promise<string[]> {
  const r = await client.query(
    `select c.oid::regclass::text as t, c.relreplident::text as ri
       from pg_class c
      where c.oid = any($1::regclass[])
        and not exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisprimary)`,
    [tables.map(quoteQualified)],
  );
  return r.rows.map((x) => {
    const identity =
      x.ri === 'f' ? 'with REPLICA IDENTITY FULL its UPDATEs and DELETEs carry the whole old row' : x.ri === 'i' ? 'its UPDATEs and DELETEs carry its REPLICA IDENTITY index' : 'the source refuses its UPDATEs and DELETEs (no replica identity)';
    return `rb: ${x.t} has no primary key; ${identity}. rb applies it as insert-only (appends), and an UPDATE or DELETE for it stops the run. If it is not insert-only: ALTER TABLE ${x.t} ADD PRIMARY KEY (…), then rb state reset and run again`;
  });
}

export interface SlotInfo {
  plugin: string;
  database: string;
  active: boolean;
  walStatus: string | null;
  confirmedFlush: bigint | null;
}

export async function slotInfo(client: pg.Client, slot: string): Promise<SlotInfo | null> {
  const r = await client.query(
    `select plugin, database, active, wal_status, confirmed_flush_lsn::text as confirmed from pg_replication_slots where slot_name = $1 and slot_type = 'logical'`,
    [slot],
  );
  if (!r.rows.length) return null;
  const x = r.rows[0];
  return { plugin: x.plugin, database: x.database, active: x.active, walStatus: x.wal_status, confirmedFlush: x.confirmed ? parseLsn(x.confirmed) : null };
}

/** A slot rb can stream from: pgoutput, this database, not invalidated, not in use. */
export function checkSlot(slot: string, info: SlotInfo, database: string): void {
  if (info.plugin !== 'pgoutput') throw new RbError('config_invalid', `source.config.replication_slot: slot ${slot} uses plugin ${info.plugin}; rb needs pgoutput (use another slot name)`);
  if (info.database !== database) throw new RbError('config_invalid', `source.config.replication_slot: slot ${slot} belongs to database ${info.database}, not ${database}`);
  if (info.walStatus === 'lost') {
    throw new RbError(
      'source_query',
      `replication slot ${slot} was invalidated by the server (wal_status lost: more WAL than max_slot_wal_keep_size piled up); its changes are gone. Resync: rb state reset <pipeline.yaml> --yes (drops the slot), then rb run takes a new snapshot`,
    );
  }
  if (info.active) throw new RbError('source_query', `replication slot ${slot} is in use by another connection (another rb run, or a subscriber)`);
}

export async function dropSlot(client: pg.Client, slot: string): Promise<void> {
  await client.query(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1`, [slot]);
}

function createdMark(pipeline: string): string {
  return `created by rb for pipeline ${pipeline}`;
}

/** Drops the publication if rb created it for `pipeline`; returns whether it did. */
export async function dropOwnPublication(client: pg.Client, name: string, pipeline: string): Promise<boolean> {
  const r = await client.query(`select obj_description(oid, 'pg_publication') as c from pg_publication where pubname = $1`, [name]);
  if (!r.rows.length || r.rows[0].c !== createdMark(pipeline)) return false;
  await client.query(`drop publication ${quoteIdent(name)}`);
  return true;
}

/** The prefix of the logical messages rb writes to mark the end of a catch-up. */
export const MARK_PREFIX = 'rb';

/** Writes a non-transactional logical message (the catch-up's end mark); returns its LSN. */
export async function emitMark(client: pg.Client, content: string): Promise<bigint> {
  return parseLsn((await client.query(`select pg_logical_emit_message(false, $1, $2)::text as l`, [MARK_PREFIX, content])).rows[0].l as string);
}
