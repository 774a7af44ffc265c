/**
 * Loads the Rust addon (`native/rb-native.<platform>.node`, built by `native/build.mjs`) and
 * adapts its flat, allocation-light calling convention to the `Codecs` interface.
 *
 * The boundary is shaped for speed: inputs cross as typed arrays (zero copy), small results come
 * back through a per-thread Float64Array scratch instead of native-made objects, and a decoded
 * batch is one buffer (allocated without zero-filling, every byte written natively) that this
 * file slices into typed-array views. The views share that buffer's ArrayBuffer: use
 * `byteOffset` with `.buffer`, as batch.ts already requires. Native errors (plain
 * Errors with `code = 'codec'` and an `offset`) are re-thrown as the shared `CodecError` class, so
 * callers see the same error type from both implementations.
 *
 * Each thread (main, every worker) loads its own instance: the addon registers through
 * `napi_register_module_v1`, which node treats as context-aware, and keeps no global state.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import path from 'node:path';
import { NATIVE_DIR } from './native-dir.js';
import type { Column, ColumnBatch, ColumnCodec } from './batch.js';
import { CodecError, MAX_QUERY_PARAMS, type Codecs, type CopyDecodeResult, type CopyScanResult, type DeframeResult } from './codec-api.js';
import { adaptPgoutput, type NativePgoutput } from './load-pgoutput.js';

/** The addon's exports; argument shapes are documented in `native/src/bind_*.rs`. */
export interface NativeAddon extends NativePgoutput {
  readonly version: string;
  readonly abiVersion: number;
  copyHeaderLength(buf: Uint8Array, offset: number): number;
  copyScan(buf: Uint8Array, offset: number, fieldCount: number, scratch: Float64Array): void;
  copyDecode(buf: Uint8Array, offset: number, codecs: Int32Array, maxRows: number, scratch: Float64Array): Uint8Array;
  copyEncodedLength(rowCount: number, codecs: Int32Array, cols: (Uint8Array | Int32Array | null)[]): number;
  copyEncodeInto(rowCount: number, codecs: Int32Array, cols: (Uint8Array | Int32Array | null)[], out: Uint8Array, offset: number): number;
  deframeCopyData(buf: Uint8Array, offset: number, out: Uint8Array, outOffset: number, scratch: Float64Array): void;
  placeholders(rows: number, cols: number, first: number): string;
  insertChunks(rows: number, cols: number, maxParams: number): Uint8Array;
}

export const ADDON_BASENAME = 'rb-native';
/** Layout version this file reads (`ABI_VERSION` in native/src/register.rs). */
export const ADDON_ABI_VERSION = 1;
// The addon is built next to the sources, in native/ (also when this module runs from dist/).
const here = NATIVE_DIR;

/** File names the build may produce on this machine, best match first (napi-rs naming). */
export function addonCandidates(dir: string = here): string[] {
  const { platform, arch } = process;
  const abis = platform === 'linux' ? ['gnu', 'musl'] : platform === 'win32' ? ['msvc', 'gnu'] : [];
  const names = [...abis.map((abi) => `${ADDON_BASENAME}.${platform}-${arch}-${abi}.node`), `${ADDON_BASENAME}.${platform}-${arch}.node`];
  return names.map((n) => path.join(dir, n));
}

export type AddonLoad = { ok: true; addon: NativeAddon; file: string } | { ok: false; reason: string };

