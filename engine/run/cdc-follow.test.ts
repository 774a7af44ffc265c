/**
 * `rb run --follow` on a cdc pipeline (docs/design.md section 8), through the real binary: it
 * keeps streaming until SIGTERM/SIGINT, then commits what it holds and exits 0; a transaction of
 * hundreds of thousands of rows is written in pieces inside one destination transaction, so the
 * process's memory does not grow with it.
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

const BIN = fileURLToPath(new URL('../cli/bin.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rb-cdc-follow-'));
let src: TestDb;
let dst: TestDb;
let n = 0;

beforeAll(async () => {
  src = await createTestDatabase('follow_src');
  dst = await createTestDatabase('follow_dst');
});
afterAll(async () => {
  await src.query(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = current_database() and not active`);
  await dropTestDatabases();
});

function cdcFile(name: string, tables: string[]): string {
  const yaml = pipelineYaml({ name, srcUrl: src.url, dstUrl: dst.url, streams: tables, writeMode: 'upsert' }).replace(/    - name: (\S+)/g, '    - name: $1\n      sync_mode: cdc');
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, yaml);
  return file;
}

interface Running {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>;
}

function start(args: string[]): Running {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, out, err })));
  return { child, done };
}

async function until(what: string, ok: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const hash = (t: string) => `select count(*)::int as n, md5(coalesce(string_agg(t::text, ',' order by t::text), '')) as h from ${t} t`;

describe('rb run --follow', () => {
  it('streams changes as they commit until SIGTERM, then commits what it holds and exits 0', async () => {
    const t = `f${++n}`;
    await src.query(`create table ${t} (id int primary key, v text); insert into ${t} select g, 'v' || g from generate_series(1, 100) g`);
    const file = cdcFile(`follow_${t}`, [t]);
    const run = start(['run', file, '--follow', '--json']);
    // The first run copies, then follows: changes made now arrive without another run.
    await until('the copy', async () => (await dst.query(`select to_regclass('${t}') is not null as ok`)).rows[0].ok && (await dst.query(`select count(*)::int as n from ${t}`)).rows[0].n === 100);
    await src.query(`insert into ${t} values (1000, 'followed')`);
    await until('the insert to arrive', async () => (await dst.query(`select count(*)::int as n from ${t} where id = 1000`)).rows[0].n === 1);
    await src.query(`update ${t} set v = 'updated' where id <= 10; delete from ${t} where id between 50 and 59`);
    await until('update and delete', async () => (await dst.query(`select count(*)::int as n from ${t}`)).rows[0].n === 91);
    // Idle now: the slot is confirmed up to the server's position, not only to the last change.
    const walNow = (await src.query(`select pg_current_wal_insert_lsn()::text as l`)).rows[0].l as string;
    await until('the slot to pass the idle position', async () => (await src.query(`select confirmed_flush_lsn >= $1::pg_lsn as ok from pg_replication_slots where slot_name = $2`, [walNow, `rb_follow_${t}`])).rows[0].ok);
    run.child.kill('SIGTERM');
    const r = await run.done;
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/SIGTERM: committing the changes in hand, then stopping/);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ status: 'succeeded', cdc: { transactions: 2, changes: 21 } });
    expect((await dst.query(hash(t))).rows[0]).toEqual((await src.query(hash(t))).rows[0]);
    const runs = await dst.query(`select status from _rb.runs where pipeline = $1`, [`follow_${t}`]);
    expect(runs.rows.map((x) => x.status)).toEqual(['succeeded']);
    const stored = await dst.query(`select lsn::text as l from _rb.stream_state where pipeline = $1`, [`follow_${t}`]);
    expect(stored.rows[0].l).toBe(j.cdc.to);

    // The next follow goes on from there: nothing applied twice, and SIGINT stops it the same way.
    const again = start(['run', file, '--follow', '--json']);
    await src.query(`insert into ${t} values (2000, 'second follow')`);
    await until('the second follow to apply', async () => (await dst.query(`select count(*)::int as n from ${t} where id = 2000`)).rows[0].n === 1);
    again.child.kill('SIGINT');
    const r2 = await again.done;
    expect(r2.code, r2.err).toBe(0);
    expect(JSON.parse(r2.out).cdc).toMatchObject({ transactions: 1, changes: 1 });
    expect((await dst.query(hash(t))).rows[0]).toEqual((await src.query(hash(t))).rows[0]);
  });

  it('refuses --follow on a pipeline without cdc streams (exit 2)', async () => {
    const t = `f${++n}`;
    await src.query(`create table ${t} (id int primary key)`);
    const yaml = pipelineYaml({ name: `nofollow_${t}`, srcUrl: src.url, dstUrl: dst.url, streams: [t] });
    const file = join(dir, `nofollow_${t}.yaml`);
    writeFileSync(file, yaml);
    const r = runRb(['run', file, '--follow']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--follow streams changes: it needs a cdc pipeline/);
  });

  it('writes a 400,000-row transaction in pieces: it fits in a 160 MB heap', async () => {
    const t = `f${++n}`;
    await src.query(`create table ${t} (id int primary key, a text, b text, c text, d text)`);
    const file = cdcFile(`big_${t}`, [t]);
    expect(runRb(['run', file]).code).toBe(0);
    await src.query(`insert into ${t} select g, md5(g::text) || md5((g + 1)::text), md5((g + 2)::text) || md5((g + 3)::text), md5((g + 4)::text), md5((g + 5)::text) from generate_series(1, 400000) g`);
    // Held whole until its commit, the transaction's 400,000 rows (~170 bytes of text each) take
    // more JavaScript heap than this (measured: the process runs out of memory); written in
    // pieces of ~20,000 changes inside one destination transaction, they fit.
    const big = runRb(['run', file, '--json'], { NODE_OPTIONS: '--max-old-space-size=160' });
    expect(big.code, big.err.slice(-2000)).toBe(0);
    const b = JSON.parse(big.out);
    expect(b.cdc).toMatchObject({ transactions: 1, changes: 400_000, largest_transaction: 400_000, rows_written: 400_000 });
    expect((await dst.query(hash(t))).rows[0]).toEqual((await src.query(hash(t))).rows[0]);
    // One destination transaction: the stored position is the transaction's end, nothing before it.
    const stored = await dst.query(`select lsn::text as l from _rb.stream_state where pipeline = $1`, [`big_${t}`]);
    expect(stored.rows[0].l).toBe(b.cdc.to);
  });
});
