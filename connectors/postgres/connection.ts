/**
 * Connections to PostgreSQL: opens clients on a resolved `PgEndpoint` (endpoint.ts) with libpq's
 * sslmode attempts and fallbacks (tls.ts has the table), says what a connection's TLS is, and
 * words failures naming the endpoint but never the password. The embedded cluster belongs to the
 * engine: its `resolveEndpoint` (run/endpoints.ts) starts it and hands the connectors a plain endpoint.
 */
import pg from 'pg';
import { RbError, pgErrorInfo, redact, type RbErrorCode } from '../contract/errors.js';
import { connectCode, DEFAULT_TCP_USER_TIMEOUT_MS, isSocketHost, type EndpointRole, type PgEndpoint } from './endpoint.js';
import { ReadTapSocket } from './read-tap-socket.js';
import { describeTlsError, tlsConnectOptions } from './tls.js';

export {
  connectionParams,
  DEFAULT_CONNECT_TIMEOUT_S,
  DEFAULT_KEEPALIVES_IDLE_S,
  isSocketHost,
  plainEndpoint,
  resolveServerEndpoint,
  type ConnectionSettings,
  type ConnectionTuning,
  type EndpointRole,
  type PgEndpoint,
  type ResolveOptions,
  type ServerConnectionSettings,
} from './endpoint.js';

const queryCode = (role: EndpointRole): RbErrorCode => (role === 'source' ? 'source_query' : 'dest_query');

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
  /** A walsender connection (`replication=database`, connectors/source-postgres/replication-stream.ts). */
  replication?: 'database';
  /** More startup options after rb's (`-c name=value ...`). */
  extraOptions?: string;
}

/** How one connection attempt goes: inside TLS or in plaintext. */
export type Transport = 'tls' | 'plain';

/** The attempts an endpoint's sslmode makes, in libpq's order (tls.ts has the table). */
export function transportsFor(ep: PgEndpoint): Transport[] {
  if (isSocketHost(ep.host)) return ['plain'];
  switch (ep.tls.sslmode) {
    case 'disable':
      return ['plain'];
    case 'allow':
      return ['plain', 'tls'];
    case 'prefer':
      return ['tls', 'plain'];
    default:
      return ['tls'];
  }
}

const noPassword = (ep: PgEndpoint) => async (): Promise<string> => {
  throw new Error(`the server asks for a password and none was supplied for ${ep.label} (give it in the URL or config, PGPASSWORD, or the password file ~/.pgpass)`);
};

/** The node-postgres settings of one attempt (the first of the endpoint's unless `transport` says). */
export function clientConfig(ep: PgEndpoint, applicationName = 'rb', opts: ConnectOptions & { transport?: Transport } = {}): pg.ClientConfig {
  const transport = opts.transport ?? transportsFor(ep)[0];
  return {
    ...(opts.readTap && transport === 'plain' ? { stream: () => new ReadTapSocket() } : {}),
    host: ep.host,
    port: ep.port,
    user: ep.user,
    // A function when there is none: node-postgres would otherwise read ~/.pgpass by rules of its own.
    password: ep.password ?? noPassword(ep),
    database: ep.database,
    // false, not undefined: node-postgres would otherwise read PGSSLMODE by rules of its own.
    ssl: transport === 'tls' ? tlsConnectOptions(ep.tls) : false,
    application_name: ep.applicationName ?? applicationName,
    options: [ep.options, SESSION_OPTIONS, opts.extraOptions].filter(Boolean).join(' '),
    connectionTimeoutMillis: ep.connectTimeoutMs,
    keepAlive: ep.keepAlive,
    keepAliveInitialDelayMillis: ep.keepAliveIdleMs,
    ...(opts.replication ? { replication: opts.replication } : {}),
  } as pg.ClientConfig;
}

/**
 * What worked last for an endpoint in this thread (allow/prefer), tried first for the next
 * LEARNED_MS: a plaintext server costs the refused TLS request once per burst of connections (a
 * run's shards), not once per connection, and a server that turns TLS on is noticed soon after.
 */
const learned = new Map<string, { transport: Transport; atMs: number }>();
const LEARNED_MS = 30_000;

/** Forgets what connect() learned of the servers' TLS (tests that reconfigure a server). */
export function forgetNegotiations(): void {
  learned.clear();
}
const negotiated = new WeakMap<pg.Client, { transport: Transport; fallback?: string }>();

