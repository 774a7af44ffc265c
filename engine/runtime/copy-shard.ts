/**
 * Moves one shard: the source stage (`COPY (SELECT ...) TO STDOUT` under the run's snapshot)
 * feeding the destination stage (`COPY ... FROM STDIN` or multi-row INSERT) in one destination
 * transaction, so a shard is written whole or not at all.
 *
 *   source socket ──CopyOutReader (bulk de-frame, tuple-aligned chunks)──► queue (bounded,
 *   maxInflightChunks) ──► CopyInWriter / InsertWriter ──► destination socket
 *
 * Fast path (load_method copy): chunks pass through untouched; rows are counted by the tuple
 * scanner and checked against the server's COPY row count. Decode path (load_method insert):
 * chunks are decoded into columnar batches, viewed as Arrow RecordBatches (where transforms will
 * run), and written as INSERT parameters.
 */
import type pg from 'pg';
import { CopyInWriter } from '../../connectors/dest-postgres/copy-in-writer.js';
import { parseCopyTextRows } from '../../connectors/dest-postgres/copy-text.js';
import { InsertWriter } from '../../connectors/dest-postgres/insert-writer.js';
import { connect, queryError } from '../../connectors/postgres/connection.js';
import { CopyOutReader, type CopyChunk } from '../../connectors/source-postgres/copy-out-reader.js';
import { arrowToBatch, batchToArrow } from '../../native/arrow.js';
import { codecs } from '../../native/index.js';
import { codecForType } from '../../native/type-codecs.js';
import { RbError, pgErrorInfo } from '../errors.js';
import { AsyncQueue } from './async-queue.js';
import type { ShardProgress, ShardResult, ShardTask } from './shard-task.js';

export interface ShardHooks {
  onProgress?: (p: ShardProgress) => void;
  signal?: AbortSignal;
}

/** A failure that came from a server or its connection (as opposed to a bug of ours). */
function isDatabaseSide(e: unknown): boolean {
  if (pgErrorInfo(e)) return true;
  const o = e as { syscall?: string; message?: string } | null;
  return !!o && (typeof o.syscall === 'string' || /Connection terminated|connection.*(closed|ended)/i.test(o.message ?? ''));
}

