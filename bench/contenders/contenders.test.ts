import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { PROFILES } from '../profiles.js';
import { failureText } from '../runner.js';
import { buildContenders } from './index.js';
import { parsePgcopydbVersion } from './pgcopydb.js';
import { pgDumpScript } from './pg-dump.js';
import { pgpassLine, stripPassword, writePgpass } from './pgpass.js';
import { psqlPipeScript } from './psql-pipe.js';
import { parseRbSummary, rbPipelineYaml, slowdownFactor } from './rb.js';

describe('contenders', () => {
  it('builds one rb contender per parallelism value, in alternation order', () => {
    expect(buildContenders(['rb', 'psql-binary', 'psql-text', 'pgcopydb', 'node-pipe'], ['auto', '4']).map((c) => c.id)).toEqual(['rb:auto', 'rb:4', 'psql-binary', 'psql-text', 'pgcopydb', 'node-pipe']);
    expect(buildContenders(['rb', 'psql-binary'], ['auto']).map((c) => c.label)).toEqual(['rb (auto)', 'psql binary pipe']);
    const withReplace = buildContenders(['rb', 'rb-replace', 'psql-binary'], ['auto', '2']);
    expect(withReplace.map((c) => c.id)).toEqual(['rb:auto', 'rb:2', 'rb-replace:auto', 'psql-binary']);
    expect(withReplace.map((c) => c.label)).toEqual(['rb (auto)', 'rb (p=2)', 'rb replace (auto)', 'psql binary pipe']);
  });

  it('pipes binary and text COPY table by table, failing on any side', () => {
    const bin = psqlPipeScript(['events', 'orders'], 'binary');
    expect(bin).toContain('set -euo pipefail');
    expect(bin).toContain(`-c 'COPY public.events TO STDOUT (FORMAT binary)' | psql -X -q -v ON_ERROR_STOP=1 -d "$RB_DST" -c 'COPY public.events FROM STDIN (FORMAT binary)'`);
    expect(bin).toContain('COPY public.orders FROM STDIN (FORMAT binary)');
    expect(psqlPipeScript(['events'], 'text')).toContain(`-c 'COPY public.events TO STDOUT' |`);
    // + ADD PRIMARY KEY: the key after each table's pipe, on the destination.
    expect(psqlPipeScript(['accounts'], 'binary', { primaryKey: true }).split('\n').slice(1)).toEqual([
      `psql -X -q -v ON_ERROR_STOP=1 -d "$RB_SRC" -c 'COPY public.accounts TO STDOUT (FORMAT binary)' | psql -X -q -v ON_ERROR_STOP=1 -d "$RB_DST" -c 'COPY public.accounts FROM STDIN (FORMAT binary)'`,
      `psql -X -q -v ON_ERROR_STOP=1 -d "$RB_DST" -c 'alter table public.accounts add primary key (aid)'`,
    ]);
  });

  it("the narrow profile's contenders: append, replace, upserts of 0% and 1% changed, the pipe with and without the key, pg_dump, pgcopydb", () => {
    expect(buildContenders(PROFILES.narrow.contenders!, ['auto']).map((c) => c.id)).toEqual(['rb:auto', 'rb-replace:auto', 'rb-upsert:0%', 'rb-upsert:1%', 'psql-binary', 'psql-binary-pk', 'pg-dump', 'pgcopydb']);
    expect(buildContenders(['rb-upsert'], ['auto']).every((c) => typeof c.prepare === 'function')).toBe(true);
    expect(pgDumpScript(['accounts'])).toContain(`pg_dump -Fc --data-only -t 'public.accounts' -d "$RB_SRC" | pg_restore --data-only --exit-on-error -d "$RB_DST"`);
  });

  it('keeps passwords in a 600 pgpass file, escaped', () => {
    expect(pgpassLine('postgresql://u%3Ax:p%3A%5Cw@db.local:5433/my%20db')).toBe('db.local:5433:my db:u\\:x:p\\:\\\\w');
    expect(pgpassLine('postgresql://u@h/db')).toBeUndefined();
    expect(stripPassword('postgresql://u:secret@h:1/db')).toBe('postgresql://u@h:1/db');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rb-pgpass-'));
    try {
      const r = writePgpass(dir, ['postgresql://a:one@h:1/s', 'postgresql://b:two@h:2/d']);
      expect(readFileSync(r.file, 'utf8')).toBe('h:1:s:a:one\nh:2:d:b:two\n');
      expect(statSync(r.file).mode & 0o777).toBe(0o600);
      expect(r.urls.join(' ')).not.toMatch(/one|two/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the server range pgcopydb declares', () => {
    const v = parsePgcopydbVersion('pgcopydb version 0.10-1\ncompiled with PostgreSQL 15.0\ncompatible with Postgres 10, 11, 12, 13, 14, and 15');
    expect(v).toEqual({ version: '0.10-1', maxServerMajor: 15 });
    expect(parsePgcopydbVersion('something else')).toBeUndefined();
  });

  it('writes the pipeline rb runs: every profile table, full refresh, append (or replace) into public', () => {
    const ctx = { profile: PROFILES.medium, tables: ['events', 'orders'] as const, sourceUrl: 'postgresql://s', destUrl: 'postgresql://d' };
    const doc = YAML.parse(rbPipelineYaml({ ...ctx, tables: [...ctx.tables] }));
    expect(doc).toEqual({
      version: '1.0',
      pipeline: 'bench_medium',
      source: { use: 'postgres', config: { url: 'postgresql://s' }, streams: [{ name: 'public.events', sync_mode: 'full_refresh' }, { name: 'public.orders', sync_mode: 'full_refresh' }] },
      destination: { use: 'postgres', config: { url: 'postgresql://d', schema: 'public' }, write_mode: 'append' },
    });
    expect(YAML.parse(rbPipelineYaml({ ...ctx, tables: [...ctx.tables] }, 'replace')).destination.write_mode).toBe('replace');
  });

  it('keeps the parallelism telemetry and native mode of rb --json', () => {
    const out = JSON.stringify({ status: 'ok', pipeline: 'p', duration_ms: 5, rows_written: 10, bytes_written: 99, parallelism_mode: 'auto', parallelism_effective: 2, native: true, streams: [{ name: 'public.events', rows: 10, bytes: 99, duration_ms: 4, shards: 2 }] });
    expect(parseRbSummary(`noise\n${out}\n`)).toEqual({ status: 'ok', duration_ms: 5, rows_written: 10, bytes_written: 99, parallelism_mode: 'auto', parallelism_effective: 2, native: true, streams: [{ name: 'public.events', rows: 10, shards: 2, shard_kind: undefined, format: undefined, duration_ms: 4 }] });
    expect(parseRbSummary('not json')).toBeUndefined();
  });

  it('reads the slowdown factor and rejects nonsense', () => {
    expect(slowdownFactor({})).toBe(1);
    expect(slowdownFactor({ RB_BENCH_SLOWDOWN_FACTOR: '5' })).toBe(5);
    expect(() => slowdownFactor({ RB_BENCH_SLOWDOWN_FACTOR: '0.5' })).toThrow(/expected a number >= 1/);
  });

  it('explains a failure with rb’s JSON error or the last real stderr lines', () => {
    expect(failureText('{"status":"failed","error":{"code":"dest_query","message":"relation x"}}\n', 'DeprecationWarning: y')).toBe('[dest_query] relation x');
    expect(failureText('', '(node:1) DeprecationWarning: x\nERROR:  permission denied\n(Use `node --trace-deprecation ...`)')).toBe('ERROR:  permission denied');
  });
});
