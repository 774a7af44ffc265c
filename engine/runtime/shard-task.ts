/**
 * The unit of work handed to a pool worker: one shard of one stream. Plain data (structured
 * clone), built by the main thread after the leader has prepared the destination.
 */
import type { PgEndpoint } from '../../connectors/postgres/connection.js';
import type { WriteContract } from '../../connectors/dest-postgres/write-contract.js';

export interface ShardTask {
  runId: string;
  stream: string;
  /** Index of the stream in the run (for ring-buffer frame headers and progress). */
  streamIndex: number;
  shardIndex: number;
  shardCount: number;
  source: PgEndpoint;
  dest: PgEndpoint;
  /** Snapshot exported by the run's coordinator transaction; every shard reads it. */
  snapshot: string | null;
  /** `COPY (SELECT ... WHERE <shard predicate>) TO STDOUT ...` for this shard. */
  copyOutSql: string;
  contract: WriteContract;
  /** Target bytes per chunk moved between source and destination. */
  chunkBytes: number;
  /** Chunks allowed in flight between the source and destination stage. */
  maxInflightChunks: number;
  /** Test/bench hook: sleep this long per chunk (RB_BENCH_DELAY_MS). */
  delayPerChunkMs: number;
}

export interface ShardResult {
  stream: string;
  shardIndex: number;
  rows: number;
  bytes: number;
  durationMs: number;
}

export interface ShardProgress {
  stream: string;
  shardIndex: number;
  rows: number;
  bytes: number;
}
