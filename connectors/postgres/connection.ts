/**
 * Connections to PostgreSQL: turns a url or host/port/... connection block into a resolved,
 * serializable `PgEndpoint` (safe to send to worker threads), and opens clients with errors that
 * name the endpoint but never the password. The embedded cluster belongs to the engine: its
 * `resolveEndpoint` (run/endpoints.ts) starts it and hands the connectors a plain endpoint.
 */
import pg from 'pg';
import { RbError, pgErrorInfo, redact, type RbErrorCode } from '../contract/errors.js';
import { ReadTapSocket } from './read-tap-socket.js';

/** A connection block as the config layer validated it (the engine's config/connection.ts). */
export type ConnectionSettings =
  | { kind: 'url'; url: string; sslmode?: string }
  | { kind: 'host'; host: string; port: number; user: string; password?: string; database: string; sslmode?: string }
  | { kind: 'embedded'; database?: string };

/** A connection block for a server rb does not run itself: everything but `embedded`. */
export type ServerConnectionSettings = Exclude<ConnectionSettings, { kind: 'embedded' }>;

/** A fully resolved endpoint. Plain data: crosses worker boundaries by structured clone. */
export interface PgEndpoint {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  ssl?: pg.ClientConfig['ssl'];
  /** For messages: `user@host:port/db`, no password. */
  label: string;
  embedded: boolean;
}

export type EndpointRole = 'source' | 'destination';

function sslFor(mode: string | undefined): pg.ClientConfig['ssl'] {
  switch (mode) {
    case undefined:
    case 'disable':
    case 'allow':
    case 'prefer':
      return undefined;
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
    case 'verify-full':
      return { rejectUnauthorized: true };
    default:
      return undefined;
  }
}

/**
 * Resolves a url or host connection block (libpq's defaults: localhost, 5432, `PGUSER`,
 * `PGPASSWORD`, the database named after the user). An `embedded` block is resolved by the
 * engine, which runs the cluster.
 */
export function resolveServerEndpoint(settings: ServerConnectionSettings, role: EndpointRole): PgEndpoint {
  if (settings.kind === 'url') {
    let u: URL;
    try {
      u = new URL(settings.url);
    } catch {
      throw new RbError('config_invalid', `${role}.config.url: not a valid URL: ${redact(settings.url)}`);
    }
    const sslmode = u.searchParams.get('sslmode') ?? settings.sslmode;
    const host = decodeURIComponent(u.hostname || 'localhost').replace(/^\[|\]$/g, '');
    const port = u.port ? Number(u.port) : 5432;
    const user = decodeURIComponent(u.username || process.env.PGUSER || 'postgres');
    const password = u.password ? decodeURIComponent(u.password) : process.env.PGPASSWORD;
    const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || user;
    return { host, port, user, password, database, ssl: sslFor(sslmode ?? undefined), label: `${user}@${host}:${port}/${database}`, embedded: false };
  }
  const host = settings.host ?? 'localhost';
  const port = settings.port ?? 5432;
  const user = settings.user ?? process.env.PGUSER ?? 'postgres';
  const database = settings.database ?? user;
  return { host, port, user, password: settings.password ?? process.env.PGPASSWORD, database, ssl: sslFor(settings.sslmode), label: `${user}@${host}:${port}/${database}`, embedded: false };
}

/**
 * Session settings for every rb connection. Text-format COPY (tables with user-type arrays or
 * composites) and text INSERT parameters are printed by the source session and parsed by the
 * destination session: both must agree on date order, interval style, money format, float
 * digits and time zone, whatever the servers' defaults are. Timeouts are lifted because the
 * run's snapshot transaction stays open for as long as its shards copy.
 */
export const SESSION_OPTIONS = [
  'DateStyle=ISO,YMD',
  'IntervalStyle=postgres',
  'extra_float_digits=3',
  'TimeZone=UTC',
  'bytea_output=hex',
  'lc_monetary=C',
  'statement_timeout=0',
  'idle_in_transaction_session_timeout=0',
]
  .map((o) => `-c ${o}`)
  .join(' ');

export interface ConnectOptions {
  /**
   * Read through one reused buffer (read-tap-socket.ts), for connections that read bulk data
   * (COPY TO). Plain connections only: with TLS the option is ignored.
   */
  readTap?: boolean;
}

export function clientConfig(ep: PgEndpoint, applicationName = 'rb', opts: ConnectOptions = {}): pg.ClientConfig {
  return {
    ...(opts.readTap && !ep.ssl ? { stream: () => new ReadTapSocket() } : {}),
    host: ep.host,
    port: ep.port,
    user: ep.user,
    password: ep.password,
    database: ep.database,
    ssl: ep.ssl,
    application_name: applicationName,
    options: SESSION_OPTIONS,
    connectionTimeoutMillis: 15_000,
    keepAlive: true,
  };
}

const connectCode = (role: EndpointRole): RbErrorCode => (role === 'source' ? 'source_connect' : 'dest_connect');
const queryCode = (role: EndpointRole): RbErrorCode => (role === 'source' ? 'source_query' : 'dest_query');

/** Opens a client; failures become RbError naming the endpoint (never the password). */
export async function connect(ep: PgEndpoint, role: EndpointRole, applicationName = 'rb', opts: ConnectOptions = {}): Promise<pg.Client> {
  const client = new pg.Client(clientConfig(ep, applicationName, opts));
  // Errors on an idle client (server restart, terminated backend) surface on the next query;
  // without a listener they would crash the process.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => {});
    throw connectionError(e, ep, role);
  }
  return client;
}

export function connectionError(e: unknown, ep: PgEndpoint, role: EndpointRole): RbError {
  const info = pgErrorInfo(e);
  const raw = e instanceof Error ? e.message : String(e);
  let why = redact(raw, [ep.password]);
  if (info?.sqlstate === '28P01') why = `password authentication failed for user "${ep.user}"`;
  else if (info?.sqlstate === '3D000') why = `database "${ep.database}" does not exist`;
  else if ((e as { code?: string })?.code === 'ECONNREFUSED') why = `connection refused (is PostgreSQL running on ${ep.host}:${ep.port}?)`;
  else if ((e as { code?: string })?.code === 'ENOTFOUND') why = `host "${ep.host}" not found`;
  return new RbError(connectCode(role), `cannot connect to ${role} ${ep.label}: ${why}`, { pg: info });
}

/** Wraps a failed query as the role's RbError, keeping the Postgres fields as data. */
export function queryError(e: unknown, role: EndpointRole, context: string, extra: { stream?: string; shard?: number } = {}): RbError {
  if (e instanceof RbError) return e;
  const info = pgErrorInfo(e);
  const raw = e instanceof Error ? e.message : String(e);
  const msg = info?.sqlstate ? `${raw} (SQLSTATE ${info.sqlstate})` : raw;
  return new RbError(queryCode(role), `${context}: ${redact(msg)}`, { pg: info, cause: e, ...extra });
}

/** Ends a client's socket at once (whatever query or COPY it is in); the server rolls back. */
export function destroySocket(client: pg.Client | undefined): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } } | undefined)?.connection?.stream?.destroy();
}
