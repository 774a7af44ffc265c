/**
 * Connections to PostgreSQL: turns a pipeline connection block (url | host/port/... | embedded)
 * into a resolved, serializable `PgEndpoint` (safe to send to worker threads), and opens clients
 * with errors that name the endpoint but never the password.
 */
import pg from 'pg';
import { RbError, pgErrorInfo, redact, type RbErrorCode } from '../../engine/errors.js';
import { DEFAULT_EMBEDDED_ROOT, ensureCluster, ensureDatabase } from '../../engine/embedded/cluster.js';
import { ReadTapSocket } from './read-tap-socket.js';

/** A connection block as the config layer validated it (engine/config/connection.ts). */
export type ConnectionSettings =
  | { kind: 'url'; url: string; sslmode?: string }
  | { kind: 'host'; host: string; port: number; user: string; password?: string; database: string; sslmode?: string }
  | { kind: 'embedded'; database?: string };

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
 * Resolves a connection block. `embedded: true` starts or reuses the local cluster under `.rb/`
 * (or `RB_EMBEDDED_ROOT`) and creates the database if needed.
 */
export async function resolveEndpoint(
  settings: ConnectionSettings,
  role: EndpointRole,
  opts: { embeddedRoot?: string; log?: (line: string) => void } = {},
): Promise<PgEndpoint> {
  if (settings.kind === 'embedded') {
    const root = opts.embeddedRoot ?? process.env.RB_EMBEDDED_ROOT ?? DEFAULT_EMBEDDED_ROOT;
    const info = await ensureCluster(root, { log: opts.log });
    const database = settings.database ?? (role === 'source' ? 'rb_source' : 'rb_dest');
    await ensureDatabase(info, database);
    return { host: info.host, port: info.port, user: info.user, password: info.password, database, label: `embedded:${database}`, embedded: true };
  }
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
