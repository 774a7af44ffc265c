/**
 * Rows the destination rejects (docs/design.md section 9, connectors/dest-postgres/bad-rows.ts):
 * 1M source rows into a pre-created target with a CHECK constraint 37 of them violate and a
 * NOT NULL 5 of them violate. `dlq` keeps every good row and dead-letters the 42 with their
 * messages, in the shards' own transactions; `skip` counts them; `fail` stops with exit 5 naming
 * a bad row's key. The same through `load_method: insert`, and for upsert (the staging table
 * enforces the target's constraints, so its rows are isolated too).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../config/index.js';
import { runRb } from '../testing/cli.js';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';
import { exitCodeOf, runPipeline, type RunResult } from './run-pipeline.js';

let src: TestDb;
let dst: TestDb;
const ROWS = 1_000_000;
/** ids whose v is negative (CHECK v >= 0) and whose s is NULL (NOT NULL): spread over the table. */
const CHECK_BAD = Array.from({ length: 37 }, (_, i) => 1 + i * 27_011);
const NULL_BAD = [5, 250_003, 500_001, 750_007, 999_999];

beforeAll(async () => {
  src = await createTestDatabase('bad_src');
  dst = await createTestDatabase('bad_dst');
  await src.query(`create table items (id int primary key, v int, s text, note text)`);
  await src.query(`insert into items select g, g % 1000, 's' || g, case when g % 3 = 0 then E'tab\\there' end from generate_series(1, ${ROWS}) g`);
  await src.query(`update items set v = -id where id = any($1::int[])`, [CHECK_BAD]);
  await src.query(`update items set s = null where id = any($1::int[])`, [NULL_BAD]);
  await src.query(`create table small (id int primary key, v int, s text)`);
  await src.query(`insert into small select g, g % 100, 's' || g from generate_series(1, 20000) g`);
  await src.query(`update small set v = -1 where id in (7, 8, 9, 19999); update small set s = null where id = 12000`);
}, 120_000);
afterAll(async () => {
  await dropTestDatabases();
});

async function target(name: string): Promise<void> {
  await dst.query(`drop table if exists ${name}; create table ${name} (id int primary key, v int constraint v_not_negative check (v >= 0), s text not null, note text)`);
}

function yaml(name: string, stream: string, policy: string, opts: { loadMethod?: 'copy' | 'insert'; writeMode?: 'append' | 'upsert' } = {}): string {
  const writeMode = opts.writeMode ?? 'append';
  return pipelineYaml({ name, srcUrl: src.url, dstUrl: dst.url, streams: [stream], writeMode, loadMethod: opts.loadMethod, primaryKey: writeMode === 'upsert' ? ['id'] : undefined, extra: `  on_data_error: ${policy}` });
}

async function run(text: string): Promise<RunResult> {
  return await runPipeline(parsePipelineConfig(text, 'p.yaml', {}), { parallelism: 2, availableCores: 2 });
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  return Number((await dst.query(sql, params)).rows[0].n);
}

