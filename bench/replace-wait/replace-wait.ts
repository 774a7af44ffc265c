/**
 * How long a reader of a replace target waits during a replace (issue 12 item 4; goal < 100 ms for
 * 1M rows), and what the replace run takes in all, for two builds of rb side by side (A/B).
 *
 *   npx tsx bench/replace-wait/replace-wait.ts --build before=/tmp/rb-before --build after=. [--rows 1000000] [--rounds 3] [--variants plain,quiet,attached] [--json out.json]
 *
 * Each --build is a checkout of rb (its dist/ is compiled first when stale; node_modules and the
 * native addon as in the README). One embedded cluster of its own (`.rb/replace-wait`), databases
 * `rw_src` (the table `rw_items`: bigint id primary key, a 64-character text, an int, generated
 * once) and `rw_dst`. The target is the previous replace's table plus a secondary index on n (what
 * every build carries). Per round and build, order alternating:
 *
 *   plain      `rb run --json` (node <build>/engine/cli/bin.js, never npx) of a replace of the
 *              whole table, timed from outside, while a reader on its own connection runs
 *              `select v from rw_items where id = $1` (random id) back to back; reported: the
 *              reader's longest lock wait as the server logs it (log_lock_waits with
 *              deadlock_timeout 1 ms in the reader's session: "acquired AccessShareLock … after
 *              N ms"), its longest query as the client sees it (that includes the machine's
 *              scheduling noise), how many took over 10 ms, its errors, and the run's time
 *   quiet      the same replace without the reader (the run's own time: a reader that is not
 *              blocked takes CPU from the run on a small machine)
 *   attached   the same with a dependent view, a grant, a comment and an RLS policy on the target
 *              (only for builds that keep them: a build whose swap drops the table fails here,
 *              which is reported as such)
 *
 * Reported as medians over the rounds; nothing is asserted.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { clusterUrl, ensureCluster, ensureDatabase } from '../../engine/embedded/cluster.js';
import { buildJs } from '../../engine/install/build-js.mjs';
import { distIsCurrent } from '../../engine/install/build-stamp.mjs';
import { REPO_ROOT } from '../runner.js';

const log = (line: string) => process.stderr.write(`${line}\n`);
const TABLE = 'rw_items';
const READER_ROLE = 'rw_reader';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function query(url: string, sql: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

function pipeline(srcUrl: string, dstUrl: string): string {
  return `version: "1.0"
pipeline: replace_wait
source:
  use: postgres
  config: { url: "${srcUrl}" }
  streams:
    - name: public.${TABLE}
destination:
  use: postgres
  config: { url: "${dstUrl}" }
  write_mode: replace
`;
}

/** `rb run --json` of `build` (async: the reader keeps running on this thread meanwhile). */
function runRb(build: string, file: string): Promise<{ ms: number; code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [path.join(build, 'engine/cli/bin.js'), 'run', file, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => resolve({ ms: performance.now() - t0, code, out, err }));
  });
}

interface ReaderStats {
  /** The reader's longest lock wait as the server logged it ("acquired AccessShareLock … after N ms"). */
  lockWaitMs: number;
  queries: number;
  maxMs: number;
  over10: number;
  errors: string[];
}

/** Point reads of the target back to back until `stop()`; each query's time from send to answer. */
function startReader(url: string, rows: number): { stop: () => Promise<ReaderStats> } {
  const stats: ReaderStats = { lockWaitMs: 0, queries: 0, maxMs: 0, over10: 0, errors: [] };
  let running = true;
  const done = (async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    // The server logs how long each of this session's lock waits took, once it is over 1 ms.
    await c.query(`set deadlock_timeout = '1ms'; set log_lock_waits = on`);
    while (running) {
      const id = 1 + Math.floor(Math.random() * rows);
      const t0 = performance.now();
      try {
        await c.query({ text: `select v from ${TABLE} where id = $1`, values: [id] });
      } catch (e) {
        if (stats.errors.length < 5) stats.errors.push(e instanceof Error ? e.message : String(e));
      }
      const ms = performance.now() - t0;
      stats.queries++;
      if (ms > stats.maxMs) stats.maxMs = ms;
      if (ms > 10) stats.over10++;
    }
    await c.end();
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return stats;
    },
  };
}

