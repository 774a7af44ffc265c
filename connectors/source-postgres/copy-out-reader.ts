/**
 * COPY ... TO STDOUT reader that takes the socket over from node-postgres for the duration of the
 * COPY and strips CopyData framing in bulk (docs/design.md section 6): the server sends one CopyData
 * message per row; instead of one JS event per row we copy the payloads of every complete message
 * in a socket chunk into one large contiguous buffer (`codecs.deframeCopyData`).
 *
 * Protocol (PostgreSQL docs "COPY Operations"):
 *   'H' CopyOutResponse, then 'd' CopyData*, then 'c' CopyDone, then 'C' CommandComplete, 'Z'.
 *   'N' NoticeResponse, 'S' ParameterStatus and 'A' NotificationResponse may be interspersed.
 *   An 'E' ErrorResponse may arrive at any point: we hand the bytes from there back to pg,
 *   which parses it and calls `handleError`.
 * After CopyDone the socket goes back to pg (its 'data' listener) with the unread bytes, so pg
 * sees CommandComplete and ReadyForQuery and the query completes normally.
 *
 * Consumption is pull-based (`for await`): while the consumer is busy we stop reading the socket,
 * so TCP backpressure reaches the server.
 */
import type { CopyFrame } from '../contract/frames.js';
import type { Socket } from 'node:net';
import { codecs } from '../../native/index.js';
import type { CopyFormat } from '../contract/domain.js';
import { isTappable, type TappableStream } from '../postgres/read-tap-socket.js';

interface PgConnection {
  stream: Socket;
  query(text: string): void;
}

const MSG_COPY_DATA = 0x64; // 'd'
const MSG_COPY_DONE = 0x63; // 'c'
const MSG_ERROR = 0x45; // 'E'

export interface CopyOutReaderOptions {
  /** Target size of each chunk handed to the consumer. */
  chunkBytes?: number;
  /**
   * How rows are framed. 'binary': the COPY binary header and trailer are stripped and chunks
   * hold whole tuples of `fieldCount` fields; 'text': chunks hold whole lines.
   */
  format: CopyFormat;
  fieldCount: number;
}

/** Spare chunk buffers a reader keeps for reuse: one being filled, a few in flight. */
const MAX_SPARE_BUFFERS = 4;

/**
 * The first chunk is handed over once this many row bytes are in, and each later one at twice the
 * size of the one before, up to half of `chunkBytes`: the destination starts writing within a
 * millisecond or two of the first rows instead of waiting for megabytes (tens of milliseconds per
 * shard, more on a busy machine), and the stream settles on large chunks right after.
 */
export const FIRST_CHUNK_BYTES = 128 * 1024;

export class CopyOutReader implements AsyncIterable<CopyFrame> {
  readonly text: string;
  /** Rows reported by CommandComplete (`COPY n`), set when the query completes. */
  rowCount = -1;
  /** Row bytes delivered so far (without COPY header/trailer). */
  bytesRead = 0;
  /** Rows delivered so far. */
  rowsRead = 0;

  private readonly chunkBytes: number;
  /** Row bytes at which the chunk being filled is handed over (grows, see FIRST_CHUNK_BYTES). */
  private flushBytes: number;
  private readonly format: CopyFormat;
  private readonly fieldCount: number;
  /** Start of `out`'s rows (past the header in the first buffer). */
  private rowStart = -1;
  /** End of the complete rows found so far in `out`. */
  private scanPos = 0;
  private scanRows = 0;
  private sawTrailer = false;
  private connection?: PgConnection;
  private pgDataHandler?: (chunk: Buffer) => void;
  /**
   * Pieces of a message cut by socket reads, and the bytes it needs in all (0 until its 5-byte
   * header is in). They are joined once, when complete: joining on every read would make a row
   * of n bytes cost O(n²/read size).
   */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private pendingNeed = 0;
  private out: Buffer;
  /** The socket when it supports read taps (then reads are pushed to `onTap`, not pulled). */
  private tapped: TappableStream | null = null;
  private tapPaused = false;
  /** Released chunk buffers of `chunkBytes`, reused by `allocate`. */
  private readonly spare: Buffer[] = [];
  private outLen = 0;
  private ready: CopyFrame[] = [];
  private finished = false;
  private copyDone = false;
  private error: Error | null = null;
  private waiter: (() => void) | null = null;
  /** When the last socket read arrived, and when the consumer last started waiting (performance.now()). */
  private lastReadAt = 0;
  private waitingSince = 0;
  private readonly onReadable = () => this.wake();
  private completed!: Promise<void>;
  private resolveCompleted!: () => void;
  private rejectCompleted!: (e: Error) => void;

