/**
 * The addon in worker threads (where rb's pool runs the codecs): two workers load it at the same
 * time, alongside the main thread, and run an encode/decode, de-frame and pgoutput round trip;
 * then one is terminated and a fresh worker loads it again. A module that is not context-aware,
 * or that keeps per-process state, fails here (napi-rs keeps worker tests for the same reason).
 *
 * Workers run TypeScript by registering tsx themselves: Node 20 ignores `--import tsx` in a
 * Worker's execArgv (ESM loader hooks are not per worker before Node 22).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { loadAddon, nativeCodecs } from './load.js';
import { randomBatch, randomCodecs } from './testing/copy-fixture.js';

const load = loadAddon();

/** The ESM entry of `tsx/esm/api`, read from tsx's own package metadata. */
function tsxApiUrl(): string {
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('tsx/package.json');
  const exp = JSON.parse(readFileSync(pkgPath, 'utf8')).exports['./esm/api'].import.default as string;
  return pathToFileURL(path.join(path.dirname(pkgPath), exp)).href;
}

const here = (file: string): string => new URL(file, import.meta.url).href;

// Runs in the worker (plain JS, eval'd): registers tsx, loads the modules, round-trips data.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { register } = await import(workerData.tsxApi);
  register();
  const { nativeStatus } = await import(workerData.index);
  const { loadAddon, nativeCodecs } = await import(workerData.load);
  const load = loadAddon();
  if (!load.ok) throw new Error(load.reason);
  // The addon directly, whatever RB_NATIVE says (index.ts's choice is reported separately).
  const codecs = nativeCodecs(load.addon);
  const { randomBatch, randomCodecs, batchDifference } = await import(workerData.copyFixture);
  const { pgo, pgoutputInput } = await import(workerData.pgoutputFixture);
  const { newPgoutputState } = await import(workerData.codecApi);
  const failures = [];
  let rows = 0;
  for (let k = 0; k < workerData.rounds; k++) {
    const seed = workerData.seed + k;
    const types = randomCodecs(seed, 6);
    const batch = randomBatch(seed, types, 200);
    const out = new Uint8Array(codecs.copyEncodedLength(batch));
    codecs.copyEncodeInto(batch, out, 0);
    const decoded = codecs.copyDecode(out, 0, types);
    const diff = batchDifference(decoded.batch, batch);
    if (diff || decoded.end !== out.length) failures.push('copy seed ' + seed + ': ' + diff);
    rows += decoded.rows;

    const framed = Buffer.concat([Buffer.from([0x64, 0, 0, 0, 4 + out.length]), Buffer.from(out)]);
    framed.writeInt32BE(4 + out.length, 1);
    const plain = new Uint8Array(out.length);
    const r = codecs.deframeCopyData(framed, 0, plain, 0);
    if (r.messages !== 1 || !Buffer.from(plain).equals(Buffer.from(out))) failures.push('deframe seed ' + seed);

    const rel = { oid: 5000 + k, namespace: 'public', name: 'w' + k, columns: [{ name: 'id', typeOid: 23, flags: 1 }] };
    const input = pgoutputInput([pgo.begin(1n, 2n, 3), pgo.relation(rel), pgo.insert(rel.oid, [{ t: String(seed) }]), pgo.commit(1n, 2n, 3n)]);
    const state = newPgoutputState();
    const parsed = codecs.pgoutputDecode(input.buf, input.offsets, input.lsns, 2, state);
    const col = parsed.changes[0].newTuples.columns[0];
    if (Buffer.from(col.data).toString() !== String(seed) || state.relations.get(rel.oid).name !== 'w' + k) failures.push('pgoutput seed ' + seed);
  }
  parentPort.postMessage({ status: nativeStatus, impl: codecs.impl, rows, failures });
})().catch((e) => parentPort.postMessage({ error: String(e && e.stack || e) }));
`;

interface WorkerReport {
  status?: { impl: string; reason: string };
  impl?: string;
  rows?: number;
  failures?: string[];
  error?: string;
}

function runWorker(seed: number, rounds: number): { worker: Worker; report: Promise<WorkerReport> } {
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      tsxApi: tsxApiUrl(),
      index: here('./index.ts'),
      load: here('./load.ts'),
      copyFixture: here('./testing/copy-fixture.ts'),
      pgoutputFixture: here('./testing/pgoutput-fixture.ts'),
      codecApi: here('./codec-api.ts'),
      seed,
      rounds,
    },
  });
  const report = new Promise<WorkerReport>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker exited with code ${code} before reporting`)));
  });
  return { worker, report };
}

describe.skipIf(!load.ok)('native addon in worker threads', () => {
  it('loads in two workers at once, next to the main thread, and round-trips data in each', async () => {
    // The main thread holds its own instance while the workers load theirs.
    const main = nativeCodecs(load.ok ? load.addon : (undefined as never));
    const batch = randomBatch(99, randomCodecs(99, 4), 50);
    expect(main.copyEncodedLength(batch)).toBeGreaterThan(0);

    const runs = [runWorker(1000, 20), runWorker(2000, 20)];
    try {
      const reports = await Promise.all(runs.map((r) => r.report));
      for (const report of reports) {
        expect(report.error).toBeUndefined();
        expect(report.failures).toEqual([]);
        expect(report.rows).toBe(20 * 200);
        expect(report.impl).toBe('native');
        // index.ts chooses in each thread too: TypeScript only under RB_NATIVE=0.
        expect(report.status?.impl).toBe(process.env.RB_NATIVE === '0' ? 'ts' : 'native');
      }
    } finally {
      await Promise.all(runs.map((r) => r.worker.terminate()));
    }

    // A worker started after others were torn down registers the module afresh.
    const again = runWorker(3000, 3);
    try {
      const report = await again.report;
      expect(report.error).toBeUndefined();
      expect(report.failures).toEqual([]);
    } finally {
      await again.worker.terminate();
    }
    expect(main.copyEncodedLength(batch)).toBeGreaterThan(0);
  });
});
