import { describe, expect, it } from 'vitest';
import { connectionSummary } from './connection.js';
import { configErrorOf, issuesOf, parseOk, withLine } from './testing.js';

/** BASE_YAML with the source `config:` block (lines 5-6) replaced by `block` (2 lines). */
function sourceConfig(line5: string, line6: string): string {
  return withLine(6, line6, withLine(5, line5));
}

describe('connection forms', () => {
  it('accepts postgres:// and postgresql:// URLs', () => {
    expect(parseOk(sourceConfig('  config:', '    url: postgresql://a@h/db')).source.config).toEqual({ kind: 'url', url: 'postgresql://a@h/db' });
  });

  it('fills port 5432 for the host form and keeps sslmode', () => {
    const text = sourceConfig('  config: { host: db.internal, user: app, password: pw, database: shop,', '            sslmode: verify-full }');
    expect(parseOk(text).source.config).toEqual({
      kind: 'host',
      host: 'db.internal',
      port: 5432,
      user: 'app',
      password: 'pw',
      database: 'shop',
      sslmode: 'verify-full',
    });
  });

  it('accepts embedded: true with an optional database and leaves the default to the caller', () => {
    expect(parseOk(sourceConfig('  config:', '    embedded: true')).source.config).toEqual({ kind: 'embedded' });
    expect(parseOk(sourceConfig('  config:', '    { embedded: true, database: demo }')).source.config).toEqual({ kind: 'embedded', database: 'demo' });
  });

  it('fills schema public and load_method copy on the destination', () => {
    expect(parseOk(withLine(13, '    embedded: true')).destination.config).toEqual({ kind: 'embedded', schema: 'public', load_method: 'copy' });
  });

  it('rejects a URL that is not postgres', () => {
    expect(configErrorOf(sourceConfig('  config:', '    url: mysql://a@h/db')).message).toBe(
      'pipeline.yaml:6:10 source.config.url: expected a postgres:// or postgresql:// URL, or a libpq keyword/value string (host=... dbname=...), found "mysql://a@h/db"',
    );
  });

  it('rejects url together with host, naming both', () => {
    const text = sourceConfig('  config:', '    { url: "postgres://a@h/db", host: h, user: a, database: db }');
    expect(configErrorOf(text).message).toBe(
      'pipeline.yaml:6:39 source.config.host: host cannot be combined with url (use exactly one of url, host or embedded: true)',
    );
  });

  it('rejects embedded together with url', () => {
    const text = sourceConfig('  config:', '    { url: "postgres://a@h/db", embedded: true }');
    expect(configErrorOf(text).message).toContain('source.config.embedded: embedded cannot be combined with url');
  });

  it('requires one of the forms', () => {
    expect(configErrorOf(sourceConfig('  config:', '    sslmode: require')).message).toBe(
      'pipeline.yaml:6:5 source.config: no connection given: set url, host, or embedded: true',
    );
    expect(configErrorOf(sourceConfig('  config:', '    embedded: false')).message).toContain('source.config: no connection given');
  });

  it('takes host alone: user and database are left to libpq\'s defaults (PGUSER, PGDATABASE)', () => {
    expect(parseOk(sourceConfig('  config:', '    host: db')).source.config).toEqual({ kind: 'host', host: 'db', port: 5432 });
  });

  it('accepts a libpq keyword/value string as url', () => {
    const text = sourceConfig('  config:', `    url: "host=db port=5433 dbname=shop user=app password='a b' sslmode=verify-full"`);
    expect(parseOk(text).source.config).toEqual({ kind: 'url', url: "host=db port=5433 dbname=shop user=app password='a b' sslmode=verify-full" });
  });

  it('accepts the TLS, timeout and keepalive settings next to url and host', () => {
    const text = sourceConfig(
      '  config: { url: "postgres://a@h/db", sslmode: verify-ca, sslrootcert: ~/ca.pem, sslcert: c.pem, sslkey: k.pem,',
      '            connect_timeout: 5, keepalives: true, keepalives_idle: 30 }',
    );
    expect(parseOk(text).source.config).toEqual({
      kind: 'url',
      url: 'postgres://a@h/db',
      sslmode: 'verify-ca',
      sslrootcert: '~/ca.pem',
      sslcert: 'c.pem',
      sslkey: 'k.pem',
      connect_timeout: 5,
      keepalives: true,
      keepalives_idle: 30,
    });
    expect(parseOk(sourceConfig('  config: { host: h, sslrootcert: system,', '            connect_timeout: 0 }')).source.config).toEqual({
      kind: 'host',
      host: 'h',
      port: 5432,
      sslrootcert: 'system',
      connect_timeout: 0,
    });
  });

  it('checks connect_timeout and keepalives_idle', () => {
    const text = sourceConfig('  config: { host: h,', '            connect_timeout: -1, keepalives_idle: 0 }');
    expect(configErrorOf(text).message.split('\n')).toEqual([
      'pipeline.yaml:6:30 source.config.connect_timeout: expected an integer from 0 to 86400, found -1',
      'pipeline.yaml:6:51 source.config.keepalives_idle: expected an integer from 1 to 86400, found 0',
    ]);
  });

  it('refuses a libpq keyword rb does not act on (exit 2), never ignoring it', () => {
    const error = configErrorOf(sourceConfig('  config:', '    url: "postgres://a@h/db?sslmode=require&hostaddr=10.0.0.1&gssencmode=require"'));
    expect(error.exitCode).toBe(2);
    expect(error.message.split('\n')).toEqual([
      'pipeline.yaml:6:10 source.config.url: hostaddr is not supported by rb (give the address as host)',
      'pipeline.yaml:6:10 source.config.url: gssencmode=require is not supported by rb (gssencmode=disable or gssencmode=prefer, or leave it out)',
    ]);
    expect(configErrorOf(sourceConfig('  config:', '    url: "host=h dbnme=x"')).message).toBe('pipeline.yaml:6:10 source.config.url: invalid connection option "dbnme"');
    expect(configErrorOf(sourceConfig('  config:', '    url: "host=h krbsrvname=postgres"')).message).toContain('krbsrvname is not supported by rb (Kerberos/GSSAPI is not supported)');
    expect(configErrorOf(sourceConfig('  config:', '    url: "postgres://a@h1,h2/db"')).message).toContain('several hosts in one connection string are not supported by rb');
  });

  it('refuses the TLS and timeout settings with embedded: true', () => {
    expect(configErrorOf(sourceConfig('  config:', '    { embedded: true, sslrootcert: ca.pem }')).message).toBe(
      'pipeline.yaml:6:36 source.config.sslrootcert: sslrootcert does not apply to embedded: true (rb runs the local cluster itself)',
    );
  });

  it('rejects host fields next to a url', () => {
    const text = sourceConfig('  config:', '    { url: "postgres://a@h/db", port: 5433, password: hunter2 }');
    const error = configErrorOf(text);
    expect(error.message.split('\n')).toEqual([
      'pipeline.yaml:6:39 source.config.port: port cannot be combined with url (put it in the URL instead)',
      'pipeline.yaml:6:55 source.config.password: password cannot be combined with url (put it in the URL instead)',
    ]);
    expect(issuesOf(text)[1]).toMatchObject({ found: '***', expected: 'no password next to url' });
  });

  it('rejects host fields with embedded', () => {
    expect(configErrorOf(sourceConfig('  config:', '    { embedded: true, user: x }')).message).toBe(
      'pipeline.yaml:6:29 source.config.user: user does not apply to embedded: true (rb runs the local cluster itself)',
    );
  });

  it('checks port range and sslmode values', () => {
    const text = sourceConfig('  config: { host: h, user: u, database: d,', '            port: 70000, sslmode: always }');
    expect(configErrorOf(text).message.split('\n')).toEqual([
      'pipeline.yaml:6:19 source.config.port: expected an integer from 1 to 65535, found 70000',
      'pipeline.yaml:6:35 source.config.sslmode: expected one of disable, allow, prefer, require, verify-ca, verify-full, found "always"',
    ]);
  });

  it('checks load_method and the destination schema', () => {
    const text = withLine(13, '    { url: "postgres://a@h/db", load_method: bulk, schema: "" }');
    expect(configErrorOf(text).message.split('\n')).toEqual([
      'pipeline.yaml:13:46 destination.config.load_method: expected one of copy, insert, found "bulk"',
      'pipeline.yaml:13:60 destination.config.schema: expected a non-empty string, found ""',
    ]);
  });

  it('rejects unknown connection keys', () => {
    expect(configErrorOf(sourceConfig('  config:', '    { embedded: true, hots: x }')).message).toBe(
      'pipeline.yaml:6:23 source.config.hots: unknown key; did you mean "host"? (expected one of url, host, port, user, password, database, sslmode, sslrootcert, sslcert, sslkey, connect_timeout, keepalives, keepalives_idle, tcp_user_timeout, embedded, replication_slot, publication)',
    );
  });
});

