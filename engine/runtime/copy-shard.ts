/**
 * Moves one shard in one thread ("joined" stage mode): the source stage (the connector's
 * ShardReader) and the destination stage (its ShardWriter) run side by side in this task, joined
 * by a bounded in-thread queue, so frames pass from one to the other without a copy.
 *
 *   source socket ──CopyOutReader──► AsyncQueue (maxInflightChunks) ──► CopyInWriter / InsertWriter ──► destination socket
 *
 * Whichever stage fails first owns the error (a destination failure is `dest_*`, a source failure
 * `source_*`); the other stage's failure is its consequence. A failing destination stops the
 * source at once (its socket is ended: it may be waiting on its server); a failing source makes
 * the destination's next pull throw, and the destination aborts its COPY and rolls back.
 *
 * Split stage mode runs the same two stages in two pool tasks instead (shard-pool.ts).
 */
import type { StageHooks } from '../../connectors/contract/connector.js';
import { shardReader, shardWriter } from '../../connectors/registry.js';
import { RbError } from '../errors.js';
import { queueChannel } from './chunk-channel.js';
import { newStageWaits, stageTimingEnabled, timedSink, timedSource } from './stage-timing.js';
import { cancelledError, shardResult, type ShardResult, type ShardTask } from './shard-task.js';

export type ShardHooks = StageHooks;

export async function copyShard(task: ShardTask, hooks: ShardHooks = {}): Promise<ShardResult> {
  const started = performance.now();
  const channel = queueChannel(task.maxInflightChunks);
  const stopSource = new AbortController();
  const stopDest = new AbortController();
  const onAbort = () => {
    stopSource.abort();
    stopDest.abort();
  };
  hooks.signal?.addEventListener('abort', onAbort, { once: true });
  if (hooks.signal?.aborted) onAbort();
  try {
    const waits = stageTimingEnabled() ? newStageWaits() : null;
    const reading = shardReader.readShard(task, waits ? timedSink(channel.sink, waits) : channel.sink, { signal: stopSource.signal });
    const writing = shardWriter.writeShard(task, waits ? timedSource(channel.source, waits) : channel.source, { onProgress: hooks.onProgress, signal: stopDest.signal });
    // The source may be waiting on its server, not on the queue: end its socket.
    writing.catch(() => stopSource.abort());
    const [read, written] = await Promise.allSettled([reading, writing]);
    if (read.status === 'rejected' || written.status === 'rejected') {
      const reason = read.status === 'rejected' ? read.reason : (written as PromiseRejectedResult).reason;
      throw channel.firstFailure() ?? reason;
    }
    return shardResult(task, written.value, performance.now() - started, waits ?? undefined);
  } catch (e) {
    if (hooks.signal?.aborted && !(e instanceof RbError && e.code !== 'cancelled')) throw cancelledError(task);
    if (e instanceof RbError) {
      e.stream ??= task.stream;
      e.shard ??= task.shardIndex;
      throw e;
    }
    throw new RbError('internal', `${task.stream} shard ${task.shardIndex}: ${e instanceof Error ? e.message : String(e)}`, { stream: task.stream, shard: task.shardIndex, cause: e });
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
  }
}