describe('on_data_error', () => {
  it('dlq: every good row of 1M in the target, the 42 rejected ones in _rb.dlq with their messages, exact text forms and constraint', async () => {
    await target('items');
    const r = await run(yaml('bad_dlq', 'items', 'dlq'));
    expect(r.error, JSON.stringify(r.error)).toBeUndefined();
    expect(r.streams[0]).toMatchObject({ rows: ROWS - 42, rows_dead_lettered: 42, rows_skipped: 0 });
    expect(r.dlq_table).toBe('"_rb".dlq');
    expect(await count(`select count(*) as n from items`)).toBe(ROWS - 42);
    // Exactly the good rows: none of the bad ids, all of the others, values equal.
    expect(await count(`select count(*) as n from items where id = any($1::int[])`, [[...CHECK_BAD, ...NULL_BAD]])).toBe(0);
    const h = `select md5(string_agg(concat_ws(':', id, v, s, note), ',' order by id)) as h from items where not (id = any($1::int[]))`;
    expect((await dst.query(h, [[...CHECK_BAD, ...NULL_BAD]])).rows[0].h).toBe((await src.query(h, [[...CHECK_BAD, ...NULL_BAD]])).rows[0].h);

    const dlq = await dst.query(`select row_data, error, sqlstate, constraint_name, column_name, stream, shard, row_number, detail from _rb.dlq where pipeline = 'bad_dlq' and run_id = $1 order by (row_data->>'id')::int`, [r.run_id]);
    expect(dlq.rows.length).toBe(42);
    expect(dlq.rows.map((x) => Number(x.row_data.id))).toEqual([...CHECK_BAD, ...NULL_BAD].sort((a, b) => a - b));
    const check = dlq.rows.find((x) => Number(x.row_data.id) === CHECK_BAD[1])!;
    expect(check).toMatchObject({ sqlstate: '23514', constraint_name: 'v_not_negative', stream: 'items' });
    expect(check.error).toMatch(/violates check constraint "v_not_negative"/);
    // The row's exact text forms: NULL as null, a tab inside a value kept.
    expect(check.row_data).toEqual({ id: String(CHECK_BAD[1]), v: String(-CHECK_BAD[1]), s: `s${CHECK_BAD[1]}`, note: CHECK_BAD[1] % 3 === 0 ? 'tab\there' : null });
    const nul = dlq.rows.find((x) => Number(x.row_data.id) === 250_003)!;
    expect(nul).toMatchObject({ sqlstate: '23502', column_name: 's' });
    expect(nul.row_data.s).toBeNull();
    expect(nul.detail).toMatch(/Failing row contains/);
    expect(Number(nul.row_number)).toBeGreaterThan(0);
  }, 180_000);

  it('skip: the good rows, 42 counted, no dead letters', async () => {
    await target('items');
    const r = await run(yaml('bad_skip', 'items', 'skip'));
    expect(r.error, JSON.stringify(r.error)).toBeUndefined();
    expect(r.streams[0]).toMatchObject({ rows: ROWS - 42, rows_skipped: 42, rows_dead_lettered: 0 });
    expect(await count(`select count(*) as n from items`)).toBe(ROWS - 42);
    expect(await count(`select count(*) as n from _rb.dlq where pipeline = 'bad_skip'`)).toBe(0);
  }, 180_000);

  it('fail: exit 5 naming a bad row by its key and the database\'s message; upsert leaves the target as it was', async () => {
    await target('small');
    await dst.query(`insert into small values (1, 1, 'kept', null)`);
    const r = await run(yaml('bad_fail', 'small', 'fail', { writeMode: 'upsert' }));
    expect(exitCodeOf(r)).toBe(5);
    expect(r.error?.code).toBe('data_error');
    expect(r.error?.message).toMatch(/small shard \d+: the row with id = "(7|12000|19999)" was rejected by the destination: .*(violates check constraint "v_not_negative"|violates not-null constraint).*\(destination\.on_data_error: fail\)/);
    expect((await dst.query(`select id, v, s from small`)).rows).toEqual([{ id: 1, v: 1, s: 'kept' }]);
    expect(await count(`select count(*) as n from pg_tables where tablename like 'small__rb%'`)).toBe(0);
  }, 120_000);

  it('load_method insert (append: a row whose key the target has is rejected too), and upsert into a table that has rows: dead letters the bad rows, writes the others', async () => {
    for (const [name, opts, rejected] of [
      ['bad_ins', { loadMethod: 'insert' as const }, [1, 7, 8, 9, 12000, 19999]],
      ['bad_ups', { writeMode: 'upsert' as const }, [7, 8, 9, 12000, 19999]],
    ] as const) {
      await target('small');
      await dst.query(`insert into small values (1, 50, 'old', null), (20001, 1, 'not in the source', null)`);
      const r = await run(yaml(name, 'small', 'dlq', opts));
      expect(r.error, `${name}: ${JSON.stringify(r.error)}`).toBeUndefined();
      expect(r.streams[0].rows_dead_lettered, name).toBe(rejected.length);
      const dlq = await dst.query(`select (row_data->>'id')::int as id, sqlstate from _rb.dlq where pipeline = $1 order by 1`, [name]);
      expect(dlq.rows.map((x) => x.id), name).toEqual(rejected);
      const h = `select count(*)::int as n, md5(string_agg(concat_ws(':', id, v, s), ',' order by id)) as h from small where id between 2 and 20000 and id not in (7, 8, 9, 12000, 19999)`;
      expect((await dst.query(h)).rows[0], name).toEqual((await src.query(h)).rows[0]);
      expect(await count(`select count(*) as n from small where id = 20001`), name).toBe(1);
      // Append kept the target's row 1 (the source's was rejected: 23505); upsert updated it.
      expect((await dst.query(`select s from small where id = 1`)).rows[0].s, name).toBe(name === 'bad_ins' ? 'old' : 's1');
      if (name === 'bad_ins') expect(dlq.rows[0].sqlstate).toBe('23505');
    }
  }, 180_000);

  it('replace into a target with a CHECK and a NOT NULL: the new table keeps them, its rows are isolated while loading (dlq), the target is swapped with the good rows', async () => {
    await target('small');
    await dst.query(`insert into small values (1, 1, 'old', null)`);
    const r = await run(yaml('bad_repl', 'small', 'dlq', { writeMode: 'replace' as never }).replace('write_mode: append', 'write_mode: replace'));
    expect(r.error, JSON.stringify(r.error)).toBeUndefined();
    expect(r.streams[0]).toMatchObject({ rows: 19995, rows_dead_lettered: 5 });
    expect(await count(`select count(*) as n from small`)).toBe(19995);
    expect((await dst.query(`select s from small where id = 1`)).rows[0].s).toBe('s1');
    const dlq = await dst.query(`select (row_data->>'id')::int as id from _rb.dlq where pipeline = 'bad_repl' order by 1`);
    expect(dlq.rows.map((x) => x.id)).toEqual([7, 8, 9, 12000, 19999]);
    // The swapped-in table still has the target's constraints.
    await expect(dst.query(`insert into small values (30000, -5, 'x')`)).rejects.toThrow(/v_not_negative/);
  }, 120_000);

  it('rb run: --json counts the rows per stream, the summary says where they went, fail exits 5 with the row named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-bad-rows-'));
    await target('small');
    const dlqFile = join(dir, 'dlq.yaml');
    writeFileSync(dlqFile, yaml('bad_cli_dlq', 'small', 'dlq'));
    const json = runRb(['run', dlqFile, '--json']);
    expect(json.code, json.err).toBe(0);
    const out = JSON.parse(json.out);
    expect(out.streams[0]).toMatchObject({ name: 'small', rows: 19995, rows_dead_lettered: 5, rows_skipped: 0 });
    expect(out.dlq_table).toBe('"_rb".dlq');
    await target('small');
    const human = runRb(['run', dlqFile]);
    expect(human.code, human.err).toBe(0);
    expect(human.out).toContain('small: 5 row(s) rejected by the destination were written to "_rb".dlq (on_data_error: dlq)');
    await target('small');
    const failFile = join(dir, 'fail.yaml');
    writeFileSync(failFile, yaml('bad_cli_fail', 'small', 'fail'));
    const failed = runRb(['run', failFile]);
    expect(failed.code).toBe(5);
    expect(failed.err).toMatch(/the row with id = "(7|12000|19999)" was rejected by the destination/);
  }, 120_000);
});
