/**
 * RingChannel: a single-producer single-consumer channel of byte frames over ONE SharedArrayBuffer,
 * usable between any two threads (worker↔worker, worker↔main). docs/design.md section 3.
 *
 * Why a byte ring and not fixed slots: frames are usually much smaller than `max_batch_bytes` (the
 * last batch of a shard, CDC batches, small tables), so fixed slots of the maximum size would hold
 * `capacity` frames whatever their size, while a byte ring of the same memory holds as many frames
 * as fit. Memory stays bounded by the SharedArrayBuffer, allocated once:
 *   ringBytes = max(2, capacity) × span(maxFrameBytes) + 32        (see ring-layout.ts)
 * where span = 32-byte header + payload, rounded up to 32. At least `capacity - 1` largest frames
 * (and at least one) always fit; one span may be lost to the wrap-around padding.
 *
 * Layout of the ring (positions are byte offsets in [0, R), stored in the control block in 32-byte
 * units; frames start 32-byte aligned):
 *
 *        tail (consumer)                  head (producer)
 *          v                                v
 *   |......[hdr|payload....][hdr|payload..]..................................|
 *   0      '-------- published frames ----''-- free (producer may write) ---' R
 *
 *   after a wrap (the frame did not fit before R, so a PAD frame covers the rest):
 *
 *          head                          tail
 *           v                             v
 *   |[hdr|p..]............................[hdr|payload..][PAD...............]|
 *   '- frames -''--------- free ---------''------------ frames -------------'
 *
 *   empty: head == tail.  Full for a frame of span S: no contiguous run of S bytes that keeps the
 *   new head != tail (one 32-byte unit always stays free, so full never looks like empty):
 *     head >= tail: fits at head if S <= R - head (minus 32 when tail == 0), else at 0 (after a
 *                   PAD at head) if S <= tail - 32;
 *     head <  tail: fits at head if S <= tail - head - 32.
 *
 * Ordering invariant (all Atomics operations are sequentially consistent):
 *   Producer: write payload and header bytes (plain stores) → Atomics.store(head) →
 *             Atomics.add(producerSignal) → Atomics.notify(producerSignal) if the consumer waits.
 *   Consumer: Atomics.load(head) → read header and payload (plain loads) → on release:
 *             Atomics.store(tail) → Atomics.add(consumerSignal) → Atomics.notify(consumerSignal)
 *             if the producer waits.
 *   Only the producer writes head and the bytes in [head, tail); only the consumer writes tail.
 *   A frame's bytes are complete before its head is visible, and the producer reuses bytes only
 *   after the consumer's tail store says it is done with them. Each side caches the other's
 *   position and reloads it only when it seems out of frames (or space): a stale head or tail
 *   understates what is available, never overstates it.
 *
 * Waiting without lost wake-ups: a waiter loads the other side's signal word, then checks the
 * condition (space / a frame / the state), then `Atomics.wait(signal, loadedValue)`. Every head or
 * tail publication and every state change bumps the signal word *after* its own store, so a change
 * that happens between the check and the wait makes the wait return "not-equal" at once.
 * A waiter also raises its `waiting` flag before loading the signal, and the other side calls
 * Atomics.notify only when that flag is up (a futex call per frame otherwise). The consumer wakes
 * a waiting producer only once the ring is at most half full (hysteresis: one wake-up per burst,
 * not per frame, under a slow consumer); state changes always notify both signals.
 *
 * Terminal states (kStateField, compareExchange from OPEN; the first one wins):
 *   end()    ENDED: the consumer drains every published frame, then reads `end` (the producer
 *            stored head before the state, and the consumer loads the state before head, so a
 *            consumer that sees ENDED also sees the final head) — `end` comes after every frame.
 *   fail(m)  FAILED: the message goes into the error region before the state changes; the consumer
 *            reads `error` at its next read, dropping frames not yet read (the shard is failed).
 *   cancel() CANCELLED, from either side (or a third thread): both sides return `cancelled` from
 *            their current or next operation, blocked or not.
 *   end and error are states, not ring frames, so they never wait for ring space: a producer that
 *   fails while the ring is full still reaches its consumer at once.
 *
 * Every frame header carries a sequence number that the consumer checks, so a lost or doubled
 * frame is an exception, not silent corruption. Timeouts (`timeoutMs`) return `timeout`: used by
 * callers to detect a dead peer.
 */

