/**
 * A shard's source stage (ShardReader, connectors/contract/connector.ts): `COPY (SELECT ...) TO
 * STDOUT` under the run's exported snapshot, read in tuple-aligned frames (CopyOutReader: bulk
 * CopyData de-framing) and pushed into a FrameSink — an in-thread queue (joined mode) or a ring
 * channel to another thread (split mode).
 *
 *   source socket ──CopyOutReader──► sink.push (waits while the channel is full) ──► … ──► sink.end()
 *
 * The stage ends the sink only after the server's `COPY n` matched the rows read, so the
 * destination commits only data the source vouched for. On failure it fails the sink with its
 * error (the destination aborts and reports it) — unless the sink failed first, which means the
 * destination stopped it and owns the error.
 */
import type pg from 'pg';
import type { ReadResult, ReadTask, ShardRead, StageHooks } from '../contract/connector.js';
import { RbError } from '../contract/errors.js';
import type { FrameSink } from '../contract/frames.js';
import { connect, destroySocket, endLostBackend, queryError, type PgEndpoint } from '../postgres/connection.js';
import { quoteIdent, quoteLiteral, quoteQualified } from '../postgres/identifiers.js';
import { REDACTED, type ReadStep } from '../contract/transforms.js';
import { explainedBy, stageError, watchClientErrors } from '../postgres/stage-errors.js';
import { watchStall } from '../postgres/stall-watch.js';
import { CopyOutReader } from './copy-out-reader.js';
import { selectList } from './select-list.js';

/** The COPY statement that reads one shard. */
export function shardCopySql(r: ShardRead): string {
  const order = r.orderBy ? ` order by ${r.orderBy}` : '';
  const fmt = r.format === 'binary' ? ' (format binary)' : '';
  return `copy (${shardSelectSql(r)}${order}) to stdout${fmt}`;
}

/** The SELECT of a shard's read (its order aside), pushed-down transforms included. */
export function shardSelectSql(r: ShardRead): string {
  const preds = r.predicates.filter(Boolean);
  const where = preds.length ? ` where ${preds.map((p) => (preds.length > 1 ? `(${p})` : p)).join(' and ')}` : '';
  let select = `select ${selectList(r.columns)} from ${quoteQualified(r.table)}${where}`;
  for (const step of r.steps ?? []) select = transformLayer(select, step);
  return select;
}

/**
 * One pushed-down transform as a layer over `inner` (the planner flattens them: the shard's
 * predicate still drives the scan). A mask reads the value's text form, as the pool's does.
 * `carry`: a column of `inner` every layer passes on as it is (judge-rows.ts numbers its rows).
 */
export function transformLayer(inner: string, step: ReadStep, carry?: string): string {
  if (step.kind === 'filter') return `select * from (${inner}) s where (${step.where})`;
  const cols = step.columns.map((c) => {
    const v = quoteIdent(c.from);
    const expr =
      c.mask === 'sha256'
        ? `encode(sha256(convert_to(${v}::text, 'UTF8')), 'hex')`
        : c.mask === 'redact'
          ? `case when ${v} is null then null else ${quoteLiteral(REDACTED)} end`
          : c.mask === 'null'
            ? 'null'
            : v;
    return `${expr} as ${quoteIdent(c.name)}`;
  });
  return `select ${carry ? `${quoteIdent(carry)}, ` : ''}${cols.join(', ')} from (${inner}) s`;
}

export async function readShard(task: ReadTask<PgEndpoint>, sink: FrameSink, hooks: StageHooks = {}): Promise<ReadResult> {
  const where = { stream: task.stream, shard: task.shardIndex };
  const label = `${task.stream} shard ${task.shardIndex}`;
  let src: pg.Client | undefined;
  const onAbort = () => destroySocket(src);
  hooks.signal?.addEventListener('abort', onAbort, { once: true });
  let doing = 'connecting';
  let clientError = (): unknown => undefined;
  let stopWatch = (): void => {};
  try {
    if (hooks.signal?.aborted) throw new RbError('cancelled', `${label}: cancelled`, where);
    src = await connect(task.source, 'source', `rb ${task.stream}#${task.shardIndex}`, { readTap: true });
    clientError = watchClientErrors(src);
    if (hooks.signal?.aborted) destroySocket(src);
    try {
      await src.query('begin isolation level repeatable read read only');
      if (task.snapshot) await src.query(`set transaction snapshot '${task.snapshot.replace(/'/g, "''")}'`);
      if (task.read.preferIndexScan) await src.query('set local enable_seqscan = off');
    } catch (e) {
      // A backend killed between these statements: report the server's reason, not pg's "not queryable".
      throw queryError(explainedBy(e, clientError()), 'source', `${label}: starting the snapshot transaction`, where);
    }
    doing = 'reading';
    const reader = new CopyOutReader(shardCopySql(task.read), { format: task.read.format, fieldCount: task.read.columns.length, chunkBytes: task.chunkBytes });
    src.query(reader as unknown as pg.QueryConfig);
    stopWatch = watchStall(reader, src, task.source, 'source', 'while rb was reading');
    let rows = 0;
    let bytes = 0;
    const delayMs = task.sourceDelayPerChunkMs ?? 0;
    for await (const frame of reader) {
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      await sink.push(frame);
      rows += frame.rows;
      bytes += frame.bytes.length;
    }
    if (reader.rowCount >= 0 && reader.rowCount !== rows) {
      throw new RbError('internal', `${label}: source reports ${reader.rowCount} rows, rb read ${rows}`, where);
    }
    sink.end();
    // Read-only: nothing to keep, but a clean commit ends the snapshot transaction politely.
    await src.query('commit').catch(() => {});
    return { rows, bytes };
  } catch (e) {
    stopWatch();
    // A connection the stall watch gave up: its backend may live on, stuck sending.
    await endLostBackend(task.source, 'source', e);
    const err = stageError(task, explainedBy(e, clientError()), 'source', doing);
    sink.fail(err);
    throw err;
  } finally {
    stopWatch();
    hooks.signal?.removeEventListener('abort', onAbort);
    await src?.end().catch(() => {});
  }
}
