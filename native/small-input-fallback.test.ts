/**
 * The engine's codecs route inputs below the measured crossover to TypeScript and the rest to
 * native; results are the same either way.
 */
import { describe, expect, it } from 'vitest';
import type { Codecs } from './codec-api.js';
import { NATIVE_MIN_ENCODE_ROWS, NATIVE_MIN_PGOUTPUT_MESSAGES, tsCodecs, withSmallInputFallback } from './index.js';
import { randomBatch, randomCodecs } from './testing/copy-fixture.js';

function recordingNative(): { codecs: Codecs; calls: string[] } {
  const calls: string[] = [];
  const wrap = <K extends keyof Codecs>(k: K) =>
    ((...args: unknown[]) => {
      calls.push(String(k));
      return (tsCodecs[k] as (...a: unknown[]) => unknown)(...args);
    }) as Codecs[K];
  const codecs = { ...tsCodecs, impl: 'native' as const, copyEncodedLength: wrap('copyEncodedLength'), copyEncodeInto: wrap('copyEncodeInto'), pgoutputDecode: wrap('pgoutputDecode') };
  return { codecs, calls };
}

describe('small-input fallback', () => {
  it('encodes small batches with TypeScript and large ones natively, same bytes', () => {
    const { codecs: native, calls } = recordingNative();
    const routed = withSmallInputFallback(native);
    const kinds = randomCodecs(7, 5);
    for (const rows of [1, NATIVE_MIN_ENCODE_ROWS - 1, NATIVE_MIN_ENCODE_ROWS, 500]) {
      calls.length = 0;
      const batch = randomBatch(rows, kinds, rows);
      const n = routed.copyEncodedLength(batch);
      const out = new Uint8Array(n);
      expect(routed.copyEncodeInto(batch, out, 0)).toBe(n);
      const ref = new Uint8Array(tsCodecs.copyEncodedLength(batch));
      tsCodecs.copyEncodeInto(batch, ref, 0);
      expect(Buffer.from(out).equals(Buffer.from(ref))).toBe(true);
      expect(calls.length).toBe(rows < NATIVE_MIN_ENCODE_ROWS ? 0 : 2);
    }
  });

  it('parses fewer than the threshold pgoutput messages with TypeScript', () => {
    const { codecs: native, calls } = recordingNative();
    const routed = withSmallInputFallback(native);
    const state = { relations: new Map(), inStream: false };
    routed.pgoutputDecode(new Uint8Array(0), new Int32Array([0]), new BigInt64Array(0), 1, state);
    expect(calls).toEqual([]);
    expect(NATIVE_MIN_PGOUTPUT_MESSAGES).toBeGreaterThan(1);
  });
});
