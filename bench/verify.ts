/**
 * Destination verification: every contender's copy is checked against the source with a row count
 * and an order-independent checksum, so a contender that copies wrong data is reported as failed
 * instead of timed (issue point 2).
 *
 * The checksum is `sum(hashtextextended(row(cols)::text, seed))` over the rows: one 64-bit hash per
 * row, summed as numeric (no overflow), so it costs one pass and no sort, even at 10M rows. The row
 * text lists the columns by name, so a destination whose columns are in another order still
 * matches; the session settings that shape text output (time zone, date style, float digits) are
 * pinned so both sides render values identically.
 */
import pg from 'pg';
import type { Profile } from './profiles.js';
import { BENCH_TABLES, type BenchTableName } from './tables.js';

export interface TableChecksum {
  table: BenchTableName;
  rows: number;
  /** Sum of per-row 64-bit hashes, as a decimal string. */
  checksum: string;
  /** Bytes of the rows' text form: the same for every contender, so it is what MB/s divides. */
  textBytes: number;
}

export interface VerifyOutcome {
  ok: boolean;
  /** One line per mismatch, naming the table and both figures. */
  problems: string[];
}

const CHECKSUM_SEED = 7;

export const PIN_OUTPUT_SETTINGS_SQL = [
  "set timezone to 'UTC'",
  "set datestyle to 'ISO, MDY'",
  "set intervalstyle to 'postgres'",
  'set extra_float_digits to 1',
  "set bytea_output to 'hex'",
].join('; ');

const quoteIdent = (s: string): string => `"${s.replace(/"/g, '""')}"`;

export function checksumSql(table: BenchTableName): string {
  const cols = BENCH_TABLES[table].columns.map(quoteIdent).join(', ');
  return `select count(*)::bigint as rows,
  coalesce(sum(hashtextextended(r, ${CHECKSUM_SEED})), 0)::text as checksum,
  coalesce(sum(octet_length(r)), 0)::bigint as text_bytes
from (select row(${cols})::text as r from public.${quoteIdent(table)} offset 0) s`;
}

export async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'rb-bench' });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** Checksums one table; undefined when the table does not exist. */
export async function checksumTable(client: pg.Client, table: BenchTableName): Promise<TableChecksum | undefined> {
  await client.query(PIN_OUTPUT_SETTINGS_SQL);
  const exists = await client.query<{ ok: boolean }>('select to_regclass($1) is not null as ok', [`public.${table}`]);
  if (!exists.rows[0].ok) return undefined;
  const r = await client.query<{ rows: string; checksum: string; text_bytes: string }>(checksumSql(table));
  return { table, rows: Number(r.rows[0].rows), checksum: r.rows[0].checksum, textBytes: Number(r.rows[0].text_bytes) };
}

export async function checksumProfile(url: string, profile: Profile): Promise<TableChecksum[]> {
  const client = await connect(url);
  try {
    const out: TableChecksum[] = [];
    for (const t of profile.tables) {
      const c = await checksumTable(client, t.table);
      if (!c) throw new Error(`table public.${t.table} does not exist`);
      out.push(c);
    }
    return out;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Compares measured checksums with the expected ones (pure; the unit under test). */
export function compareChecksums(expected: readonly TableChecksum[], found: ReadonlyArray<TableChecksum | undefined>): VerifyOutcome {
  const problems: string[] = [];
  expected.forEach((e, i) => {
    const f = found[i];
    if (!f) {
      problems.push(`public.${e.table}: missing in the destination`);
      return;
    }
    if (f.rows !== e.rows) problems.push(`public.${e.table}: ${f.rows} rows, expected ${e.rows}`);
    else if (f.checksum !== e.checksum) problems.push(`public.${e.table}: checksum ${f.checksum}, expected ${e.checksum} (same row count, different data)`);
  });
  return { ok: problems.length === 0, problems };
}

/** Verifies the destination against the source's checksums. */
export async function verifyDestination(destUrl: string, expected: readonly TableChecksum[]): Promise<VerifyOutcome> {
  const client = await connect(destUrl);
  try {
    const found: Array<TableChecksum | undefined> = [];
    for (const e of expected) found.push(await checksumTable(client, e.table));
    return compareChecksums(expected, found);
  } finally {
    await client.end().catch(() => {});
  }
}
