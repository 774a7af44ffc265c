/**
 * Connection blocks → endpoints, for every command (run, check, discover, demo). url and host
 * blocks are the connectors' (`resolveServerEndpoint`); `embedded: true` is the engine's: it
 * starts or reuses the local cluster (engine/embedded/cluster.ts) and hands the connectors a
 * plain endpoint, so connectors/ never imports the engine.
 */
import {
  plainEndpoint,
  resolveServerEndpoint,
  type ConnectionSettings,
  type EndpointRole,
  type PgEndpoint,
} from '../../connectors/postgres/connection.js';
import { ensureCluster, ensureDatabase } from '../embedded/cluster.js';
import { describeEmbeddedRoot, embeddedRoot } from '../embedded/root.js';
import { connectionSummary, type Connection } from '../config/index.js';

/**
 * Resolves a connection block. `embedded: true` starts or reuses the user's embedded cluster
 * (engine/embedded/root.ts: ~/.local/share/rb/pg, or RB_EMBEDDED_ROOT) and creates the database if needed.
 */
export async function resolveEndpoint(
  settings: ConnectionSettings,
  role: EndpointRole,
  opts: { embeddedRoot?: string; log?: (line: string) => void } = {},
): Promise<PgEndpoint> {
  if (settings.kind !== 'embedded') return resolveServerEndpoint(settings, role);
  const root = opts.embeddedRoot ?? embeddedRoot().root;
  const info = await ensureCluster(root, { log: opts.log });
  const database = settings.database ?? (role === 'source' ? 'rb_source' : 'rb_dest');
  await ensureDatabase(info, database);
  // rb's own cluster on the loopback: no TLS, whatever PGSSLMODE says.
  return plainEndpoint({ host: info.host, port: info.port, user: info.user, password: info.password, database, label: `embedded:${database}`, embedded: true });
}

/**
 * Which server a command talks to, without the password; for `embedded: true`, which cluster
 * directory (one per user unless RB_EMBEDDED_ROOT says otherwise).
 *
 * @example describeConnection({ kind: 'embedded' }, 'rb_source') === "embedded:rb_source on rb's embedded cluster at /home/ann/.local/share/rb/pg (per user; RB_EMBEDDED_ROOT overrides)"
 */
export function describeConnection(conn: Connection, embeddedDefaultDatabase: string): string {
  const summary = connectionSummary(conn, embeddedDefaultDatabase);
  return conn.kind === 'embedded' ? `${summary} on ${describeEmbeddedRoot()}` : summary;
}
