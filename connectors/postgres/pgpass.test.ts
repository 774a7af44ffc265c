import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { matchPgpass, parsePgpassLine, pgpassPassword, pgpassPath } from './pgpass.js';

const q = { host: 'db.example', port: 5432, database: 'shop', user: 'app' };
const dir = mkdtempSync(join(tmpdir(), 'rb-pgpass-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the password file', () => {
  it('takes the first matching line; * matches any field', () => {
    const text = ['db.example:5432:other:app:no', 'db.example:5432:shop:app:first', '*:*:*:*:second'].join('\n');
    expect(matchPgpass(text, q)).toBe('first');
    expect(matchPgpass(text, { ...q, database: 'x' })).toBe('second');
    expect(matchPgpass('*:5433:*:app:p', q)).toBeUndefined();
    expect(matchPgpass('*:5432:*:app:p\r\n', q)).toBe('p');
  });

  it('unescapes \\: and \\\\, ends the password at an unescaped colon, and takes only a bare * as a wildcard', () => {
    expect(parsePgpassLine(String.raw`h\:x:5432:d:u:pa\:ss\\w:rest`)).toEqual({ match: ['h:x', '5432', 'd', 'u'], password: 'pa:ss\\w' });
    expect(matchPgpass(String.raw`\*:5432:shop:app:literal-star`, q)).toBeUndefined();
    expect(matchPgpass(String.raw`\*:5432:shop:app:literal-star`, { ...q, host: '*' })).toBe('literal-star');
  });

  it('skips comments and short lines', () => {
    expect(parsePgpassLine('# db.example:5432:shop:app:x')).toBeNull();
    expect(parsePgpassLine('db.example:5432:shop:app')).toBeNull();
  });

  it('matches a connection to the default socket directory as localhost, another directory as itself', () => {
    expect(matchPgpass('localhost:5432:shop:app:sock', { ...q, host: '/var/run/postgresql' })).toBe('sock');
    expect(matchPgpass('localhost:5432:shop:app:sock', { ...q, host: '/srv/pg' })).toBeUndefined();
    expect(matchPgpass('/srv/pg:5432:shop:app:dir', { ...q, host: '/srv/pg' })).toBe('dir');
  });

  it('is passfile, else PGPASSFILE, else ~/.pgpass', () => {
    expect(pgpassPath('/a', { PGPASSFILE: '/b' })).toBe('/a');
    expect(pgpassPath(undefined, { PGPASSFILE: '/b' })).toBe('/b');
    expect(pgpassPath(undefined, {})).toMatch(/\.pgpass$/);
  });

  it('ignores a file with group or world access, and a directory, with libpq\'s warnings (once each)', () => {
    const open = join(dir, 'open');
    writeFileSync(open, '*:*:*:*:pw\n', { mode: 0o640 });
    const warnings: string[] = [];
    expect(pgpassPassword(q, open, (w) => warnings.push(w))).toBeUndefined();
    expect(pgpassPassword(q, open, (w) => warnings.push(w))).toBeUndefined();
    const sub = join(dir, 'sub');
    mkdirSync(sub);
    expect(pgpassPassword(q, sub, (w) => warnings.push(w))).toBeUndefined();
    expect(warnings).toEqual([`WARNING: password file "${open}" has group or world access; permissions should be u=rw (0600) or less`, `WARNING: password file "${sub}" is not a plain file`]);
    const ok = join(dir, 'ok');
    writeFileSync(ok, '*:*:*:*:pw\n', { mode: 0o600 });
    expect(pgpassPassword(q, ok, () => {})).toBe('pw');
    expect(pgpassPassword(q, join(dir, 'missing'), () => {})).toBeUndefined();
  });
});
