/**
 * A connection block (`source.config`, `destination.config`) in three exclusive forms:
 *
 *   url:      postgres://user:password@host:5432/db?sslmode=require   (postgresql:// too)
 *   host:     host, port (default 5432), user, password?, database, sslmode?
 *   embedded: true, database?   (rb's local cluster, docs/design.md section 12; the default database
 *                                name is the caller's: rb_source / rb_dest)
 *
 * The YAML shape is one strict object; after validation it becomes a discriminated union on
 * `kind`, so connectors never have to guess which fields are meaningful.
 */

import { z } from 'zod';
import { LOAD_METHODS, type LoadMethod } from '../../connectors/contract/domain.js';
import { redact } from '../errors.js';
import { checkConnection } from './rules.js';
import { boundedNumber, nonEmptyString, ALWAYS } from './schema-parts.js';

export const DEFAULT_PORT = 5432;
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export const DEFAULT_DESTINATION_SCHEMA = 'public';

export type SslMode = (typeof SSL_MODES)[number];
/** Declared once in connectors/contract/domain.ts; re-exported here. */
export { LOAD_METHODS, type LoadMethod };

export interface UrlConnection {
  kind: 'url';
  url: string;
  sslmode?: SslMode;
}

export interface HostConnection {
  kind: 'host';
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  sslmode?: SslMode;
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

const POSTGRES_URL = /^postgres(?:ql)?:\/\//i;

const postgresUrl = z.string().superRefine((url, ctx) => {
  if (!POSTGRES_URL.test(url)) {
    ctx.addIssue({ code: 'custom', message: '', params: { kind: 'type', expected: 'a postgres:// or postgresql:// URL' } });
    return;
  }
  try {
    new URL(url);
  } catch {
    ctx.addIssue({
      code: 'custom',
      message: 'is not a well-formed URL (percent-encode special characters in the user name and password)',
      params: { kind: 'rule', expected: 'a postgres:// or postgresql:// URL' },
    });
  }
});

const connectionShape = {
  url: postgresUrl.optional(),
  host: nonEmptyString().optional(),
  port: boundedNumber({ integer: true, min: 1, max: 65535 }).optional(),
  user: nonEmptyString().optional(),
  password: z.string().optional(),
  database: nonEmptyString().optional(),
  sslmode: z.enum(SSL_MODES).optional(),
  embedded: z.boolean().optional(),
};

type RawConnection = {
  url?: string;
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  sslmode?: SslMode;
  embedded?: boolean;
};

/** Picks the form. Only reached when `checkConnection` found nothing wrong. */
function toConnection(raw: RawConnection): Connection {
  if (raw.embedded === true) return { kind: 'embedded', ...(raw.database !== undefined ? { database: raw.database } : {}) };
  if (raw.url !== undefined) return { kind: 'url', url: raw.url, ...(raw.sslmode ? { sslmode: raw.sslmode } : {}) };
  return {
    kind: 'host',
    host: raw.host ?? '',
    port: raw.port ?? DEFAULT_PORT,
    user: raw.user ?? '',
    ...(raw.password !== undefined ? { password: raw.password } : {}),
    database: raw.database ?? '',
    ...(raw.sslmode ? { sslmode: raw.sslmode } : {}),
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
      return `postgres://${encodeURIComponent(conn.user)}@${host}:${conn.port}/${encodeURIComponent(conn.database)}${ssl}`;
    }
    case 'url':
      return summarizeUrl(conn.url, conn.sslmode);
  }
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