  constructor(text: string, opts: CopyOutReaderOptions) {
    this.text = text;
    this.format = opts.format;
    this.fieldCount = opts.fieldCount;
    this.rowStart = opts.format === 'binary' ? -1 : 0;
    this.chunkBytes = opts.chunkBytes ?? 4 << 20;
    this.flushBytes = Math.min(FIRST_CHUNK_BYTES, this.chunkBytes >>> 1);
    this.out = this.allocate(this.chunkBytes);
    this.completed = new Promise((resolve, reject) => {
      this.resolveCompleted = resolve;
      this.rejectCompleted = reject;
    });
    this.completed.catch(() => {});
  }

  /** Called by pg when the query is dispatched. */
  submit(connection: PgConnection): void {
    this.connection = connection;
    const stream = connection.stream;
    if (isTappable(stream)) {
      // Reads arrive as views of the socket's one buffer (read-tap-socket.ts): no Buffer per read.
      this.tapped = stream;
      stream.setReadTap((view) => this.onTap(view));
      connection.query(this.text);
      return;
    }
    const listeners = stream.listeners('data') as Array<(chunk: Buffer) => void>;
    if (listeners.length !== 1) throw new Error(`copy-out: expected one data listener on the socket, found ${listeners.length}`);
    this.pgDataHandler = listeners[0];
    stream.removeListener('data', this.pgDataHandler);
    stream.pause();
    stream.on('readable', this.onReadable);
    connection.query(this.text);
  }

  /**
   * Milliseconds the consumer has been waiting for the server with nothing arriving (null: it is
   * not waiting: a chunk is ready or being consumed, or the COPY is over). The stall watch
   * (connectors/postgres/stall-watch.ts) asks.
   */
  waitingMs(now = performance.now()): number | null {
    if (this.waiter === null || this.finished || this.copyDone) return null;
    return now - Math.max(this.lastReadAt, this.waitingSince);
  }

  /** Ends the COPY with `err` (the first error stays the one reported). */
  fail(err: Error): void {
    this.handleError(err);
  }

  // pg's Submittable callbacks.
  handleError(err: Error): void {
    // The first error is the cause: a watch that gave the connection up (fail) is followed by
    // pg's own "connection terminated" when the socket closes.
    this.error ??= err;
    this.finished = true;
    this.rejectCompleted(err);
    this.wake();
  }

  handleCommandComplete(msg: { text?: string }): void {
    const m = /COPY (\d+)/.exec(msg?.text ?? '');
    if (m) this.rowCount = Number(m[1]);
  }

  handleReadyForQuery(): void {
    this.finished = true;
    if (this.error) this.rejectCompleted(this.error);
    else this.resolveCompleted();
    this.wake();
  }

