/**
 * Standalone entry of the codec micro-benchmarks (`rb bench --profile codecs` runs the same
 * `runCodecBench`):
 *
 *   npx tsx bench/codecs/main.ts [--json] [--time ms] [--iterations n] [--repeat n] [--clock wall|cpu]
 *                                  [--only copy-encode,pgoutput]
 *
 * Exit codes: 0 ok, 2 bad arguments, 1 anything else (outputs that differ between implementations
 * included).
 */
import { parseArgs } from 'node:util';
import { isRbError } from '../../engine/errors.js';
import { runCodecBench, type CodecClock } from './run-codecs.js';

function num(v: string | undefined): number | undefined {
  return v === undefined ? undefined : Number(v);
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        json: { type: 'boolean', default: false },
        time: { type: 'string' },
        iterations: { type: 'string' },
        repeat: { type: 'string' },
        only: { type: 'string', multiple: true },
        clock: { type: 'string' },
      },
    }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  await runCodecBench({ json: values.json ?? false, time: num(values.time), iterations: num(values.iterations), repeat: num(values.repeat), only: values.only, clock: values.clock as CodecClock | undefined });
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = isRbError(e) ? e.exitCode : 1;
  },
);
