/**
 * The Rust addon against the TypeScript reference, function by function: the same bytes for
 * encode, identical batches for decode, identical scan / de-frame / placeholder / pgoutput output,
 * and the same CodecError (message and offset) on malformed input. Seeded, so a failure names its
 * seed; `native/testing/fuzz-native.ts` runs the same checks for as long as one likes.
 *
 * The native half runs whenever the addon is built (CI builds it), whatever RB_NATIVE says: these
 * tests load it directly. Only an unbuilt addon skips them.
 */
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ColumnBatch } from './batch.js';
import { CodecError, newPgoutputState, type Codecs } from './codec-api.js';
import { codecs as chosenCodecs, nativeStatus } from './index.js';
import { loadAddon, nativeCodecs } from './load.js';
import { batchDifference, batchToWireRows, buildCopyBinary, buildCopyTuples, prng, randomBatch, randomCodecs } from './testing/copy-fixture.js';
import {
  attempt,
  canonical,
  compareImpls,
  decodeInCalls,
  frameCopyData,
  int,
  mutate,
  outcomeDifference,
  randomBytes,
  randomCopyStream,
  randomCuts,
  randomPgoutputMessages,
} from './testing/parity-cases.js';
import { FIXTURES_DIR, loadCaptures, pgo, pgoutputInput } from './testing/pgoutput-fixture.js';
import { tsCodecs } from './ts/index.js';

const load = loadAddon();
const nativeAvailable = load.ok;
const native: Codecs = load.ok ? nativeCodecs(load.addon) : tsCodecs;

describe('codec selection (native/index.ts)', () => {
  it('uses TypeScript under RB_NATIVE=0, else the addon when it is built', () => {
    if (process.env.RB_NATIVE === '0') {
      expect(nativeStatus).toEqual({ impl: 'ts', reason: 'RB_NATIVE=0' });
      expect(chosenCodecs).toBe(tsCodecs);
    } else if (load.ok) {
      expect(nativeStatus.impl).toBe('native');
      expect(nativeStatus.reason).toMatch(/^addon \d+\.\d+\.\d+ loaded from native\/rb-native\..+\.node$/);
      expect(chosenCodecs.impl).toBe('native');
    } else {
      expect(nativeStatus).toEqual({ impl: 'ts', reason: load.reason });
    }
  });
});

/** Encodes into a larger, pre-filled buffer at `pad` (bytes around the tuples must not change). */
function encodeWith(c: Codecs, batch: ColumnBatch, pad: number): Uint8Array {
  const n = c.copyEncodedLength(batch);
  const out = new Uint8Array(pad + n + 5).fill(0xaa);
  expect(c.copyEncodeInto(batch, out, pad)).toBe(n);
  return out;
}

const tuplesOf = (encoded: Uint8Array): Uint8Array => encoded.subarray(0, encoded.length - 5);

