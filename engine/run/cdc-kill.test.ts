/**
 * CDC exactly-once under a real OLTP load (docs/design.md section 8): pgbench's TPC-B runs
 * against the source with several clients the whole time, while `rb run` on a cdc pipeline is
 * SIGKILLed at random moments and started again; once the load stops, a last `rb run` catches
 * up and every table equals the source (md5 of all rows, duplicates counted): no change lost,
 * none applied twice — the keyless, insert-only pgbench_history would show a repeat.
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

function runAndKill(file: string, afterMs: number): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'run', file], { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), afterMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ killed: signal === 'SIGKILL', code });
    });
  });
}

const tableHash = (t: string) => `select count(*)::int as n, md5(coalesce(string_agg(t::text, ',' order by t::text), '')) as h from ${t} t`;

describe('cdc under pgbench load', () => {
  it.skipIf(!PGBENCH)(`kill -9 of rb run at random moments while pgbench runs (${KILLS} kills), then a last run: every table equals the source`, async () => {
    const init = spawnSync('pgbench', ['-i', '-s', '1', '-q', src.url], { encoding: 'utf8' });
    expect(init.status, init.stderr).toBe(0);
    const yaml = pipelineYaml({ name: 'cdc_kill', srcUrl: src.url, dstUrl: dst.url, streams: TABLES, writeMode: 'upsert' }).replace(/    - name: (\S+)/g, '    - name: $1\n      sync_mode: cdc');
    const file = join(dir, 'cdc.yaml');
    writeFileSync(file, yaml);
    const first = runRb(['run', file]);
    expect(first.code, first.err).toBe(0);

    // TPC-B with 4 clients until stopped.
    const load = spawn('pgbench', ['-c', '4', '-j', '2', '-T', '600', '-n', src.url], { stdio: 'ignore' });
    const moments: number[] = [];
    let killed = 0;
    try {
      for (let i = 0; i < KILLS; i++) {
        // A run that is not killed, with the load going: how long a catch-up of this backlog takes.
        await new Promise((r) => setTimeout(r, 1000 + Math.random() * 1000));
        const t0 = performance.now();
        const ok = runRb(['run', file]);
        expect(ok.code, ok.err).toBe(0);
        const duration = performance.now() - t0;
        // Then one killed somewhere in its start-up, copy-free catch-up or finish.
        await new Promise((r) => setTimeout(r, 1000 + Math.random() * 1000));
        const at = Math.round(duration * (0.35 + Math.random() * 0.6));
        moments.push(at);
        const r = await runAndKill(file, at);
        if (r.killed) killed++;
        else expect(r.code, `run ${i} (kill planned at ${at} ms) ended by itself`).toBe(0);
      }
    } finally {
      load.kill('SIGINT');
      await new Promise((r) => load.on('exit', r));
    }
    const last = runRb(['run', file, '--json']);
    expect(last.code, last.err).toBe(0);
    const j = JSON.parse(last.out);
    expect(j.cdc.transactions).toBeGreaterThanOrEqual(0);
    for (const t of TABLES) {
      expect((await dst.query(tableHash(t))).rows[0], `${t} (kills at ${moments.join(', ')} ms)`).toEqual((await src.query(tableHash(t))).rows[0]);
    }
    // The source really changed under rb, and the kills really interrupted runs.
    expect((await src.query(`select count(*)::int as n from pgbench_history`)).rows[0].n).toBeGreaterThan(1000);
    expect(killed, `kill moments: ${moments.join(', ')}`).toBeGreaterThanOrEqual(3);
    const abandoned = await dst.query(`select count(*)::int as n from _rb.runs where pipeline = 'cdc_kill' and status = 'abandoned'`);
    expect(abandoned.rows[0].n).toBeGreaterThanOrEqual(3);
  });
});
