/**
 * Run as a child process by ring-channel.test.ts: the main thread waits in readAsync with nothing
 * else alive (no worker, no socket). Node must not exit while the wait is pending; it prints the
 * read's kind when the wait ends.
 */
import { RingChannel } from '../ring-channel.js';

const ch = RingChannel.create({ capacity: 1, maxFrameBytes: 8 });
const started = performance.now();
const r = await ch.readAsync(Number(process.argv[2] ?? 300));
console.log(JSON.stringify({ kind: r.kind, waitedMs: Math.round(performance.now() - started) }));
