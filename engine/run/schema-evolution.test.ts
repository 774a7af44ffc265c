/**
 * schema_evolution against an existing target (docs/design.md section 9,
 * connectors/dest-postgres/prepare.ts): each policy value, in append, upsert and incremental
 * runs, with every decision in the run's `schema_changes`; an ADD COLUMN in the source between two
 * incremental runs brings the column and its values.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../config/index.js';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';
import { exitCodeOf, runPipeline, type RunResult } from './run-pipeline.js';

let src: TestDb;
let dst: TestDb;
let n = 0;

beforeAll(async () => {
  src = await createTestDatabase('se_src');
  dst = await createTestDatabase('se_dst');
});
afterAll(async () => {
  await dropTestDatabases();
});

type Mode = 'append' | 'upsert' | 'incremental';

function yaml(table: string, mode: Mode, policy: string, extra = ''): string {
  const text = pipelineYaml({
    name: `se_${table}_${++n}`,
    srcUrl: src.url,
    dstUrl: dst.url,
    streams: [table],
    writeMode: mode === 'append' ? 'append' : 'upsert',
    primaryKey: mode === 'append' ? undefined : ['id'],
    extra: `  schema_evolution: { ${policy} }\n${extra}`,
  });
  return mode === 'incremental' ? text.replace(`    - name: ${table}`, `    - name: ${table}\n      sync_mode: incremental\n      cursor_field: id`) : text;
}

async function run(text: string): Promise<RunResult> {
  return await runPipeline(parsePipelineConfig(text, 'p.yaml', {}), { parallelism: 2, availableCores: 2 });
}
async function ok(text: string): Promise<RunResult> {
  const r = await run(text);
  expect(r.error, JSON.stringify(r.error)).toBeUndefined();
  return r;
}
const rows = async (sql: string) => (await dst.query(sql)).rows;

describe('schema_evolution', () => {
  it.each(['append', 'upsert', 'incremental'] as const)('new_column add / ignore / fail (%s)', async (mode) => {
    const t = `nc_${mode}`;
    await src.query(`create table ${t} (id int primary key, a text, b text); insert into ${t} values (1, 'a1', 'b1'), (2, 'a2', 'b2')`);
    await dst.query(`create table ${t} (id int primary key, a text)`);
    const failed = await run(yaml(t, mode, 'new_column: fail'));
    expect(exitCodeOf(failed)).toBe(4);
    expect(failed.error?.message).toMatch(/column "b" is missing in public\.nc_\w+ \(schema_evolution\.new_column: fail\)/);
    const ignored = await ok(yaml(t, mode, 'new_column: ignore'));
    expect(ignored.streams[0].schema_changes).toEqual([{ column: 'b', change: 'not_written', policy: 'new_column: ignore', source: 'text' }]);
    expect(await rows(`select * from ${t} order by id`)).toEqual([
      { id: 1, a: 'a1' },
      { id: 2, a: 'a2' },
    ]);
    await dst.query(`truncate ${t}`);
    const added = await ok(yaml(t, mode, 'new_column: add'));
    expect(added.streams[0].schema_changes).toEqual([{ column: 'b', change: 'added', policy: 'new_column: add', source: 'text' }]);
    expect(await rows(`select id, a, b from ${t} order by id`)).toEqual([
      { id: 1, a: 'a1', b: 'b1' },
      { id: 2, a: 'a2', b: 'b2' },
    ]);
  });

  it('an ADD COLUMN in the source between two incremental runs brings the column and its values (new_column: add)', async () => {
    const t = 'inc_add';
    await src.query(`create table ${t} (id int primary key, v text); insert into ${t} select g, 'v' || g from generate_series(1, 100) g`);
    const text = yaml(t, 'incremental', 'new_column: add');
    const first = await ok(text);
    expect(first.streams[0].rows).toBe(100);
    await src.query(`alter table ${t} add column w int; update ${t} set w = id * 10 where id > 90; insert into ${t} select g, 'v' || g, g * 10 from generate_series(101, 120) g`);
    const second = await ok(text);
    expect(second.streams[0].schema_changes).toEqual([{ column: 'w', change: 'added', policy: 'new_column: add', source: 'integer' }]);
    expect(second.streams[0].rows).toBe(20);
    const h = `select count(*)::int as n, md5(string_agg(concat_ws(':', id, v, w), ',' order by id)) as h from ${t} where id > 100`;
    expect((await dst.query(h)).rows[0]).toEqual((await src.query(h)).rows[0]);
  });

  it.each(['append', 'upsert'] as const)('removed_column ignore / fail (%s)', async (mode) => {
    const t = `rc_${mode}`;
    await src.query(`create table ${t} (id int primary key, a text); insert into ${t} values (1, 'a1')`);
    await dst.query(`create table ${t} (id int primary key, a text, gone text default 'was here')`);
    const failed = await run(yaml(t, mode, 'removed_column: fail'));
    expect(exitCodeOf(failed)).toBe(4);
    expect(failed.error?.message).toMatch(/has columns the source does not send: gone \(schema_evolution\.removed_column: fail\)/);
    const r = await ok(yaml(t, mode, 'removed_column: ignore'));
    expect(r.streams[0].schema_changes).toEqual([{ column: 'gone', change: 'left_unwritten', policy: 'removed_column: ignore', destination: 'text' }]);
    expect(await rows(`select * from ${t}`)).toEqual([{ id: 1, a: 'a1', gone: 'was here' }]);
  });

  it.each(['append', 'upsert', 'incremental'] as const)('type_change coerce widens (int → bigint, varchar(10) → varchar(50), numeric(10,2) → numeric(12,2)) or writes through text (text → integer); fail stops (%s)', async (mode) => {
    const t = `tc_${mode}`;
    await src.query(`create table ${t} (id int primary key, big bigint, name varchar(50), amount numeric(12,2), code text);
      insert into ${t} values (1, 5000000000, 'a name longer than ten', 1234567890.12, '42'), (2, 1, 'short', 1.5, 'not a number')`);
    await dst.query(`create table ${t} (id int primary key, big int, name varchar(10), amount numeric(10,2), code int)`);
    const failed = await run(yaml(t, mode, 'type_change: fail'));
    expect(exitCodeOf(failed)).toBe(4);
    expect(failed.error?.message).toMatch(/column "big" is bigint in the source but integer in public\.tc_\w+ \(schema_evolution\.type_change: fail\)/);
    const r = await ok(yaml(t, mode, 'type_change: coerce', '  on_data_error: skip\n'));
    expect(r.streams[0].schema_changes).toEqual([
      { column: 'big', change: 'widened', policy: 'type_change: coerce', source: 'bigint', destination: 'integer' },
      { column: 'name', change: 'widened', policy: 'type_change: coerce', source: 'character varying(50)', destination: 'character varying(10)' },
      { column: 'amount', change: 'widened', policy: 'type_change: coerce', source: 'numeric(12,2)', destination: 'numeric(10,2)' },
      { column: 'code', change: 'coerced', policy: 'type_change: coerce', source: 'text', destination: 'integer' },
    ]);
    // Widened columns take every value; text into integer goes through the input function, which
    // rejects row 2 (on_data_error: skip).
    expect(await rows(`select * from ${t} order by id`)).toEqual([{ id: 1, big: '5000000000', name: 'a name longer than ten', amount: '1234567890.12', code: 42 }]);
    expect(r.streams[0].rows_skipped).toBe(1);
    const types = await rows(`select attname, format_type(atttypid, atttypmod) as t from pg_attribute where attrelid = '${t}'::regclass and attnum > 1 order by attnum`);
    expect(types.map((x) => x.t)).toEqual(['bigint', 'character varying(50)', 'numeric(12,2)', 'integer']);
  });

  it.each(['append', 'upsert'] as const)('type_change null writes NULL for a value that does not fit, counted, dead-lettered with the row as it was under dlq (%s)', async (mode) => {
    const t = `tn_${mode}`;
    await src.query(`create table ${t} (id int primary key, code text, n int); insert into ${t} select g, case when g % 100 = 0 then 'much too long' else 'c' || (g % 10) end, g from generate_series(1, 1000) g`);
    await dst.query(`create table ${t} (id int primary key, code varchar(5), n int)`);
    const r = await ok(yaml(t, mode, 'type_change: null', '  on_data_error: dlq\n'));
    expect(r.streams[0]).toMatchObject({ rows: 1000, values_nulled: 10, rows_dead_lettered: 0 });
    expect(r.streams[0].schema_changes).toEqual([{ column: 'code', change: 'null_when_not_fitting', policy: 'type_change: null', source: 'text', destination: 'character varying(5)' }]);
    expect(await rows(`select count(*)::int as n from ${t} where code is null`)).toEqual([{ n: 10 }]);
    expect(await rows(`select code from ${t} where id = 101`)).toEqual([{ code: 'c1' }]);
    const dlq = await rows(`select row_data->>'code' as code, error from _rb.dlq where pipeline like 'se_${t}_%' order by (row_data->>'id')::int`);
    expect(dlq.length).toBe(10);
    expect(dlq[0]).toEqual({ code: 'much too long', error: 'value too long for type character varying(5); written with code NULL (schema_evolution.type_change: null)' });
  });

  it.each(['append', 'upsert'] as const)('nullability_change allow / fail (%s)', async (mode) => {
    const t = `nl_${mode}`;
    await src.query(`create table ${t} (id int primary key, v text); insert into ${t} values (1, 'x'), (2, null)`);
    await dst.query(`create table ${t} (id int primary key, v text not null)`);
    const failed = await run(yaml(t, mode, 'nullability_change: fail'));
    expect(exitCodeOf(failed)).toBe(4);
    expect(failed.error?.message).toMatch(/column "v" allows NULL in the source but is NOT NULL in public\.nl_\w+ \(schema_evolution\.nullability_change: fail\)/);
    const r = await ok(yaml(t, mode, 'nullability_change: allow', '  on_data_error: skip\n'));
    expect(r.streams[0].schema_changes).toEqual([{ column: 'v', change: 'nullability_differs', policy: 'nullability_change: allow', source: 'null', destination: 'not null' }]);
    expect(r.streams[0].rows_skipped).toBe(1);
    expect(await rows(`select * from ${t}`)).toEqual([{ id: 1, v: 'x' }]);
  });
});
