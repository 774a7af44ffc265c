/**
 * The bench's two databases. By default two embedded clusters (`.rb/bench-src`, `.rb/bench-dst`),
 * so source and destination never share a server (and its backends, buffers and WAL); with
 * `--source-url` / `--dest-url` real servers. One database per profile on the embedded clusters
 * (`rb_bench_<profile>`).
 *
 * Source data is generated once and reused: after generation the database's comment records the
 * profile's fingerprint (its SQL and row counts) and the tables' checksums, so later runs neither
 * regenerate nor re-checksum the source. `--regenerate` or any change to the SQL regenerates.
 */
import os from 'node:os';
import pg from 'pg';
import { clusterUrl, ensureCluster, ensureDatabase } from '../engine/embedded/cluster.js';
import { RbError, redact } from '../engine/errors.js';
import { idChunks, profileFingerprint, type Profile } from './profiles.js';
import { ALL_BENCH_TABLES, BENCH_TABLES, SETSEED_SQL } from './tables.js';
import { checksumProfile, connect, type TableChecksum } from './verify.js';

export const EMBEDDED_SOURCE_ROOT = '.rb/bench-src';
export const EMBEDDED_DEST_ROOT = '.rb/bench-dst';

export interface BenchEndpoints {
  sourceUrl: string;
  destUrl: string;
  sourceEmbedded: boolean;
  destEmbedded: boolean;
}

export interface SourceData {
  tables: TableChecksum[];
  generated: boolean;
  generationSeconds?: number;
}

const MARKER_PREFIX = 'rb-bench:';

interface Marker {
  /** Null until the source's data is complete; the destination's marker has none. */
  fingerprint: string | null;
  tables: TableChecksum[];
  role?: 'source' | 'destination';
}

type Log = (line: string) => void;

/** Resolves the source and destination URLs for a profile, starting embedded clusters as needed. */
export async function resolveEndpoints(profile: Profile, opts: { sourceUrl?: string; destUrl?: string; log: Log }): Promise<BenchEndpoints> {
  const database = `rb_bench_${profile.name}`;
  const embedded = async (root: string): Promise<string> => {
    opts.log(`bench: starting embedded PostgreSQL in ${root}`);
    const info = await ensureCluster(root, { log: opts.log });
    await ensureDatabase(info, database);
    return clusterUrl(info, database);
  };
  const claimOurs = async (url: string, role: 'source' | 'destination'): Promise<void> => {
    const c = await connect(url);
    try {
      await claimDatabase(c, role, { ours: true }); // a database of our embedded cluster is ours
    } finally {
      await c.end().catch(() => {});
    }
  };
  const sourceUrl = opts.sourceUrl ?? (await embedded(EMBEDDED_SOURCE_ROOT));
  const destUrl = opts.destUrl ?? (await embedded(EMBEDDED_DEST_ROOT));
  if (!opts.sourceUrl) await claimOurs(sourceUrl, 'source');
  if (!opts.destUrl) await claimOurs(destUrl, 'destination');
  if (sameDatabase(sourceUrl, destUrl)) {
    throw new RbError('usage', `--source-url and --dest-url name the same database (${redact(sourceUrl)}): the destination tables are dropped before each run`);
  }
  return { sourceUrl, destUrl, sourceEmbedded: !opts.sourceUrl, destEmbedded: !opts.destUrl };
}

export function sameDatabase(a: string, b: string): boolean {
  const key = (u: string): string => {
    try {
      const url = new URL(u);
      return `${url.hostname || 'localhost'}:${url.port || '5432'}/${decodeURIComponent(url.pathname.replace(/^\//, ''))}`;
    } catch {
      return u;
    }
  };
  return key(a) === key(b);
}

async function readMarker(client: pg.Client): Promise<Marker | undefined> {
  const r = await client.query<{ c: string | null }>(
    `select shobj_description(oid, 'pg_database') as c from pg_database where datname = current_database()`,
  );
  const text = r.rows[0]?.c;
  if (!text?.startsWith(MARKER_PREFIX)) return undefined;
  try {
    return JSON.parse(text.slice(MARKER_PREFIX.length)) as Marker;
  } catch {
    return undefined;
  }
}

async function writeMarker(client: pg.Client, marker: Marker): Promise<void> {
  const db = (await client.query<{ d: string }>('select current_database() as d')).rows[0].d;
  const text = `${MARKER_PREFIX}${JSON.stringify(marker)}`;
  await client.query(`comment on database "${db.replace(/"/g, '""')}" is '${text.replace(/'/g, "''")}'`);
}

async function existingBenchTables(client: pg.Client): Promise<string[]> {
  const r = await client.query<{ t: string }>(
    `select c.relname as t from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relname = any($1) order by 1`,
    [ALL_BENCH_TABLES],
  );
  return r.rows.map((x) => `public.${x.t}`);
}

/**
 * The bench drops and creates public.events/orders/documents. Before it touches a database for the
 * first time, it makes sure no such table exists there that it did not create (a real table of the
 * same name in a database given by --source-url/--dest-url), then marks the database as its own.
 */
