/**
 * A shard's source stage: `COPY (SELECT ...) TO STDOUT` under the run's exported snapshot, read in
 * tuple-aligned chunks (CopyOutReader: bulk CopyData de-framing) and pushed into a ChunkSink,
 * which is an in-thread queue (joined mode) or a ring channel to another thread (split mode).
 *
 *   source socket ──CopyOutReader──► sink.push (waits while the channel is full) ──► … ──► sink.end()
 *
 * The stage ends the sink only after the server's `COPY n` matched the rows read, so the
 * destination commits only data the source vouched for. On failure it fails the sink with its
 * error (the destination aborts and reports it) — unless the sink failed first, which means the
 * destination stopped it and owns the error.
 */
import type pg from 'pg';
import { connect, queryError } from '../../connectors/postgres/connection.js';
import { CopyOutReader } from '../../connectors/source-postgres/copy-out-reader.js';
import { RbError } from '../errors.js';
import type { ChunkSink } from './chunk-channel.js';
import { explainedBy, stageError, watchClientErrors, type ShardTask } from './shard-task.js';

export interface SourceStageHooks {
  /** Aborting ends the stage's socket: whatever it waits on (its server, the sink) stops. */
  signal?: AbortSignal;
}

export interface SourceStageResult {
  rows: number;
  bytes: number;
}

export async function runSourceStage(task: ShardTask, sink: ChunkSink, hooks: SourceStageHooks = {}): Promise<SourceStageResult> {
  const where = { stream: task.stream, shard: task.shardIndex };
  const label = `${task.stream} shard ${task.shardIndex}`;
  let src: pg.Client | undefined;
  const onAbort = () => destroySocket(src);
  hooks.signal?.addEventListener('abort', onAbort, { once: true });
  let doing = 'connecting';
  let clientError = (): unknown => undefined;
  try {
    if (hooks.signal?.aborted) throw new RbError('cancelled', `${label}: cancelled`, where);
    src = await connect(task.source, 'source', `rb ${task.stream}#${task.shardIndex}`, { readTap: true });
    clientError = watchClientErrors(src);
    if (hooks.signal?.aborted) destroySocket(src);
    try {
      await src.query('begin isolation level repeatable read read only');
      if (task.snapshot) await src.query(`set transaction snapshot '${task.snapshot.replace(/'/g, "''")}'`);
      if (task.preferIndexScan) await src.query('set local enable_seqscan = off');
    } catch (e) {
      // A backend killed between these statements: report the server's reason, not pg's "not queryable".
      throw queryError(explainedBy(e, clientError()), 'source', `${label}: starting the snapshot transaction`, where);
    }
    doing = 'reading';
    const reader = new CopyOutReader(task.copyOutSql, { format: task.contract.format, fieldCount: task.contract.columns.length, chunkBytes: task.chunkBytes });
    src.query(reader as unknown as pg.QueryConfig);
    let rows = 0;
    let bytes = 0;
    for await (const chunk of reader) {
      await sink.push(chunk);
      rows += chunk.rows;
      bytes += chunk.bytes.length;
    }
    if (reader.rowCount >= 0 && reader.rowCount !== rows) {
      throw new RbError('internal', `${label}: source reports ${reader.rowCount} rows, rb read ${rows}`, where);
    }
    sink.end();
    // Read-only: nothing to keep, but a clean commit ends the snapshot transaction politely.
    await src.query('commit').catch(() => {});
    return { rows, bytes };
  } catch (e) {
    const err = stageError(task, explainedBy(e, clientError()), 'source', doing);
    sink.fail(err);
    throw err;
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
    await src?.end().catch(() => {});
  }
}

/** Ends a client's socket at once (whatever query or COPY it is in); the server rolls back. */
export function destroySocket(client: pg.Client | undefined): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } } | undefined)?.connection?.stream?.destroy();
}
