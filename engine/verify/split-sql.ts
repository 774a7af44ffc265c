/**
 * Splits a SQL script into statements at top-level semicolons, for running verify.sql one query
 * at a time. Knows the lexical forms a semicolon can hide in (PostgreSQL docs 4.1):
 *   '...'  (quote doubled)     E'...' (backslash escapes too)     "..." (quote doubled)
 *   -- to end of line          /* ... *\/ (nesting)               $tag$ ... $tag$
 * Leading comments and blank lines of each statement are dropped; statements that are only
 * comments are dropped entirely.
 */

const IDENT_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/;
const DOLLAR_TAG = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

/** @example splitSqlStatements("select 1; -- x\nselect ';'") → ['select 1', "select ';'"] */
export function splitSqlStatements(sql: string): string[] {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    const next = sql[i + 1];
    if (c === ';') {
      push(out, sql.slice(start, i));
      start = ++i;
    } else if (c === '-' && next === '-') {
      const eol = sql.indexOf('\n', i);
      i = eol === -1 ? n : eol + 1;
    } else if (c === '/' && next === '*') {
      i = skipBlockComment(sql, i);
    } else if (c === "'") {
      const escapes = (sql[i - 1] === 'E' || sql[i - 1] === 'e') && !IDENT_CHAR.test(sql[i - 2] ?? ' ');
      i = skipQuoted(sql, i, "'", escapes);
    } else if (c === '"') {
      i = skipQuoted(sql, i, '"', false);
    } else if (c === '$' && !IDENT_CHAR.test(sql[i - 1] ?? ' ')) {
      const m = DOLLAR_TAG.exec(sql.slice(i, i + 64));
      if (m) {
        const end = sql.indexOf(m[0], i + m[0].length);
        i = end === -1 ? n : end + m[0].length;
      } else {
        i++;
      }
    } else {
      i++;
    }
  }
  push(out, sql.slice(start));
  return out;
}

/** Index just past the comment opened at `i` (block comments nest in PostgreSQL). */
function skipBlockComment(sql: string, i: number): number {
  let depth = 0;
  while (i < sql.length) {
    if (sql[i] === '/' && sql[i + 1] === '*') {
      depth++;
      i += 2;
    } else if (sql[i] === '*' && sql[i + 1] === '/') {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      i++;
    }
  }
  return i;
}

/** Index just past the quoted token opened at `i`. */
function skipQuoted(sql: string, i: number, quote: string, backslashEscapes: boolean): number {
  i++;
  while (i < sql.length) {
    const c = sql[i];
    if (backslashEscapes && c === '\\') {
      i += 2;
    } else if (c === quote) {
      if (sql[i + 1] === quote) i += 2;
      else return i + 1;
    } else {
      i++;
    }
  }
  return i;
}

function push(out: string[], statement: string): void {
  const s = stripLeadingComments(statement).trim();
  if (s) out.push(s);
}

/** Removes whitespace and comments before the first token. */
export function stripLeadingComments(sql: string): string {
  let i = 0;
  for (;;) {
    while (i < sql.length && /\s/.test(sql[i])) i++;
    if (sql.startsWith('--', i)) {
      const eol = sql.indexOf('\n', i);
      i = eol === -1 ? sql.length : eol + 1;
    } else if (sql.startsWith('/*', i)) {
      i = skipBlockComment(sql, i);
    } else {
      return sql.slice(i);
    }
  }
}

/** The text of the first block comment of a statement (`select /* name *\/ ...`), if any. */
export function firstBlockComment(statement: string): string | undefined {
  const m = /\/\*([\s\S]*?)\*\//.exec(statement);
  return m ? m[1].replace(/\s+/g, ' ').trim() : undefined;
}