/** Finds and `require`s the addon; never throws (a broken build falls back to TypeScript). */
export function loadAddon(dir: string = here): AddonLoad {
  // Results cross the boundary as typed-array views written in native byte order; the adapters
  // read 32-bit fields from the low word of 64-bit slots, which holds on little-endian only.
  if (endianness() !== 'LE') return { ok: false, reason: 'big-endian platform: the addon layout assumes little-endian' };
  const file = addonCandidates(dir).find((f) => existsSync(f));
  if (!file) return { ok: false, reason: 'addon not built (run `npm run build:native`)' };
  try {
    const require = createRequire(import.meta.url);
    const addon = require(file) as NativeAddon;
    if (addon.abiVersion !== ADDON_ABI_VERSION) {
      return { ok: false, reason: `addon at ${file} is stale (layout ${String(addon.abiVersion)}, expected ${ADDON_ABI_VERSION}); run \`npm run build:native\`` };
    }
    return { ok: true, addon, file };
  } catch (err) {
    return { ok: false, reason: `addon at ${file} failed to load: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** Turns a native `{ code: 'codec', offset }` Error into the shared CodecError class. */
export function rethrowNative(err: unknown): never {
  const e = err as { code?: unknown; message?: unknown; offset?: unknown } | null;
  if (e && e.code === 'codec') {
    throw new CodecError(String(e.message), typeof e.offset === 'number' ? e.offset : 0);
  }
  throw err;
}

/** Flattens a batch for the addon: packed codecs + three arrays per column (see bind_copy.rs). */
function packBatch(batch: ColumnBatch): { codecs: Int32Array; cols: (Uint8Array | Int32Array | null)[] } {
  const columns = batch.columns;
  const codecs = new Int32Array(columns.length);
  const cols: (Uint8Array | Int32Array | null)[] = new Array(columns.length * 3);
  for (let j = 0; j < columns.length; j++) {
    const c = columns[j];
    cols[3 * j] = c.nulls;
    if (c.kind === 'fixed') {
      codecs[j] = c.width | (c.swap ? 1 << 8 : 0);
      cols[3 * j + 1] = c.values;
      cols[3 * j + 2] = null;
    } else {
      cols[3 * j + 1] = c.offsets;
      cols[3 * j + 2] = c.data;
    }
  }
  return { codecs, cols };
}

function checkRowCount(rows: number): void {
  if (!Number.isInteger(rows) || rows < 0) throw new CodecError(`copy binary: batch rowCount ${rows}, expected an integer >= 0`, 0);
}

/** Same checks as the TypeScript decoder, so both reject the same codec lists. */
function packDecodeCodecs(codecs: readonly ColumnCodec[]): Int32Array {
  const packed = new Int32Array(codecs.length);
  for (let j = 0; j < codecs.length; j++) {
    const c = codecs[j];
    const valid = c.kind === 'var' || (c.kind === 'fixed' && (c.width === 1 || c.width === 2 || c.width === 4 || c.width === 8 || c.width === 16));
    if (!valid) throw new CodecError(`copy binary: column ${j} has an invalid codec ${JSON.stringify(c)}`, 0);
    packed[j] = c.kind === 'var' ? 0 : c.width | (c.swap ? 1 << 8 : 0);
  }
  return packed;
}

/**
 * Views over the one buffer the addon returns (a node Buffer with its own ArrayBuffer; layout
 * header: 4 f64 per column, offsets relative to the buffer's start).
 */
function unpackBatch(out: Uint8Array, codecs: readonly ColumnCodec[], rows: number): ColumnBatch {
  const ab = out.buffer as ArrayBuffer;
  const base = out.byteOffset;
  const layout = new Float64Array(ab, base, codecs.length * 4);
  const columns: Column[] = new Array(codecs.length);
  for (let j = 0; j < codecs.length; j++) {
    const c = codecs[j];
    const nulls = new Uint8Array(ab, base + layout[4 * j], rows);
    columns[j] =
      c.kind === 'fixed'
        ? { kind: 'fixed', width: c.width, swap: c.swap, values: new Uint8Array(ab, base + layout[4 * j + 1], rows * c.width), nulls }
        : {
            kind: 'var',
            offsets: new Int32Array(ab, base + layout[4 * j + 1], rows + 1),
            data: new Uint8Array(ab, base + layout[4 * j + 2], layout[4 * j + 3]),
            nulls,
          };
  }
  return { rowCount: rows, columns };
}

/** Characters of the decimal numbers 1..n together (closed form, no loop over n). */
function digitsUpTo(n: number): number {
  let total = 0;
  for (let lo = 1, d = 1; lo <= n; lo *= 10, d++) total += (Math.min(n, lo * 10 - 1) - lo + 1) * d;
  return total;
}

/** Length of `placeholders(rows, cols, 1)`: '$' + digits per parameter, commas, parentheses. */
function placeholderTextLength(rows: number, cols: number): number {
  const params = rows * cols;
  return params + digitsUpTo(params) + rows * (cols - 1) + 2 * rows + (rows - 1);
}

const MAX_CACHED_SHAPES = 16;
const prefixCache = new Map<number, string>();

/** The text for as many rows of `cols` columns as fit in one statement, built once natively. */
function placeholderPrefix(addon: NativeAddon, cols: number): string {
  let text = prefixCache.get(cols);
  if (text === undefined) {
    text = addon.placeholders(Math.floor(MAX_QUERY_PARAMS / cols), cols, 1);
    if (prefixCache.size >= MAX_CACHED_SHAPES) prefixCache.delete(prefixCache.keys().next().value as number);
    prefixCache.set(cols, text);
  }
  return text;
}

/** The `Codecs` interface over a loaded addon. */
export function nativeCodecs(addon: NativeAddon): Codecs {
  // Per-thread scratch for small results: [rows, end, done] or [consumed, written, messages, stop].
  const scratch = new Float64Array(4);
  const pgoutput = adaptPgoutput(addon, rethrowNative);

  return {
    impl: 'native',

    copyHeaderLength(buf: Uint8Array, offset: number): number {
      try {
        return addon.copyHeaderLength(buf, offset);
      } catch (err) {
        rethrowNative(err);
      }
    },

    copyScan(buf: Uint8Array, offset: number, fieldCount: number): CopyScanResult {
      try {
        addon.copyScan(buf, offset, fieldCount, scratch);
      } catch (err) {
        rethrowNative(err);
      }
      return { rows: scratch[0], end: scratch[1], done: scratch[2] === 1 };
    },

    copyDecode(buf: Uint8Array, offset: number, codecs: readonly ColumnCodec[], maxRows?: number): CopyDecodeResult {
      const packed = packDecodeCodecs(codecs);
      let limit = -1;
      if (maxRows !== undefined) {
        if (!(maxRows >= 0)) throw new CodecError(`copy binary: maxRows ${maxRows}, expected >= 0`, offset);
        if (maxRows < Number.MAX_SAFE_INTEGER) limit = Math.floor(maxRows);
      }
      let out: Uint8Array;
      try {
        out = addon.copyDecode(buf, offset, packed, limit, scratch);
      } catch (err) {
        rethrowNative(err);
      }
      const rows = scratch[0];
      return { rows, end: scratch[1], done: scratch[2] === 1, batch: unpackBatch(out, codecs, rows) };
    },

    copyEncodedLength(batch: ColumnBatch): number {
      checkRowCount(batch.rowCount);
      const { codecs, cols } = packBatch(batch);
      try {
        return addon.copyEncodedLength(batch.rowCount, codecs, cols);
      } catch (err) {
        rethrowNative(err);
      }
    },

    copyEncodeInto(batch: ColumnBatch, out: Uint8Array, offset: number): number {
      checkRowCount(batch.rowCount);
      const { codecs, cols } = packBatch(batch);
      try {
        return addon.copyEncodeInto(batch.rowCount, codecs, cols, out, offset);
      } catch (err) {
        rethrowNative(err);
      }
    },

    deframeCopyData(buf: Uint8Array, offset: number, out: Uint8Array, outOffset: number): DeframeResult {
      try {
        addon.deframeCopyData(buf, offset, out, outOffset, scratch);
      } catch (err) {
        rethrowNative(err);
      }
      return { consumed: scratch[0], written: scratch[1], messages: scratch[2], stop: scratch[3] === 1 };
    },

    placeholders(rows: number, cols: number, first: number = 1): string {
      try {
        // Chunked inserts ask for the same shapes again and again: serve them by slicing a
        // cached full-statement text (V8 slices without copying), as the TS version does.
        if (first === 1 && Number.isInteger(rows) && Number.isInteger(cols) && rows > 0 && cols > 0 && rows * cols <= MAX_QUERY_PARAMS) {
          return placeholderPrefix(addon, cols).slice(0, placeholderTextLength(rows, cols));
        }
        return addon.placeholders(rows, cols, first);
      } catch (err) {
        rethrowNative(err);
      }
    },

    insertChunks(rows: number, cols: number, maxParams: number = MAX_QUERY_PARAMS): number[] {
      let out: Uint8Array;
      try {
        out = addon.insertChunks(rows, cols, maxParams);
      } catch (err) {
        rethrowNative(err);
      }
      return Array.from(new Float64Array(out.buffer, out.byteOffset, out.byteLength / 8));
    },

    pgoutputDecode: pgoutput,
  };
}