const NO_SSL = 'The server does not support SSL connections';

/** Whether a failed attempt is one libpq follows with the other transport (never for network errors). */
function fallsBack(e: unknown, from: Transport): boolean {
  if (pgErrorInfo(e)?.sqlstate) return true; // the server answered with an error (pg_hba.conf, authentication)
  if (from === 'plain') return false;
  const msg = e instanceof Error ? e.message : '';
  return msg === NO_SSL || describeTlsError(e, { sslmode: 'prefer', verify: 'none' }, '') !== undefined;
}

/**
 * Opens a client as libpq would for the endpoint's sslmode (allow: plaintext, then TLS when the
 * server refuses; prefer: TLS, then plaintext when the server has none or refuses it); failures
 * become RbError naming the endpoint (never the password).
 */
export async function connect(ep: PgEndpoint, role: EndpointRole, applicationName = 'rb', opts: ConnectOptions = {}): Promise<pg.Client> {
  const key = `${ep.label}|${ep.tls.sslmode}`;
  let order = transportsFor(ep);
  const seen = learned.get(key);
  const known = seen && performance.now() - seen.atMs < LEARNED_MS ? seen.transport : undefined;
  if (known && order.length > 1 && order[0] !== known) order = [known, ...order.filter((t) => t !== known)];
  let firstFailure: { transport: Transport; error: unknown } | undefined;
  for (const [i, transport] of order.entries()) {
    const client = new pg.Client(clientConfig(ep, applicationName, { ...opts, transport }));
    // Errors on an idle client (server restart, terminated backend) surface on the next query;
    // without a listener they would crash the process.
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (e) {
      await client.end().catch(() => {});
      if (i + 1 < order.length && fallsBack(e, transport)) {
        firstFailure ??= { transport, error: e };
        continue;
      }
      throw connectionError(e, ep, role, firstFailure);
    }
    if (order.length > 1 && known !== transport) learned.set(key, { transport, atMs: performance.now() });
    negotiated.set(client, { transport, ...(firstFailure ? { fallback: failureReason(firstFailure.error, ep) } : {}) });
    writeStalls.set(client, ep.writeStallMs ?? DEFAULT_TCP_USER_TIMEOUT_MS);
    return client;
  }
  throw new RbError('internal', 'no connection attempt for the endpoint');
}

/** What an rb check line says of a connection: TLS or not, its protocol, whether the certificate was verified. */
export interface ConnectionSecurity {
  tls: boolean;
  sslmode: string;
  protocol?: string;
  cipher?: string;
  /** `none`, `chain` (signed by the root certificate), `chain and host name`. */
  verified: 'none' | 'chain' | 'chain and host name';
  /** Why the first attempt was given up, when the connection is the fallback one. */
  fallback?: string;
  unixSocket?: boolean;
}

export function connectionSecurity(client: pg.Client, ep: PgEndpoint): ConnectionSecurity {
  const stream = (client as unknown as { connection?: { stream?: { getProtocol?: () => string | null; getCipher?: () => { name: string }; authorized?: boolean } } }).connection?.stream;
  const info = negotiated.get(client);
  const base = { sslmode: ep.tls.sslmode, ...(info?.fallback ? { fallback: info.fallback } : {}), ...(isSocketHost(ep.host) ? { unixSocket: true } : {}) };
  if (!stream?.getProtocol) return { tls: false, verified: 'none', ...base };
  const verified = !stream.authorized || ep.tls.verify === 'none' ? 'none' : ep.tls.verify === 'full' ? 'chain and host name' : 'chain';
  return { tls: true, protocol: stream.getProtocol() ?? undefined, cipher: stream.getCipher?.().name, verified, ...base };
}

/** One line: "TLS (TLSv1.3, TLS_AES_256_GCM_SHA384), certificate verified: chain and host name". */
export function describeSecurity(s: ConnectionSecurity): string {
  if (!s.tls) {
    const why = s.unixSocket ? 'a Unix socket' : s.sslmode === 'disable' ? 'sslmode disable' : s.fallback ? `sslmode ${s.sslmode}: ${s.fallback}` : `sslmode ${s.sslmode}`;
    return `without TLS (${why})`;
  }
  const verified = s.verified === 'none' ? 'certificate not verified' : `certificate verified: ${s.verified}`;
  return `TLS (${[s.protocol, s.cipher].filter(Boolean).join(', ')}), ${verified} (sslmode ${s.sslmode}${s.fallback ? `; ${s.fallback}` : ''})`;
}

