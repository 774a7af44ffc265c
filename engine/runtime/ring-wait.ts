/**
 * Waiting on a RingChannel signal word, blocking (Atomics.wait, workers) or not (Atomics.waitAsync,
 * the main thread), with one loop for both: `signalWait` is a generator that yields each wait it
 * needs, and `blockOn` / `awaitOn` perform those waits. Only the slow path comes here; a channel
 * first tries without waiting.
 *
 * The loop is the no-lost-wake-up protocol of ring-channel.ts:
 *   raise our waiting flag;
 *   repeat: signal = load(other side's signal word); try; if answered → done;
 *           wait(signal word, signal, remaining time)   — returns at once if the word moved;
 *   lower the flag (however the loop ends, including an exception thrown by `attempt`).
 */

/** One wait: Atomics.wait(ctrl, index, value, timeoutMs). */
export interface WaitStep {
  index: number;
  value: number;
  timeoutMs: number;
}

export type SignalWait<T> = Generator<WaitStep, T, void>;

/**
 * Retries `attempt` until it answers (anything but undefined) or `timeoutMs` passes (then
 * `onTimeout`). `signalField` is the word the other side bumps after every change we may be
 * waiting for; `waitingField` is our flag telling it to notify.
 */
export function* signalWait<T>(
  ctrl: Int32Array,
  signalField: number,
  waitingField: number,
  attempt: () => T | undefined,
  onTimeout: T,
  timeoutMs: number | undefined,
): SignalWait<T> {
  const deadline = timeoutMs === undefined || timeoutMs === Infinity ? Infinity : performance.now() + Math.max(0, timeoutMs);
  Atomics.store(ctrl, waitingField, 1);
  try {
    for (;;) {
      const signal = Atomics.load(ctrl, signalField);
      const result = attempt();
      if (result !== undefined) return result;
      const remaining = deadline === Infinity ? Infinity : deadline - performance.now();
      if (remaining <= 0) return onTimeout;
      yield { index: signalField, value: signal, timeoutMs: remaining };
    }
  } finally {
    Atomics.store(ctrl, waitingField, 0);
  }
}

/** Runs a wait loop with Atomics.wait (blocks the thread: workers only). */
export function blockOn<T>(ctrl: Int32Array, steps: SignalWait<T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    Atomics.wait(ctrl, step.value.index, step.value.value, step.value.timeoutMs);
  }
}

/** Runs a wait loop with Atomics.waitAsync (the main thread). */
export async function awaitOn<T>(ctrl: Int32Array, steps: SignalWait<T>): Promise<T> {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    await waitSignalAsync(ctrl, step.value.index, step.value.value, step.value.timeoutMs);
  }
}

type WaitAsync = (
  typedArray: Int32Array,
  index: number,
  value: number,
  timeoutMs?: number,
) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
// Node 20 has Atomics.waitAsync; the ES2022 lib this project compiles against does not declare it.
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;
const KEEP_ALIVE_INTERVAL_MS = 0x7fffffff;

/**
 * Atomics.waitAsync, keeping the event loop alive meanwhile: a pending waitAsync holds no handle
 * in Node, so a main thread with nothing else to do would exit (code 13, unsettled await) while
 * it waits for its peer.
 */
async function waitSignalAsync(ctrl: Int32Array, index: number, value: number, timeoutMs: number): Promise<void> {
  const waited = waitAsync(ctrl, index, value, timeoutMs);
  if (!waited.async) return;
  const keepAlive = setInterval(noop, KEEP_ALIVE_INTERVAL_MS);
  try {
    await waited.value;
  } finally {
    clearInterval(keepAlive);
  }
}

function noop(): void {}
