/**
 * pgcopydb contender: `pgcopydb copy table-data` (data only; the destination tables already exist,
 * bare). Skipped when pgcopydb is not installed. Debian 12's pgcopydb 0.10 declares support up to
 * PostgreSQL 15; against a newer server it still runs, so we try it and, when it fails there, report
 * it as skipped for incompatibility (with its error) rather than as a failed contender. Wrong data
 * is always a failure.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { libpqEnv, type Contender, type ContenderContext } from './contender.js';

const execFileAsync = promisify(execFile);

export interface PgcopydbVersion {
  version: string;
  /** Highest PostgreSQL major it declares itself compatible with, when it says so. */
  maxServerMajor?: number;
}

/** Parses `pgcopydb --version` ("pgcopydb version 0.10-1 ... compatible with Postgres 10, ..., and 15"). */
export function parsePgcopydbVersion(text: string): PgcopydbVersion | undefined {
  const v = /pgcopydb version (\S+)/.exec(text);
  if (!v) return undefined;
  const compat = /compatible with Postgres ([\d, and]+)/i.exec(text);
  const majors = compat ? (compat[1].match(/\d+/g) ?? []).map(Number) : [];
  return { version: v[1], maxServerMajor: majors.length ? Math.max(...majors) : undefined };
}

let cached: Promise<PgcopydbVersion | undefined> | undefined;

export function pgcopydbVersion(): Promise<PgcopydbVersion | undefined> {
  cached ??= execFileAsync('pgcopydb', ['--version'], { env: { ...process.env, PGCOPYDB_LOG_LEVEL: 'error' } })
    .then(({ stdout, stderr }) => parsePgcopydbVersion(`${stdout}\n${stderr}`))
    .catch(() => undefined);
  return cached;
}

/** Why a failed pgcopydb run counts as "skipped: incompatible" (undefined: it is a plain failure). */
export async function pgcopydbIncompatibility(serverMajor: number, stderr: string): Promise<string | undefined> {
  const v = await pgcopydbVersion();
  if (!v?.maxServerMajor || serverMajor <= v.maxServerMajor) return undefined;
  const errLine = stderr.split('\n').filter((l) => /ERROR|FATAL/.test(l)).pop()?.trim() ?? 'it failed';
  return `pgcopydb ${v.version} supports PostgreSQL up to ${v.maxServerMajor} and failed against the PostgreSQL ${serverMajor} server: ${errLine}`;
}

let runCounter = 0;

export function pgcopydbContender(): Contender {
  return {
    id: 'pgcopydb',
    label: 'pgcopydb',
    kind: 'pgcopydb',
    async unavailableReason() {
      return (await pgcopydbVersion()) ? undefined : 'pgcopydb is not installed (Debian: apt-get install pgcopydb)';
    },
    async info() {
      const v = await pgcopydbVersion();
      return v ? { version: v.version, declared_max_server_major: v.maxServerMajor } : undefined;
    },
    async note(ctx) {
      const v = await pgcopydbVersion();
      return v?.maxServerMajor && ctx.sourceMajor > v.maxServerMajor
        ? `pgcopydb ${v.version} declares support up to PostgreSQL ${v.maxServerMajor}; it ran against ${ctx.sourceMajor}`
        : undefined;
    },
    async command(ctx: ContenderContext) {
      const dir = path.join(ctx.workDir, `pgcopydb-${++runCounter}`);
      mkdirSync(dir, { recursive: true });
      const filters = path.join(dir, 'filters.ini');
      writeFileSync(filters, `[include-only-table]\n${ctx.tables.map((t) => `public.${t}`).join('\n')}\n`);
      const jobs = Math.max(1, Math.min(4, os.availableParallelism()));
      return {
        command: 'pgcopydb',
        args: ['copy', 'table-data', '--source', ctx.sourceUrlNoPassword, '--target', ctx.destUrlNoPassword, '--dir', path.join(dir, 'work'), '--table-jobs', String(jobs), '--filters', filters],
        env: libpqEnv(ctx),
      };
    },
  };
}
