/**
 * Frame geometry and headers inside a RingChannel's ring region (layout in ring-layout.ts,
 * protocol in ring-channel.ts): where the next frame fits, and reading and writing headers at the
 * positions the channel hands over. Nothing here touches head, tail or waiting.
 *
 *   DATA frame: i32 kind | i32 payloadBytes | i32 stream | i32 shard | i32 rows | i32 seq | u32 lsn high | u32 lsn low | payload | pad to 32
 *               kind 1 = COPY bytes (lsn 0), kind 3 = change records ending at lsn
 *   PAD  frame: i32 kind=2 | i32 bytes to the ring's end after this header | ... up to the ring's end
 *
 * Headers are plain (non-atomic) stores: they are published by the channel's Atomics.store of
 * head, and read after its Atomics.load of head.
 */

import { Errors } from '../errors.js';
import {
  FRAME_ALIGN_BYTES,
  FRAME_HEADER_BYTES,
  FRAME_KIND_CHANGES,
  FRAME_KIND_DATA,
  FRAME_KIND_PAD,
  kFrameKindField,
  kFrameLsnHighField,
  kFrameLsnLowField,
  kFramePayloadBytesField,
  kFrameRowsField,
  kFrameSeqField,
  kFrameShardField,
  kFrameStreamField,
} from './ring-layout.js';

export interface RingDataFrame {
  kind: 'data';
  /** What the payload holds: COPY bytes, or change records ending at `lsn`. */
  tag: 'copy' | 'changes';
  payload: Uint8Array;
  rows: number;
  stream: number;
  shard: number;
  /** 0n for copy frames. */
  lsn: bigint;
}

const U32 = 0x1_0000_0000n;

/** tryReserve-style result: no contiguous room for the frame yet. */
export const NO_SPACE = -1;

/**
 * Where a frame of `spanBytes` goes in a ring of `ringBytes` with the producer at `head` and the
 * consumer at `tail` (a stale tail is fine: it only understates the room), or NO_SPACE. A result
 * other than `head` (always 0) means: write a PAD frame at `head` first. One alignment unit always
 * stays free so that the new head never equals the tail (head == tail means empty).
 */
export function placeFrame(head: number, tail: number, spanBytes: number, ringBytes: number): number {
  if (head >= tail) {
    const atEnd = ringBytes - head - (tail === 0 ? FRAME_ALIGN_BYTES : 0);
    if (spanBytes <= atEnd) return head;
    return spanBytes <= tail - FRAME_ALIGN_BYTES ? 0 : NO_SPACE;
  }
  return spanBytes <= tail - head - FRAME_ALIGN_BYTES ? head : NO_SPACE;
}

export class FrameRing {
  /** The ring region as bytes (payload views are subarrays of it). */
  readonly bytes: Uint8Array;
  private readonly words: Int32Array;
  private readonly ringBytes: number;

  constructor(sab: SharedArrayBuffer, byteOffset: number, ringBytes: number) {
    this.bytes = new Uint8Array(sab, byteOffset, ringBytes);
    this.words = new Int32Array(sab, byteOffset, ringBytes / 4);
    this.ringBytes = ringBytes;
  }

  writeHeader(pos: number, kind: number, payloadBytes: number, stream: number, shard: number, rows: number, seq: number, lsn = 0n): void {
    const w = this.words;
    const at = pos >> 2;
    w[at + kFrameKindField] = kind;
    w[at + kFramePayloadBytesField] = payloadBytes;
    w[at + kFrameStreamField] = stream;
    w[at + kFrameShardField] = shard;
    w[at + kFrameRowsField] = rows;
    w[at + kFrameSeqField] = seq;
    w[at + kFrameLsnHighField] = Number(lsn / U32) | 0;
    w[at + kFrameLsnLowField] = Number(lsn % U32) | 0;
  }

  /** Marks [pos, ringEnd) as skipped: the next frame starts at 0. */
  writePad(pos: number): void {
    const at = pos >> 2;
    this.words[at + kFrameKindField] = FRAME_KIND_PAD;
    this.words[at + kFramePayloadBytesField] = this.ringBytes - pos - FRAME_HEADER_BYTES;
  }

  kindAt(pos: number): number {
    return this.words[(pos >> 2) + kFrameKindField];
  }

  /**
   * The data frame at `pos`, checked: a wrong kind, an impossible length or a sequence number
   * other than `expectedSeq` means the protocol was broken (two producers, a reused buffer) and
   * is reported rather than read as garbage.
   */
  readData(pos: number, expectedSeq: number): RingDataFrame {
    const w = this.words;
    const at = pos >> 2;
    const kind = w[at + kFrameKindField];
    const payloadBytes = w[at + kFramePayloadBytesField];
    const seq = w[at + kFrameSeqField];
    if ((kind !== FRAME_KIND_DATA && kind !== FRAME_KIND_CHANGES) || payloadBytes < 0 || pos + FRAME_HEADER_BYTES + payloadBytes > this.ringBytes || seq !== expectedSeq) {
      throw Errors.internal(
        `ring-channel: corrupt frame at ring offset ${pos}: expected a data frame with sequence ${expectedSeq}, ` +
          `found kind ${kind}, sequence ${seq}, ${payloadBytes} payload bytes (ring of ${this.ringBytes} bytes)`,
      );
    }
    const start = pos + FRAME_HEADER_BYTES;
    return {
      kind: 'data',
      tag: kind === FRAME_KIND_CHANGES ? 'changes' : 'copy',
      payload: this.bytes.subarray(start, start + payloadBytes),
      rows: w[at + kFrameRowsField],
      stream: w[at + kFrameStreamField],
      shard: w[at + kFrameShardField],
      lsn: kind === FRAME_KIND_CHANGES ? BigInt(w[at + kFrameLsnHighField] >>> 0) * U32 + BigInt(w[at + kFrameLsnLowField] >>> 0) : 0n,
    };
  }
}
