/**
 * The rb contenders: `node engine/cli/bin.js run <pipeline.yaml> --json --parallelism <p>`, with a
 * pipeline generated per profile into the run's private directory (mode 600: it holds the URLs).
 * `rb`: one contender per parallelism value (`auto` always, plus any `--parallelism` given),
 * write_mode append into the empty bare tables, like every pipe. `rb-replace`: auto, write_mode
 * replace. `rb-upsert`: auto, write_mode upsert into a copy that already holds the source's rows with
 * its primary key (made untimed by `prepare`: the binary pipe, ADD PRIMARY KEY, then a change to a
 * given share of the rows, VACUUM and CHECKPOINT), so the run measures a re-sync: 0% changed, and 1%.
 *
 * Slowdown hook for the regression gate's test: RB_BENCH_SLOWDOWN_FACTOR=k (k >= 1) runs rb under
 * slow-wrapper.mjs, which keeps the measured process tree alive k times as long as rb took, so the
 * gate sees a real k-times slower wall time through the same measurement path. RB_BENCH_DELAY_MS
 * is passed through untouched to rb (the engine may honour it with a delay per batch).
 */
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import YAML from 'yaml';
import { RbError } from '../../engine/errors.js';
import { BENCH_TABLES } from '../tables.js';
import { libpqEnv, type Contender, type ContenderContext } from './contender.js';
import { psqlPipeScript } from './psql-pipe.js';
import { repoPath } from '../../engine/paths.js';

const execFileAsync = promisify(execFile);
const SLOW_WRAPPER = repoPath('bench', 'contenders', 'slow-wrapper.mjs');

export const RB_CLI_RELATIVE = path.join('engine', 'cli', 'bin.js');

/**
 * append: into the empty bare table the bench creates for every contender — the pipes' job.
 * replace: rb's atomic full refresh — staging table, primary key, swap — more work than any pipe.
 */
export type RbWriteMode = 'append' | 'replace' | 'upsert';

/** The pipeline rb runs for a profile (exported for the tests). */
export function rbPipelineYaml(ctx: Pick<ContenderContext, 'profile' | 'tables' | 'sourceUrl' | 'destUrl'>, writeMode: RbWriteMode = 'append'): string {
  return YAML.stringify({
    version: '1.0',
    pipeline: `bench_${ctx.profile.name}`,
    source: {
      use: 'postgres',
      config: { url: ctx.sourceUrl },
      // An upsert names each table's key (the first column: id, aid).
      streams: ctx.tables.map((t) => ({ name: `public.${t}`, sync_mode: 'full_refresh', ...(writeMode === 'upsert' ? { primary_key: [BENCH_TABLES[t].columns[0]] } : {}) })),
    },
    destination: {
      use: 'postgres',
      config: { url: ctx.destUrl, schema: 'public' },
      write_mode: writeMode,
    },
  });
}

/** RB_BENCH_SLOWDOWN_FACTOR as a number >= 1 (1 = off). */
export function slowdownFactor(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.RB_BENCH_SLOWDOWN_FACTOR;
  if (raw === undefined || raw === '') return 1;
  const f = Number(raw);
  if (!Number.isFinite(f) || f < 1) throw new RbError('usage', `RB_BENCH_SLOWDOWN_FACTOR: expected a number >= 1, found '${raw}'`);
  return f;
}

/** Telemetry kept from rb's --json summary: parallelism, native/fallback mode, per-stream shards. */
export function parseRbSummary(stdout: string): Record<string, unknown> | undefined {
  const text = stdout.trim();
  let doc: Record<string, unknown> | undefined;
  for (const candidate of [text, text.slice(text.lastIndexOf('\n{') + 1)]) {
    try {
      const parsed = JSON.parse(candidate) as unknown;
      if (parsed && typeof parsed === 'object') {
        doc = parsed as Record<string, unknown>;
        break;
      }
    } catch {
      /* try the next form */
    }
  }
  if (!doc) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) {
    if (/^(parallelism_|native|codec|phases_ms$|status$|duration_ms$|rows_written$|bytes_written$)/.test(k)) out[k] = v;
  }
  if (Array.isArray(doc.streams)) {
    out.streams = (doc.streams as Array<Record<string, unknown>>).map((s) => ({ name: s.name, rows: s.rows, shards: s.shards, shard_kind: s.shard_kind, format: s.format, duration_ms: s.duration_ms }));
  }
  return out;
}

