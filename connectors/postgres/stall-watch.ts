/**
 * tcp_user_timeout where rb waits for the server (docs/config.md "tcp_user_timeout"): a source
 * COPY rb reads (connectors/source-postgres/read-shard.ts) and the answer to a destination COPY
 * rb has finished writing (connectors/dest-postgres/copy-in-writer.ts finish).
 *
 * A network that dies while rb waits (packets dropped, no reset) leaves rb waiting for bytes that
 * never come; the kernel notices only through keepalives (keepalives_idle, then the system's
 * probes: minutes) or, with rb's bytes unacknowledged, its retransmissions (~15 minutes). Silence
 * alone proves nothing: a healthy server may send nothing for a long time (a filter that matches
 * no row, a sort before the first one, a trigger or constraint check at the end of a COPY). So
 * when rb has waited `stallMs` with nothing arriving, it asks the server from a new connection
 * what the connection's backend is doing (pg_stat_activity, visible to the same role):
 *   - active and waiting on neither ClientWrite nor ClientRead: it is working; wait on (asked
 *     again after another stallMs);
 *   - ClientWrite: it is blocked sending to rb while rb receives nothing: the path is dead;
 *   - idle (in transaction) or ClientRead: it waits for rb: what either side sent was lost;
 *   - gone: the backend ended without rb's socket hearing of it;
 *   - the server unreachable from a new connection (a network error, not a refusal by the server).
 * In the last four the connection is given up as lost (a retryable connection error, like a
 * stalled write's: connection.ts loseConnection); anything the check cannot tell (the row not
 * visible, the server refusing the new connection) leaves rb waiting.
 */
import type pg from 'pg';
import { pgErrorInfo } from '../contract/errors.js';
import { connect, loseConnection, writeStallMs, type EndpointRole, type PgEndpoint } from './connection.js';

export interface StallWatched {
  /** How long rb has waited with nothing arriving (null: not waiting, e.g. backpressured). */
  waitingMs(now?: number): number | null;
  fail(err: Error): void;
}

export type BackendCheck = { lost: false } | { lost: true; why: string };

/** What a connection's backend is doing, asked from a new connection (bounded by `boundMs`). */
export async function checkBackend(ep: PgEndpoint, role: EndpointRole, pid: number, boundMs: number): Promise<BackendCheck> {
  let c: pg.Client;
  try {
    c = await connect(ep, role, 'rb stall check');
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
    return { lost: true, why: `its backend (pid ${pid}) is ${state}${wait ? ` (${wait})` : ''}: it waits for rb, what one side sent never reached the other` };
  } catch {
    return { lost: false };
  } finally {
    clearTimeout(timer);
    c.end().catch(() => {});
  }
}

/**
 * Watches `waiter` on `client` while rb waits for the server; returns the function that stops the
 * watch. `doing` says what rb was waiting in ("while rb was reading"). A stall found lost fails the
 * waiter with the connection error (carrying the backend's pid, for connection.ts endLostBackend).
 */
export function watchStall(waiter: StallWatched, client: pg.Client, ep: PgEndpoint, role: EndpointRole, doing: string, check: typeof checkBackend = checkBackend): () => void {
  const stallMs = writeStallMs(client);
  const pid = (client as unknown as { processID?: number }).processID;
  if (stallMs <= 0 || !pid) return () => {};
  let checking = false;
  let stopped = false;
  /** Waiting time already answered by a check that found the backend working. */
  let excused = 0;
  const tick = async () => {
    const waited = waiter.waitingMs();
    if (waited === null) {
      excused = 0;
      return;
    }
    if (waited < excused) excused = 0; // a new wait
    if (checking || waited - excused < stallMs) return;
    checking = true;
    try {
      const r = await check(ep, role, pid, stallMs);
      if (stopped) return;
      if (!r.lost) {
        excused = waiter.waitingMs() ?? 0;
        return;
      }
      const s = stallMs / 1000;
      waiter.fail(loseConnection(client, `the server sent no data for ${s} s ${doing}, and ${r.why} (tcp_user_timeout ${stallMs} ms): the network or the server stopped`));
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
