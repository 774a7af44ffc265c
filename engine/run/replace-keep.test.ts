/**
 * A replace keeps what users attached to the target (issue 12 item 4; docs/design.md section 2,
 * "What a replace keeps"): dependent views (and a view on a view), grants (table and column),
 * comments, row-level security and its policies, ownership, constraints, triggers and indexes are
 * all there and working after the run, twice in a row; what rb cannot carry (a foreign key from
 * another table, a materialized view, a view of a column the source no longer has, a publication)
 * fails the run in prepare with the destination untouched (exit 4 through the binary).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../config/index.js';
import { runRb } from '../testing/cli.js';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { createTestDatabase, dropTestDatabases, urlFor, type TestDb } from '../testing/pg.js';
import { runPipeline } from './run-pipeline.js';

const suffix = randomBytes(4).toString('hex');
const READER = `rk_reader_${suffix}`;
const OWNER = `rk_owner_${suffix}`;
const ROWS = 2000;
let src: TestDb;

beforeAll(async () => {
  src = await createTestDatabase('keep_src');
  await src.query(`
    create table items (id int primary key, owner_name text not null, v text, amount int not null);
    insert into items select g, case when g % 2 = 0 then 'alice' else 'bob' end, md5(g::text), g from generate_series(1, ${ROWS}) g;
    create role ${READER};
    create role ${OWNER};
  `);
});

afterAll(async () => {
  await dropTestDatabases();
  const admin = new pg.Client({ connectionString: urlFor('postgres') });
  await admin.connect();
  await admin.query(`drop role if exists ${READER}; drop role if exists ${OWNER}`).catch(() => {});
  await admin.end();
});

const OLD_ROWS = `create table items (id int primary key, owner_name text not null, v text, amount int not null);
  insert into items values (-1, 'alice', 'old', 1), (-2, 'bob', 'old', 2);`;

async function replace(dst: TestDb, name: string) {
  const config = parsePipelineConfig(pipelineYaml({ name, srcUrl: src.url, dstUrl: dst.url, streams: ['items'], writeMode: 'replace' }), 'p.yaml', {});
  return runPipeline(config, { parallelism: 2 });
}

/** Runs `sql` as READER in a transaction of its own and returns its rows. */
async function asReader(dst: TestDb, sql: string): Promise<pg.QueryResultRow[]> {
  const c = await dst.client();
  try {
    await c.query(`begin; set local role ${READER}`);
    return (await c.query(sql)).rows;
  } finally {
    await c.query('rollback');
  }
}

