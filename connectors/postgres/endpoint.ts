/**
 * Connection blocks → endpoints, as libpq resolves a connection (docs/design.md "Connections"):
 * the url's keywords (URI or keyword/value, conninfo.ts) or the host block, the block's libpq
 * settings, the PG* variables, libpq's defaults; the password file (pgpass.ts); TLS files (tls.ts).
 * The result is plain data, safe to send to worker threads; connection.ts opens clients on it.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import { RbError, type RbErrorCode } from '../contract/errors.js';
import { checkConnParams, ConnStringError, parseConnString, type ConnParams } from './conninfo.js';
import { pgpassPassword, pgpassPath } from './pgpass.js';
import { resolveTls, TlsFileError, type TlsSettings } from './tls.js';

/** The libpq settings a connection block may give next to a url or host (docs/design.md "Connections"). */
export interface ConnectionTuning {
  sslmode?: string;
  sslrootcert?: string;
  sslcert?: string;
  sslkey?: string;
  /** Seconds; 0 = wait forever. */
  connect_timeout?: number;
  keepalives?: boolean;
  /** Seconds of idleness before the first TCP keepalive probe. */
  keepalives_idle?: number;
  /** Milliseconds a write may wait for the server to take data before the connection is given up (0: no limit). */
  tcp_user_timeout?: number;
}

/** A connection block as the config layer validated it (the engine's config/connection.ts). */
export type ConnectionSettings =
  | ({ kind: 'url'; url: string } & ConnectionTuning)
  | ({ kind: 'host'; host: string; port?: number; user?: string; password?: string; database?: string } & ConnectionTuning)
  | { kind: 'embedded'; database?: string };

/** A connection block for a server rb does not run itself: everything but `embedded`. */
export type ServerConnectionSettings = Exclude<ConnectionSettings, { kind: 'embedded' }>;

/** A fully resolved endpoint. Plain data: crosses worker boundaries by structured clone. */
export interface PgEndpoint {
  /** A host name or address, or a Unix-socket directory (starts with `/`). */
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  tls: TlsSettings;
  /** The user's application_name (`PGAPPNAME`); unset: rb names its connections. */
  applicationName?: string;
  /** The user's `options` (command-line options sent at startup), before rb's own. */
  options?: string;
  /** 0 = no limit. */
  connectTimeoutMs: number;
  keepAlive: boolean;
  /** 0 = the operating system's idle time. */
  keepAliveIdleMs: number;
  /**
   * libpq's tcp_user_timeout, enforced by rb (Node.js cannot set TCP_USER_TIMEOUT): how long a COPY
   * write may wait for the server to take data (the socket full, nothing drained) before the
   * connection is closed as lost — a retryable connection error. 0 = no limit. Optional: an
   * endpoint made before it existed has rb's default.
   */
  writeStallMs?: number;
  /** For messages: `user@host:port/db`, no password. */
  label: string;
  embedded: boolean;
}

export type EndpointRole = 'source' | 'destination';

export const connectCode = (role: EndpointRole): RbErrorCode => (role === 'source' ? 'source_connect' : 'dest_connect');

/** rb's connect timeout when none is given (libpq waits forever). */
export const DEFAULT_CONNECT_TIMEOUT_S = 15;
/** rb's TCP keepalive idle time when none is given (libpq leaves the system's, often 2 hours). */
export const DEFAULT_KEEPALIVES_IDLE_S = 60;
/**
 * rb's tcp_user_timeout when none is given (libpq leaves the system's: ~15 minutes of
 * retransmissions on Linux before a write to a dead network fails).
 */
export const DEFAULT_TCP_USER_TIMEOUT_MS = 120_000;

/** The socket directories libpq builds may default to, tried in order when no host is given. */
const DEFAULT_SOCKET_DIRS = ['/var/run/postgresql', '/tmp'];

export const isSocketHost = (host: string): boolean => host.startsWith('/');

/** An endpoint to a server reached without TLS (rb's own embedded cluster). */
export function plainEndpoint(e: { host: string; port: number; user: string; password?: string; database: string; label: string; embedded: boolean }): PgEndpoint {
  return { ...e, tls: { sslmode: 'disable', verify: 'none' }, connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_S * 1000, keepAlive: true, keepAliveIdleMs: DEFAULT_KEEPALIVES_IDLE_S * 1000, writeStallMs: DEFAULT_TCP_USER_TIMEOUT_MS };
}

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** Where the password file's warnings go (default: stderr). */
  warn?: (line: string) => void;
}

