/**
 * `rb check` on a cdc pipeline: wal_level and the slot/sender settings, and the REPLICATION
 * attribute of the source role, each with the fix when missing.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRb } from '../testing/cli.js';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { clusterInfo, createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';
import { walLevelCheck } from './check-command.js';

const dir = mkdtempSync(join(tmpdir(), 'rb-check-cdc-'));
let src: TestDb;
let dst: TestDb;

beforeAll(async () => {
  src = await createTestDatabase('checkcdc_src');
  dst = await createTestDatabase('checkcdc_dst');
  await src.query(`create table t (id int primary key)`);
  await src.query(`do $$ begin if not exists (select 1 from pg_roles where rolname = 'rb_norepl') then create role rb_norepl login password 'norepl'; end if; end $$; grant select on t to rb_norepl`);
});
afterAll(async () => {
  await src.query(`revoke all on t from rb_norepl`).catch(() => {});
  await dropTestDatabases();
});

function cdcFile(name: string, srcUrl: string): string {
  const f = join(dir, `${name}.yaml`);
  writeFileSync(f, pipelineYaml({ name, srcUrl, dstUrl: dst.url, streams: ['t'], writeMode: 'upsert' }).replace('    - name: t', '    - name: t\n      sync_mode: cdc'));
  return f;
}

describe('rb check, cdc', () => {
  it('a role without REPLICATION fails the check (source exit code) with the ALTER ROLE fix', () => {
    const c = clusterInfo();
    const url = `postgresql://rb_norepl:norepl@${c.host}:${c.port}/${src.name}`;
    const r = runRb(['check', cdcFile('norepl', url)]);
    expect(r.code, r.out + r.err).toBe(3);
    expect(r.out).toMatch(/FAIL\s+source REPLICATION: role rb_norepl lacks the REPLICATION attribute CDC needs \(fix, as a superuser: ALTER ROLE "rb_norepl" WITH REPLICATION;\)/);
    expect(r.out).toMatch(/ok\s+source wal_level: wal_level = logical/);
  });

  it('a role that can replicate passes', () => {
    const r = runRb(['check', cdcFile('repl', src.url), '--json']);
    expect(r.code, r.out + r.err).toBe(0);
    const checks = JSON.parse(r.out).checks as Array<{ check: string; ok: boolean }>;
    expect(checks.filter((x) => x.check.startsWith('source wal_level') || x.check === 'source REPLICATION').every((x) => x.ok)).toBe(true);
  });

  it('wal_level replica, or no slots or senders: the fix names the settings and the restart', () => {
    expect(walLevelCheck('replica', 10, 10)).toEqual({ ok: false, detail: 'wal_level = replica, max_replication_slots = 10, max_wal_senders = 10: CDC needs wal_level logical and a free slot and sender (fix: ALTER SYSTEM SET wal_level = logical; then restart the server)' });
    expect(walLevelCheck('logical', 0, 0).detail).toContain('ALTER SYSTEM SET max_replication_slots = 10; ALTER SYSTEM SET max_wal_senders = 10;');
    expect(walLevelCheck('logical', 10, 10).ok).toBe(true);
  });
});
