/**
 * pg_dump | pg_restore contender: `pg_dump -Fc --data-only -t public.<table> | pg_restore
 * --data-only` into the bare destination table, table after table: how people move a table with
 * PostgreSQL's own tools. pg_dump refuses a server newer than itself, so it is skipped, with both
 * versions named, when the installed client is older than the source (Debian 12's pg_dump is 15).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { BenchTableName } from '../tables.js';
import { libpqEnv, shellQuote, type Contender, type ContenderContext } from './contender.js';

const execFileAsync = promisify(execFile);

/** `pg_dump --version` → "pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)" and its major. */
async function pgDumpVersion(): Promise<{ text: string; major: number } | undefined> {
  try {
    const [dump, restore] = await Promise.all([execFileAsync('pg_dump', ['--version']), execFileAsync('pg_restore', ['--version'])]);
    const major = Number(/\) (\d+)/.exec(dump.stdout)?.[1]);
    return Number.isFinite(major) && restore.stdout ? { text: dump.stdout.trim(), major } : undefined;
  } catch {
    return undefined;
  }
}

/** The shell script (exported for the tests; URLs come from $RB_SRC / $RB_DST). */
export function pgDumpScript(tables: readonly BenchTableName[]): string {
  const lines = tables.map((t) => `pg_dump -Fc --data-only -t ${shellQuote(`public.${t}`)} -d "$RB_SRC" | pg_restore --data-only --exit-on-error -d "$RB_DST"`);
  return ['set -euo pipefail', ...lines].join('\n');
}

export function pgDumpContender(): Contender {
  return {
    id: 'pg-dump',
    label: 'pg_dump | pg_restore',
    kind: 'pg-dump',
    async unavailableReason(ctx: ContenderContext) {
      const v = await pgDumpVersion();
      if (!v) return 'pg_dump and pg_restore are not installed (Debian: apt-get install postgresql-client)';
      if (v.major < ctx.sourceMajor) return `${v.text} cannot dump a PostgreSQL ${ctx.sourceMajor} server (pg_dump must be at least the server's version)`;
      return undefined;
    },
    async info() {
      const v = await pgDumpVersion();
      return v ? { version: v.text } : undefined;
    },
    async command(ctx: ContenderContext) {
      return { command: 'bash', args: ['-c', pgDumpScript(ctx.tables)], env: { ...libpqEnv(ctx), RB_SRC: ctx.sourceUrlNoPassword, RB_DST: ctx.destUrlNoPassword } };
    },
  };
}