/** The longest "acquired … after N ms" the server logged since byte `from` of its log. */
function longestLockWait(logFile: string, from: number): number {
  const size = statSync(logFile).size;
  const buf = Buffer.alloc(Math.max(0, size - from));
  const fd = openSync(logFile, 'r');
  try {
    readSync(fd, buf, 0, buf.length, from);
  } finally {
    closeSync(fd);
  }
  let longest = 0;
  for (const m of buf.toString('utf8').matchAll(/acquired AccessShareLock on relation .*? after ([\d.]+) ms/g)) longest = Math.max(longest, Number(m[1]));
  return longest;
}

async function attach(dstUrl: string): Promise<void> {
  await query(
    dstUrl,
    `do $$ begin if not exists (select 1 from pg_roles where rolname = '${READER_ROLE}') then create role ${READER_ROLE}; end if; end $$;
     grant select on ${TABLE} to ${READER_ROLE};
     comment on table ${TABLE} is 'kept by replace';
     alter table ${TABLE} enable row level security;
     drop policy if exists even_only on ${TABLE};
     create policy even_only on ${TABLE} for select to ${READER_ROLE} using (n % 2 = 0);
     create or replace view ${TABLE}_even as select id, v from ${TABLE} where n % 2 = 0;`,
  );
}

async function detach(dstUrl: string): Promise<void> {
  await query(dstUrl, `drop view if exists ${TABLE}_even; drop policy if exists even_only on ${TABLE}; alter table ${TABLE} disable row level security; comment on table ${TABLE} is null`);
}

type Variant = 'plain' | 'quiet' | 'attached';

