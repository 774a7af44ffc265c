/**
 * Ctrl-C in a real terminal with the progress bars up: `rb run` in a tmux pane (its own tmux
 * server, 160×30) as an interactive shell runs it — its own process group in the foreground
 * (`set -m`), so C-c signals rb alone — then the shell prints rb's exit status and the pane stays,
 * its cursor state readable; the raw bytes written to the pane are captured too (pipe-pane). The writer is slowed per chunk
 * (RB_BENCH_DELAY_MS) so the move takes seconds, and C-c is typed into the pane during it.
 *
 * - one C-c: the bars stop (their last frame stays), and below them, each on a line of its own,
 *   `rb: SIGINT: cancelling the run…` and the destination's state; exit 130, the run recorded
 *   `cancelled`, nothing left in the destination; the cursor shown again;
 * - two C-c: rb exits at once (130) saying what may be left, on its own line and whole (line
 *   wrapping is back on), with the cursor shown;
 * - a data error (exit 5) while the bars are up: the error below the bars, the cursor shown;
 * - a process that ends with the bars still up (process.exit, an uncaught error): the cursor shown
 *   (RunProgress's 'exit' hook), driven by a small script of its own;
 * - `rb demo`, one C-c and two: as `rb run` (its run goes through run-command's stopOnSignals);
 * - `rb run --follow` (cdc), one C-c while it streams: exit 0 as the README documents for a
 *   follow, the stop line below the cdc line (the `^C` the terminal echoed onto it wiped), the
 *   next run going on from the stored position.
 *
 * "The cursor shown": tmux's #{cursor_flag} is 1 after rb exited, and the last cursor-visibility
 * sequence in the raw bytes is show (\x1b[?25h), the last line-wrap one is on (\x1b[?7h).
 * Without tmux on PATH these tests are skipped and the run says so.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCluster, ensureDatabase, resetCluster } from '../embedded/cluster.js';
import { runRb } from '../testing/cli.js';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';

const BIN = fileURLToPath(new URL('./bin.js', import.meta.url));
const PROGRESS = fileURLToPath(new URL('./progress.ts', import.meta.url));
const TSX = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));
const tmux = spawnSync('tmux', ['-V']).status === 0;
if (!tmux) console.warn('cancel-terminal.test.ts: tmux is not on PATH — the Ctrl-C-in-a-terminal tests are SKIPPED (install tmux to run them)');
const server = `rb-cancel-term-${process.pid}`;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'rb-cancel-term-'));
let src: TestDb;
let dst: TestDb;

beforeAll(async () => {
  src = await createTestDatabase('ctermsrc');
  dst = await createTestDatabase('ctermdst');
  await src.query(`create table public.a (id int primary key, v text not null);
    insert into public.a select g, md5(g::text) from generate_series(1, 100000) g;
    create table public.b (id int primary key, v text not null);
    insert into public.b select g, md5(g::text) from generate_series(1, 20000) g;
    analyze;`);
});
afterAll(async () => {
  if (tmux) spawnSync('tmux', ['-L', server, 'kill-server']);
  await dropTestDatabases();
  rmSync(tmp, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tm = (...args: string[]) => spawnSync('tmux', ['-L', server, ...args], { encoding: 'utf8' });
/** The pane's screen, wrapped lines joined (-J), trailing blanks dropped. */
const screen = (pane: string) =>
  tm('capture-pane', '-p', '-J', '-t', pane)
    .stdout.split('\n')
    .map((l) => l.trimEnd());
/** A progress bar's line: rb run's streams (public.a, public.b) and rb demo's (shop.*). */
const BAR_LINE = /^(public\.[ab]|shop\.\w+) +\|[█░]{20}\|/;

function pipeline(name: string, schema: string, writeMode: 'replace' | 'append' = 'replace'): string {
  const f = path.join(tmp, `${name}.yaml`);
  writeFileSync(f, pipelineYaml({ name, srcUrl: src.url, dstUrl: dst.url, streams: ['public.a', 'public.b'], writeMode, destSchema: schema, extra: 'resources: { max_batch_bytes: 64kb }' }));
  return f;
}