describe.skipIf(!nativeAvailable)('native COPY codecs = TypeScript', () => {
  it('encodes 700 random batches to the same bytes and decodes them to the same batches', () => {
    for (let seed = 1; seed <= 700; seed++) {
      const rnd = prng(seed);
      const codecs = randomCodecs(seed, int(rnd, 0, 12));
      const rows = seed % 10 === 0 ? 0 : int(rnd, 1, seed % 7 === 0 ? 600 : 60);
      const batch = randomBatch(seed, codecs, rows);
      const pad = int(rnd, 0, 9);
      const a = encodeWith(tsCodecs, batch, pad);
      const b = encodeWith(native, batch, pad);
      expect(Buffer.from(b).equals(Buffer.from(a)), `encode seed ${seed}`).toBe(true);

      const tuples = tuplesOf(a);
      const ta = tsCodecs.copyDecode(tuples, pad, codecs);
      const na = native.copyDecode(tuples, pad, codecs);
      expect([na.rows, na.end, na.done], `decode seed ${seed}`).toEqual([rows, tuples.length, false]);
      expect([ta.rows, ta.end, ta.done], `decode seed ${seed}`).toEqual([rows, tuples.length, false]);
      expect(batchDifference(na.batch, ta.batch), `decode seed ${seed}`).toBeNull();
      expect(batchDifference(na.batch, batch), `round trip seed ${seed}`).toBeNull();
      expect(native.copyScan(tuples, pad, codecs.length), `scan seed ${seed}`).toEqual(tsCodecs.copyScan(tuples, pad, codecs.length));
    }
  });

  it('gives identical results on streams cut at every kind of point, with maxRows', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rnd = prng(seed * 31);
      const { codecs, bytes } = randomCopyStream(seed);
      const header = tsCodecs.copyHeaderLength(bytes, 0);
      expect(native.copyHeaderLength(bytes, 0)).toBe(header);
      for (let k = 0; k < 6; k++) {
        const cut = int(rnd, 0, bytes.length);
        const chunk = bytes.subarray(0, cut);
        expect(compareImpls(tsCodecs, native, (c) => c.copyHeaderLength(chunk, 0)), `header seed ${seed} cut ${cut}`).toBeNull();
        if (header < 0 || cut < header) continue;
        const maxRows = rnd() < 0.3 ? int(rnd, 0, 5) : undefined;
        const fieldCount = rnd() < 0.5 ? -1 : codecs.length;
        expect(compareImpls(tsCodecs, native, (c) => c.copyScan(chunk, header, fieldCount)), `scan seed ${seed} cut ${cut}`).toBeNull();
        expect(compareImpls(tsCodecs, native, (c) => c.copyDecode(chunk, header, codecs, maxRows)), `decode seed ${seed} cut ${cut}`).toBeNull();
      }
    }
  });

  it('handles huge values, empty batches and zero columns alike', () => {
    const huge = new Uint8Array(3 << 20).map((_, i) => (i * 7) & 0xff);
    const rows = [[huge, null, new Uint8Array(0)], [new Uint8Array(1), huge.subarray(5), null]];
    const bytes = buildCopyBinary(rows);
    const codecs = [{ kind: 'var' }, { kind: 'var' }, { kind: 'var' }] as const;
    const a = tsCodecs.copyDecode(bytes, 19, codecs);
    const b = native.copyDecode(bytes, 19, codecs);
    expect([b.rows, b.end, b.done]).toEqual([2, bytes.length, true]);
    expect(batchDifference(b.batch, a.batch)).toBeNull();
    const encoded = tuplesOf(encodeWith(native, b.batch, 0));
    expect(Buffer.from(encoded).equals(Buffer.from(tuplesOf(encodeWith(tsCodecs, a.batch, 0))))).toBe(true);
    expect(Buffer.from(encoded).equals(bytes.subarray(19, bytes.length - 2))).toBe(true);

    const empty = randomBatch(1, randomCodecs(1, 5), 0);
    expect(native.copyEncodedLength(empty)).toBe(0);
    const zeroCols = buildCopyTuples([[], [], []]);
    expect(native.copyDecode(zeroCols, 0, [])).toEqual(tsCodecs.copyDecode(zeroCols, 0, []));
    expect(native.copyScan(zeroCols, 0, 0)).toEqual({ rows: 3, end: 6, done: false });
  });

  it('rejects malformed batches and bad arguments with the same CodecError', () => {
    const good = randomBatch(3, [{ kind: 'var' }, { kind: 'fixed', width: 4, swap: true }], 10);
    const shortNulls: ColumnBatch = { rowCount: 10, columns: [{ ...good.columns[0], nulls: new Uint8Array(3) }, good.columns[1]] };
    const badRange: ColumnBatch = { rowCount: 10, columns: [{ kind: 'var', offsets: new Int32Array(11).fill(5), data: new Uint8Array(2), nulls: new Uint8Array(10) }, good.columns[1]] };
    const shortValues: ColumnBatch = { rowCount: 10, columns: [good.columns[0], { kind: 'fixed', width: 4, swap: true, values: new Uint8Array(8), nulls: new Uint8Array(10) }] };
    const badRows: ColumnBatch = { rowCount: -1, columns: [] };
    for (const batch of [shortNulls, badRange, shortValues, badRows]) {
      expect(compareImpls(tsCodecs, native, (c) => c.copyEncodedLength(batch))).toBeNull();
      expect(compareImpls(tsCodecs, native, (c) => c.copyEncodeInto(batch, new Uint8Array(4096), 0))).toBeNull();
    }
    expect(compareImpls(tsCodecs, native, (c) => c.copyEncodeInto(good, new Uint8Array(10), 0))).toBeNull();
    expect(compareImpls(tsCodecs, native, (c) => c.copyEncodeInto(good, new Uint8Array(10), 11))).toBeNull();
    expect(compareImpls(tsCodecs, native, (c) => c.copyScan(new Uint8Array(4), 5, -1))).toBeNull();
    expect(compareImpls(tsCodecs, native, (c) => c.copyDecode(new Uint8Array(4), 0, [], -1))).toBeNull();
    const err = attempt(() => native.copyHeaderLength(Buffer.from('PGCOPY\nX'), 0));
    expect(err.ok).toBe(false);
    expect((err as { error: unknown }).error).toBeInstanceOf(CodecError);
    expect((err as { error: CodecError }).error).toMatchObject({ code: 'codec', offset: 7 });
  });
});

