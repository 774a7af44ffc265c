/**
 * CDC against server settings that bite (docs/design.md section 8), on a cluster of its own so
 * its settings touch no other test: a 5 s wal_sender_timeout while the destination blocks the
 * apply for longer (the stream must stay alive), a slot the server invalidated
 * (max_slot_wal_keep_size: a clear error and the way back), and an idle source database whose
 * slot must not keep the WAL another, busy database writes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path, { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterUrl, ensureCluster, ensureDatabase, resetCluster, type ClusterInfo } from '../embedded/cluster.js';
import { runRb } from '../testing/cli.js';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';

const BIN = fileURLToPath(new URL('../cli/bin.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rb-cdc-server-'));
const root = path.resolve('.rb', 'test-clusters', `cdc-server-${process.pid}`);
let info: ClusterInfo;
let admin: pg.Client;
let dst: TestDb;
let n = 0;

beforeAll(async () => {
  mkdirSync(path.dirname(root), { recursive: true });
  info = await ensureCluster(root);
  admin = new pg.Client({ connectionString: clusterUrl(info, 'postgres') });
  admin.on('error', () => {});
  await admin.connect();
  dst = await createTestDatabase('cdcsrv_dst');
}, 120_000);
afterAll(async () => {
  await admin?.end().catch(() => {});
  await dropTestDatabases();
  await resetCluster(root).catch(() => {});
  rmSync(root, { recursive: true, force: true });
});

async function sourceDb(): Promise<{ url: string; client: pg.Client }> {
  const name = `src_${++n}`;
  await ensureDatabase(info, name);
  const url = clusterUrl(info, name);
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  return { url, client };
}

function cdcFile(name: string, srcUrl: string, tables: string[]): string {
  const yaml = pipelineYaml({ name, srcUrl, dstUrl: dst.url, streams: tables, writeMode: 'upsert' }).replace(/    - name: (\S+)/g, '    - name: $1\n      sync_mode: cdc');
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, yaml);
  return file;
}

async function setting(name: string, value: string | null): Promise<void> {
  await admin.query(value === null ? `alter system reset ${name}` : `alter system set ${name} = '${value}'`);
  await admin.query('select pg_reload_conf()');
  await new Promise((r) => setTimeout(r, 300));
}

const hash = (t: string) => `select count(*)::int as n, md5(coalesce(string_agg(t::text, ',' order by t::text), '')) as h from ${t} t`;

describe('cdc and the server', () => {
  it('wal_sender_timeout = 5s while the destination blocks a commit for 12 s and the stream is paused: it stays alive and the run succeeds', async () => {
    await setting('wal_sender_timeout', '5s');
    try {
      const src = await sourceDb();
      const t = `w${n}`;
      await src.client.query(`create table ${t} (id int primary key, v text)`);
      const file = cdcFile(`timeout_${t}`, src.url, [t]);
      expect(runRb(['run', file]).code).toBe(0);
      // Two large transactions. The first one's commit waits 12 s on the destination (the test
      // holds a lock on rb's state table); the second one's changes meanwhile fill the stream's
      // 8 MB queue, the socket is paused, and only rb's own status updates keep the walsender
      // from ending the stream after 5 s.
      for (let i = 0; i < 2; i++) await src.client.query(`insert into ${t} select g, repeat(md5(g::text), 2) from generate_series(${i * 150_000 + 1}, ${(i + 1) * 150_000}) g`);
      const t0 = performance.now();
      const child = spawn(process.execPath, [BIN, 'run', file, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout!.on('data', (d) => (out += d));
      child.stderr!.on('data', (d) => (err += d));
      const code = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      const slot = `rb_timeout_${t}`;
      for (let i = 0; !(await admin.query(`select active from pg_replication_slots where slot_name = $1`, [slot])).rows[0]?.active; i++) {
        expect(i < 600, err).toBe(true);
        await new Promise((r) => setTimeout(r, 50));
      }
      const lock = await dst.client();
      await lock.query(`begin; lock table _rb.stream_state in exclusive mode`);
      await new Promise((r) => setTimeout(r, 12_000));
      // The apply really waited on the lock all that time.
      const waiting = await dst.query(`select count(*)::int as n from pg_locks where relation = '_rb.stream_state'::regclass and not granted`);
      expect(waiting.rows[0].n).toBeGreaterThan(0);
      await lock.query('commit');
      expect(await code, err).toBe(0);
      expect(performance.now() - t0).toBeGreaterThan(12_000);
      expect(JSON.parse(out).cdc).toMatchObject({ transactions: 2, changes: 300_000 });
      const q = hash(t);
      expect((await dst.query(q)).rows[0]).toEqual((await src.client.query(q)).rows[0]);
      await src.client.end();
    } finally {
      await setting('wal_sender_timeout', null);
    }
  });

  it('an idle source database: its slot does not keep the WAL that another, busy database writes', async () => {
    const idle = await sourceDb();
    const busy = await sourceDb();
    const t = `i${n}`;
    await idle.client.query(`create table ${t} (id int primary key)`);
    const file = cdcFile(`idle_${t}`, idle.url, [t]);
    const child = spawn(process.execPath, [BIN, 'run', file, '--follow', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    const code = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    const slot = `rb_idle_${t}`;
    const active = async () => (await admin.query(`select active from pg_replication_slots where slot_name = $1`, [slot])).rows[0]?.active === true;
    for (let i = 0; !(await active()); i++) {
      expect(i < 300, err).toBe(true);
      await new Promise((r) => setTimeout(r, 100));
    }
    const start = (await admin.query(`select pg_current_wal_lsn()::text as l`)).rows[0].l as string;
    // ~100 MB of WAL in the other database.
    await busy.client.query(`create table filler (id int, v text)`);
    for (let i = 0; i < 10; i++) await busy.client.query(`insert into filler select g, repeat(md5(g::text), 4) from generate_series(1, 50000) g`);
    await busy.client.query('checkpoint');
    await new Promise((r) => setTimeout(r, 2000));
    const r = await admin.query(
      `select pg_wal_lsn_diff(pg_current_wal_lsn(), $2::pg_lsn)::bigint as written, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint as behind, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint as retained from pg_replication_slots where slot_name = $1`,
      [slot, start],
    );
    const { written, behind, retained } = r.rows[0];
    expect(Number(written)).toBeGreaterThan(50 * 2 ** 20);
    // Confirmed up to the server's position (keepalives answered with it), not left at the start.
    expect(Number(behind), `slot ${Number(behind)} bytes behind after ${Number(written)} bytes written`).toBeLessThan(2 * 2 ** 20);
    // And the WAL the slot keeps moved on with it (at the checkpoint's record of running transactions).
    expect(Number(retained), `slot retains ${Number(retained)} bytes`).toBeLessThan(16 * 2 ** 20);
    child.kill('SIGTERM');
    expect(await code, err).toBe(0);
    expect(JSON.parse(out).cdc.transactions).toBe(0);
    await idle.client.end();
    await busy.client.end();
  });

  it('a slot the server invalidated (max_slot_wal_keep_size) is a clear error naming the slot and the resync; after rb state reset the next run copies anew', async () => {
    const src = await sourceDb();
    const t = `l${n}`;
    await src.client.query(`create table ${t} (id int primary key, v text); insert into ${t} select g, 'v' from generate_series(1, 100) g`);
    const file = cdcFile(`lost_${t}`, src.url, [t]);
    expect(runRb(['run', file]).code).toBe(0);
    const slot = `rb_lost_${t}`;
    await setting('max_slot_wal_keep_size', '1MB');
    try {
      // WAL piles up with rb stopped; the checkpoint gives it up, and the slot with it.
      await src.client.query(`update ${t} set v = 'lost change'`);
      for (let i = 0; i < 10 && (await admin.query(`select wal_status from pg_replication_slots where slot_name = $1`, [slot])).rows[0].wal_status !== 'lost'; i++) {
        await src.client.query(`create table if not exists filler (v text); insert into filler select repeat(md5(g::text), 4) from generate_series(1, 20000) g`);
        await src.client.query(`select pg_switch_wal()`);
        await src.client.query('checkpoint');
      }
      expect((await admin.query(`select wal_status from pg_replication_slots where slot_name = $1`, [slot])).rows[0].wal_status).toBe('lost');
      const r = runRb(['run', file]);
      expect(r.code).toBe(3);
      expect(r.err).toContain(`replication slot ${slot} was invalidated by the server`);
      expect(r.err).toMatch(/rb state reset .* --yes/);
    } finally {
      await setting('max_slot_wal_keep_size', null);
    }
    expect(runRb(['state', 'reset', file, '--yes']).code).toBe(0);
    const again = runRb(['run', file, '--json']);
    expect(again.code, again.err).toBe(0);
    expect(JSON.parse(again.out).streams[0].rows).toBe(100);
    const q = hash(t);
    expect((await dst.query(q)).rows[0]).toEqual((await src.client.query(q)).rows[0]);
    await src.client.end();
  });
});
