/**
 * Stream names (`source.streams[].name`): `schema.table`, a bare `table` (schema `public`), or
 * double-quoted parts with SQL quoting rules: `"My Schema"."Odd ""Table"""` is schema `My Schema`,
 * table `Odd "Table"`, and a dot inside quotes belongs to the name.
 *
 * Names are taken exactly as written, quoted or not (no lower-case folding): they are compared
 * with the catalog (`pg_class.relname`), the way the columns, primary keys and schemas in the same
 * file are. `Orders` therefore means the table created as "Orders"; quotes are only needed for a
 * name containing a dot or a double quote, or with leading/trailing spaces.
 */

import { RbError } from './errors.js';

export const DEFAULT_SCHEMA = 'public';

/** PostgreSQL truncates identifiers beyond NAMEDATALEN - 1 bytes; we refuse instead. */
export const MAX_IDENTIFIER_BYTES = 63;

export interface QualifiedName {
  schema: string;
  table: string;
}

export type QualifiedNameCheck = { ok: true; name: QualifiedName } | { ok: false; problem: string };

/**
 * Splits a stream name into schema and table without throwing.
 *
 * @example checkQualifiedName('orders') → { ok: true, name: { schema: 'public', table: 'orders' } }
 */
export function checkQualifiedName(text: string): QualifiedNameCheck {
  const parts: string[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  for (;;) {
    skipSpace();
    if (i >= text.length) {
      return { ok: false, problem: parts.length === 0 ? 'the name is empty' : 'the name ends with a dot' };
    }
    if (text[i] === '"') {
      let part = '';
      let closed = false;
      i++;
      while (i < text.length) {
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            part += '"';
            i += 2;
            continue;
          }
          closed = true;
          i++;
          break;
        }
        part += text[i++];
      }
      if (!closed) return { ok: false, problem: 'a double quote is not closed (write "" for a quote inside a name)' };
      if (part.length === 0) return { ok: false, problem: 'a quoted name part is empty ("")' };
      parts.push(part);
    } else {
      const start = i;
      while (i < text.length && text[i] !== '.' && text[i] !== '"') i++;
      const part = text.slice(start, i).trimEnd();
      if (part.length === 0) return { ok: false, problem: 'a name part is empty (two dots in a row?)' };
      parts.push(part);
    }
    skipSpace();
    if (i >= text.length) break;
    if (text[i] !== '.') {
      return { ok: false, problem: `unexpected ${JSON.stringify(text[i])} at character ${i + 1} (expected a dot or the end)` };
    }
    i++;
  }
  if (parts.length > 2) {
    return { ok: false, problem: `has ${parts.length} parts; expected table or schema.table` };
  }
  for (const part of parts) {
    if (Buffer.byteLength(part, 'utf8') > MAX_IDENTIFIER_BYTES) {
      return { ok: false, problem: `"${part}" is longer than ${MAX_IDENTIFIER_BYTES} bytes (PostgreSQL would truncate it)` };
    }
  }
  const name = parts.length === 1 ? { schema: DEFAULT_SCHEMA, table: parts[0] } : { schema: parts[0], table: parts[1] };
  return { ok: true, name };
}

/**
 * Splits a stream name into schema and table, defaulting the schema to `public`.
 * Throws `RbError('config_invalid')` for a malformed name.
 *
 * @example parseQualifiedName('"My Schema"."Odd ""Table"""') → { schema: 'My Schema', table: 'Odd "Table"' }
 */
export function parseQualifiedName(text: string): QualifiedName {
  const check = checkQualifiedName(text);
  if (!check.ok) {
    throw new RbError('config_invalid', `invalid stream name ${JSON.stringify(text)}: ${check.problem}`);
  }
  return check.name;
}

/** The name as PostgreSQL SQL text, always quoted: `"public"."orders"`. */
export function formatQualifiedName(name: QualifiedName): string {
  const quote = (id: string) => `"${id.replace(/"/g, '""')}"`;
  return `${quote(name.schema)}.${quote(name.table)}`;
}
