/**
 * RingChannel across threads: worker↔worker with millions of frames at different speeds,
 * backpressure, wake-ups on error and cancel, and the main thread's async API against a worker.
 * Every test awaits the exit of every worker it starts, so no wait is left behind.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RingChannel, type ReadResult } from './ring-channel.js';
import { FRAME_ALIGN_BYTES, frameSpanBytes } from './ring-layout.js';
import { checkFrame, fillFrame, frameMeta, frameSize, type FramePlan } from './testing/frame-pattern.js';
import { startRingWorker, type RingWorker } from './testing/start-ring-worker.js';

const started: RingWorker[] = [];
function start(...args: Parameters<typeof startRingWorker>): RingWorker {
  const w = startRingWorker(...args);
  started.push(w);
  return w;
}

afterEach(async () => {
  // A failed assertion must not leave a worker blocked in Atomics.wait behind it.
  const pending = started.splice(0);
  for (const w of pending) w.worker.terminate();
  await Promise.all(pending.map((w) => w.exited));
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Mostly small frames, about one in 700 large, up to the channel's max frame size. */
const MANY_PLAN: FramePlan = { smallMaxBytes: 64, largeEvery: 700, largeMinBytes: 4096, largeMaxBytes: 32768 };

describe('RingChannel worker↔worker', () => {
  // The slow side does ~1 µs of busy work per frame (so the fast side keeps hitting a full or empty
  // ring) and stalls 5 ms every 100k frames (so the fast side also blocks for long stretches).
  it.each([
    // [label, frames, producer slowness, consumer slowness]
    ['fast producer, slow consumer', 1_200_000, 0, 1000],
    ['slow producer, fast consumer', 800_000, 1000, 0],
  ])('%s: %i frames arrive complete, in order, once, then end', async (_label, frames, producerSpin, consumerSpin) => {
    const ch = RingChannel.create({ capacity: 4, maxFrameBytes: 32768 });
    const stall = (spin: number) => ({ spinPerFrame: spin, pauseEvery: spin > 0 ? 100_000 : 0, pauseMs: 5 });
    const producer = start({ role: 'produce', handle: ch.handle(), frames, plan: MANY_PLAN, method: 'mixed', ...stall(producerSpin) });
    const consumer = start({ role: 'consume', handle: ch.handle(), plan: MANY_PLAN, ...stall(consumerSpin) });
    const [p, c] = await Promise.all([producer.report, consumer.report]);
    expect(p).toEqual({ role: 'produce', framesWritten: frames, last: 'ended' });
    expect(c).toMatchObject({ role: 'consume', framesRead: frames, last: 'end' });
    let rows = 0;
    for (let i = 0; i < frames; i++) rows += frameMeta(i).rows;
    expect(c.role === 'consume' && c.rowsRead).toBe(rows);
    expect(await producer.exited).toBe(0);
    expect(await consumer.exited).toBe(0);
    expect(ch.stats().usedBytes).toBe(0);
  }, 60_000);

  it('a consumer that cancels wakes and stops a producer blocked on the full ring', async () => {
    const ch = RingChannel.create({ capacity: 2, maxFrameBytes: 4096 });
    const plan: FramePlan = { smallMaxBytes: 2000, largeEvery: 0, largeMinBytes: 0, largeMaxBytes: 0 };
    const producer = start({ role: 'produce', handle: ch.handle(), frames: 1_000_000, plan, method: 'write', pauseEvery: 0, pauseMs: 0 });
    const consumer = start({ role: 'consume', handle: ch.handle(), plan, pauseEvery: 0, pauseMs: 0, cancelAfter: 5000 });
    const [p, c] = await Promise.all([producer.report, consumer.report]);
    expect(c).toMatchObject({ framesRead: 5000, last: 'cancelled-here' });
    expect(p).toMatchObject({ last: 'cancelled' });
    expect(p.role === 'produce' && p.framesWritten).toBeGreaterThanOrEqual(5000);
    expect(p.role === 'produce' && p.framesWritten).toBeLessThan(1_000_000);
    expect(await producer.exited).toBe(0);
    expect(await consumer.exited).toBe(0);
  }, 30_000);

  it('a producer that fails wakes the consumer with the error', async () => {
    const ch = RingChannel.create({ capacity: 2, maxFrameBytes: 4096 });
    const plan: FramePlan = { smallMaxBytes: 500, largeEvery: 0, largeMinBytes: 0, largeMaxBytes: 0 };
    const failMessage = JSON.stringify({ code: 'source_query', message: 'canceling statement due to conflict', sqlstate: '40001', shard: 3 });
    // The producer sleeps 300 ms before failing, so the consumer is blocked on an empty ring by then.
    const producer = start({ role: 'produce', handle: ch.handle(), frames: 10_000, plan, method: 'mixed', pauseEvery: 3000, pauseMs: 300, failAfter: 3000, failMessage });
    const consumer = start({ role: 'consume', handle: ch.handle(), plan, pauseEvery: 0, pauseMs: 0 });
    const [p, c] = await Promise.all([producer.report, consumer.report]);
    expect(p).toEqual({ role: 'produce', framesWritten: 3000, last: 'failed' });
    expect(c).toMatchObject({ last: 'error', error: failMessage });
    expect(c.role === 'consume' && c.framesRead).toBeLessThanOrEqual(3000);
    expect(await producer.exited).toBe(0);
    expect(await consumer.exited).toBe(0);
  }, 30_000);

  it('a cancel from a third thread stops both workers', async () => {
    const ch = RingChannel.create({ capacity: 4, maxFrameBytes: 1024 });
    const plan: FramePlan = { smallMaxBytes: 1024, largeEvery: 0, largeMinBytes: 0, largeMaxBytes: 0 };
    const producer = start({ role: 'produce', handle: ch.handle(), frames: 2 ** 30, plan, method: 'reserve', pauseEvery: 0, pauseMs: 0 });
    const consumer = start({ role: 'consume', handle: ch.handle(), plan, pauseEvery: 1000, pauseMs: 1 });
    await Promise.all([producer.started, consumer.started]);
    await sleep(200);
    expect(ch.cancel()).toBe(true);
    const [p, c] = await Promise.all([producer.report, consumer.report]);
    expect(p).toMatchObject({ last: 'cancelled' });
    expect(c).toMatchObject({ last: 'cancelled' });
    expect(await producer.exited).toBe(0);
    expect(await consumer.exited).toBe(0);
  }, 30_000);
});

