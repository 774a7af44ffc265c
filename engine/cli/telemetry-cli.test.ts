/**
 * Observability of `rb run` through the real binary (docs/design.md section 16): the Prometheus
 * endpoint (`--metrics-addr`) scraped while a `--follow` streams changes, its applied counters and
 * lag moving; `--log-format json`, every line of stderr parsed; and the flags refused when wrong.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRb } from '../testing/cli.js';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';

const BIN = fileURLToPath(new URL('./bin.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rb-telemetry-'));
let src: TestDb;
let dst: TestDb;

beforeAll(async () => {
  src = await createTestDatabase('obs_src');
  dst = await createTestDatabase('obs_dst');
  await src.query(`
    create table full_t (id bigint primary key, label text not null);
    insert into full_t select g, md5(g::text) from generate_series(1, 30000) g;
    create table cdc_t (id int primary key, v text);
    insert into cdc_t select g, 'v' || g from generate_series(1, 100) g;
    create table cdc_log_t (id int primary key, v text);
    insert into cdc_log_t select g, 'v' || g from generate_series(1, 50) g;
    create table inc_t (id bigint primary key, v text);
    insert into inc_t select g, md5(g::text) from generate_series(1, 5000) g;
    analyze;
  `);
});
afterAll(async () => {
  await src.query(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = current_database() and not active`);
  await dropTestDatabases();
});

function file(name: string, yaml: string): string {
  const f = join(dir, `${name}.yaml`);
  writeFileSync(f, yaml);
  return f;
}

/** `rb run` in the background (the built binary): its stderr so far, and its exit code once it exits. */
function spawnRun(args: string[], env: Record<string, string> = {}): { child: ChildProcess; err: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, 'run', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, err: () => err, exited };
}

type LogLine = { time: string; level: string; event: string; [k: string]: unknown };

/** Every line of a --log-format json stderr, parsed (a line that is not JSON fails the test), with the shape every line has. */
function jsonLines(stderr: string): LogLine[] {
  const lines = stderr.trimEnd().split('\n').map((l) => JSON.parse(l) as LogLine);
  for (const e of lines) {
    expect(Number.isNaN(Date.parse(e.time))).toBe(false);
    expect(['info', 'warn', 'error']).toContain(e.level);
    expect(typeof e.event).toBe('string');
  }
  return lines;
}

