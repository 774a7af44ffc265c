/**
 * The one typed interface behind which rb's byte-level hot paths live. Two implementations give
 * identical bytes: the TypeScript fallback (`native/ts/`) and the Rust N-API addon (`native/src/`).
 * `native/index.ts` picks one at load time (RB_NATIVE=0 forces TypeScript).
 *
 * All functions are stateless over (buffer, offset): streaming callers keep the unconsumed tail of
 * a chunk and prepend it to the next one. Malformed input throws an Error whose `code` is
 * 'codec' and whose message says what was expected, what was found and at which offset.
 */
import type { ColumnBatch, ColumnCodec } from './batch.js';
import type { PgoutputBatch } from './pgoutput-types.js';

/** COPY binary signature + flags + header-extension length (PostgreSQL docs, "Binary Format"). */
export const COPY_BINARY_HEADER = Uint8Array.from([
  0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, // "PGCOPY\n\377\r\n\0"
  0, 0, 0, 0, // flags
  0, 0, 0, 0, // header extension length
]);
/** The file trailer: a 16-bit field count of -1. */
export const COPY_BINARY_TRAILER = Uint8Array.from([0xff, 0xff]);

/** Bound for $n parameters in one statement (the protocol's int16 parameter count). */
export const MAX_QUERY_PARAMS = 65535;

export interface CopyScanResult {
  /** Complete tuples found from `offset`. */
  rows: number;
  /** Offset just past the last complete tuple (or past the trailer when `done`). */
  end: number;
  /** True when the trailer (field count -1) was reached. */
  done: boolean;
}

export interface CopyDecodeResult extends CopyScanResult {
  batch: ColumnBatch;
}

export interface DeframeResult {
  /** Input bytes consumed (whole messages only). */
  consumed: number;
  /** Payload bytes written to `out` from `outOffset`. */
  written: number;
  /** CopyData messages consumed. */
  messages: number;
  /** True when a non-CopyData message starts at `offset + consumed`. */
  stop: boolean;
}

export interface Codecs {
  readonly impl: 'native' | 'ts';

  /**
   * Length of the header in `buf` at `offset` (19 + extension length), or -1 when fewer bytes
   * than the header are available. Throws on a bad signature.
   */
  copyHeaderLength(buf: Uint8Array, offset: number): number;

  /**
   * Finds tuple boundaries from `offset` without decoding values. Every tuple must have
   * `fieldCount` fields (or pass -1 to accept any count). Stops before an incomplete tuple.
   */
  copyScan(buf: Uint8Array, offset: number, fieldCount: number): CopyScanResult;

  /** Decodes complete tuples from `offset` into a columnar batch (at most `maxRows`). */
  copyDecode(buf: Uint8Array, offset: number, codecs: readonly ColumnCodec[], maxRows?: number): CopyDecodeResult;

  /** Exact number of bytes `copyEncodeInto` writes for `batch` (tuples only, no header/trailer). */
  copyEncodedLength(batch: ColumnBatch): number;

  /** Writes the tuples of `batch` into `out` at `offset`; returns bytes written. `out` must fit. */
  copyEncodeInto(batch: ColumnBatch, out: Uint8Array, offset: number): number;

  /**
   * Strips backend CopyData framing ('d' int32 len payload) in bulk: copies the payloads of the
   * complete CopyData messages from `buf[offset..]` into `out[outOffset..]` (which must have room
   * for `buf.length - offset` bytes). Stops before an incomplete message or at a non-CopyData one.
   */
  deframeCopyData(buf: Uint8Array, offset: number, out: Uint8Array, outOffset: number): DeframeResult;

  /** `($first,$first+1,...),(...)` for `rows` rows of `cols` columns. */
  placeholders(rows: number, cols: number, first?: number): string;

  /** Rows per INSERT statement so that none exceeds `maxParams` parameters. */
  insertChunks(rows: number, cols: number, maxParams?: number): number[];

  /**
   * Parses pgoutput messages (the payloads of XLogData, protocol versions 1-4).
   * `offsets` has n + 1 entries: message i is buf[offsets[i], offsets[i+1]); `lsns[i]` is the
   * XLogData start LSN of message i. `state` is the relation cache, kept by the caller between
   * calls. See `pgoutput-types.ts` for the output shape.
   */
  pgoutputDecode(buf: Uint8Array, offsets: Int32Array, lsns: BigInt64Array, protoVersion: number, state: PgoutputState): PgoutputBatch;
}

/** Opaque per-stream parser state (relation cache, whether we are inside a streamed block). */
export interface PgoutputState {
  relations: Map<number, import('./pgoutput-types.js').PgoutputRelation>;
  inStream: boolean;
}

export function newPgoutputState(): PgoutputState {
  return { relations: new Map(), inStream: false };
}

export class CodecError extends Error {
  readonly code = 'codec';
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.name = 'CodecError';
    this.offset = offset;
  }
}
