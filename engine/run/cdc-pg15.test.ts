/**
 * CDC from a PostgreSQL 15 source (docs/design.md section 8): before PostgreSQL 18 the server
 * publishes no generated column at all, so the destination computes them itself with the
 * source's expression — in the first run's copy and in every change after it.
 *
 * Needs PostgreSQL 15's server binaries (Debian's postgresql-15, which `.ci/run` installs for
 * pgbench). Without them the test is reported as skipped, never as passed.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../config/index.js';
import { clusterUrl, ensureCluster, ensureDatabase, resetCluster } from '../embedded/cluster.js';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';
import { runPipeline, type RunResult } from './run-pipeline.js';

const PG15 = '/usr/lib/postgresql/15/bin';
const HAVE_PG15 = existsSync(path.join(PG15, 'initdb'));
const root = path.resolve('.rb', 'test-clusters', `cdc-pg15-${process.pid}`);
let src: pg.Client;
let srcUrl: string;
let dst: TestDb;

beforeAll(async () => {
  if (!HAVE_PG15) return;
  mkdirSync(path.dirname(root), { recursive: true });
  const info = await ensureCluster(root, { binDir: PG15 });
  await ensureDatabase(info, 'gen_src');
  srcUrl = clusterUrl(info, 'gen_src');
  src = new pg.Client({ connectionString: srcUrl });
  src.on('error', () => {});
  await src.connect();
  dst = await createTestDatabase('cdc15_dst');
}, 120_000);
afterAll(async () => {
  if (!HAVE_PG15) return;
  await src?.end().catch(() => {});
  await dropTestDatabases();
  await resetCluster(root, { binDir: PG15 }).catch(() => {});
  rmSync(root, { recursive: true, force: true });
});

async function run(yaml: string): Promise<RunResult> {
  const r = await runPipeline(parsePipelineConfig(yaml, 'p.yaml', {}), { parallelism: 2, availableCores: 2 });
  expect(r.error, JSON.stringify(r.error)).toBeUndefined();
  return r;
}

async function expectEqual(table: string, cols: string): Promise<void> {
  const q = `select count(*)::int as n, md5(coalesce(string_agg(concat_ws(':', ${cols}), ',' order by id), '')) as h from ${table}`;
  expect((await dst.query(q)).rows[0], table).toEqual((await src.query(q)).rows[0]);
}

describe('cdc from PostgreSQL 15', () => {
  it.skipIf(!HAVE_PG15)('stored generated columns, which PostgreSQL 15 does not publish, end with the source\'s values: copy, inserts, updates of the columns they derive from (also under an unchanged TOASTed value), key changes', async () => {
    expect((await src.query('show server_version_num')).rows[0].server_version_num).toMatch(/^15/);
    await src.query(`create table gen (id int primary key, price numeric(10,2), qty int, big text,
        total numeric(12,2) generated always as (price * qty) stored,
        label text generated always as (id::text || ':' || coalesce(length(big), 0)) stored);
      alter table gen alter column big set storage external;
      insert into gen (id, price, qty, big) select g, g * 1.25, g % 7, case when g % 10 = 0 then repeat(md5(g::text), 300) end from generate_series(1, 500) g`);
    const yaml = pipelineYaml({ name: 'cdc_pg15_gen', srcUrl, dstUrl: dst.url, streams: ['gen'], writeMode: 'upsert' }).replace('    - name: gen', '    - name: gen\n      sync_mode: cdc');
    const first = await run(yaml);
    expect(first.streams[0].rows).toBe(500);
    const cols = 'id, price, qty, md5(big), total, label';
    await expectEqual('gen', cols);

    await src.query(`update gen set qty = qty + 10 where id <= 20;
      update gen set price = 99.99 where id in (10, 20, 30);
      delete from gen where id > 480;
      update gen set id = id + 1000 where id = 40;
      insert into gen (id, price, qty, big) values (2000, 1.5, 4, repeat('z', 9000))`);
    const second = await run(yaml);
    expect(second.cdc!.transactions).toBe(1); // one simple query: one transaction
    await expectEqual('gen', cols);
    expect((await dst.query(`select total, label from gen where id = 10`)).rows[0]).toEqual({ total: '1299.87', label: '10:9600' });
    expect((await dst.query(`select attgenerated::text as g from pg_attribute where attrelid = 'gen'::regclass and attname = 'total'`)).rows[0].g).toBe('s');
    await src.query(`select pg_drop_replication_slot('rb_cdc_pg15_gen')`).catch(() => {});
  });
});
