/**
 * Transforms (docs/design.md section 9, engine/run/plan-transforms.ts): filter, mask, rename, cast
 * and validate on one stream, pushed down into the source's query and applied in the pool
 * (RB_TRANSFORM_PUSHDOWN=0), with identical results, equal to the same transforms written in SQL;
 * a masked value appears nowhere in the destination database; refusals name the entry and line.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../config/index.js';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';
import { exitCodeOf, runPipeline, type RunResult } from './run-pipeline.js';

let src: TestDb;
let dst: TestDb;
const KNOWN_EMAIL = 'ada.lovelace@example.org';

beforeAll(async () => {
  src = await createTestDatabase('tr_src');
  dst = await createTestDatabase('tr_dst');
  await src.query(`create table users (id int primary key, email text, name text, status text, age int, amount numeric, note text)`);
  await src.query(`insert into users select g,
      case when g = 77 then '${KNOWN_EMAIL}' when g % 50 = 0 then null else 'user' || g || '@example.com' end,
      'name ' || g || case when g % 9 = 0 then E'\\ttab' else '' end,
      case when g % 10 = 0 then 'test' when g % 7 = 0 then 'paused' else 'active' end,
      case when g % 97 = 0 then -1 when g % 89 = 0 then 200 else g % 90 end,
      g * 1.005, case when g % 3 = 0 then 'ünïcödé ' || g end
    from generate_series(1, 3000) g`);
}, 60_000);
afterAll(async () => {
  await dropTestDatabases();
});

const TRANSFORMS = `transforms:
  - { type: filter, stream: users, where: "status <> 'test'" }
  - { type: mask, stream: users, columns: [email], method: sha256 }
  - { type: rename, stream: users, columns: { name: full_name } }
  - { type: cast, stream: users, columns: { amount: "numeric(12,2)" } }
  - { type: mask, stream: users, columns: [note], method: redact }
  - { type: validate, stream: users, rules: [ { column: age, range: { min: 0, max: 150 } }, { column: status, allowed: [active, paused] }, { column: full_name, regex: "^name [0-9]+" } ], on_fail: dlq }
`;

function yaml(name: string, schema: string, transforms: string, writeMode: 'append' | 'upsert' | 'replace' = 'replace', extra = ''): string {
  return pipelineYaml({ name, srcUrl: src.url, dstUrl: dst.url, streams: ['users'], writeMode, destSchema: schema, primaryKey: writeMode === 'upsert' ? ['id'] : undefined, extra: `${extra}${transforms}` });
}

async function run(text: string, env: Record<string, string> = {}): Promise<RunResult> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    return await runPipeline(parsePipelineConfig(text, 'p.yaml', {}), { parallelism: 2, availableCores: 2 });
  } finally {
    for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

/** What the transforms mean, written in SQL on the source. */
const EXPECTED = `select id, encode(sha256(convert_to(email, 'UTF8')), 'hex') as email, name as full_name, status, age, amount::numeric(12,2) as amount,
    case when note is null then null else '[redacted]' end as note
  from users where status <> 'test' and (age between 0 and 150)`;
const hashOf = (q: string) => `select count(*)::int as n, md5(string_agg(concat_ws('|', id, email, full_name, status, age, amount, note), ',' order by id)) as h from (${q}) q`;

