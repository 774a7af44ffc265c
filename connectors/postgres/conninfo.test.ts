import { describe, expect, it } from 'vitest';
import { checkConnParams, ConnStringError, parseConnString } from './conninfo.js';

describe('parseConnString: URIs', () => {
  it('reads user, password, host, port, database and query keywords, percent-decoded', () => {
    expect(parseConnString('postgresql://app:p%40ss@db.example:5433/my%20db?sslmode=verify-full&application_name=rb%20x')).toEqual({
      user: 'app',
      password: 'p@ss',
      host: 'db.example',
      port: '5433',
      dbname: 'my db',
      sslmode: 'verify-full',
      application_name: 'rb x',
    });
  });

  it('takes the last @ as the end of the user part, an IPv6 host in brackets, and nothing at all', () => {
    expect(parseConnString('postgres://u:a@b@h/d')).toEqual({ user: 'u', password: 'a@b', host: 'h', dbname: 'd' });
    expect(parseConnString('postgres://[::1]:6432/d')).toEqual({ host: '::1', port: '6432', dbname: 'd' });
    expect(parseConnString('postgresql://')).toEqual({});
    expect(parseConnString('postgresql:///d')).toEqual({ dbname: 'd' });
  });

  it('reads a Unix-socket directory percent-encoded as the host or as ?host=', () => {
    expect(parseConnString('postgresql://%2Fvar%2Frun%2Fpostgresql/db')).toEqual({ host: '/var/run/postgresql', dbname: 'db' });
    expect(parseConnString('postgresql:///db?host=/var/run/postgresql&port=5433')).toEqual({ host: '/var/run/postgresql', port: '5433', dbname: 'db' });
  });

  it('takes ssl=true as sslmode=require, as libpq', () => {
    expect(parseConnString('postgres://h/d?ssl=true')).toEqual({ host: 'h', dbname: 'd', sslmode: 'require' });
  });

  it('refuses several hosts and broken escapes without echoing the password', () => {
    expect(() => parseConnString('postgres://h1,h2/d')).toThrow('several hosts in one connection string are not supported by rb');
    expect(() => parseConnString('postgres://u:se%zzcret@h/d')).toThrow(new ConnStringError("invalid percent-encoding in the URI's password"));
  });
});

describe('parseConnString: keyword/value strings', () => {
  it('reads keywords separated by whitespace, with spaces around =', () => {
    expect(parseConnString('host=db  port = 5432\tdbname=shop user=app')).toEqual({ host: 'db', port: '5432', dbname: 'shop', user: 'app' });
  });

  it("reads single-quoted values with \\' and \\\\ escapes, and backslash escapes in bare values", () => {
    expect(parseConnString(String.raw`password='it\'s a \\ secret' options='-c search_path=x' user=a\ b`)).toEqual({
      password: "it's a \\ secret",
      options: '-c search_path=x',
      user: 'a b',
    });
    expect(parseConnString("password=''")).toEqual({ password: '' });
  });

  it('refuses a keyword without = and an unterminated quote', () => {
    expect(() => parseConnString('host db')).toThrow('missing "=" after "host" in the connection string');
    expect(() => parseConnString("password='abc")).toThrow('unterminated quoted value of "password" in the connection string');
  });

  it('is empty for an empty string (all defaults, as libpq)', () => {
    expect(parseConnString('  ')).toEqual({});
  });
});

describe('checkConnParams', () => {
  it('accepts the keywords rb acts on and the harmless values of others', () => {
    expect(checkConnParams({ host: 'h', port: '5432', dbname: 'd', sslmode: 'verify-ca', sslrootcert: 'system', connect_timeout: '10', keepalives: '1', keepalives_idle: '30', gssencmode: 'disable', channel_binding: 'prefer', target_session_attrs: 'any' })).toEqual([]);
  });

  it('refuses what rb would otherwise ignore, each with what to do', () => {
    expect(checkConnParams({ keepalives_interval: '5', service: 'x', krbsrvname: 'postgres', target_session_attrs: 'read-write', dbnam: 'x' })).toEqual([
      'keepalives_interval is not supported by rb (Node.js sets no per-connection probe interval; keepalives_idle is supported)',
      'service is not supported by rb (connection service files (pg_service.conf) are not supported; write the keywords out)',
      'krbsrvname is not supported by rb (Kerberos/GSSAPI is not supported)',
      'target_session_attrs=read-write is not supported by rb (target_session_attrs=any, or leave it out)',
      'invalid connection option "dbnam"',
    ]);
  });

  it('checks ports and integers as libpq', () => {
    expect(checkConnParams({ port: 'x5432', connect_timeout: 'ten' })).toEqual(['invalid port number: "x5432"', 'invalid integer value "ten" for connection option "connect_timeout"']);
  });
});
