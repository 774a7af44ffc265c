/**
 * Streamed transactions (docs/design.md section 8 "Streamed transactions"): on PostgreSQL 14+
 * rb asks pgoutput to stream large transactions while they are in progress (protocol 2), holds
 * them in its own spill instead of the source's pg_replslot, and applies each at its commit, in
 * commit order, without the changes of rolled-back subtransactions; an aborted one leaves nothing.
 * SIGKILLed at random moments around a streamed transaction, rb applies it exactly once and leaves
 * no spill file behind.
 *
 * The source database sets logical_decoding_work_mem to its minimum (64 kB) so that transactions
 * of a few thousand rows are streamed (the walsender takes the database's settings).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRb } from '../testing/cli.js';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';

const BIN = fileURLToPath(new URL('../cli/bin.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rb-cdc-streaming-'));
/** rb's spill files go here (TMPDIR): it must be empty whenever rb is not running. */
const spillDir = mkdtempSync(join(tmpdir(), 'rb-cdc-spill-'));
const env = { TMPDIR: spillDir };
let src: TestDb;
let dst: TestDb;

beforeAll(async () => {
  src = await createTestDatabase('stream_src');
  dst = await createTestDatabase('stream_dst');
  await src.query(`alter database "${src.name}" set logical_decoding_work_mem = '64kB'`);
});
afterAll(async () => {
  await src.query(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = current_database() and not active`).catch(() => {});
  await dropTestDatabases();
});

function cdcFile(name: string, ...tables: string[]): string {
  const yaml = pipelineYaml({ name, srcUrl: src.url, dstUrl: dst.url, streams: tables, writeMode: 'upsert' }).replace(/    - name: (\S+)/g, '    - name: $1\n      sync_mode: cdc');
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, yaml);
  return file;
}

const hash = (t: string) => `select count(*)::int as n, md5(coalesce(string_agg(t::text, ',' order by t::text), '')) as h from ${t} t`;

async function slotStats(slot: string): Promise<{ stream_txns: number; spill_txns: number }> {
  const r = await src.query(`select stream_txns::int, spill_txns::int from pg_stat_replication_slots where slot_name = $1`, [slot]);
  return (r.rows[0] as { stream_txns: number; spill_txns: number } | undefined) ?? { stream_txns: 0, spill_txns: 0 };
}

async function until(what: string, ok: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Source changes around a streamed transaction A: a subtransaction of A rolled back, another one
 * released, a transaction committing while A is open (and a row it changes that A changes again
 * after it), and a large transaction rolled back whole.
 */
async function interleaved(t: string): Promise<void> {
  const a = await src.client();
  await a.query('begin');
  await a.query(`insert into ${t} select g, 'a', repeat('x', 200) from generate_series(1000, 5999) g`);
  await a.query('savepoint s1');
  await a.query(`insert into ${t} select g, 'rolled back', repeat('y', 200) from generate_series(6000, 6999) g`);
  await a.query(`update ${t} set v = 'rolled back' where id <= 50`);
  await a.query('rollback to savepoint s1');
  await a.query('savepoint s2');
  await a.query(`insert into ${t} select g, 'released', repeat('z', 200) from generate_series(7000, 7499) g`);
  await a.query('release savepoint s2');
  // B commits while A is open: applied before A, which changes row 70 after B did.
  await src.query(`insert into ${t} values (50000, 'between', 'b'); update ${t} set v = 'b' where id = 70`);
  await a.query(`update ${t} set v = 'after b' where id = 70 or id between 1000 and 1100`);
  await a.query(`delete from ${t} where id between 90 and 99`);
  // C: large and rolled back.
  const c = await src.client();
  await c.query('begin');
  await c.query(`insert into ${t} select g, 'aborted', repeat('w', 200) from generate_series(100000, 104999) g`);
  await c.query('rollback');
  await a.query('commit');
}

describe('streamed transactions', () => {
  it('applies a streamed transaction once at its commit, in commit order, without its rolled-back subtransaction; an aborted one leaves nothing', async () => {
    const t = 'streamed';
    await src.query(`create table ${t} (id int primary key, v text, pad text); insert into ${t} select g, 'copied', 'c' from generate_series(1, 100) g`);
    const file = cdcFile('streaming', t);
    const first = runRb(['run', file], env);
    expect(first.code, first.err).toBe(0);
    await interleaved(t);
    const r = runRb(['run', file, '--json'], env);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    // B and A (C rolled back): A was streamed, and written at its commit.
    expect(j.cdc).toMatchObject({ transactions: 2, streamed_transactions: 1 });
    expect((await dst.query(`select v from ${t} where id = 70`)).rows[0].v).toBe('after b');
    expect((await dst.query(`select count(*)::int as n from ${t} where v in ('rolled back', 'aborted')`)).rows[0].n).toBe(0);
    expect((await dst.query(hash(t))).rows[0]).toEqual((await src.query(hash(t))).rows[0]);
    expect(readdirSync(spillDir)).toEqual([]);
    // The server streamed A rather than spilling it into its own pg_replslot (the statistics
    // count committed transactions: C is not in them).
    await until('the slot statistics', async () => (await slotStats('rb_streaming')).stream_txns >= 1, 10_000);
    expect((await slotStats('rb_streaming')).spill_txns).toBe(0);
  });

  it('RB_CDC_STREAMING=0 reads protocol 1: the same result, the server spills the transactions itself', async () => {
    const t = 'unstreamed';
    await src.query(`create table ${t} (id int primary key, v text, pad text); insert into ${t} select g, 'copied', 'c' from generate_series(1, 100) g`);
    const file = cdcFile('unstreamed', t);
    const off = { ...env, RB_CDC_STREAMING: '0' };
    expect(runRb(['run', file], off).code).toBe(0);
    await interleaved(t);
    const r = runRb(['run', file, '--json'], off);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).cdc).toMatchObject({ transactions: 2, streamed_transactions: 0 });
    expect((await dst.query(hash(t))).rows[0]).toEqual((await src.query(hash(t))).rows[0]);
    await until('the slot statistics', async () => (await slotStats('rb_unstreamed')).spill_txns >= 1, 10_000);
    expect((await slotStats('rb_unstreamed')).stream_txns).toBe(0);
  });

  it('kill -9 of rb run --follow at random moments while a transaction streams and as it commits: applied exactly once (a keyless table too), no spill file left', async () => {
    const t = 'killed';
    // Keyless and insert-only: a streamed transaction applied twice would show as repeated rows.
    const log = 'killed_log';
    await src.query(`create table ${t} (id int primary key, round int, v text); create table ${log} (round int, n int, v text)`);
    const file = cdcFile('stream_kill', t, log);
    expect(runRb(['run', file], env).code).toBe(0);
    const moments: string[] = [];
    const ROUNDS = 5;
    for (let i = 0; i < ROUNDS; i++) {
      const child = spawn(process.execPath, [BIN, 'run', file, '--follow'], { stdio: 'ignore', env: { ...process.env, ...env } });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      await until('the follow to stream', async () => (await src.query(`select coalesce(bool_or(active), false) as ok from pg_replication_slots where slot_name = 'rb_stream_kill'`)).rows[0].ok);
      const a = await src.client();
      await a.query('begin');
      await a.query(`insert into ${t} select g, ${i}, md5(g::text) || repeat('k', 300) from generate_series(${i * 100_000}, ${i * 100_000 + 29_999}) g`);
      await a.query(`insert into ${log} select ${i}, g, repeat('l', 100) from generate_series(1, 10000) g`);
      await a.query('savepoint s');
      await a.query(`update ${t} set v = 'rolled back' where round = ${i}`);
      await a.query(`insert into ${log} select ${i}, -g, 'rolled back' from generate_series(1, 1000) g`);
      await a.query('rollback to savepoint s');
      await a.query(`update ${t} set v = 'updated' where round = ${i} and id % 10 = 0`);
      // Even rounds: killed while the transaction is still open (streamed, in rb's spill); odd
      // rounds: killed after its commit, while it is replayed and applied, or after.
      const at = Math.round(Math.random() * (i % 2 ? 1500 : 600));
      if (i % 2) await a.query('commit');
      moments.push(`round ${i}: ${i % 2 ? 'after commit' : 'open'} +${at} ms`);
      await new Promise((r) => setTimeout(r, at));
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      if (!(i % 2)) await a.query('commit');
      await a.end();
      // Unlinked while open: nothing was left by the killed process.
      expect(readdirSync(spillDir), moments.join(', ')).toEqual([]);
    }
    const r = runRb(['run', file, '--json'], env);
    expect(r.code, r.err).toBe(0);
    expect((await src.query(`select count(*)::int as n from ${t}`)).rows[0].n).toBe(ROUNDS * 30_000);
    expect((await src.query(`select count(*)::int as n from ${log}`)).rows[0].n).toBe(ROUNDS * 10_000);
    for (const x of [t, log]) expect((await dst.query(hash(x))).rows[0], `${x}: ${moments.join(', ')}`).toEqual((await src.query(hash(x))).rows[0]);
    expect((await slotStats('rb_stream_kill')).stream_txns).toBeGreaterThan(0);
  });
});