import { Errors } from '../errors.js';
import { FrameRing, NO_SPACE, placeFrame, type RingDataFrame } from './ring-frames.js';
import { awaitOn, blockOn, signalWait, type SignalWait } from './ring-wait.js';
import {
  CONTROL_INT32S,
  ERROR_REGION_BYTES,
  ERROR_REGION_OFFSET,
  FRAME_ALIGN_BYTES,
  FRAME_HEADER_BYTES,
  FRAME_KIND_CHANGES,
  FRAME_KIND_DATA,
  FRAME_KIND_PAD,
  MAX_FRAME_BYTES_LIMIT,
  RING_LAYOUT_VERSION,
  RING_MAGIC,
  RING_OFFSET,
  STATE_CANCELLED,
  STATE_ENDED,
  STATE_FAILED,
  STATE_OPEN,
  channelBytesFor,
  frameSpanBytes,
  kCapacityField,
  kConsumerSignalField,
  kConsumerWaitingField,
  kErrorBytesField,
  kFramesReadField,
  kAcknowledgedBigField,
  kFramesWrittenField,
  kHeadField,
  kMagicField,
  kMaxFrameBytesField,
  kProducerSignalField,
  kProducerWaitingField,
  kRingUnitsField,
  kStateField,
  kTailField,
  kVersionField,
  ringBytesFor,
} from './ring-layout.js';

export interface RingChannelOptions {
  /** `resources.max_inflight_batches` (>= 1). */
  capacity: number;
  /** `resources.max_batch_bytes`: the largest payload one frame may carry. */
  maxFrameBytes: number;
}

/** What crosses a thread boundary (postMessage / workerData); SharedArrayBuffer is cloned by reference. */
export interface RingChannelHandle {
  sab: SharedArrayBuffer;
  capacity: number;
  maxFrameBytes: number;
}

export interface FrameMeta {
  rows: number;
  stream?: number;
  shard?: number;
  /** 'changes': change records ending at `lsn` (default 'copy': COPY bytes). */
  tag?: 'copy' | 'changes';
  /** The position a changes frame ends at (u64). */
  lsn?: bigint;
}

const MAX_LSN = 0xffff_ffff_ffff_ffffn;

export type WriteStatus = 'ok' | 'cancelled' | 'timeout';

export type Reservation = { kind: 'ok'; view: Uint8Array } | { kind: 'cancelled' } | { kind: 'timeout' };

/** A data frame; `payload` is a view into the ring, valid until release() or the next read. */
export type DataFrame = RingDataFrame;

export type ReadResult = DataFrame | { kind: 'end' } | { kind: 'error'; error: string } | { kind: 'cancelled' } | { kind: 'timeout' };

export type ChannelState = 'open' | 'ended' | 'failed' | 'cancelled';

export interface RingChannelStats {
  state: ChannelState;
  ringBytes: number;
  /** Bytes between tail and head: published frames not yet released (and wrap padding). */
  usedBytes: number;
}

const STATE_NAMES: ChannelState[] = ['open', 'ended', 'failed', 'cancelled'];
const END: ReadResult = Object.freeze({ kind: 'end' });
const CANCELLED_READ: ReadResult = Object.freeze({ kind: 'cancelled' });
const TIMEOUT_READ: ReadResult = Object.freeze({ kind: 'timeout' });
const CANCELLED_RESERVATION: Reservation = Object.freeze({ kind: 'cancelled' });
const TIMEOUT_RESERVATION: Reservation = Object.freeze({ kind: 'timeout' });
/** tryReserve's result when the channel was cancelled (NO_SPACE when the ring is full). */
const IS_CANCELLED = -2;

