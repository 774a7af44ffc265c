/**
 * tcp_user_timeout on the read side of a source COPY (docs/config.md "tcp_user_timeout").
 *
 * A network that dies while rb reads a COPY (packets dropped, no reset) leaves rb waiting for
 * bytes that never come; with nothing of rb's unacknowledged the kernel notices only through
 * keepalives (keepalives_idle, then the system's probes: minutes). Silence alone proves nothing: a
 * healthy server may send nothing for a long time (a filter that matches no row, a sort before the
 * first one). So when the reader has waited `stallMs` with nothing arriving, rb asks the server
 * from a new connection what the COPY's backend is doing (pg_stat_activity, visible to the same
 * role):
 *   - active and not ClientWrite: it is working; wait on (asked again after another stallMs);
 *   - ClientWrite: it is blocked sending to rb while rb receives nothing: the path is dead;
 *   - idle (in transaction) or ClientRead: it finished sending and waits for rb: the bytes were lost;
 *   - gone: the backend ended without rb's socket hearing of it;
 *   - the server unreachable from a new connection (a network error, not a refusal by the server).
 * In the last four the connection is given up as lost (a retryable connection error, like the
 * write side's: connection.ts loseConnection); anything the check cannot tell (the row not
 * visible, the server refusing the new connection) leaves the COPY waiting.
 */
import type pg from 'pg';
import { pgErrorInfo } from '../contract/errors.js';
import { connect, loseConnection, writeStallMs, type PgEndpoint } from '../postgres/connection.js';

export interface StallWatched {
  /** How long the consumer has waited with nothing arriving (null: not waiting). */
  waitingMs(now?: number): number | null;
  fail(err: Error): void;
}

export type BackendCheck = { lost: false } | { lost: true; why: string };

/** What the COPY's backend is doing, asked from a new connection (bounded by `boundMs`). */
export async function checkBackend(ep: PgEndpoint, pid: number, boundMs: number): Promise<BackendCheck> {
  let c: pg.Client;
  try {
    c = await connect(ep, 'source', 'rb read-stall check');
  } catch (e) {
    // The server answered (too many clients, a password...): it is reachable, rb cannot tell more.
    const cause = (e as { cause?: unknown }).cause;
    if (pgErrorInfo(e) || pgErrorInfo(cause)) return { lost: false };
    return { lost: true, why: `the server is unreachable from a new connection (${e instanceof Error ? e.message : String(e)})` };
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    const bound = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), boundMs);
    });
    const r = await Promise.race([c.query<{ state: string | null; wait_event: string | null }>('select state, wait_event from pg_stat_activity where pid = $1', [pid]), bound]);
    if (r === null) return { lost: false };
    if (r.rows.length === 0) return { lost: true, why: `its backend (pid ${pid}) is gone` };
    const { state, wait_event: wait } = r.rows[0];
    if (state === null) return { lost: false };
    if (state === 'active' && wait !== 'ClientWrite' && wait !== 'ClientRead') return { lost: false };
    if (wait === 'ClientWrite') return { lost: true, why: `its backend (pid ${pid}) is waiting to send to rb (ClientWrite)` };
    return { lost: true, why: `its backend (pid ${pid}) is ${state}${wait ? ` (${wait})` : ''}: it finished sending, the bytes never arrived` };
  } catch {
    return { lost: false };
  } finally {
    clearTimeout(timer);
    c.end().catch(() => {});
  }
}

/**
 * Watches `reader` on `client` (the COPY's connection) while it reads; returns the function that
 * stops the watch. A stall found lost fails the reader with the connection error (carrying the
 * backend's pid, for connection.ts endLostBackend).
 */
export function watchReadStall(reader: StallWatched, client: pg.Client, ep: PgEndpoint, check: typeof checkBackend = checkBackend): () => void {
  const stallMs = writeStallMs(client);
  const pid = (client as unknown as { processID?: number }).processID;
  if (stallMs <= 0 || !pid) return () => {};
  let checking = false;
  let stopped = false;
  /** Waiting time already answered by a check that found the backend working. */
  let excused = 0;
  const tick = async () => {
    const waited = reader.waitingMs();
    if (waited === null) {
      excused = 0;
      return;
    }
    if (waited < excused) excused = 0; // a new wait
    if (checking || waited - excused < stallMs) return;
    checking = true;
    try {
      const r = await check(ep, pid, stallMs);
      if (stopped) return;
      if (!r.lost) {
        excused = reader.waitingMs() ?? 0;
        return;
      }
      const s = stallMs / 1000;
      reader.fail(loseConnection(client, `the server sent no data for ${s} s while rb was reading, and ${r.why} (tcp_user_timeout ${stallMs} ms): the network or the server stopped`));
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void tick(), Math.max(100, Math.min(stallMs / 4, 5000)));
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
