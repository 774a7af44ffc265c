/**
 * Keeps passwords off command lines: the spawned psql and pgcopydb get URLs without the password
 * and a libpq password file (mode 600, in the run's private directory) that holds them.
 * Format: https://www.postgresql.org/docs/current/libpq-pgpass.html — host:port:db:user:password,
 * with ':' and '\' escaped by a backslash.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export interface PgpassResult {
  file: string;
  /** The input URLs with their password removed, in the same order. */
  urls: string[];
}

const escapeField = (s: string): string => s.replace(/\\/g, '\\\\').replace(/:/g, '\\:');

/** One pgpass line for a postgres URL, or undefined when it carries no password. */
export function pgpassLine(url: string): string | undefined {
  const u = new URL(url);
  if (!u.password) return undefined;
  const host = u.hostname || 'localhost';
  const port = u.port || '5432';
  const db = decodeURIComponent(u.pathname.replace(/^\//, '')) || '*';
  const user = decodeURIComponent(u.username) || '*';
  return [host, port, db, user, decodeURIComponent(u.password)].map(escapeField).join(':');
}

export function stripPassword(url: string): string {
  const u = new URL(url);
  u.password = '';
  return u.toString();
}

export function writePgpass(dir: string, urls: string[]): PgpassResult {
  const file = path.join(dir, 'pgpass');
  const lines = urls.map(pgpassLine).filter((l): l is string => l !== undefined);
  writeFileSync(file, lines.length ? `${lines.join('\n')}\n` : '', { mode: 0o600 });
  return { file, urls: urls.map(stripPassword) };
}
