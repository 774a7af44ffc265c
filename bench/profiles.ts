/**
 * Bench profiles (issue: `rb bench --profile small|medium|large`). A profile is a set of tables
 * with row counts; the data itself is defined in `tables.ts`. `tiny` exists for the test suite
 * (the gate's integration test) and is not listed in `--help`.
 */
import { createHash } from 'node:crypto';
import { RbError } from '../engine/errors.js';
import type { ContenderKind } from './contenders/contender.js';
import { BENCH_SEED, BENCH_TABLES, type BenchTableName } from './tables.js';

export type ProfileName = 'tiny' | 'small' | 'narrow' | 'medium' | 'large';

export interface ProfileTable {
  table: BenchTableName;
  rows: number;
}

export interface Profile {
  name: ProfileName;
  tables: readonly ProfileTable[];
  /** Upper bound for one contender run; a run past it is killed and the contender fails. */
  runTimeoutMs: number;
  /** Hidden from help output (test-only profiles). */
  hidden: boolean;
  description: string;
  /** The contenders run when `--contenders` is not given (default: DEFAULT_CONTENDER_KINDS). */
  contenders?: readonly ContenderKind[];
}

export const PROFILES: Record<ProfileName, Profile> = {
  tiny: {
    name: 'tiny',
    tables: [{ table: 'events', rows: 20_000 }],
    runTimeoutMs: 2 * 60_000,
    hidden: true,
    description: '20k events (~10 MB) — for tests',
  },
  small: {
    name: 'small',
    tables: [{ table: 'events', rows: 200_000 }],
    runTimeoutMs: 10 * 60_000,
    hidden: false,
    description: '200k events (~100 MB)',
  },
  narrow: {
    name: 'narrow',
    tables: [{ table: 'accounts', rows: 1_000_000 }],
    runTimeoutMs: 10 * 60_000,
    hidden: false,
    description: "1M pgbench_accounts-shaped rows (~130 MB): a first try's table, where fixed costs show",
    // What a user's first try compares: append vs the pipe, replace vs the pipe + ADD PRIMARY KEY,
    // pg_dump | pg_restore, pgcopydb, and upserts of an unchanged and a 1%-changed copy.
    contenders: ['rb', 'rb-replace', 'rb-upsert', 'psql-binary', 'psql-binary-pk', 'pg-dump', 'pgcopydb'],
  },
  medium: {
    name: 'medium',
    tables: [
      { table: 'events', rows: 2_000_000 },
      { table: 'orders', rows: 200_000 },
    ],
    runTimeoutMs: 30 * 60_000,
    hidden: false,
    description: '2M events + 200k orders (~1.3 GB)',
  },
  large: {
    name: 'large',
    tables: [
      { table: 'events', rows: 10_000_000 },
      { table: 'documents', rows: 50_000 },
    ],
    runTimeoutMs: 3 * 60 * 60_000,
    hidden: false,
    description: '10M events + 50k TOASTed documents (~6 GB)',
  },
};

export const PUBLIC_PROFILE_NAMES: readonly ProfileName[] = (Object.keys(PROFILES) as ProfileName[]).filter((n) => !PROFILES[n].hidden);

/** Parses `--profile small` or `--profile small,medium`. */
export function parseProfiles(value: string): Profile[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new RbError('usage', `--profile: expected one of ${PUBLIC_PROFILE_NAMES.join('|')}, found an empty value`);
  const out: Profile[] = [];
  for (const n of names) {
    if (!(n in PROFILES)) throw new RbError('usage', `--profile: expected one of ${PUBLIC_PROFILE_NAMES.join('|')}, found '${n}'`);
    const p = PROFILES[n as ProfileName];
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

export function profileRows(profile: Profile): number {
  return profile.tables.reduce((sum, t) => sum + t.rows, 0);
}

/**
 * Identifies the generated data: profile, row counts and the generation SQL itself. Stored with the
 * data in the source; a different fingerprint means the data must be generated again.
 */
export function profileFingerprint(profile: Profile): string {
  const h = createHash('sha256');
  h.update(`seed=${BENCH_SEED};profile=${profile.name}`);
  for (const t of profile.tables) {
    const def = BENCH_TABLES[t.table];
    h.update(`|${t.table}:${t.rows}|${def.createSql}|${def.insertSql(1, t.rows)}|${def.primaryKeySql}`);
  }
  return h.digest('hex').slice(0, 16);
}

/** Splits 1..rows into `parts` contiguous inclusive id ranges (generation runs them concurrently). */
export function idChunks(rows: number, parts: number): Array<[number, number]> {
  const n = Math.max(1, Math.min(parts, rows));
  const out: Array<[number, number]> = [];
  const span = Math.ceil(rows / n);
  for (let lo = 1; lo <= rows; lo += span) out.push([lo, Math.min(rows, lo + span - 1)]);
  return out;
}
