/**
 * `rb check` on a cdc pipeline: wal_level and the slot/sender settings, the REPLICATION attribute
 * of the source role, the publication and the slot (read only: check creates neither), and tables
 * without a primary key (a warning), each with the fix when something is missing.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRb } from '../testing/cli.js';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { clusterInfo, createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';
import { slotProblem, walLevelCheck } from '../api/check.js';

const dir = mkdtempSync(join(tmpdir(), 'rb-check-cdc-'));
/** Slot names are cluster-wide: a suffix of this run's own. */
const tag = randomBytes(3).toString('hex');
let src: TestDb;
let dst: TestDb;

interface Check {
  check: string;
  ok: boolean;
  warn?: boolean;
  detail: string;
}

beforeAll(async () => {
  src = await createTestDatabase('checkcdc_src');
  dst = await createTestDatabase('checkcdc_dst');
  await src.query(`create table t (id int primary key); create table u (id int primary key); create table k (a int, b text)`);
  await src.query(`do $$ begin if not exists (select 1 from pg_roles where rolname = 'rb_norepl') then create role rb_norepl login password 'norepl'; end if; end $$; grant select on t to rb_norepl`);
});
afterAll(async () => {
  // A slot left behind keeps WAL: drop every slot of the test source.
  await src.query(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = current_database() and not active`).catch(() => {});
  await dropTestDatabases();
  // The role is cluster-wide; with its database gone it holds nothing and can go.
  const admin = new pg.Client({ ...clusterInfo(), database: 'postgres' });
  await admin.connect();
  await admin.query(`drop role if exists rb_norepl`).catch(() => {});
  await admin.end();
  rmSync(dir, { recursive: true, force: true });
});

function cdcFile(name: string, srcUrl: string, streams = ['t'], sourceConfig = ''): string {
  const f = join(dir, `${name}.yaml`);
  const yaml = pipelineYaml({ name, srcUrl, dstUrl: dst.url, streams, writeMode: 'upsert' })
    .replace(/    - name: (\S+)/g, '    - name: $1\n      sync_mode: cdc')
    .replace(`config: { url: "${srcUrl}" }`, `config: { url: "${srcUrl}"${sourceConfig} }`);
  writeFileSync(f, yaml);
  return f;
}

function checkJson(file: string): { code: number | null; status: string; checks: Check[]; byName: (name: string) => Check | undefined } {
  const r = runRb(['check', file, '--json']);
  const j = JSON.parse(r.out) as { status: string; checks: Check[] };
  return { code: r.code, ...j, byName: (name) => j.checks.find((c) => c.check === name) };
}

describe('rb check, cdc', () => {
  it('a role without REPLICATION fails the check (source exit code) with the ALTER ROLE fix', () => {
    const c = clusterInfo();
    const url = `postgresql://rb_norepl:norepl@${c.host}:${c.port}/${src.name}`;
    const r = runRb(['check', cdcFile(`norepl_${tag}`, url)]);
    expect(r.code, r.out + r.err).toBe(3);
    expect(r.out).toMatch(/FAIL\s+source REPLICATION: role rb_norepl lacks the REPLICATION attribute CDC needs \(fix, as a superuser: ALTER ROLE "rb_norepl" WITH REPLICATION;\)/);
    expect(r.out).toMatch(/ok\s+source wal_level: wal_level = logical/);
    // Not the owner of t: the first run could not create the publication.
    expect(r.out).toMatch(/FAIL\s+source publication rb_norepl_\w+: absent, and the first rb run cannot create it: the source user does not own t and has no CREATE privilege on the database \(fix, as the tables' owner with CREATE on the database: CREATE PUBLICATION "rb_norepl_\w+" FOR TABLE "public"\."t";\)/);
  });

  it('a role that can replicate passes, and check creates neither the publication nor the slot', async () => {
    const name = `repl_${tag}`;
    const j = checkJson(cdcFile(name, src.url));
    expect(j.code, JSON.stringify(j.checks)).toBe(0);
    expect(j.status).toBe('ok');
    expect(j.byName('source wal_level')).toMatchObject({ ok: true, detail: expect.stringMatching(/^wal_level = logical, max_replication_slots = \d+, max_wal_senders = \d+$/) });
    expect(j.byName('source REPLICATION')).toMatchObject({ ok: true, detail: expect.stringMatching(/^role \S+ can replicate$/) });
    expect(j.byName(`source publication rb_${name}`)).toEqual({ check: `source publication rb_${name}`, ok: true, detail: 'absent: will be created by the first rb run (needs ownership of the tables)' });
    expect(j.byName(`source replication slot rb_${name}`)).toEqual({ check: `source replication slot rb_${name}`, ok: true, detail: 'absent: will be created by the first rb run' });
    expect(j.checks.some((c) => c.warn)).toBe(false);
    expect((await src.query(`select count(*)::int as n from pg_publication where pubname = $1`, [`rb_${name}`])).rows[0].n).toBe(0);
    expect((await src.query(`select count(*)::int as n from pg_replication_slots where slot_name = $1`, [`rb_${name}`])).rows[0].n).toBe(0);
  });

  it('an existing publication that misses a table and operations fails with the ALTER PUBLICATION fixes', async () => {
    await src.query(`create publication chk_pub for table t with (publish = 'insert')`);
    const f = cdcFile(`pub_${tag}`, src.url, ['t', 'u'], ', publication: chk_pub');
    const r = runRb(['check', f]);
    expect(r.code, r.out + r.err).toBe(3);
    expect(r.out).toContain(`FAIL  source publication chk_pub: does not publish update, delete, truncate (fix: ALTER PUBLICATION "chk_pub" SET (publish = 'insert, update, delete, truncate');)`);
    expect(r.out).toContain('does not publish public.u (fix: ALTER PUBLICATION "chk_pub" ADD TABLE "public"."u";)');
    await src.query(`alter publication chk_pub set (publish = 'insert, update, delete, truncate'); alter publication chk_pub add table u`);
    const ok = checkJson(f);
    expect(ok.code, JSON.stringify(ok.checks)).toBe(0);
    expect(ok.byName('source publication chk_pub')).toMatchObject({ ok: true, detail: 'exists and publishes every stream' });
  });

  it('an existing slot is reported with the WAL it keeps; one of another plugin fails', async () => {
    const name = `slot_${tag}`;
    await src.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [`rb_${name}`]);
    await src.query(`insert into t select generate_series(1, 2000)`);
    const j = checkJson(cdcFile(name, src.url));
    expect(j.code, JSON.stringify(j.checks)).toBe(0);
    const line = j.byName(`source replication slot rb_${name}`);
    expect(line).toMatchObject({ ok: true, detail: expect.stringMatching(/^keeps \d+(\.\d+)? (B|KiB|MiB) of WAL on the source \(wal_status (reserved|extended)\)$/) });
    expect(line!.detail).not.toMatch(/^keeps 0 B/);

    const other = `other_${tag}`;
    await src.query(`select pg_create_logical_replication_slot($1, 'test_decoding')`, [other]);
    const r = runRb(['check', cdcFile(`plugin_${tag}`, src.url, ['t'], `, replication_slot: ${other}`)]);
    expect(r.code, r.out + r.err).toBe(3);
    expect(r.out).toContain(`FAIL  source replication slot ${other}: uses plugin test_decoding; rb needs pgoutput (name another slot in source.config.replication_slot)`);
  });

  it('a table without a primary key is a warning that does not fail the check', () => {
    const f = cdcFile(`keyless_${tag}`, src.url, ['t', 'k']);
    const r = runRb(['check', f]);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/^warn  source table k primary key: k has no primary key; the source refuses its UPDATEs and DELETEs \(no replica identity\)\. rb applies it as insert-only .* ALTER TABLE k ADD PRIMARY KEY/m);
    expect(r.out).not.toMatch(/source table t primary key/);
    const j = checkJson(f);
    expect(j.status).toBe('ok');
    expect(j.byName('source table k primary key')).toMatchObject({ ok: true, warn: true });
  });

  it('wal_level replica, or no slots or senders: the fix names the settings and the restart', () => {
    expect(walLevelCheck('replica', 10, 10)).toEqual({
      ok: false,
      detail: 'wal_level = replica, max_replication_slots = 10, max_wal_senders = 10: CDC needs wal_level logical (fix, as a superuser: ALTER SYSTEM SET wal_level = logical; then restart the server)',
    });
    expect(walLevelCheck('logical', 0, 0)).toEqual({
      ok: false,
      detail:
        'wal_level = logical, max_replication_slots = 0, max_wal_senders = 0: CDC needs max_replication_slots > 0 (a slot per cdc pipeline), max_wal_senders > 0 (a sender per running rb run) (fix, as a superuser: ALTER SYSTEM SET max_replication_slots = 10; ALTER SYSTEM SET max_wal_senders = 10; then restart the server)',
    });
    expect(walLevelCheck('logical', 10, 10)).toEqual({ ok: true, detail: 'wal_level = logical, max_replication_slots = 10, max_wal_senders = 10' });
  });

  it('an invalidated slot says to reset the pipeline and run again', () => {
    expect(slotProblem({ type: 'logical', plugin: 'pgoutput', database: 'db', walStatus: 'lost' }, 'db', 'p.yaml')).toBe(
      'was invalidated by the server (wal_status lost: more WAL than max_slot_wal_keep_size piled up); its changes are gone (fix: rb state reset p.yaml --yes, then rb run takes a new snapshot)',
    );
    expect(slotProblem({ type: 'logical', plugin: 'pgoutput', database: 'other', walStatus: 'reserved' }, 'db', 'p.yaml')).toMatch(/^belongs to database other, not db/);
    expect(slotProblem({ type: 'physical', plugin: null, database: null, walStatus: 'reserved' }, 'db', 'p.yaml')).toMatch(/^is a physical slot/);
    expect(slotProblem({ type: 'logical', plugin: 'pgoutput', database: 'db', walStatus: 'reserved' }, 'db', 'p.yaml')).toBeNull();
  });
});
