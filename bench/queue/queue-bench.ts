/**
 * Queued run vs the local pool on this machine (docs/design.md section 14, issue 14):
 *
 *   local    rb run p.yaml (parallelism 2: the pool's threads, 2 shards)
 *   queue-2  rb run p.yaml --queue … with two `rb worker --concurrency 1` processes (8 shards)
 *
 * Alternated, `--iters` pairs, on one embedded cluster (`.rb/bench-queue`: source, destination
 * and queue databases on the same server, as the tests have them). Prints wall times and, for
 * the queued runs, the per-shard move times the workers reported — what N machines would divide.
 *
 *   npx tsx bench/queue/queue-bench.ts [--rows 2000000] [--iters 2]
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clusterUrl, ensureCluster, ensureDatabase } from '../../engine/embedded/cluster.js';
import { queryOnce as sql } from '../databases.js';

const BIN = fileURLToPath(new URL('../../engine/cli/bin.js', import.meta.url));
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROWS = arg('rows', 2_000_000);
const ITERS = arg('iters', 2);

function pipeline(name: string, src: string, dst: string, parallelism: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'rb-qbench-'));
  const file = join(dir, 'p.yaml');
  writeFileSync(
    file,
    `version: "1.0"\npipeline: ${name}\nsource:\n  use: postgres\n  config: { url: "${src}" }\n  streams:\n    - name: big\ndestination:\n  use: postgres\n  config: { url: "${dst}" }\n  write_mode: replace\nresources: { parallelism: ${parallelism} }\n`,
  );
  return file;
}

function runRb(args: string[]): { ms: number; json: { status: string; queue?: { shards: Array<{ worker: string | null; duration_ms: number }> } } } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [BIN, ...args, '--json'], { encoding: 'utf8', env: { ...process.env, RB_QUEUE_POLL_MS: '100' } });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`rb ${args.join(' ')}: exit ${r.status}\n${r.stderr}${r.stdout}`);
  return { ms, json: JSON.parse(r.stdout) };
}

async function main(): Promise<void> {
  const info = await ensureCluster('.rb/bench-queue', { log: (l) => console.error(l) });
  for (const db of ['qb_src', 'qb_dst', 'qb_queue']) await ensureDatabase(info, db);
  const src = clusterUrl(info, 'qb_src');
  const dst = clusterUrl(info, 'qb_dst');
  const queue = clusterUrl(info, 'qb_queue');
  const have = await sql(src, `select count(*)::int as n from pg_class where relname = 'big'`);
  if (!have.rows[0].n || (await sql(src, 'select count(*)::int as n from big')).rows[0].n !== ROWS) {
    console.error(`bench: generating ${ROWS} rows`);
    await sql(src, `drop table if exists big; create table big (id int primary key, v text not null, n numeric not null, t timestamptz not null);
      insert into big select g, md5(g::text), g * 1.5, now() - g * interval '1 second' from generate_series(1, ${ROWS}) g; analyze big`);
  }
  const bytes = (await sql(src, `select pg_relation_size('big')::int8 as b`)).rows[0].b;
  const local = pipeline('qbench_local', src, dst, 2);
  const queued = pipeline('qbench_queue', src, dst, 8);
  const workers = ['A', 'B'].map(() =>
    spawn(process.execPath, [BIN, 'worker', '--queue', queue, '--concurrency', '1', '--pipeline', queued], { env: { ...process.env, RB_WORKER_POLL_MS: '200' }, stdio: 'ignore' }),
  );
  await new Promise((r) => setTimeout(r, 2000));
  const rows: string[] = [];
  try {
    for (let i = 0; i < ITERS; i++) {
      const l = runRb(['run', local]);
      const q = runRb(['run', queued, '--queue', queue]);
      const shards = q.json.queue!.shards;
      const perWorker = new Map<string, number>();
      for (const s of shards) perWorker.set(s.worker ?? '?', (perWorker.get(s.worker ?? '?') ?? 0) + 1);
      const moves = shards.map((s) => s.duration_ms);
      rows.push(
        `pair ${i + 1}: local ${(l.ms / 1000).toFixed(2)} s, queue-2 ${(q.ms / 1000).toFixed(2)} s (${q.ms / l.ms > 1 ? '+' : ''}${((q.ms / l.ms - 1) * 100).toFixed(0)}%); ` +
          `queued shards: ${shards.length}, by worker ${[...perWorker.values()].join('/')}, move ${Math.min(...moves)}–${Math.max(...moves)} ms each, sum ${moves.reduce((a, b) => a + b, 0)} ms`,
      );
      console.error(rows.at(-1));
    }
  } finally {
    for (const w of workers) w.kill('SIGTERM');
  }
  console.log(`${ROWS} rows, ${(bytes / 1e6).toFixed(0)} MB table, replace, ${ITERS} pairs (local first in each)`);
  for (const r of rows) console.log(r);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
