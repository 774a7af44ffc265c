/**
 * Telemetry on vs off, back to back (issue 17; bench/telemetry/README.md). Each pair runs the same
 * full refresh through the real binary twice, in alternating order:
 *
 *   off  RB_TELEMETRY=0: the channels between the stages are not wrapped (no wait timers)
 *   on   the default timers + --metrics-addr 127.0.0.1:0 (prom-client) + --log-format json (pino)
 *
 * on rb's embedded cluster (source and destination databases in it; created when missing), and
 * prints each run's wall time (rb's own duration_ms) and the median on/off ratio.
 *
 *   npx tsx bench/telemetry/ab.ts [--rows 2000000] [--pairs 5] [--width narrow|medium] [--timers-only]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const BIN = fileURLToPath(new URL('../../engine/cli/bin.js', import.meta.url));
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const rows = Number(arg('rows', '2000000'));
const pairs = Number(arg('pairs', '5'));
const width = arg('width', 'narrow');
const SRC_DB = `rb_tel_ab_${width}`;
const DST_DB = 'rb_tel_ab_dst';

function rb(args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`rb ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  return r.stdout;
}

const dir = mkdtempSync(join(tmpdir(), 'rb-tel-ab-'));
const pipeline = join(dir, 'p.yaml');
writeFileSync(
  pipeline,
  `version: "1.0"
pipeline: tel_ab
source: { use: postgres, config: { embedded: true, database: ${SRC_DB} }, streams: [{ name: public.t }] }
destination: { use: postgres, config: { embedded: true, database: ${DST_DB} }, write_mode: replace }
`,
);

async function setup(): Promise<void> {
  // A first run starts the embedded cluster (and fails on the missing databases: expected).
  spawnSync(process.execPath, [BIN, 'check', pipeline], { encoding: 'utf8' });
  const url = rb(['embedded', 'psql-url', 'postgres']).trim();
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  for (const db of [SRC_DB, DST_DB]) {
    const exists = (await admin.query('select 1 from pg_database where datname = $1', [db])).rowCount;
    if (!exists) await admin.query(`create database ${db}`);
  }
  await admin.end();
  const src = new pg.Client({ connectionString: url.replace(/\/postgres$/, `/${SRC_DB}`) });
  await src.connect();
  const have = await src.query(`select count(*)::bigint as n from pg_class where relname = 't'`);
  const n = Number(have.rows[0].n) ? Number((await src.query('select count(*) as n from t')).rows[0].n) : 0;
  if (n !== rows) {
    await src.query('drop table if exists t');
    const cols = width === 'narrow' ? 'id bigint primary key, v int, label text' : 'id bigint primary key, v int, label text, note text, doc jsonb, at timestamptz';
    const vals = width === 'narrow' ? "g, g % 1000, 'row ' || g" : "g, g % 1000, 'row ' || g, repeat(md5(g::text), 8), jsonb_build_object('k', g, 'm', md5(g::text)), timestamptz '2026-01-01' + g * interval '1 second'";
    await src.query(`create table t (${cols})`);
    await src.query(`insert into t select ${vals} from generate_series(1, ${rows}) g`);
    await src.query('vacuum (freeze, analyze) t');
  }
  await src.end();
}

function once(on: boolean): number {
  // --timers-only: "on" is the default timers without the endpoint and the JSON log (which of the two costs).
  const flags = on && !process.argv.includes('--timers-only') ? ['--metrics-addr', '127.0.0.1:0', '--log-format', 'json'] : [];
  const args = ['run', pipeline, '--json', ...flags];
  const out = rb(args, on ? {} : { RB_TELEMETRY: '0' });
  const r = JSON.parse(out) as { duration_ms: number; rows_written: number };
  if (r.rows_written !== rows) throw new Error(`copied ${r.rows_written} rows, expected ${rows}`);
  return r.duration_ms;
}

await setup();
once(true); // warm-up (caches, first compile)
const ratios: number[] = [];
for (let i = 0; i < pairs; i++) {
  // Alternate which side goes first, so a drift of the shared machine lands on both.
  const [first, second] = i % 2 ? [true, false] : [false, true];
  const a = once(first);
  const b = once(second);
  const [on, off] = first ? [a, b] : [b, a];
  ratios.push(on / off);
  console.log(`pair ${i + 1}: off ${off} ms, on ${on} ms, on/off ${(on / off).toFixed(3)}`);
}
ratios.sort((x, y) => x - y);
console.log(`${width}, ${rows} rows, ${pairs} pairs: median on/off ${ratios[ratios.length >> 1].toFixed(3)} (min ${ratios[0].toFixed(3)}, max ${ratios[ratios.length - 1].toFixed(3)})`);
