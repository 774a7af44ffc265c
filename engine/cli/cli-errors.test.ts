/**
 * Bad input through the real CLI: each case exits with its documented code, names the thing that
 * is wrong, never prints a password, and leaves the destination exactly as it was.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRb } from '../testing/cli.js';
import { clusterInfo, createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'rb-cli-'));
let src: TestDb;
let dst: TestDb;

beforeAll(async () => {
  src = await createTestDatabase('clisrc');
  dst = await createTestDatabase('clidst');
  await src.query('create table t (id int primary key, a text, b int); insert into t select g, g::text, g from generate_series(1, 100) g');
});
afterAll(dropTestDatabases);

const rb = (args: string[], env: Record<string, string> = {}) => runRb(args, env, 60_000);

function file(name: string, text: string): string {
  const p = path.join(tmp, name);
  writeFileSync(p, text);
  return p;
}

async function destSnapshot(): Promise<string> {
  const r = await dst.query(`select string_agg(n.nspname || '.' || c.relname, ',' order by 1) as s from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')`);
  const s = await dst.query(`select string_agg(nspname, ',' order by 1) as s from pg_namespace`);
  return `${r.rows[0].s}|${s.rows[0].s}`;
}

const good = (over: { srcUrl?: string; stream?: string; extra?: string; dest?: string } = {}) => `version: "1.0"
pipeline: cli_errors
source:
  use: postgres
  config: { url: "${over.srcUrl ?? src.url}" }
  streams:
    - name: ${over.stream ?? 'public.t'}
${over.extra ?? ''}destination:
  use: postgres
  config: { url: "${dst.url}", schema: landing }
  write_mode: ${over.dest ?? 'replace'}
`;

describe('rb run: bad input', () => {
  const cases: Array<{ name: string; yaml: () => string; env?: Record<string, string>; code: number; message: RegExp }> = [
    { name: 'malformed YAML', yaml: () => 'version: "1.0"\npipeline: [oops\n', code: 2, message: /:\d+:\d+/ },
    { name: 'unknown key', yaml: () => good().replace('pipeline: cli_errors', 'pipeline: cli_errors\ncolour: blue'), code: 2, message: /colour/ },
    { name: 'wrong type', yaml: () => good() + 'resources: { max_inflight_batches: lots }\n', code: 2, message: /resources\.max_inflight_batches/ },
    { name: 'missing ${VAR}', yaml: () => good({ srcUrl: '${RB_TEST_NO_SUCH_VAR}' }), code: 2, message: /RB_TEST_NO_SUCH_VAR/ },
    { name: 'upsert without primary_key', yaml: () => good({ dest: 'upsert' }).replace('public.t', 'public.t'), code: 2, message: /destination\.primary_key/ },
    { name: 'unreachable host', yaml: () => good({ srcUrl: 'postgresql://rb:pw@127.0.0.1:1/nowhere' }), code: 3, message: /cannot connect to source .*127\.0\.0\.1:1/ },
    // Source and destination are connected at once; the destination's failure is its own (exit 4) ...
    { name: 'unreachable destination', yaml: () => good().replace(`url: "${dst.url}"`, 'url: "postgresql://rb:pw@127.0.0.1:1/nowhere"'), code: 4, message: /cannot connect to destination .*127\.0\.0\.1:1/ },
    // ... and when both fail, the source's is the one reported, every time.
    {
      name: 'both unreachable',
      yaml: () => good({ srcUrl: 'postgresql://rb:pw@127.0.0.1:1/src' }).replace(`url: "${dst.url}"`, 'url: "postgresql://rb:pw@127.0.0.1:2/dst"'),
      code: 3,
      message: /cannot connect to source .*127\.0\.0\.1:1/,
    },
    { name: 'missing table', yaml: () => good({ stream: 'public.no_such_table' }), code: 3, message: /no_such_table.*does not exist/ },
    {
      name: 'missing column in columns',
      yaml: () => good().replace('    - name: public.t\n', '    - name: public.t\n      columns: [id, nope]\n'),
      code: 3,
      message: /source\.streams\[0\]\.columns\[1\].*"nope"/,
    },
    {
      // Key ranges need integer bounds: a text key used to crash the planner (BigInt of 'abc').
      name: 'partition_key on a text column',
      yaml: () => good().replace('    - name: public.t\n', '    - name: public.t\n      partition_key: a\n'),
      code: 2,
      message: /source\.streams\[0\]\.partition_key: column "a" is text; key-range shards need an integer column/,
    },
  ];
  for (const c of cases) {
    it(`${c.name} → exit ${c.code}`, async () => {
      const before = await destSnapshot();
      const r = rb(['run', file(`${c.name.replace(/\W+/g, '_')}.yaml`, c.yaml())], c.env);
      expect(r.err + r.out).toMatch(c.message);
      expect(r.code).toBe(c.code);
      expect(await destSnapshot()).toBe(before);
    });
  }

  it('a stream whose prepare fails leaves the streams before it unprepared too (one transaction)', async () => {
    await src.query('create table if not exists t2 (id int primary key, a text, extra int)');
    // The second stream's target exists without a column the source has, and new columns must fail.
    await dst.query('create schema if not exists landing; create table landing.t2 (id int primary key, a text)');
    try {
      const before = await destSnapshot();
      const yaml = good({ dest: 'append' })
        .replace('    - name: public.t\n', '    - name: public.t\n    - name: public.t2\n')
        .replace('  write_mode: append\n', '  write_mode: append\n  schema_evolution: { new_column: fail }\n');
      const r = rb(['run', file('prepare_fails.yaml', yaml)]);
      expect(r.err).toMatch(/column "extra" is missing in landing\.t2 \(schema_evolution\.new_column: fail\)/);
      expect(r.code).toBe(4);
      // landing.t (the first stream's new table) was not left behind; only rb's own record of the
      // failed run was written (the run is recorded once planning succeeded).
      const withoutState = (snap: string) => snap.split(/[,|]/).filter((x) => !x.startsWith('_rb')).join(',');
      expect(withoutState(await destSnapshot())).toBe(withoutState(before));
      expect((await dst.query(`select status from _rb.runs where pipeline = 'cli_errors' order by started_at desc limit 1`)).rows[0].status).toBe('failed');
    } finally {
      await dst.query('drop schema landing cascade; drop schema _rb cascade');
    }
  });

  it('wrong password → exit 3, the password is never printed', async () => {
    const info = clusterInfo();
    const secret = 'Sup3rSecretPassw0rd';
    const url = `postgresql://${info.user}:${secret}@${info.host}:${info.port}/${src.name}`;
    const before = await destSnapshot();
    const r = rb(['run', file('badpw.yaml', good({ srcUrl: url })), '--json']);
    expect(r.code).toBe(3);
    expect(r.out + r.err).not.toContain(secret);
    const json = JSON.parse(r.out);
    expect(json.status).toBe('failed');
    expect(json.error.code).toBe('source_connect');
    expect(json.error.message).toMatch(/password authentication failed/);
    expect(await destSnapshot()).toBe(before);
  });

  it('--parallelism 0 is a usage error', () => {
    const r = rb(['run', file('ok.yaml', good()), '--parallelism', '0']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/parallelism.*integer >= 1/);
  });

  it('--json prints one object with the result', () => {
    const r = rb(['run', file('ok2.yaml', good()), '--json']);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out);
    expect(json).toMatchObject({ status: 'succeeded', pipeline: 'cli_errors', rows_written: 100 });
    expect(typeof json.duration_ms).toBe('number');
    expect(json.bytes_written).toBeGreaterThan(0);
    expect(json.streams[0]).toMatchObject({ name: 'public.t', rows: 100 });
    expect(typeof json.streams[0].duration_ms).toBe('number');
  });
});