/**
 * One end (or both ends) of a ring channel. Exactly one thread produces and one consumes; cancel()
 * may come from anywhere. Blocking calls (write, reserve, read) use Atomics.wait and belong in
 * workers; the main thread uses the *Async twins (Atomics.waitAsync).
 *
 * @example
 *   const ch = RingChannel.create({ capacity: 16, maxFrameBytes: 64 << 20 });
 *   worker.postMessage({ channel: ch.handle() });     // the worker calls RingChannel.attach(handle)
 *   for (;;) {
 *     const f = await ch.readAsync(60_000);
 *     if (f.kind !== 'data') break;                   // 'end' | 'error' | 'cancelled' | 'timeout'
 *     await writeAll(socket, f.payload);               // done with the view, then:
 *     ch.release();
 *   }
 */
export class RingChannel {
  readonly capacity: number;
  readonly maxFrameBytes: number;
  readonly ringBytes: number;
  private readonly sab: SharedArrayBuffer;
  private readonly ctrl: Int32Array;
  private readonly ctrl64: BigInt64Array;
  private readonly ring: FrameRing;

  // Producer-local state (only the producing thread's object uses these).
  private headBytes: number;
  private cachedTailBytes: number;
  private writeSeq: number;
  private pendingPos = -1;
  private pendingPadAt = -1;
  private pendingMaxBytes = 0;

  // Consumer-local state.
  private readPos: number;
  private cachedHeadBytes: number;
  private readSeq: number;
  private unreleased = false;

  private constructor(sab: SharedArrayBuffer, capacity: number, maxFrameBytes: number) {
    this.sab = sab;
    this.capacity = capacity;
    this.maxFrameBytes = maxFrameBytes;
    this.ringBytes = ringBytesFor(capacity, maxFrameBytes);
    this.ctrl = new Int32Array(sab, 0, CONTROL_INT32S);
    this.ctrl64 = new BigInt64Array(sab, 0, CONTROL_INT32S / 2);
    this.ring = new FrameRing(sab, RING_OFFSET, this.ringBytes);
    this.headBytes = Atomics.load(this.ctrl, kHeadField) * FRAME_ALIGN_BYTES;
    this.readPos = Atomics.load(this.ctrl, kTailField) * FRAME_ALIGN_BYTES;
    this.cachedTailBytes = this.readPos;
    this.cachedHeadBytes = this.headBytes;
    // A channel attached after frames moved (a handle passed on) continues their sequence.
    this.writeSeq = Atomics.load(this.ctrl, kFramesWrittenField);
    this.readSeq = Atomics.load(this.ctrl, kFramesReadField);
  }

