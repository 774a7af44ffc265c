/**
 * A bounded single-producer single-consumer queue between two async stages in one thread. `push`
 * waits while `capacity` items are queued (backpressure), `pop` waits while it is empty and
 * returns `null` after `close()`. `fail(e)` makes both sides throw `e`.
 */
export class AsyncQueue<T> {
  private readonly items: T[] = [];
  private closed = false;
  private failure: Error | null = null;
  private popWaiter: (() => void) | null = null;
  private pushWaiter: (() => void) | null = null;

  constructor(private readonly capacity: number) {
    if (capacity < 1) throw new RangeError('AsyncQueue capacity must be >= 1');
  }

  async push(item: T): Promise<void> {
    while (this.items.length >= this.capacity && !this.failure) {
      await new Promise<void>((r) => (this.pushWaiter = r));
    }
    if (this.failure) throw this.failure;
    if (this.closed) throw new Error('AsyncQueue: push after close');
    this.items.push(item);
    this.wakePop();
  }

  async pop(): Promise<T | null> {
    while (this.items.length === 0 && !this.closed && !this.failure) {
      await new Promise<void>((r) => (this.popWaiter = r));
    }
    if (this.failure) throw this.failure;
    if (this.items.length === 0) return null;
    const item = this.items.shift()!;
    const w = this.pushWaiter;
    this.pushWaiter = null;
    w?.();
    return item;
  }

  close(): void {
    this.closed = true;
    this.wakePop();
  }

  fail(e: Error): void {
    this.failure ??= e;
    this.wakePop();
    const w = this.pushWaiter;
    this.pushWaiter = null;
    w?.();
  }

  private wakePop(): void {
    const w = this.popWaiter;
    this.popWaiter = null;
    w?.();
  }
}