describe.skipIf(!nativeAvailable)('native CopyData de-framing = TypeScript', () => {
  it('de-frames random message streams cut at random points into the same bytes', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const rnd = prng(seed * 13);
      const payloads = Array.from({ length: int(rnd, 0, 30) }, () => randomBytes(rnd, rnd() < 0.02 ? int(rnd, 1000, 70000) : int(rnd, 0, 60)));
      const stream = frameCopyData(payloads, rnd() < 0.5 ? Buffer.from([0x63, 0, 0, 0, 4, 0x43]) : new Uint8Array(0));
      const cuts = randomCuts(rnd, stream.length, int(rnd, 0, 12));
      const outs: Uint8Array[] = [];
      for (const c of [tsCodecs, native]) {
        const out = new Uint8Array(stream.length + 8);
        let pending: Uint8Array = new Uint8Array(0);
        let written = 0;
        let pos = 0;
        const results: unknown[] = [];
        for (const next of [...cuts, stream.length]) {
          const chunk = Buffer.concat([pending, stream.subarray(pos, next)]);
          pos = next;
          const r = c.deframeCopyData(chunk, 0, out, written);
          results.push(r);
          written += r.written;
          pending = chunk.subarray(r.consumed);
          if (r.stop) break;
        }
        outs.push(out.subarray(0, written));
        outs.push(Buffer.from(JSON.stringify(results)));
      }
      expect(Buffer.from(outs[2]).equals(Buffer.from(outs[0])), `seed ${seed}`).toBe(true);
      expect(outs[3].toString(), `seed ${seed}`).toBe(outs[1].toString());
      // Every payload arrives, in order, whatever the cuts.
      expect(Buffer.from(outs[0]).equals(Buffer.concat(payloads.map((p) => Buffer.from(p)))), `seed ${seed}`).toBe(true);
    }
  });

  it('compacts a buffer in place (output aliasing the input) like the TypeScript version', () => {
    const payloads = Array.from({ length: 50 }, (_, i) => new Uint8Array(i * 3).fill(i));
    const stream = frameCopyData(payloads, Buffer.from('C'));
    const a = Buffer.from(stream);
    const b = Buffer.from(stream);
    const ra = tsCodecs.deframeCopyData(a, 0, a, 0);
    const rb = native.deframeCopyData(b, 0, b, 0);
    expect(rb).toEqual(ra);
    expect(rb.stop).toBe(true);
    expect(b.equals(a)).toBe(true);
  });

  it('rejects bad lengths, small outputs and bad offsets alike', () => {
    const bad = Buffer.from([0x64, 0, 0, 0, 3, 1, 2]);
    const good = frameCopyData([new Uint8Array(10)]);
    expect(compareImpls(tsCodecs, native, (c) => c.deframeCopyData(bad, 0, new Uint8Array(10), 0))).toBeNull();
    expect(compareImpls(tsCodecs, native, (c) => c.deframeCopyData(good, 0, new Uint8Array(5), 0))).toBeNull();
    expect(compareImpls(tsCodecs, native, (c) => c.deframeCopyData(good, 99, new Uint8Array(50), 0))).toBeNull();
    expect(compareImpls(tsCodecs, native, (c) => c.deframeCopyData(good, 0, new Uint8Array(50), 51))).toBeNull();
  });
});

