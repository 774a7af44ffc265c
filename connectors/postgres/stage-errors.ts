/**
 * How a shard stage (connectors/source-postgres/read-shard.ts, connectors/dest-postgres/write-shard.ts)
 * turns what went wrong into the RbError it reports: the server's own reason where there is one,
 * the shard and what the stage was doing, and whether the scheduler may retry it.
 */
import { classifyPgError, isConnectionError, markTransient, pgErrorInfo, RbError } from '../contract/errors.js';
import { queryError } from './connection.js';

/** A failure that came from a server or its connection (as opposed to a bug of ours). */
function isDatabaseSide(e: unknown): boolean {
  return pgErrorInfo(e) !== undefined || isConnectionError(e);
}

/**
 * Remembers the last error a client emitted on its own (a FATAL ErrorResponse that arrived between
 * queries, such as 57P01 "terminating connection due to administrator command"): when the stage
 * then fails with a bare socket or "not queryable" error, the server's message says why.
 */
export function watchClientErrors(client: { on(event: 'error', listener: (e: Error) => void): unknown }): () => unknown {
  let last: unknown;
  client.on('error', (e) => {
    last ??= e;
  });
  return () => last;
}

/** The server's error when `e` is only its consequence (a broken socket, an unusable client). */
export function explainedBy(e: unknown, clientError: unknown): unknown {
  if (clientError === undefined || e instanceof RbError || pgErrorInfo(e)) return e;
  return pgErrorInfo(clientError) ? clientError : e;
}

/**
 * The RbError a stage reports for `e`: an RbError is kept as it is (it may be the other stage's
 * error, delivered through the channel); a server or socket failure becomes `source_query` or
 * `dest_query` naming the shard and what the stage was doing, marked transient when
 * classifyPgError says it is retryable; anything else is `internal`.
 */
export function stageError(shard: { stream: string; shardIndex: number }, e: unknown, role: 'source' | 'destination', doing: string): RbError {
  const where = { stream: shard.stream, shard: shard.shardIndex };
  const label = `${shard.stream} shard ${shard.shardIndex}`;
  let err: RbError;
  if (e instanceof RbError) err = e;
  else if (isDatabaseSide(e)) err = markTransient(queryError(e, role, `${label}: ${doing}`, where), classifyPgError(e) === 'retryable');
  else err = new RbError('internal', `${label}: ${e instanceof Error ? e.message : String(e)}`, { ...where, cause: e });
  err.stream ??= shard.stream;
  err.shard ??= shard.shardIndex;
  return err;
}