describe('passwords in errors', () => {
  it('prints a wrongly typed password as ***', () => {
    const text = sourceConfig('  config: { host: h, user: u, database: d,', '            password: 12345 }');
    const error = configErrorOf(text);
    expect(error.message).toBe('pipeline.yaml:6:23 source.config.password: expected a string, found ***');
    expect(JSON.stringify(error.toJSON())).not.toContain('12345');
  });

  it('never echoes the password of a URL, in the message or the details', () => {
    const text = sourceConfig('  config:', '    url: "postgres://bob:s3cr3t@db/app" # with a typo below\n    hots: x');
    const error = configErrorOf(text.replace('    hots: x', '    sslmode: 7'));
    expect(error.message).not.toContain('s3cr3t');
    const urlError = configErrorOf(withLine(13, '    url: "postgres://bob:s3cr3t@db:notaport/app"'));
    expect(urlError.message).toBe(
      'pipeline.yaml:13:10 destination.config.url: invalid port number: "notaport"',
    );
    const badEscape = configErrorOf(withLine(13, '    url: "postgres://bob:s3%cr3t@db/app"'));
    expect(badEscape.message).toBe(
      "pipeline.yaml:13:10 destination.config.url: is not a well-formed connection string: invalid percent-encoding in the URI's password (percent-encode special characters in a URL's user name and password)",
    );
    expect(JSON.stringify(urlError.toJSON())).not.toContain('s3cr3t');
    expect(issuesOf(withLine(13, '    url: "mysql://bob:s3cr3t@db/app"'))[0].found).toBe('"mysql://bob:***@db/app"');
  });

  it('masks the password of a keyword/value string', () => {
    const error = configErrorOf(sourceConfig('  config:', `    { url: "host=h password='t0p s3cret' user=u", sslmode: "t0p s3cret" }`));
    expect(error.message).not.toContain('t0p s3cret');
    expect(error.message).toContain('found "***"');
  });

  it('masks a password that is echoed in another field', () => {
    const text = sourceConfig('  config: { host: h, user: u, database: d,', '            password: topsecret, sslmode: topsecret }');
    const error = configErrorOf(text);
    expect(error.message).toBe(
      'pipeline.yaml:6:43 source.config.sslmode: expected one of disable, allow, prefer, require, verify-ca, verify-full, found "***"',
    );
  });
});