interface PaneRun {
  pane: string;
  raw: string;
  /** Every distinct screen seen while it ran. */
  screens: string[][];
}

/** Starts `rb run <file> --parallelism 1` (or another command) in a new pane, its raw output piped to a file. */
function start(pane: string, file: string, command = `env RB_BENCH_DELAY_MS=100 RB_SHARD_MIN_BYTES=0 ${process.execPath} ${BIN} run ${file} --parallelism 1`): PaneRun {
  const raw = path.join(tmp, `${pane}.raw`);
  // The short sleep lets pipe-pane attach before rb writes anything. (tmux here does not always
  // learn a dead pane's exit status, so the shell prints it.)
  const cmd = `set -m; sleep 0.3; ${command}; echo RB_EXIT=$?; exec sleep 600`;
  const r = tm('new-session', '-d', '-s', pane, '-x', '160', '-y', '30', cmd, ';', 'pipe-pane', '-o', '-t', pane, `cat > ${raw}`);
  expect(r.status, r.stderr).toBe(0);
  return { pane, raw, screens: [] };
}

/** Captures the pane every 50 ms until `until` holds for its screen (or rb exited); false on the deadline. */
async function watch(p: PaneRun, until: (lines: string[]) => boolean, ms = 60_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    const lines = screen(p.pane);
    if (p.screens.length === 0 || p.screens[p.screens.length - 1].join('\n') !== lines.join('\n')) p.screens.push(lines);
    if (until(lines)) return true;
    if (dead(p) || Date.now() > deadline) return until(screen(p.pane));
    await sleep(50);
  }
}
const exitStatus = (lines: string[]) => lines.map((l) => /RB_EXIT=(\d+)$/.exec(l)?.[1]).find((x) => x !== undefined);
const dead = (p: PaneRun) => exitStatus(screen(p.pane)) !== undefined;
/** Once rb exited: its exit status and whether the terminal shows the cursor. */
async function exited(p: PaneRun, ms = 30_000): Promise<{ status: number; cursorShown: boolean; lines: string[]; raw: string }> {
  await watch(p, (lines) => exitStatus(lines) !== undefined, ms);
  const lines = screen(p.pane);
  const status = exitStatus(lines);
  expect(status, `rb exited:\n${p.screens.slice(-4).map((x) => x.join('\n')).join('\n====\n')}`).toBeDefined();
  const cursor = tm('display', '-p', '-t', p.pane, '#{cursor_flag}').stdout.trim();
  await sleep(100); // pipe-pane's cat writes the last bytes
  return { status: Number(status), cursorShown: cursor === '1', lines, raw: existsSync(p.raw) ? readFileSync(p.raw, 'latin1') : '' };
}
/** The last occurrence of `\x1b[?<mode><h|l>` in the raw bytes: 'h', 'l' or undefined. */
const lastMode = (raw: string, mode: number) => [...raw.matchAll(new RegExp(`\\x1b\\[\\?${mode}([hl])`, 'g'))].pop()?.[1];
/** The bars are moving: a's line (rb run) or a shop stream's (rb demo) has rows and a rate. */
const moving = (lines: string[]) => lines.some((l) => /^(public\.a|shop\.\w+) +\|[█░]+\| [1-9][\d,]*\/[\d,]+ rows \| [\d,]+ rows\/s/.test(l));
const lastRun = async (pipelineName: string) => (await dst.query(`select status from _rb.runs where pipeline = $1 order by started_at desc limit 1`, [pipelineName])).rows[0]?.status;
const leftovers = async (schema: string) => (await dst.query(`select string_agg(relname, ',') as t from pg_class c join pg_namespace n on n.oid = c.relnamespace where nspname = $1 and relkind = 'r'`, [schema])).rows[0].t;

