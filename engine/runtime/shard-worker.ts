/**
 * Pool worker entry: only wires the shard mover to Piscina. Errors come back as data (RbError
 * JSON) because structured clone drops an Error's own fields such as `code`.
 */
import { RbError, type SerializedRbError } from '../errors.js';
import { copyShard } from './copy-shard.js';
import type { ShardResult, ShardTask } from './shard-task.js';

export type ShardOutcome = { ok: true; result: ShardResult } | { ok: false; error: SerializedRbError };

const PROGRESS_INTERVAL_MS = 200;

export default async function runShard(task: ShardTask & { progressChannel?: string }): Promise<ShardOutcome> {
  const channel = task.progressChannel ? new BroadcastChannel(task.progressChannel) : null;
  let last = 0;
  try {
    const result = await copyShard(task, {
      onProgress: (p) => {
        const now = performance.now();
        if (channel && now - last >= PROGRESS_INTERVAL_MS) {
          last = now;
          channel.postMessage(p);
        }
      },
    });
    channel?.postMessage({ stream: task.stream, shardIndex: task.shardIndex, rows: result.rows, bytes: result.bytes });
    return { ok: true, result };
  } catch (e) {
    const err = e instanceof RbError ? e : new RbError('internal', e instanceof Error ? e.message : String(e), { stream: task.stream, shard: task.shardIndex });
    return { ok: false, error: err.toJSON() };
  } finally {
    channel?.close();
  }
}
