/**
 * What a contender is: a command the bench spawns (and measures as a process tree) to copy the
 * profile's tables from the source to the empty destination tables. Each contender file exports a
 * factory; `contenders/index.ts` builds the list for a run.
 */
import type { Profile } from '../profiles.js';
import type { BenchTableName } from '../tables.js';

export type ContenderKind = 'rb' | 'rb-replace' | 'rb-upsert' | 'psql-binary' | 'psql-binary-pk' | 'psql-text' | 'pg-dump' | 'pgcopydb' | 'node-pipe';

/**
 * `rb` does the pipes' job: append into the empty bare destination table every contender gets.
 * `rb-replace` does more than any pipe: write_mode replace (staging table, primary key built,
 * one-transaction swap), so users see what the atomic full refresh costs. `rb-upsert` upserts into
 * a copy that already holds the rows (unchanged, and with 1% of them changed): the re-sync case.
 * `psql-binary-pk` is the pipe followed by `ALTER TABLE … ADD PRIMARY KEY`, what replace must beat.
 */
export const CONTENDER_KINDS: readonly ContenderKind[] = ['rb', 'rb-replace', 'rb-upsert', 'psql-binary', 'psql-binary-pk', 'psql-text', 'pg-dump', 'pgcopydb', 'node-pipe'];

/** The contenders of a profile that names none, and of `--contenders` left out. */
export const DEFAULT_CONTENDER_KINDS: readonly ContenderKind[] = ['rb', 'rb-replace', 'psql-binary', 'psql-text', 'pgcopydb', 'node-pipe'];

/** rb's contenders (their runs carry rb's telemetry). */
export const isRbKind = (kind: string): boolean => kind === 'rb' || kind === 'rb-replace' || kind === 'rb-upsert';

/** The reference every ratio divides by: the single-stream physical limit. */
export const REFERENCE_KIND: ContenderKind = 'psql-binary';

export interface ContenderContext {
  profile: Profile;
  tables: BenchTableName[];
  sourceUrl: string;
  destUrl: string;
  /** Server major version of the source (e.g. 18). */
  sourceMajor: number;
  /** A private directory for this run's files (pipeline YAML, pgpass, pgcopydb work dir). */
  workDir: string;
  /** libpq password file covering both URLs (mode 600), for psql and pgcopydb. */
  pgpassFile: string;
  /** The URLs without passwords (the password is in pgpassFile), for command lines. */
  sourceUrlNoPassword: string;
  destUrlNoPassword: string;
  /** The repository root (where engine/ and bench/ live). */
  repoRoot: string;
}

export interface ContenderCommand {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

export interface Contender {
  /** Stable id used in JSON and baselines, e.g. `rb:auto`, `psql-binary`. */
  id: string;
  /** Display name, e.g. `rb (auto)`. */
  label: string;
  kind: ContenderKind;
  /** Undefined when it can run; otherwise why it is skipped ("pgcopydb is not installed"). */
  unavailableReason(ctx: ContenderContext): Promise<string | undefined>;
  /**
   * Untimed set-up after the destination's tables were made empty and bare, before the timed run
   * (an upsert's existing copy). The verification after the run is the same as for every contender.
   */
  prepare?(ctx: ContenderContext): Promise<void>;
  /** The command for one run. Called once per run (it may write files into ctx.workDir). */
  command(ctx: ContenderContext): Promise<ContenderCommand>;
  /** Version and mode facts for the report, asked once per profile. */
  info?(ctx: ContenderContext): Promise<Record<string, unknown> | undefined>;
  /** A caveat printed under the table (e.g. a client older than the server). */
  note?(ctx: ContenderContext): Promise<string | undefined>;
  /** Extracts telemetry from a successful run's stdout (rb's --json summary). */
  parseOutput?(stdout: string): Record<string, unknown> | undefined;
}

/** libpq environment for the spawned clients: the password file, and no stray PG* settings. */
export function libpqEnv(ctx: ContenderContext): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  env.PGPASSFILE = ctx.pgpassFile;
  env.PGAPPNAME = 'rb-bench';
  return env;
}

export const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