  /** Resolves when the server has completed the COPY (after the last chunk). */
  done(): Promise<void> {
    return this.completed;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  private detach(rest: Buffer): void {
    const conn = this.connection!;
    if (this.tapped) {
      // pg's listener never left: give it a copy of the rest (the view is the socket's buffer).
      this.tapped.setReadTap(null);
      if (rest.length) this.tapped.push(Buffer.from(rest));
      return;
    }
    conn.stream.removeListener('readable', this.onReadable);
    conn.stream.on('data', this.pgDataHandler!);
    if (rest.length) this.pgDataHandler!(rest);
    // pg's handler may pause on a full parser; resume once it has run.
    process.nextTick(() => conn.stream.resume());
  }

  /**
   * A buffer for `out`: a released one of the standard size when there is one. Reuse matters:
   * every fresh multi-megabyte buffer costs page faults on first touch and, freed, garbage
   * collections forced by external memory pressure (together ~30% of a shard thread's CPU).
   */
  private allocate(size: number): Buffer {
    if (size <= this.chunkBytes) return this.spare.pop() ?? Buffer.allocUnsafe(this.chunkBytes);
    return Buffer.allocUnsafe(size);
  }

  private recycle(buf: Buffer): void {
    if (buf.length === this.chunkBytes && this.spare.length < MAX_SPARE_BUFFERS && buf !== this.out) this.spare.push(buf);
  }

  /** Advances `scanPos` over the complete rows in `out`. */
  private scan(): void {
    if (this.rowStart < 0) {
      const h = codecs.copyHeaderLength(this.out.subarray(0, this.outLen), 0);
      if (h < 0) return;
      this.rowStart = h;
      this.scanPos = h;
    }
    if (this.format === 'binary') {
      if (this.sawTrailer) return;
      const r = codecs.copyScan(this.out.subarray(0, this.outLen), this.scanPos, this.fieldCount);
      this.scanRows += r.rows;
      if (r.done) {
        this.sawTrailer = true;
        this.scanPos = r.end - 2; // rows end before the 2-byte trailer
      } else this.scanPos = r.end;
    } else {
      // Search [scanPos, outLen) only: past outLen lie a reused buffer's old bytes (and
      // lastIndexOf(x, -1) would search the whole buffer).
      if (this.outLen <= this.scanPos) return;
      const last = this.out.subarray(0, this.outLen).lastIndexOf(0x0a);
      if (last < this.scanPos) return;
      let n = 0;
      for (let i = this.out.indexOf(0x0a, this.scanPos); i !== -1 && i <= last; i = this.out.indexOf(0x0a, i + 1)) n++;
      this.scanRows += n;
      this.scanPos = last + 1;
    }
  }

  /**
   * Hands the complete rows in `out` to the consumer and moves the incomplete tail (usually less
   * than one row) to the start of a fresh buffer of at least `minBytes`.
   */
  private flushOut(minBytes = 0): void {
    this.scan();
    const start = Math.max(this.rowStart, 0);
    const tailStart = this.rowStart < 0 ? 0 : this.sawTrailer ? this.outLen : this.scanPos;
    const tail = this.outLen - tailStart;
    // A row larger than the buffer: grow geometrically so huge values are not copied repeatedly.
    const grow = tail > this.out.length >>> 1 ? this.out.length * 2 : 0;
    const next = this.allocate(Math.max(this.chunkBytes, minBytes + tail, grow));
    if (tail > 0) this.out.copy(next, 0, tailStart, this.outLen);
    if (this.scanPos > start) {
      const whole = this.out;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        this.recycle(whole);
      };
      this.ready.push({ kind: 'copy', bytes: whole.subarray(start, this.scanPos), rows: this.scanRows, release });
      this.bytesRead += this.scanPos - start;
      this.rowsRead += this.scanRows;
    }
    this.out = next;
    this.outLen = tail;
    if (this.rowStart >= 0) this.rowStart = 0;
    this.scanPos = 0;
    this.scanRows = 0;
  }

  private finish(): void {
    this.flushOut();
    if (this.outLen !== 0 && !this.sawTrailer) {
      this.error ??= new Error(`copy-out: stream ended inside a row (${this.outLen} bytes left over)`);
    }
    this.copyDone = true;
  }

  /** A read of a tapped socket: consumed at once; reading stops while a chunk waits (backpressure). */
  private onTap(view: Buffer): boolean {
    const more = this.consume(view);
    this.wake();
    if (!more) return true; // handed back to pg, which reads on
    if (this.ready.length > 0) {
      this.tapPaused = true;
      return false;
    }
    return true;
  }

