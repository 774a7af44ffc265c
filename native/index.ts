/**
 * rb's codecs: the native addon when it is built and loads, else the TypeScript fallback; both
 * give identical bytes (docs/design.md section 6). `RB_NATIVE=0` forces TypeScript. `nativeStatus` says
 * which is in use and why, for `rb --version` and bench reports.
 *
 * @example
 *   import { codecs, nativeStatus } from '../native/index.js';
 *   const n = codecs.copyEncodeInto(batch, out, 0);
 *   console.log(nativeStatus.impl, nativeStatus.reason);
 */
import type { Codecs } from './codec-api.js';
import { loadAddon, nativeCodecs } from './load.js';
import { tsCodecs } from './ts/index.js';

export interface NativeStatus {
  impl: 'native' | 'ts';
  reason: string;
}

function choose(): { codecs: Codecs; raw: Codecs | null; status: NativeStatus } {
  if (process.env.RB_NATIVE === '0') return { codecs: tsCodecs, raw: null, status: { impl: 'ts', reason: 'RB_NATIVE=0' } };
  const load = loadAddon();
  if (!load.ok) return { codecs: tsCodecs, raw: null, status: { impl: 'ts', reason: load.reason } };
  const rel = `native/${load.file.split(/[\\/]/).pop()}`;
  const raw = nativeCodecs(load.addon);
  return { codecs: withSmallInputFallback(raw), raw, status: { impl: 'native', reason: `addon ${load.addon.version} loaded from ${rel}` } };
}

/**
 * Below these sizes a native call's fixed cost (resolving typed arrays through Node-API, the
 * result buffer) exceeds the work, and the TypeScript codec is faster: measured by
 * `bench/codecs/crossover.ts` (copy encode < ~50 rows 0.2-0.6x, one-row decode 0.45x,
 * one-message pgoutput 0.6x). Both give identical results, so each call takes the faster one.
 */
export const NATIVE_MIN_ENCODE_ROWS = 50;
export const NATIVE_MIN_DECODE_BYTES = 512;
export const NATIVE_MIN_PGOUTPUT_MESSAGES = 4;

export function withSmallInputFallback(native: Codecs): Codecs {
  return {
    ...native,
    impl: 'native',
    copyEncodedLength: (batch) => (batch.rowCount < NATIVE_MIN_ENCODE_ROWS ? tsCodecs : native).copyEncodedLength(batch),
    copyEncodeInto: (batch, out, offset) => (batch.rowCount < NATIVE_MIN_ENCODE_ROWS ? tsCodecs : native).copyEncodeInto(batch, out, offset),
    copyDecode: (buf, offset, codecs, maxRows) => (buf.length - offset < NATIVE_MIN_DECODE_BYTES ? tsCodecs : native).copyDecode(buf, offset, codecs, maxRows),
    pgoutputDecode: (buf, offsets, lsns, proto, state) =>
      (offsets.length - 1 < NATIVE_MIN_PGOUTPUT_MESSAGES ? tsCodecs : native).pgoutputDecode(buf, offsets, lsns, proto, state),
  };
}

const chosen = choose();

export const codecs: Codecs = chosen.codecs;
export const nativeStatus: NativeStatus = chosen.status;
/** The addon without the small-input fallback (for benchmarks that measure native itself). */
export const rawNativeCodecs: Codecs | null = chosen.raw;
export { tsCodecs };
export type { Codecs } from './codec-api.js';
