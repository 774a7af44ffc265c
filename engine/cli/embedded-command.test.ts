/**
 * One embedded cluster per user, through the real binary: HOME is a temp directory (and
 * RB_EMBEDDED_ROOT / XDG_DATA_HOME are cleared for the spawned rb), so the per-user default is
 * exercised without touching the real user's cluster. Pipelines with `embedded: true` run from two
 * different working directories reach the same cluster, no `.rb/` appears in either, discover and
 * check say which cluster they talk to, and `rb embedded status|stop|psql-url` work.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { resetCluster } from '../embedded/cluster.js';
import { runRb } from '../testing/cli.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'rb-embedded-'));
const home = path.join(tmp, 'home');
const root = path.join(home, '.local', 'share', 'rb', 'pg');
const dirA = path.join(tmp, 'project-a');
const dirB = path.join(tmp, 'project-b');
for (const d of [home, dirA, dirB]) mkdirSync(d, { recursive: true });

afterAll(async () => {
  await resetCluster(root).catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
});

const perUser = { HOME: home, RB_EMBEDDED_ROOT: '', XDG_DATA_HOME: '' };
const rb = (args: string[], cwd: string, env: Record<string, string> = {}) => runRb(args, { ...perUser, ...env }, 180_000, cwd);

const pipelineFile = path.join(tmp, 'p.yaml');
writeFileSync(
  pipelineFile,
  `version: "1.0"
pipeline: per_user
source:
  use: postgres
  config: { embedded: true }
  streams:
    - name: public.things
destination:
  use: postgres
  config: { embedded: true }
  write_mode: replace
`,
);

async function query(url: string, sql: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

describe('one embedded cluster per user', () => {
  it('is under ~/.local/share/rb/pg, shared by every directory, and rb says so', async () => {
    const before = JSON.parse(rb(['embedded', 'status', '--json'], dirA).out);
    expect(before).toEqual({ root, root_from: 'HOME', created: false, running: false });
    const noUrl = rb(['embedded', 'psql-url'], dirA);
    expect(noUrl.code).toBe(3);
    expect(noUrl.err).toContain(`rb's embedded cluster at ${root} (per user; RB_EMBEDDED_ROOT overrides) is not created yet`);

    // discover from A creates the cluster (the table is not there yet: exit 3) and names it
    const d = rb(['discover', pipelineFile], dirA);
    expect(d.code, d.err).toBe(3);
    expect(d.out).toContain(`source: embedded:rb_source on rb's embedded cluster at ${root} (per user; RB_EMBEDDED_ROOT overrides)`);

    const srcUrl = rb(['embedded', 'psql-url', 'rb_source'], dirB).out.trim();
    expect(srcUrl).toMatch(/^postgresql:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/rb_source$/);
    await query(srcUrl, 'create table public.things (id int primary key, v text); insert into public.things select g, g::text from generate_series(1, 50) g');

    // check and run from B see the table A's discover could not: the same cluster
    const check = rb(['check', pipelineFile, '--json'], dirB);
    expect(check.code, check.out + check.err).toBe(0);
    const lines = JSON.parse(check.out).checks as Array<{ check: string; detail: string }>;
    expect(lines.find((l) => l.check === 'source connection')!.detail).toContain(`embedded:rb_source on rb's embedded cluster at ${root}`);
    expect(lines.find((l) => l.check === 'destination connection')!.detail).toContain(`embedded:rb_dest on rb's embedded cluster at ${root}`);
    const run = rb(['run', pipelineFile], dirB);
    expect(run.code, run.err).toBe(0);
    const dstUrl = rb(['embedded', 'psql-url', 'rb_dest'], dirA).out.trim();
    expect((await query(dstUrl, 'select count(*)::int as n from public.things')).rows[0].n).toBe(50);
    expect(existsSync(path.join(dirA, '.rb'))).toBe(false);
    expect(existsSync(path.join(dirB, '.rb'))).toBe(false);

    const running = JSON.parse(rb(['embedded', 'status', '--json'], dirB).out);
    expect(running).toMatchObject({ root, created: true, running: true, host: '127.0.0.1', user: 'postgres' });
    expect(running.databases).toEqual(expect.arrayContaining(['rb_dest', 'rb_source']));
    expect(running.server_version).toMatch(/^\d+\.\d+/);
    expect(rb(['embedded', 'status'], dirB).out).toMatch(new RegExp(`^rb's embedded cluster at ${root.replace(/[.]/g, '\\.')} \\(per user; RB_EMBEDDED_ROOT overrides\\): running, PostgreSQL \\d+`));

    const stop = rb(['embedded', 'stop'], dirA);
    expect(stop.code).toBe(0);
    expect(stop.out).toContain('stopped (its data stays');
    expect(JSON.parse(rb(['embedded', 'status', '--json'], dirA).out)).toMatchObject({ created: true, running: false });
    expect(rb(['embedded', 'stop'], dirA).out).toContain(': not running');
    // psql-url starts a stopped cluster again, with its data
    const again = rb(['embedded', 'psql-url', 'rb_dest'], dirA).out.trim();
    expect((await query(again, 'select count(*)::int as n from public.things')).rows[0].n).toBe(50);
  });

  it("rb demo --reset drops the demo's databases only: the user's other databases in the cluster stay", async () => {
    const first = rb(['demo', '--json'], dirA, { RB_DEMO_SCALE: '0.01' });
    expect(first.code, first.err).toBe(0);
    const dst = rb(['embedded', 'psql-url', 'rb_demo_dest'], dirA).out.trim();
    await query(dst, 'create table shop.marker (x int)');
    const again = rb(['demo', '--reset', '--json'], dirB, { RB_DEMO_SCALE: '0.01' });
    expect(again.code, again.err).toBe(0);
    expect(JSON.parse(again.out).verification.equal).toBe(true);
    expect((await query(dst, "select to_regclass('shop.marker') is null as gone")).rows[0].gone).toBe(true);
    const mine = rb(['embedded', 'psql-url', 'rb_dest'], dirA).out.trim();
    expect((await query(mine, 'select count(*)::int as n from public.things')).rows[0].n).toBe(50);
  });

  it('RB_EMBEDDED_ROOT (relative: from the working directory) and XDG_DATA_HOME choose another one', () => {
    const local = JSON.parse(rb(['embedded', 'status', '--json'], dirA, { RB_EMBEDDED_ROOT: '.rb/pg' }).out);
    expect(local).toEqual({ root: path.join(dirA, '.rb', 'pg'), root_from: 'RB_EMBEDDED_ROOT', created: false, running: false });
    const xdg = JSON.parse(rb(['embedded', 'status', '--json'], dirA, { XDG_DATA_HOME: path.join(tmp, 'xdg') }).out);
    expect(xdg).toEqual({ root: path.join(tmp, 'xdg', 'rb', 'pg'), root_from: 'XDG_DATA_HOME', created: false, running: false });
  });

  it('points at a project-local cluster an older rb left in ./.rb/pg', () => {
    mkdirSync(path.join(dirB, '.rb', 'pg'), { recursive: true });
    writeFileSync(path.join(dirB, '.rb', 'pg', 'cluster.json'), '{}');
    const s = rb(['embedded', 'status'], dirB).out;
    expect(s).toContain(`note: ${path.join(dirB, '.rb', 'pg')} holds a project-local cluster`);
    expect(s).toContain('RB_EMBEDDED_ROOT=.rb/pg rb embedded stop stops it');
    rmSync(path.join(dirB, '.rb'), { recursive: true, force: true });
  });
});
