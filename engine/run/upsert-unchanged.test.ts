/**
 * An upsert writes only the rows that changed (connectors/dest-postgres/finalize.ts mergeStaging):
 * a row whose written columns have the same binary image in the target is not updated — no new
 * row version (pg_stat_user_tables.n_tup_upd), no trigger — while a change the type's own
 * equality would call "equal" (1.0 → 1.00, 0 → -0, a citext's case) is still written, and types
 * without an equality operator (json, point) compare too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../config/index.js';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';
import { runPipeline, type RunResult } from './run-pipeline.js';

let src: TestDb;
let dst: TestDb;
let n = 0;

beforeAll(async () => {
  src = await createTestDatabase('uu_src');
  dst = await createTestDatabase('uu_dst');
});
afterAll(async () => {
  await dropTestDatabases();
});

async function upsert(table: string, env: Record<string, string> = {}): Promise<RunResult> {
  const text = pipelineYaml({ name: `uu_${table}_${++n}`, srcUrl: src.url, dstUrl: dst.url, streams: [table], writeMode: 'upsert', primaryKey: ['id'] });
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    const r = await runPipeline(parsePipelineConfig(text, 'p.yaml', {}), { parallelism: 2, availableCores: 2 });
    expect(r.error, JSON.stringify(r.error)).toBeUndefined();
    return r;
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Row versions written into the table since the last call (the statistics are flushed first). */
async function updatesOf(table: string): Promise<number> {
  await dst.query('select pg_stat_force_next_flush()');
  // Statistics of other backends reach the shared counters when those backends flush (at commit
  // or exit, at most once a second): wait until the count is stable.
  let last = -1;
  for (let i = 0; i < 40; i++) {
    await dst.query('select pg_stat_clear_snapshot()');
    const r = await dst.query(`select n_tup_upd::int as upd from pg_stat_user_tables where relid = $1::regclass`, [table]);
    const upd = r.rows[0].upd as number;
    if (upd === last) return upd;
    last = upd;
    await new Promise((res) => setTimeout(res, 300));
  }
  return last;
}

describe('upsert writes only what changed', () => {
  it('unchanged rows are not rewritten; 1% changed → exactly those rows get a new version', async () => {
    const t = 'uu_narrow';
    await src.query(`create table ${t} (id int primary key, bid int, abalance int, filler char(84));
      insert into ${t} select g, g % 10, 0, '' from generate_series(1, 20000) g`);
    await upsert(t);
    const base = await updatesOf(t);
    await upsert(t);
    expect((await updatesOf(t)) - base).toBe(0);
    await src.query(`update ${t} set abalance = abalance + 1 where id % 100 = 0`);
    await upsert(t);
    expect((await updatesOf(t)) - base).toBe(200);
    expect((await dst.query(`select count(*)::int as n from ${t} where abalance = 1`)).rows[0].n).toBe(200);
    // The switch that rewrites every row (the A/B's baseline) still does.
    await upsert(t, { RB_UPSERT_SKIP_UNCHANGED: '0' });
    expect((await updatesOf(t)) - base).toBe(200 + 20000);
  });

  it('a value equal by its type but not identical is written; json, point and NULLs compare', async () => {
    const t = 'uu_exact';
    await src.query(`create extension if not exists citext`);
    await dst.query(`create extension if not exists citext`);
    await src.query(`create table ${t} (id int primary key, n numeric, f float8, c citext, j json, p point, z text);
      insert into ${t} values (1, 1.0, 0, 'abc', '{"a": 1}', point(1, 2), null), (2, 2, 1, 'x', '[]', point(0, 0), 'z')`);
    await upsert(t);
    const base = await updatesOf(t);
    await upsert(t);
    expect((await updatesOf(t)) - base).toBe(0);
    // Each of these is "=" to the old value by its type, but not the same value.
    await src.query(`update ${t} set n = 1.00, f = '-0', c = 'ABC', j = '{"a":1}' where id = 1`);
    await src.query(`update ${t} set z = null where id = 2`);
    await upsert(t);
    expect((await updatesOf(t)) - base).toBe(2);
    const rows = (await dst.query(`select id, n::text, f::text, c::text, j::text, z from ${t} order by id`)).rows;
    expect(rows).toEqual([
      { id: 1, n: '1.00', f: '-0', c: 'ABC', j: '{"a":1}', z: null },
      { id: 2, n: '2', f: '1', c: 'x', j: '[]', z: null },
    ]);
  });
});
