/**
 * What `rb run` says about choices that cannot work as well as asked, through the real binary:
 * a manual parallelism above the machine's cap is warned about (and kept), and a projection that
 * leaves out a NOT NULL column of an existing target fails before any row moves, saying that the
 * projection is why (not only the server's "null value in column").
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRb } from '../testing/cli.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'rb-warn-'));
let src: TestDb;
let dst: TestDb;

beforeAll(async () => {
  src = await createTestDatabase('wsrc');
  dst = await createTestDatabase('wdst');
  await src.query(`create table public.people (id bigint primary key, name text not null, email text not null, note text);
    insert into public.people select g, 'n' || g, g || '@x', null from generate_series(1, 300) g;`);
  await dst.query(`create table public.people (id bigint primary key, name text not null, email text not null, note text, added timestamptz not null default now());
    create table public.extra (id bigint primary key, name text not null, email text not null, note text, tenant int not null);`);
});
afterAll(async () => {
  await dropTestDatabases();
  rmSync(tmp, { recursive: true, force: true });
});

function pipeline(name: string, stream: string, schema = 'public'): string {
  const file = path.join(tmp, `${name}.yaml`);
  writeFileSync(
    file,
    `version: "1.0"
pipeline: ${name}
source:
  use: postgres
  config: { url: "${src.url}" }
  streams:
    - ${stream}
destination:
  use: postgres
  config: { url: "${dst.url}", schema: ${schema} }
  write_mode: append
`,
  );
  return file;
}

describe('rb run warns and explains', () => {
  it('warns when --parallelism is above the cap, and keeps it', () => {
    const file = pipeline('par', '{ name: public.people }', 'par');
    const cores = os.availableParallelism();
    const cap = Math.min(cores, 16);
    // One above the cap (64 on 2 cores warns the same, but starting 64 threads takes half a minute here).
    const n = cap + 1;
    const r = runRb(['run', file, '--parallelism', String(n), '--json']);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`rb: warning: parallelism ${n} is ${cap < cores ? `above auto's limit of ${cap}` : `more than this machine's ${cores} core`}`);
    const j = JSON.parse(r.out);
    expect(j.parallelism_effective).toBe(n);
    expect(j.parallelism_cap).toBe(cap);
    expect(runRb(['run', file, '--parallelism', String(cap), '--json']).err).not.toContain('warning: parallelism');
  });

  it('a projection leaving out a NOT NULL column of an existing target: exit 4 saying the projection is why, nothing written', async () => {
    const r = runRb(['run', pipeline('proj', '{ name: public.people, columns: [id, name, note] }')]);
    expect(r.code, r.err).toBe(4);
    expect(r.err).toContain(
      `public.people: the stream's projection (columns: id, name, note) leaves out "email", which is NOT NULL without a default in public.people, so every row would fail; add it to columns, or give the destination column a default`,
    );
    expect((await dst.query('select count(*)::int as n from public.people')).rows[0].n).toBe(0);
    // a NOT NULL column with a default (added) is fine to leave out; so is everything when the projection has them
    const ok = runRb(['run', pipeline('proj_ok', '{ name: public.people, columns: [id, name, email] }')]);
    expect(ok.code, ok.err).toBe(0);
    expect((await dst.query('select count(*)::int as n from public.people where added is not null')).rows[0].n).toBe(300);
  });

  it('a NOT NULL target column the source does not have is named as such', async () => {
    await src.query(`create table public.extra (id bigint primary key, name text not null, email text not null, note text);
      insert into public.extra values (1, 'a', 'b', null);`);
    const r = runRb(['run', pipeline('extra', '{ name: public.extra }')]);
    expect(r.code, r.err).toBe(4);
    expect(r.err).toContain(`public.extra: public.extra has NOT NULL column without a default that the source table does not have: "tenant"; give it a default or drop NOT NULL in the destination`);
  });
});
