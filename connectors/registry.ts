/**
 * Which connector implements each capability (connectors/contract/connector.ts). `use: postgres`
 * is the only source and destination rb has, so this is where the engine gets the PostgreSQL
 * implementations without importing their modules one by one; another connector registers here.
 */
import type { ShardReader, ShardWriter, SnapshotSource, Sink, SourceReads } from './contract/connector.js';
import type { ChangeSource } from './contract/changes.js';
import type { StateStore } from './contract/state.js';
import { PostgresSink } from './dest-postgres/postgres-sink.js';
import { PostgresStateStore } from './dest-postgres/state-store.js';
import { writeShard } from './dest-postgres/write-shard.js';
import { backendIdentity, type BackendIdentity } from './postgres/backend.js';
import { connect, type PgEndpoint } from './postgres/connection.js';
import { PostgresCdcSource } from './source-postgres/postgres-cdc.js';
import { continueRead } from './source-postgres/incremental.js';
import { PostgresSnapshotSource } from './source-postgres/postgres-source.js';
import { readShard } from './source-postgres/read-shard.js';

export type Endpoint = PgEndpoint;
export type { BackendIdentity };

export const shardReader: ShardReader<Endpoint> = { readShard };
export const shardWriter: ShardWriter<Endpoint> = { writeShard };
export const sourceReads: SourceReads = { continueRead };

/** The leader's side of a run: one source connection, one destination connection. */
export interface LeaderSession {
  source: SnapshotSource;
  sink: Sink;
  state: StateStore;
  /** CDC setup and the slot's catch-up read, on the source connection. */
  changes: ChangeSource;
  /** The server processes behind the two connections (telemetry: a local server's CPU). */
  backends(): Promise<{ source: BackendIdentity; destination: BackendIdentity }>;
  close(): Promise<void>;
}

/**
 * Connects to both ends at once (each is a TCP + SCRAM round trip or two); a failure is reported
 * source first, and whichever side did connect is closed.
 */
export async function openLeaderSession(source: Endpoint, dest: Endpoint, state: { schema: string; pipeline: string }): Promise<LeaderSession> {
  const [s, d] = await Promise.allSettled([connect(source, 'source', 'rb planner'), connect(dest, 'destination', 'rb leader')]);
  if (s.status === 'rejected' || d.status === 'rejected') {
    await Promise.all([s.status === 'fulfilled' ? s.value.end().catch(() => {}) : null, d.status === 'fulfilled' ? d.value.end().catch(() => {}) : null]);
    throw s.status === 'rejected' ? s.reason : (d as PromiseRejectedResult).reason;
  }
  const src = s.value;
  const dst = d.value;
  return {
    source: new PostgresSnapshotSource(src),
    sink: new PostgresSink(dst, src, state),
    state: new PostgresStateStore(dst, state.schema, state.pipeline),
    changes: new PostgresCdcSource(src, source),
    backends: async () => ({ source: await backendIdentity(src), destination: await backendIdentity(dst) }),
    close: async () => {
      await Promise.all([src.end().catch(() => {}), dst.end().catch(() => {})]);
    },
  };
}

/** The destination alone, for `rb state`: the pipeline's StateStore. */
export async function openStateStore(dest: Endpoint, state: { schema: string; pipeline: string }): Promise<{ state: StateStore; close(): Promise<void> }> {
  const dst = await connect(dest, 'destination', 'rb state');
  return { state: new PostgresStateStore(dst, state.schema, state.pipeline), close: () => dst.end().catch(() => {}) };
}

/** The source alone, for `rb state reset` of a cdc pipeline: its ChangeSource. */
export async function openChangeSource(source: Endpoint): Promise<{ changes: ChangeSource; close(): Promise<void> }> {
  const src = await connect(source, 'source', 'rb state');
  return { changes: new PostgresCdcSource(src, source), close: () => src.end().catch(() => {}) };
}
