/**
 * Frames: what travels from a shard's source stage to its destination stage (docs/design.md
 * section 6), whichever channel joins them (an in-thread queue, or a SharedArrayBuffer ring to
 * another thread: engine/runtime/chunk-channel.ts).
 *
 *   copy      a tuple-aligned piece of a COPY stream (snapshot and incremental reads): whole rows
 *             in the contract's COPY format, no header or trailer;
 *   changes   a run of decoded change records (CDC), ending at `lsn`: once the destination has
 *             committed every frame up to it, it acknowledges `lsn` back through the channel and
 *             the source may confirm it to its server (the return path: `acknowledge` →
 *             `acknowledged`);
 *   end       the source delivered everything and vouched for it (a COPY's row count matched):
 *             only now may the destination commit.
 * An error is not a frame the consumer handles: a failed source makes the consumer's next `pull`
 * throw the source's RbError (on the ring it travels as the channel's error message).
 */
import type { RbError } from './errors.js';

export interface CopyFrame {
  kind: 'copy';
  bytes: Buffer;
  /** Rows in `bytes` (0 only for a piece of a row split over several ring frames). */
  rows: number;
  /**
   * Optional: the consumer calls it once it is done with `bytes` (written to a socket that no
   * longer holds them, or copied), so the producer can reuse the memory. Not calling it is always
   * safe (the memory is left to the garbage collector).
   */
  release?: () => void;
}

export interface ChangesFrame {
  kind: 'changes';
  /** Change records, encoded by the change source for its sink (opaque to the channel). */
  bytes: Buffer;
  /** Records in `bytes`. */
  rows: number;
  /** The source position this frame ends at (for PostgreSQL: the commit LSN of its last transaction). */
  lsn: bigint;
  release?: () => void;
}

export interface EndFrame {
  kind: 'end';
}

/** A frame that carries data. */
export type DataFrame = CopyFrame | ChangesFrame;
/** What a destination stage pulls. */
export type Frame = DataFrame | EndFrame;

/** The source stage's end of a channel. */
export interface FrameSink {
  /** Hands one frame to the destination; waits while the channel is full (backpressure). */
  push(frame: DataFrame): Promise<void>;
  /** No more frames: the destination pulls `end` after the last one. */
  end(): void;
  /** The source stage failed: the destination's next pull throws `err`. Never throws. */
  fail(err: RbError): void;
  /** The highest position the destination acknowledged as committed (0n before any). */
  acknowledged(): bigint;
}

/** The destination stage's end of a channel. */
export interface FrameSource {
  /** The next frame, in push order; `end` only after every pushed frame was pulled. */
  pull(): Promise<Frame>;
  /** The destination stage failed: the source's current or next push throws. Never throws. */
  fail(err: RbError): void;
  /** Everything up to `lsn` is committed in the destination (never moves back). */
  acknowledge(lsn: bigint): void;
}