export async function claimDatabase(client: pg.Client, role: 'source' | 'destination', opts: { ours?: boolean } = {}): Promise<void> {
  if (await readMarker(client)) return;
  const found = opts.ours ? [] : await existingBenchTables(client);
  if (found.length) {
    const db = (await client.query<{ d: string }>('select current_database() as d')).rows[0].d;
    throw new RbError('usage', `the ${role} database '${db}' already has ${found.join(', ')}, not created by rb bench: point --${role === 'source' ? 'source' : 'dest'}-url at a database of its own (rb bench drops and recreates these tables)`);
  }
  await writeMarker(client, { fingerprint: null, tables: [], role });
}

async function tablesExist(client: pg.Client, profile: Profile): Promise<boolean> {
  for (const t of profile.tables) {
    const r = await client.query<{ ok: boolean }>('select to_regclass($1) is not null as ok', [`public.${t.table}`]);
    if (!r.rows[0].ok) return false;
  }
  return true;
}

/**
 * Makes sure the source holds the profile's data; generates it when missing, stale or when
 * `regenerate` is set. Returns the source checksums every destination is compared with.
 */
export async function ensureSourceData(url: string, profile: Profile, opts: { regenerate: boolean; log: Log }): Promise<SourceData> {
  const fingerprint = profileFingerprint(profile);
  const client = await connect(url);
  try {
    await claimDatabase(client, 'source');
    const marker = await readMarker(client);
    if (!opts.regenerate && marker?.fingerprint === fingerprint && (await tablesExist(client, profile))) {
      return { tables: marker.tables, generated: false };
    }
  } finally {
    await client.end().catch(() => {});
  }
  const started = performance.now();
  opts.log(`bench: generating profile '${profile.name}' (${profile.description}) in the source`);
  await generateProfile(url, profile, opts.log);
  opts.log('bench: checksumming the source');
  const tables = await checksumProfile(url, profile);
  const writer = await connect(url);
  try {
    await writeMarker(writer, { fingerprint, tables, role: 'source' }).catch((e: Error) => {
      opts.log(`bench: could not record the generated data (${e.message}); it will be generated again next time`);
    });
  } finally {
    await writer.end().catch(() => {});
  }
  return { tables, generated: true, generationSeconds: (performance.now() - started) / 1000 };
}

/** Drops every bench table, then creates and fills the profile's tables (id ranges in parallel). */
export async function generateProfile(url: string, profile: Profile, log: Log): Promise<void> {
  const admin = await connect(url);
  try {
    await admin.query(`drop table if exists ${ALL_BENCH_TABLES.map((t) => `public.${t}`).join(', ')} cascade`);
    for (const t of profile.tables) await admin.query(BENCH_TABLES[t.table].createSql);
  } finally {
    await admin.end().catch(() => {});
  }
  const workers = Math.max(1, Math.min(4, os.availableParallelism()));
  for (const t of profile.tables) {
    const def = BENCH_TABLES[t.table];
    const t0 = performance.now();
    await Promise.all(
      idChunks(t.rows, t.rows >= 50_000 ? workers : 1).map(async ([lo, hi]) => {
        const c = await connect(url);
        try {
          await c.query(SETSEED_SQL);
          await c.query(def.insertSql(lo, hi));
        } finally {
          await c.end().catch(() => {});
        }
      }),
    );
    const c = await connect(url);
    try {
      await c.query("set maintenance_work_mem to '512MB'");
      await c.query(def.primaryKeySql);
      // Freeze now so no contender pays for setting hint bits on its first read.
      await c.query(`vacuum (freeze, analyze) public.${t.table}`);
    } finally {
      await c.end().catch(() => {});
    }
    log(`bench:   ${t.table}: ${t.rows.toLocaleString('en-US')} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
}

/**
 * Empties the destination before a run: drops every bench table and creates the profile's tables
 * bare (no primary key, no index), the same for every contender. A CHECKPOINT first, so one
 * contender's dirty buffers are not flushed on the next one's time.
 */
export async function resetDestination(url: string, profile: Profile): Promise<void> {
  const c = await connect(url);
  try {
    await claimDatabase(c, 'destination');
    await c.query(`drop table if exists ${ALL_BENCH_TABLES.map((t) => `public.${t}`).join(', ')} cascade`);
    for (const t of profile.tables) await c.query(BENCH_TABLES[t.table].createSql);
    await c.query('checkpoint').catch(() => {}); // needs superuser or pg_checkpoint; only noise if missing
  } finally {
    await c.end().catch(() => {});
  }
}

export interface ServerInfo {
  version: string;
  versionNum: number;
}

export async function serverInfo(url: string): Promise<ServerInfo> {
  const c = await connect(url);
  try {
    const r = await c.query<{ v: string; n: string }>(`select current_setting('server_version') as v, current_setting('server_version_num') as n`);
    return { version: r.rows[0].v, versionNum: Number(r.rows[0].n) };
  } finally {
    await c.end().catch(() => {});
  }
}

/** One statement (or several, simple protocol) on a connection of its own: the small benches' setup and checks. */
export async function queryOnce(url: string, sql: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}