/** Samples of a Prometheus text exposition: `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

async function scrape(url: string): Promise<Map<string, number>> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return samples(await res.text());
}

async function until<T>(what: string, get: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('rb run observability', () => {
  it('--metrics-addr: scraped during --follow, applied counters and lag move', async () => {
    const yaml = pipelineYaml({ name: 'obs_follow', srcUrl: src.url, dstUrl: dst.url, streams: ['public.cdc_t'], writeMode: 'upsert' }).replace(/    - name: (\S+)/g, '    - name: $1\n      sync_mode: cdc');
    const { child, err, exited } = spawnRun([file('obs_follow', yaml), '--follow', '--metrics-addr', '127.0.0.1:0']);
    try {
      const url = await until('the metrics line', async () => /rb: metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(err())?.[1]);
      await until('the copy', async () => (await dst.query(`select count(*)::int as n from pg_tables where tablename = 'cdc_t'`)).rows[0].n === 1 && (await dst.query('select count(*)::int as n from cdc_t')).rows[0].n === 100);
      // Following: the first progress event carries the confirmed position.
      const before = await until('the first cdc progress', async () => {
        const m = await scrape(url);
        return m.has('rb_cdc_confirmed_lsn') && m.get('rb_cdc_confirmed_lsn')! > 0 ? m : undefined;
      });
      expect(before.get('rb_rows_written_total{stream="public.cdc_t"}')).toBe(100);
      expect(before.get('rb_process_cpu_seconds_total')).toBeGreaterThan(0);
      const txBefore = before.get('rb_cdc_transactions_applied_total') ?? 0;
      // A transaction of 200,000 rows: seconds of applying, while the lag is above 0.
      await src.query(`insert into cdc_t select g, md5(g::text) from generate_series(1000, 200999) g`);
      await src.query(`update cdc_t set v = 'x' where id <= 10`);
      let maxLagBytes = 0;
      const after = await until('both transactions applied', async () => {
        const m = await scrape(url);
        maxLagBytes = Math.max(maxLagBytes, m.get('rb_cdc_lag_bytes') ?? 0);
        return (m.get('rb_cdc_transactions_applied_total') ?? 0) >= txBefore + 2 ? m : undefined;
      });
      expect(after.get('rb_cdc_changes_applied_total{stream="public.cdc_t"}')).toBe(200_010);
      expect(after.get('rb_cdc_rows_written_total')).toBeGreaterThanOrEqual(200_010);
      expect(after.get('rb_cdc_confirmed_lsn')).toBeGreaterThan(before.get('rb_cdc_confirmed_lsn')!);
      expect(after.get('rb_cdc_apply_seconds_count')).toBeGreaterThanOrEqual(2);
      expect(after.get('rb_cdc_batch_changes_sum')).toBe(200_010);
      expect(after.get('rb_run_phase{phase="finish"}')).toBe(1);
      // Lag rose while the big transaction was applied, and falls back to 0 once caught up.
      expect(maxLagBytes).toBeGreaterThan(0);
      await until('the lag back to 0', async () => (await scrape(url)).get('rb_cdc_lag_bytes') === 0);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, err()).toBe(0);
  });

  it('--log-format json: every line of stderr is a JSON object with time, level and event', () => {
    const yaml = pipelineYaml({ name: 'obs_log', srcUrl: src.url, dstUrl: dst.url, streams: ['public.full_t'], writeMode: 'replace', extra: 'resources: { max_batch_bytes: 64kb, max_inflight_batches: 1 }' });
    const r = runRb(['run', file('obs_log', yaml), '--log-format', 'json', '--json'], { RB_SHARD_MIN_BYTES: '0', RB_BENCH_DELAY_MS: '60' });
    expect(r.code, r.err).toBe(0);
    const events = jsonLines(r.err);
    const names = events.map((e) => e.event);
    expect(names[0]).toBe('run-start');
    expect(names[names.length - 1]).toBe('run-end');
    for (const n of ['phase-start', 'phase-end', 'planned', 'stream-done']) expect(names).toContain(n);
    expect(events.filter((e) => e.event === 'phase-end').map((e) => e.phase)).toEqual(['plan', 'prepare', 'move', 'finish']);
    expect(events.find((e) => e.event === 'stream-done')).toMatchObject({ stream: 'public.full_t', rows: 30000 });
    const end = events[events.length - 1];
    expect(end).toMatchObject({ level: 'info', status: 'succeeded', rows: 30000 });
    expect(end.verdict, r.out).toMatch(/^destination-bound: /);
    // stdout: the --json result, with the telemetry.
    const result = JSON.parse(r.out);
    expect(result.telemetry.verdict.bound).toBe('destination');
    expect(result.streams[0].shard_times.length).toBe(result.streams[0].shards);
  });

  it('--log-format json, a cdc first run with --follow: run-start, slot-created, snapshot-done, checkpoint, stop, run-end', async () => {
    const yaml = pipelineYaml({ name: 'obs_cdc_log', srcUrl: src.url, dstUrl: dst.url, streams: ['public.cdc_log_t'], writeMode: 'upsert' }).replace(/    - name: (\S+)/g, '    - name: $1\n      sync_mode: cdc');
    const { child, err, exited } = spawnRun([file('obs_cdc_log', yaml), '--follow', '--log-format', 'json']);
    const seen = (event: string) => err().split('\n').some((l) => l.includes(`"event":"${event}"`));
    try {
      await until('snapshot-done', async () => seen('snapshot-done'));
      await src.query(`insert into cdc_log_t select g, 'new' from generate_series(1001, 1010) g`);
      await until('a checkpoint', async () => seen('checkpoint'));
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, err()).toBe(0);
    const lines = jsonLines(err());
    const names = lines.map((e) => e.event);
    const at = (n: string) => names.indexOf(n);
    expect(names[0]).toBe('run-start');
    expect(names.at(-1)).toBe('run-end');
    // In the order they happen.
    for (const [a, b] of [['run-start', 'slot-created'], ['slot-created', 'planned'], ['planned', 'stream-done'], ['stream-done', 'snapshot-done'], ['snapshot-done', 'checkpoint'], ['checkpoint', 'stop'], ['stop', 'run-end']]) {
      expect(at(a), `${a} before ${b}: ${names.join(' ')}`).toBeLessThan(at(b));
      expect(at(a)).toBeGreaterThanOrEqual(0);
    }
    const runStart = lines[0];
    expect(runStart).toMatchObject({ pipeline: 'obs_cdc_log', follow: true, file: expect.stringMatching(/obs_cdc_log\.yaml$/) });
    expect(runStart.run_id).toMatch(/^[0-9a-f-]{36}$/);
    const slot = lines[at('slot-created')];
    expect(slot).toMatchObject({ slot: expect.stringMatching(/obs_cdc_log/), publication: expect.stringMatching(/obs_cdc_log/), publication_created: true, lsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/) });
    expect(lines[at('snapshot-done')]).toMatchObject({ streams: ['public.cdc_log_t'], rows: 50, lsn: slot.lsn });
    const checkpoint = lines[at('checkpoint')];
    expect(checkpoint).toMatchObject({ sync_mode: 'cdc', rows: 10, changes: { 'public.cdc_log_t': 10 }, lsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/) });
    expect(lines[at('stop')]).toMatchObject({ signal: 'SIGTERM' });
    expect(lines.at(-1)).toMatchObject({ status: 'succeeded', run_id: runStart.run_id, transactions: 1 });
    expect(lines.at(-1)!.cpu_s as number).toBeGreaterThan(0);
    expect(lines.at(-1)!.server_cpu_s as number).toBeGreaterThan(0);
  });

  it('--log-format json, incremental runs: a checkpoint line for each stream whose cursor committed', async () => {
    const yaml = pipelineYaml({ name: 'obs_inc', srcUrl: src.url, dstUrl: dst.url, streams: ['public.inc_t'], writeMode: 'append' }).replace(/    - name: (\S+)/g, '    - name: $1\n      sync_mode: incremental\n      cursor_field: id');
    const f = file('obs_inc', yaml);
    const checkpoints = (stderr: string) => jsonLines(stderr).filter((e) => e.event === 'checkpoint');
    const first = runRb(['run', f, '--log-format', 'json']);
    expect(first.code, first.err).toBe(0);
    expect(checkpoints(first.err)).toEqual([expect.objectContaining({ level: 'info', stream: 'public.inc_t', sync_mode: 'incremental', cursor: ['5000'], rows: 5000 })]);
    await src.query(`insert into inc_t select g, md5(g::text) from generate_series(5001, 5300) g`);
    const next = runRb(['run', f, '--log-format', 'json']);
    expect(next.code, next.err).toBe(0);
    const [c] = checkpoints(next.err);
    expect(c).toMatchObject({ stream: 'public.inc_t', sync_mode: 'incremental', cursor: ['5300'], rows: 300 });
    expect(c.checkpoints).toBeGreaterThanOrEqual(0);
    expect(jsonLines(next.err).at(-1)).toMatchObject({ event: 'run-end', status: 'succeeded', rows: 300 });
  });

  it('a retried shard: rb_retries_total has the class label while the run lasts, and the retry line says it', async () => {
    const yaml = pipelineYaml({ name: 'obs_retry', srcUrl: src.url, dstUrl: dst.url, destSchema: 'retried', streams: ['public.full_t'], writeMode: 'append', extra: 'resources: { max_batch_bytes: 64kb, max_inflight_batches: 1, max_retries: 3 }' });
    const { child, err, exited } = spawnRun([file('obs_retry', yaml), '--log-format', 'json', '--metrics-addr', '127.0.0.1:0', '--parallelism', '2'], { RB_SHARD_MIN_BYTES: '0', RB_BENCH_DELAY_MS: '80', RB_RETRY_BASE_MS: '50' });
    let retried: Map<string, number> | undefined;
    try {
      // --log-format json: the endpoint is on the run-start line.
      const url = await until('the run-start line', async () => /"event":"run-start".*"metrics":"(http:[^"]+)"/.exec(err())?.[1]);
      // Shard 1's destination backend terminated while it writes (57P01, or the socket breaks first): a connection failure, retried.
      const killer = await dst.client();
      await until('the shard writing', async () => (await killer.query(`select pg_terminate_backend(pid) from pg_stat_activity where application_name like 'rb %full_t#1' and datname = current_database() and state = 'active'`)).rows.length > 0);
      retried = await until('the retry counted', async () => {
        const m = await scrape(url);
        return [...m.keys()].some((k) => k.startsWith('rb_retries_total{')) ? m : undefined;
      });
    } finally {
      if (!retried) child.kill('SIGTERM');
    }
    expect(await exited, err()).toBe(0);
    const key = [...retried!.keys()].find((k) => k.startsWith('rb_retries_total{'))!;
    expect(key).toMatch(/^rb_retries_total\{class="connection",code="dest_(query|connect)"\}$/);
    expect(retried!.get(key)).toBeGreaterThanOrEqual(1);
    const lines = jsonLines(err());
    expect(lines.find((e) => e.event === 'retry')).toMatchObject({ level: 'warn', stream: 'public.full_t', shard: 1, class: 'connection', code: expect.stringMatching(/^dest_/) });
    expect(lines.at(-1)).toMatchObject({ event: 'run-end', status: 'succeeded', rows: 30000 });
  });

  it('--log-format json: a failure is an error line; wrong flag values are exit 2', () => {
    const bad = runRb(['run', join(dir, 'missing.yaml'), '--log-format', 'json']);
    expect(bad.code).toBe(2);
    const lines = jsonLines(bad.err);
    expect(lines.at(-1)).toMatchObject({ level: 'error', event: 'run-end', status: 'failed', error: { class: 'config' } });
    // --json: the error's class too.
    const json = runRb(['run', join(dir, 'missing.yaml'), '--json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.out)).toMatchObject({ status: 'failed', error: { class: 'config' } });
    const format = runRb(['run', join(dir, 'missing.yaml'), '--log-format', 'xml']);
    expect(format.code).toBe(2);
    expect(format.err).toMatch(/--log-format: expected one of text, json, found 'xml'/);
    const addr = runRb(['run', file('obs_addr', pipelineYaml({ srcUrl: src.url, dstUrl: dst.url, streams: ['public.full_t'] })), '--metrics-addr', 'localhost']);
    expect(addr.code).toBe(2);
    expect(addr.err).toMatch(/--metrics-addr: expected host:port \(for example 127\.0\.0\.1:9187\), found 'localhost'/);
  });
});
