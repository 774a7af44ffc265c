/**
 * A/B of two rb builds' CDC catch-up (bench/cdc/README.md, "A/B of the mechanisms kept"): one
 * source (`pgbench -i -s 2`) on its own embedded cluster, two destination databases, each caught up
 * by its own pipeline and build from the same backlog of `pgbench -c 4 -t <per-client>` TPC-B
 * transactions (4 row changes each), alternating which build runs first; every table compared with
 * the source at the end.
 *
 *   npx tsx bench/cdc/ab-probe.ts <old bin.js> <new bin.js> [rounds=4] [per-client=25000]
 *
 * One build with two settings: the same bin.js twice, and `RB_AB_OLD_ENV` / `RB_AB_NEW_ENV`
 * (`K=V,K2=V2`) added to each side's environment (e.g. `RB_AB_NEW_ENV=RB_CDC_STREAMING=0`).
 *
 * The old build: a clone of the commit to compare (`git clone . /tmp/old && git -C /tmp/old checkout
 * <commit>`, its node_modules a link to this one's, `npm run build` there).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { queryOnce } from '../databases.js';
import { freshProbeDatabases } from './probe-databases.js';

const [oldBin, newBin, roundsArg, perArg] = process.argv.slice(2);
if (!oldBin || !newBin) throw new Error('usage: npx tsx bench/cdc/ab-probe.ts <old bin.js> <new bin.js> [rounds] [per-client]');
const BUILDS = { old: oldBin, new: newBin } as const;
const dir = mkdtempSync(join(tmpdir(), 'rb-cdc-ab-'));
const TABLES = ['pgbench_accounts', 'pgbench_branches', 'pgbench_tellers', 'pgbench_history'];
const q = queryOnce;
const sh = (cmd: string, args: string[]) => { const r = spawnSync(cmd, args, { encoding: 'utf8' }); if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`); return r.stdout; };

const { srcUrl, dstUrl } = await freshProbeDatabases('ab_src', ['ab_old', 'ab_new']);
sh('pgbench', ['-i', '-q', '-s', '2', srcUrl]);
const file = (which: 'old' | 'new') => {
  const f = join(dir, `${which}.yaml`);
  writeFileSync(f, `version: "1.0"\npipeline: ab_${which}\nsource:\n  use: postgres\n  config: { url: "${srcUrl}" }\n  streams:\n${TABLES.map((t) => `    - name: ${t}\n      sync_mode: cdc\n`).join('')}destination:\n  use: postgres\n  config: { url: "${dstUrl(`ab_${which}`)}" }\n  write_mode: upsert\n`);
  return f;
};
const envOf = (spec: string | undefined): Record<string, string> => Object.fromEntries((spec ?? '').split(',').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const ENVS = { old: envOf(process.env.RB_AB_OLD_ENV), new: envOf(process.env.RB_AB_NEW_ENV) };
const run = (which: 'old' | 'new') => {
  const t = performance.now();
  const r = spawnSync(process.execPath, [BUILDS[which], 'run', file(which), '--json'], { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, ...ENVS[which] } });
  if (r.status !== 0) throw new Error(`${which}: ${r.stderr}\n${r.stdout.slice(0, 2000)}`);
  return { ms: performance.now() - t, changes: JSON.parse(r.stdout).cdc?.changes as number };
};
run('old'); run('new');
const rounds = Number(roundsArg ?? 4);
const per = Number(perArg ?? 25000);
const results: Record<string, number[]> = { old: [], new: [] };
for (let i = 0; i < rounds; i++) {
  sh('pgbench', ['-n', '-c', '4', '-j', '2', '-t', String(per), srcUrl]);
  const order = i % 2 ? (['new', 'old'] as const) : (['old', 'new'] as const);
  for (const w of order) {
    const r = run(w);
    results[w].push(r.ms);
    console.log(`round ${i + 1} ${w}: ${Math.round(r.ms)} ms, ${r.changes} changes`);
  }
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(`median old ${Math.round(med(results.old))} ms, new ${Math.round(med(results.new))} ms, new/old ${(med(results.new) / med(results.old)).toFixed(3)}; pairs new/old: ${results.new.map((n, i) => (n / results.old[i]).toFixed(3)).join(', ')}`);
for (const t of TABLES) {
  const h = `select md5(string_agg(x::text, ',' order by x::text)) as h from ${t} x`;
  const [a, b, c] = await Promise.all([q(srcUrl, h), q(dstUrl('ab_old'), h), q(dstUrl('ab_new'), h)]);
  console.log(`${t}: old ${a.rows[0].h === b.rows[0].h ? 'equal' : 'DIFFERENT'}, new ${a.rows[0].h === c.rows[0].h ? 'equal' : 'DIFFERENT'}`);
}
for (const w of ['old', 'new'] as const) spawnSync(process.execPath, [BUILDS[w], 'state', 'reset', file(w), '--yes']);
