/**
 * `rb check` reaches the verdict `rb run`'s planning reaches (engine/run/plan-pipeline.ts), and
 * `rb discover` fails on a configured table that does not exist: through the real binary, against
 * the test cluster. For each pipeline both commands run; their exit codes must be equal, and
 * check must print the reason run stops with.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRb } from '../testing/cli.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'rb-verdict-'));
let src: TestDb;
let dst: TestDb;

beforeAll(async () => {
  src = await createTestDatabase('vsrc');
  dst = await createTestDatabase('vdst');
  await src.query(`create table public.items (id bigint primary key, name text not null, code text, updated_at timestamptz);
    insert into public.items select g, 'n' || g, null, now() from generate_series(1, 200) g;
    create table public.keyless (a int, b text);
    analyze;`);
});
afterAll(async () => {
  await dropTestDatabases();
  rmSync(tmp, { recursive: true, force: true });
});

const rb = (args: string[]) => runRb(args, {}, 120_000);

let n = 0;
/** A pipeline from `items` (or `keyless`) into its own destination schema. */
function pipeline(stream: string, opts: { writeMode?: string; primaryKey?: string; extra?: string } = {}): string {
  const file = path.join(tmp, `p${++n}.yaml`);
  writeFileSync(
    file,
    `version: "1.0"
pipeline: verdict_${n}
source:
  use: postgres
  config: { url: "${src.url}" }
  streams:
    - ${stream}
destination:
  use: postgres
  config: { url: "${dst.url}", schema: v${n} }
  write_mode: ${opts.writeMode ?? 'append'}
${opts.primaryKey ? `  primary_key: [${opts.primaryKey}]\n` : ''}${opts.extra ?? ''}`,
  );
  return file;
}

/** The last line rb run printed on stderr: its reason. */
const reason = (err: string) =>
  err
    .trim()
    .split('\n')
    .filter(Boolean)
    .pop()!
    .replace(/^(rb: )?error \[[a-z_]+\]( \(stream [^)]*\))?: /, '');

describe('rb check and rb run agree', () => {
  const refused: Array<[string, () => string, number, RegExp]> = [
    ['a projection naming a missing column', () => pipeline('{ name: public.items, columns: [id, nope] }'), 3, /columns\[1\]: column "nope" does not exist/],
    ['an incremental cursor that does not exist', () => pipeline('{ name: public.items, sync_mode: incremental, cursor_field: changed_at }'), 3, /cursor_field: column "changed_at" does not exist/],
    ['an incremental stream without a tie-breaker', () => pipeline('{ name: public.keyless, sync_mode: incremental, cursor_field: a }'), 2, /tie_breaker_field: required/],
    ['a nullable tie-breaker', () => pipeline('{ name: public.items, sync_mode: incremental, cursor_field: updated_at, tie_breaker_field: code }'), 2, /may be NULL/],
    ['a cursor outside the projection', () => pipeline('{ name: public.items, sync_mode: incremental, cursor_field: updated_at, columns: [id, name] }'), 2, /must be among the stream's columns/],
    ['a non-integer partition_key', () => pipeline('{ name: public.items, partition_key: name }'), 2, /partition_key: column "name" is text/],
    ['an upsert key outside the projection', () => pipeline('{ name: public.items, columns: [name] }', { writeMode: 'upsert', primaryKey: 'id' }), 2, /key column "id" is not among the columns/],
    ['a cdc stream keyed by another column than its primary key', () => pipeline('{ name: public.items, sync_mode: cdc, primary_key: [name] }', { writeMode: 'upsert' }), 2, /applied by its table's primary key/],
    // refused as not available until transforms run (engine/config/availability.ts); then for the missing column
    ['a transform naming a column that does not exist', () => pipeline('{ name: public.items }', { extra: 'transforms:\n  - { type: mask, stream: public.items, columns: [nope], method: redact }\n' }), 2, /transforms\[0\]/],
  ];

  it.each(refused)('%s: both refuse with the same exit code and reason', (_what, make, code, message) => {
    const file = make();
    const check = rb(['check', file]);
    const run = rb(['run', file]);
    expect(run.code, run.err).toBe(code);
    expect(check.code, check.out + check.err).toBe(code);
    expect(run.err).toMatch(message);
    // check says what run says (config errors are printed the same way by both, on stderr)
    expect(check.out + check.err).toContain(reason(run.err));
  });

  it('a pipeline run accepts passes check, with the plan line', () => {
    const file = pipeline('{ name: public.items, sync_mode: incremental, cursor_field: updated_at, columns: [id, updated_at] }');
    const check = rb(['check', file, '--json']);
    expect(check.code, check.out + check.err).toBe(0);
    const plan = JSON.parse(check.out).checks.find((c: { check: string }) => c.check === 'plan');
    expect(plan).toEqual({ check: 'plan', ok: true, detail: '1 stream planned as rb run plans them (columns, keys, cursors)' });
    expect(rb(['run', file]).code).toBe(0);
  });
});

describe('rb discover', () => {
  it('exits 3 naming a configured table that does not exist (and still lists the others)', () => {
    const file = pipeline('{ name: public.gone }');
    const r = rb(['discover', file]);
    expect(r.code).toBe(3);
    expect(r.err).toContain('rb: source.streams[0].name: table public.gone does not exist in the source');
    expect(r.out).toMatch(/public\.items\s+~200 rows/);
    const j = rb(['discover', file, '--json']);
    expect(j.code).toBe(3);
    expect(JSON.parse(j.out).missing_streams).toEqual(['source.streams[0].name: table public.gone does not exist in the source']);
    expect(rb(['discover', pipeline('{ name: public.items }')]).code).toBe(0);
  });

  it('compares the figure it prints with the one-shard threshold', () => {
    const r = rb(['discover', pipeline('{ name: public.items }'), '--json']);
    const items = JSON.parse(r.out).tables.find((t: { name: string }) => t.name === 'public.items');
    // under the 8 MiB default: one shard, and the note names the table's own size it compared
    expect(items.table_bytes).toBeLessThan(items.size_bytes);
    expect(items.shard_note).toMatch(/^one shard \(table \d+(\.\d)? KiB, under 8\.0 MiB\)$/);
    const human = rb(['discover', pipeline('{ name: public.items }')]).out;
    expect(human).toMatch(/public\.items\s+~200 rows, [\d.]+ KiB with indexes and TOAST; key \(id\); one shard \(table [\d.]+ KiB, under 8\.0 MiB\)/);
  });
});
