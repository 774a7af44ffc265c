/**
 * The producer and consumer roles that ring-channel thread tests run inside worker threads (see
 * ring-worker.ts). Each role drives one end of a channel with the blocking API and returns a
 * report; frames come from frame-pattern.ts so the consumer verifies every byte.
 */

import { RingChannel, type RingChannelHandle, type WriteStatus } from '../ring-channel.js';
import { checkFrame, fillFrame, frameMeta, frameSize, type FramePlan } from './frame-pattern.js';

export type ProduceMethod = 'write' | 'reserve' | 'gather' | 'mixed';

export type RingRoleTask =
  | {
      role: 'produce';
      handle: RingChannelHandle;
      frames: number;
      plan: FramePlan;
      method: ProduceMethod;
      /** Sleep pauseMs after every pauseEvery frames (0: never): long stalls. */
      pauseEvery: number;
      pauseMs: number;
      /** Busy work per frame (loop iterations, about 1 ns each): a steadily slower producer. */
      spinPerFrame?: number;
      /** Call fail(failMessage) instead of writing frame number failAfter. */
      failAfter?: number;
      failMessage?: string;
    }
  | {
      role: 'consume';
      handle: RingChannelHandle;
      plan: FramePlan;
      pauseEvery: number;
      pauseMs: number;
      spinPerFrame?: number;
      /** Call cancel() instead of reading frame number cancelAfter. */
      cancelAfter?: number;
      timeoutMs?: number;
    }
  | {
      /** Writes fixed-size frames until a write does not return 'ok'; counts them in progress[0]. */
      role: 'fill';
      handle: RingChannelHandle;
      frameBytes: number;
      progress: SharedArrayBuffer;
    }
  | { role: 'read-once'; handle: RingChannelHandle; timeoutMs?: number };

export type RingRoleReport =
  | { role: 'produce'; framesWritten: number; last: WriteStatus | 'ended' | 'failed' }
  | { role: 'consume'; framesRead: number; rowsRead: number; last: string; error?: string; mismatch?: string }
  | { role: 'fill'; framesWritten: number; last: WriteStatus }
  | { role: 'read-once'; kind: string; error?: string; waitedMs: number };

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
function sleep(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

/** CPU-bound slowness: unlike a sleep, it does not depend on how fast the OS wakes the thread. */
let spinSink = 0;
function spin(iterations: number): void {
  let acc = spinSink;
  for (let i = 0; i < iterations; i++) acc = (Math.imul(acc, 31) + i) | 0;
  spinSink = acc;
}

export function runRingRole(task: RingRoleTask): RingRoleReport {
  const channel = RingChannel.attach(task.handle);
  switch (task.role) {
    case 'produce':
      return produce(channel, task);
    case 'consume':
      return consume(channel, task);
    case 'fill':
      return fill(channel, task);
    case 'read-once': {
      const started = performance.now();
      const r = channel.read(task.timeoutMs);
      return { role: 'read-once', kind: r.kind, error: r.kind === 'error' ? r.error : undefined, waitedMs: performance.now() - started };
    }
  }
}

const METHODS: ProduceMethod[] = ['write', 'reserve', 'gather'];

function produce(channel: RingChannel, task: Extract<RingRoleTask, { role: 'produce' }>): RingRoleReport {
  const { plan } = task;
  const scratch = new Uint8Array(Math.max(plan.smallMaxBytes, plan.largeMaxBytes));
  for (let seq = 0; seq < task.frames; seq++) {
    if (seq === task.failAfter) {
      channel.fail(task.failMessage ?? '{"code":"internal","message":"test failure"}');
      return { role: 'produce', framesWritten: seq, last: 'failed' };
    }
    const size = frameSize(seq, plan);
    const meta = frameMeta(seq);
    const method = task.method === 'mixed' ? METHODS[seq % 3] : task.method;
    let status: WriteStatus;
    if (method === 'reserve') {
      // Reserve a little more than needed and commit less: exercises the shrinking commit.
      const extra = Math.min(seq % 64, channel.maxFrameBytes - size);
      const r = channel.reserve(size + extra);
      if (r.kind !== 'ok') return { role: 'produce', framesWritten: seq, last: r.kind };
      fillFrame(seq, r.view.subarray(0, size));
      status = channel.commit(size, meta);
    } else {
      const payload = scratch.subarray(0, size);
      fillFrame(seq, payload);
      if (method === 'write') status = channel.write(payload, meta);
      else {
        const a = size >> 2;
        const b = size >> 1;
        status = channel.write([payload.subarray(0, a), payload.subarray(a, b), payload.subarray(b)], meta);
      }
    }
    if (status !== 'ok') return { role: 'produce', framesWritten: seq, last: status };
    if (task.spinPerFrame) spin(task.spinPerFrame);
    if (task.pauseEvery > 0 && seq % task.pauseEvery === task.pauseEvery - 1) sleep(task.pauseMs);
  }
  channel.end();
  return { role: 'produce', framesWritten: task.frames, last: 'ended' };
}

function consume(channel: RingChannel, task: Extract<RingRoleTask, { role: 'consume' }>): RingRoleReport {
  let n = 0;
  let rows = 0;
  for (;;) {
    if (n === task.cancelAfter) {
      channel.cancel();
      return { role: 'consume', framesRead: n, rowsRead: rows, last: 'cancelled-here' };
    }
    const r = channel.read(task.timeoutMs ?? 30_000);
    if (r.kind !== 'data') {
      return { role: 'consume', framesRead: n, rowsRead: rows, last: r.kind, error: r.kind === 'error' ? r.error : undefined };
    }
    const meta = frameMeta(n);
    const mismatch =
      checkFrame(n, r.payload, task.plan) ??
      (r.rows !== meta.rows || r.stream !== meta.stream || r.shard !== meta.shard
        ? `frame ${n}: meta ${r.rows}/${r.stream}/${r.shard}, expected ${meta.rows}/${meta.stream}/${meta.shard}`
        : null);
    if (mismatch !== null) {
      channel.cancel();
      return { role: 'consume', framesRead: n, rowsRead: rows, last: 'mismatch', mismatch };
    }
    rows += r.rows;
    n++;
    if (task.spinPerFrame) spin(task.spinPerFrame);
    if (task.pauseEvery > 0 && n % task.pauseEvery === 0) sleep(task.pauseMs);
  }
}

function fill(channel: RingChannel, task: Extract<RingRoleTask, { role: 'fill' }>): RingRoleReport {
  const progress = new Int32Array(task.progress);
  const payload = new Uint8Array(task.frameBytes).fill(0xab);
  let written = 0;
  for (;;) {
    const status = channel.write(payload, { rows: 1 });
    if (status !== 'ok') return { role: 'fill', framesWritten: written, last: status };
    written++;
    Atomics.store(progress, 0, written);
  }
}