/** `rb --version` (it says whether the native addon or the TypeScript fallback is in use). */
export async function rbVersion(repoRoot: string): Promise<{ text: string; nativeMode: 'native' | 'fallback' | 'unknown' } | undefined> {
  const bin = path.join(repoRoot, RB_CLI_RELATIVE);
  if (!existsSync(bin)) return undefined;
  try {
    const { stdout } = await execFileAsync(process.execPath, [bin, '--version'], { cwd: repoRoot, timeout: 60_000 });
    const text = stdout.trim();
    // e.g. "rb 0.1.0 (codecs: native — addon 0.1.0 loaded from ...)" or "(codecs: fallback ...)".
    const said = /codecs:\s*(\w+)/i.exec(text)?.[1]?.toLowerCase() ?? text.toLowerCase();
    const nativeMode = /fallback|typescript/.test(said) ? 'fallback' : /native/.test(said) ? 'native' : 'unknown';
    return { text, nativeMode };
  } catch {
    return undefined;
  }
}

/**
 * An upsert's existing copy: the source's rows in the destination with the primary key, then the
 * first column after the key bumped in every (1/changedShare)-th row, so the run has that share to
 * change back. Vacuumed and checkpointed, so the timed run flushes nothing of the set-up.
 */
async function prepareUpsertCopy(ctx: ContenderContext, changedPercent: number): Promise<void> {
  await execFileAsync('bash', ['-c', psqlPipeScript(ctx.tables, 'binary', { primaryKey: true })], {
    env: { ...libpqEnv(ctx), RB_SRC: ctx.sourceUrlNoPassword, RB_DST: ctx.destUrlNoPassword },
    maxBuffer: 1 << 20,
  });
  const c = new pg.Client({ connectionString: ctx.destUrl });
  await c.connect();
  try {
    for (const t of ctx.tables) {
      const [key, , col] = BENCH_TABLES[t].columns; // accounts: aid, bid, abalance
      if (changedPercent > 0) {
        const every = Math.round(100 / changedPercent);
        await c.query(`update public.${t} set ${col} = ${col} + 1 where ${key} % ${every} = 0`);
      }
      await c.query(`vacuum (analyze) public.${t}`);
    }
    await c.query('checkpoint');
  } finally {
    await c.end();
  }
}

export function rbContender(parallelism: string, writeMode: RbWriteMode = 'append', opts: { changedPercent?: number } = {}): Contender {
  const replace = writeMode === 'replace';
  const upsert = writeMode === 'upsert';
  const changed = opts.changedPercent ?? 0;
  const p = parallelism === 'auto' ? 'auto' : `p=${parallelism}`;
  return {
    id: upsert ? `rb-upsert:${changed}%` : `${replace ? 'rb-replace' : 'rb'}:${parallelism}`,
    label: upsert ? `rb upsert, ${changed}% changed (${p})` : replace ? `rb replace (${p})` : `rb (${p})`,
    kind: upsert ? 'rb-upsert' : replace ? 'rb-replace' : 'rb',
    ...(upsert ? { prepare: (ctx: ContenderContext) => prepareUpsertCopy(ctx, changed) } : {}),
    async unavailableReason(ctx) {
      const bin = path.join(ctx.repoRoot, RB_CLI_RELATIVE);
      if (!existsSync(bin)) return `the rb CLI is missing (${RB_CLI_RELATIVE})`;
      return (await rbVersion(ctx.repoRoot)) ? undefined : `'node ${RB_CLI_RELATIVE} --version' fails`;
    },
    async command(ctx) {
      const file = path.join(ctx.workDir, `pipeline-${ctx.profile.name}-${writeMode}.yaml`);
      writeFileSync(file, rbPipelineYaml(ctx, writeMode), { mode: 0o600 });
      const rbArgs = [path.join(ctx.repoRoot, RB_CLI_RELATIVE), 'run', file, '--json', '--parallelism', parallelism];
      const factor = slowdownFactor();
      return factor > 1
        ? { command: process.execPath, args: [SLOW_WRAPPER, String(factor), process.execPath, ...rbArgs], env: process.env }
        : { command: process.execPath, args: rbArgs, env: process.env };
    },
    async info(ctx) {
      const v = await rbVersion(ctx.repoRoot);
      return v ? { version: v.text, native_mode: v.nativeMode } : undefined;
    },
    parseOutput: parseRbSummary,
  };
}
