/**
 * The raw psql pipes: `psql -c "COPY t TO STDOUT (FORMAT binary)" | psql -c "COPY t FROM STDIN
 * (FORMAT binary)"`, one table after the other in one shell, as a user scripts it by hand. The
 * binary pipe is the single-stream physical limit every ratio is measured against; the text pipe
 * is the same with the default text format. The pipe + primary key adds, after each table,
 * `ALTER TABLE … ADD PRIMARY KEY` on the destination: what `pg_dump | psql` does, and what rb's
 * replace (which builds the key too) is measured against.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { CopyFormat } from '../../connectors/contract/domain.js';
import { BENCH_TABLES, type BenchTableName } from '../tables.js';
import { libpqEnv, shellQuote, type Contender, type ContenderContext } from './contender.js';

const execFileAsync = promisify(execFile);

/** The shell script for the pipe (exported for the tests; URLs come from $RB_SRC / $RB_DST). */
export function psqlPipeScript(tables: readonly BenchTableName[], format: CopyFormat, opts: { primaryKey?: boolean } = {}): string {
  const fmt = format === 'binary' ? ' (FORMAT binary)' : '';
  const psql = 'psql -X -q -v ON_ERROR_STOP=1';
  const lines = tables.flatMap((t) => {
    const out = shellQuote(`COPY public.${t} TO STDOUT${fmt}`);
    const into = shellQuote(`COPY public.${t} FROM STDIN${fmt}`);
    const pipe = `${psql} -d "$RB_SRC" -c ${out} | ${psql} -d "$RB_DST" -c ${into}`;
    return opts.primaryKey ? [pipe, `${psql} -d "$RB_DST" -c ${shellQuote(BENCH_TABLES[t].primaryKeySql)}`] : [pipe];
  });
  return ['set -euo pipefail', ...lines].join('\n');
}

export async function psqlVersion(): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync('psql', ['--version']);
    return stdout.trim();
  } catch {
    return undefined;
  }
}

export function psqlPipeContender(format: CopyFormat, opts: { primaryKey?: boolean } = {}): Contender {
  const pk = opts.primaryKey === true;
  return {
    id: pk ? `psql-${format}-pk` : `psql-${format}`,
    label: pk ? `psql ${format} pipe + ADD PRIMARY KEY` : `psql ${format} pipe`,
    kind: pk ? 'psql-binary-pk' : format === 'binary' ? 'psql-binary' : 'psql-text',
    async unavailableReason() {
      return (await psqlVersion()) ? undefined : 'psql is not installed (Debian: apt-get install postgresql-client)';
    },
    async info() {
      const v = await psqlVersion();
      return v ? { version: v } : undefined;
    },
    async command(ctx: ContenderContext) {
      return {
        command: 'bash',
        args: ['-c', psqlPipeScript(ctx.tables, format, opts)],
        env: { ...libpqEnv(ctx), RB_SRC: ctx.sourceUrlNoPassword, RB_DST: ctx.destUrlNoPassword },
      };
    },
  };
}
