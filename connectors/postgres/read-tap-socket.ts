/**
 * A TCP (or Unix) socket for node-postgres that reads into one reused buffer (`net.Socket`'s
 * `onread` option) instead of allocating a fresh Buffer per read.
 *
 * Why: a COPY TO stream of a gigabyte arrives as ~16,000 reads of 64 kB. As 'data' events each is
 * a new Buffer, and each passes through the Readable stream machinery; the garbage collections that
 * external memory pressure forces, plus that machinery, were a third of a shard thread's CPU.
 *
 * Two ways out of a read:
 *   - no tap (the normal case): the bytes are copied into a new Buffer and pushed into the
 *     socket's Readable side, so node-postgres (whose parser keeps what it is given) and anything
 *     that reads the socket itself (pg-copy-streams) see the socket they expect;
 *   - a tap is set (CopyOutReader during COPY TO): the tap gets a view of the shared buffer, valid
 *     only during the call — it must copy what it keeps — and returns false to stop reading
 *     (backpressure) until `resume()`.
 *
 * Used for plain connections only: TLS reads the socket below the JavaScript layer.
 */
import net from 'node:net';

export type ReadTap = (bytes: Buffer) => boolean;

/** Size of the one read buffer (a read returns at most this much). */
export const READ_BUFFER_BYTES = 256 * 1024;

export class ReadTapSocket extends net.Socket {
  private tap: ReadTap | null = null;

  constructor() {
    const self: { socket?: ReadTapSocket } = {};
    // `onread` is accepted by the constructor since Node 12; @types/node 20 lists it for connect() only.
    super({
      onread: {
        buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
        callback: (n: number, buf: Uint8Array) => self.socket!.delivered(Buffer.from(buf.buffer, buf.byteOffset, n)),
      },
    } as net.SocketConstructorOpts);
    self.socket = this;
  }

  /** Routes reads to `tap` (null: back to 'data' events). */
  setReadTap(tap: ReadTap | null): void {
    this.tap = tap;
  }

  private delivered(view: Buffer): boolean {
    if (this.tap) return this.tap(view);
    // Into the Readable machinery, as a plain socket does: 'data' listeners (pg) and read()
    // consumers (pg-copy-streams) both work, and push's backpressure stops reading.
    return this.push(Buffer.from(view));
  }
}

/** A socket that supports read taps (duck-typed: tests replay captured bytes through one). */
export interface TappableStream {
  setReadTap(tap: ReadTap | null): void;
  resume(): unknown;
  /** Hands bytes to the socket's readers (pg's 'data' listener), as a read would. */
  push(chunk: Buffer): boolean;
}

export function isTappable(stream: unknown): stream is TappableStream {
  return typeof (stream as { setReadTap?: unknown } | null)?.setReadTap === 'function';
}
