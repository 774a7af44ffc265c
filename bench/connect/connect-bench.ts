/**
 * A/B of a plain local connect (issue 16): what the default sslmode (prefer, libpq's) costs
 * against a server without TLS, beside `sslmode=disable` (what rb's default did before: no TLS
 * request at all). Three variants, alternating in rounds on one throw-away cluster of its own:
 *
 *   disable        plaintext at once
 *   prefer         the default: TLS asked for, the server says no, plaintext; learned per thread
 *                  (connectors/postgres/connection.ts), so only the first connect of a burst asks
 *   prefer-cold    the same with the learning forgotten before every connect: each one asks
 *
 *   npx tsx bench/connect/connect-bench.ts [--connects 600]
 *
 * One connect of each variant in turn (after 50 of each to warm up); prints each variant's median
 * and quartiles per connect (connect + `select 1` + end).
 */
import path from 'node:path';
import { connect, forgetNegotiations, resolveServerEndpoint } from '../../connectors/postgres/connection.js';
import { clusterUrl, ensureCluster, resetCluster } from '../../engine/embedded/cluster.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const CONNECTS = arg('connects', 600);
const WARMUP = 50;

const root = path.resolve('.rb', 'bench-connect');
const info = await ensureCluster(root);
const base = clusterUrl(info, 'postgres');
const variants = {
  disable: { url: `${base}?sslmode=disable`, cold: false },
  prefer: { url: base, cold: false },
  'prefer-cold': { url: base, cold: true },
};
const times: Record<string, number[]> = { disable: [], prefer: [], 'prefer-cold': [] };
const eps = Object.fromEntries(Object.entries(variants).map(([name, v]) => [name, resolveServerEndpoint({ kind: 'url', url: v.url }, 'source', { env: {} })]));
try {
  // One connect of each variant in turn, the order rotating: drift on a shared machine hits all alike.
  const names = Object.keys(variants) as Array<keyof typeof variants>;
  for (let i = 0; i < WARMUP + CONNECTS; i++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(i + k) % names.length];
      if (variants[name].cold) forgetNegotiations();
      const t0 = performance.now();
      const c = await connect(eps[name], 'source', 'rb connect bench');
      await c.query('select 1');
      await c.end();
      if (i >= WARMUP) times[name].push(performance.now() - t0);
    }
  }
} finally {
  await resetCluster(root);
}
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * q)];
const median = (xs: number[]) => quantile(xs, 0.5);
for (const [name, xs] of Object.entries(times)) {
  console.log(`${name.padEnd(12)} median ${median(xs).toFixed(3)} ms per connect (quartiles ${quantile(xs, 0.25).toFixed(3)} – ${quantile(xs, 0.75).toFixed(3)}, ${xs.length} connects)`);
}
console.log(`prefer / disable: ${(median(times.prefer) / median(times.disable)).toFixed(3)}×; prefer-cold / disable: ${(median(times['prefer-cold']) / median(times.disable)).toFixed(3)}×`);
