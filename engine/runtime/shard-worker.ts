/**
 * Pool worker entry: only wires the shard movers to Piscina. A job is a whole shard (`joined`) or
 * one stage of a split shard (`source` / `dest`, sharing the ring channel whose handle came with
 * the job). Errors come back as data (RbError JSON) because structured clone drops an Error's own
 * fields such as `code`.
 */
import { RbError, type SerializedRbError } from '../errors.js';
import { ringSink, ringSource } from './chunk-channel.js';
import { shardReader, shardWriter } from '../../connectors/registry.js';
import { copyShard } from './copy-shard.js';
import { RingChannel } from './ring-channel.js';
import { newStageWaits, stageTimingEnabled, timedSink, timedSource } from './stage-timing.js';
import { cancelledError, shardResult, type ShardJob, type ShardProgress, type ShardResult } from './shard-task.js';

export type ShardOutcome = { ok: true; result: ShardResult } | { ok: false; error: SerializedRbError };

const PROGRESS_INTERVAL_MS = 200;

/** `signal`: only when run in the calling thread (InlineRunner); the pool stops a worker by ending its thread. */
export default async function runShard(job: ShardJob, signal?: AbortSignal): Promise<ShardOutcome> {
  const started = performance.now();
  const channel = job.progressChannel ? new BroadcastChannel(job.progressChannel) : null;
  let last = 0;
  const onProgress = (p: ShardProgress) => {
    const now = performance.now();
    if (channel && now - last >= PROGRESS_INTERVAL_MS) {
      last = now;
      channel.postMessage(p);
    }
  };
  try {
    let result: ShardResult;
    if (job.role === 'joined') {
      result = await copyShard(job, { onProgress, signal });
    } else {
      const ring = RingChannel.attach(job.ring);
      const ends = { streamIndex: job.streamIndex, shardIndex: job.shardIndex, cancelled: () => cancelledError(job) };
      // Each stage measures its own end of the ring; the pool joins the two (shard-pool.ts runSplit).
      const waits = stageTimingEnabled() ? newStageWaits() : null;
      if (job.role === 'source') {
        const sink = ringSink(ring, ends);
        const moved = await shardReader.readShard(job, waits ? timedSink(sink, waits) : sink);
        result = shardResult(job, moved, performance.now() - started, waits ? { sourceBlockedMs: waits.sourceBlockedMs } : undefined);
      } else {
        const source = ringSource(ring, { ...ends, wholeChunks: job.contract.loadMethod !== 'copy' || job.checkpoint !== undefined });
        const moved = await shardWriter.writeShard(job, waits ? timedSource(source, waits) : source, { onProgress });
        result = shardResult(job, moved, performance.now() - started, waits ? { destWaitMs: waits.destWaitMs } : undefined);
      }
    }
    if (job.role !== 'source') channel?.postMessage({ stream: job.stream, shardIndex: job.shardIndex, rows: result.rows, bytes: result.bytes });
    return { ok: true, result };
  } catch (e) {
    const err = e instanceof RbError ? e : new RbError('internal', e instanceof Error ? e.message : String(e), { stream: job.stream, shard: job.shardIndex });
    return { ok: false, error: err.toJSON() };
  } finally {
    channel?.close();
  }
}
