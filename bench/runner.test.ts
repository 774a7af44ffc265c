import { afterAll, describe, expect, it } from 'vitest';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../engine/testing/pg.js';
import { libpqEnv, shellQuote, type Contender } from './contenders/contender.js';
import { buildContenders } from './contenders/index.js';
import { ensureSourceData, resetDestination } from './databases.js';
import { PROFILES } from './profiles.js';
import { runProfile } from './runner.js';
import { checksumTable, compareChecksums, connect, verifyDestination } from './verify.js';

afterAll(dropTestDatabases);
const quiet = (): void => {};
const tiny = PROFILES.tiny;

// One generated source for the whole file (generation is the slow part).
let shared: Promise<TestDb> | undefined;
const sharedSource = (): Promise<TestDb> =>
  (shared ??= createTestDatabase('bench_src').then(async (db) => {
    await ensureSourceData(db.url, tiny, { regenerate: false, log: quiet });
    return db;
  }));

describe('source data', () => {
  it('is reproducible, generated once and reused', async () => {
    const [a, b] = [await createTestDatabase('bench_gen'), await sharedSource()];
    const first = await ensureSourceData(a.url, tiny, { regenerate: false, log: quiet });
    expect(first.generated).toBe(true);
    expect(first.tables[0]).toMatchObject({ table: 'events', rows: 20_000 });
    expect(first.tables[0].textBytes / 20_000).toBeGreaterThan(400); // ~500 bytes per row
    const again = await ensureSourceData(a.url, tiny, { regenerate: false, log: quiet });
    expect(again.generated).toBe(false);
    expect(again.tables).toEqual(first.tables);
    const elsewhere = await ensureSourceData(b.url, tiny, { regenerate: false, log: quiet });
    expect(elsewhere.tables[0].checksum).toBe(first.tables[0].checksum);
    const forced = await ensureSourceData(a.url, tiny, { regenerate: true, log: quiet });
    expect(forced.generated).toBe(true);
    expect(forced.tables).toEqual(first.tables);
    // Realistic values: NULLs, IPv4 and IPv6, jsonb; a primary key on the source.
    const r = await a.query(`select count(*) filter (where user_agent is null) > 0 as nulls, count(*) filter (where family(ip) = 6) > 0 as v6,
      count(distinct kind) as kinds, (select count(*) from pg_constraint where conrelid = 'public.events'::regclass and contype = 'p') as pk from public.events`);
    expect(r.rows[0]).toEqual({ nulls: true, v6: true, kinds: '8', pk: '1' });
  });
});

describe('verify', () => {
  it('matches a copy with its columns in another order and catches changed or missing rows', async () => {
    const [src, dst] = [await sharedSource(), await createTestDatabase('bench_v')];
    const data = await ensureSourceData(src.url, tiny, { regenerate: false, log: quiet });
    const d = await connect(dst.url);
    try {
      const reversed = 'payload, created_at, is_bot, ip, message, user_agent, url, channel, kind, user_id, event_id, id';
      await d.query(`create table public.events (payload jsonb, created_at timestamptz, is_bot boolean, ip inet, message text, user_agent text, url text, channel text, kind text, user_id int, event_id uuid, id bigint)`);
      const s = await connect(src.url);
      await pipeline(s.query(copyTo(`COPY (select ${reversed} from public.events) TO STDOUT`)), d.query(copyFrom(`COPY public.events FROM STDIN`)));
      await s.end();
      expect(await verifyDestination(dst.url, data.tables)).toEqual({ ok: true, problems: [] });
      await d.query(`update public.events set message = message || 'x' where id = 777`);
      const changed = await verifyDestination(dst.url, data.tables);
      expect(changed.ok).toBe(false);
      expect(changed.problems[0]).toMatch(/public\.events: checksum .* \(same row count, different data\)/);
      await d.query('delete from public.events where id > 19990');
      expect((await verifyDestination(dst.url, data.tables)).problems).toEqual(['public.events: 19990 rows, expected 20000']);
      await d.query('drop table public.events');
      expect(await checksumTable(d, 'events')).toBeUndefined();
      expect(compareChecksums(data.tables, [undefined]).problems).toEqual(['public.events: missing in the destination']);
    } finally {
      await d.end();
    }
  });
});