describe('replace keeps what users attached to the target', () => {
  it('views, grants, comments, RLS policies, owner, constraints, triggers and indexes survive and work, twice', async () => {
    const dst = await createTestDatabase('keep_dst');
    await dst.query(`
      ${OLD_ROWS}
      alter table items owner to ${OWNER};
      grant select on items to ${READER};
      grant update (v) on items to ${READER};
      comment on table items is 'the items, kept';
      comment on column items.v is 'a value';
      alter table items enable row level security;
      create policy alice_only on items for select to ${READER} using (owner_name = 'alice');
      comment on policy alice_only on items is 'readers see alice''s rows';
      create index items_v_idx on items (v);
      comment on index items_v_idx is 'by value';
      alter table items add constraint items_v_amount_uq unique (v, amount);
      alter table items add constraint amount_positive check (amount > 0);
      create table audit (n int);
      create function count_update() returns trigger language plpgsql as $$ begin insert into audit values (1); return new; end $$;
      create trigger items_audit after update on items for each row execute function count_update();
      create statistics items_stats (dependencies) on owner_name, amount from items;
      create view alice_items as select id, v from items where owner_name = 'alice';
      create view alice_count as select count(*)::int as n from alice_items;
      comment on view alice_items is 'alice''s items';
      grant select on alice_items, alice_count to ${READER};
      grant select on alice_items to ${OWNER};
      alter view alice_count owner to ${OWNER};
    `);

    for (const round of [1, 2]) {
      const r = await replace(dst, 'keep_all');
      expect(r.error, `round ${round}`).toBeUndefined();
      expect(r.streams[0].rows).toBe(ROWS);
      // The new rows are there, through the table and both views.
      expect((await dst.query(`select count(*)::int as n, min(id)::int as lo from items`)).rows[0]).toEqual({ n: ROWS, lo: 1 });
      expect((await dst.query(`select n from alice_count`)).rows[0].n).toBe(ROWS / 2);
      // Owner, comments, RLS flags, policy.
      const t = (await dst.query(`select pg_get_userbyid(relowner) as owner, relrowsecurity as rls, obj_description(oid, 'pg_class') as comment,
                                         col_description(oid, 3) as v_comment from pg_class where oid = 'items'::regclass`)).rows[0];
      expect(t).toEqual({ owner: OWNER, rls: true, comment: 'the items, kept', v_comment: 'a value' });
      const pol = (await dst.query(`select polname, pg_get_expr(polqual, polrelid) as qual, obj_description(oid, 'pg_policy') as comment from pg_policy where polrelid = 'items'::regclass`)).rows;
      expect(pol).toEqual([{ polname: 'alice_only', qual: "(owner_name = 'alice'::text)", comment: "readers see alice's rows" }]);
      // The grant and the policy work: the reader reads alice's rows only, through the table and the views.
      expect((await asReader(dst, `select count(*)::int as n, count(*) filter (where owner_name <> 'alice')::int as others from items`))[0]).toEqual({ n: ROWS / 2, others: 0 });
      expect((await asReader(dst, `select count(*)::int as n from alice_items`))[0].n).toBe(ROWS / 2);
      expect((await asReader(dst, `select n from alice_count`))[0].n).toBe(ROWS / 2);
      // The column grant: v but not amount.
      const priv = (await dst.query(`select has_column_privilege('${READER}', 'items', 'v', 'UPDATE') as v, has_column_privilege('${READER}', 'items', 'amount', 'UPDATE') as amount,
                                            has_table_privilege('${READER}', 'items', 'INSERT') as ins`)).rows[0];
      expect(priv).toEqual({ v: true, amount: false, ins: false });
      // The views: owners, comment, grants.
      const views = (await dst.query(`select relname, pg_get_userbyid(relowner) as owner, obj_description(oid, 'pg_class') as comment, has_table_privilege('${READER}', oid, 'SELECT') as readable
                                        from pg_class where relname in ('alice_items', 'alice_count') order by relname`)).rows;
      expect(views).toEqual([
        { relname: 'alice_count', owner: OWNER, comment: null, readable: true },
        { relname: 'alice_items', owner: expect.any(String), comment: "alice's items", readable: true },
      ]);
      // Indexes and constraints under their own names, the index comment, the statistics object.
      const idx = (await dst.query(`select indexrelid::regclass::text as name, obj_description(indexrelid, 'pg_class') as comment from pg_index where indrelid = 'items'::regclass order by 1`)).rows;
      expect(idx).toEqual([
        { name: 'items_pkey', comment: null },
        { name: 'items_v_amount_uq', comment: null },
        { name: 'items_v_idx', comment: 'by value' },
      ]);
      const cons = (await dst.query(`select conname, contype from pg_constraint where conrelid = 'items'::regclass and contype <> 'n' order by 1`)).rows;
      expect(cons).toEqual([
        { conname: 'amount_positive', contype: 'c' },
        { conname: 'items_pkey', contype: 'p' },
        { conname: 'items_v_amount_uq', contype: 'u' },
      ]);
      expect((await dst.query(`select count(*)::int as n from pg_statistic_ext where stxrelid = 'items'::regclass and stxname = 'items_stats'`)).rows[0].n).toBe(1);
      // The trigger fires.
      await dst.query(`delete from audit; update items set v = v where id <= 3`);
      expect((await dst.query(`select count(*)::int as n from audit`)).rows[0].n).toBe(3);
      // The CHECK constraint holds on the new table.
      await expect(dst.query(`update items set amount = 0 where id = 1`)).rejects.toThrow(/amount_positive/);
      expect((await dst.query(`select count(*)::int as n from pg_class where relname like '%\\_\\_rb\\_%'`)).rows[0].n, 'staging or temporary names left').toBe(0);
    }
  });

  it('a target without attachments: primary key, default privileges, nothing else', async () => {
    const dst = await createTestDatabase('keep_dst');
    await dst.query(OLD_ROWS);
    const r = await replace(dst, 'keep_plain');
    expect(r.error).toBeUndefined();
    const t = (await dst.query(`select relacl is null as default_acl, relrowsecurity as rls, (select count(*)::int from pg_index where indrelid = c.oid) as indexes from pg_class c where oid = 'items'::regclass`)).rows[0];
    expect(t).toEqual({ default_acl: true, rls: false, indexes: 1 });
    expect((await dst.query(`select conname from pg_constraint where conrelid = 'items'::regclass and contype = 'p'`)).rows).toEqual([{ conname: 'items_pkey' }]);
  });

  it('a CHECK the target has is enforced while loading: the run fails and the target is as it was', async () => {
    const dst = await createTestDatabase('keep_dst');
    await dst.query(`${OLD_ROWS} alter table items add constraint small check (amount < 1000)`);
    const r = await replace(dst, 'keep_check');
    expect(r.error?.message).toMatch(/small/);
    expect((await dst.query(`select count(*)::int as n, min(id)::int as lo from items`)).rows[0]).toEqual({ n: 2, lo: -2 });
  });

  const refused: Array<{ name: string; setup: string; names: RegExp }> = [
    { name: 'a foreign key from another table', setup: `create table child (item_id int references items (id)); insert into child values (-1)`, names: /constraint child_item_id_fkey on table child/ },
    { name: 'a materialized view', setup: `create materialized view items_mv as select count(*) from items`, names: /materialized view items_mv/ },
    { name: 'a view of a column the source no longer has', setup: `alter table items add column legacy text; create view legacy_v as select id, legacy from items`, names: /view legacy_v uses column legacy, which the source no longer has/ },
    { name: 'a view of a column whose type changed', setup: `alter table items alter column amount type bigint; create view amounts as select sum(amount) from items`, names: /view amounts uses column amount, bigint in the target but integer from the source/ },
    { name: 'a function whose body uses the table', setup: `create function item_count() returns bigint language sql begin atomic select count(*) from items; end`, names: /function item_count\(\)/ },
    { name: 'a publication', setup: `create publication items_pub for table items`, names: /publication items_pub publishes it/ },
  ];
  it.each(refused)('refuses $name in prepare, the destination untouched', async ({ setup, names }) => {
    const dst = await createTestDatabase('keep_dst');
    await dst.query(`${OLD_ROWS} ${setup}`);
    const before = (await dst.query(`select count(*)::int as n from pg_class where relnamespace = 'public'::regnamespace`)).rows[0].n;
    const r = await replace(dst, 'keep_refused');
    expect(r.error?.code).toBe('dest_prepare');
    expect(r.error?.message).toMatch(names);
    // Prepare failed before any shard ran: nothing moved, the target and the catalog are as they were.
    expect(r.phases_ms.move).toBe(0);
    expect((await dst.query(`select count(*)::int as n, min(id)::int as lo from items`)).rows[0]).toEqual({ n: 2, lo: -2 });
    expect((await dst.query(`select count(*)::int as n from pg_class where relnamespace = 'public'::regnamespace`)).rows[0].n).toBe(before);
  });

  it('through the binary: exit 4, the message names the dependent object', async () => {
    const dst = await createTestDatabase('keep_dst');
    await dst.query(`${OLD_ROWS} create table child (item_id int references items (id))`);
    const dir = mkdtempSync(join(tmpdir(), 'rb-keep-'));
    const file = join(dir, 'p.yaml');
    writeFileSync(file, pipelineYaml({ name: 'keep_cli', srcUrl: src.url, dstUrl: dst.url, streams: ['items'], writeMode: 'replace' }));
    const r = runRb(['run', file]);
    expect(r.code, r.err + r.out).toBe(4);
    expect(r.err).toMatch(/write_mode replace cannot keep what is attached to public\.items: constraint child_item_id_fkey on table child/);
    expect((await dst.query(`select count(*)::int as n from items`)).rows[0].n).toBe(2);
  });
});
