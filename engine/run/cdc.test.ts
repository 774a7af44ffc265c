/**
 * CDC end to end (docs/design.md section 8): a first run copies the tables under the new slot's
 * snapshot and catches up; later runs apply what changed since — inserts, updates, deletes, key
 * changes, unchanged TOAST values, TRUNCATE — each ending with the destination equal to the source.
 */
import { createHash, createHmac } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../config/index.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runRb } from '../testing/cli.js';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';
import { exitCodeOf, runPipeline, type RunResult } from './run-pipeline.js';
import type { CdcProgress } from './run-cdc.js';

let src: TestDb;
let dst: TestDb;
let n = 0;

beforeAll(async () => {
  src = await createTestDatabase('cdc_src');
  dst = await createTestDatabase('cdc_dst');
});
// Each test's slots are its own: dropped after it (the test cluster has a few slots only).
afterEach(async () => {
  await src.query(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = current_database() and not active`);
});
afterAll(async () => {
  // A slot left behind keeps WAL: drop every slot of the test source.
  await src.query(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = current_database() and not active`);
  await dropTestDatabases();
});

function cdcYaml(name: string, tables: string[], extra = ''): string {
  return pipelineYaml({ name, srcUrl: src.url, dstUrl: dst.url, streams: tables, writeMode: 'upsert', extra }).replace(
    /    - name: (\S+)/g,
    '    - name: $1\n      sync_mode: cdc',
  );
}

async function run(yaml: string): Promise<RunResult> {
  const r = await runPipeline(parsePipelineConfig(yaml, 'p.yaml', {}), { parallelism: 2, availableCores: 2 });
  expect(r.error, JSON.stringify(r.error)).toBeUndefined();
  return r;
}

/** `rb run --follow` in this process: `streaming` once the slot is in use, `stop()` ends it as SIGTERM would. */
function follow(yaml: string, slot: string): { streaming: Promise<void>; done: Promise<RunResult>; stop(): Promise<RunResult> } {
  const ac = new AbortController();
  const done = runPipeline(parsePipelineConfig(yaml, 'p.yaml', {}), { parallelism: 2, availableCores: 2, follow: true, signal: ac.signal });
  const streaming = until(async () => (await src.query(`select active from pg_replication_slots where slot_name = $1`, [slot])).rows[0]?.active === true);
  return { streaming, done, stop: () => (ac.abort(), done) };
}

