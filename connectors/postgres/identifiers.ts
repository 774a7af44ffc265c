/**
 * SQL identifier and literal quoting. Every name that reaches SQL text goes through here, so mixed
 * case, spaces, embedded quotes and unicode work everywhere (PostgreSQL docs 4.1.1).
 */

export interface QualifiedName {
  schema: string;
  table: string;
}

/** `"name"` with embedded double quotes doubled. NUL bytes are rejected (they cannot be in names). */
export function quoteIdent(name: string): string {
  if (name.includes('\0')) throw new Error(`identifier contains a NUL byte: ${JSON.stringify(name)}`);
  return `"${name.replace(/"/g, '""')}"`;
}

export function quoteQualified(q: QualifiedName): string {
  return `${quoteIdent(q.schema)}.${quoteIdent(q.table)}`;
}

/** A standard-conforming string literal ('...' with quotes doubled). */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('string literal contains a NUL byte');
  return `'${value.replace(/'/g, "''")}'`;
}

/** `schema.table` as a person reads it: parts quoted only when they need it. */
export function displayName(q: QualifiedName): string {
  const part = (s: string) => (/^[a-z_][a-z0-9_$]*$/.test(s) ? s : quoteIdent(s));
  return `${part(q.schema)}.${part(q.table)}`;
}

/**
 * Parses `schema.table`, `table`, or double-quoted parts (`"My Schema"."odd ""t"".x"`).
 * Unquoted parts are taken as written (rb does not fold case: a stream named `Orders` means the
 * table `Orders`), which is what users mean when they copy a name from a catalog listing.
 */
export function parseQualifiedName(name: string, defaultSchema = 'public'): QualifiedName {
  const parts: string[] = [];
  let i = 0;
  while (i <= name.length) {
    if (name[i] === '"') {
      let j = i + 1;
      let part = '';
      for (;;) {
        if (j >= name.length) throw new Error(`unterminated quoted identifier in ${JSON.stringify(name)}`);
        if (name[j] === '"') {
          if (name[j + 1] === '"') {
            part += '"';
            j += 2;
            continue;
          }
          break;
        }
        part += name[j++];
      }
      parts.push(part);
      i = j + 1;
    } else {
      const dot = name.indexOf('.', i);
      const end = dot === -1 ? name.length : dot;
      parts.push(name.slice(i, end).trim());
      i = end;
    }
    if (i >= name.length) break;
    if (name[i] !== '.') throw new Error(`expected '.' at position ${i} in ${JSON.stringify(name)}`);
    i++;
  }
  if (parts.length === 1) return { schema: defaultSchema, table: nonEmpty(parts[0], name) };
  if (parts.length === 2) return { schema: nonEmpty(parts[0], name), table: nonEmpty(parts[1], name) };
  throw new Error(`expected schema.table or table, found ${JSON.stringify(name)}`);
}

function nonEmpty(s: string, whole: string): string {
  if (!s) throw new Error(`empty name part in ${JSON.stringify(whole)}`);
  return s;
}
