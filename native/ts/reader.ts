/**
 * Byte-level helpers shared by the TypeScript codecs: big-endian integer reads straight off a
 * Uint8Array (no DataView per call, no allocation), a bounded byte copy, and `WireReader`, a
 * cursor over one message used by the pgoutput parser.
 */
import { CodecError } from '../codec-api.js';

export const EMPTY_BYTES = new Uint8Array(0);

/**
 * A plain Uint8Array view of `buf`. Node Buffers are a Uint8Array subclass: mixing both makes the
 * hot loops' element accesses polymorphic, and `Buffer#subarray` builds a costlier FastBuffer.
 */
export function plain(buf: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(buf) === Uint8Array.prototype ? buf : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Signed 16-bit big-endian integer at `p` (caller checked bounds). */
export function int16At(buf: Uint8Array, p: number): number {
  return ((buf[p] << 24) | (buf[p + 1] << 16)) >> 16;
}

/** Signed 32-bit big-endian integer at `p` (caller checked bounds). */
export function int32At(buf: Uint8Array, p: number): number {
  return (buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3];
}

export function writeInt32At(out: Uint8Array, p: number, v: number): void {
  out[p] = v >>> 24;
  out[p + 1] = v >>> 16;
  out[p + 2] = v >>> 8;
  out[p + 3] = v;
}

/**
 * Below this many bytes a plain loop beats `subarray` + `set` (which allocate a view and cross
 * into C++); above it the memcpy wins.
 */
const SMALL_COPY_BYTES = 32;

/** Copies src[start, start + n) to dst[at..]; both ranges are in bounds (caller checked). */
export function copyBytes(src: Uint8Array, start: number, n: number, dst: Uint8Array, at: number): void {
  if (n <= SMALL_COPY_BYTES) {
    for (let i = 0; i < n; i++) dst[at + i] = src[start + i];
  } else {
    dst.set(src.subarray(start, start + n), at);
  }
}

/** Throws unless `offset` is an integer position inside (or at the end of) `buf`. */
export function checkOffset(what: string, buf: Uint8Array, offset: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset > buf.length) {
    throw new CodecError(`${what}: offset ${offset} is outside the buffer (0..${buf.length})`, offset);
  }
}

const utf8 = new TextDecoder('utf-8');

function tagName(tag: number): string {
  return tag >= 0x20 && tag < 0x7f ? `'${String.fromCharCode(tag)}'` : `0x${tag.toString(16).padStart(2, '0')}`;
}

/**
 * A cursor over one message: every read checks that the message still has the bytes (one compare)
 * and throws a CodecError naming the offset, the need and the message tag. Reused across messages
 * with `setBuffer`; `release` drops the reference so a chunk is not kept alive.
 */
export class WireReader {
  buf: Uint8Array = EMPTY_BYTES;
  pos = 0;
  end = 0;
  tag = 0;

  constructor(readonly what: string) {}

  setBuffer(buf: Uint8Array, start: number, end: number): void {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    this.tag = 0;
  }

  release(): void {
    this.buf = EMPTY_BYTES;
    this.pos = this.end = 0;
  }

  remaining(): number {
    return this.end - this.pos;
  }

  fail(message: string, at: number = this.pos): never {
    throw new CodecError(`${this.what}: ${message} (message ${tagName(this.tag)})`, at);
  }

  need(n: number): void {
    if (this.end - this.pos < n) this.fail(`need ${n} bytes at offset ${this.pos}, have ${this.end - this.pos}`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  i16(): number {
    this.need(2);
    const v = int16At(this.buf, this.pos);
    this.pos += 2;
    return v;
  }

  i32(): number {
    this.need(4);
    const v = int32At(this.buf, this.pos);
    this.pos += 4;
    return v;
  }

  u32(): number {
    return this.i32() >>> 0;
  }

  /** Unsigned 64-bit (LSNs). */
  u64(): bigint {
    this.need(8);
    const hi = int32At(this.buf, this.pos) >>> 0;
    const lo = int32At(this.buf, this.pos + 4) >>> 0;
    this.pos += 8;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** Signed 64-bit (timestamps). */
  i64(): bigint {
    return BigInt.asIntN(64, this.u64());
  }

  /** A NUL-terminated string. */
  cstring(): string {
    const start = this.pos;
    const nul = this.buf.indexOf(0, start);
    if (nul < 0 || nul >= this.end) this.fail(`unterminated string at offset ${start}`, start);
    this.pos = nul + 1;
    return utf8.decode(this.buf.subarray(start, nul));
  }

  /**
   * A copy of the next `n` bytes, so the result does not pin the input chunk (and a Buffer's
   * `slice` would be a view, not a copy).
   */
  bytes(n: number): Uint8Array {
    this.need(n);
    const out = new Uint8Array(n);
    out.set(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  /** Throws unless the message was consumed exactly. */
  expectEnd(): void {
    if (this.pos !== this.end) this.fail(`${this.end - this.pos} unexpected trailing bytes at offset ${this.pos}`);
  }
}

export { tagName };