describe('RingChannel backpressure and wake-ups (worker ↔ main)', () => {
  it('blocks a producer once the ring is full, resumes it when frames are released, and cancel wakes it', async () => {
    const frameBytes = 500;
    const ch = RingChannel.create({ capacity: 4, maxFrameBytes: 1000 });
    const progress = new SharedArrayBuffer(4);
    const counter = new Int32Array(progress);
    const producer = start({ role: 'fill', handle: ch.handle(), frameBytes, progress });
    let reported = false;
    void producer.report.then(() => (reported = true), () => undefined);

    const waitStable = async (): Promise<number> => {
      let last = -1;
      let stableSince = performance.now();
      for (;;) {
        const now = Atomics.load(counter, 0);
        if (now !== last) {
          last = now;
          stableSince = performance.now();
        } else if (now > 0 && performance.now() - stableSince > 300) return now;
        await sleep(10);
      }
    };

    // From an empty ring with tail at 0, fixed frames fit up to the ring size less one unit.
    const fits = Math.floor((ch.ringBytes - FRAME_ALIGN_BYTES) / frameSpanBytes(frameBytes));
    expect(fits).toBeGreaterThanOrEqual(ch.capacity - 1);
    expect(await waitStable()).toBe(fits);
    expect(reported).toBe(false); // blocked, not finished
    expect(ch.stats().usedBytes).toBe(fits * frameSpanBytes(frameBytes));
    expect(ch.stats().usedBytes).toBeLessThanOrEqual(ch.ringBytes);

    // Releasing frames lets it continue once the ring is at most half full (one wake-up per burst,
    // not per frame), and it blocks again without overfilling.
    let released = 0;
    const span = frameSpanBytes(frameBytes);
    while ((fits - released - 1) * span > ch.ringBytes / 2) {
      expect((await ch.readAsync(1000)).kind).toBe('data');
      ch.release();
      released++;
    }
    expect(released).toBeGreaterThan(0);
    expect(await waitStable()).toBe(fits); // still more than half full: not woken
    expect((await ch.readAsync(1000)).kind).toBe('data');
    ch.release();
    released++;
    const after = await waitStable();
    expect(after).toBeGreaterThan(fits);
    expect(after).toBeLessThanOrEqual(fits + released);
    expect(ch.stats().usedBytes).toBeLessThanOrEqual(ch.ringBytes - FRAME_ALIGN_BYTES);
    expect(reported).toBe(false);

    ch.cancel();
    expect(await producer.report).toEqual({ role: 'fill', framesWritten: after, last: 'cancelled' });
    expect(await producer.exited).toBe(0);
  }, 30_000);

  it.each([
    ['fail', (ch: RingChannel) => ch.fail('{"code":"dest_query","message":"disk full"}'), { kind: 'error', error: '{"code":"dest_query","message":"disk full"}' }],
    ['cancel', (ch: RingChannel) => ch.cancel(), { kind: 'cancelled' }],
  ] as const)('%s wakes a consumer blocked on an empty ring', async (_label, stop, expected) => {
    const ch = RingChannel.create({ capacity: 2, maxFrameBytes: 64 });
    const consumer = start({ role: 'read-once', handle: ch.handle() });
    await consumer.started;
    await sleep(150);
    stop(ch);
    const r = await consumer.report;
    expect(r).toMatchObject({ role: 'read-once', ...expected });
    expect(r.role === 'read-once' && r.waitedMs).toBeGreaterThanOrEqual(100);
    expect(await consumer.exited).toBe(0);
  }, 30_000);
});

