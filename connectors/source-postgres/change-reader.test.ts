/**
 * The change reader's progress against the embedded PostgreSQL: while following, a transaction
 * arriving after a quiet spell shows as lag before its first write starts (a long write used to
 * leave the last quiet report, lag 0, in place until its commit), and the lag is 0 again once the
 * transaction is committed and nothing more is waiting.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../../engine/testing/pg.js';
import type { ChangeProgress, TransactionItem } from '../contract/changes.js';
import { resolveServerEndpoint, type PgEndpoint } from '../postgres/connection.js';
import { readChanges } from './change-reader.js';
import { parseLsn } from './lsn.js';

let db: TestDb;
let ep: PgEndpoint;
const SLOT = 'rb_change_reader_test';

beforeAll(async () => {
  db = await createTestDatabase('chread');
  ep = resolveServerEndpoint({ kind: 'url', url: db.url }, 'source');
  await db.query('create table t (id int primary key, v text); create publication chread_pub for table t');
});

afterAll(async () => {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { rows } = await db.query<{ active: boolean }>('select active from pg_replication_slots where slot_name = $1', [SLOT]);
    if (!rows.length) break;
    if (!rows[0].active) await db.query('select pg_drop_replication_slot($1)', [SLOT]).catch(() => {});
    if (Date.now() > deadline) throw new Error(`slot ${SLOT} left behind`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await dropTestDatabases();
});

async function until(what: string, ok: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('readChanges progress', () => {
  it('a transaction after a quiet spell is reported as lag before its first write, and 0 after its commit', async () => {
    const created = await db.query<{ lsn: string }>(`select lsn::text from pg_create_logical_replication_slot($1, 'pgoutput')`, [SLOT]);
    const reports: ChangeProgress[] = [];
    const atFirstWrite: ChangeProgress[] = [];
    let written = 0;
    let committed = 0;
    const stop = new AbortController();
    const reading = readChanges(ep, {
      slot: SLOT,
      publications: ['chread_pub'],
      from: parseLsn(created.rows[0].lsn),
      until: null,
      signal: stop.signal,
      skipThrough: 0n,
      groupChanges: 1000,
      groupMs: 100,
      overlap: true,
      write: async (items: TransactionItem[]) => {
        if (!written) atFirstWrite.push(reports[reports.length - 1]);
        written += items.length;
        // A slow destination: the transaction's writes take about a second.
        await new Promise((r) => setTimeout(r, 200));
      },
      commit: async () => void committed++,
      onProgress: (p) => void reports.push(p),
    });
    try {
      // Quiet: the reader reports (about once a second) that it is caught up.
      await until('a quiet report', () => reports.some((p) => p.lagBytes === 0));
      await db.query(`insert into t select g, md5(g::text) from generate_series(1, 5000) g`);
      await until('the transaction committed', () => committed === 1);
      expect(written).toBe(5000);
      expect(atFirstWrite).toHaveLength(1);
      expect(atFirstWrite[0].lagBytes).toBeGreaterThan(0);
      expect(atFirstWrite[0].transactions).toBe(0);
      // After its commit, caught up again: the lag falls back to 0 with the transaction counted.
      await until('the lag back to 0', () => {
        const last = reports[reports.length - 1];
        return last.transactions === 1 && last.lagBytes === 0;
      });
      expect(reports[reports.length - 1].changes).toBe(5000);
    } finally {
      stop.abort();
    }
    const result = await reading;
    expect(result).toMatchObject({ transactions: 1, changes: 5000, lagBytes: 0 });
  }, 60_000);
});