export async function copyShard(task: ShardTask, hooks: ShardHooks = {}): Promise<ShardResult> {
  const started = performance.now();
  const where = { stream: task.stream, shard: task.shardIndex };
  const internal = (e: unknown) => new RbError('internal', `${task.stream} shard ${task.shardIndex}: ${e instanceof Error ? e.message : String(e)}`, { ...where, cause: e });
  let src: pg.Client | undefined;
  let dst: pg.Client | undefined;
  const onAbort = () => {
    // Ending the sockets interrupts whatever stage is waiting on them.
    (src as unknown as { connection?: { stream?: { destroy(): void } } })?.connection?.stream?.destroy();
    (dst as unknown as { connection?: { stream?: { destroy(): void } } })?.connection?.stream?.destroy();
  };
  hooks.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    src = await connect(task.source, 'source', `rb ${task.stream}#${task.shardIndex}`);
    dst = await connect(task.dest, 'destination', `rb ${task.stream}#${task.shardIndex}`);
    try {
      await src.query('begin isolation level repeatable read read only');
      if (task.snapshot) await src.query(`set transaction snapshot '${task.snapshot.replace(/'/g, "''")}'`);
    } catch (e) {
      throw queryError(e, 'source', `${task.stream} shard ${task.shardIndex}: starting the snapshot transaction`, where);
    }
    await dst.query('begin').catch((e) => {
      throw queryError(e, 'destination', `${task.stream} shard ${task.shardIndex}: begin`, where);
    });

    const fieldCount = task.contract.columns.length;
    const reader = new CopyOutReader(task.copyOutSql, { format: task.contract.format, fieldCount, chunkBytes: task.chunkBytes });
    src.query(reader as unknown as pg.QueryConfig);
    const queue = new AsyncQueue<CopyChunk>(task.maxInflightChunks);
    // Whichever stage fails first owns the error; the other stage's failure is its consequence.
    let firstFailure: RbError | null = null;
    const failWith = (e: unknown, role: 'source' | 'destination', doing: string): RbError => {
      firstFailure ??= e instanceof RbError ? e : isDatabaseSide(e) ? queryError(e, role, `${task.stream} shard ${task.shardIndex}: ${doing}`, where) : internal(e);
      queue.fail(firstFailure);
      return firstFailure;
    };

    // Source stage: pull chunks off the socket into the bounded queue.
    const produce = (async () => {
      try {
        for await (const chunk of reader) {
          if (hooks.signal?.aborted) throw new RbError('cancelled', 'cancelled', where);
          await queue.push(chunk);
        }
        queue.close();
      } catch (e) {
        throw failWith(e, 'source', 'reading');
      }
    })();
    produce.catch(() => {});

    // Destination stage.
    let rows = 0;
    let bytes = 0;
    try {
      if (task.contract.loadMethod === 'copy') {
        const writer = CopyInWriter.open(dst, task.contract);
        try {
          for (;;) {
            const chunk = await queue.pop();
            if (!chunk) break;
            await writer.write(chunk.bytes);
            rows += chunk.rows;
            bytes += chunk.bytes.length;
            hooks.onProgress?.({ stream: task.stream, shardIndex: task.shardIndex, rows, bytes });
            if (task.delayPerChunkMs > 0) await new Promise((r) => setTimeout(r, task.delayPerChunkMs));
          }
        } catch (e) {
          const why = await writer.settledFailure(e);
          writer.abort(why instanceof Error ? why.message : String(why));
          throw why;
        }
        const serverRows = await writer.finish(task.contract.format).catch(async (e: unknown) => {
          throw await writer.settledFailure(e);
        });
        if (serverRows !== rows) {
          throw new RbError('internal', `${task.stream} shard ${task.shardIndex}: destination reports ${serverRows} rows, rb counted ${rows}`, where);
        }
      } else {
        const writer = new InsertWriter(dst, task.contract);
        const colCodecs = task.contract.columns.map((c) => codecForType(c.sourceTypeOid));
        const fields = task.contract.columns.map((c) => ({ name: c.name, typeOid: c.sourceTypeOid, typeName: c.typeSql }));
        for (;;) {
          const chunk = await queue.pop();
          if (!chunk) break;
          if (task.contract.format === 'binary') {
            const decoded = codecs.copyDecode(chunk.bytes, 0, colCodecs);
            // The Arrow view is where transforms run; the round trip is lossless by construction.
            await writer.writeBatch(arrowToBatch(batchToArrow(decoded.batch, fields)));
          } else {
            await writer.writeTextRows(parseCopyTextRows(chunk.bytes, fieldCount));
          }
          rows += chunk.rows;
          bytes += chunk.bytes.length;
          hooks.onProgress?.({ stream: task.stream, shardIndex: task.shardIndex, rows, bytes });
          if (task.delayPerChunkMs > 0) await new Promise((r) => setTimeout(r, task.delayPerChunkMs));
        }
      }
    } catch (e) {
      throw failWith(e, 'destination', 'writing');
    }
    await produce;
    if (reader.rowCount >= 0 && reader.rowCount !== rows) {
      throw new RbError('internal', `${task.stream} shard ${task.shardIndex}: source reports ${reader.rowCount} rows, rb moved ${rows}`, where);
    }
    try {
      await dst.query('commit');
    } catch (e) {
      throw queryError(e, 'destination', `${task.stream} shard ${task.shardIndex}: commit`, where);
    }
    await src.query('commit').catch(() => {});
    return { stream: task.stream, shardIndex: task.shardIndex, rows, bytes, durationMs: performance.now() - started };
  } catch (e) {
    if (hooks.signal?.aborted && !(e instanceof RbError && e.code !== 'cancelled')) {
      throw new RbError('cancelled', `${task.stream} shard ${task.shardIndex}: cancelled`, where);
    }
    if (e instanceof RbError) {
      e.stream ??= task.stream;
      e.shard ??= task.shardIndex;
      throw e;
    }
    throw new RbError('internal', `${task.stream} shard ${task.shardIndex}: ${e instanceof Error ? e.message : String(e)}`, { ...where, cause: e });
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
    await Promise.all([src?.end().catch(() => {}), dst?.end().catch(() => {})]);
  }
}