describe('RingChannel async API on the main thread', () => {
  const plan: FramePlan = { smallMaxBytes: 200, largeEvery: 400, largeMinBytes: 1024, largeMaxBytes: 8192 };

  it('readAsync consumes a worker producer: every frame, in order, then end', async () => {
    const frames = 100_000;
    const ch = RingChannel.create({ capacity: 2, maxFrameBytes: 8192 });
    const producer = start({ role: 'produce', handle: ch.handle(), frames, plan, method: 'mixed', pauseEvery: 10_000, pauseMs: 5 });
    let n = 0;
    let last: ReadResult;
    for (;;) {
      last = await ch.readAsync(10_000);
      if (last.kind !== 'data') break;
      const mismatch = checkFrame(n, last.payload, plan);
      if (mismatch !== null) throw new Error(mismatch);
      const meta = frameMeta(n);
      if (last.rows !== meta.rows || last.stream !== meta.stream || last.shard !== meta.shard) throw new Error(`frame ${n}: wrong meta`);
      n++;
    }
    expect(last.kind).toBe('end');
    expect(n).toBe(frames);
    expect(await producer.report).toEqual({ role: 'produce', framesWritten: frames, last: 'ended' });
    expect(await producer.exited).toBe(0);
  }, 30_000);

  it('writeAsync and reserveAsync feed a worker consumer through backpressure', async () => {
    const frames = 100_000;
    const ch = RingChannel.create({ capacity: 2, maxFrameBytes: 8192 });
    const consumer = start({ role: 'consume', handle: ch.handle(), plan, pauseEvery: 10_000, pauseMs: 5 });
    const scratch = new Uint8Array(8192);
    for (let seq = 0; seq < frames; seq++) {
      const size = frameSize(seq, plan);
      const meta = frameMeta(seq);
      let status: string;
      if (seq % 3 === 0) {
        const r = await ch.reserveAsync(size, 10_000);
        if (r.kind !== 'ok') throw new Error(`reserve ${seq}: ${r.kind}`);
        fillFrame(seq, r.view);
        status = ch.commit(size, meta);
      } else {
        const payload = scratch.subarray(0, size);
        fillFrame(seq, payload);
        status = await ch.writeAsync(seq % 3 === 1 ? payload : [payload.subarray(0, 3), payload.subarray(3)], meta, 10_000);
      }
      if (status !== 'ok') throw new Error(`write ${seq}: ${status}`);
    }
    expect(ch.end()).toBe(true);
    expect(await consumer.report).toMatchObject({ role: 'consume', framesRead: frames, last: 'end' });
    expect(await consumer.exited).toBe(0);
  }, 30_000);

  it('readAsync blocked on an empty ring is woken by a worker producer failing', async () => {
    const ch = RingChannel.create({ capacity: 2, maxFrameBytes: 1024 });
    const p: FramePlan = { smallMaxBytes: 100, largeEvery: 0, largeMinBytes: 0, largeMaxBytes: 0 };
    const producer = start({ role: 'produce', handle: ch.handle(), frames: 100, plan: p, method: 'write', pauseEvery: 10, pauseMs: 300, failAfter: 10, failMessage: '{"code":"source_connect","message":"gone"}' });
    let data = 0;
    let r: ReadResult;
    while ((r = await ch.readAsync(10_000)).kind === 'data') data++;
    expect(r).toEqual({ kind: 'error', error: '{"code":"source_connect","message":"gone"}' });
    expect(data).toBeLessThanOrEqual(10);
    expect(await producer.report).toEqual({ role: 'produce', framesWritten: 10, last: 'failed' });
    expect(await producer.exited).toBe(0);
  }, 30_000);

  it('writeAsync blocked on a full ring is woken by a worker consumer cancelling', async () => {
    const ch = RingChannel.create({ capacity: 2, maxFrameBytes: 1024 });
    const p: FramePlan = { smallMaxBytes: 1000, largeEvery: 0, largeMinBytes: 0, largeMaxBytes: 0 };
    const consumer = start({ role: 'consume', handle: ch.handle(), plan: p, pauseEvery: 50, pauseMs: 300, cancelAfter: 50 });
    let seq = 0;
    let status: string;
    const scratch = new Uint8Array(1000);
    for (;;) {
      const payload = scratch.subarray(0, frameSize(seq, p));
      fillFrame(seq, payload);
      status = await ch.writeAsync(payload, frameMeta(seq), 10_000);
      if (status !== 'ok') break;
      seq++;
    }
    expect(status).toBe('cancelled');
    expect(seq).toBeGreaterThanOrEqual(50);
    expect(await consumer.report).toMatchObject({ framesRead: 50, last: 'cancelled-here' });
    expect(await consumer.exited).toBe(0);
  }, 30_000);
});