/** Every line that is a cancel/error message stands alone below the bars, and no bar line has anything else on it. */
function expectLinesOnTheirOwn(lines: string[], messages: RegExp[]): void {
  const bars = lines.map((l, i) => (BAR_LINE.test(l) ? i : -1)).filter((i) => i >= 0);
  expect(bars.length, lines.join('\n')).toBeGreaterThanOrEqual(2);
  for (const i of bars) expect(lines[i], 'a bar line with nothing else on it').toMatch(/^(public\.[ab]|shop\.\w+) +\|[█░]{20}\| [^|]*rows( \| [^|]+)*$|^(public\.[ab]|shop\.\w+) +\|[█░]{20}\| waiting$/);
  for (const i of bars) expect(lines[i]).not.toMatch(/rb:|\^C/);
  let after = Math.max(...bars);
  for (const m of messages) {
    const at = lines.findIndex((l) => m.test(l));
    expect(at, `${m} on a line of its own:\n${lines.join('\n')}`).toBeGreaterThan(after);
    after = at;
  }
}

/** C-c typed into the pane, then rb's exit awaited: what `exited` gives, and the milliseconds from the key to the exit. */
async function ctrlCUntilExit(p: PaneRun): Promise<{ r: Awaited<ReturnType<typeof exited>>; ms: number }> {
  const t0 = Date.now();
  tm('send-keys', '-t', p.pane, 'C-c');
  const r = await exited(p);
  const ms = Date.now() - t0;
  if (process.env.RB_SHOW_FRAMES) console.log(p.screens.map((s) => s.join('\n')).join('\n====\n'));
  return { r, ms };
}

/** After the exit: tmux shows the cursor, the last cursor and line-wrap sequences rb wrote are "on" (and the bars had hidden it). */
function expectTerminalRestored(r: { cursorShown: boolean; raw: string }, barsHidCursor = true): void {
  expect(r.cursorShown, 'tmux #{cursor_flag} after the exit').toBe(true);
  if (barsHidCursor) expect(r.raw).toContain('\x1b[?25l'); // the bars did hide it
  expect(lastMode(r.raw, 25), 'the last cursor-visibility sequence').toBe('h');
  expect(lastMode(r.raw, 7), 'the last line-wrap sequence').toBe('h');
}

/** One C-c while the bars move: exit 130 within 5 s, the cancel line and `cancelled` below the halted bars, the terminal restored. */
async function expectOneCtrlCCancels(p: PaneRun, cancelled: RegExp): Promise<string[]> {
  expect(await watch(p, moving, 120_000), p.screens.map((s) => s.join('\n')).join('\n====\n')).toBe(true);
  await sleep(300);
  const { r, ms } = await ctrlCUntilExit(p);
  expect(r.status, r.lines.join('\n')).toBe(130);
  expect(ms, 'from C-c to the exit').toBeLessThan(5000);
  expectLinesOnTheirOwn(r.lines, [/^rb: SIGINT: cancelling the run \(again to exit at once\)$/, cancelled]);
  // Once the cancel line showed, no frame drew a bar below it (the bars were halted, not redrawn over it).
  for (const s of p.screens) {
    const at = s.findIndex((l) => l.startsWith('rb: SIGINT'));
    if (at >= 0) expect(s.slice(at).some((l) => BAR_LINE.test(l)), s.join('\n')).toBe(false);
  }
  expectTerminalRestored(r);
  return r.lines;
}

/** The clean-up held on a lock the caller took: C-c, then a second one while rb cleans up exits at once (130), saying what may be left, the terminal restored. */
async function expectSecondCtrlCExitsAtOnce(p: PaneRun): Promise<void> {
  tm('send-keys', '-t', p.pane, 'C-c');
  expect(await watch(p, (lines) => lines.some((l) => l.startsWith('rb: SIGINT: cancelling')), 10_000)).toBe(true);
  await sleep(500);
  expect(exitStatus(screen(p.pane)), 'rb still cleaning up (waiting for the lock)').toBeUndefined();
  const { r, ms } = await ctrlCUntilExit(p);
  expect(r.status, r.lines.join('\n')).toBe(130);
  expect(ms, 'from the second C-c to the exit').toBeLessThan(1500);
  expectLinesOnTheirOwn(r.lines, [
    /^rb: SIGINT: cancelling the run \(again to exit at once\)$/,
    // whole: line wrapping is on again (with it off, the terminal would cut it at 160 columns)
    /^rb: SIGINT again: exiting now; staging tables \(<table>__rb_replace, <table>__rb_upsert\) may be left in the destination — the next rb run of this pipeline replaces them — and the run stays recorded as running \(the next run resumes it\)$/,
  ]);
  expectTerminalRestored(r, false);
}

