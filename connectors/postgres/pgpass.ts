/**
 * The password file as libpq reads it (PostgreSQL docs, libpq "The Password File"): `PGPASSFILE`
 * (or the `passfile` keyword), else `~/.pgpass`; one `hostname:port:database:username:password`
 * a line, `*` matching anything in the first four fields, `\:` and `\\` escaping, `#` lines
 * ignored, the first matching line wins. A file readable by group or others is ignored with
 * libpq's warning, as is a path that is not a plain file.
 */
import { readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface PgpassQuery {
  /** Host name, address, or a Unix-socket directory. */
  host: string;
  port: number;
  database: string;
  user: string;
}

/** The file libpq would read: `passfile`, `PGPASSFILE`, `~/.pgpass`. */
export function pgpassPath(passfile?: string, env: NodeJS.ProcessEnv = process.env): string {
  return passfile || env.PGPASSFILE || path.join(os.homedir(), '.pgpass');
}

/** One line's four match fields (null = `*`, matching anything) and its password. */
export interface PgpassLine {
  match: Array<string | null>;
  password: string;
}

/**
 * One line, unescaped; null for a comment or a line of fewer than five fields. As libpq, the
 * password ends at the next unescaped `:`, and only an unescaped `*` is a wildcard.
 */
export function parsePgpassLine(line: string): PgpassLine | null {
  if (line.startsWith('#')) return null;
  const fields: string[] = [];
  const raw: string[] = [];
  let cur = '';
  let start = 0;
  for (let i = 0; i <= line.length; i++) {
    const c = line[i];
    if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
    } else if (c === ':' || i === line.length) {
      fields.push(cur);
      raw.push(line.slice(start, i));
      cur = '';
      start = i + 1;
      if (fields.length === 5) break;
    } else cur += c;
  }
  if (fields.length < 5) return null;
  return { match: fields.slice(0, 4).map((f, i) => (raw[i] === '*' ? null : f)), password: fields[4] };
}

/**
 * A Unix-socket connection matches a `localhost` line when it goes to the default socket
 * directory, as libpq's does; any other directory matches only itself.
 */
const DEFAULT_SOCKET_DIRS = ['/var/run/postgresql', '/run/postgresql', '/tmp'];

function pgpassHost(host: string): string {
  if (host === '' || DEFAULT_SOCKET_DIRS.includes(host.replace(/\/+$/, ''))) return 'localhost';
  return host;
}

/** The password of the first line matching `q` in `text`, or undefined. */
export function matchPgpass(text: string, q: PgpassQuery): string | undefined {
  const want = [pgpassHost(q.host), String(q.port), q.database, q.user];
  for (const raw of text.split('\n')) {
    const line = parsePgpassLine(raw.replace(/\r$/, ''));
    if (!line) continue;
    if (want.every((w, i) => line.match[i] === null || line.match[i] === w)) return line.password;
  }
  return undefined;
}

const warned = new Set<string>();

/**
 * The password for `q` from the password file, or undefined. Warnings (group/world-readable,
 * not a plain file) go to `warn` once per file and process, with libpq's wording.
 */
export function pgpassPassword(q: PgpassQuery, file: string, warn: (line: string) => void): string | undefined {
  let st;
  try {
    st = statSync(file);
  } catch {
    return undefined;
  }
  const once = (msg: string) => {
    if (warned.has(msg)) return;
    warned.add(msg);
    warn(msg);
  };
  if (!st.isFile()) {
    once(`WARNING: password file "${file}" is not a plain file`);
    return undefined;
  }
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    once(`WARNING: password file "${file}" has group or world access; permissions should be u=rw (0600) or less`);
    return undefined;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  return matchPgpass(text, q);
}