describe('connectionSummary', () => {
  it('drops the password from a URL, including ?password=', () => {
    expect(connectionSummary({ kind: 'url', url: 'postgres://user:secret@host:5432/db' })).toBe('postgres://user@host:5432/db');
    expect(connectionSummary({ kind: 'url', url: 'postgresql://h/db?password=secret&sslmode=require' })).toBe(
      'postgresql://h/db?sslmode=require',
    );
    expect(connectionSummary({ kind: 'url', url: 'postgres://u@h/db', sslmode: 'require' })).toBe('postgres://u@h/db?sslmode=require');
  });

  it('prints a keyword/value string without its password', () => {
    expect(connectionSummary({ kind: 'url', url: "host=db password='s e' user=app", sslmode: 'require' })).toBe('host=db user=app sslmode=require');
  });

  it('prints the host form as a URL without password', () => {
    const summary = connectionSummary({ kind: 'host', host: 'db', port: 5433, user: 'app', password: 'pw', database: 'shop' });
    expect(summary).toBe('postgres://app@db:5433/shop');
  });

  it('prints embedded with its database or the caller default', () => {
    expect(connectionSummary({ kind: 'embedded', database: 'demo' })).toBe('embedded:demo');
    expect(connectionSummary({ kind: 'embedded' }, 'rb_source')).toBe('embedded:rb_source');
    expect(connectionSummary({ kind: 'embedded' })).toBe('embedded');
  });
});
