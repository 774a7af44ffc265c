/**
 * A connection block (`source.config`, `destination.config`) in three exclusive forms:
 *
 *   url:      postgres://user:password@host:5432/db?sslmode=require   (postgresql:// too), or a
 *             libpq keyword/value string: host=db dbname=shop user=app sslmode=verify-full
 *   host:     host, port?, user?, password?, database? (libpq's defaults: PGPORT or 5432, PGUSER
 *             or the OS user, PGDATABASE or the user name)
 *   embedded: true, database?   (rb's local cluster, docs/design.md section 12; the default database
 *                                name is the caller's: rb_source / rb_dest)
 *
 * url and host take the libpq settings sslmode, sslrootcert, sslcert, sslkey, connect_timeout,
 * keepalives, keepalives_idle, tcp_user_timeout (docs/design.md "Connections"); what a url string says wins.
 *
 * The YAML shape is one strict object; after validation it becomes a discriminated union on
 * `kind`, so connectors never have to guess which fields are meaningful.
 */

import { z } from 'zod';
import { LOAD_METHODS, type LoadMethod } from '../../connectors/contract/domain.js';
import { checkConnParams, ConnStringError, isConnUri, parseConnString } from '../../connectors/postgres/conninfo.js';
import type { ConnectionTuning } from '../../connectors/postgres/connection.js';
import { SSL_MODES, type SslMode } from '../../connectors/postgres/tls.js';
import { redact } from '../errors.js';
import { checkConnection } from './rules.js';
import { boundedNumber, nonEmptyString, ALWAYS } from './schema-parts.js';

export const DEFAULT_PORT = 5432;
export const DEFAULT_DESTINATION_SCHEMA = 'public';

/** Declared once in connectors/postgres/tls.ts; re-exported here. */
export { SSL_MODES, type SslMode };
/** Declared once in connectors/contract/domain.ts; re-exported here. */
export { LOAD_METHODS, type LoadMethod };

/** The libpq settings next to a url or host (connectors/postgres/connection.ts). */
export interface Tuning extends ConnectionTuning {
  sslmode?: SslMode;
}

export interface UrlConnection extends Tuning {
  kind: 'url';
  /** A postgres:// URI or a keyword/value string. */
  url: string;
}

export interface HostConnection extends Tuning {
  kind: 'host';
  host: string;
  port: number;
  user?: string;
  password?: string;
  database?: string;
}

export interface EmbeddedConnection {
  kind: 'embedded';
  /** Undefined = the caller's default (rb_source for a source, rb_dest for a destination). */
  database?: string;
}

export type Connection = UrlConnection | HostConnection | EmbeddedConnection;

export type DestinationConnection = Connection & { schema: string; load_method: LoadMethod };

/** CDC: the slot and publication rb streams from (default `rb_<pipeline>` for both). */
export type SourceConnection = Connection & { replication_slot?: string; publication?: string };

/** A libpq connection string in either form (connectors/postgres/conninfo.ts), every keyword one rb acts on. */
const connectionString = z.string().superRefine((text, ctx) => {
  const expected = 'a postgres:// or postgresql:// URL, or a libpq keyword/value string (host=... dbname=...)';
  if (!isConnUri(text) && !/^\s*$/.test(text) && !/^\s*[A-Za-z_]+\s*=/.test(text)) {
    ctx.addIssue({ code: 'custom', message: '', params: { kind: 'type', expected } });
    return;
  }
  try {
    const problems = checkConnParams(parseConnString(text));
    for (const problem of problems) ctx.addIssue({ code: 'custom', message: problem, params: { kind: 'rule', expected: 'keywords rb acts on' } });
  } catch (e) {
    if (!(e instanceof ConnStringError)) throw e;
    ctx.addIssue({ code: 'custom', message: `is not a well-formed connection string: ${e.message} (percent-encode special characters in a URL's user name and password)`, params: { kind: 'rule', expected } });
  }
});

/** File paths of the TLS keywords (`~` expanded); `sslrootcert` may also be `system`. */
const tlsShape = {
  sslmode: z.enum(SSL_MODES).optional(),
  sslrootcert: nonEmptyString().optional(),
  sslcert: nonEmptyString().optional(),
  sslkey: nonEmptyString().optional(),
  connect_timeout: boundedNumber({ integer: true, min: 0, max: 86_400 }).optional(),
  keepalives: z.boolean().optional(),
  keepalives_idle: boundedNumber({ integer: true, min: 1, max: 86_400 }).optional(),
  tcp_user_timeout: boundedNumber({ integer: true, min: 0, max: 86_400_000 }).optional(),
};

/** The tuning keys, for rules.ts (not with embedded: true). */
export const TUNING_KEYS = Object.keys(tlsShape) as Array<keyof typeof tlsShape>;

