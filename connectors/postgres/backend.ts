/**
 * Which server process serves a connection, as the server and rb's socket both see it — so that
 * the engine can find a server on this machine in /proc (engine/telemetry/server-cpu.ts) and
 * measure its CPU, and know when it cannot.
 */
import type pg from 'pg';

export interface BackendIdentity {
  /** `pg_backend_pid()`: the backend's pid in the server's own process namespace. */
  backendPid: number;
  database: string;
  /**
   * The client port the server sees, when it is the local port of rb's own TCP socket (the
   * connection reaches the server directly); null otherwise (a proxy or NAT in between, or a Unix socket).
   */
  clientPort: number | null;
  /** The server sees a Unix-socket connection (no client address). */
  unixSocket: boolean;
}

export async function backendIdentity(client: pg.Client): Promise<BackendIdentity> {
  const r = await client.query<{ pid: number; port: number | null; db: string }>('select pg_backend_pid() as pid, inet_client_port() as port, current_database() as db');
  const { pid, port, db } = r.rows[0];
  const localPort = (client as unknown as { connection?: { stream?: { localPort?: number } } }).connection?.stream?.localPort;
  return { backendPid: pid, database: db, clientPort: port !== null && port === localPort ? port : null, unixSocket: port === null };
}