describe('transforms', () => {
  it('filter, mask (sha256, redact), rename, cast and validate: pushed down and in the pool, identical, equal to the same in SQL; validate dead-letters its rows', async () => {
    const pushed = await run(yaml('tr_push', 'pushed', TRANSFORMS));
    expect(pushed.error, JSON.stringify(pushed.error)).toBeUndefined();
    const pool = await run(yaml('tr_pool', 'pooled', TRANSFORMS), { RB_TRANSFORM_PUSHDOWN: '0' });
    expect(pool.error, JSON.stringify(pool.error)).toBeUndefined();
    expect(pushed.streams[0].transforms).toEqual({
      pushed_down: ["filter status <> 'test'", 'mask sha256 email', 'rename name → full_name', 'mask redact note'],
      in_pool: ['validate age range [0, 150]', 'validate status allowed ["active","paused"]', 'validate full_name regex "^name [0-9]+"'],
      in_destination: ['cast amount numeric(12,2)'],
    });
    expect(pool.streams[0].transforms?.in_pool).toEqual(['mask sha256 email', 'mask redact note', 'validate age range [0, 150]', 'validate status allowed ["active","paused"]', 'validate full_name regex "^name [0-9]+"']);
    const expected = (await src.query(hashOf(EXPECTED))).rows[0];
    expect(expected.n).toBeGreaterThan(2000);
    expect((await dst.query(hashOf('select * from pushed.users'))).rows[0]).toEqual(expected);
    expect((await dst.query(hashOf('select * from pooled.users'))).rows[0]).toEqual(expected);
    // The rows validate rejected (ages out of range, among the rows the filter kept).
    const bad = Number((await src.query(`select count(*) as n from users where status <> 'test' and not (age between 0 and 150)`)).rows[0].n);
    expect(bad).toBeGreaterThan(10);
    for (const [r, p] of [
      [pushed, 'tr_push'],
      [pool, 'tr_pool'],
    ] as const) {
      expect(r.streams[0]).toMatchObject({ rows: expected.n, rows_dead_lettered: bad });
      const dlq = await dst.query(`select row_data, error, constraint_name, column_name from _rb.dlq where pipeline = $1`, [p]);
      expect(dlq.rows.length).toBe(bad);
      expect(dlq.rows[0]).toMatchObject({ column_name: 'age', constraint_name: 'validate range [0, 150]' });
      expect(dlq.rows[0].error).toBe('validate: age range [0, 150]');
      // A dead letter holds the row as written: its email already masked.
      expect(dlq.rows[0].row_data.email).toMatch(/^[0-9a-f]{64}$|^null$/);
    }
    const cols = await dst.query(`select attname, format_type(atttypid, atttypmod) as t from pg_attribute where attrelid = 'pushed.users'::regclass and attnum > 0 order by attnum`);
    expect(cols.rows).toEqual([
      { attname: 'id', t: 'integer' },
      { attname: 'email', t: 'text' },
      { attname: 'full_name', t: 'text' },
      { attname: 'status', t: 'text' },
      { attname: 'age', t: 'integer' },
      { attname: 'amount', t: 'numeric(12,2)' },
      { attname: 'note', t: 'text' },
    ]);
  }, 120_000);

  it('a masked value appears nowhere in the destination database: tables, state and run records, dead letters', async () => {
    // Every text value of every table of the destination, rb's own included.
    const tables = await dst.query(`select format('%I.%I', n.nspname, c.relname) as t from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')`);
    expect(tables.rows.length).toBeGreaterThan(3);
    for (const { t } of tables.rows) {
      const hit = await dst.query(`select count(*)::int as n from ${t} x where x::text like $1`, [`%${KNOWN_EMAIL}%`]);
      expect(hit.rows[0].n, t).toBe(0);
    }
    expect((await src.query(`select count(*)::int as n from users where email = $1`, [KNOWN_EMAIL])).rows[0].n).toBe(1);
  });

  it('hmac_sha256 with a key from the environment (in the pool, never in a query), null, and the same through load_method insert and upsert', async () => {
    const key = 'k3y-from-env';
    const t = `transforms:
  - { type: mask, stream: users, columns: [email], method: hmac_sha256, key: "\${MASK_KEY}" }
  - { type: mask, stream: users, columns: [note], method: "null" }
`;
    for (const [name, schema, mode] of [
      ['tr_hmac', 'hmac_copy', 'replace'],
      ['tr_hmac_ups', 'hmac_ups', 'upsert'],
    ] as const) {
      const text = yaml(name, schema, t, mode, mode === 'upsert' ? '' : '');
      const r = await runPipeline(parsePipelineConfig(text.replace(`schema: ${schema}`, `schema: ${schema}${mode === 'upsert' ? ', load_method: insert' : ''}`), 'p.yaml', { MASK_KEY: key }), { parallelism: 2, availableCores: 2 });
      expect(r.error, JSON.stringify(r.error)).toBeUndefined();
      const row = (await dst.query(`select email, note from ${schema}.users where id = 77`)).rows[0];
      expect(row).toEqual({ email: createHmac('sha256', key).update(KNOWN_EMAIL, 'utf8').digest('hex'), note: null });
      expect((await dst.query(`select count(*)::int as n from ${schema}.users where email is null`)).rows[0].n).toBe(60);
      expect((await dst.query(`select count(*)::int as n from ${schema}.users where note is not null`)).rows[0].n).toBe(0);
    }
  });

  it('a value the cast does not fit is a row the destination rejects (on_data_error); validate on_fail: fail exits 5 naming the row and the rule', async () => {
    const cast = `transforms:
  - { type: cast, stream: users, columns: { amount: "numeric(4,2)" } }
`;
    const r = await run(yaml('tr_cast', 'cast_dlq', cast, 'replace', '  on_data_error: dlq\n'));
    expect(r.error, JSON.stringify(r.error)).toBeUndefined();
    const over = Number((await src.query(`select count(*) as n from users where round(amount, 2) >= 100`)).rows[0].n);
    expect(r.streams[0].rows_dead_lettered).toBe(over);
    expect((await dst.query(`select sqlstate from _rb.dlq where pipeline = 'tr_cast' limit 1`)).rows[0].sqlstate).toBe('22003');

    const strict = `transforms:
  - { type: validate, stream: users, rules: [ { column: age, range: { min: 0 } } ], on_fail: fail }
`;
    const failed = await run(yaml('tr_fail', 'strict', strict));
    expect(exitCodeOf(failed)).toBe(5);
    expect(failed.error?.message).toMatch(/users shard \d+: the row with id = "\d+" was rejected: validate: age range \[0, ∞\] \(validate on_fail: fail\)/);
  });

  it('refusals name the entry and its line: an unknown column or stream, a filter that does not compile, a filter after a pool transform, a mask of the key', async () => {
    const cases: Array<[string, RegExp]> = [
      [`transforms:\n  - { type: mask, stream: users, columns: [mail], method: sha256 }\n`, /^p\.yaml:\d+:\d+ transforms\[0\]\.columns\[0\]: column "mail" is not a column of stream users here \(its columns: id, email, name/],
      [`transforms:\n  - { type: rename, stream: users, columns: { name: full } }\n  - { type: mask, stream: users, columns: [name], method: redact }\n`, /transforms\[1\]\.columns\[0\]: column "name" is not a column of stream users here \(its columns: id, email, full,/],
      [`transforms:\n  - { type: filter, stream: users, where: "no_such_column > 1" }\n`, /^p\.yaml:\d+:\d+ transforms\[0\]\.where: the transforms of stream users do not compile in the source: column "no_such_column" does not exist/],
      [`transforms:\n  - { type: validate, stream: users, rules: [ { column: age, not_null: true } ] }\n  - { type: filter, stream: users, where: "age > 1" }\n`, /transforms\[1\]\.where: a filter after a transform the destination applies \(validate not_null\) is not available in this version of rb yet; list the filter first/],
      [`transforms:\n  - { type: mask, stream: users, columns: [id], method: sha256 }\n`, /transforms\[0\]\.columns\[0\]: a mask of "id", a key, cursor or partition column of the stream, is not available/],
    ];
    for (const [t, msg] of cases) {
      const r = await run(yaml('tr_refused', 'refused', t, 'upsert'));
      expect(exitCodeOf(r), t).toBe(2);
      expect(r.error?.message, t).toMatch(msg);
    }
    expect(await dst.query(`select 1 from pg_namespace where nspname = 'refused'`).then((x) => x.rows.length)).toBe(0);
    // Config-time: a stream that is not configured (a filter on a cdc stream: cdc.test.ts).
    expect(() => parsePipelineConfig(yaml('x', 's', `transforms:\n  - { type: mask, stream: orders, columns: [a], method: sha256 }\n`), 'p.yaml', {})).toThrow(/p\.yaml:\d+:\d+ transforms\[0\]\.stream: names no stream of source\.streams \(users\)/);
    expect(() => parsePipelineConfig(yaml('x', 's', `transforms:\n  - { type: mask, stream: users, columns: [email], method: hmac_sha256 }\n`), 'p.yaml', {})).toThrow(/method hmac_sha256 needs key/);
  });

  it('validate unique: each value is written once per run across shards and load methods; the other rows follow on_fail; claims are dropped after the run', async () => {
    await src.query(`create table codes (id int primary key, code text, other text);
      insert into codes select g, 'c' || (g % 700), case when g % 2 = 0 then 'o' || (g % 1100) end from generate_series(1, 6000) g`);
    const codes = (name: string, schema: string, rules: string, onFail: string, extra = '') =>
      pipelineYaml({ name, srcUrl: src.url, dstUrl: dst.url, streams: ['codes'], writeMode: 'replace', destSchema: schema, extra: `${extra}transforms:\n  - { type: validate, stream: codes, rules: [ ${rules} ], on_fail: ${onFail} }\n` });
    const sharded = { RB_SHARD_MIN_BYTES: '0' };
    const claims = async (p: string) => Number((await dst.query(`select count(*) as n from _rb.unique_values where pipeline = $1`, [p])).rows[0].n);
    for (const [p, schema, extra] of [
      ['tr_uniq_copy', 'uniq_copy', 'resources: { max_batch_bytes: 64kb }\n'],
      ['tr_uniq_insert', 'uniq_insert', ''],
    ] as const) {
      const text = codes(p, schema, '{ column: code, unique: true }', 'dlq', extra).replace(`schema: ${schema}`, `schema: ${schema}${p.endsWith('insert') ? ', load_method: insert' : ''}`);
      // Twice: the second run claims afresh (the first run's claims were dropped).
      for (let i = 0; i < 2; i++) {
        const r = await run(text, sharded);
        expect(r.error, JSON.stringify(r.error)).toBeUndefined();
        expect(r.streams[0]).toMatchObject({ rows: 700, rows_dead_lettered: 5300 });
        expect(r.streams[0].shards).toBeGreaterThan(1);
        const got = await dst.query(`select count(*)::int as n, count(distinct code)::int as d from ${schema}.codes`);
        expect(got.rows[0]).toEqual({ n: 700, d: 700 });
        const dead = await dst.query(`select count(*)::int as n, count(distinct error)::int as e, min(error) as error from _rb.dlq where pipeline = $1 and run_id = $2`, [p, r.run_id]);
        expect(dead.rows[0]).toEqual({ n: 5300, e: 1, error: 'validate: code unique' });
        expect(await claims(p)).toBe(0);
      }
    }
    // Two rules (a NULL passes): a row one rule rejects gives back what it claimed for the other.
    const two = await run(codes('tr_uniq_two', 'uniq_two', '{ column: other, unique: true }, { column: code, unique: true }', 'skip'), sharded);
    expect(two.error, JSON.stringify(two.error)).toBeUndefined();
    const kept = await dst.query(`select count(*)::int as n, count(distinct code)::int as codes, count(other)::int as others, count(distinct other)::int as distinct_others from uniq_two.codes`);
    expect(kept.rows[0].codes).toBe(kept.rows[0].n);
    expect(kept.rows[0].distinct_others).toBe(kept.rows[0].others);
    expect(two.streams[0].rows_skipped).toBe(6000 - kept.rows[0].n);
    // Every code is in the table once: a code's rows rejected by "other" never keep it claimed,
    // and NULL others (odd ids, present for every code) pass.
    expect(kept.rows[0].codes).toBe(700);
    // In order within one shard: row 2 takes "y" for other but breaks code; row 3 then gets "y".
    await src.query(`create table codes_small (id int primary key, code text, other text); insert into codes_small values (1, 'a', 'x'), (2, 'a', 'y'), (3, 'b', 'y'), (4, 'c', 'x')`);
    const small = await run(codes('tr_uniq_small', 'uniq_small', '{ column: other, unique: true }, { column: code, unique: true }', 'skip').replaceAll('codes', 'codes_small'));
    expect(small.error, JSON.stringify(small.error)).toBeUndefined();
    expect((await dst.query(`select id from uniq_small.codes_small order by id`)).rows.map((x) => x.id)).toEqual([1, 3]);
    const failed = await run(codes('tr_uniq_fail', 'uniq_fail', '{ column: code, unique: true }', 'fail'), sharded);
    expect(exitCodeOf(failed)).toBe(5);
    expect(failed.error?.message).toMatch(/the row with id = "\d+" was rejected: validate: code unique \(validate on_fail: fail\)/);
  }, 120_000);
});
