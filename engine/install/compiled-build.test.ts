/**
 * The compiled build (engine/install/build-js.mjs) end to end, in a copy of the package so the
 * suite's own dist/ is never touched: the build bundles the CLI and the pool worker, `rb` runs
 * them (the version line says so), a two-shard run through the compiled worker copies a table
 * exactly (the addon and the worker file are found from dist/), and editing a source makes dist/
 * stale, so `rb` runs the sources through tsx instead of stale code.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoPath } from '../paths.js';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';
import { quickChecksum } from '../verify/index.js';
import { distIsCurrent, sourceStamp } from './build-stamp.mjs';

let pkg: string;
let src: TestDb;

/** Copies what a package install holds (no dist/, no Rust target/), node_modules by symlink. */
function copyPackage(to: string): void {
  for (const f of ['package.json']) cpSync(repoPath(f), path.join(to, f));
  for (const d of ['engine', 'connectors', 'native', 'bench', 'scenarios']) {
    cpSync(repoPath(d), path.join(to, d), { recursive: true, filter: (p) => !/[\\/](target|node_modules|\.rb)([\\/]|$)/.test(p) });
  }
  symlinkSync(repoPath('node_modules'), path.join(to, 'node_modules'), 'dir');
}

function node(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, args, { cwd: pkg, encoding: 'utf8', env: { ...process.env, RB_FROM_SOURCE: '', ...env }, timeout: 180_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(async () => {
  pkg = mkdtempSync(path.join(os.tmpdir(), 'rb-compiled-'));
  copyPackage(pkg);
  src = await createTestDatabase('compiled_src');
  await src.query(`create table t (id bigint primary key, v text, at timestamptz, j jsonb);
    insert into t select g, md5(g::text), timestamptz '2026-01-01' + g * interval '1 minute', jsonb_build_object('g', g) from generate_series(1, 60000) g;
    analyze t;`);
});
afterAll(async () => {
  await dropTestDatabases();
  if (pkg) rmSync(pkg, { recursive: true, force: true });
});

describe('compiled build', () => {
  it('builds, runs compiled, and a sharded run through the compiled worker is exact', async () => {
    const built = node(['engine/install/build-js.mjs']);
    expect(built.code, built.err).toBe(0);
    expect(readdirSync(path.join(pkg, 'dist', 'engine', 'runtime'))).toContain('shard-worker.js');
    expect(distIsCurrent(pkg)).toBe(true);

    const v = node(['engine/cli/bin.js', '--version']);
    expect(v.code, v.err).toBe(0);
    expect(v.out).toMatch(/js: compiled \(dist\/\)/);
    expect(v.out).toMatch(/codecs: (native|ts)/);

    const dst = await createTestDatabase('compiled_dst');
    const file = path.join(pkg, 'p.yaml');
    writeFileSync(file, pipelineYaml({ name: 'compiled', srcUrl: src.url, dstUrl: dst.url, streams: ['public.t'] }));
    const r = node(['engine/cli/bin.js', 'run', file, '--json', '--parallelism', '2'], { RB_SHARD_MIN_BYTES: '1' });
    expect(r.code, r.err).toBe(0);
    const summary = JSON.parse(r.out) as { rows_written: number; streams: Array<{ shards: number }> };
    expect(summary.rows_written).toBe(60000);
    expect(summary.streams[0].shards).toBe(2);
    expect(await quickChecksum(dst.url, { schema: 'public', table: 't' })).toEqual(await quickChecksum(src.url, { schema: 'public', table: 't' }));
  });

  it('an edited source makes dist/ stale: rb runs the sources instead', () => {
    const file = path.join(pkg, 'engine', 'errors.ts');
    const before = sourceStamp(pkg);
    const later = new Date(statSync(file).mtimeMs + 5000);
    utimesSync(file, later, later);
    expect(sourceStamp(pkg).hash).not.toBe(before.hash);
    expect(distIsCurrent(pkg)).toBe(false);
    const v = node(['engine/cli/bin.js', '--version']);
    expect(v.code, v.err).toBe(0);
    expect(v.out).toMatch(/js: sources \(tsx\)/);
  });

  it('a new source file makes dist/ stale too', () => {
    node(['engine/install/build-js.mjs']);
    expect(distIsCurrent(pkg)).toBe(true);
    writeFileSync(path.join(pkg, 'engine', 'added-later.ts'), 'export const x = 1;\n');
    expect(distIsCurrent(pkg)).toBe(false);
  });
});
