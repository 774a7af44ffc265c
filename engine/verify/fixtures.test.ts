import { readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../config/index.js';
import { quoteIdent } from '../../connectors/postgres/identifiers.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';
import { compareTables, loadFixture, runVerifySql, scenarioPath } from './index.js';

afterAll(dropTestDatabases);

const SHOP_TABLES = ['customers', 'products', 'orders', 'order_items', 'events'];
// 1% of the demo: same SQL, seconds instead of tens of seconds.
const SMALL = { settings: { 'rb.demo_scale': '0.01' } };

describe('scenarios/demo', () => {
  it('creates the shop deterministically and idempotently on PostgreSQL 18', async () => {
    const a = await createTestDatabase('demo');
    const b = await createTestDatabase('demo');
    await loadFixture(a.url, 'demo', SMALL);
    await loadFixture(b.url, 'demo', SMALL);

    const counts = async () =>
      (await a.query<{ t: string; n: string }>(SHOP_TABLES.map((t) => `select '${t}' as t, count(*) as n from shop.${t}`).join(' union all '))).rows.map(
        (r) => [r.t, Number(r.n)],
      );
    const before = Object.fromEntries(await counts());
    expect(before).toMatchObject({ customers: 500, products: 100, orders: 1500, events: 1000 });
    expect(before.order_items).toBeGreaterThan(1500 * 1.5);
    expect(before.order_items).toBeLessThan(1500 * 1.9);

    await loadFixture(a.url, 'demo', SMALL); // second run: no new rows, no errors
    expect(Object.fromEntries(await counts())).toEqual(before);

    // Two databases, same script: identical tables, value for value.
    const pairs = SHOP_TABLES.map((t) => ({ source: { schema: 'shop', table: t }, dest: { schema: 'shop', table: t } }));
    const results = await compareTables(a.url, b.url, pairs);
    for (const r of results) expect(r.equal, r.source.table).toBe(true);
    expect(results.every((r) => r.orderBy.length > 0)).toBe(true); // every table has a primary key

    // verify.sql passes on a faithful copy (b holds exactly the source data).
    const checks = await runVerifySql(b.url, 'demo');
    expect(checks.length).toBeGreaterThanOrEqual(9);
    expect(checks.filter((c) => !c.ok)).toEqual([]);
  });

  it('has the data a demo needs: unicode, NULLs, enums, consistent totals, a working identity', async () => {
    const db = await createTestDatabase('demo');
    await loadFixture(db.url, 'demo', SMALL);
    const one = async (sql: string) => Object.values((await db.query(sql)).rows[0])[0];
    expect(await one(`select count(*) > 0 from shop.customers where name ~ '[\\u3040-\\u9fff]'`)).toBe(true); // CJK
    expect(await one(`select count(*) > 0 from shop.customers where name ~ '[\\U0001F300-\\U0001FAFF]'`)).toBe(true); // emoji
    expect(await one(`select count(*) > 0 from shop.customers where name ~ '[éöøłđ]'`)).toBe(true);
    expect(await one(`select count(*) filter (where email is null) > 0 and count(*) filter (where loyalty is null) > 0 from shop.customers`)).toBe(true);
    expect(await one(`select format_type(atttypid, atttypmod) from pg_attribute where attrelid = 'shop.customers'::regclass and attname = 'loyalty'`)).toBe('shop.tier');
    expect(await one(`select count(*) from shop.orders o left join shop.customers c on c.id = o.customer_id where c.id is null`)).toBe('0');
    expect(await one(`select count(*) from shop.orders where status in ('pending', 'paid', 'cancelled') and shipped_at is not null`)).toBe('0');
    expect(await one(`select count(*) filter (where shipped_at is null) > 0 from shop.orders`)).toBe(true);
    expect(await one(`select count(*) > 0 from shop.orders where shipping_address like E'%\\n%' and shipping_address like '%"%'`)).toBe(true);
    expect(
      await one(`select count(*) from shop.orders o join (select order_id, sum(round(quantity * unit_price * (1 - discount::numeric), 2)) s
                 from shop.order_items group by order_id) i on i.order_id = o.id where i.s <> o.total`),
    ).toBe('0');
    expect(await one(`select count(distinct family(ip)) from shop.events`)).toBe('2'); // IPv4 and IPv6
    // The identity continues after the generated ids.
    expect(await one(`insert into shop.orders (customer_id, status, total, placed_at) values (gen_random_uuid(), 'paid', 1, now()) returning id`)).toBe('1501');
  });

  it('ships a pipeline.yaml that copies the five shop tables', () => {
    const doc = parse(readFileSync(scenarioPath('demo', 'pipeline.yaml'), 'utf8'));
    expect(doc.version).toBe('1.0');
    expect(doc.pipeline).toBe('demo_shop');
    expect(doc.source.config).toEqual({ embedded: true, database: 'rb_demo_source' });
    expect(doc.source.streams.map((s: { name: string }) => s.name)).toEqual(SHOP_TABLES.map((t) => `shop.${t}`));
    expect(doc.source.streams.every((s: { sync_mode: string }) => s.sync_mode === 'full_refresh')).toBe(true);
    expect(doc.destination).toMatchObject({ use: 'postgres', config: { embedded: true, database: 'rb_demo_dest', schema: 'shop' }, write_mode: 'replace' });
    expect(doc.resources.parallelism).toBe('auto');
    // And rb's own config loader accepts it.
    const config = parsePipelineConfig(readFileSync(scenarioPath('demo', 'pipeline.yaml'), 'utf8'), 'pipeline.yaml', {});
    expect(config.source.streams).toHaveLength(5);
  });
});

interface ExpectedTypes {
  rows: number;
  columns: Array<{ name: string; type: string; identity?: boolean; generated?: boolean }>;
}
const expectedTypes = (): ExpectedTypes => JSON.parse(readFileSync(scenarioPath('all-types', 'expected-types.json'), 'utf8')) as ExpectedTypes;

/**
 * What a correct rb run leaves behind: raw.all_types with the user types recreated in `raw`,
 * identity/generated columns as plain ones, and the rows copied through text COPY (of a SELECT:
 * `COPY table TO` leaves generated columns out).
 */
async function faithfulCopy(src: TestDb, dst: TestDb): Promise<void> {
  await dst.query(`create schema raw;
    create type raw.mood as enum ('sad', 'ok', 'happy', 'über "glücklich"');
    create domain raw.posint as int check (value > 0);
    create type raw.pair as (a int, b text);`);
  const userTypes = new Set(['mood', 'mood[]', 'posint', 'pair']);
  const cols = expectedTypes().columns.map((c) => `${quoteIdent(c.name)} ${userTypes.has(c.type) ? `raw.${c.type}` : c.type}`);
  await dst.query(`create table raw.all_types (${cols.join(', ')}, primary key (id))`);
  const [from, to] = [await src.client(), await dst.client()];
  await pipeline(from.query(copyTo('copy (select * from public.all_types) to stdout')), to.query(copyFrom('copy raw.all_types from stdin')));
}

describe('scenarios/all-types', () => {
  it('loads on PostgreSQL 18 with exactly the column types of expected-types.json', async () => {
    const db = await createTestDatabase('types');
    await loadFixture(db.url, 'all-types');
    await loadFixture(db.url, 'all-types'); // idempotent
    const expected = expectedTypes();
    const cols = await db.query<{ name: string; type: string; identity: boolean; generated: boolean }>(
      `select attname as name, format_type(atttypid, atttypmod) as type, attidentity <> '' as identity, attgenerated <> '' as generated
       from pg_attribute where attrelid = 'public.all_types'::regclass and attnum > 0 and not attisdropped order by attnum`,
    );
    expect(cols.rows).toEqual(expected.columns.map((c) => ({ name: c.name, type: c.type, identity: !!c.identity, generated: !!c.generated })));
    const n = await db.query<{ n: string }>(`select count(*) as n from all_types`);
    expect(Number(n.rows[0].n)).toBe(expected.rows);
  });

  it('holds the edge values it promises', async () => {
    const db = await createTestDatabase('types');
    await loadFixture(db.url, 'all-types');
    const q = async (sql: string) => (await db.query(sql)).rows[0];
    // The all-NULL row: every user column NULL, the server-filled ones not.
    const nulls = await q(`select count(*) filter (where v is not null) as n from all_types t, jsonb_each(to_jsonb(t)) e(k, v)
                           where id = 2 and k not in ('id', 'c_identity', 'c_generated') and v <> 'null'::jsonb`);
    expect(nulls.n).toBe('0');
    expect(await q(`select length(c_bytea) as n, (select count(distinct get_byte(c_bytea, i)) from generate_series(0, 255) i) as d from all_types where id = 4`)).toEqual({ n: 256, d: '256' });
    expect(await q(`select length(c_numeric::text) as n from all_types where id = 6`)).toEqual({ n: 1000 });
    expect(await q(`select c_int4_arr::text as a, c_int4_2d::text as b from all_types where id = 4`)).toEqual({ a: '[0:2]={1,NULL,3}', b: '[-1:0][5:6]={{1,NULL},{NULL,4}}' });
    expect(await q(`select count(*) filter (where c_float8 = 'NaN') as nan, count(*) filter (where c_float8 = '-Infinity') as ninf,
                           count(*) filter (where c_float8 = 'Infinity') as inf, count(*) filter (where c_float8::text = '-0') as nzero from all_types`)).toEqual({
      nan: '1', ninf: '1', inf: '1', nzero: '1',
    });
    expect(await q(`select c_json::text as j from all_types where id = 1`)).toEqual({ j: '{"b": 1,   "a": [1, 2, {"c": null}]}' });
    expect(await q(`select count(*) as n from all_types where c_date::text like '% BC'`)).toEqual({ n: '2' });
  });

  it('ships a verify.sql that passes on a faithful copy and names what breaks', async () => {
    const src = await createTestDatabase('types');
    const dst = await createTestDatabase('types');
    await loadFixture(src.url, 'all-types');
    await faithfulCopy(src, dst);
    const [cmp] = await compareTables(src.url, dst.url, [{ source: { schema: 'public', table: 'all_types' }, dest: { schema: 'raw', table: 'all_types' } }]);
    expect(cmp.mismatchedColumns).toEqual([]);
    expect(cmp.equal).toBe(true);
    const checks = await runVerifySql(dst.url, 'all-types');
    expect(checks.length).toBeGreaterThanOrEqual(12);
    expect(checks.filter((c) => !c.ok)).toEqual([]);

    await dst.query(`update raw.all_types set c_float8 = 0 where id = 5`); // -0 lost
    await dst.query(`update raw.all_types set c_text_arr[1] = 'NULL' where id = 4`); // NULL element became a string
    const failed = (await runVerifySql(dst.url, 'all-types')).filter((c) => !c.ok).map((c) => c.check);
    expect(failed).toEqual(['floats: NaN, ±Infinity, -0 and extremes', 'arrays: NULL elements, non-default bounds, 2-D, NULL-like strings, enum arrays']);
  });

  it('ships a pipeline.yaml with ${SRC_URL} / ${DST_URL} placeholders that rb accepts', () => {
    const text = readFileSync(scenarioPath('all-types', 'pipeline.yaml'), 'utf8');
    const env = { SRC_URL: 'postgresql://u@h:5432/src', DST_URL: 'postgresql://u@h:5432/dst' };
    const config = parsePipelineConfig(text, 'pipeline.yaml', env);
    expect(config.source.streams.map((s) => s.name)).toEqual(['public.all_types']);
    expect(config.destination.config).toMatchObject({ url: env.DST_URL, schema: 'raw' });
    expect(() => parsePipelineConfig(text, 'pipeline.yaml', {})).toThrow(/SRC_URL/);
  });

  it('reports verify queries of the wrong shape, or that fail, as failed checks', async () => {
    const db = await createTestDatabase('types');
    const sql = `/* header */ select 'fine' as check, true as ok;
      select /* a number */ 1 as ok;
      select 'two' as check, true as ok from generate_series(1, 2);
      select null::bool as ok;
      select /* broken */ 1 / 0 = 1 as ok;
      select /* after the error */ true as ok;`;
    const checks = await runVerifySql(db.url, 'all-types', sql);
    expect(checks.map(({ check, ok, problem }) => ({ check, ok, problem }))).toEqual([
      { check: 'fine', ok: true, problem: undefined },
      { check: 'a number', ok: false, problem: 'column ok is number, expected a boolean' },
      { check: 'two', ok: false, problem: 'returned 2 rows, expected 1' },
      { check: 'select null::bool as ok', ok: false, problem: 'column ok is NULL, expected a boolean' },
      { check: 'broken', ok: false, problem: 'error: division by zero' },
      { check: 'after the error', ok: true, problem: undefined },
    ]);
    expect(checks[0].sql).toBe(`select 'fine' as check, true as ok`);
  });
});
