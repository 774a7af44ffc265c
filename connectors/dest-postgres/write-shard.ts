/**
 * A shard's destination stage (ShardWriter, connectors/contract/connector.ts): pulls frames from a
 * FrameSource and writes them in one destination transaction, so a shard is written whole or not
 * at all (an incremental checkpoint commits the rows so far together with their cursor).
 *
 *   … ──► source.pull ──► CopyInWriter (COPY ... FROM STDIN) / InsertWriter ──► destination socket
 *
 * Fast path (load_method copy): chunks pass through untouched; the server's row count must equal
 * the rows the chunks carried. Decode path (load_method insert): chunks are decoded into columnar
 * batches, viewed as Arrow RecordBatches (where transforms will run), and written as INSERT
 * parameters. COMMIT happens only after the source delivered its end (`pull` returned `end`, which
 * the source stage does only after the server's `COPY n` matched what it read). On failure the
 * stage aborts its COPY, stops the source (fail) and reports its error — or the source's error
 * when that is what stopped it.
 */
import type pg from 'pg';
import { arrowToBatch, batchToArrow, loadArrow } from '../../native/arrow.js';
import { codecs } from '../../native/index.js';
import { codecForType } from '../../native/type-codecs.js';
import type { ShardProgress, StageHooks, WriteResult, WriteTask } from '../contract/connector.js';
import { RbError } from '../contract/errors.js';
import type { CopyFrame, FrameSource } from '../contract/frames.js';
import { connect, destroySocket, endLostBackend, queryError, type PgEndpoint } from '../postgres/connection.js';
import { explainedBy, stageError, watchClientErrors } from '../postgres/stage-errors.js';
import { isDataError, Rejections, rejectedRowError, RowIsolator } from './bad-rows.js';
import { applyCheckpoint, cursorTexts } from './checkpoint.js';
import { UniqueClaims } from './unique-values.js';
import { CopyInWriter } from './copy-in-writer.js';
import { lastRowFields, type RawField } from './copy-last-row.js';
import { parseCopyTextRows } from './copy-text.js';
import { InsertWriter } from './insert-writer.js';
import { RowTransformer } from './row-transforms.js';
import { insertLedgerRow } from './state-store.js';

/** The next COPY frame, or null at the end: this writer takes snapshot and incremental reads. */
async function nextCopyFrame(source: FrameSource, label: string): Promise<CopyFrame | null> {
  const f = await source.pull();
  if (f.kind === 'end') return null;
  if (f.kind !== 'copy') throw new RbError('internal', `${label}: the COPY writer received a ${f.kind} frame`);
  return f;
}

