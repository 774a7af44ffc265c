/**
 * How long a shard's two stages waited on each other (docs/design.md section 16, telemetry): the
 * channel between them is where one stage waits for the other, whichever implementation joins them
 * (the in-thread queue or the ring, chunk-channel.ts), so the waits are measured around its two
 * ends, not inside the connectors.
 *
 *   source stage ──push──►  channel  ──pull──► destination stage
 *                  │                    │
 *                  sourceBlockedMs:     destWaitMs:
 *                  push waited: the     pull waited: the
 *                  channel was full     channel was empty
 *                  (backpressure)       (no data yet)
 *
 * Two `performance.now()` per frame (a frame is 128 kB to `max_batch_bytes`): nothing measurable
 * (bench/telemetry/README.md). `RB_TELEMETRY=0` leaves the channel unwrapped (the A/B's "off").
 */
import type { FrameSink, FrameSource } from '../../connectors/contract/frames.js';

export interface StageWaits {
  /** Time the source stage spent in `push` (the channel full). */
  sourceBlockedMs: number;
  /** Time the destination stage spent in `pull` (the channel empty). */
  destWaitMs: number;
}

export function stageTimingEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.RB_TELEMETRY !== '0';
}

/** `sink`, with the time spent in `push` added to `waits.sourceBlockedMs`. */
export function timedSink(sink: FrameSink, waits: StageWaits): FrameSink {
  return {
    async push(frame) {
      const t = performance.now();
      try {
        await sink.push(frame);
      } finally {
        waits.sourceBlockedMs += performance.now() - t;
      }
    },
    end: () => sink.end(),
    fail: (err) => sink.fail(err),
    acknowledged: () => sink.acknowledged(),
  };
}

/** `source`, with the time spent in `pull` added to `waits.destWaitMs`. */
export function timedSource(source: FrameSource, waits: StageWaits): FrameSource {
  return {
    async pull() {
      const t = performance.now();
      try {
        return await source.pull();
      } finally {
        waits.destWaitMs += performance.now() - t;
      }
    },
    fail: (err) => source.fail(err),
    acknowledge: (lsn) => source.acknowledge(lsn),
  };
}

export function newStageWaits(): StageWaits {
  return { sourceBlockedMs: 0, destWaitMs: 0 };
}
