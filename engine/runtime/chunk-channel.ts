/**
 * The channel between a shard's source stage and its destination stage: the FrameSink and
 * FrameSource of the connector contract (connectors/contract/frames.ts), with two implementations:
 *
 *   joined mode (one thread):   source stage ─FrameSink─► AsyncQueue ─FrameSource─► destination stage
 *   split mode (two threads):   source stage ─FrameSink─► RingChannel (SharedArrayBuffer) ─FrameSource─► destination stage
 *
 * Contract, whichever implementation (split-mode.test.ts runs the same checks on both):
 *   - `push` waits while the channel is full (backpressure) and throws once the consumer stopped;
 *   - `pull` returns frames in push order — kind, rows and LSN as pushed — then `end` after
 *     `end()`, never before every pushed frame was pulled, so the destination commits only after
 *     a clean end;
 *   - `fail(err)` on the sink makes the next `pull` throw `err` (the source's error travels to the
 *     destination, which aborts its COPY and reports it); `fail(err)` on the source makes the next
 *     (or current, blocked) `push` throw, so the producer stops;
 *   - `acknowledge(lsn)` on the source side is seen by `acknowledged()` on the sink side (the
 *     return path of change frames), and never moves back.
 *
 * Ring framing (split mode): a frame carries at most the ring's maxFrameBytes, while a copy frame
 * can be larger (one huge row: the reader grows its buffer to hold it). Such a frame travels as
 * several ring frames: every one but the last has rows = 0, the last carries the frame's row count
 * (a copy frame always holds at least one row, so rows = 0 means "continued in the next frame").
 * COPY FROM data may be split anywhere between CopyData messages, so a COPY destination writes
 * the pieces as they come; a destination that needs whole tuples (the INSERT path) asks for
 * `wholeChunks` and gets the pieces concatenated. A changes frame is never split into pieces
 * (its records decode only whole): one larger than a ring frame is refused.
 */
import type { DataFrame, Frame, FrameSink, FrameSource } from '../../connectors/contract/frames.js';
import { RbError, type SerializedRbError } from '../errors.js';
import { AsyncQueue } from './async-queue.js';
import type { RingChannel } from './ring-channel.js';

export type { FrameSink, FrameSource };

const END: Frame = Object.freeze({ kind: 'end' });

/** The joined-mode channel: both ends in one thread. `firstFailure` is whichever stage failed first. */
export interface QueueChannel {
  sink: FrameSink;
  source: FrameSource;
  firstFailure(): RbError | null;
}

export function queueChannel(capacity: number): QueueChannel {
  const queue = new AsyncQueue<DataFrame>(capacity);
  let first: RbError | null = null;
  let acked = 0n;
  const fail = (err: RbError) => {
    // Whichever stage fails first owns the error; the other stage's failure is its consequence.
    first ??= err;
    queue.fail(first);
  };
  return {
    sink: { push: (frame) => queue.push(frame), end: () => queue.close(), fail, acknowledged: () => acked },
    source: {
      pull: async () => (await queue.pop()) ?? END,
      fail,
      acknowledge: (lsn) => {
        if (lsn > acked) acked = lsn;
      },
    },
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

/** The producing end of a split shard: frames become ring frames (copy frames split when larger). */
export function ringSink(ring: RingChannel, opts: RingSinkOptions): FrameSink {
  const maxFrame = ring.maxFrameBytes;
  const meta = { rows: 0, stream: opts.streamIndex, shard: opts.shardIndex };
  return {
    async push(chunk) {
      const total = chunk.bytes.byteLength;
      if (chunk.kind === 'changes') {
        if (total > maxFrame) throw new RbError('internal', `ring: a changes frame of ${total} bytes exceeds the ring's ${maxFrame}-byte frames`);
        const status = await ring.writeAsync(chunk.bytes, { rows: chunk.rows, stream: opts.streamIndex, shard: opts.shardIndex, tag: 'changes', lsn: chunk.lsn });
        if (status !== 'ok') throw opts.cancelled();
        chunk.release?.();
        return;
      }
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
    acknowledged: () => ring.acknowledged(),
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
export function ringSource(ring: RingChannel, opts: RingSourceOptions): FrameSource {
  return {
    async pull(): Promise<Frame> {
      let pieces: Buffer[] | null = null;
      for (;;) {
        const r = await ring.readAsync();
        if (r.kind === 'end') {
          if (pieces) throw new RbError('internal', `ring: the source ended inside a chunk (${pieces.length} frames without a row count)`);
          return END;
        }
        if (r.kind === 'error') throw errorFromRing(r.error);
        if (r.kind !== 'data') throw opts.cancelled(); // 'cancelled' ('timeout' is not asked for)
        if (r.stream !== opts.streamIndex || r.shard !== opts.shardIndex) {
          throw new RbError('internal', `ring: frame for stream ${r.stream} shard ${r.shard} reached stream ${opts.streamIndex} shard ${opts.shardIndex}`);
        }
        const bytes = Buffer.from(r.payload);
        ring.release();
        if (r.tag === 'changes') {
          if (pieces) throw new RbError('internal', `ring: a changes frame arrived inside a copy chunk (${pieces.length} frames without a row count)`);
          return { kind: 'changes', bytes, rows: r.rows, lsn: r.lsn };
        }
        if (!opts.wholeChunks) return { kind: 'copy', bytes, rows: r.rows };
        if (r.rows === 0) {
          (pieces ??= []).push(bytes);
          continue;
        }
        if (!pieces) return { kind: 'copy', bytes, rows: r.rows };
        pieces.push(bytes);
        return { kind: 'copy', bytes: Buffer.concat(pieces), rows: r.rows };
      }
    },
    fail: () => void ring.cancel(),
    acknowledge: (lsn) => ring.acknowledge(lsn),
  };
}

function errorFromRing(json: string): RbError {
  try {
    return RbError.fromJSON(JSON.parse(json) as SerializedRbError);
  } catch {
    return new RbError('internal', `ring: unreadable error from the source stage: ${json.slice(0, 500)}`);
  }
}