  /** Consumes one socket chunk; returns false once the COPY stream is over (socket handed back). */
  private consume(chunk: Buffer): boolean {
    this.lastReadAt = performance.now();
    if (this.pending.length) {
      // A message was cut by the previous read: join just that message (its pieces and the bytes
      // of this read that complete it), handle it alone, then go on with the rest of this read.
      // Joining the whole read instead would copy every byte of the stream once more.
      if (this.pendingNeed === 0) {
        const head = Buffer.concat([...this.pending, chunk.subarray(0, Math.min(chunk.length, 5))]);
        if (head.length < 5) {
          this.pending = [head];
          this.pendingBytes = head.length;
          return true;
        }
        this.pendingNeed = 1 + head.readInt32BE(1);
      }
      const take = Math.min(chunk.length, this.pendingNeed - this.pendingBytes);
      this.pendingBytes += take;
      if (this.pendingBytes < this.pendingNeed) {
        // Still cut: keep a copy (the read buffer is not ours to keep).
        this.pending.push(Buffer.from(chunk.subarray(0, take)));
        return true;
      }
      this.pending.push(chunk.subarray(0, take));
      const message = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
      this.pendingNeed = 0;
      // Not a CopyData (CopyDone, an error…): what follows it must reach pg too, so go on in one piece.
      if (message[0] !== MSG_COPY_DATA) return this.consumeComplete(take === chunk.length ? message : Buffer.concat([message, chunk.subarray(take)]));
      this.consumeComplete(message);
      if (take === chunk.length) return true;
      chunk = chunk.subarray(take);
    }
    return this.consumeComplete(chunk);
  }

  /** Consumes a buffer that starts at a message boundary (its tail may be a cut message). */
  private consumeComplete(buf: Buffer): boolean {
    let off = 0;
    while (off < buf.length) {
      const room = this.out.length - this.outLen;
      // Payloads never exceed their framed input: make room for all of it.
      if (room < buf.length - off) this.flushOut(buf.length - off);
      const r = codecs.deframeCopyData(buf, off, this.out, this.outLen);
      off += r.consumed;
      this.outLen += r.written;
      if (!r.stop) break; // incomplete message at `off`
      // A non-CopyData message starts at `off`.
      const type = buf[off];
      if (type === MSG_ERROR) {
        this.copyDone = true;
        this.detach(buf.subarray(off));
        return false;
      }
      if (buf.length - off < 5) break;
      const len = buf.readInt32BE(off + 1);
      if (buf.length - off < 1 + len) break;
      off += 1 + len;
      if (type === MSG_COPY_DONE) {
        this.finish();
        this.detach(buf.subarray(off));
        return false;
      }
      // 'H' CopyOutResponse, 'N' NoticeResponse, 'S' ParameterStatus, 'A': nothing to do.
    }
    if (off < buf.length) {
      // Copy the tail (less than one message): the chunk it came from is not ours to keep.
      const tail = Buffer.from(buf.subarray(off));
      this.pending = [tail];
      this.pendingBytes = tail.length;
      this.pendingNeed = tail.length >= 5 ? 1 + tail.readInt32BE(1) : 0;
    }
    this.scan();
    if (this.scanPos - Math.max(this.rowStart, 0) >= this.flushBytes) {
      this.flushOut();
      this.flushBytes = Math.min(this.flushBytes * 2, this.chunkBytes >>> 1);
    }
    return true;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<CopyFrame> {
    for (;;) {
      if (this.ready.length) {
        yield this.ready.shift()!;
        continue;
      }
      if (this.error) {
        await this.completed.catch(() => {});
        throw this.error;
      }
      if (this.copyDone) {
        await this.completed;
        return;
      }
      const stream = this.connection?.stream;
      let chunk: Buffer | null;
      if (this.tapped) {
        if (this.tapPaused) {
          this.tapPaused = false;
          this.tapped.resume();
        }
      } else if (stream) {
        while (this.ready.length === 0 && !this.copyDone && (chunk = stream.read() as Buffer | null) !== null) {
          if (!this.consume(chunk)) break;
        }
      }
      if (this.ready.length || this.copyDone || this.error) continue;
      if (this.finished) return;
      this.waitingSince = performance.now();
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }
}