describe('claimDatabase', () => {
  it('refuses a database whose bench-named tables it did not create, and claims an empty one', async () => {
    const db = await createTestDatabase('bench_c');
    await db.query('create table public.orders (id int)');
    await expect(ensureSourceData(db.url, tiny, { regenerate: false, log: quiet })).rejects.toThrow(/already has public\.orders, not created by rb bench: point --source-url/);
    await expect(resetDestination(db.url, tiny)).rejects.toThrow(/point --dest-url at a database of its own/);
    expect((await db.query('select count(*)::int as n from public.orders')).rows[0].n).toBe(0); // untouched
    const empty = await createTestDatabase('bench_c');
    await resetDestination(empty.url, tiny);
    await resetDestination(empty.url, tiny); // claimed: the second reset drops its own tables
    expect((await empty.query(`select to_regclass('public.events') is not null as ok`)).rows[0].ok).toBe(true);
  });
});

describe('runProfile', () => {
  // Copies only part of the table: the bench must report it failed, not time it.
  const partialCopy: Contender = {
    id: 'partial',
    label: 'partial copy',
    kind: 'psql-text',
    unavailableReason: async () => undefined,
    command: async (ctx) => ({
      command: 'bash',
      args: ['-c', `psql -X -q -d "$RB_SRC" -c ${shellQuote('COPY (select * from public.events where id <= 100) TO STDOUT')} | psql -X -q -d "$RB_DST" -c ${shellQuote('COPY public.events FROM STDIN')}`],
      env: { ...libpqEnv(ctx), RB_SRC: ctx.sourceUrlNoPassword, RB_DST: ctx.destUrlNoPassword },
    }),
  };

  it('runs the pipes in alternation, verifies each run and fails a contender that copies wrong data', async () => {
    const [src, dst] = [await sharedSource(), await createTestDatabase('bench_r')];
    const lines: string[] = [];
    const contenders = [...buildContenders(['psql-binary', 'node-pipe'], ['auto']), partialCopy];
    const run = await runProfile(tiny, { iters: 2, contenders, sourceUrl: src.url, destUrl: dst.url, regenerate: false, log: (l) => lines.push(l) });
    const [bin, node, partial] = run.contenders;
    expect(bin.status).toBe('ok');
    expect(bin.runs.map((r) => r.iteration)).toEqual([1, 2]);
    expect(bin.runs[0].peakRssBytes).toBeGreaterThan(1e6);
    expect(node.status).toBe('ok');
    expect(node.runs).toHaveLength(2);
    expect(partial.status).toBe('failed');
    expect(partial.reason).toBe('wrong data in the destination: public.events: 100 rows, expected 20000');
    expect(partial.runs).toEqual([]);
    // Alternation: after the warm-up round, run 1 of each, then run 2 of each.
    const order = lines.filter((l) => /run \d\/2/.test(l)).map((l) => /run (\d)\/2 (.*?):/.exec(l)!.slice(1).join(' '));
    expect(order).toEqual(['1 psql binary pipe', '1 node pg-copy-streams pipe', '2 psql binary pipe', '2 node pg-copy-streams pipe']);
    expect(lines.join('\n')).not.toContain(new URL(src.url).password);
  });

  it('reports a missing tool as skipped', async () => {
    const [src, dst] = [await sharedSource(), await createTestDatabase('bench_s')];
    const missing: Contender = { ...partialCopy, id: 'missing', label: 'missing', unavailableReason: async () => 'frobnicate is not installed' };
    const run = await runProfile(tiny, { iters: 1, contenders: [missing], sourceUrl: src.url, destUrl: dst.url, regenerate: false, log: quiet });
    expect(run.contenders[0]).toMatchObject({ status: 'skipped', reason: 'frobnicate is not installed' });
  });
});
