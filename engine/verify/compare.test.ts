import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';
import { compareTables, formatComparison, loadFixture, quickChecksum, sameQuickChecksum, type TableComparison } from './index.js';

const ALL_TYPES = { schema: 'public', table: 'all_types' };
const SAME = [{ source: ALL_TYPES, dest: ALL_TYPES }];

let src: TestDb;

beforeAll(async () => {
  src = await createTestDatabase('verify_src');
  await loadFixture(src.url, 'all-types');
});
afterAll(dropTestDatabases);

/** A destination that starts as an exact copy of the source (same fixture). */
async function copyOfSource(): Promise<TestDb> {
  const db = await createTestDatabase('verify_dst');
  await loadFixture(db.url, 'all-types');
  return db;
}

async function compareAllTypes(dst: TestDb): Promise<TableComparison> {
  const [r] = await compareTables(src.url, dst.url, SAME);
  return r;
}

describe('compareTables on the all-types fixture', () => {
  it('finds two loads of the fixture equal, column by column', async () => {
    const dst = await copyOfSource();
    const r = await compareAllTypes(dst);
    expect(r.equal).toBe(true);
    expect(r.sourceRows).toBe(8);
    expect(r.destRows).toBe(8);
    expect(r.orderBy).toEqual(['id']);
    expect(r.mismatchedColumns).toEqual([]);
    expect(r.columns.map((c) => c.name)).toContain('c_numeric_typmod');
    expect(r.columns.find((c) => c.name === 'c_numeric_typmod')!.sourceType).toBe('numeric(12,4)');
    for (const c of r.columns) {
      expect(c.equal, c.name).toBe(true);
      expect(c.sourceMd5, c.name).toMatch(/^[0-9a-f]{32}$/);
    }
    // The checksums really depend on the data: columns with different content hash differently.
    const md5s = new Set(r.columns.map((c) => c.sourceMd5));
    expect(md5s.size).toBeGreaterThan(r.columns.length - 3);
  });

  it('names the one column whose value changed, including -0 vs 0 and one byte of a bytea', async () => {
    const dst = await copyOfSource();
    await dst.query(`update all_types set c_float4 = 0 where id = 5`); // was -0
    await dst.query(`update all_types set c_bytea = set_byte(c_bytea, 200, 0) where id = 4`);
    const r = await compareAllTypes(dst);
    expect(r.equal).toBe(false);
    expect(r.mismatchedColumns).toEqual(['c_float4', 'c_bytea']);
    const f4 = r.columns.find((c) => c.name === 'c_float4')!;
    expect(f4.typeEqual).toBe(true);
    expect(f4.valuesEqual).toBe(false);
    expect(f4.sourceMd5).not.toBe(f4.destMd5);
    expect(formatComparison([r])).toMatch(/MISMATCH: c_float4 \(values\); c_bytea \(values\)/);
  });

  it('detects a value turned into NULL, and JSON null vs SQL NULL', async () => {
    const dst = await copyOfSource();
    await dst.query(`update all_types set c_jsonb = null where id = 5`); // was the JSON value null
    await dst.query(`update all_types set c_interval = null where id = 1`);
    const r = await compareAllTypes(dst);
    expect(r.mismatchedColumns).toEqual(['c_interval', 'c_jsonb']);
  });

  it('tells NULL from the strings NULL, \\N and \\N-null, also inside arrays and composites', async () => {
    const dst = await copyOfSource();
    await dst.query(`update all_types set c_text = 'NULL' where id = 2`); // source: NULL
    await dst.query(`update all_types set c_varchar = null where id = 7`); // source: '\\N'
    await dst.query(`update all_types set c_int4_arr = null where id = 8`); // already NULL: a no-op, not a mismatch
    await dst.query(`update all_types set c_text_arr = array['NULL'] where id = 5`); // source: {NULL}
    await dst.query(`update all_types set c_pair = '(,)' where id = 7`); // source: (,"NULL")
    const r = await compareAllTypes(dst);
    expect(r.mismatchedColumns).toEqual(['c_text', 'c_varchar', 'c_text_arr', 'c_pair']);

    const dst2 = await copyOfSource();
    await dst2.query(`update all_types set c_text = null where id = 8`); // source: the string '\\N-null'
    expect((await compareAllTypes(dst2)).mismatchedColumns).toEqual(['c_text']);
  });

  it('detects a type change even when the text of every value is the same', async () => {
    const dst = await copyOfSource();
    await dst.query(`alter table all_types alter column c_varchar type varchar(30)`);
    await dst.query(`alter table all_types alter column c_int2 type integer`);
    const r = await compareAllTypes(dst);
    expect(r.mismatchedColumns).toEqual(['c_int2', 'c_varchar']);
    const v = r.columns.find((c) => c.name === 'c_varchar')!;
    expect(v).toMatchObject({ sourceType: 'character varying(20)', destType: 'character varying(30)', typeEqual: false, valuesEqual: true, equal: false });
    expect(formatComparison([r])).toContain('c_varchar (type character varying(20) → character varying(30))');
  });

  it('detects a missing row, a missing column and a missing table', async () => {
    const dst = await copyOfSource();
    await dst.query(`delete from all_types where id = 6`);
    await dst.query(`alter table all_types drop column c_xml`);
    await dst.query(`create table public.extra (id int primary key)`);
    const [r, missing] = await compareTables(src.url, dst.url, [
      ...SAME,
      { source: ALL_TYPES, dest: { schema: 'public', table: 'nope' } },
    ]);
    expect(r.destRows).toBe(7);
    expect(r.equal).toBe(false);
    expect(r.columns.find((c) => c.name === 'c_xml')).toMatchObject({ destType: null, destMd5: null, equal: false });
    expect(missing).toMatchObject({ sourceExists: true, destExists: false, equal: false, sourceRows: 8, destRows: 0 });
    const text = formatComparison([r, missing]);
    expect(text).toContain('8 → 7');
    expect(text).toContain('MISMATCH: row count;');
    expect(text).toContain('c_xml (not in destination)');
    expect(text).toContain('public.all_types → public.nope');
    expect(text).toContain('destination table missing');
    expect(text).toMatch(/2 of 2 tables differ$/);
  });

  it('compares a subset of columns in a given order when asked', async () => {
    const dst = await copyOfSource();
    await dst.query(`update all_types set c_money = 0 where id = 1`);
    const [r] = await compareTables(src.url, dst.url, [{ source: ALL_TYPES, dest: ALL_TYPES, columns: ['c_text', 'c_uuid'], orderBy: ['c_identity'] }]);
    expect(r.equal).toBe(true);
    expect(r.orderBy).toEqual(['c_identity']);
    expect(r.columns.map((c) => c.name)).toEqual(['c_text', 'c_uuid']);
    await expect(compareTables(src.url, dst.url, [{ source: ALL_TYPES, dest: ALL_TYPES, orderBy: ['no_such'] }])).rejects.toThrow(
      /orderBy column "no_such" does not exist in source table public.all_types/,
    );
  });
});

