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
    const child: ChildProcess = spawn(process.execPath, [BIN, 'run', file('obs_follow', yaml), '--follow', '--metrics-addr', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await until('the metrics line', async () => /rb: metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(err)?.[1]);
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
    expect(await exited, err).toBe(0);
  });

  it('--log-format json: every line of stderr is a JSON object with time, level and event', () => {
    const yaml = pipelineYaml({ name: 'obs_log', srcUrl: src.url, dstUrl: dst.url, streams: ['public.full_t'], writeMode: 'replace', extra: 'resources: { max_batch_bytes: 64kb, max_inflight_batches: 1 }' });
    const r = runRb(['run', file('obs_log', yaml), '--log-format', 'json', '--json'], { RB_SHARD_MIN_BYTES: '0', RB_BENCH_DELAY_MS: '60' });
    expect(r.code, r.err).toBe(0);
    const lines = r.err.trimEnd().split('\n');
    const events = lines.map((l) => JSON.parse(l) as { time: string; level: string; event: string; [k: string]: unknown });
    for (const e of events) {
      expect(Number.isNaN(Date.parse(e.time))).toBe(false);
      expect(['info', 'warn', 'error']).toContain(e.level);
      expect(typeof e.event).toBe('string');
    }
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

  it('--log-format json: a failure is an error line; wrong flag values are exit 2', () => {
    const bad = runRb(['run', join(dir, 'missing.yaml'), '--log-format', 'json']);
    expect(bad.code).toBe(2);
    const lines = bad.err.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines.at(-1)).toMatchObject({ level: 'error', event: 'run-end', status: 'failed' });
    const format = runRb(['run', join(dir, 'missing.yaml'), '--log-format', 'xml']);
    expect(format.code).toBe(2);
    expect(format.err).toMatch(/--log-format: expected one of text, json, found 'xml'/);
    const addr = runRb(['run', file('obs_addr', pipelineYaml({ srcUrl: src.url, dstUrl: dst.url, streams: ['public.full_t'] })), '--metrics-addr', 'localhost']);
    expect(addr.code).toBe(2);
    expect(addr.err).toMatch(/--metrics-addr: expected host:port \(for example 127\.0\.0\.1:9187\), found 'localhost'/);
  });
});