/** The keywords of a url (URI or keyword/value string) or host block, config keys after the string's own. */
export function connectionParams(settings: ServerConnectionSettings): ConnParams {
  let params: ConnParams;
  if (settings.kind === 'url') {
    params = parseConnString(settings.url);
  } else {
    params = { host: settings.host };
    if (settings.port !== undefined) params.port = String(settings.port);
    if (settings.user !== undefined) params.user = settings.user;
    if (settings.password !== undefined) params.password = settings.password;
    if (settings.database !== undefined) params.dbname = settings.database;
  }
  const tuning: Array<[keyof ConnectionTuning, string | undefined]> = [
    ['sslmode', settings.sslmode],
    ['sslrootcert', settings.sslrootcert],
    ['sslcert', settings.sslcert],
    ['sslkey', settings.sslkey],
    ['connect_timeout', settings.connect_timeout?.toString()],
    ['keepalives', settings.keepalives === undefined ? undefined : settings.keepalives ? '1' : '0'],
    ['keepalives_idle', settings.keepalives_idle?.toString()],
    ['tcp_user_timeout', settings.tcp_user_timeout?.toString()],
  ];
  for (const [key, value] of tuning) if (value !== undefined && params[key] === undefined) params[key] = value;
  return params;
}

/** libpq's environment defaults (PostgreSQL docs, libpq "Environment Variables"). */
const ENV_DEFAULTS: Array<[string, string]> = [
  ['host', 'PGHOST'],
  ['port', 'PGPORT'],
  ['user', 'PGUSER'],
  ['dbname', 'PGDATABASE'],
  ['password', 'PGPASSWORD'],
  ['passfile', 'PGPASSFILE'],
  ['sslmode', 'PGSSLMODE'],
  ['sslrootcert', 'PGSSLROOTCERT'],
  ['sslcert', 'PGSSLCERT'],
  ['sslkey', 'PGSSLKEY'],
  ['application_name', 'PGAPPNAME'],
  ['connect_timeout', 'PGCONNECT_TIMEOUT'],
];

function defaultHost(port: number): string {
  for (const dir of DEFAULT_SOCKET_DIRS) if (existsSync(`${dir}/.s.PGSQL.${port}`)) return dir;
  return 'localhost';
}

function osUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'postgres';
  }
}

/**
 * Resolves a url or host connection block as libpq would: the string's keywords and the block's
 * keys, else the PG* variables, else the defaults (a local socket or localhost, 5432, the OS user,
 * the database named after the user); the password from the block, `PGPASSWORD`, or the password
 * file; TLS files read and checked (tls.ts). An `embedded` block is resolved by the engine, which
 * runs the cluster.
 */
export function resolveServerEndpoint(settings: ServerConnectionSettings, role: EndpointRole, opts: ResolveOptions = {}): PgEndpoint {
  const env = opts.env ?? process.env;
  const where = `${role}.config${settings.kind === 'url' ? '.url' : ''}`;
  let params: ConnParams;
  try {
    params = connectionParams(settings);
  } catch (e) {
    if (e instanceof ConnStringError) throw new RbError('config_invalid', `${where}: ${e.message}`);
    throw e;
  }
  for (const [key, name] of ENV_DEFAULTS) if ((params[key] === undefined || params[key] === '') && env[name]) params[key] = env[name]!;
  const problems = checkConnParams(params);
  if (problems.length) throw new RbError('config_invalid', `${where}: ${problems.join('; ')}`);
  const port = params.port ? Number(params.port) : 5432;
  const host = params.host || defaultHost(port);
  const user = params.user || osUser();
  const database = params.dbname || user;
  const label = `${user}@${host}:${port}/${database}`;
  const warn = opts.warn ?? ((line: string) => process.stderr.write(`rb: ${line}\n`));
  const password = params.password || pgpassPassword({ host, port, database, user }, pgpassPath(params.passfile, env), warn);
  let tls: TlsSettings;
  if (isSocketHost(host)) {
    // libpq never uses TLS over a Unix socket, whatever sslmode says.
    tls = { sslmode: (params.sslmode ?? 'prefer') as TlsSettings['sslmode'], verify: 'none' };
  } else {
    try {
      tls = resolveTls(params);
    } catch (e) {
      if (e instanceof TlsFileError) throw new RbError(connectCode(role), `cannot connect to ${role} ${label}: ${e.message}`);
      throw e;
    }
  }
  const timeoutS = params.connect_timeout !== undefined ? Number(params.connect_timeout) : DEFAULT_CONNECT_TIMEOUT_S;
  const idleS = params.keepalives_idle !== undefined ? Number(params.keepalives_idle) : DEFAULT_KEEPALIVES_IDLE_S;
  return {
    host,
    port,
    user,
    ...(password ? { password } : {}),
    database,
    tls,
    ...(params.application_name || params.fallback_application_name ? { applicationName: params.application_name || params.fallback_application_name } : {}),
    ...(params.options ? { options: params.options } : {}),
    // libpq: zero or negative waits forever, and less than 2 s is taken as 2 s.
    connectTimeoutMs: timeoutS <= 0 ? 0 : Math.max(timeoutS, 2) * 1000,
    keepAlive: params.keepalives !== '0',
    keepAliveIdleMs: Math.max(idleS, 0) * 1000,
    writeStallMs: params.tcp_user_timeout !== undefined ? Math.max(Number(params.tcp_user_timeout), 0) : DEFAULT_TCP_USER_TIMEOUT_MS,
    label,
    embedded: false,
  };
}