describe('compareTables with awkward identifiers and without keys', () => {
  const schema = 'Ünï Schema';
  const table = 'Mixed "Case" Table 🐘';
  const ddl = `
    create schema "Ünï Schema";
    create table "Ünï Schema"."Mixed ""Case"" Table 🐘" ("Id" int primary key, "the value" text, "quote""d" numeric);
    create table "Ünï Schema"."no key" (a int, "B" text);`;

  it('quotes schema, table and column names correctly and names the changed column', async () => {
    const a = await createTestDatabase('verify_id');
    const b = await createTestDatabase('verify_id');
    for (const db of [a, b]) {
      await db.query(ddl);
      await db.query(`insert into "Ünï Schema"."Mixed ""Case"" Table 🐘" select g, 'v' || g, g / 3.0 from generate_series(1, 50) g`);
    }
    const ref = { schema, table };
    const [same] = await compareTables(a.url, b.url, [{ source: ref, dest: ref }]);
    expect(same.equal).toBe(true);
    expect(same.orderBy).toEqual(['Id']);
    expect(same.columns.map((c) => c.name)).toEqual(['Id', 'the value', 'quote"d']);

    await b.query(`update "Ünï Schema"."Mixed ""Case"" Table 🐘" set "quote""d" = 0 where "Id" = 7`);
    const [diff] = await compareTables(a.url, b.url, [{ source: ref, dest: ref }]);
    expect(diff.mismatchedColumns).toEqual(['quote"d']);
    const text = formatComparison([diff]);
    expect(text).toContain('"Ünï Schema"."Mixed ""Case"" Table 🐘"');
    expect(text).toContain('"quote""d" (values)');
  });

  it('orders rows by their text when there is no key, whatever the physical order', async () => {
    const a = await createTestDatabase('verify_nokey');
    const b = await createTestDatabase('verify_nokey');
    for (const db of [a, b]) await db.query(ddl);
    await a.query(`insert into "Ünï Schema"."no key" select g, 'x' || g from generate_series(1, 200) g`);
    await b.query(`insert into "Ünï Schema"."no key" select g, 'x' || g from generate_series(200, 1, -1) g`);
    const ref = { schema, table: 'no key' };
    const [r] = await compareTables(a.url, b.url, [{ source: ref, dest: ref }]);
    expect(r.orderBy).toEqual([]);
    expect(r.equal).toBe(true);
    await b.query(`update "Ünï Schema"."no key" set "B" = 'changed' where a = 100`);
    const [d] = await compareTables(a.url, b.url, [{ source: ref, dest: ref }]);
    expect(d.mismatchedColumns).toContain('B');
  });

  it('orders text keys the same way whatever the column collation', async () => {
    const a = await createTestDatabase('verify_coll');
    const b = await createTestDatabase('verify_coll');
    await a.query(`create table t (k text collate "C" primary key, v int)`);
    await b.query(`create table t (k text collate "und-x-icu" primary key, v int)`); // 'a' < 'B' here, 'B' < 'a' in C
    for (const db of [a, b]) await db.query(`insert into t values ('a', 1), ('B', 2), ('é', 3), ('Z', 4)`);
    const ref = { schema: 'public', table: 't' };
    const [r] = await compareTables(a.url, b.url, [{ source: ref, dest: ref }]);
    expect(r.equal).toBe(true);
  });

  it('works with one client for both sides, naming user types without their schema', async () => {
    const db = await createTestDatabase('verify_one');
    await db.query(`create schema s1; create schema s2;
      create type s1.color as enum ('red'); create type s2.color as enum ('red');
      create table s1.t (id int primary key, c s1.color); create table s2.t (id int primary key, c s2.color);
      insert into s1.t values (1, 'red'), (2, null); insert into s2.t values (1, 'red'), (2, null);`);
    const client = await db.client();
    const [r] = await compareTables(client, client, [{ source: { schema: 's1', table: 't' }, dest: { schema: 's2', table: 't' } }]);
    // User types are named without their schema, so s1.color and s2.color compare as `color`.
    expect(r.columns.find((c) => c.name === 'c')).toMatchObject({ sourceType: 'color', destType: 'color', equal: true });
    expect(r.equal).toBe(true);
    // A destination table in another schema than its types (types kept in the source's schema).
    await client.query(`create schema s3; create table s3.t (id int primary key, c s1.color); insert into s3.t values (1, 'red'), (2, null)`);
    const [other] = await compareTables(client, client, [{ source: { schema: 's1', table: 't' }, dest: { schema: 's3', table: 't' } }]);
    expect(other.columns.find((c) => c.name === 'c')).toMatchObject({ sourceType: 'color', destType: 'color', equal: true });
    // The borrowed client is left usable and outside any transaction.
    expect((await client.query(`select 1 as one`)).rows[0].one).toBe(1);
    expect((await client.query(`select now() = statement_timestamp() as fresh`)).rows[0].fresh).toBe(true);
  });
});

describe('quickChecksum', () => {
  it('matches for equal tables, in any physical order, and changes with one value', async () => {
    const dst = await copyOfSource();
    const a = await quickChecksum(src.url, ALL_TYPES);
    expect(a.rows).toBe(8);
    expect(a.hashSum).toMatch(/^-?\d+$/);
    expect(sameQuickChecksum(a, await quickChecksum(dst.url, ALL_TYPES))).toBe(true);

    // Rewriting rows moves them physically; the fingerprint is order-independent.
    await dst.query(`update all_types set c_int2 = c_int2 where id in (1, 3)`);
    expect(sameQuickChecksum(a, await quickChecksum(dst.url, ALL_TYPES))).toBe(true);

    await dst.query(`update all_types set c_text = 'NULL' where id = 2`);
    expect(sameQuickChecksum(a, await quickChecksum(dst.url, ALL_TYPES))).toBe(false);
    const cols = { columns: ['id', 'c_uuid'] };
    expect(sameQuickChecksum(await quickChecksum(src.url, ALL_TYPES, cols), await quickChecksum(dst.url, ALL_TYPES, cols))).toBe(true);
  });
});
