/**
 * The CLI's other commands through the real binary: --version, check, discover, demo (small
 * scale, on its own embedded cluster), and an upsert into an existing table without a key.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetCluster } from '../embedded/cluster.js';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { runRb } from '../testing/cli.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'rb-cmd-'));
let src: TestDb;
let dst: TestDb;

beforeAll(async () => {
  src = await createTestDatabase('cmdsrc');
  dst = await createTestDatabase('cmddst');
  await src.query(`create type mood as enum ('sad', 'ok');
    create table public.orders (id bigint primary key, m mood, total numeric(12,2) not null, note text);
    insert into public.orders select g, 'ok', g, null from generate_series(1, 1000) g;
    create table public.no_key (a int, b text);
    analyze;`);
});
afterAll(async () => {
  await dropTestDatabases();
  rmSync(tmp, { recursive: true, force: true });
});

const rb = (args: string[], env: Record<string, string> = {}) => runRb(args, env, 180_000);

function pipelineFile(name: string, body: string): string {
  const p = path.join(tmp, name);
  writeFileSync(p, body);
  return p;
}

const yaml = (writeMode: 'replace' | 'upsert' = 'replace', streams = ['public.orders']) =>
  pipelineYaml({ name: 'cmd_test', srcUrl: src.url, dstUrl: dst.url, streams, writeMode, destSchema: 'public', primaryKey: ['id'] });

describe('rb CLI commands', () => {
  it('--version says which codecs are active', () => {
    const r = rb(['--version']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^rb \d+\.\d+\.\d+ \(codecs: (native|ts) — /);
    const ts = rb(['--version'], { RB_NATIVE: '0' });
    expect(ts.out).toMatch(/codecs: ts — RB_NATIVE=0/);
  });

  it('bench --profile codecs --json prints the codec report', () => {
    const r = rb(['bench', '--profile', 'codecs', '--json', '--time', '20', '--iterations', '2', '--only', 'placeholders,copy-scan']);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    const names = new Set(j.codecs.map((c: { name: string }) => c.name));
    expect(names).toEqual(new Set(['placeholders', 'copy-scan']));
    for (const c of j.codecs) expect(c.ops_per_sec).toBeGreaterThan(0);
    expect(j.native.impl).toMatch(/native|ts/);
  });

  it('check passes on a good pipeline and fails with the source exit code on a missing table', () => {
    const ok = rb(['check', pipelineFile('check.yaml', yaml()), '--json']);
    expect(ok.code).toBe(0);
    const j = JSON.parse(ok.out);
    expect(j.status).toBe('ok');
    expect(j.checks.map((c: { check: string }) => c.check)).toEqual(
      expect.arrayContaining(['config', 'source connection', 'source table public.orders', 'destination connection', 'destination schema public']),
    );
    const bad = rb(['check', pipelineFile('check-bad.yaml', yaml('replace', ['public.missing']))]);
    expect(bad.code).toBe(3);
    expect(bad.out).toMatch(/FAIL\s+source table public\.missing: public\.missing does not exist/);
  });

  it('discover lists columns with exact types, keys and how each table shards', () => {
    const r = rb(['discover', pipelineFile('discover.yaml', yaml()), '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    const orders = j.tables.find((t: { name: string }) => t.name === 'public.orders');
    expect(orders.primary_key).toEqual(['id']);
    expect(orders.columns).toEqual([
      expect.objectContaining({ name: 'id', type: 'bigint', nullable: false }),
      expect.objectContaining({ name: 'm', type: 'mood', nullable: true }),
      expect.objectContaining({ name: 'total', type: 'numeric(12,2)', nullable: false }),
      expect.objectContaining({ name: 'note', type: 'text', nullable: true }),
    ]);
    expect(orders.estimated_rows).toBe(1000);
    expect(orders.shard_key).toBe('id');
    const noKey = j.tables.find((t: { name: string }) => t.name === 'public.no_key');
    expect(noKey.shard_key).toBe('ctid');
    const human = rb(['discover', pipelineFile('discover.yaml', yaml())]);
    expect(human.out).toMatch(/public\.orders\s+~1,000 rows/);
    expect(human.out).toMatch(/total\s+numeric\(12,2\)\s+not null/);
  });

  it('discover says which index an incremental stream reads through, and when there is none', async () => {
    await src.query('create table public.ev (id bigint primary key, updated_at timestamptz, v text)');
    const body = pipelineYaml({ name: 'cmd_incr', srcUrl: src.url, dstUrl: dst.url, streams: ['public.ev'], writeMode: 'upsert', destSchema: 'public', primaryKey: ['id'] }).replace(
      '    - name: public.ev',
      '    - name: public.ev\n      sync_mode: incremental\n      cursor_field: updated_at',
    );
    const file = pipelineFile('discover-incr.yaml', body);
    const incremental = () => JSON.parse(rb(['discover', file, '--json']).out).tables.find((t: { name: string }) => t.name === 'public.ev').incremental;
    expect(incremental()).toMatchObject({ stream: 'public.ev', cursor_fields: ['updated_at', 'id'], index: null, index_covers: null });
    expect(incremental().note).toContain('create index on "public"."ev" ("updated_at", "id")');
    expect(rb(['discover', file]).out).toMatch(/WARNING: public\.ev: no index starts with \(updated_at, id\): every incremental run scans the whole table/);
    await src.query('create index ev_updated on public.ev (updated_at)');
    expect(incremental()).toMatchObject({ index: 'ev_updated', index_covers: 'cursor' });
    await src.query('create index ev_updated_id on public.ev (updated_at, id) include (v)');
    expect(incremental()).toMatchObject({ index: 'ev_updated_id', index_covers: 'all' });
    await src.query('drop table public.ev');
  });

  it('runs from the TypeScript sources when started outside the repository (workers find tsx)', async () => {
    const own = await createTestDatabase('cmdsources'); // its own destination: the other tests expect dst empty
    const body = pipelineYaml({ name: 'cmd_sources', srcUrl: src.url, dstUrl: own.url, streams: ['public.orders'], writeMode: 'replace', destSchema: 'public', primaryKey: ['id'] });
    const r = runRb(['run', pipelineFile('from-sources.yaml', body), '--json', '--parallelism', '2'], { RB_FROM_SOURCE: '1' }, 180_000, tmp);
    expect(r.err).not.toMatch(/ERR_MODULE_NOT_FOUND/);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ status: 'succeeded', rows_written: 1000 });
  });

  it('upsert into an existing table without a key fails clearly and changes nothing', async () => {
    await dst.query("create type mood as enum ('sad', 'ok'); create table public.orders (id bigint, m mood, total numeric(12,2), note text)");
    const r = rb(['run', pipelineFile('upsert.yaml', yaml('upsert'))]);
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/upsert needs a primary key or unique constraint on \(id\)/);
    expect((await dst.query('select count(*)::int as n from public.orders')).rows[0].n).toBe(0);
    await dst.query('drop table public.orders');
  });

  it('demo seeds, copies and verifies on its own embedded cluster', async () => {
    const root = path.join(tmp, 'demo-pg');
    try {
      const r = rb(['demo', '--json'], { RB_EMBEDDED_ROOT: root, RB_DEMO_SCALE: '0.01' });
      expect(r.code, r.err).toBe(0);
      const j = JSON.parse(r.out);
      expect(j.status).toBe('succeeded');
      expect(j.streams.map((s: { name: string }) => s.name)).toEqual(['shop.customers', 'shop.products', 'shop.orders', 'shop.order_items', 'shop.events']);
      expect(j.verification.equal).toBe(true);
      expect(j.rows_written).toBeGreaterThan(5000);
    } finally {
      await resetCluster(root);
    }
  });
});
