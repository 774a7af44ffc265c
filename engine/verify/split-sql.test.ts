import { describe, expect, it } from 'vitest';
import { firstBlockComment, splitSqlStatements, stripLeadingComments } from './split-sql.js';

describe('splitSqlStatements', () => {
  it('splits at top-level semicolons only', () => {
    const sql = `
      -- header; with a semicolon
      /* block; /* nested; */ still comment; */
      select 1 as ok;
      select ';' as "a;b", 'it''s; fine', E'back\\'slash;' as ok;
      select $$ dollar; body $$, $tag$ a; $$ b; $tag$ as ok;
      select a$b from t; select $1::int;
      -- only a comment;
    `;
    expect(splitSqlStatements(sql)).toEqual([
      'select 1 as ok',
      `select ';' as "a;b", 'it''s; fine', E'back\\'slash;' as ok`,
      'select $$ dollar; body $$, $tag$ a; $$ b; $tag$ as ok',
      'select a$b from t',
      'select $1::int',
    ]);
  });

  it('keeps a last statement without a semicolon and drops empty ones', () => {
    expect(splitSqlStatements(';;select 2\n')).toEqual(['select 2']);
    expect(splitSqlStatements('  \n-- nothing\n')).toEqual([]);
  });

  it('does not treat a backslash as an escape in a standard string', () => {
    expect(splitSqlStatements(`select 'a\\'; select 2`)).toEqual([`select 'a\\'`, 'select 2']);
  });
});

describe('statement names', () => {
  it('strips leading comments and finds the naming comment', () => {
    const s = stripLeadingComments('/* file header */\n-- line\n  select /* rows   arrived */ count(*) = 8 as ok');
    expect(s).toBe('select /* rows   arrived */ count(*) = 8 as ok');
    expect(firstBlockComment(s)).toBe('rows arrived');
    expect(firstBlockComment('select 1')).toBeUndefined();
  });
});
