/**
 * CDC exactly-once under a real OLTP load (docs/design.md section 8): pgbench's TPC-B runs
 * against the source with several clients the whole time, while `rb run --follow` streams it and
 * is SIGKILLed at random moments and started again (and, in between, batch catch-ups are killed
 * too); once the load stops, a last follow catches up, is stopped with SIGTERM, and every table
 * equals the source (md5 of all rows, duplicates counted): no change lost, none applied twice —
 * the keyless, insert-only pgbench_history would show a repeat.
 *
 * Needs pgbench (Debian's postgresql-15; `.ci/run` installs it). Without it the test is reported
 * as skipped, never as passed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRb } from '../testing/cli.js';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';

const BIN = fileURLToPath(new URL('../cli/bin.js', import.meta.url));
const PGBENCH = spawnSync('pgbench', ['--version'], { encoding: 'utf8' }).status === 0;
const KILLS = 6;
// pgbench_history has no key: its inserts are appended, so a change applied twice would show.
const TABLES = ['pgbench_accounts', 'pgbench_branches', 'pgbench_tellers', 'pgbench_history'];
const dir = mkdtempSync(join(tmpdir(), 'rb-cdc-kill-'));

let src: TestDb;
let dst: TestDb;

beforeAll(async () => {
  src = await createTestDatabase('cdckill_src');
  dst = await createTestDatabase('cdckill_dst');
});
afterAll(async () => {
  await src.query(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = current_database() and not active`).catch(() => {});
  await dropTestDatabases();
});

function runAndKill(args: string[], afterMs: number): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), afterMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ killed: signal === 'SIGKILL', code });
    });
  });
}

const tableHash = (t: string) => `select count(*)::int as n, md5(coalesce(string_agg(t::text, ',' order by t::text), '')) as h from ${t} t`;

describe('cdc under pgbench load', () => {
  it.skipIf(!PGBENCH)(`kill -9 of rb run --follow (and of catch-ups) at random moments while pgbench runs (${KILLS} follows killed), then a last follow: every table equals the source`, async () => {
    const init = spawnSync('pgbench', ['-i', '-s', '1', '-q', src.url], { encoding: 'utf8' });
    expect(init.status, init.stderr).toBe(0);
    const yaml = pipelineYaml({ name: 'cdc_kill', srcUrl: src.url, dstUrl: dst.url, streams: TABLES, writeMode: 'upsert' }).replace(/    - name: (\S+)/g, '    - name: $1\n      sync_mode: cdc');
    const file = join(dir, 'cdc.yaml');
    writeFileSync(file, yaml);
    const first = runRb(['run', file]);
    expect(first.code, first.err).toBe(0);

    // TPC-B with 4 clients until stopped.
    const load = spawn('pgbench', ['-c', '4', '-j', '2', '-T', '600', '-n', src.url], { stdio: 'ignore' });
    const moments: string[] = [];
    let killed = 0;
    try {
      for (let i = 0; i < KILLS; i++) {
        await new Promise((r) => setTimeout(r, 500 + Math.random() * 1000));
        // A follow, killed during its start-up, its catch-up of the backlog, or while streaming.
        const at = Math.round(300 + Math.random() * 4700);
        moments.push(`follow ${at}`);
        const f = await runAndKill(['run', file, '--follow'], at);
        expect(f.killed, `follow ${i} (kill planned at ${at} ms) ended by itself with ${f.code}`).toBe(true);
        killed++;
        if (i % 2) continue;
        // And a batch catch-up: timed once, then killed somewhere in it.
        await new Promise((r) => setTimeout(r, 500 + Math.random() * 1000));
        const t0 = performance.now();
        const ok = runRb(['run', file]);
        expect(ok.code, ok.err).toBe(0);
        const b = Math.round((performance.now() - t0) * (0.35 + Math.random() * 0.6));
        moments.push(`batch ${b}`);
        const r = await runAndKill(['run', file], b);
        if (!r.killed) expect(r.code, `batch run ${i} (kill planned at ${b} ms) ended by itself`).toBe(0);
      }
    } finally {
      load.kill('SIGINT');
      await new Promise((r) => load.on('exit', r));
    }
    // The load is over: a last follow catches up to the source's position, then SIGTERM.
    const end = (await src.query(`select pg_current_wal_insert_lsn()::text as l`)).rows[0].l as string;
    const last = spawn(process.execPath, [BIN, 'run', file, '--follow', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    last.stdout!.on('data', (d) => (out += d));
    last.stderr!.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => last.on('exit', (code) => resolve(code)));
    const deadline = Date.now() + 120_000;
    while (!(await src.query(`select coalesce(confirmed_flush_lsn >= $1::pg_lsn, false) as ok from pg_replication_slots where slot_name = 'rb_cdc_kill' and active`, [end])).rows[0]?.ok) {
      expect(Date.now() < deadline, `the last follow did not catch up to ${end}: ${err}`).toBe(true);
      await new Promise((r) => setTimeout(r, 200));
    }
    last.kill('SIGTERM');
    expect(await exited, err).toBe(0);
    const j = JSON.parse(out);
    expect(j.status).toBe('succeeded');
    for (const t of TABLES) {
      expect((await dst.query(tableHash(t))).rows[0], `${t} (kills at ${moments.join(', ')} ms)`).toEqual((await src.query(tableHash(t))).rows[0]);
    }
    // The source really changed under rb, and the kills really interrupted runs.
    expect((await src.query(`select count(*)::int as n from pgbench_history`)).rows[0].n).toBeGreaterThan(1000);
    expect(killed, `kill moments: ${moments.join(', ')}`).toBeGreaterThanOrEqual(5);
    const abandoned = await dst.query(`select count(*)::int as n from _rb.runs where pipeline = 'cdc_kill' and status = 'abandoned'`);
    expect(abandoned.rows[0].n).toBeGreaterThanOrEqual(3);
  });
});