interface Sample {
  build: string;
  variant: Variant;
  ms: number;
  finishMs: number | null;
  phases: Record<string, number> | null;
  reader: ReaderStats;
  failed: string | null;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { build: { type: 'string', multiple: true }, rows: { type: 'string', default: '1000000' }, rounds: { type: 'string', default: '3' }, variants: { type: 'string', default: 'plain,quiet,attached' }, json: { type: 'string' } } });
  const builds = (values.build ?? [`current=${REPO_ROOT}`]).map((b) => {
    const [name, dir] = b.includes('=') ? [b.slice(0, b.indexOf('=')), b.slice(b.indexOf('=') + 1)] : [b, b];
    return { name, dir: path.resolve(dir) };
  });
  const rows = Number(values.rows);
  const variants = values.variants.split(',') as Variant[];
  for (const v of variants) if (!['plain', 'quiet', 'attached'].includes(v)) throw new Error(`--variants: plain, quiet or attached, found ${v}`);
  const rounds = Number(values.rounds);
  for (const b of builds) {
    if (!existsSync(path.join(b.dir, 'engine/cli/bin.js'))) throw new Error(`--build ${b.name}: ${b.dir} is not a checkout of rb`);
    if (!distIsCurrent(b.dir)) {
      log(`bench: compiling ${b.name} (${b.dir})`);
      await buildJs({ quiet: true, root: b.dir });
    }
  }
  const info = await ensureCluster(path.join(REPO_ROOT, '.rb/replace-wait'), { log });
  await ensureDatabase(info, 'rw_src');
  await ensureDatabase(info, 'rw_dst');
  const logFile = path.join(REPO_ROOT, '.rb/replace-wait/server.log');
  const srcUrl = clusterUrl(info, 'rw_src');
  const dstUrl = clusterUrl(info, 'rw_dst');
  const have = await query(srcUrl, `select coalesce((select reltuples::int8 from pg_class where oid = to_regclass('public.${TABLE}')), -1) as n`);
  if (Math.abs(Number(have.rows[0].n) - rows) > rows * 0.01) {
    log(`bench: generating ${rows} rows`);
    await query(srcUrl, `drop table if exists ${TABLE}; create table ${TABLE} (id bigint primary key, v text not null, n int not null)`);
    await query(srcUrl, `insert into ${TABLE} select g, md5(g::text) || md5((g * 7)::text), g % 1000 from generate_series(1, ${rows}) g`);
    await query(srcUrl, `vacuum analyze ${TABLE}`);
  }
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'rb-replace-wait-')), 'replace.yaml');
  writeFileSync(file, pipeline(srcUrl, dstUrl));
  await query(dstUrl, `drop view if exists ${TABLE}_even; drop table if exists ${TABLE}; drop schema if exists _rb cascade`);
  log('bench: first replace (creates the target; not timed)');
  const first = await runRb(builds[0].dir, file);
  if (first.code !== 0) throw new Error(`first run failed: ${first.err}`);
  await query(dstUrl, `create index if not exists ${TABLE}_n_idx on ${TABLE} (n)`);

  const samples: Sample[] = [];
  const measure = async (build: { name: string; dir: string }, variant: Variant) => {
    await query(dstUrl, `vacuum analyze ${TABLE}`);
    await query(dstUrl, 'checkpoint');
    if (variant === 'attached') await attach(dstUrl);
    const logStart = statSync(logFile).size;
    const reader = variant === 'quiet' ? null : startReader(dstUrl, rows);
    if (reader) await new Promise((r) => setTimeout(r, 200));
    const run = await runRb(build.dir, file);
    const stats = reader ? await reader.stop() : { lockWaitMs: 0, queries: 0, maxMs: 0, over10: 0, errors: [] };
    stats.lockWaitMs = longestLockWait(logFile, logStart);
    let finishMs: number | null = null;
    let phases: Record<string, number> | null = null;
    let failed: string | null = null;
    try {
      const j = JSON.parse(run.out) as { phases_ms?: Record<string, number>; error?: { message: string } };
      finishMs = j.phases_ms?.finish ?? null;
      phases = j.phases_ms ?? null;
      if (run.code !== 0) failed = j.error?.message ?? `exit ${run.code}`;
    } catch {
      failed = run.code === 0 ? null : `exit ${run.code}: ${run.err.slice(0, 300)}`;
    }
    if (variant === 'attached') await detach(dstUrl);
    const s: Sample = { build: build.name, variant, ms: run.ms, finishMs, phases, reader: stats, failed };
    samples.push(s);
    log(
      `  ${build.name.padEnd(8)} ${variant.padEnd(8)} run ${run.ms.toFixed(0)} ms, finish ${finishMs ?? '?'} ms; reader: ${stats.queries} queries, lock wait ${stats.lockWaitMs.toFixed(1)} ms, longest query ${stats.maxMs.toFixed(1)} ms, ${stats.over10} over 10 ms` +
        `${stats.errors.length ? `, errors: ${stats.errors.join(' | ')}` : ''}${failed ? `; run failed: ${failed.slice(0, 160)}` : ''}`,
    );
    if (failed && variant !== 'attached') throw new Error(`${build.name}: replace failed: ${failed}`);
  };
  for (let round = 0; round < rounds; round++) {
    log(`bench: round ${round + 1} of ${rounds}`);
    const order = round % 2 ? [...builds].reverse() : builds;
    for (const v of variants) for (const b of order) await measure(b, v);
  }

  log('\nmedians:');
  const summary = [];
  for (const variant of variants) {
    for (const b of builds) {
      const xs = samples.filter((s) => s.build === b.name && s.variant === variant);
      const ok = xs.filter((s) => !s.failed);
      const line = {
        build: b.name,
        variant,
        runs: xs.length,
        failed: xs.length - ok.length,
        run_ms: ok.length ? Math.round(median(ok.map((s) => s.ms))) : null,
        finish_ms: ok.length ? Math.round(median(ok.map((s) => s.finishMs ?? 0))) : null,
        reader_lock_wait_ms: ok.length ? Number(median(ok.map((s) => s.reader.lockWaitMs)).toFixed(1)) : null,
        reader_lock_wait_worst_ms: ok.length ? Number(Math.max(...ok.map((s) => s.reader.lockWaitMs)).toFixed(1)) : null,
        reader_longest_ms: ok.length ? Number(median(ok.map((s) => s.reader.maxMs)).toFixed(1)) : null,
        reader_worst_ms: ok.length ? Number(Math.max(...ok.map((s) => s.reader.maxMs)).toFixed(1)) : null,
      };
      summary.push(line);
      log(`  ${JSON.stringify(line)}`);
    }
  }
  if (values.json) writeFileSync(values.json, JSON.stringify({ rows, rounds, machine: { cpus: os.cpus().length, load: os.loadavg() }, summary, samples }, null, 2));
}

main().catch((e) => {
  log(`bench failed: ${e instanceof Error ? e.stack : String(e)}`);
  process.exitCode = 1;
});