export async function writeShard(task: WriteTask<PgEndpoint>, source: FrameSource, hooks: StageHooks = {}): Promise<WriteResult> {
  const where = { stream: task.stream, shard: task.shardIndex };
  const label = `${task.stream} shard ${task.shardIndex}`;
  let dst: pg.Client | undefined;
  const onAbort = () => destroySocket(dst);
  hooks.signal?.addEventListener('abort', onAbort, { once: true });
  let doing = 'connecting';
  let clientError = (): unknown => undefined;
  let rows = 0;
  let bytes = 0;
  /** Rows of the shard before the COPY being written (a data error's line counts from there). */
  let copyBase = 0;
  let rejections: Rejections | null = null;
  const progress = (chunk: { bytes: Uint8Array; rows: number }) => {
    rows += chunk.rows;
    bytes += chunk.bytes.length;
    hooks.onProgress?.({ stream: task.stream, shardIndex: task.shardIndex, rows, bytes } satisfies ShardProgress);
  };
  try {
    if (hooks.signal?.aborted) throw new RbError('cancelled', `${label}: cancelled`, where);
    dst = await connect(task.dest, 'destination', `rb ${task.stream}#${task.shardIndex}`);
    clientError = watchClientErrors(dst);
    if (hooks.signal?.aborted) destroySocket(dst);
    await dst.query('begin').catch((e) => {
      throw queryError(explainedBy(e, clientError()), 'destination', `${label}: begin`, where);
    });
    doing = 'writing';
    const cp = task.checkpoint;
    let sinceBytes = 0;
    let sinceRows = 0;
    let sinceAt = performance.now();
    let checkpoints = 0;
    /** True when the rows written since the last checkpoint call for one after `chunk`. */
    const checkpointDue = (chunk: { bytes: Uint8Array; rows: number }): boolean => {
      if (!cp) return false;
      sinceBytes += chunk.bytes.length;
      sinceRows += chunk.rows;
      return (
        (cp.bytes > 0 && sinceBytes >= cp.bytes) || (cp.rows > 0 && sinceRows >= cp.rows) || (cp.seconds > 0 && performance.now() - sinceAt >= cp.seconds * 1000)
      );
    };
    /** Commits what is written so far with the cursor of its last row, and begins the next part. */
    // The stored cursor this attempt continues from, then the one its last checkpoint stored.
    let from = cp?.from;
    const checkpoint = async (last: RawField[]) => {
      const cursor = await cursorTexts(dst!, cp!.fieldTypes, last);
      from = await applyCheckpoint(dst!, task.contract, { ...cp!, stream: task.stream }, cursor, cp!.lookback, { from: from!, queued: task.ledger });
      await dst!.query('commit');
      await dst!.query('begin');
      checkpoints++;
      sinceBytes = 0;
      sinceRows = 0;
      sinceAt = performance.now();
    };
    const slowdown = task.cpuSlowdown ? cpuSlowdown(task.cpuSlowdown) : undefined;
    if (task.isolate || task.rowSteps?.length) rejections = new Rejections(dst, task.contract.columns.map((c) => c.name), task.badRows, task);
    // Transforms of the pool (row-transforms.ts) on text chunks: masks, validate.
    const unique = task.rowSteps?.some((x) => x.kind === 'validate' && 'unique' in x.check)
      ? new UniqueClaims(dst, { schema: task.badRows.schema, pipeline: task.badRows.pipeline, planId: task.uniquePlan ?? task.ledger?.planId ?? task.badRows.runId, stream: task.stream })
      : null;
    // A value's holder is its row's key (a cdc stream's changes keep the claims current).
    const keyColumns = task.badRows.rowKey.map((k) => task.contract.columns.findIndex((c) => c.name === k));
    const transformer = task.rowSteps?.length ? new RowTransformer(task.rowSteps, task.contract.columns.length, rejections!, unique, keyColumns.includes(-1) ? [] : keyColumns) : null;
    if (task.isolate) {
      // The second attempt after a rejected row (bad-rows.ts): text chunks, under savepoints.
      const isolator = new RowIsolator(dst, task.contract, rejections!, task);
      for (;;) {
        const chunk = await nextCopyFrame(source, label);
        if (!chunk) break;
        const last = checkpointDue(chunk) ? lastRowFields(chunk.bytes, task.contract.format, task.contract.columns.length, cp!.fieldIndexes) : null;
        await isolator.writeChunk(transformer ? (await transformer.applyClaimed(chunk.bytes)).text : chunk.bytes);
        chunk.release?.();
        progress(chunk);
        if (last) {
          await rejections!.flush();
          await checkpoint(last);
        }
      }
    } else if (task.contract.loadMethod === 'copy') {
      let writer = CopyInWriter.open(dst, task.contract, task.dest);
      let writerRows = 0;
      /** Ends the COPY of the chunks so far (a checkpoint, a unique claim), its row count checked. */
      const endCopy = async () => {
        const n = await writer.finish(task.contract.format);
        if (n !== writerRows) throw new RbError('internal', `${label}: destination reports ${n} rows, rb counted ${writerRows}`, where);
      };
      try {
        for (;;) {
          const chunk = await nextCopyFrame(source, label);
          if (!chunk) break;
          // The cursor is read before the chunk is written: once drained, its memory is reused.
          const last = checkpointDue(chunk) ? lastRowFields(chunk.bytes, task.contract.format, task.contract.columns.length, cp!.fieldIndexes) : null;
          if (transformer) {
            if (unique) {
              // A claim is a query: the COPY of the chunks before it ends first, and a new one begins.
              await endCopy();
              copyBase += writerRows;
              writerRows = 0;
            }
            const out = await transformer.applyClaimed(chunk.bytes);
            if (unique) writer = CopyInWriter.open(dst, task.contract, task.dest);
            await writer.write(out.text);
            chunk.release?.();
            writerRows += out.rows.length;
          } else {
            // Drained to the socket: the reader may reuse the chunk's memory.
            if (await writer.write(chunk.bytes)) chunk.release?.();
            writerRows += chunk.rows;
          }
          progress(chunk);
          if (last) {
            await endCopy();
            await rejections?.flush();
            await checkpoint(last);
            writer = CopyInWriter.open(dst, task.contract, task.dest);
            copyBase += writerRows;
            writerRows = 0;
          }
          if (task.delayPerChunkMs > 0) await sleep(task.delayPerChunkMs);
          slowdown?.();
        }
      } catch (e) {
        const why = await writer.settledFailure(e);
        await endLostBackend(task.dest, 'destination', why);
        writer.abort(why instanceof Error ? why.message : String(why));
        throw why;
      }
      const serverRows = await writer.finish(task.contract.format).catch(async (e: unknown) => {
        const why = await writer.settledFailure(e);
        await endLostBackend(task.dest, 'destination', why);
        throw why;
      });
      if (serverRows !== writerRows) {
        throw new RbError('internal', `${label}: destination reports ${serverRows} rows, rb counted ${writerRows}`, where);
      }
    } else {
      const writer = new InsertWriter(dst, task.contract);
      const colCodecs = task.contract.columns.map((c) => codecForType(c.sourceTypeOid));
      const fields = task.contract.columns.map((c) => ({ name: c.name, typeOid: c.sourceTypeOid, typeName: c.typeSql }));
      if (task.contract.format === 'binary') await loadArrow();
      for (;;) {
        const chunk = await nextCopyFrame(source, label);
        if (!chunk) break;
        const last = checkpointDue(chunk) ? lastRowFields(chunk.bytes, task.contract.format, task.contract.columns.length, cp!.fieldIndexes) : null;
        if (task.contract.format === 'binary') {
          const decoded = codecs.copyDecode(chunk.bytes, 0, colCodecs);
          // The Arrow view is where transforms run; the round trip is lossless by construction.
          await writer.writeBatch(arrowToBatch(batchToArrow(decoded.batch, fields)));
        } else {
          await writer.writeTextRows(transformer ? (await transformer.applyClaimed(chunk.bytes)).rows : parseCopyTextRows(chunk.bytes, task.contract.columns.length));
        }
        // The INSERT completed: nothing refers to the chunk's bytes any more.
        chunk.release?.();
        progress(chunk);
        if (last) {
          await rejections?.flush();
          await checkpoint(last);
        }
        if (task.delayPerChunkMs > 0) await sleep(task.delayPerChunkMs);
        slowdown?.();
      }
    }
    await rejections?.flush();
    // The end of an incremental read: the run's high-water mark, even when no row came.
    if (cp) {
      await applyCheckpoint(dst, task.contract, { ...cp, stream: task.stream }, cp.finalCursor, cp.lookback, { from: from!, queued: task.ledger });
      checkpoints++;
    }
    const rejected = { rowsSkipped: rejections?.skipped ?? 0, rowsDeadLettered: rejections?.deadLettered ?? 0, valuesNulled: rejections?.nulled ?? 0 };
    const written = rows - rejected.rowsSkipped - rejected.rowsDeadLettered;
    if (task.ledger) await insertLedgerRow(dst, task.ledger, written, bytes);
    doing = 'commit';
    try {
      await dst.query('commit');
    } catch (e) {
      throw queryError(explainedBy(e, clientError()), 'destination', `${label}: commit`, where);
    }
    return { rows: written, bytes, checkpoints, ...rejected, ...(cp ? { highWater: { cursor: cp.finalCursor } } : {}) };
  } catch (e) {
    const raw = explainedBy(e, clientError());
    // A row the destination rejects: the isolating attempt finds it (bad-rows.ts); one it could not
    // isolate (a deferred constraint failing at COMMIT) stops the run as a data error.
    const err = isDataError(raw) ? rejectedRowError(task, raw, copyBase, !task.isolate) : stageError(task, raw, 'destination', doing);
    source.fail(err);
    throw err;
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
    await dst?.end().catch(() => {});
  }
}

/**
 * RB_BENCH_CPU_SLOWDOWN's work: after each chunk, spins the thread for `fraction` × the time since
 * the previous chunk ended, so a CPU-bound move gets about that much slower through real CPU use.
 */
export function cpuSlowdown(fraction: number): () => void {
  let last = performance.now();
  return () => {
    const now = performance.now();
    const until = now + fraction * (now - last);
    while (performance.now() < until) {
      /* busy: the point is the CPU it takes */
    }
    last = performance.now();
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
