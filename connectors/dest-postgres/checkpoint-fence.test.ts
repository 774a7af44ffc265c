/**
 * The checkpoint fence (checkpoint.ts applyCheckpoint, state-store.ts claimStreamCursor) against
 * a real server: two attempts of one incremental shard that both continue from the same stored
 * cursor (a queued worker paused past its job's expiry while another continued the shard) cannot
 * both checkpoint: the second waits for the first's transaction, then fails `superseded`
 * (transient: its retry continues after the cursor now stored) and its rows roll back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../../engine/testing/pg.js';
import { isTransient, RbError } from '../contract/errors.js';
import type { WriteContract } from '../contract/write-contract.js';
import { applyCheckpoint } from './checkpoint.js';
import { ensureStateSchema, writeStreamState } from './state-store.js';

let db: TestDb;
const RUN_1 = '00000000-0000-4000-8000-000000000001';
const RUN_2 = '00000000-0000-4000-8000-000000000002';
const target = { schema: '_rb', pipeline: 'fence', runId: RUN_2, stream: 'public.t', syncMode: 'incremental', cursorFields: ['id'], fieldTypes: ['integer'] };
const contract = { writeMode: 'append' } as WriteContract;

beforeAll(async () => {
  db = await createTestDatabase('fence');
  const c = await db.client();
  await ensureStateSchema(c, '_rb');
  await c.query('create table t (id int)');
  await writeStreamState(c, '_rb', 'fence', { stream: 'public.t', syncMode: 'incremental', cursorFields: ['id'], cursor: ['5'], lookback: null, runId: RUN_1 });
});
afterAll(dropTestDatabases);

describe('incremental checkpoint fence', () => {
  it('of two attempts continuing from one cursor, the second to checkpoint fails superseded and keeps none of its rows', async () => {
    const [a, b] = [await db.client(), await db.client()];
    const from = { runId: RUN_1, cursor: ['5'] };
      for (const c of [a, b]) await c.query('begin');
      await a.query('insert into t select generate_series(6, 10)');
      await b.query('insert into t select generate_series(6, 10)');
      const stored = await applyCheckpoint(a, contract, target, ['10'], null, { from });
      expect(stored).toEqual({ runId: RUN_2, cursor: ['10'] });
      // B's fence waits for A's lock on the stream's row, then sees A's cursor.
      const late = applyCheckpoint(b, contract, target, ['10'], null, { from }).then(
        () => null,
        (e: unknown) => e,
      );
      await new Promise((r) => setTimeout(r, 300));
      await a.query('commit');
      const err = await late;
      expect(err).toBeInstanceOf(RbError);
      expect((err as RbError).details?.ledger).toBe('superseded');
      expect(isTransient(err as RbError)).toBe(true);
      expect((err as RbError).message).toContain(`public.t: its stored cursor moved while this attempt ran (now ["10"] of run ${RUN_2}; this attempt continued from ["5"] of run ${RUN_1})`);
      await b.query('rollback');
      const rows = await db.query('select count(*)::int as n, count(distinct id)::int as d from t');
      expect(rows.rows[0]).toEqual({ n: 5, d: 5 });

      // Continuing from what is stored now is accepted, and chains to the next checkpoint.
      await b.query('begin');
      const next = await applyCheckpoint(b, contract, target, ['12'], null, { from: stored });
      expect(await applyCheckpoint(b, contract, target, ['14'], null, { from: next })).toEqual({ runId: RUN_2, cursor: ['14'] });
      await b.query('commit');
      expect((await db.query(`select cursor from _rb.stream_state where pipeline = 'fence'`)).rows[0].cursor).toEqual(['14']);
  });
});