describe.skipIf(!nativeAvailable)('native placeholders = TypeScript', () => {
  it('builds the same text for random shapes, the 65,535-parameter edge and bad counts', () => {
    const rnd = prng(7);
    const shapes: Array<[number, number, number | undefined]> = [
      [0, 3, undefined],
      [3, 0, undefined],
      [1, 1, 1],
      [21845, 3, undefined],
      [65535, 1, undefined],
      [2, 2, 65535],
      [10, 7, 1_000_000],
    ];
    for (let i = 0; i < 200; i++) shapes.push([int(rnd, 0, 60), int(rnd, 0, 12), rnd() < 0.5 ? undefined : int(rnd, 1, 100000)]);
    for (const [rows, cols, first] of shapes) {
      expect(native.placeholders(rows, cols, first), `${rows}x${cols} from ${first}`).toBe(tsCodecs.placeholders(rows, cols, first));
    }
    for (const [rows, cols, first] of [[-1, 2, 1], [1.5, 2, 1], [1, -2, 1], [1, 2, 0], [1, 2, 0.5], [Number.NaN, 1, 1]]) {
      expect(compareImpls(tsCodecs, native, (c) => c.placeholders(rows, cols, first))).toBeNull();
    }
  });

  it('chunks the same way', () => {
    const rnd = prng(8);
    const cases: Array<[number, number, number | undefined]> = [[0, 3, undefined], [5, 0, undefined], [100000, 3, undefined], [10, 70000, undefined], [7, 2, 3], [1, 1, 0], [-1, 2, 10]];
    for (let i = 0; i < 200; i++) cases.push([int(rnd, 0, 20000), int(rnd, 0, 2000), rnd() < 0.5 ? undefined : int(rnd, 50, 70000)]);
    for (const [rows, cols, max] of cases) {
      expect(compareImpls(tsCodecs, native, (c) => c.insertChunks(rows, cols, max)), `${rows} ${cols} ${max}`).toBeNull();
    }
  });
});