const connectionShape = {
  url: connectionString.optional(),
  host: nonEmptyString().optional(),
  port: boundedNumber({ integer: true, min: 1, max: 65535 }).optional(),
  user: nonEmptyString().optional(),
  password: z.string().optional(),
  database: nonEmptyString().optional(),
  ...tlsShape,
  embedded: z.boolean().optional(),
};

type RawConnection = Tuning & {
  url?: string;
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  embedded?: boolean;
};

function tuningOf(raw: RawConnection): Tuning {
  const out: Tuning = {};
  for (const key of TUNING_KEYS) if (raw[key] !== undefined) (out as Record<string, unknown>)[key] = raw[key];
  return out;
}

/** Picks the form. Only reached when `checkConnection` found nothing wrong. */
function toConnection(raw: RawConnection): Connection {
  if (raw.embedded === true) return { kind: 'embedded', ...(raw.database !== undefined ? { database: raw.database } : {}) };
  if (raw.url !== undefined) return { kind: 'url', url: raw.url, ...tuningOf(raw) };
  return {
    kind: 'host',
    host: raw.host ?? '',
    port: raw.port ?? DEFAULT_PORT,
    ...(raw.user !== undefined ? { user: raw.user } : {}),
    ...(raw.password !== undefined ? { password: raw.password } : {}),
    ...(raw.database !== undefined ? { database: raw.database } : {}),
    ...tuningOf(raw),
  };
}

export const SourceConnectionSchema = z
  .strictObject({ ...connectionShape, replication_slot: nonEmptyString().optional(), publication: nonEmptyString().optional() })
  .superRefine((raw, ctx) => checkConnection(raw, ctx), ALWAYS)
  .transform(
    (raw): SourceConnection => ({
      ...toConnection(raw),
      ...(raw.replication_slot !== undefined ? { replication_slot: raw.replication_slot } : {}),
      ...(raw.publication !== undefined ? { publication: raw.publication } : {}),
    }),
  );

export const DestinationConnectionSchema = z
  .strictObject({
    ...connectionShape,
    schema: nonEmptyString().default(DEFAULT_DESTINATION_SCHEMA),
    load_method: z.enum(LOAD_METHODS).default('copy'),
  })
  .superRefine((raw, ctx) => checkConnection(raw, ctx), ALWAYS)
  .transform((raw): DestinationConnection => ({ ...toConnection(raw), schema: raw.schema, load_method: raw.load_method }));

/**
 * A printable description of a connection, never containing the password.
 *
 * @example connectionSummary({ kind: 'url', url: 'postgres://u:secret@db:5432/app' }) === 'postgres://u@db:5432/app'
 * @example connectionSummary({ kind: 'embedded' }, 'rb_source') === 'embedded:rb_source'
 */
export function connectionSummary(conn: Connection, embeddedDefaultDatabase?: string): string {
  switch (conn.kind) {
    case 'embedded': {
      const database = conn.database ?? embeddedDefaultDatabase;
      return database ? `embedded:${database}` : 'embedded';
    }
    case 'host': {
      const host = conn.host.includes(':') ? `[${conn.host}]` : conn.host;
      const ssl = conn.sslmode ? `?sslmode=${conn.sslmode}` : '';
      const user = conn.user !== undefined ? `${encodeURIComponent(conn.user)}@` : '';
      return `postgres://${user}${host}:${conn.port}/${encodeURIComponent(conn.database ?? '')}${ssl}`;
    }
    case 'url':
      return isConnUri(conn.url) ? summarizeUrl(conn.url, conn.sslmode) : summarizeKeywords(conn.url, conn.sslmode);
  }
}

/** A keyword/value string without its password. */
function summarizeKeywords(text: string, sslmode: SslMode | undefined): string {
  let params: Record<string, string>;
  try {
    params = parseConnString(text);
  } catch {
    return redact(text.replace(/password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/g, 'password=***'));
  }
  delete params.password;
  if (sslmode && params.sslmode === undefined) params.sslmode = sslmode;
  return Object.entries(params)
    .map(([k, v]) => `${k}=${/^[^\s'\\]+$/.test(v) ? v : `'${v.replace(/['\\]/g, (c) => `\\${c}`)}'`}`)
    .join(' ');
}

function summarizeUrl(url: string, sslmode: SslMode | undefined): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return redact(url);
  }
  // libpq also reads a password from the query string (?password=...): drop it too.
  const params = new URLSearchParams(parsed.search);
  params.delete('password');
  if (sslmode && !params.has('sslmode')) params.set('sslmode', sslmode);
  const query = params.toString();
  const user = parsed.username ? `${parsed.username}@` : '';
  return `${parsed.protocol}//${user}${parsed.host}${parsed.pathname}${query ? `?${query}` : ''}`;
}
