/**
 * rb as a library, the way a Node user gets it: a copy of the package is built (so the suite's own
 * dist/ is never touched), a separate project has it as node_modules/rb (a symlink), and a script
 * there does `import { run, check, discover, loadPipeline } from 'rb'` — check, discover, a run
 * with progress events, a run cancelled through an AbortSignal — against the test cluster. A
 * TypeScript file in that project is type-checked against the emitted .d.ts: correct use passes,
 * a wrong type is an error, and README's example type-checks as written.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoPath } from '../paths.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';

let pkg: string;
let project: string;
let src: TestDb;
let dst: TestDb;

function node(args: string[], cwd: string, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 180_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(async () => {
  pkg = mkdtempSync(path.join(os.tmpdir(), 'rb-pkg-'));
  cpSync(repoPath('package.json'), path.join(pkg, 'package.json'));
  for (const d of ['engine', 'connectors', 'native', 'bench', 'scenarios']) {
    cpSync(repoPath(d), path.join(pkg, d), { recursive: true, filter: (p) => !/[\\/](target|node_modules|\.rb)([\\/]|$)/.test(p) });
  }
  symlinkSync(repoPath('node_modules'), path.join(pkg, 'node_modules'), 'dir');
  const built = node(['engine/install/build-js.mjs'], pkg);
  if (built.code !== 0) throw new Error(`build failed: ${built.err}`);

  project = mkdtempSync(path.join(os.tmpdir(), 'rb-user-'));
  mkdirSync(path.join(project, 'node_modules'));
  symlinkSync(pkg, path.join(project, 'node_modules', 'rb'), 'dir');
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'uses-rb', type: 'module', private: true }));

  src = await createTestDatabase('libsrc');
  dst = await createTestDatabase('libdst');
  await src.query(`create table public.items (id bigint primary key, v text not null);
    insert into public.items select g, md5(g::text) from generate_series(1, 20000) g;
    analyze;`);
  writeFileSync(
    path.join(project, 'pipeline.yaml'),
    `version: "1.0"
pipeline: lib_test
source:
  use: postgres
  config: { url: "${src.url}" }
  streams: [{ name: public.items }]
destination:
  use: postgres
  config: { url: "\${DST_URL}" }
  write_mode: replace
`,
  );
});
afterAll(async () => {
  await dropTestDatabases();
  for (const d of [project, pkg]) if (d) rmSync(d, { recursive: true, force: true });
});

describe("import { … } from 'rb'", () => {
  it('loads, checks, discovers, runs with progress events, and cancels through an AbortSignal', async () => {
    writeFileSync(
      path.join(project, 'use.mjs'),
      `import { run, check, discover, loadPipeline, parsePipeline, exitCode, RbError, RUN_EVENT_KINDS, errorClass } from 'rb';
const config = loadPipeline('pipeline.yaml', { env: { DST_URL: process.env.DST_URL } });
const checked = await check(config, { file: 'pipeline.yaml' });
const found = await discover(config);
const kinds = new Set();
let progressRows = 0;
const result = await run(config, { parallelism: 2, onEvent: (e) => { kinds.add(e.kind); if (e.kind === 'progress') progressRows = Math.max(progressRows, e.rows); } });
const ac = new AbortController();
const cancelled = await run(config, { signal: ac.signal, onEvent: (e) => { if (e.kind === 'progress') ac.abort(); } });
let invalid;
try { parsePipeline({ version: '1.0', pipeline: 'x' }); } catch (e) { invalid = { isRbError: e instanceof RbError, code: e.code, exitCode: e.exitCode, first: e.message.split('\\n')[0] }; }
console.log(JSON.stringify({
  check: { status: checked.status, exitCode: checked.exitCode, names: checked.checks.map((c) => c.check) },
  discover: found.tables.map((t) => [t.name, t.estimated_rows, t.primary_key]),
  run: { status: result.status, rows: result.rows_written, exit: exitCode(result), streams: result.streams.map((s) => [s.name, s.rows]) },
  kinds: [...kinds].sort(), progressRows, allKinds: RUN_EVENT_KINDS, failureClass: errorClass({ code: 'dest_query', sqlstate: '57P01' }), resultClass: result.error?.class ?? null,
  cancelled: { status: cancelled.status, exit: exitCode(cancelled) },
  invalid,
}));
`,
    );
    const r = node(['use.mjs'], project, { DST_URL: dst.url, RB_BENCH_DELAY_MS: '5', RB_SHARD_MIN_BYTES: '0' });
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out.trim().split('\n').pop()!);
    expect(j.check).toEqual({ status: 'ok', exitCode: 0, names: expect.arrayContaining(['config', 'source connection', 'source table public.items', 'plan', 'destination connection']) });
    expect(j.discover).toEqual([['public.items', 20000, ['id']]]);
    expect(j.run).toEqual({ status: 'succeeded', rows: 20000, exit: 0, streams: [['public.items', 20000]] });
    expect(j.kinds).toEqual(expect.arrayContaining(['start', 'phase', 'planned', 'progress', 'stream-finish']));
    // Every kind a run emitted is one the package lists.
    for (const k of j.kinds) expect(j.allKinds).toContain(k);
    expect(j.failureClass).toBe('connection');
    expect(j.resultClass).toBeNull();
    expect(j.progressRows).toBeGreaterThan(0);
    expect(j.cancelled).toEqual({ status: 'cancelled', exit: 130 });
    expect(j.invalid).toEqual({ isRbError: true, code: 'config_invalid', exitCode: 2, first: expect.stringMatching(/^pipeline\.yaml:\d+:\d+ source: missing/) });
    // the cancelled replace left the first run's table as it was
    expect((await dst.query('select count(*)::int as n from public.items')).rows[0].n).toBe(20000);
  });

  it('is typed: correct use type-checks against the emitted .d.ts, a wrong type does not', () => {
    writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: [] }, files: ['typed.ts'] }),
    );
    const good = `import { run, check, discover, loadPipeline, parsePipeline, type RunEvent, type RunResult, type PipelineConfig, type CheckResult, type DiscoverResult } from 'rb';
const config: PipelineConfig = loadPipeline('pipeline.yaml') ?? parsePipeline({ version: '1.0', pipeline: 'p', source: { use: 'postgres', config: { url: 'postgres://a@b/c' }, streams: [{ name: 't', sync_mode: 'incremental', cursor_field: 'at' }] }, destination: { use: 'postgres', config: { embedded: true }, write_mode: 'append' } });
const mode: 'append' | 'replace' | 'upsert' = config.destination.write_mode;
const onEvent = (e: RunEvent): void => { if (e.kind === 'progress') { const rows: number = e.rows; void rows; } };
export async function main(): Promise<[RunResult, CheckResult, DiscoverResult, string]> {
  const r = await run(config, { onEvent, signal: new AbortController().signal, parallelism: 'auto' });
  const status: 'succeeded' | 'failed' | 'cancelled' = r.status;
  return [r, await check(config), await discover(config, { schemas: ['public'] }), status + mode];
}
`;
    const tsc = repoPath('node_modules', 'typescript', 'bin', 'tsc');
    writeFileSync(path.join(project, 'typed.ts'), good);
    const ok = node([tsc, '-p', 'tsconfig.json'], project);
    expect(ok.code, ok.out + ok.err).toBe(0);
    // README's "Using rb from Node" example, as written there
    const readme = readFileSync(repoPath('README.md'), 'utf8');
    const example = /## Using rb from Node\n[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toContain("from 'rb'");
    writeFileSync(path.join(project, 'typed.ts'), `${example}\nexport {};\n`);
    const readmeOk = node([tsc, '-p', 'tsconfig.json'], project);
    expect(readmeOk.code, readmeOk.out + readmeOk.err).toBe(0);
    writeFileSync(
      path.join(project, 'typed.ts'),
      `${good}export const wrong: number = config.pipeline;\nexport const nope = run(config, { parallelism: 'many' });\nexport const old = parsePipeline({ version: '2.0', pipeline: 'p', source: { use: 'postgres', config: {}, streams: [] }, destination: { use: 'postgres', config: {} } });\n`,
    );
    const bad = node([tsc, '-p', 'tsconfig.json'], project);
    expect(bad.code).not.toBe(0);
    expect(bad.out).toMatch(/typed\.ts\(10,14\): error TS2322: Type 'string' is not assignable to type 'number'/);
    expect(bad.out).toMatch(/typed\.ts\(11,\d+\): error TS2322: Type '"many"' is not assignable/);
    expect(bad.out).toMatch(/typed\.ts\(12,\d+\): error TS2322: Type '"2\.0"' is not assignable to type '"1\.0"'/);
  });
});
