/**
 * RingChannel protocol on one thread: both ends in the same thread, non-blocking use (frames are
 * read before the ring fills, or with short timeouts). Thread behaviour (blocking, wake-ups,
 * millions of frames) is in ring-channel.threads.test.ts.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { RbError } from '../errors.js';
import { RingChannel, type ReadResult } from './ring-channel.js';
import { NO_SPACE, placeFrame } from './ring-frames.js';
import { CONTROL_BYTES, ERROR_REGION_BYTES, FRAME_ALIGN_BYTES, channelBytesFor, frameSpanBytes, ringBytesFor } from './ring-layout.js';
import { checkFrame, fillFrame, frameSize, type FramePlan } from './testing/frame-pattern.js';

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

function expectData(r: ReadResult): Extract<ReadResult, { kind: 'data' }> {
  if (r.kind !== 'data') throw new Error(`expected a data frame, got ${r.kind}`);
  return r;
}

describe('RingChannel.create / attach', () => {
  it('rejects a capacity below 1 and impossible frame sizes', () => {
    expect(() => RingChannel.create({ capacity: 0, maxFrameBytes: 1024 })).toThrow(/capacity \(max_inflight_batches\) must be an integer >= 1, got 0/);
    expect(() => RingChannel.create({ capacity: 1.5, maxFrameBytes: 1024 })).toThrow(RangeError);
    expect(() => RingChannel.create({ capacity: 4, maxFrameBytes: 0 })).toThrow(/maxFrameBytes \(max_batch_bytes\)/);
    expect(() => RingChannel.create({ capacity: 4, maxFrameBytes: 2 ** 31 })).toThrow(RangeError);
  });

  it('allocates one SharedArrayBuffer bounded by capacity × max frame', () => {
    const ch = RingChannel.create({ capacity: 16, maxFrameBytes: 65536 });
    const { sab } = ch.handle();
    expect(sab).toBeInstanceOf(SharedArrayBuffer);
    expect(sab.byteLength).toBe(channelBytesFor(16, 65536));
    expect(ch.ringBytes).toBe(16 * frameSpanBytes(65536) + FRAME_ALIGN_BYTES);
    // Control and error regions are a constant on top of the ring.
    expect(sab.byteLength - ch.ringBytes).toBe(CONTROL_BYTES + ERROR_REGION_BYTES);
    // capacity 1 still gets two spans, so a largest frame fits wherever the head stands.
    expect(ringBytesFor(1, 1000)).toBe(2 * frameSpanBytes(1000) + FRAME_ALIGN_BYTES);
  });

  it('attaches to a handle and rejects handles that do not match their buffer', () => {
    const ch = RingChannel.create({ capacity: 2, maxFrameBytes: 100 });
    const other = RingChannel.attach(ch.handle());
    expect(other.ringBytes).toBe(ch.ringBytes);
    expect(() => RingChannel.attach({ ...ch.handle(), capacity: 3 })).toThrow(/expected/);
    expect(() => RingChannel.attach({ sab: new ArrayBuffer(10) as unknown as SharedArrayBuffer, capacity: 2, maxFrameBytes: 100 })).toThrow(TypeError);
    const foreign = new SharedArrayBuffer(channelBytesFor(2, 100));
    expect(() => RingChannel.attach({ sab: foreign, capacity: 2, maxFrameBytes: 100 })).toThrow(/not a ring channel/);
  });

  it('lets a producer object and an attached consumer object share frames, in sequence', () => {
    const producer = RingChannel.create({ capacity: 2, maxFrameBytes: 64 });
    expect(producer.write(bytes(1, 2, 3), { rows: 1 })).toBe('ok');
    const consumer = RingChannel.attach(producer.handle());
    expect(producer.write(bytes(4), { rows: 1 })).toBe('ok');
    expect(Array.from(expectData(consumer.read(0)).payload)).toEqual([1, 2, 3]);
    // A second consumer object attached after a release continues the sequence check.
    consumer.release();
    const consumer2 = RingChannel.attach(producer.handle());
    expect(Array.from(expectData(consumer2.read(0)).payload)).toEqual([4]);
  });
});

describe('placeFrame (ring geometry)', () => {
  const R = 1024; // ring bytes; positions and spans are multiples of 32

  it('places at the head while the run before the tail (or the end) is long enough', () => {
    expect(placeFrame(0, 0, 992, R)).toBe(0); // empty ring at 0: all but one unit
    expect(placeFrame(0, 0, 1024, R)).toBe(NO_SPACE); // filling it would make head == tail
    expect(placeFrame(512, 0, 480, R)).toBe(512); // tail at 0: keep one unit before the end
    expect(placeFrame(512, 0, 512, R)).toBe(NO_SPACE);
    expect(placeFrame(512, 256, 512, R)).toBe(512); // tail > 0: may fill exactly to the end
    expect(placeFrame(128, 512, 352, R)).toBe(128); // head behind tail: up to tail - 32
    expect(placeFrame(128, 512, 384, R)).toBe(NO_SPACE);
  });

  it('wraps to 0 (a PAD at the head) when only the start of the ring has room', () => {
    expect(placeFrame(896, 512, 256, R)).toBe(0); // 128 left at the end, 480 before the tail
    expect(placeFrame(896, 512, 512, R)).toBe(NO_SPACE);
    expect(placeFrame(896, 896, 480, R)).toBe(0); // empty ring, head near the end
  });
});

describe('RingChannel frames', () => {
  it('delivers data frames with their header, in order, then end', () => {
    const ch = RingChannel.create({ capacity: 4, maxFrameBytes: 64 });
    expect(ch.write(bytes(1, 2, 3), { rows: 3, stream: 7, shard: 2 })).toBe('ok');
    expect(ch.write([bytes(4), bytes(), bytes(5, 6)], { rows: 2 })).toBe('ok');
    const r = ch.reserve(10);
    if (r.kind !== 'ok') throw new Error(r.kind);
    expect(r.view.length).toBe(10);
    r.view.set([9, 8, 7]);
    expect(ch.commit(3, { rows: 1, stream: -1, shard: 65535 })).toBe('ok');
    expect(ch.write(new Uint8Array(0), { rows: 0 })).toBe('ok');
    expect(ch.end()).toBe(true);

    const a = expectData(ch.read());
    expect([Array.from(a.payload), a.rows, a.stream, a.shard]).toEqual([[1, 2, 3], 3, 7, 2]);
    const b = expectData(ch.read());
    expect([Array.from(b.payload), b.rows, b.stream, b.shard]).toEqual([[4, 5, 6], 2, 0, 0]);
    const c = expectData(ch.read());
    expect([Array.from(c.payload), c.rows, c.stream, c.shard]).toEqual([[9, 8, 7], 1, -1, 65535]);
    expect(expectData(ch.read()).payload.length).toBe(0);
    expect(ch.read().kind).toBe('end');
    expect(ch.read().kind).toBe('end'); // stays ended
    expect(ch.state).toBe('ended');
  });

  it('throws at the producer for a frame larger than maxFrameBytes', () => {
    const ch = RingChannel.create({ capacity: 4, maxFrameBytes: 16 });
    const tooBig = () => ch.write(new Uint8Array(17), { rows: 1 });
    expect(tooBig).toThrow(RbError);
    expect(tooBig).toThrow(/resources\.max_batch_bytes: a frame of 17 bytes does not fit in max_batch_bytes \(16 bytes\)/);
    expect(() => ch.reserve(100)).toThrow(expect.objectContaining({ code: 'config_invalid' }));
    expect(() => ch.write([new Uint8Array(10), new Uint8Array(7)], { rows: 1 })).toThrow(RbError);
    expect(ch.write(new Uint8Array(16), { rows: 1 })).toBe('ok'); // exactly the max fits
    expect(expectData(ch.read()).payload.length).toBe(16);
  });

  it('rejects misuse: commit without reserve, double reserve, commit beyond the reservation, bad meta, write after end', () => {
    const ch = RingChannel.create({ capacity: 4, maxFrameBytes: 64 });
    expect(() => ch.commit(1, { rows: 1 })).toThrow(/commit\(\) without a reservation/);
    expect(ch.reserve(8).kind).toBe('ok');
    expect(() => ch.reserve(8)).toThrow(/reservation is not committed/);
    expect(() => ch.commit(9, { rows: 1 })).toThrow(/outside the reserved 8 bytes/);
    expect(() => ch.commit(8, { rows: -1 })).toThrow(/int32/);
    expect(() => ch.commit(8, { rows: 2 ** 31 })).toThrow(/int32/);
    expect(ch.commit(8, { rows: 1 })).toBe('ok');
    expect(ch.end()).toBe(true);
    expect(ch.end()).toBe(false);
    expect(() => ch.write(bytes(1), { rows: 1 })).toThrow(/write after ended/);
  });

  it('wraps around with padding and keeps every byte, with used bytes never above the ring size', () => {
    const plan: FramePlan = { smallMaxBytes: 300, largeEvery: 5, largeMinBytes: 500, largeMaxBytes: 1000 };
    const ch = RingChannel.create({ capacity: 2, maxFrameBytes: 1000 });
    let written = 0;
    let read = 0;
    let sawWrapPadding = false;
    const scratch = new Uint8Array(1000);
    while (read < 1500) {
      // Write while there is room (timeout 0: never block on this single thread), then read some.
      for (;;) {
        const size = frameSize(written, plan);
        fillFrame(written, scratch.subarray(0, size));
        if (ch.write(scratch.subarray(0, size), { rows: written }, 0) !== 'ok') break;
        written++;
        const { usedBytes, ringBytes } = ch.stats();
        expect(usedBytes).toBeLessThanOrEqual(ringBytes - FRAME_ALIGN_BYTES);
      }
      const burst = 1 + (read % 3);
      for (let i = 0; i < burst && read < written; i++) {
        const before = ch.stats().usedBytes;
        const f = expectData(ch.read(0));
        expect(checkFrame(read, f.payload, plan)).toBeNull();
        expect(f.rows).toBe(read);
        ch.release();
        // Releasing a frame right after the wrap frees its span plus the padding before it.
        if (before - ch.stats().usedBytes > frameSpanBytes(f.payload.length)) sawWrapPadding = true;
        read++;
      }
    }
    expect(sawWrapPadding).toBe(true);
  });

  it('keeps the read view valid until release, and holds the producer back until then', () => {
    const ch = RingChannel.create({ capacity: 2, maxFrameBytes: 100 });
    const span = frameSpanBytes(100);
    const fits = Math.floor((ch.ringBytes - FRAME_ALIGN_BYTES) / span);
    for (let i = 0; i < fits; i++) expect(ch.write(new Uint8Array(100).fill(i + 1), { rows: 1 }, 0)).toBe('ok');
    expect(ch.write(new Uint8Array(100), { rows: 1 }, 0)).toBe('timeout');
    const first = expectData(ch.read(0));
    expect(first.payload[0]).toBe(1);
    expect(ch.write(new Uint8Array(100), { rows: 1 }, 0)).toBe('timeout'); // not released yet
    expect(first.payload.every((b) => b === 1)).toBe(true);
    ch.release();
    ch.release(); // idempotent
    expect(ch.stats().usedBytes).toBe((fits - 1) * span);
    // Once the ring is empty a largest frame always fits again, wherever the head stands.
    expectData(ch.read(0));
    ch.release();
    expect(ch.stats().usedBytes).toBe(0);
    expect(ch.write(new Uint8Array(100).fill(9), { rows: 1 }, 0)).toBe('ok');
    expect(expectData(ch.read(0)).payload[99]).toBe(9);
  });

  it('read() releases the previous frame', () => {
    const ch = RingChannel.create({ capacity: 2, maxFrameBytes: 8 });
    ch.write(bytes(1), { rows: 1 });
    ch.write(bytes(2), { rows: 1 });
    expectData(ch.read(0));
    expect(ch.stats().usedBytes).toBe(2 * frameSpanBytes(1));
    expectData(ch.read(0));
    expect(ch.stats().usedBytes).toBe(frameSpanBytes(1));
  });
});

describe('RingChannel terminal states', () => {
  it('delivers an error at once, dropping unread frames, and keeps its JSON intact', () => {
    const ch = RingChannel.create({ capacity: 4, maxFrameBytes: 64 });
    ch.write(bytes(1), { rows: 1 });
    const message = JSON.stringify({ code: 'source_query', message: 'relation "ördersé" does not exist ✓', sqlstate: '42P01' });
    expect(ch.fail(message)).toBe(true);
    expect(ch.fail('second')).toBe(false);
    expect(ch.read(0)).toEqual({ kind: 'error', error: message });
    expect(ch.read(0)).toEqual({ kind: 'error', error: message });
    expect(ch.cancel()).toBe(false); // the first failure stays the reported one
    expect(ch.state).toBe('failed');
    expect(() => ch.write(bytes(1), { rows: 1 })).toThrow(/write after failed/);
  });

  it('replaces an oversized error message with a short JSON error quoting its start', () => {
    const ch = RingChannel.create({ capacity: 1, maxFrameBytes: 8 });
    const huge = JSON.stringify({ code: 'internal', message: 'x'.repeat(ERROR_REGION_BYTES) });
    ch.fail(huge);
    const r = ch.read(0);
    if (r.kind !== 'error') throw new Error(r.kind);
    const parsed = JSON.parse(r.error) as { code: string; message: string };
    expect(parsed.code).toBe('internal');
    expect(parsed.message).toMatch(/^ring-channel: error message of \d+ bytes exceeds 65536; it began: \{"code":"internal","message":"xxx/);
  });

  it('cancel stops both sides, from either side, even after end', () => {
    const ch = RingChannel.create({ capacity: 4, maxFrameBytes: 64 });
    ch.write(bytes(1), { rows: 1 });
    expect(ch.cancel()).toBe(true);
    expect(ch.cancel()).toBe(false);
    expect(ch.write(bytes(2), { rows: 1 })).toBe('cancelled');
    expect(ch.reserve(1).kind).toBe('cancelled');
    expect(ch.read().kind).toBe('cancelled');
    expect(ch.end()).toBe(false);
    expect(ch.fail('{}')).toBe(false);

    const ended = RingChannel.create({ capacity: 4, maxFrameBytes: 64 });
    ended.write(bytes(1), { rows: 1 });
    ended.end();
    expect(RingChannel.attach(ended.handle()).cancel()).toBe(true); // the consumer gives up early
    expect(ended.read().kind).toBe('cancelled');
  });

  it('a commit after cancel returns cancelled and publishes nothing', () => {
    const ch = RingChannel.create({ capacity: 4, maxFrameBytes: 64 });
    const r = ch.reserve(4);
    expect(r.kind).toBe('ok');
    RingChannel.attach(ch.handle()).cancel();
    expect(ch.commit(4, { rows: 1 })).toBe('cancelled');
    expect(ch.stats().usedBytes).toBe(0);
  });

  it('drops an uncommitted reservation at end()', () => {
    const ch = RingChannel.create({ capacity: 4, maxFrameBytes: 64 });
    expect(ch.reserve(4).kind).toBe('ok');
    ch.end();
    expect(ch.read(0).kind).toBe('end');
  });
});

describe('RingChannel timeouts (a dead peer)', () => {
  it('read on an empty ring returns timeout after the wait', () => {
    const ch = RingChannel.create({ capacity: 1, maxFrameBytes: 8 });
    const started = performance.now();
    expect(ch.read(40).kind).toBe('timeout');
    expect(performance.now() - started).toBeGreaterThanOrEqual(35);
    expect(ch.read(0).kind).toBe('timeout');
  });

  it('write and reserve on a full ring return timeout', () => {
    const ch = RingChannel.create({ capacity: 1, maxFrameBytes: 8 });
    while (ch.write(new Uint8Array(8), { rows: 1 }, 0) === 'ok');
    const started = performance.now();
    expect(ch.write(new Uint8Array(8), { rows: 1 }, 40)).toBe('timeout');
    expect(performance.now() - started).toBeGreaterThanOrEqual(35);
    expect(ch.reserve(8, 0).kind).toBe('timeout');
  });

  it('readAsync, writeAsync and reserveAsync time out too', async () => {
    const ch = RingChannel.create({ capacity: 1, maxFrameBytes: 8 });
    const started = performance.now();
    expect((await ch.readAsync(40)).kind).toBe('timeout');
    expect(performance.now() - started).toBeGreaterThanOrEqual(35);
    while ((await ch.writeAsync(new Uint8Array(8), { rows: 1 }, 0)) === 'ok');
    expect(await ch.writeAsync(new Uint8Array(8), { rows: 1 }, 30)).toBe('timeout');
    expect((await ch.reserveAsync(8, 30)).kind).toBe('timeout');
  });

  it('readAsync keeps a main thread with nothing else alive from exiting while it waits', async () => {
    const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
    const script = fileURLToPath(new URL('./testing/read-async-alone.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script, '300'], { cwd: repoRoot });
    const out = JSON.parse(stdout) as { kind: string; waitedMs: number };
    expect(out.kind).toBe('timeout');
    expect(out.waitedMs).toBeGreaterThanOrEqual(290);
  });
});
