/**
 * The channel between a shard's source stage and its destination stage, as two small interfaces
 * with two implementations:
 *
 *   joined mode (one thread):   source stage ─ChunkSink─► AsyncQueue ─ChunkSource─► destination stage
 *   split mode (two threads):   source stage ─ChunkSink─► RingChannel (SharedArrayBuffer) ─ChunkSource─► destination stage
 *
 * Contract, whichever implementation:
 *   - `push` waits while the channel is full (backpressure) and throws once the consumer stopped;
 *   - `pull` returns chunks in push order, then `null` after `end()` — never before every pushed
 *     chunk was pulled — so the destination commits only after a clean end;
 *   - `fail(err)` on the sink makes the next `pull` throw `err` (the source's error travels to the
 *     destination, which aborts its COPY and reports it); `fail(err)` on the source makes the next
 *     (or current, blocked) `push` throw, so the producer stops.
 *
 * Ring framing (split mode): a frame carries at most the ring's maxFrameBytes, while a chunk can be
 * larger (one huge row: the reader grows its buffer to hold it). Such a chunk travels as several
 * frames: every frame but the last has rows = 0, the last carries the chunk's row count (a chunk
 * always holds at least one row, so rows = 0 means "continued in the next frame"). COPY FROM data
 * may be split anywhere between CopyData messages, so a COPY destination writes the pieces as they
 * come; a destination that needs whole tuples (the INSERT path) asks for `wholeChunks` and gets
 * the pieces concatenated.
 */
import type { CopyChunk } from '../../connectors/source-postgres/copy-out-reader.js';
import { RbError, type SerializedRbError } from '../errors.js';
import { AsyncQueue } from './async-queue.js';
import type { RingChannel } from './ring-channel.js';

export interface ChunkSink {
  /** Hands one tuple-aligned chunk to the destination; waits while the channel is full. */
  push(chunk: CopyChunk): Promise<void>;
  /** No more chunks: the destination sees `null` after the last one. */
  end(): void;
  /** The source stage failed: the destination's next pull throws `err`. Never throws. */
  fail(err: RbError): void;
}

export interface ChunkSource {
  /** The next chunk (its bytes are the caller's to keep), or `null` after the source's end. */
  pull(): Promise<CopyChunk | null>;
  /** The destination stage failed: the source's current or next push throws. Never throws. */
  fail(err: RbError): void;
}

/** The joined-mode channel: both ends in one thread. `firstFailure` is whichever stage failed first. */
export interface QueueChannel {
  sink: ChunkSink;
  source: ChunkSource;
  firstFailure(): RbError | null;
}

export function queueChannel(capacity: number): QueueChannel {
  const queue = new AsyncQueue<CopyChunk>(capacity);
  let first: RbError | null = null;
  const fail = (err: RbError) => {
    // Whichever stage fails first owns the error; the other stage's failure is its consequence.
    first ??= err;
    queue.fail(first);
  };
  return {
    sink: { push: (chunk) => queue.push(chunk), end: () => queue.close(), fail },
    source: { pull: () => queue.pop(), fail },
    firstFailure: () => first,
  };
}

export interface RingSinkOptions {
  /** Frame header fields, checked by the consumer. */
  streamIndex: number;
  shardIndex: number;
  /** Thrown by `push` once the consumer (or the pool) cancelled the ring. */
  cancelled: () => RbError;
}

/** The producing end of a split shard: chunks become frames (split when larger than a frame). */
export function ringSink(ring: RingChannel, opts: RingSinkOptions): ChunkSink {
  const maxFrame = ring.maxFrameBytes;
  const meta = { rows: 0, stream: opts.streamIndex, shard: opts.shardIndex };
  return {
    async push(chunk) {
      const total = chunk.bytes.byteLength;
      if (total === 0) return;
      for (let off = 0; off < total; off += maxFrame) {
        const end = Math.min(total, off + maxFrame);
        meta.rows = end === total ? chunk.rows : 0;
        const status = await ring.writeAsync(chunk.bytes.subarray(off, end), meta);
        if (status !== 'ok') throw opts.cancelled();
      }
      chunk.release?.(); // copied into the ring
    },
    end: () => void ring.end(),
    fail: (err) => void ring.fail(JSON.stringify(err.toJSON())),
  };
}

export interface RingSourceOptions {
  streamIndex: number;
  shardIndex: number;
  /** Concatenate a chunk's frames (for destinations that decode whole tuples). */
  wholeChunks: boolean;
  /** Thrown by `pull` when the ring was cancelled (the pool stopped the shard). */
  cancelled: () => RbError;
}

/**
 * The consuming end of a split shard. Each frame's payload is copied out of the ring and the frame
 * released at once: a socket write may keep a reference to the buffer it was given after the
 * write call returns, and the producer may reuse released ring bytes immediately.
 */
export function ringSource(ring: RingChannel, opts: RingSourceOptions): ChunkSource {
  return {
    async pull() {
      let pieces: Buffer[] | null = null;
      for (;;) {
        const r = await ring.readAsync();
        if (r.kind === 'end') {
          if (pieces) throw new RbError('internal', `ring: the source ended inside a chunk (${pieces.length} frames without a row count)`);
          return null;
        }
        if (r.kind === 'error') throw errorFromRing(r.error);
        if (r.kind !== 'data') throw opts.cancelled(); // 'cancelled' ('timeout' is not asked for)
        if (r.stream !== opts.streamIndex || r.shard !== opts.shardIndex) {
          throw new RbError('internal', `ring: frame for stream ${r.stream} shard ${r.shard} reached stream ${opts.streamIndex} shard ${opts.shardIndex}`);
        }
        const bytes = Buffer.from(r.payload);
        ring.release();
        if (!opts.wholeChunks) return { bytes, rows: r.rows };
        if (r.rows === 0) {
          (pieces ??= []).push(bytes);
          continue;
        }
        if (!pieces) return { bytes, rows: r.rows };
        pieces.push(bytes);
        return { bytes: Buffer.concat(pieces), rows: r.rows };
      }
    },
    fail: () => void ring.cancel(),
  };
}

function errorFromRing(json: string): RbError {
  try {
    return RbError.fromJSON(JSON.parse(json) as SerializedRbError);
  } catch {
    return new RbError('internal', `ring: unreadable error from the source stage: ${json.slice(0, 500)}`);
  }
}