describe.skipIf(!nativeAvailable)('native pgoutput = TypeScript', () => {
  const captures = existsSync(FIXTURES_DIR) && readdirSync(FIXTURES_DIR).some((f) => f.startsWith('pgoutput-')) ? loadCaptures() : [];

  it.runIf(captures.length > 0)('decodes the captured server streams identically', () => {
    for (const { file, capture, input } of captures) {
      const sa = newPgoutputState();
      const sb = newPgoutputState();
      const a = tsCodecs.pgoutputDecode(input.buf, input.offsets, input.lsns, capture.protoVersion, sa);
      const b = native.pgoutputDecode(input.buf, input.offsets, input.lsns, capture.protoVersion, sb);
      expect(b, file).toEqual(a);
      expect(sb, file).toEqual(sa);
    }
  });

  it('decodes 150 random streams identically, in calls of random sizes', () => {
    for (let seed = 1; seed <= 150; seed++) {
      const rnd = prng(seed * 17);
      const messages = randomPgoutputMessages(seed, int(rnd, 1, 6));
      const cuts = randomCuts(rnd, messages.length, int(rnd, 0, 3));
      const a = attempt(() => decodeInCalls(tsCodecs, messages, cuts));
      const b = attempt(() => decodeInCalls(native, messages, cuts));
      expect(a.ok, `seed ${seed}`).toBe(true);
      expect(outcomeDifference(a, b), `seed ${seed}`).toBeNull();
    }
  });

  it('checks its arguments like the TypeScript parser', () => {
    const { buf, offsets, lsns } = pgoutputInput([pgo.begin(1n, 2n, 3), pgo.commit(1n, 2n, 3n)]);
    const calls: Array<(c: Codecs) => unknown> = [
      (c) => c.pgoutputDecode(buf, offsets, lsns, 5, newPgoutputState()),
      (c) => c.pgoutputDecode(buf, offsets, lsns, 1.5, newPgoutputState()),
      (c) => c.pgoutputDecode(buf, new Int32Array(0), lsns, 2, newPgoutputState()),
      (c) => c.pgoutputDecode(buf, offsets, new BigInt64Array(1), 2, newPgoutputState()),
      (c) => c.pgoutputDecode(buf, Int32Array.from([0, 5, 5]), lsns, 2, newPgoutputState()),
      (c) => c.pgoutputDecode(buf, Int32Array.from([0, 30, 999]), lsns, 2, newPgoutputState()),
      (c) => c.pgoutputDecode(buf, Int32Array.from([0]), new BigInt64Array(0), 1, newPgoutputState()),
    ];
    for (const call of calls) expect(compareImpls(tsCodecs, native, call)).toBeNull();
  });

  it('leaves the same relation cache and stream state when a batch fails halfway', () => {
    const rel = { oid: 42, namespace: 'public', name: 't', columns: [{ name: 'a', typeOid: 23 }] };
    const messages = [pgo.streamStart(9, true), pgo.relation(rel, 9), Buffer.from([0x49, 0, 0, 0, 9, 0, 0, 0, 42, 0x4e, 0, 1, 0x74, 0, 0, 0, 9])];
    const { buf, offsets, lsns } = pgoutputInput(messages);
    const sa = newPgoutputState();
    const sb = newPgoutputState();
    const a = attempt(() => tsCodecs.pgoutputDecode(buf, offsets, lsns, 2, sa));
    const b = attempt(() => native.pgoutputDecode(buf, offsets, lsns, 2, sb));
    expect(a.ok).toBe(false);
    expect(outcomeDifference(a, b)).toBeNull();
    expect(sb).toEqual(sa);
    expect(sb.inStream).toBe(true);
    expect(sb.relations.get(42)?.name).toBe('t');
  });
});

