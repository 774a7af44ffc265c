/**
 * rb's codecs: the native addon when it is built and loads, else the TypeScript fallback; both
 * give identical bytes (DESIGN section 6). `RB_NATIVE=0` forces TypeScript. `nativeStatus` says
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

function choose(): { codecs: Codecs; status: NativeStatus } {
  if (process.env.RB_NATIVE === '0') return { codecs: tsCodecs, status: { impl: 'ts', reason: 'RB_NATIVE=0' } };
  const load = loadAddon();
  if (!load.ok) return { codecs: tsCodecs, status: { impl: 'ts', reason: load.reason } };
  const rel = `native/${load.file.split(/[\\/]/).pop()}`;
  return { codecs: nativeCodecs(load.addon), status: { impl: 'native', reason: `addon ${load.addon.version} loaded from ${rel}` } };
}

const chosen = choose();

export const codecs: Codecs = chosen.codecs;
export const nativeStatus: NativeStatus = chosen.status;
export { tsCodecs };
export type { Codecs } from './codec-api.js';