describe('Ctrl-C in a terminal with the progress bars (tmux)', () => {
  it.skipIf(!tmux)('one C-c: the bars stop, the cancel lines below them, exit 130, recorded cancelled, nothing left, cursor shown', async () => {
    const f = pipeline('cterm_once', 's_once');
    const p = start('once', f);
    await expectOneCtrlCCancels(p, /^rb: cancelled; the other targets are as they were before the run \(staging tables dropped, nothing merged or swapped\)$/);
    expect(await lastRun('cterm_once')).toBe('cancelled');
    expect(await leftovers('s_once')).toBeNull();
  });

  it.skipIf(!tmux)('two C-c: the second, during the clean-up, exits at once, says what may be left on a line of its own, cursor shown', async () => {
    const f = pipeline('cterm_twice', 's_twice');
    const p = start('twice', f);
    expect(await watch(p, moving)).toBe(true);
    // The clean-up's DROP of a's staging table waits for this lock, so the second C-c comes while rb cleans up.
    const locker = await dst.client();
    const staging = (await dst.query(`select format('%I.%I', nspname, relname) as t from pg_class c join pg_namespace n on n.oid = c.relnamespace where nspname = 's_twice' and relname like 'a\\_\\_rb\\_%'`)).rows[0]?.t;
    expect(staging, 'the staging table of a').toBeTruthy();
    await locker.query(`begin; lock table ${staging} in access share mode`);
    await expectSecondCtrlCExitsAtOnce(p);
    await locker.query('rollback');
  });

  it.skipIf(!tmux)('a data error while the bars are up (exit 5): the error below the bars, cursor shown', async () => {
    // An existing target whose CHECK the source's rows fail: the first chunk is rejected.
    await dst.query(`create schema s_err; create table s_err.a (id int primary key, v text not null check (length(v) < 10)); create table s_err.b (id int primary key, v text not null)`);
    const f = pipeline('cterm_err', 's_err', 'append');
    const p = start('err', f);
    const r = await exited(p, 60_000);
    expect(r.status, r.lines.join('\n')).toBe(5);
    const errorLine = r.lines.findIndex((l) => /^rb: error \[/.test(l));
    expect(errorLine, r.lines.join('\n')).toBeGreaterThan(Math.max(...r.lines.map((l, i) => (BAR_LINE.test(l) ? i : -1))));
    expect(r.cursorShown, 'tmux #{cursor_flag} after the exit').toBe(true);
    expect(r.raw).toContain('\x1b[?25l');
    expect(lastMode(r.raw, 25), 'the last cursor-visibility sequence').toBe('h');
  });

  it.skipIf(!tmux).each([
    ['process.exit(3)', 3],
    ["throw new Error('boom')", 1],
  ])('a process ending with the bars up (%s): the cursor shown, wrapping back on', async (how, code) => {
    const script = path.join(tmp, `exit-${code}.ts`);
    writeFileSync(
      script,
      `import { RunProgress } from ${JSON.stringify(PROGRESS)};
const p = new RunProgress(true);
p.event({ kind: 'phase', phase: 'plan', state: 'start', elapsedMs: 0 });
p.event({ kind: 'planned', streams: [{ name: 'public.a', estimatedRows: 100, estimatedBytes: 0, shards: 1 }] });
p.event({ kind: 'progress', stream: 'public.a', shardIndex: 0, rows: 10, bytes: 0 });
setTimeout(() => { ${how}; }, 1000);
`,
    );
    const p = start(`exit${code}`, '', `${TSX} ${script}`);
    const r = await exited(p);
    expect(r.status, r.lines.join('\n')).toBe(code);
    expect(r.raw).toContain('\x1b[?25l'); // the bars were up
    expect(r.lines.some((l) => /^public\.a +\|[█░]{20}\| 10\/100 rows/.test(l)), r.lines.join('\n')).toBe(true);
    expect(r.cursorShown, 'tmux #{cursor_flag} after the exit').toBe(true);
    expect(lastMode(r.raw, 25), 'the last cursor-visibility sequence').toBe('h');
    expect(lastMode(r.raw, 7), 'the last line-wrap sequence').toBe('h');
  });
});

/**
 * `rb demo`: the same signal handling as `rb run` around its run (run-command.ts stopOnSignals).
 * Its own embedded cluster (started here, so the demo's pane shows no first-start lines), the
 * dataset at scale 0.1 (~56,000 rows), the writer slowed so the move lasts seconds.
 */
describe('rb demo: Ctrl-C in a terminal with the progress bars (tmux)', () => {
  const demoRoot = path.join(tmp, 'demo-pg');
  let demoDest: pg.Client;
  const demoCommand = `env RB_EMBEDDED_ROOT=${demoRoot} RB_DEMO_SCALE=0.1 RB_BENCH_DELAY_MS=150 RB_SHARD_MIN_BYTES=0 ${process.execPath} ${BIN} demo --parallelism 1`;
  const stagingTables = async () => (await demoDest.query(`select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where nspname = 'shop' and relname like '%\\_\\_rb\\_%' order by 1`)).rows.map((r) => r.relname as string);

  beforeAll(async () => {
    if (!tmux) return;
    const info = await ensureCluster(demoRoot);
    await ensureDatabase(info, 'rb_demo_dest');
    demoDest = new pg.Client({ host: info.host, port: info.port, user: info.user, password: info.password, database: 'rb_demo_dest' });
    await demoDest.connect();
  }, 120_000);
  afterAll(async () => {
    if (!tmux) return;
    await demoDest?.end();
    await resetCluster(demoRoot);
  });

  it.skipIf(!tmux)('one C-c: the demo stops like rb run — cancel lines below the bars, exit 130, recorded cancelled, no staging left, cursor shown', async () => {
    const p = start('demo_once', '', demoCommand);
    const lines = await expectOneCtrlCCancels(p, /^rb: cancelled; (.+ finished before the signal; )?the other targets are as they were before the run \(staging tables dropped, nothing merged or swapped\)$/);
    // No summary, no verification of a run that did not finish.
    expect(lines.some((l) => /verification|All tables are identical|MISMATCH/.test(l)), lines.join('\n')).toBe(false);
    const runs = await demoDest.query(`select status from _rb.runs where pipeline = 'demo_shop' order by started_at desc limit 1`);
    expect(runs.rows[0]?.status).toBe('cancelled');
    expect(await stagingTables()).toEqual([]);
  });

  it.skipIf(!tmux)('two C-c: the second, during the clean-up, exits at once, says what may be left, cursor shown', async () => {
    const p = start('demo_twice', '', demoCommand);
    expect(await watch(p, moving, 120_000), p.screens.map((s) => s.join('\n')).join('\n====\n')).toBe(true);
    // The clean-up's DROP of a staging table waits for this lock: the second C-c comes while the demo cleans up.
    const staging = await stagingTables();
    expect(staging.length, 'the demo run has staging tables').toBeGreaterThan(0);
    await demoDest.query(`begin; lock table shop.${staging[0]} in access share mode`);
    try {
      await expectSecondCtrlCExitsAtOnce(p);
    } finally {
      await demoDest.query('rollback');
    }
  });
});

/**
 * `rb run --follow` (cdc) in a terminal: the first run's copy under the bars, then the cdc line
 * rewritten in place while it streams. One C-c there stops it as the README says for --follow:
 * the changes in hand committed, exit 0 (130 is only for a second signal), the stop line on a
 * line of its own below the cdc line (no `^C` on either), then the summary; the cursor shown. The
 * next run goes on from the stored position.
 */
describe('rb run --follow: Ctrl-C in a terminal (tmux)', () => {
  let csrc: TestDb;
  let cdst: TestDb;
  const hash = (t: string) => `select count(*)::int as n, md5(coalesce(string_agg(t::text, ',' order by t::text), '')) as h from ${t} t`;
  beforeAll(async () => {
    csrc = await createTestDatabase('ctermcdcsrc');
    cdst = await createTestDatabase('ctermcdcdst');
    await csrc.query(`create table public.c (id int primary key, v text not null);
      insert into public.c select g, md5(g::text) from generate_series(1, 20000) g; analyze;`);
  });
  afterAll(async () => {
    await csrc?.query(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = current_database() and not active`);
  });

  it.skipIf(!tmux)('one C-c while streaming: the changes in hand committed, the stop line on its own, exit 0, cursor shown; the next run goes on from there', async () => {
    const yaml = pipelineYaml({ name: 'cterm_follow', srcUrl: csrc.url, dstUrl: cdst.url, streams: ['public.c'], writeMode: 'upsert' }).replace(/    - name: (\S+)/g, '    - name: $1\n      sync_mode: cdc');
    const f = path.join(tmp, 'cterm_follow.yaml');
    writeFileSync(f, yaml);
    const p = start('follow', f, `${process.execPath} ${BIN} run ${f} --follow`);
    const CDC_LINE = /^cdc: ([\d,]+) transactions, ([\d,]+) changes applied, at [0-9A-F]+\/[0-9A-F]+, lag \S+ \S+ \/ [\d.]+ s$/;
    expect(await watch(p, (lines) => lines.some((l) => CDC_LINE.test(l)), 60_000), p.screens.map((s) => s.join('\n')).join('\n====\n')).toBe(true);
    // Two transactions (one query string would be one implicit transaction).
    await csrc.query(`insert into public.c values (100001, 'followed')`);
    await csrc.query(`update public.c set v = 'updated' where id <= 5`);
    expect(await watch(p, (lines) => lines.some((l) => CDC_LINE.exec(l)?.[1] === '2'), 30_000), p.screens.slice(-2).map((s) => s.join('\n')).join('\n====\n')).toBe(true);
    const { r, ms } = await ctrlCUntilExit(p);
    expect(r.status, r.lines.join('\n')).toBe(0);
    expect(ms, 'from C-c to the exit').toBeLessThan(5000);
    const cdcAt = r.lines.findIndex((l) => CDC_LINE.test(l));
    const stopAt = r.lines.findIndex((l) => /^rb: SIGINT: committing the changes in hand, then stopping \(again to exit at once\)$/.test(l));
    const summaryAt = r.lines.findIndex((l) => /^changes: 2 transactions, 6 row changes from slot \S+ \(\S+ → \S+\), 6 rows written(; .+)?$/.test(l));
    expect(cdcAt, r.lines.join('\n')).toBeGreaterThanOrEqual(0);
    expect(stopAt, `the stop line on a line of its own below the cdc line:\n${r.lines.join('\n')}`).toBe(cdcAt + 1);
    expect(summaryAt, r.lines.join('\n')).toBeGreaterThan(stopAt);
    expect(r.lines.some((l) => l.includes('^C')), r.lines.join('\n')).toBe(false);
    expectTerminalRestored(r); // the bars of the first run's copy had hidden it
    expect((await cdst.query(hash('public.c'))).rows[0]).toEqual((await csrc.query(hash('public.c'))).rows[0]);
    expect((await cdst.query(`select status from _rb.runs where pipeline = 'cterm_follow'`)).rows.map((x) => x.status)).toEqual(['succeeded']);
    // The next run (a catch-up) goes on from the stored position: only the change made since, nothing twice.
    await csrc.query(`delete from public.c where id = 7`);
    const next = runRb(['run', f, '--json']);
    expect(next.code, next.err).toBe(0);
    expect(JSON.parse(next.out).cdc).toMatchObject({ transactions: 1, changes: 1 });
    expect((await cdst.query(hash('public.c'))).rows[0]).toEqual((await csrc.query(hash('public.c'))).rows[0]);
  });
});
