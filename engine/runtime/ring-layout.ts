/**
 * Shared-memory layout of a RingChannel (see ring-channel.ts for the protocol). Every offset that
 * both sides of the channel must agree on lives here, as piscina keeps `kRequestCountField = 0`.
 *
 *   byte 0            CONTROL_BYTES           RING_OFFSET                                  end
 *   | control (Int32) | error message (UTF-8) | ring of ringBytes, frames FRAME_ALIGN_BYTES-aligned |
 *
 * Control block, as Int32Array indexes. Fields written by one side sit on their own 64-byte cache
 * line so the producer's head updates do not invalidate the line the consumer writes (and back):
 *   line 0 (bytes 0-63)     geometry (written once at creation) + state + error length
 *   line 1 (bytes 64-127)   head + producer doorbell        — written by the producer only
 *   line 2 (bytes 128-191)  tail + consumer doorbell        — written by the consumer only
 *   line 3 (bytes 192-255)  producer-waiting flag;  line 4 (bytes 256-319)  consumer-waiting flag
 *   line 5 (bytes 320-383)  acknowledged position (BigInt64) — written by the consumer only: the
 *                           return path of change frames (the destination committed up to it)
 */

/** 'RBCH' — checked by `attach` so a foreign SharedArrayBuffer is rejected, not misread. */
export const RING_MAGIC = 0x52424348;
export const RING_LAYOUT_VERSION = 2;

// Line 0: geometry, state.
export const kMagicField = 0;
export const kVersionField = 1;
export const kCapacityField = 2;
export const kMaxFrameBytesField = 3;
/** Ring size in FRAME_ALIGN_BYTES units (so 31-bit fields address up to 64 GiB). */
export const kRingUnitsField = 4;
/** One of the STATE_* values; moves only away from STATE_OPEN (compareExchange). */
export const kStateField = 5;
/** UTF-8 byte length of the error message; written before kStateField becomes STATE_FAILED. */
export const kErrorBytesField = 6;

// Line 1: producer-owned.
/** Next free position, in FRAME_ALIGN_BYTES units, in [0, ringUnits). Published after the frame. */
export const kHeadField = 16;
/** Bumped after every head publication and every state change; the consumer waits on it. */
export const kProducerSignalField = 17;
/** Frames committed so far (int32, wraps); lets a channel attached later continue the sequence. */
export const kFramesWrittenField = 18;

// Line 2: consumer-owned.
/** Oldest unreleased position, in FRAME_ALIGN_BYTES units, in [0, ringUnits). */
export const kTailField = 32;
/** Bumped after every tail publication and every state change; the producer waits on it. */
export const kConsumerSignalField = 33;
/** Frames released so far (int32, wraps). */
export const kFramesReadField = 34;

// Lines 3 and 4: the waiting flags, each alone on its line: the other side reads its flag on every
// frame, and that read stays a cache hit while the flag does not change.
/** 1 while the producer waits for space: the consumer only notifies then (saves a futex call per frame). */
export const kProducerWaitingField = 48;
/** 1 while the consumer waits for a frame or a state change. */
export const kConsumerWaitingField = 64;

// Line 5: consumer-owned, 64-bit.
/** Index in a BigInt64Array over the control block: the highest position the consumer acknowledged. */
export const kAcknowledgedBigField = 40;

export const CONTROL_BYTES = 512;
export const CONTROL_INT32S = CONTROL_BYTES / 4;

/** The error message region. Longer messages are replaced by a short JSON error saying so. */
export const ERROR_REGION_OFFSET = CONTROL_BYTES;
export const ERROR_REGION_BYTES = 64 * 1024;

export const RING_OFFSET = ERROR_REGION_OFFSET + ERROR_REGION_BYTES;

/**
 * Frames start on this alignment, and the frame header is exactly this long: the bytes left
 * before the ring's end are then always 0 or room for at least one header, so a PAD frame can
 * always mark the wrap (no second "implicit wrap" rule). Payloads are 32-byte aligned, which
 * suits encoders writing Int32/Float64 views straight into a reservation.
 */
export const FRAME_ALIGN_BYTES = 32;
export const FRAME_HEADER_BYTES = 32;

// Frame header, as Int32 indexes from the frame's start.
export const kFrameKindField = 0;
export const kFramePayloadBytesField = 1;
export const kFrameStreamField = 2;
export const kFrameShardField = 3;
export const kFrameRowsField = 4;
/** Frame sequence number (int32, wraps): the consumer checks it, so a lost or doubled frame is caught. */
export const kFrameSeqField = 5;
/** A changes frame's position (u64 LSN) as two uint32 halves, high first; 0 in copy frames. */
export const kFrameLsnHighField = 6;
export const kFrameLsnLowField = 7;
export const FRAME_HEADER_INT32S = FRAME_HEADER_BYTES / 4;

/** A data frame carrying COPY bytes (snapshot and incremental reads). */
export const FRAME_KIND_DATA = 1;
/** Covers the rest of the ring up to its end; the next frame starts at position 0. */
export const FRAME_KIND_PAD = 2;
/** A data frame carrying change records that end at the header's LSN (CDC). */
export const FRAME_KIND_CHANGES = 3;

export const STATE_OPEN = 0;
/** The producer called end(): the consumer drains what is left, then sees `end`. */
export const STATE_ENDED = 1;
/** The producer called fail(): the consumer sees `error` at once, pending frames are dropped. */
export const STATE_FAILED = 2;
/** Either side called cancel(): both sides stop at their next (or current, blocked) operation. */
export const STATE_CANCELLED = 3;

/** Largest payload a frame may carry: keeps every position and length inside an int32. */
export const MAX_FRAME_BYTES_LIMIT = 1024 * 1024 * 1024;

export function alignFrame(bytes: number): number {
  return Math.ceil(bytes / FRAME_ALIGN_BYTES) * FRAME_ALIGN_BYTES;
}

/** Ring bytes a frame with this payload occupies (header included, aligned). */
export function frameSpanBytes(payloadBytes: number): number {
  return alignFrame(FRAME_HEADER_BYTES + payloadBytes);
}

/**
 * Ring size for `capacity` frames of up to `maxFrameBytes`: capacity × the largest frame's span,
 * at least two spans (so an empty ring always admits a largest frame wherever its head stands:
 * the space before and after the head add up to two spans), plus one alignment unit that keeps
 * `head == tail` meaning empty, never full.
 */
export function ringBytesFor(capacity: number, maxFrameBytes: number): number {
  return Math.max(2, capacity) * frameSpanBytes(maxFrameBytes) + FRAME_ALIGN_BYTES;
}

/** Total SharedArrayBuffer size of a channel. */
export function channelBytesFor(capacity: number, maxFrameBytes: number): number {
  return RING_OFFSET + ringBytesFor(capacity, maxFrameBytes);
}