async function until(ok: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function expectEqual(table: string, cols: string): Promise<void> {
  const q = `select count(*)::int as n, md5(coalesce(string_agg(concat_ws(':', ${cols}), ',' order by id), '')) as h from ${table}`;
  expect((await dst.query(q)).rows[0], table).toEqual((await src.query(q)).rows[0]);
}

describe('cdc', () => {
  it('copies under the slot snapshot, then applies inserts, updates, deletes, key changes, unchanged TOAST and TRUNCATE', async () => {
    const t = `c${++n}`;
    await src.query(`create table ${t} (id int primary key, v text, big text);
      alter table ${t} alter column big set storage external;
      insert into ${t} select g, 'v' || g, case when g % 10 = 0 then repeat(md5(g::text), 400) end from generate_series(1, 1000) g`);
    const yaml = cdcYaml(`cdc_${t}`, [t]);
    const r1 = await run(yaml);
    expect(r1.streams[0].rows).toBe(1000);
    expect(r1.cdc).toMatchObject({ slot: `rb_cdc_${t}`, publication: `rb_cdc_${t}`, transactions: 0 });
    await expectEqual(t, 'id, v, md5(big)');

    // A TOASTed value (12 kB, stored out of line) that an update leaves alone arrives as 'u'.
    await src.query(`update ${t} set v = 'toast kept' where id = 10`);
    await src.query(`insert into ${t} values (2000, 'new', repeat('x', 9000)); update ${t} set v = 'new then updated' where id = 2000`);
    await src.query(`delete from ${t} where id between 100 and 149`);
    await src.query(`update ${t} set id = id + 5000 where id in (20, 21)`); // key change: the old rows go
    await src.query(`begin; update ${t} set v = 'twice 1' where id = 30; update ${t} set v = 'twice 2' where id = 30; commit`);
    const r2 = await run(yaml);
    expect(r2.streams[0].rows).toBe(0); // nothing copied again
    expect(r2.cdc!.transactions).toBe(5);
    await expectEqual(t, 'id, v, md5(big)');
    expect((await dst.query(`select length(big) as l from ${t} where id = 10`)).rows[0].l).toBe(12800);

    // One transaction (one simple query): TRUNCATE is a barrier inside it.
    await src.query(`insert into ${t} values (3000, 'before truncate', null); truncate ${t}; insert into ${t} values (1, 'after truncate', null)`);
    const r3 = await run(yaml);
    expect(r3.cdc!.transactions).toBe(1);
    await expectEqual(t, 'id, v, md5(big)');

    const r4 = await run(yaml);
    expect(r4.cdc!.transactions).toBe(0);
    // The slot was told how far rb applied: it keeps no WAL rb has.
    const slot = await src.query(`select confirmed_flush_lsn::text as c from pg_replication_slots where slot_name = $1`, [`rb_cdc_${t}`]);
    expect(slot.rows[0].c).toBe(r4.cdc!.to);
    const st = await dst.query(`select lsn::text as l from _rb.stream_state where pipeline = $1`, [`cdc_${t}`]);
    expect(st.rows[0].l).toBe(r4.cdc!.to);
  });

  it('many changes of a table go through COPY staging: escapes, NULLs, deletes, keyless appends, a value TOASTed before', async () => {
    const t = `c${++n}`;
    const k = `c${++n}`;
    await src.query(`create table ${t} (id int primary key, v text, j jsonb, big text);
      alter table ${t} alter column big set storage external;
      insert into ${t} select g, 'v' || g, null, case when g % 50 = 0 then repeat(md5(g::text), 300) end from generate_series(1, 2000) g;
      create table ${k} (a int, b text)`);
    const yaml = cdcYaml(`cdc_${t}`, [t, k]);
    await run(yaml);
    // Hundreds of rows per statement kind, with every character COPY's text format escapes.
    await src.query(`update ${t} set v = E'tab\\there\\nnew line\\\\back\\rslash ' || id, j = jsonb_build_object('k', E'a\\tb', 'n', id) where id <= 500;
      delete from ${t} where id between 501 and 900;
      insert into ${t} select g, case when g % 3 = 0 then null else E'\\\\N literal ' || g end, '[]', null from generate_series(3001, 3400) g;
      update ${t} set v = 'big kept ' || id where id > 900 and id <= 2000;
      insert into ${k} select g % 7, case when g % 5 = 0 then null else E'k\\t' || g end from generate_series(1, 300) g`);
    const r = await run(yaml);
    expect(r.cdc).toMatchObject({ transactions: 1, changes: 500 + 400 + 400 + 1100 + 300 });
    await expectEqual(t, 'id, v, j::text, md5(big)');
    const multiset = `select md5(string_agg(t::text, ',' order by t::text)) as h, count(*)::int as n from ${k} t`;
    expect((await dst.query(multiset)).rows[0]).toEqual((await src.query(multiset)).rows[0]);
    expect((await dst.query(`select count(*)::int as n from ${t} where big is not null`)).rows[0].n).toBe(32);
  });

  it('interleaved transactions, and a restart from a slot that is behind the stored position (a crash after the commit, before the confirm): each applied once', async () => {
    const t = `c${++n}`;
    await src.query(`create table ${t} (a int, b text)`); // keyless: a transaction applied twice would show
    const yaml = cdcYaml(`cdc_${t}`, [t]);
    await run(yaml);
    const s1 = await src.client();
    const s2 = await src.client();
    await s1.query(`begin; insert into ${t} values (1, 'T1 begins first')`);
    await s2.query(`begin; insert into ${t} values (2, 'T2 commits first')`);
    await s2.query('commit');
    // A copy of the slot as it is now: it has not been told that T2 was applied.
    await src.query(`select pg_copy_logical_replication_slot($1, $2)`, [`rb_cdc_${t}`, `rb_cdc_${t}_lag`]);
    const r1 = await run(yaml);
    expect(r1.cdc!.transactions).toBe(1);
    await s1.query(`insert into ${t} values (3, 'T1 after T2 committed'); commit`);
    // The lagging slot would send T2 again from its own position: rb starts at the stored one.
    const lagging = yaml.replace(`config: { url: "${src.url}" }`, `config: { url: "${src.url}", replication_slot: rb_cdc_${t}_lag }`);
    const r2 = await run(lagging);
    expect(r2.cdc!.transactions).toBe(1);
    const rows = await dst.query(`select a, b from ${t} order by a`);
    expect(rows.rows).toEqual([
      { a: 1, b: 'T1 begins first' },
      { a: 2, b: 'T2 commits first' },
      { a: 3, b: 'T1 after T2 committed' },
    ]);
  });

  it('REPLICA IDENTITY FULL with an unchanged TOASTed value, and TRUNCATE … CASCADE of published tables', async () => {
    const a = `c${++n}`;
    const b = `c${++n}`;
    await src.query(`create table ${a} (id int primary key, v text, big text); alter table ${a} replica identity full; alter table ${a} alter column big set storage external;
      create table ${b} (id int primary key, a_id int references ${a}(id), v text);
      insert into ${a} select g, 'v', repeat(md5(g::text), 300) from generate_series(1, 20) g; insert into ${b} select g, g, 'b' from generate_series(1, 20) g`);
    const yaml = cdcYaml(`cdc_${a}`, [a, b]);
    await run(yaml);
    await src.query(`update ${a} set v = 'full identity' where id <= 5; insert into ${a} values (100, 'new', repeat('y', 9000)); update ${a} set v = 'then updated' where id = 100`);
    await run(yaml);
    await expectEqual(a, 'id, v, md5(big)');
    expect((await dst.query(`select count(*)::int as n from ${a} where big is null`)).rows[0].n).toBe(0);
    await src.query(`truncate ${a} cascade; insert into ${a} values (1, 'after', null)`);
    const r = await run(yaml);
    expect(r.cdc!.transactions).toBe(1);
    await expectEqual(a, 'id, v, md5(big)');
    expect((await dst.query(`select count(*)::int as n from ${b}`)).rows[0].n).toBe(0);
  });

  it('reports its lag while behind (bytes of WAL and seconds), and none once caught up', async () => {
    const t = `c${++n}`;
    await src.query(`create table ${t} (id int primary key, v text)`);
    const yaml = cdcYaml(`cdc_${t}`, [t]);
    await run(yaml);
    for (let i = 0; i < 20; i++) await src.query(`insert into ${t} select g, 'v' from generate_series(${i * 5000 + 1}, ${(i + 1) * 5000}) g`);
    const seen: CdcProgress[] = [];
    const r = await runPipeline(parsePipelineConfig(yaml, 'p.yaml', {}), { parallelism: 2, availableCores: 2, onCdcProgress: (p) => seen.push(p) });
    expect(r.error).toBeUndefined();
    expect(r.cdc).toMatchObject({ transactions: 20, changes: 100_000, lag_bytes: 0 });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.some((p) => p.lagBytes > 0 && p.lagSeconds > 0), JSON.stringify(seen.map((p) => [p.lagBytes, p.lagSeconds, String(p.confirmed), p.changes]))).toBe(true);
  });

  it('two tables, each by its own key, one slot', async () => {
    const a = `c${++n}`;
    const b = `c${++n}`;
    await src.query(`create table ${a} (id int primary key, v text); create table ${b} (k text, id int, v text, primary key (k, id));
      insert into ${a} select g, 'a' || g from generate_series(1, 100) g; insert into ${b} select 'k' || (g % 3), g, 'b' from generate_series(1, 100) g`);
    const yaml = cdcYaml(`cdc_${a}`, [a, b]);
    await run(yaml);
    await src.query(`begin; update ${a} set v = 'x' where id < 10; delete from ${b} where id < 10; insert into ${b} values ('new', 1, 'n'); commit`);
    const r = await run(yaml);
    expect(r.cdc!.transactions).toBe(1);
    await expectEqual(a, 'id, v');
    await expectEqual(b, 'k, id, v');
  });

  it('keeps generated columns right: a stored one published by PostgreSQL 18, virtual ones computed by the destination with the source\'s expression; refuses a plain destination column it cannot fill and a key other than the table\'s', async () => {
    const g = `c${++n}`;
    await src.query(`create table ${g} (id int primary key, v int, w int generated always as (v * 2) stored); insert into ${g} (id, v) select g, g from generate_series(1, 10) g`);
    const yaml = cdcYaml(`cdc_${g}`, [g]);
    await run(yaml);
    await src.query(`update ${g} set v = v + 100 where id <= 5; insert into ${g} (id, v) values (11, 7)`);
    const r = await run(yaml);
    expect(r.cdc!.transactions).toBe(1);
    await expectEqual(g, 'id, v, w');
    expect((await dst.query(`select w from ${g} where id = 1`)).rows[0].w).toBe(202);

    // Virtual generated columns are never published: the destination computes them (stored),
    // in the copy and in the changes, among the other columns in the source's order.
    const vg = `c${++n}`;
    await src.query(`create table ${vg} (id int primary key, v int, w int generated always as (v * 2) virtual, t text, u text generated always as (upper(t) || '!') virtual);
      insert into ${vg} (id, v, t) select g, g, 'r' || g from generate_series(1, 50) g`);
    const vyaml = cdcYaml(`cdc_${vg}`, [vg]);
    const first = await run(vyaml);
    expect(first.streams[0].rows).toBe(50);
    await expectEqual(vg, 'id, v, w, t, u');
    await src.query(`update ${vg} set v = v + 1000 where id <= 10; update ${vg} set t = 'changed' where id between 11 and 15; delete from ${vg} where id > 45; insert into ${vg} (id, v, t) values (100, 3, 'new')`);
    await run(vyaml);
    await expectEqual(vg, 'id, v, w, t, u');
    expect((await dst.query(`select w, u from ${vg} where id = 11`)).rows[0]).toEqual({ w: 22, u: 'CHANGED!' });
    const cols = await dst.query(`select attname, attgenerated::text as g from pg_attribute where attrelid = $1::regclass and attnum > 0 order by attnum`, [vg]);
    expect(cols.rows).toEqual([{ attname: 'id', g: '' }, { attname: 'v', g: '' }, { attname: 'w', g: 's' }, { attname: 't', g: '' }, { attname: 'u', g: 's' }]);

    // A destination table whose column is plain: rb cannot fill it (the source sends no values).
    const pv = `c${++n}`;
    await src.query(`create table ${pv} (id int primary key, v int, w int generated always as (v * 2) virtual)`);
    await dst.query(`create table ${pv} (id int primary key, v int, w int)`);
    const plain = await runPipeline(parsePipelineConfig(cdcYaml(`cdc_${pv}`, [pv]), 'p.yaml', {}), {});
    expect(exitCodeOf(plain)).toBe(4);
    expect(plain.error?.message).toMatch(/column "w" of public\.c\d+ is a plain column, but the source does not publish generated columns to cdc, so rb cannot fill it; make it GENERATED ALWAYS AS \(\(?v \* 2\)?\) STORED there/);
    // The source is left as it was: no slot (it would keep WAL), no publication.
    expect((await src.query(`select count(*)::int as n from pg_replication_slots where slot_name = $1`, [`rb_cdc_${pv}`])).rows[0].n).toBe(0);
    expect((await src.query(`select count(*)::int as n from pg_publication where pubname = $1`, [`rb_cdc_${pv}`])).rows[0].n).toBe(0);

    const other = await runPipeline(parsePipelineConfig(cdcYaml(`cdc_${vg}_key`, [vg]).replace('    - name: ' + vg + '\n      sync_mode: cdc', '    - name: ' + vg + '\n      sync_mode: cdc\n      primary_key: [v]\n      columns: [id, v]'), 'p.yaml', {}), {});
    expect(exitCodeOf(other)).toBe(2);
    expect(other.error?.message).toMatch(/primary_key: a cdc stream is applied by its table's primary key \(id\); another key \(v\) is not available/);
  });

  it('a column the source adds while rb follows is added to the target (schema_evolution.new_column: add), between the changes before and after it', async () => {
    const t = `c${++n}`;
    await src.query(`create table ${t} (id int primary key, v text); insert into ${t} select g, 'v' from generate_series(1, 100) g`);
    const yaml = cdcYaml(`cdc_${t}`, [t]);
    await run(yaml);
    const f = follow(yaml, `rb_cdc_${t}`);
    await f.streaming;
    await src.query(`update ${t} set v = 'before' where id <= 10`);
    await src.query(`alter table ${t} add column n numeric(10,2) default 1.5, add column tags text[]`);
    await src.query(`update ${t} set n = id * 2, tags = array['a', id::text] where id <= 20; insert into ${t} values (500, 'after', 3.25, '{x}')`);
    await until(async () => (await dst.query(`select count(*)::int as n from ${t} where id = 500`).catch(() => ({ rows: [{ n: 0 }] }))).rows[0].n === 1);
    const r = await f.stop();
    expect(r.error, JSON.stringify(r.error)).toBeUndefined();
    expect(r.cdc!.transactions).toBe(2);
    const cols = await dst.query(`select attname || ' ' || format_type(atttypid, atttypmod) as c from pg_attribute where attrelid = '${t}'::regclass and attnum > 0 and not attisdropped order by attnum`);
    expect(cols.rows.map((x) => x.c)).toEqual(['id integer', 'v text', 'n numeric(10,2)', 'tags text[]']);
    // The decisions are in the run's schema_changes (--json and the summary).
    expect(r.streams[0].schema_changes).toEqual([
      { column: 'n', change: 'added', policy: 'new_column: add', source: 'numeric(10,2)' },
      { column: 'tags', change: 'added', policy: 'new_column: add', source: 'text[]' },
    ]);
    // Rows the source filled with the default when the column was added are not changes: they
    // keep NULL in the destination until a change writes them (the default is not replayed).
    await expectEqual(`(select * from ${t} where id <= 20 or id = 500) s`, 'id, v, n, tags');
    expect((await dst.query(`select count(*)::int as n from ${t} where n is null`)).rows[0].n).toBe(80);
    // The next run plans with the column: a later change of it is applied as any other.
    await src.query(`update ${t} set n = 9 where id = 50`);
    await run(yaml);
    expect((await dst.query(`select n from ${t} where id = 50`)).rows[0].n).toBe('9.00');
  });

  it('schema_evolution fail policies stop a follow with exit 4 naming the column; the destination keeps what was applied before', async () => {
    const t = `c${++n}`;
    await src.query(`create table ${t} (id int primary key, v text, w text); insert into ${t} select g, 'v', 'w' from generate_series(1, 10) g`);
    const strict = cdcYaml(`cdc_${t}`, [t], '').replace('  write_mode: upsert', '  write_mode: upsert\n  schema_evolution: { new_column: fail, removed_column: fail, type_change: fail }');
    await run(strict);
    const slot = `rb_cdc_${t}`;
    const f1 = follow(strict, slot);
    await f1.streaming;
    await src.query(`update ${t} set v = 'applied' where id = 1`);
    await until(async () => (await dst.query(`select v from ${t} where id = 1`)).rows[0].v === 'applied');
    await src.query(`alter table ${t} add column x int; update ${t} set x = 1`);
    const added = await f1.done;
    expect(exitCodeOf(added)).toBe(4);
    expect(added.error?.message).toMatch(new RegExp(`${t}: the source added column "x" while streaming changes \\(schema_evolution.new_column: fail\\)`));
    expect((await dst.query(`select count(*)::int as n from pg_attribute where attrelid = '${t}'::regclass and attname = 'x'`)).rows[0].n).toBe(0);
    expect((await dst.query(`select v from ${t} where id = 1`)).rows[0].v).toBe('applied');
    // The next run (prepare adds x: new_column add) goes on from the stored position.
    const lenient = strict.replace('new_column: fail, removed_column: fail, type_change: fail', 'new_column: add, removed_column: fail, type_change: fail');
    await run(lenient);
    await expectEqual(t, 'id, v, w, x');

    const f2 = follow(lenient, slot);
    await f2.streaming;
    await src.query(`alter table ${t} drop column w; update ${t} set v = 'w dropped' where id = 3`);
    const dropped = await f2.done;
    expect(exitCodeOf(dropped)).toBe(4);
    expect(dropped.error?.message).toMatch(/column "w" is no longer sent by the source \(dropped or renamed there\) while streaming changes \(schema_evolution.removed_column: fail\)/);
    // removed_column: ignore (the default) keeps the column in the destination, unwritten.
    const ignoring = lenient.replace('removed_column: fail, ', '');
    const f3 = follow(ignoring, slot);
    await f3.streaming;
    await src.query(`update ${t} set v = 'again' where id = 4`);
    await until(async () => (await dst.query(`select v from ${t} where id = 4`)).rows[0].v === 'again');
    await src.query(`alter table ${t} alter column v type varchar(20); update ${t} set v = 'typed' where id = 5`);
    const typed = await f3.done;
    expect(exitCodeOf(typed)).toBe(4);
    expect(typed.error?.message).toMatch(/column "v" changed type in the source \(type oid 25 → 1043\) while streaming changes \(schema_evolution.type_change: fail\)/);
    expect((await dst.query(`select v, w from ${t} where id = 3`)).rows[0]).toEqual({ v: 'w dropped', w: 'w' });
  });

  it('a change the destination rejects (a CHECK the target has and the source does not) stops the run with exit 5 naming the table and constraint; the groups before it stay, the next run retries from there', async () => {
    const t = `c${++n}`;
    await src.query(`create table ${t} (id int primary key, v int); insert into ${t} select g, g from generate_series(1, 10) g`);
    const yaml = cdcYaml(`cdc_${t}`, [t]);
    await run(yaml);
    await dst.query(`alter table ${t} add constraint v_small check (v < 1000)`);
    await src.query(`update ${t} set v = 500 where id = 1`);
    await run(yaml);
    await src.query(`update ${t} set v = 5000 where id = 2`);
    const r = await runPipeline(parsePipelineConfig(yaml, 'p.yaml', {}), {});
    expect(exitCodeOf(r)).toBe(5);
    expect(r.error?.code).toBe('data_error');
    expect(r.error?.message).toMatch(new RegExp(`^${t}: a change was rejected by the destination: new row for relation "${t}" violates check constraint "v_small" \\(SQLSTATE 23514, constraint v_small\\)`));
    expect((await dst.query(`select v from ${t} where id in (1, 2) order by id`)).rows).toEqual([{ v: 500 }, { v: 2 }]);
    // Once the target accepts it, the next run applies the change it stopped at.
    await dst.query(`alter table ${t} drop constraint v_small`);
    await run(yaml);
    await expectEqual(t, 'id, v');
  });

  it.each(['skip', 'dlq'] as const)('on_data_error: %s isolates the changes the destination rejects (COPY staging, VALUES, unchanged TOAST) and applies the rest', async (policy) => {
    const t = `c${++n}`;
    await src.query(`create table ${t} (id int primary key, v int not null, big text);
      alter table ${t} alter column big set storage external;
      insert into ${t} select g, g, case when g <= 5 then repeat(md5(g::text), 400) end from generate_series(1, 1000) g`);
    const yaml = cdcYaml(`cdc_${t}`, [t], '').replace('  write_mode: upsert', `  write_mode: upsert\n  on_data_error: ${policy}`);
    await run(yaml);
    await dst.query(`alter table ${t} add constraint v_small check (v < 100000)`);
    // 200 inserts (37 too large: through COPY staging), 10 updates (5 too large), 1 update that
    // leaves a TOAST value unchanged (too large), 20 deletes: one piece.
    await src.query(`insert into ${t} select g, case when g % 5 = 0 and g <= 2185 then 200000 else g end from generate_series(2001, 2200) g;
      update ${t} set v = case when id % 2 = 0 then 300000 else -id end where id between 11 and 20;
      update ${t} set v = 400000 where id = 3;
      delete from ${t} where id between 500 and 519`);
    const r = await run(yaml);
    const rejected = 37 + 5 + 1;
    expect(r.cdc).toMatchObject(policy === 'dlq' ? { rows_dead_lettered: rejected, rows_skipped: 0 } : { rows_skipped: rejected, rows_dead_lettered: 0 });
    expect(r.streams[0][policy === 'dlq' ? 'rows_dead_lettered' : 'rows_skipped']).toBe(rejected);
    // The good changes are in, the rejected ones are not: their rows are as they were.
    const got = await dst.query(`select count(*)::int as n, count(*) filter (where id > 2000)::int as inserted, count(*) filter (where v < 0)::int as negated,
      count(*) filter (where id between 500 and 519)::int as deleted, min(v) filter (where id in (12, 14, 16, 18, 20, 3)) as kept_min, max(v) as max_v from ${t}`);
    expect(got.rows[0]).toEqual({ n: 1000 - 20 + 163, inserted: 163, negated: 5, deleted: 0, kept_min: 3, max_v: 2200 });
    expect((await dst.query(`select md5(big) as h from ${t} where id = 3`)).rows[0].h).toBe((await src.query(`select md5(big) as h from ${t} where id = 3`)).rows[0].h);
    const letters = await dst.query(`select stream, shard, row_data, error, sqlstate, constraint_name from _rb.dlq where pipeline = $1 order by (row_data->>'id')::int`, [`cdc_${t}`]);
    if (policy === 'skip') {
      expect(letters.rows).toEqual([]);
      return;
    }
    expect(letters.rows).toHaveLength(rejected);
    expect(letters.rows[0]).toEqual({ stream: t, shard: -1, row_data: { id: '3', v: '400000' }, error: expect.stringMatching(new RegExp(`^update: new row for relation "${t}" violates check constraint "v_small"`)), sqlstate: '23514', constraint_name: 'v_small' });
    expect(letters.rows[1]).toMatchObject({ row_data: { id: '12', v: '300000', big: null }, error: expect.stringMatching(/^insert or update: /) });
    expect(letters.rows.filter((x) => Number(x.row_data.id) > 2000).map((x) => Number(x.row_data.id))).toEqual(Array.from({ length: 37 }, (_, i) => 2005 + 5 * i));

    // Fewer than 64 rows (a VALUES list): 3 of 10 updates rejected in the next run.
    await src.query(`update ${t} set v = case when id <= 603 then 500000 else id + 1 end where id between 601 and 610`);
    const r2 = await run(yaml);
    expect(r2.cdc).toMatchObject({ rows_dead_lettered: 3, rows_written: 7 });
    expect((await dst.query(`select count(*)::int as n from _rb.dlq where pipeline = $1`, [`cdc_${t}`])).rows[0].n).toBe(rejected + 3);
  });

  it.each(['fail', 'dlq'] as const)('type_change: null (on_data_error %s): a column retyped in the source keeps the destination type; values it does not take are written as NULL and counted', async (policy) => {
    const t = `c${++n}`;
    await src.query(`create table ${t} (id int primary key, n int, w text); insert into ${t} select g, g, 'w' from generate_series(1, 100) g`);
    const yaml = cdcYaml(`cdc_${t}`, [t]).replace('  write_mode: upsert', `  write_mode: upsert\n  on_data_error: ${policy}\n  schema_evolution: { type_change: "null" }`);
    await run(yaml);
    await src.query(`alter table ${t} alter column n type text;
      update ${t} set n = case when id <= 3 then 'abc' || id else (id * 2)::text end, w = 'changed' where id <= 10;
      insert into ${t} values (500, 'x500', 'new')`);
    const r = await run(yaml);
    expect(r.cdc).toMatchObject({ values_nulled: 4, rows_skipped: 0, rows_dead_lettered: 0 });
    expect(r.streams[0].values_nulled).toBe(4);
    const types = await dst.query(`select format_type(atttypid, atttypmod) as t from pg_attribute where attrelid = '${t}'::regclass and attname = 'n'`);
    expect(types.rows[0].t).toBe('integer');
    const rows = (await dst.query(`select id, n, w from ${t} where id <= 10 or id = 500 order by id`)).rows;
    expect(rows).toEqual([
      ...[1, 2, 3].map((id) => ({ id, n: null, w: 'changed' })),
      ...[4, 5, 6, 7, 8, 9, 10].map((id) => ({ id, n: id * 2, w: 'changed' })),
      { id: 500, n: null, w: 'new' },
    ]);
    const letters = await dst.query(`select row_data, error, column_name from _rb.dlq where pipeline = $1 order by (row_data->>'id')::int`, [`cdc_${t}`]);
    if (policy === 'fail') expect(letters.rows).toEqual([]);
    else {
      expect(letters.rows.map((x) => x.row_data)).toEqual([...[1, 2, 3].map((id) => ({ id: String(id), n: `abc${id}`, w: 'changed' })), { id: '500', n: 'x500', w: 'new' }]);
      expect(letters.rows[0]).toMatchObject({ column_name: 'n', error: expect.stringMatching(/invalid input syntax for type integer: "abc1"; written with n NULL \(schema_evolution\.type_change: null\)$/) });
    }
  });

  it('a unique index on the destination with on_data_error dlq rejects exactly the changes that would repeat a value (what validate unique cannot mean on a change stream)', async () => {
    const t = `c${++n}`;
    await src.query(`create table ${t} (id int primary key, email text, note text); insert into ${t} select g, 'e' || g, 'n' from generate_series(1, 100) g`);
    const yaml = cdcYaml(`cdc_${t}`, [t]).replace('  write_mode: upsert', '  write_mode: upsert\n  on_data_error: dlq');
    await run(yaml);
    await dst.query(`create unique index on ${t} (email)`);
    await src.query(`update ${t} set email = 'e1' where id = 5;
      update ${t} set note = 'same email again' where id = 1;
      insert into ${t} values (200, 'e200', 'new'), (201, 'e2', 'dup of 2')`);
    const r = await run(yaml);
    expect(r.cdc).toMatchObject({ rows_dead_lettered: 2 });
    const rows = await dst.query(`select id, email, note from ${t} where id in (1, 5, 200, 201) order by id`);
    expect(rows.rows).toEqual([
      { id: 1, email: 'e1', note: 'same email again' },
      { id: 5, email: 'e5', note: 'n' },
      { id: 200, email: 'e200', note: 'new' },
    ]);
    const letters = await dst.query(`select row_data->>'id' as id, sqlstate from _rb.dlq where pipeline = $1 order by (row_data->>'id')::int`, [`cdc_${t}`]);
    expect(letters.rows).toEqual([{ id: '5', sqlstate: '23505' }, { id: '201', sqlstate: '23505' }]);
  });

  it('transforms on a cdc stream: rename, masks (sha256, hmac_sha256, redact, null), cast and validate apply alike to the copy and to every change', async () => {
    const t = `c${++n}`;
    await src.query(`create table ${t} (id int primary key, email text, name text, amount numeric, age int, note text, secret text, phone text);
      insert into ${t} select g, 'user' || g || '@example.com', 'name ' || g, g * 1.005, case when g = 7 then 200 else g % 90 end,
        case when g % 3 = 0 then 'note ' || g end, 's' || g, '+1 555 ' || g from generate_series(1, 500) g`);
    const transforms = `transforms:
  - { type: mask, stream: ${t}, columns: [email], method: sha256 }
  - { type: rename, stream: ${t}, columns: { name: full_name } }
  - { type: cast, stream: ${t}, columns: { amount: "numeric(12,2)" } }
  - { type: mask, stream: ${t}, columns: [note], method: redact }
  - { type: mask, stream: ${t}, columns: [secret], method: hmac_sha256, key: "k3y" }
  - { type: mask, stream: ${t}, columns: [phone], method: "null" }
  - { type: validate, stream: ${t}, rules: [ { column: age, range: { min: 0, max: 150 } } ], on_fail: dlq }
`;
    const yaml = cdcYaml(`cdc_${t}`, [t], transforms);
    /** The destination as the transforms make it from the source's rows (`keptAge`: rows whose age change was rejected). */
    const expected = async (keptAge: Record<number, number>) => {
      type Row = { id: number; email: string | null; name: string; amount: string; age: number; note: string | null; secret: string | null };
      const rows = (await src.query(`select id, email, name, amount::numeric(12,2)::text as amount, age, note, secret from ${t} order by id`)).rows as Row[];
      return rows
        .map((r) => ({ ...r, age: keptAge[r.id] ?? r.age }))
        .filter((r) => r.age >= 0 && r.age <= 150)
        .map((r) => ({
          id: r.id,
          email: r.email === null ? null : createHash('sha256').update(r.email, 'utf8').digest('hex'),
          full_name: r.name,
          amount: r.amount,
          age: r.age,
          note: r.note === null ? null : '[redacted]',
          secret: r.secret === null ? null : createHmac('sha256', 'k3y').update(r.secret, 'utf8').digest('hex'),
          phone: null,
        }));
    };
    const actual = async () => (await dst.query(`select id, email, full_name, amount::text as amount, age, note, secret, phone from ${t} order by id`)).rows;
    const r1 = await run(yaml);
    expect(r1.streams[0]).toMatchObject({ rows: 499, rows_dead_lettered: 1 });
    expect(await actual()).toEqual(await expected({}));
    const types = await dst.query(`select attname, format_type(atttypid, atttypmod) as t from pg_attribute where attrelid = '${t}'::regclass and attnum > 0 order by attnum`);
    expect(types.rows.map((x) => `${x.attname} ${x.t}`)).toEqual(['id integer', 'email text', 'full_name text', 'amount numeric(12,2)', 'age integer', 'note text', 'secret text', 'phone text']);

    // Changes: inserts (5 with an age the rule rejects), updates of every transformed column, 3
    // age updates the rule rejects (the destination keeps those rows as they were), deletes.
    await src.query(`insert into ${t} select g, 'new' || g || '@example.com', 'name ' || g, g / 3.0, case when g <= 1005 then 200 else 30 end, 'n', 'x' || g, '+1' from generate_series(1001, 1100) g;
      update ${t} set email = 'changed' || id || '@example.com', name = 'renamed ' || id, amount = amount * 2, note = 'now ' || id, secret = 'new secret', phone = '0' where id between 20 and 120;
      update ${t} set age = -5 where id in (10, 11, 12);
      delete from ${t} where id between 200 and 249`);
    const r2 = await run(yaml);
    expect(r2.cdc).toMatchObject({ rows_dead_lettered: 8, rows_skipped: 0 });
    expect(await actual()).toEqual(await expected({ 10: 10, 11: 11, 12: 12 }));
    // No source value of a masked column anywhere in the destination: the table, the dead letters.
    const leaks = await dst.query(`select (select count(*)::int from ${t} t where t::text like '%@example.com%' or t::text like '%+1 555%' or t::text like '%new secret%') as rows,
      (select count(*)::int from _rb.dlq where pipeline = $1 and (row_data::text like '%@example.com%' or row_data::text like '%+1%')) as letters,
      (select count(*)::int from _rb.dlq where pipeline = $1) as dead`, [`cdc_${t}`]);
    expect(leaks.rows[0]).toEqual({ rows: 0, letters: 0, dead: 9 });


  });

  it('validate unique on a cdc stream holds like a unique index: a value another row has is a duplicate, a row writing its own again is not, a changed or deleted row gives its value back', async () => {
    const t = `c${++n}`;
    await src.query(`create table ${t} (id int primary key, email text, note text);
      insert into ${t} select g, 'e' || g, 'n' from generate_series(1, 100) g; insert into ${t} values (101, 'e1', 'dup of 1')`);
    const yaml = cdcYaml(`cdc_${t}`, [t], `transforms:\n  - { type: mask, stream: ${t}, columns: [note], method: redact }\n  - { type: validate, stream: ${t}, rules: [ { column: email, unique: true }, { column: note, not_null: true } ], on_fail: dlq }\n`);
    const r1 = await run(yaml);
    expect(r1.streams[0]).toMatchObject({ rows: 100, rows_dead_lettered: 1 });
    await src.query(`update ${t} set email = 'e1' where id = 5;
      update ${t} set note = 'same email again' where id = 1;
      insert into ${t} values (200, 'e200', 'new'), (201, 'e2', 'dup of 2');
      update ${t} set email = 'x4' where id = 4;
      delete from ${t} where id = 6;
      update ${t} set email = 'e8-new', note = null where id = 8;
      begin; update ${t} set email = 'fresh' where id = 3; insert into ${t} values (202, 'fresh', 'dup of 3'); commit`);
    const r2 = await run(yaml);
    // Rows 5, 201, 202 repeat a value; row 8's change breaks not_null: it keeps e8, and its claim.
    expect(r2.cdc).toMatchObject({ rows_dead_lettered: 4 });
    // Values given back (row 4 changed, row 6 deleted) are free for other rows in a later piece;
    // row 8 still holds e8.
    await src.query(`insert into ${t} values (204, 'e4', 'takes 4''s old'), (206, 'e6', 'takes 6''s'), (208, 'e8', 'dup of 8')`);
    const r3 = await run(yaml);
    expect(r3.cdc).toMatchObject({ rows_dead_lettered: 1 });
    const rows = await dst.query(`select id, email, note from ${t} where id in (1, 3, 4, 5, 6, 101, 200, 201, 202, 204, 206) order by id`);
    expect(rows.rows).toEqual([
      { id: 1, email: 'e1', note: '[redacted]' },
      { id: 3, email: 'fresh', note: '[redacted]' },
      { id: 4, email: 'x4', note: '[redacted]' },
      { id: 5, email: 'e5', note: '[redacted]' },
      { id: 200, email: 'e200', note: '[redacted]' },
      { id: 204, email: 'e4', note: '[redacted]' },
      { id: 206, email: 'e6', note: '[redacted]' },
    ]);
    const distinct = await dst.query(`select count(*)::int as n, count(distinct email)::int as d from ${t}`);
    expect(distinct.rows[0].d).toBe(distinct.rows[0].n);
    const letters = await dst.query(`select row_data->>'id' as id, error from _rb.dlq where pipeline = $1 order by (row_data->>'id')::int`, [`cdc_${t}`]);
    expect(letters.rows).toEqual([
      ...['5'].map((id) => ({ id, error: 'validate: email unique' })),
      { id: '8', error: 'validate: note not_null' },
      ...['101', '201', '202', '208'].map((id) => ({ id, error: 'validate: email unique' })),
    ]);
    expect((await dst.query(`select email from ${t} where id = 8`)).rows[0].email).toBe('e8');
    // The claims stand between runs: one per row of the destination.
    expect((await dst.query(`select count(*)::int as n from _rb.unique_values where pipeline = $1`, [`cdc_${t}`])).rows[0].n).toBe(distinct.rows[0].n);
  });

  it('a filter on a cdc stream: rows moving into the predicate arrive, rows moving out are deleted, an unsent TOAST value is judged by the source’s current row', async () => {
    const t = `c${++n}`;
    await src.query(`create table ${t} (id int primary key, status text, email text, v int, big text);
      alter table ${t} alter column big set storage external;
      insert into ${t} select g, case when g % 10 = 3 then 'test' else 'active' end, 'u' || g || '@example.com', g,
        case when g % 20 = 0 then repeat(md5(g::text), 400) end from generate_series(1, 300) g`);
    // The filter reads a renamed column and the TOASTed one, after a mask.
    const transforms = `transforms:
  - { type: rename, stream: ${t}, columns: { status: state } }
  - { type: mask, stream: ${t}, columns: [email], method: sha256 }
  - { type: filter, stream: ${t}, where: "state <> 'test' and (big is not null or v > 100)" }
`;
    const yaml = cdcYaml(`cdc_${t}`, [t], transforms);
    const want = `select id, status as state, encode(sha256(convert_to(email, 'UTF8')), 'hex') as email, v, md5(big) as big from ${t}
      where status <> 'test' and (big is not null or v > 100) order by id`;
    const got = `select id, state, email, v, md5(big) as big from ${t} order by id`;
    const r1 = await run(yaml);
    expect(r1.streams[0].rows).toBe(5 + 200 - 20);
    expect((await dst.query(got)).rows).toEqual((await src.query(want)).rows);
    await src.query(`update ${t} set status = 'test' where id between 101 and 105;
      update ${t} set status = 'active' where id in (113, 123);
      update ${t} set v = -v where id in (20, 40, 141);
      update ${t} set big = null where id = 60;
      update ${t} set id = 1000 + id where id in (142, 153);
      insert into ${t} select g, case when g % 2 = 0 then 'test' else 'new' end, 'n' || g, g, null from generate_series(2001, 2020) g;
      delete from ${t} where id in (107, 133)`);
    const r2 = await run(yaml);
    expect(r2.error).toBeUndefined();
    const rows = (await dst.query(got)).rows;
    expect(rows).toEqual((await src.query(want)).rows);
    // Out: 101-105 (test now), 141 (v now -141), 60 (big now null), 142 (its key moved), 1153 (a
    // test row's new key); in: 113, 123 (active now), 1142; kept in: 20, 40 — v now negative, big
    // not sent (unchanged), so judged with the source's current big: still in.
    const ids = new Set(rows.map((x) => x.id));
    expect([101, 105, 141, 60, 142, 1153, 2002, 107].filter((i) => ids.has(i))).toEqual([]);
    expect([113, 123, 20, 40, 1142, 2001].filter((i) => !ids.has(i))).toEqual([]);
  });

  it('a keyless table is copied, then its inserts appended (duplicates kept); an UPDATE for it is a clear error', async () => {
    const k = `c${++n}`;
    await src.query(`create table ${k} (a int, b text); insert into ${k} values (1, 'x'), (1, 'x'), (2, 'y')`);
    const yaml = cdcYaml(`cdc_${k}`, [k]);
    const notes: string[] = [];
    const r1 = await runPipeline(parsePipelineConfig(yaml, 'p.yaml', {}), { parallelism: 2, availableCores: 2, log: (l) => notes.push(l) });
    expect(r1.error).toBeUndefined();
    expect(r1.streams[0]).toMatchObject({ rows: 3, write_mode: 'replace' });
    // Said at setup, with the fix.
    expect(notes.join('\n')).toMatch(new RegExp(`rb: ${k} has no primary key; the source refuses its UPDATEs and DELETEs \\(no replica identity\\)\\. rb applies it as insert-only .* ALTER TABLE ${k} ADD PRIMARY KEY`));
    await src.query(`insert into ${k} values (1, 'x'), (3, null)`);
    const r2 = await run(yaml);
    expect(r2.streams[0]).toMatchObject({ rows: 0, write_mode: 'append' });
    expect(r2.cdc, JSON.stringify(r2.cdc)).toMatchObject({ transactions: 1, rows_written: 2 });
    const multiset = `select md5(string_agg(t::text, ',' order by t::text)) as h, count(*)::int as n from ${k} t`;
    expect((await dst.query(multiset)).rows[0]).toEqual((await src.query(multiset)).rows[0]);
    // (Without a replica identity the source itself refuses the UPDATE of a published table.)
    await src.query(`alter table ${k} replica identity full; update ${k} set b = 'z' where a = 2`);
    const r3 = await runPipeline(parsePipelineConfig(yaml, 'p.yaml', {}), {});
    expect(exitCodeOf(r3)).toBe(4);
    expect(r3.error?.message).toMatch(/an UPDATE arrived for a table without a key; rb applies keyless tables as append/);
  });

  it('rb state reset drops the slot and the publication rb created (not one the user made); the next run copies anew', async () => {
    const t = `c${++n}`;
    const u = `c${++n}`;
    await src.query(`create table ${t} (id int primary key, v text); insert into ${t} select g, 'v' from generate_series(1, 50) g;
      create table ${u} (id int primary key, v text); insert into ${u} values (1, 'x'); create publication user_pub_${u} for table ${u}`);
    const dir = mkdtempSync(join(tmpdir(), 'rb-cdc-'));
    const own = join(dir, 'own.yaml');
    writeFileSync(own, cdcYaml(`cdc_${t}`, [t]));
    const theirs = join(dir, 'theirs.yaml');
    writeFileSync(theirs, cdcYaml(`cdc_${u}`, [u]).replace(`config: { url: "${src.url}" }`, `config: { url: "${src.url}", publication: user_pub_${u} }`));
    for (const f of [own, theirs]) expect(runRb(['run', f]).code).toBe(0);
    const exists = async (sql: string, name: string) => (await src.query(sql, [name])).rows.length > 0;
    const slotSql = 'select 1 from pg_replication_slots where slot_name = $1';
    const pubSql = 'select 1 from pg_publication where pubname = $1';
    expect(await exists(slotSql, `rb_cdc_${t}`)).toBe(true);
    const show = JSON.parse(runRb(['state', 'show', own, '--json']).out);
    expect(show.streams[0]).toMatchObject({ name: t, sync_mode: 'cdc', lsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/) });

    expect(runRb(['state', 'reset', own, '--stream', t, '--yes']).err).toMatch(/share one replication slot/);
    const r = runRb(['state', 'reset', own, '--yes', '--json']);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ reset: 1, dropped_slot: true, dropped_publication: true });
    expect(await exists(slotSql, `rb_cdc_${t}`)).toBe(false);
    expect(await exists(pubSql, `rb_cdc_${t}`)).toBe(false);
    const r2 = runRb(['state', 'reset', theirs, '--yes', '--json']);
    expect(JSON.parse(r2.out)).toMatchObject({ dropped_slot: true, dropped_publication: false });
    expect(await exists(pubSql, `user_pub_${u}`)).toBe(true);

    // Reset: the next run takes a new slot and copies the table again.
    await src.query(`update ${t} set v = 'after reset'`);
    const again = runRb(['run', own, '--json']);
    expect(again.code, again.err).toBe(0);
    expect(JSON.parse(again.out).streams[0].rows).toBe(50);
    await expectEqual(t, 'id, v');
  });
});
