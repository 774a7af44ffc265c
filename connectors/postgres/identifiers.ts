/**
 * SQL identifier and literal quoting. Every name that reaches SQL text goes through here, so mixed
 * case, spaces, embedded quotes and unicode work everywhere (PostgreSQL docs 4.1.1).
 */

import type { QualifiedName } from '../contract/qualified-name.js';

export type { QualifiedName };

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
 * Stream names are parsed once, by the contract's parser that the config layer uses too (quoted
 * parts, doubled quotes, dots inside quotes, the 63-byte limit): re-exported here for the connectors.
 */
export { parseQualifiedName } from '../contract/qualified-name.js';
