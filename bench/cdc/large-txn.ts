/**
 * One large transaction caught up with streaming (pgoutput protocol 2, rb's default on
 * PostgreSQL 14+) and without (`RB_CDC_STREAMING=0`, protocol 1), alternating which runs first
 * (bench/cdc/README.md, "A large transaction"): catch-up time, rb's peak RSS under a 160 MB heap,
 * and what the source's walsender spilled to its own disk (`pg_stat_replication_slots`) for each.
 * Each mode has its own slot and destination database; every round's transaction is
 * `INSERT … SELECT g, md5(g::text) FROM generate_series(…)` of N rows.
 *
 *   npx tsx bench/cdc/large-txn.ts [rows=1000000] [rounds=2]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from '../../engine/paths.js';
import { queryOnce } from '../databases.js';
import { freshProbeDatabases } from './probe-databases.js';

const rows = Number(process.argv[2] ?? 1_000_000);
const rounds = Number(process.argv[3] ?? 2);
const BIN = repoPath('engine/cli/bin.js');
const MODES = { on: {}, off: { RB_CDC_STREAMING: '0' } } as const;
type Mode = keyof typeof MODES;
const dir = mkdtempSync(join(tmpdir(), 'rb-cdc-large-'));
const q = queryOnce;

const { srcUrl, dstUrl } = await freshProbeDatabases('lt_src', ['lt_on', 'lt_off']);
await q(srcUrl, 'create table big (id int primary key, v text)');
const file = (m: Mode) => {
  const f = join(dir, `${m}.yaml`);
  writeFileSync(f, `version: "1.0"\npipeline: lt_${m}\nsource:\n  use: postgres\n  config: { url: "${srcUrl}" }\n  streams:\n    - name: big\n      sync_mode: cdc\ndestination:\n  use: postgres\n  config: { url: "${dstUrl(`lt_${m}`)}" }\n  write_mode: upsert\n`);
  return f;
};
const slotStats = async (m: Mode) => (await q(srcUrl, `select spill_bytes::float8 as spill, stream_bytes::float8 as stream from pg_stat_replication_slots where slot_name = 'rb_lt_${m}'`)).rows[0] ?? { spill: 0, stream: 0 };
const run = async (m: Mode) => {
  const before = await slotStats(m);
  const t = performance.now();
  const r = spawnSync(process.execPath, [BIN, 'run', file(m), '--json'], { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, ...MODES[m], NODE_OPTIONS: '--max-old-space-size=160' } });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${m}: ${r.stderr}\n${r.stdout.slice(0, 2000)}`);
  const j = JSON.parse(r.stdout);
  // Statistics are reported as the walsender ends: give it a moment.
  await new Promise((res) => setTimeout(res, 500));
  const after = await slotStats(m);
  return { ms, rss: j.peak_rss_bytes as number, changes: j.cdc?.changes as number, streamed: j.cdc?.streamed_transactions as number, spill: after.spill - before.spill, stream: after.stream - before.stream };
};
await run('on');
await run('off');
const out: Record<Mode, Array<Awaited<ReturnType<typeof run>>>> = { on: [], off: [] };
const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;
for (let i = 0; i < rounds; i++) {
  await q(srcUrl, `insert into big select g, md5(g::text) from generate_series(${i * rows + 1}, ${(i + 1) * rows}) g`);
  for (const m of (i % 2 ? ['off', 'on'] : ['on', 'off']) as Mode[]) {
    const r = await run(m);
    out[m].push(r);
    console.log(`round ${i + 1} streaming ${m}: ${Math.round(r.ms)} ms, ${r.changes} changes, streamed ${r.streamed}, peak RSS ${mb(r.rss)}, source spilled ${mb(r.spill)}, streamed ${mb(r.stream)}`);
  }
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(`median on ${Math.round(med(out.on.map((r) => r.ms)))} ms, off ${Math.round(med(out.off.map((r) => r.ms)))} ms; pairs on/off: ${out.on.map((r, i) => (r.ms / out.off[i].ms).toFixed(3)).join(', ')}`);
const h = `select count(*) as n, md5(string_agg(x::text, ',' order by x.id)) as h from big x`;
const [a, b, c] = await Promise.all([q(srcUrl, h), q(dstUrl('lt_on'), h), q(dstUrl('lt_off'), h)]);
console.log(`big: on ${JSON.stringify(a.rows[0]) === JSON.stringify(b.rows[0]) ? 'equal' : 'DIFFERENT'}, off ${JSON.stringify(a.rows[0]) === JSON.stringify(c.rows[0]) ? 'equal' : 'DIFFERENT'} (${a.rows[0].n} rows)`);
for (const m of ['on', 'off'] as const) spawnSync(process.execPath, [BIN, 'state', 'reset', file(m), '--yes']);