function failureReason(e: unknown, ep: PgEndpoint): string {
  const msg = e instanceof Error ? e.message : String(e);
  if (msg === NO_SSL) return 'the server does not offer TLS';
  const tlsWhy = describeTlsError(e, ep.tls, ep.host);
  if (tlsWhy) return `over TLS: ${tlsWhy}`;
  return `${pgErrorInfo(e)?.sqlstate ? 'the server refused the first attempt' : 'the first attempt failed'}: ${redact(msg, [ep.password])}`;
}

export function connectionError(e: unknown, ep: PgEndpoint, role: EndpointRole, first?: { transport: Transport; error: unknown }): RbError {
  const info = pgErrorInfo(e);
  const raw = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: string })?.code;
  let why = redact(raw, [ep.password]);
  const tlsWhy = describeTlsError(e, ep.tls, ep.host);
  if (info?.sqlstate === '28P01') why = `password authentication failed for user "${ep.user}"`;
  else if (info?.sqlstate === '3D000') why = `database "${ep.database}" does not exist`;
  else if (raw === NO_SSL) why = `the server does not support TLS (SSL), but sslmode ${ep.tls.sslmode} requires it`;
  else if (code === 'ECONNREFUSED') why = `connection refused (is PostgreSQL running on ${ep.host}:${ep.port}?)`;
  else if (code === 'ENOENT' && isSocketHost(ep.host)) why = `no server socket ${ep.host}/.s.PGSQL.${ep.port} (is PostgreSQL running with that socket directory and port?)`;
  else if (code === 'ENOTFOUND') why = `host "${ep.host}" not found`;
  else if (raw === 'timeout expired' || raw === 'Connection terminated due to connection timeout') why = `timeout expired after ${ep.connectTimeoutMs / 1000} s (connect_timeout)`;
  else if (tlsWhy) why = tlsWhy;
  if (info?.sqlstate === '28000' && /no encryption/.test(raw) && ep.tls.sslmode === 'disable') why += ' (the server takes this connection only over TLS: set sslmode prefer or require)';
  if (first) why += ` (${first.transport === 'tls' ? 'over TLS first' : 'without TLS first'}: ${failureReason(first.error, ep).replace(/^over TLS: /, '')})`;
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
const writeStalls = new WeakMap<pg.Client, number>();

/** How long a write on this client may wait for the server to take data (tcp_user_timeout; 0: no limit). */
export function writeStallMs(client: pg.Client): number {
  return writeStalls.get(client) ?? DEFAULT_TCP_USER_TIMEOUT_MS;
}

/**
 * Gives a connection up as lost: its socket is destroyed with a connection error (a retryable one,
 * contract/errors.ts isConnectionError) naming why.
 */
export function loseConnection(client: pg.Client, message: string): Error {
  const pid = (client as unknown as { processID?: number }).processID;
  const e = Object.assign(new Error(message), { code: 'ETIMEDOUT', errno: -110, syscall: 'write', ...(pid ? { lostBackendPid: pid } : {}) });
  destroySocket(client);
  return e;
}

/**
 * After a connection was given up (loseConnection): its backend may live on — the server never
 * heard the connection end over a dead network — holding its transaction's locks, which a retried
 * shard's finish would wait for. Ends it from a new connection (a role may end its own backends);
 * best effort, bounded by the endpoint's connect timeout.
 */
export async function endLostBackend(ep: PgEndpoint, role: EndpointRole, e: unknown): Promise<void> {
  // The lost error itself, or an RbError wrapping it.
  const lost = e as { lostBackendPid?: number; cause?: { lostBackendPid?: number } } | undefined;
  const pid = lost?.lostBackendPid ?? lost?.cause?.lostBackendPid;
  if (!pid) return;
  const c = await connect(ep, role, 'rb lost-connection cleanup').catch(() => null);
  if (!c) return;
  try {
    await c.query('select pg_terminate_backend($1)', [pid]).catch(() => {});
  } finally {
    await c.end().catch(() => {});
  }
}

export function destroySocket(client: pg.Client | undefined): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } } | undefined)?.connection?.stream?.destroy();
}