  /** Allocates the SharedArrayBuffer (once) for a new channel. */
  static create(options: RingChannelOptions): RingChannel {
    const { capacity, maxFrameBytes } = options;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`ring-channel: capacity (max_inflight_batches) must be an integer >= 1, got ${capacity}`);
    }
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 1 || maxFrameBytes > MAX_FRAME_BYTES_LIMIT) {
      throw new RangeError(
        `ring-channel: maxFrameBytes (max_batch_bytes) must be an integer in [1, ${MAX_FRAME_BYTES_LIMIT}], got ${maxFrameBytes}`,
      );
    }
    const ringUnits = ringBytesFor(capacity, maxFrameBytes) / FRAME_ALIGN_BYTES;
    if (ringUnits > 0x7fffffff) throw new RangeError(`ring-channel: ${capacity} × ${maxFrameBytes} bytes is too large a ring`);
    const sab = new SharedArrayBuffer(channelBytesFor(capacity, maxFrameBytes));
    const ctrl = new Int32Array(sab, 0, CONTROL_INT32S);
    ctrl[kMagicField] = RING_MAGIC;
    ctrl[kVersionField] = RING_LAYOUT_VERSION;
    ctrl[kCapacityField] = capacity;
    ctrl[kMaxFrameBytesField] = maxFrameBytes;
    ctrl[kRingUnitsField] = ringUnits;
    Atomics.store(ctrl, kStateField, STATE_OPEN);
    return new RingChannel(sab, capacity, maxFrameBytes);
  }

  /** The other end of a channel whose handle() was sent to this thread. */
  static attach(handle: RingChannelHandle): RingChannel {
    const { sab, capacity, maxFrameBytes } = handle;
    if (!(sab instanceof SharedArrayBuffer)) throw new TypeError('ring-channel: handle.sab must be a SharedArrayBuffer');
    const expected = channelBytesFor(capacity, maxFrameBytes);
    if (sab.byteLength !== expected) {
      throw new RangeError(`ring-channel: handle.sab has ${sab.byteLength} bytes, expected ${expected} for capacity ${capacity} × ${maxFrameBytes}`);
    }
    const ctrl = new Int32Array(sab, 0, CONTROL_INT32S);
    if (ctrl[kMagicField] !== RING_MAGIC || ctrl[kVersionField] !== RING_LAYOUT_VERSION) {
      throw new TypeError('ring-channel: handle.sab is not a ring channel of this layout version');
    }
    if (ctrl[kCapacityField] !== capacity || ctrl[kMaxFrameBytesField] !== maxFrameBytes) {
      throw new RangeError(
        `ring-channel: handle says ${capacity} × ${maxFrameBytes}, the buffer was made for ${ctrl[kCapacityField]} × ${ctrl[kMaxFrameBytesField]}`,
      );
    }
    return new RingChannel(sab, capacity, maxFrameBytes);
  }

  handle(): RingChannelHandle {
    return { sab: this.sab, capacity: this.capacity, maxFrameBytes: this.maxFrameBytes };
  }

  // ---------------------------------------------------------------- producer

  /** Copies `payload` (one buffer, or several gathered into one frame) into the ring; blocks while it is full. */
  write(payload: Uint8Array | readonly Uint8Array[], meta: FrameMeta, timeoutMs?: number): WriteStatus {
    const bytes = payloadBytes(payload);
    const status = this.reserveFast(bytes) ?? blockOn(this.ctrl, this.producerWaits(bytes, timeoutMs));
    if (status !== 'ok') return status;
    this.copyIntoPending(payload);
    return this.commit(bytes, meta);
  }

  async writeAsync(payload: Uint8Array | readonly Uint8Array[], meta: FrameMeta, timeoutMs?: number): Promise<WriteStatus> {
    const bytes = payloadBytes(payload);
    const status = this.reserveFast(bytes) ?? (await awaitOn(this.ctrl, this.producerWaits(bytes, timeoutMs)));
    if (status !== 'ok') return status;
    this.copyIntoPending(payload);
    return this.commit(bytes, meta);
  }

  /**
   * Zero-copy producing: waits for room for a `bytes`-byte payload and returns a view of it in the
   * ring. Encode into the view, then commit(bytesWritten <= bytes, meta). Nothing is visible to the
   * consumer before commit; end() or fail() drop an uncommitted reservation.
   */
  reserve(bytes: number, timeoutMs?: number): Reservation {
    return this.reservation(bytes, this.reserveFast(bytes) ?? blockOn(this.ctrl, this.producerWaits(bytes, timeoutMs)));
  }

  async reserveAsync(bytes: number, timeoutMs?: number): Promise<Reservation> {
    return this.reservation(bytes, this.reserveFast(bytes) ?? (await awaitOn(this.ctrl, this.producerWaits(bytes, timeoutMs))));
  }

  /** Publishes the reserved frame with its first `bytesWritten` bytes. */
  commit(bytesWritten: number, meta: FrameMeta): WriteStatus {
    const pos = this.pendingPos;
    if (pos < 0) throw Errors.internal('ring-channel: commit() without a reservation');
    if (!Number.isInteger(bytesWritten) || bytesWritten < 0 || bytesWritten > this.pendingMaxBytes) {
      throw new RangeError(`ring-channel: commit(${bytesWritten}) outside the reserved ${this.pendingMaxBytes} bytes`);
    }
    const rows = meta.rows;
    const stream = meta.stream ?? 0;
    const shard = meta.shard ?? 0;
    if (!isInt32(rows) || rows < 0 || !isInt32(stream) || !isInt32(shard)) {
      throw new RangeError(`ring-channel: frame meta must be int32 (rows >= 0), got rows=${rows} stream=${stream} shard=${shard}`);
    }
    const changes = meta.tag === 'changes';
    const lsn = changes ? (meta.lsn ?? 0n) : 0n;
    if (lsn < 0n || lsn > MAX_LSN) throw new RangeError(`ring-channel: frame lsn must be a u64, got ${lsn}`);
    this.pendingPos = -1;
    if (Atomics.load(this.ctrl, kStateField) === STATE_CANCELLED) return 'cancelled';
    if (this.pendingPadAt >= 0) this.ring.writePad(this.pendingPadAt);
    const seq = this.writeSeq;
    this.ring.writeHeader(pos, changes ? FRAME_KIND_CHANGES : FRAME_KIND_DATA, bytesWritten, stream, shard, rows, seq, lsn);
    const next = pos + frameSpanBytes(bytesWritten);
    this.headBytes = next === this.ringBytes ? 0 : next;
    this.writeSeq = (seq + 1) | 0;
    Atomics.store(this.ctrl, kFramesWrittenField, this.writeSeq);
    Atomics.store(this.ctrl, kHeadField, this.headBytes / FRAME_ALIGN_BYTES);
    Atomics.add(this.ctrl, kProducerSignalField, 1);
    if (Atomics.load(this.ctrl, kConsumerWaitingField) !== 0) Atomics.notify(this.ctrl, kProducerSignalField);
    return 'ok';
  }

  /** No more frames: the consumer reads `end` after the last one. False if the channel was already closed. */
  end(): boolean {
    this.pendingPos = -1;
    const won = Atomics.compareExchange(this.ctrl, kStateField, STATE_OPEN, STATE_ENDED) === STATE_OPEN;
    if (won) this.signalBoth();
    return won;
  }

  /**
   * Stops the channel with an error (usually a serialized RbError as JSON); the consumer reads
   * `{ kind: 'error', error }` at once. Never throws, so it is safe in catch blocks. A message over
   * ERROR_REGION_BYTES of UTF-8 is replaced by a short JSON error that quotes its start.
   */
  fail(errorJson: string): boolean {
    this.pendingPos = -1;
    if (Atomics.load(this.ctrl, kStateField) !== STATE_OPEN) return false;
    let bytes = Buffer.from(String(errorJson), 'utf8');
    if (bytes.byteLength > ERROR_REGION_BYTES) {
      const message = `ring-channel: error message of ${bytes.byteLength} bytes exceeds ${ERROR_REGION_BYTES}; it began: ${errorJson.slice(0, 2000)}`;
      bytes = Buffer.from(JSON.stringify({ code: 'internal', message }), 'utf8');
    }
    new Uint8Array(this.sab, ERROR_REGION_OFFSET, ERROR_REGION_BYTES).set(bytes);
    Atomics.store(this.ctrl, kErrorBytesField, bytes.byteLength);
    const won = Atomics.compareExchange(this.ctrl, kStateField, STATE_OPEN, STATE_FAILED) === STATE_OPEN;
    if (won) this.signalBoth();
    return won;
  }

  // ---------------------------------------------------------------- consumer

  /** The next frame (releasing the previous one first); blocks while the ring is empty. */
  read(timeoutMs?: number): ReadResult {
    this.release();
    return this.tryRead() ?? blockOn(this.ctrl, this.consumerWaits(timeoutMs));
  }

  async readAsync(timeoutMs?: number): Promise<ReadResult> {
    this.release();
    return this.tryRead() ?? (await awaitOn(this.ctrl, this.consumerWaits(timeoutMs)));
  }

  /** Gives the last read frame's bytes back to the producer. Idempotent. */
  release(): void {
    if (!this.unreleased) return;
    this.unreleased = false;
    Atomics.store(this.ctrl, kFramesReadField, this.readSeq);
    Atomics.store(this.ctrl, kTailField, this.readPos / FRAME_ALIGN_BYTES);
    Atomics.add(this.ctrl, kConsumerSignalField, 1);
    if (Atomics.load(this.ctrl, kProducerWaitingField) !== 0) {
      // Hysteresis: wake a waiting producer once the ring is at most half full, not per frame, so
      // a slow consumer costs one wake-up per burst rather than one per frame. An empty ring
      // (used 0) always wakes it, so a consumer about to wait for data never leaves it asleep.
      const head = Atomics.load(this.ctrl, kHeadField) * FRAME_ALIGN_BYTES;
      const used = (head - this.readPos + this.ringBytes) % this.ringBytes;
      if (used <= this.ringBytes / 2) Atomics.notify(this.ctrl, kConsumerSignalField);
    }
  }

  /**
   * The return path (consumer → producer): everything up to `lsn` is committed downstream. Only
   * moves forward; the producer reads it with `acknowledged()` (e.g. to confirm a replication
   * slot's position to the source server). Never blocks and never wakes anyone.
   */
  acknowledge(lsn: bigint): void {
    if (lsn < 0n || lsn > MAX_LSN) throw new RangeError(`ring-channel: acknowledged lsn must be a u64, got ${lsn}`);
    // Stored as the signed view of the u64; only the consumer writes it.
    const signed = BigInt.asIntN(64, lsn);
    if (BigInt.asUintN(64, Atomics.load(this.ctrl64, kAcknowledgedBigField)) < lsn) Atomics.store(this.ctrl64, kAcknowledgedBigField, signed);
  }

  /** The highest position the consumer acknowledged (0n before any). */
  acknowledged(): bigint {
    return BigInt.asUintN(64, Atomics.load(this.ctrl64, kAcknowledgedBigField));
  }

  // ---------------------------------------------------------------- either side

  /** Stops both sides; their blocked or next operation returns `cancelled`. False if already failed or cancelled. */
  cancel(): boolean {
    for (;;) {
      const state = Atomics.load(this.ctrl, kStateField);
      if (state === STATE_FAILED || state === STATE_CANCELLED) return false;
      if (Atomics.compareExchange(this.ctrl, kStateField, state, STATE_CANCELLED) === state) break;
    }
    this.pendingPos = -1;
    this.signalBoth();
    return true;
  }

  get state(): ChannelState {
    return STATE_NAMES[Atomics.load(this.ctrl, kStateField)];
  }

  stats(): RingChannelStats {
    const head = Atomics.load(this.ctrl, kHeadField) * FRAME_ALIGN_BYTES;
    const tail = Atomics.load(this.ctrl, kTailField) * FRAME_ALIGN_BYTES;
    return { state: this.state, ringBytes: this.ringBytes, usedBytes: (head - tail + this.ringBytes) % this.ringBytes };
  }

  // ---------------------------------------------------------------- internals

  /** The first, wait-free attempt to reserve: a status, or undefined when the ring is full. */
  private reserveFast(bytes: number): WriteStatus | undefined {
    if (!Number.isInteger(bytes) || bytes < 0) throw new RangeError(`ring-channel: frame size must be an integer >= 0, got ${bytes}`);
    if (bytes > this.maxFrameBytes) {
      throw Errors.configInvalid(
        'resources.max_batch_bytes',
        `a frame of ${bytes} bytes does not fit in max_batch_bytes (${this.maxFrameBytes} bytes); raise max_batch_bytes to at least ${bytes}`,
        { frameBytes: bytes, maxFrameBytes: this.maxFrameBytes },
      );
    }
    if (this.pendingPos >= 0) throw Errors.internal('ring-channel: reserve() while a reservation is not committed');
    return this.reserveStatus(bytes);
  }

  private reserveStatus(bytes: number): WriteStatus | undefined {
    const pos = this.tryReserve(frameSpanBytes(bytes), bytes);
    return pos === NO_SPACE ? undefined : pos === IS_CANCELLED ? 'cancelled' : 'ok';
  }

  /** A position where a frame of `span` bytes fits, NO_SPACE, or IS_CANCELLED. Records the reservation. */
  private tryReserve(span: number, bytes: number): number {
    const state = Atomics.load(this.ctrl, kStateField);
    if (state !== STATE_OPEN) {
      if (state === STATE_CANCELLED) return IS_CANCELLED;
      throw Errors.internal(`ring-channel: write after ${STATE_NAMES[state]}`);
    }
    let pos = placeFrame(this.headBytes, this.cachedTailBytes, span, this.ringBytes);
    if (pos === NO_SPACE) {
      this.cachedTailBytes = Atomics.load(this.ctrl, kTailField) * FRAME_ALIGN_BYTES;
      pos = placeFrame(this.headBytes, this.cachedTailBytes, span, this.ringBytes);
      if (pos === NO_SPACE) return NO_SPACE;
    }
    this.pendingPos = pos;
    this.pendingPadAt = pos === this.headBytes ? -1 : this.headBytes;
    this.pendingMaxBytes = bytes;
    return pos;
  }

  private reservation(bytes: number, status: WriteStatus): Reservation {
    if (status === 'cancelled') return CANCELLED_RESERVATION;
    if (status === 'timeout') return TIMEOUT_RESERVATION;
    const start = this.pendingPos + FRAME_HEADER_BYTES;
    return { kind: 'ok', view: this.ring.bytes.subarray(start, start + bytes) };
  }

  private copyIntoPending(payload: Uint8Array | readonly Uint8Array[]): void {
    let at = this.pendingPos + FRAME_HEADER_BYTES;
    if (payload instanceof Uint8Array) {
      this.ring.bytes.set(payload, at);
      return;
    }
    for (const part of payload) {
      this.ring.bytes.set(part, at);
      at += part.byteLength;
    }
  }

  private tryRead(): ReadResult | null {
    // State before head: a consumer that sees ENDED also sees the final head (see the header).
    const state = Atomics.load(this.ctrl, kStateField);
    if (state === STATE_FAILED) return { kind: 'error', error: this.errorMessage() };
    if (state === STATE_CANCELLED) return CANCELLED_READ;
    let pos = this.readPos;
    if (pos === this.cachedHeadBytes) {
      this.cachedHeadBytes = Atomics.load(this.ctrl, kHeadField) * FRAME_ALIGN_BYTES;
      if (pos === this.cachedHeadBytes) return state === STATE_ENDED ? END : null;
    }
    if (this.ring.kindAt(pos) === FRAME_KIND_PAD) pos = 0; // a frame always follows at 0 (published together)
    const frame = this.ring.readData(pos, this.readSeq);
    const next = pos + frameSpanBytes(frame.payload.byteLength);
    this.readPos = next === this.ringBytes ? 0 : next;
    this.readSeq = (this.readSeq + 1) | 0;
    this.unreleased = true;
    return frame;
  }

  /** The producer's slow path: waits on the consumer's signal until reserveStatus gives an answer. */
  private producerWaits(bytes: number, timeoutMs: number | undefined): SignalWait<WriteStatus> {
    return signalWait(this.ctrl, kConsumerSignalField, kProducerWaitingField, () => this.reserveStatus(bytes), 'timeout', timeoutMs);
  }

  /** The consumer's slow path: waits on the producer's signal until tryRead gives an answer. */
  private consumerWaits(timeoutMs: number | undefined): SignalWait<ReadResult> {
    return signalWait(this.ctrl, kProducerSignalField, kConsumerWaitingField, () => this.tryRead() ?? undefined, TIMEOUT_READ, timeoutMs);
  }

  private errorMessage(): string {
    const bytes = Atomics.load(this.ctrl, kErrorBytesField);
    return Buffer.from(this.sab, ERROR_REGION_OFFSET, bytes).toString('utf8');
  }

  private signalBoth(): void {
    Atomics.add(this.ctrl, kProducerSignalField, 1);
    Atomics.notify(this.ctrl, kProducerSignalField);
    Atomics.add(this.ctrl, kConsumerSignalField, 1);
    Atomics.notify(this.ctrl, kConsumerSignalField);
  }
}

function payloadBytes(payload: Uint8Array | readonly Uint8Array[]): number {
  if (payload instanceof Uint8Array) return payload.byteLength;
  let total = 0;
  for (const part of payload) total += part.byteLength;
  return total;
}

function isInt32(n: number): boolean {
  return (n | 0) === n;
}
