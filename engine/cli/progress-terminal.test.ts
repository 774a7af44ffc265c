/**
 * Progress in a real terminal: `rb run` inside a tmux pane (its own tmux server, 160×30), the
 * screen captured every 100 ms until it exits. Two upsert streams on one worker, slowed per chunk
 * (RB_BENCH_DELAY_MS) so the move takes seconds: the second stream says `waiting` (never a rate of
 * 0 or `ETA 0s`), no ETA shows before a tenth of a stream's rows, each phase shows with its time,
 * and the last frame says the run's own row counts and each stream's merge. `--json` has each
 * stream's finish (and its steps: merge; index build and swap) in its duration.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRb } from '../testing/cli.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';

const BIN = fileURLToPath(new URL('./bin.js', import.meta.url));
const tmux = spawnSync('tmux', ['-V']).status === 0;
const server = `rb-progress-${process.pid}`;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'rb-progress-'));
let src: TestDb;
let dst: TestDb;
let file: string;

beforeAll(async () => {
  src = await createTestDatabase('progsrc');
  dst = await createTestDatabase('progdst');
  await src.query(`create table public.a (id int primary key, v text not null);
    insert into public.a select g, md5(g::text) from generate_series(1, 100000) g;
    create table public.b (id int primary key, v text not null);
    insert into public.b select g, md5(g::text) from generate_series(1, 20000) g;
    analyze;`);
  file = path.join(tmp, 'p.yaml');
  writeFileSync(
    file,
    `version: "1.0"
pipeline: progress
source:
  use: postgres
  config: { url: "${src.url}" }
  streams: [{ name: public.a }, { name: public.b }]
destination:
  use: postgres
  config: { url: "${dst.url}" }
  write_mode: upsert
  primary_key: [id]
resources:
  max_batch_bytes: 64kb
`,
  );
});
afterAll(async () => {
  if (tmux) spawnSync('tmux', ['-L', server, 'kill-server']);
  await dropTestDatabases();
  rmSync(tmp, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('progress', () => {
  it.skipIf(!tmux)('in a terminal: phases with times, waiting streams, no early ETA, the last frame equal to the summary', async () => {
    const env = `RB_BENCH_DELAY_MS=100 RB_SHARD_MIN_BYTES=0`;
    const cmd = `${env} ${process.execPath} ${BIN} run ${file} --parallelism 1; echo RB_EXIT=$?; exec sleep 600`;
    expect(spawnSync('tmux', ['-L', server, 'new-session', '-d', '-s', 'run', '-x', '160', '-y', '30', cmd]).status).toBe(0);
    const screens: string[] = [];
    const deadline = Date.now() + 120_000;
    for (;;) {
      const screen = spawnSync('tmux', ['-L', server, 'capture-pane', '-p', '-t', 'run'], { encoding: 'utf8' }).stdout;
      screens.push(screen);
      if (/RB_EXIT=\d+/.test(screen) || Date.now() > deadline) break;
      await sleep(100);
    }
    const last = screens[screens.length - 1];
    if (process.env.RB_SHOW_FRAMES) console.log([...new Set(screens)].join("\n====\n"));
    expect(last, last).toContain('RB_EXIT=0');
    const frames = screens.join('\n');

    // A stream not started yet says so, and nothing ever shows a zero rate or ETA 0s.
    expect(frames).toMatch(/public\.b \|░+\| waiting/);
    expect(frames).not.toMatch(/ 0 rows\/s|ETA 0s/);
    // Every ETA shown had at least a tenth of its stream's rows behind it; one shows once it means something (a moves ~5 s).
    const etas = [...frames.matchAll(/([\d,]+)\/([\d,]+) rows \| [\d,]+ rows\/s \| ETA \d/g)];
    for (const m of etas) expect(Number(m[1].replace(/,/g, '')) / Number(m[2].replace(/,/g, ''))).toBeGreaterThanOrEqual(0.1);
    expect(etas.length).toBeGreaterThan(0);
    // …and not in its first ETA_MIN_SECONDS: the frames of a's first 3 s of movement (30 captures) show none.
    const firstMoving = screens.findIndex((sc) => /public\.a \|[█░]+\| [\d,]+\/100,000 rows/.test(sc));
    expect(screens.slice(firstMoving, firstMoving + 20).join('\n')).not.toMatch(/public\.a .*ETA/);
    // The phases while they run (ticking) and the finish step of a stream in progress.
    expect(frames).toMatch(/plan [\d.]+s · prepare [\d.]+s · move [\d.]+s…/);
    expect(frames).toMatch(/public\.a \|[█░]+\| [\d,]+\/100,000 rows \| [\d,]+ rows\/s/);
    // The last frame: every phase with its time, each stream done with the run's own count and its merge.
    expect(last).toMatch(/^plan [\d.]+s · prepare [\d.]+s · move [\d.]+s · finish [\d.]+s$/m);
    expect(last).toMatch(/^public\.a \|█{20}\| 100,000\/100,000 rows \| done in [\d.]+s \(move [\d.]+s, merge [\d.]+s\)$/m);
    expect(last).toMatch(/^public\.b \|█{20}\| 20,000\/20,000 rows \| done in [\d.]+s \(move [\d.]+s, merge [\d.]+s\)$/m);
    expect(last).toMatch(/progress: 120,000 rows/);
  });

  it('--json: each stream has its finish, and its duration includes it; phases_ms has every phase', async () => {
    await dst.query('drop table if exists public.a, public.b');
    const r = runRb(['run', file, '--json', '--fresh']);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    for (const p of ['plan', 'prepare', 'move', 'finish']) expect(j.phases_ms[p], p).toBeGreaterThan(0);
    for (const s of j.streams) {
      expect(s.finish_ms, s.name).toBeGreaterThan(0); // an upsert's merge takes time
      expect(s.duration_ms).toBeGreaterThan(s.finish_ms);
      expect(s.finish_steps).toEqual([{ step: 'merge', ms: expect.any(Number) }]);
    }
    // the finish phase is the streams' finishes
    expect(j.phases_ms.finish).toBeGreaterThanOrEqual(j.streams.reduce((a: number, s: { finish_ms: number }) => a + s.finish_ms, 0) - 2);

    // replace: the index build and the swap, each with its time, adding up to the finish
    const replace = path.join(tmp, 'replace.yaml');
    writeFileSync(replace, readFileSync(file, 'utf8').replace('write_mode: upsert', 'write_mode: replace').replace('pipeline: progress', 'pipeline: progress_replace'));
    const rr = runRb(['run', replace, '--json']);
    expect(rr.code, rr.err).toBe(0);
    for (const s of JSON.parse(rr.out).streams) {
      expect(s.finish_steps.map((x: { step: string }) => x.step)).toEqual(['index build', 'swap']);
      const sum = s.finish_steps.reduce((a: number, x: { ms: number }) => a + x.ms, 0);
      expect(sum).toBe(s.finish_ms);
    }
  });
});