describe.skipIf(!nativeAvailable)('native decoders on random and mutated bytes (bounded fuzz)', () => {
  it('COPY header, scan and decode: same result or same CodecError, never a crash', () => {
    for (let seed = 1; seed <= 1000; seed++) {
      const rnd = prng(seed * 101);
      const { codecs, bytes } = randomCopyStream(seed, 12, 5);
      const input = rnd() < 0.15 ? randomBytes(rnd, int(rnd, 0, 80)) : mutate(rnd, bytes);
      const start = rnd() < 0.7 ? 19 : int(rnd, 0, input.length + 2);
      const fieldCount = rnd() < 0.5 ? -1 : codecs.length;
      const maxRows = rnd() < 0.2 ? int(rnd, 0, 3) : undefined;
      const where = `seed ${seed}`;
      expect(compareImpls(tsCodecs, native, (c) => c.copyHeaderLength(input, 0)), where).toBeNull();
      expect(compareImpls(tsCodecs, native, (c) => c.copyScan(input, start, fieldCount)), where).toBeNull();
      expect(compareImpls(tsCodecs, native, (c) => c.copyDecode(input, start, codecs, maxRows)), where).toBeNull();
    }
  });

  it('CopyData de-framing: same result or same CodecError', () => {
    for (let seed = 1; seed <= 1500; seed++) {
      const rnd = prng(seed * 103);
      const base = frameCopyData(Array.from({ length: int(rnd, 0, 6) }, () => randomBytes(rnd, int(rnd, 0, 12))));
      const input = rnd() < 0.3 ? randomBytes(rnd, int(rnd, 0, 40)).map((b) => (rnd() < 0.3 ? 0x64 : b)) : mutate(rnd, base);
      const outLen = int(rnd, 0, input.length + 4);
      expect(compareImpls(tsCodecs, native, (c) => c.deframeCopyData(input, 0, new Uint8Array(outLen), 0)), `seed ${seed}`).toBeNull();
    }
  });

  it('pgoutput: same events, change sets, state, or the same CodecError', () => {
    for (let seed = 1; seed <= 700; seed++) {
      const rnd = prng(seed * 107);
      const messages = randomPgoutputMessages(seed, int(rnd, 1, 3));
      const k = int(rnd, 0, messages.length - 1);
      const mutated = messages.map((m, i) => (i === k ? mutate(rnd, m) : m)).filter((m) => m.length > 0);
      if (rnd() < 0.1) mutated.push(randomBytes(rnd, int(rnd, 1, 30)));
      const { buf, offsets, lsns } = pgoutputInput(mutated);
      const proto = int(rnd, 1, 4);
      const sa = newPgoutputState();
      const sb = newPgoutputState();
      sa.inStream = sb.inStream = rnd() < 0.2;
      const a = attempt(() => tsCodecs.pgoutputDecode(buf, offsets, lsns, proto, sa));
      const b = attempt(() => native.pgoutputDecode(buf, offsets, lsns, proto, sb));
      expect(outcomeDifference(a, b), `seed ${seed}`).toBeNull();
      expect(canonical(sb), `seed ${seed}`).toBe(canonical(sa));
    }
  });

  it('survives hostile arguments without crashing the process', () => {
    const addon = load.ok ? load.addon : null;
    if (!addon) return;
    const scratch = new Float64Array(8);
    const hostile: Array<() => unknown> = [
      () => addon.copyScan(new Uint8Array(4), Number.NaN, -1, scratch),
      () => addon.copyScan(new Uint8Array(4), 0, -1, new Float64Array(1)),
      () => addon.copyDecode(new Uint8Array(4), 0, Int32Array.from([3]), -1, scratch),
      () => addon.copyEncodedLength(1, Int32Array.from([0]), [new Uint8Array(1)]),
      () => addon.copyEncodedLength(1, Int32Array.from([0]), [new Uint8Array(1), new Uint8Array(1), new Uint8Array(1)] as never),
      () => addon.copyHeaderLength('PGCOPY' as never, 0),
      () => addon.deframeCopyData(new Uint8Array(8), 0, new Float64Array(2) as never, 0, scratch),
      () => addon.placeholders(1e9, 1e9, 1),
      () => addon.insertChunks(2 ** 52, 1, 1),
      () => (addon.pgoutputDecode as (...a: unknown[]) => unknown)(new Uint8Array(1), Int32Array.from([0, 1]), new BigInt64Array(1), 'yes', scratch),
    ];
    for (const call of hostile) {
      const r = attempt(call);
      expect(r.ok).toBe(false);
      expect((r as { error: { code?: string } }).error.code).toBe('codec');
    }
    // An encode whose output aliases the batch it reads is refused rather than corrupting it.
    const values = new Uint8Array(64);
    const batch = { rowCount: 2, columns: [{ kind: 'fixed' as const, width: 4 as const, swap: true, values, nulls: new Uint8Array(2) }] };
    expect(() => native.copyEncodeInto(batch, values, 16)).toThrow(CodecError);
  });
});
