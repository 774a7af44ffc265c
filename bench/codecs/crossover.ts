/**
 * Where native stops winning: native vs TypeScript per call at growing input sizes (1 to 10k rows
 * or messages). Every native call pays a fixed Node-API cost (argument checks, typed-array views,
 * the result objects) that a big batch amortises and a tiny one does not; this table shows the
 * size at which each codec crosses over, so the engine can pick the faster one per call site.
 *
 *   npx tsx bench/codecs/crossover.ts [--json] [--time ms] [--clock wall|cpu]
 *
 * Inputs are prefixes of the bench workloads (workloads.ts); outputs are not re-checked here
 * (run-codecs.ts checks the full workloads).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import { COPY_BINARY_HEADER, newPgoutputState, type Codecs } from '../../native/codec-api.js';
import { codecs as chosenCodecs, nativeStatus, rawNativeCodecs, tsCodecs } from '../../native/index.js';

// Measure the addon itself, not the engine's small-input routing around it.
const codecs = rawNativeCodecs ?? chosenCodecs;
import { CPU_CLOCK } from './run-codecs.js';
import { buildCopyDataWorkload, buildCopyWorkload, buildPgoutputWorkload } from './workloads.js';

export const CROSSOVER_SIZES = [1, 10, 100, 1000, 10_000] as const;

export interface CrossoverRow {
  codec: string;
  /** Rows (COPY codecs, placeholders) or messages (pgoutput) per call. */
  size: number;
  native_us: number;
  ts_us: number;
  /** ts_us / native_us: above 1, native is faster. */
  native_speedup: number;
}

type Call = (c: Codecs) => () => unknown;

/** One call per codec and size, for the implementation `c`. */
function calls(size: number): Array<{ codec: string; call: Call }> {
  const copy = buildCopyWorkload(size);
  const framed = buildCopyDataWorkload(copy).framed;
  const out = new Uint8Array(Math.max(copy.file.length, framed.length));
  // Changes only (after the capture, Begin and Relation): rb does not need the Relation to parse.
  const pg = buildPgoutputWorkload(copy, size);
  const first = pg.capturedMessages + 2;
  const offsets = pg.input.offsets.subarray(first, first + size + 1);
  const lsns = pg.input.lsns.subarray(first, first + size);
  const h = COPY_BINARY_HEADER.length;
  return [
    {
      codec: 'copy-encode',
      call: (c) => () => {
        c.copyEncodedLength(copy.batch);
        return c.copyEncodeInto(copy.batch, out, 0);
      },
    },
    { codec: 'copy-decode', call: (c) => () => c.copyDecode(copy.file, h, copy.codecs) },
    { codec: 'copy-scan', call: (c) => () => c.copyScan(copy.file, h, copy.columns.length) },
    { codec: 'copydata-deframe', call: (c) => () => c.deframeCopyData(framed, 0, out, 0) },
    { codec: 'pgoutput', call: (c) => () => c.pgoutputDecode(pg.input.buf, offsets, lsns, 1, newPgoutputState()) },
    { codec: 'placeholders', call: (c) => () => c.placeholders(size, 10, 2) },
  ];
}

let sink: unknown;

/**
 * Measures native and TypeScript at each size. Needs the addon (throws when it is not in use).
 *
 * @example
 *   const rows = await runCrossover({ timeMs: 200 });
 */
export async function runCrossover(opts: { timeMs?: number; clock?: 'wall' | 'cpu'; sizes?: readonly number[] } = {}): Promise<CrossoverRow[]> {
  if (nativeStatus.impl !== 'native') throw new Error(`crossover: native addon not in use (${nativeStatus.reason})`);
  const timeMs = opts.timeMs ?? 300;
  const rows: CrossoverRow[] = [];
  for (const size of opts.sizes ?? CROSSOVER_SIZES) {
    const bench = new Bench({ time: timeMs, iterations: 20, warmupTime: Math.min(100, timeMs), throws: true, ...(opts.clock === 'cpu' ? { timestampProvider: CPU_CLOCK } : {}) });
    for (const { codec, call } of calls(size)) {
      for (const c of [codecs, tsCodecs]) {
        const run = call(c);
        bench.add(`${codec}|${c.impl}`, () => {
          sink = run();
        });
      }
    }
    await bench.run();
    const us = (name: string): number => {
      const r = bench.getTask(name)!.result;
      if (r.state !== 'completed') throw new Error(`crossover: ${name} ended ${r.state}`);
      return r.latency.p50 * 1000;
    };
    for (const codec of new Set(bench.tasks.map((t) => t.name.split('|')[0]))) {
      const n = us(`${codec}|native`);
      const t = us(`${codec}|ts`);
      rows.push({ codec, size, native_us: Number(n.toFixed(2)), ts_us: Number(t.toFixed(2)), native_speedup: Number((t / n).toFixed(2)) });
    }
  }
  sink = undefined;
  return rows;
}

export function renderCrossover(rows: readonly CrossoverRow[]): string {
  const codecNames = [...new Set(rows.map((r) => r.codec))];
  const sizes = [...new Set(rows.map((r) => r.size))];
  const head = ['codec', ...sizes.map((s) => `${s}`)];
  const body = codecNames.map((codec) => [
    codec,
    ...sizes.map((s) => {
      const r = rows.find((x) => x.codec === codec && x.size === s);
      return r ? `${r.native_us}/${r.ts_us} µs ${r.native_speedup}×` : '-';
    }),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return ['native/ts µs per call and native speed-up, by rows (pgoutput: messages) per call', line(head), ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { json: { type: 'boolean', default: false }, time: { type: 'string' }, clock: { type: 'string' } } });
  const clock = values.clock === 'cpu' ? 'cpu' : 'wall';
  const rows = await runCrossover({ timeMs: values.time === undefined ? undefined : Number(values.time), clock });
  process.stdout.write(`${values.json ? JSON.stringify(rows, null, 2) : renderCrossover(rows)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
