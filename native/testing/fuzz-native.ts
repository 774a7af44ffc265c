/**
 * Long fuzz run of the native codecs against the TypeScript reference, by hand:
 *
 *   npx tsx native/testing/fuzz-native.ts --seconds 60 [--seed 1]
 *
 * Feeds random and mutated inputs to every decoder (COPY header/scan/decode, CopyData
 * de-framing, pgoutput) and round-trips random batches through both encoders. Each case must give
 * the same result from both implementations or the same CodecError; a process crash is the other
 * failure this looks for. Prints the first failing case (seed and check) and exits 1.
 */
import { newPgoutputState, type Codecs } from '../codec-api.js';
import { loadAddon, nativeCodecs } from '../load.js';
import { tsCodecs } from '../ts/index.js';
import { prng, randomBatch, randomCodecs } from './copy-fixture.js';
import { attempt, canonical, compareImpls, frameCopyData, int, mutate, outcomeDifference, randomBytes, randomCopyStream, randomPgoutputMessages } from './parity-cases.js';
import { pgoutputInput } from './pgoutput-fixture.js';

interface Options {
  seconds: number;
  seed: number;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { seconds: 60, seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = Number(argv[i + 1]);
    if (a === '--seconds' && Number.isFinite(v) && v > 0) (opts.seconds = v), i++;
    else if (a === '--seed' && Number.isInteger(v)) (opts.seed = v), i++;
    else throw new Error(`fuzz-native: unknown or invalid argument ${a} (use --seconds N --seed N)`);
  }
  return opts;
}

type Check = (seed: number, native: Codecs) => string | null;

const checks: Record<string, Check> = {
  copyRoundTrip(seed, native) {
    const rnd = prng(seed);
    const codecs = randomCodecs(seed, int(rnd, 0, 16));
    const batch = randomBatch(seed, codecs, int(rnd, 0, 300));
    const diff = compareImpls(tsCodecs, native, (c) => {
      const out = new Uint8Array(c.copyEncodedLength(batch));
      c.copyEncodeInto(batch, out, 0);
      return { out, decoded: c.copyDecode(out, 0, codecs) };
    });
    return diff;
  },

  copyMutated(seed, native) {
    const rnd = prng(seed * 101);
    const { codecs, bytes } = randomCopyStream(seed, 16, 8);
    const input = rnd() < 0.15 ? randomBytes(rnd, int(rnd, 0, 120)) : mutate(rnd, bytes);
    const start = rnd() < 0.7 ? Math.min(19, input.length) : int(rnd, 0, input.length + 2);
    const fieldCount = rnd() < 0.5 ? -1 : codecs.length;
    const maxRows = rnd() < 0.2 ? int(rnd, 0, 4) : undefined;
    return (
      compareImpls(tsCodecs, native, (c) => c.copyHeaderLength(input, 0)) ??
      compareImpls(tsCodecs, native, (c) => c.copyScan(input, start, fieldCount)) ??
      compareImpls(tsCodecs, native, (c) => c.copyDecode(input, start, codecs, maxRows))
    );
  },

  deframeMutated(seed, native) {
    const rnd = prng(seed * 103);
    const base = frameCopyData(Array.from({ length: int(rnd, 0, 8) }, () => randomBytes(rnd, int(rnd, 0, 20))));
    const input = rnd() < 0.3 ? randomBytes(rnd, int(rnd, 0, 60)).map((b) => (rnd() < 0.3 ? 0x64 : b)) : mutate(rnd, base);
    const offset = rnd() < 0.8 ? 0 : int(rnd, 0, input.length + 1);
    const outLen = int(rnd, 0, input.length + 4);
    const outOffset = rnd() < 0.8 ? 0 : int(rnd, 0, outLen + 1);
    return compareImpls(tsCodecs, native, (c) => c.deframeCopyData(input, offset, new Uint8Array(outLen), outOffset));
  },

  pgoutputMutated(seed, native) {
    const rnd = prng(seed * 107);
    const messages = randomPgoutputMessages(seed, int(rnd, 1, 4));
    const edits = int(rnd, 1, 2);
    let mutated = messages as Uint8Array[];
    for (let e = 0; e < edits; e++) {
      const k = int(rnd, 0, mutated.length - 1);
      mutated = mutated.map((m, i) => (i === k ? mutate(rnd, m) : m)).filter((m) => m.length > 0);
      if (mutated.length === 0) break;
    }
    if (rnd() < 0.1) mutated.push(randomBytes(rnd, int(rnd, 1, 40)));
    const { buf, offsets, lsns } = pgoutputInput(mutated);
    const proto = int(rnd, 1, 4);
    const inStream = rnd() < 0.2;
    const sa = newPgoutputState();
    const sb = newPgoutputState();
    sa.inStream = sb.inStream = inStream;
    const diff = outcomeDifference(
      attempt(() => tsCodecs.pgoutputDecode(buf, offsets, lsns, proto, sa)),
      attempt(() => native.pgoutputDecode(buf, offsets, lsns, proto, sb)),
    );
    return diff ?? (canonical(sa) === canonical(sb) ? null : 'parser state differs after the call');
  },

  /** Many cheap random inputs to the addon alone: only "returns or throws a CodecError". */
  nativeRandomBytes(seed, native) {
    const rnd = prng(seed * 109);
    for (let k = 0; k < 50; k++) {
      const input = randomBytes(rnd, int(rnd, 0, 200));
      const codecs = randomCodecs(seed + k, int(rnd, 0, 6));
      const offsets = Int32Array.from([0, ...randomBytes(rnd, int(rnd, 0, 6)).map((b) => Math.min(b, input.length))].sort((a, b) => a - b));
      const calls: Array<() => unknown> = [
        () => native.copyHeaderLength(input, int(rnd, 0, input.length)),
        () => native.copyScan(input, int(rnd, 0, input.length), int(rnd, -1, 4)),
        () => native.copyDecode(input, int(rnd, 0, input.length), codecs),
        () => native.deframeCopyData(input, 0, new Uint8Array(int(rnd, 0, 300)), 0),
        () => native.pgoutputDecode(input, offsets, new BigInt64Array(offsets.length), int(rnd, 1, 4), newPgoutputState()),
      ];
      for (const call of calls) {
        const r = attempt(call);
        if (!r.ok && (r.error as { code?: string })?.code !== 'codec') return `non-codec error: ${String(r.error)}`;
      }
    }
    return null;
  },
};

function main(): number {
  const opts = parseArgs(process.argv.slice(2));
  const load = loadAddon();
  if (!load.ok) {
    console.error(`fuzz-native: ${load.reason}`);
    return 2;
  }
  const native = nativeCodecs(load.addon);
  const deadline = Date.now() + opts.seconds * 1000;
  const counts: Record<string, number> = Object.fromEntries(Object.keys(checks).map((k) => [k, 0]));
  let seed = opts.seed;
  let lastReport = Date.now();
  while (Date.now() < deadline) {
    for (const [name, check] of Object.entries(checks)) {
      const diff = check(seed, native);
      counts[name]++;
      if (diff !== null) {
        console.error(`fuzz-native: ${name} failed at seed ${seed}: ${diff}`);
        console.error(`reproduce: npx tsx native/testing/fuzz-native.ts --seconds 1 --seed ${seed}`);
        return 1;
      }
    }
    seed++;
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      console.log(`fuzz-native: seed ${seed}, ${JSON.stringify(counts)}`);
    }
  }
  console.log(`fuzz-native: ok, ${seed - opts.seed} seeds in ${opts.seconds} s: ${JSON.stringify(counts)}`);
  return 0;
}

process.exitCode = main();
