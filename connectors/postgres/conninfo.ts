/**
 * libpq connection strings (PostgreSQL docs, libpq "Connection Strings"), in both forms:
 *
 *   URI:           postgresql://[user[:password]@][host][:port][/dbname][?keyword=value&...]
 *                  (postgres:// too; every part percent-decoded, so a Unix-socket directory is
 *                  `postgresql://%2Fvar%2Frun%2Fpostgresql/db` or `postgresql:///db?host=/var/run/postgresql`)
 *   keyword/value: host=db.example port=5432 dbname=shop user=app password='it''s' sslmode=require
 *                  (whitespace-separated; a value in single quotes may hold spaces; `\'` and `\\` escape)
 *
 * Both become one map of libpq keywords. `checkConnParams` says which keywords rb acts on and refuses
 * the ones it does not (a known libpq keyword rb would ignore is an error, never silently dropped;
 * docs/design.md "Connections").
 */

export type ConnParams = Record<string, string>;

export class ConnStringError extends Error {}

const URI_PREFIX = /^postgres(?:ql)?:\/\//i;

/** True when `text` is in the URI form (else it is read as keyword/value). */
export function isConnUri(text: string): boolean {
  return URI_PREFIX.test(text.trim());
}

/**
 * Parses either form into keywords. Throws ConnStringError (its message never holds the password).
 *
 * @example parseConnString('postgresql://app@db:5433/shop?sslmode=require') // { user: 'app', host: 'db', port: '5433', dbname: 'shop', sslmode: 'require' }
 * @example parseConnString("host=db dbname=shop user=app") // { host: 'db', dbname: 'shop', user: 'app' }
 */
export function parseConnString(text: string): ConnParams {
  const s = text.trim();
  if (isConnUri(s)) return parseUri(s);
  return parseKeywordValue(s);
}

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ConnStringError(`invalid percent-encoding in the URI's ${what}`);
  }
}

function parseUri(s: string): ConnParams {
  const out: ConnParams = {};
  let rest = s.replace(URI_PREFIX, '');
  const q = rest.indexOf('?');
  const query = q >= 0 ? rest.slice(q + 1) : '';
  if (q >= 0) rest = rest.slice(0, q);
  const slash = rest.indexOf('/');
  const authority = slash >= 0 ? rest.slice(0, slash) : rest;
  if (slash >= 0 && rest.slice(slash + 1) !== '') out.dbname = decode(rest.slice(slash + 1), 'database name');
  // The last '@' ends the user part: a password may hold an (unencoded) '@'.
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(':');
    const user = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
    if (user) out.user = decode(user, 'user name');
    if (colon >= 0) out.password = decode(userinfo.slice(colon + 1), 'password');
  }
  const hostport = at >= 0 ? authority.slice(at + 1) : authority;
  if (hostport.includes(',')) throw new ConnStringError('several hosts in one connection string are not supported by rb (give one host)');
  if (hostport) {
    let host: string;
    let port = '';
    if (hostport.startsWith('[')) {
      const end = hostport.indexOf(']');
      if (end < 0) throw new ConnStringError('missing "]" after an IPv6 host address');
      host = hostport.slice(1, end);
      const after = hostport.slice(end + 1);
      if (after && !after.startsWith(':')) throw new ConnStringError(`unexpected "${after}" after the IPv6 host address`);
      port = after.slice(1);
    } else {
      const colon = hostport.lastIndexOf(':');
      host = colon >= 0 ? hostport.slice(0, colon) : hostport;
      port = colon >= 0 ? hostport.slice(colon + 1) : '';
    }
    if (host) out.host = decode(host, 'host');
    if (port) out.port = decode(port, 'port');
  }
  for (const pair of query.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    if (eq < 0) throw new ConnStringError(`missing "=" after "${decode(pair, 'query')}" in the URI's query`);
    let key = decode(pair.slice(0, eq).replace(/\+/g, ' '), 'query');
    let value = decode(pair.slice(eq + 1), 'query');
    // libpq takes JDBC's ssl=true as sslmode=require.
    if (key === 'ssl' && value === 'true') [key, value] = ['sslmode', 'require'];
    out[key] = value;
  }
  return out;
}

function parseKeywordValue(s: string): ConnParams {
  const out: ConnParams = {};
  let i = 0;
  const n = s.length;
  const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';
  while (i < n) {
    while (i < n && isSpace(s[i])) i++;
    if (i >= n) break;
    const start = i;
    while (i < n && s[i] !== '=' && !isSpace(s[i])) i++;
    const key = s.slice(start, i);
    while (i < n && isSpace(s[i])) i++;
    if (s[i] !== '=') throw new ConnStringError(`missing "=" after "${key}" in the connection string`);
    i++;
    while (i < n && isSpace(s[i])) i++;
    let value = '';
    if (s[i] === "'") {
      i++;
      for (;;) {
        if (i >= n) throw new ConnStringError(`unterminated quoted value of "${key}" in the connection string`);
        const c = s[i];
        if (c === '\\' && i + 1 < n) {
          value += s[i + 1];
          i += 2;
        } else if (c === "'") {
          i++;
          break;
        } else {
          value += c;
          i++;
        }
      }
    } else {
      while (i < n && !isSpace(s[i])) {
        if (s[i] === '\\' && i + 1 < n) {
          value += s[i + 1];
          i += 2;
        } else value += s[i++];
      }
    }
    out[key] = value;
  }
  return out;
}

/** The keywords rb acts on (docs/design.md "Connections"; README "Connecting"). */
export const SUPPORTED_KEYWORDS = [
  'host',
  'port',
  'dbname',
  'user',
  'password',
  'passfile',
  'sslmode',
  'sslrootcert',
  'sslcert',
  'sslkey',
  'application_name',
  'fallback_application_name',
  'connect_timeout',
  'keepalives',
  'keepalives_idle',
  'tcp_user_timeout',
  'options',
] as const;

/** Keywords accepted only with the value that means what rb does anyway. */
const ONLY_VALUES: Record<string, readonly string[]> = {
  gssencmode: ['disable', 'prefer'], // rb has no GSSAPI: prefer falls back to no GSS encryption, as libpq without a ticket
  channel_binding: ['prefer', 'disable'],
  target_session_attrs: ['any'],
  load_balance_hosts: ['disable'],
  sslsni: ['1'],
  sslcompression: ['0'],
  sslnegotiation: ['postgres'],
};

/** libpq keywords rb does not support, with what to do instead. */
const REFUSED: Record<string, string> = {
  hostaddr: 'give the address as host',
  keepalives_interval: 'Node.js sets no per-connection probe interval; keepalives_idle is supported',
  keepalives_count: 'Node.js sets no per-connection probe count; keepalives_idle is supported',
  krbsrvname: 'Kerberos/GSSAPI is not supported',
  gsslib: 'Kerberos/GSSAPI is not supported',
  gssdelegation: 'Kerberos/GSSAPI is not supported',
  sslpassword: 'decrypt the key file (openssl pkey -in key -out key.plain) and give that as sslkey',
  sslcrl: 'certificate revocation lists are not supported',
  sslcrldir: 'certificate revocation lists are not supported',
  sslcertmode: 'give sslcert/sslkey to send a client certificate, leave them out not to',
  ssl_min_protocol_version: 'rb uses Node.js defaults (TLS 1.2 or later)',
  ssl_max_protocol_version: 'rb uses Node.js defaults (TLS 1.2 or later)',
  sslkeylogfile: 'not supported',
  requirepeer: 'not supported',
  require_auth: 'not supported',
  service: 'connection service files (pg_service.conf) are not supported; write the keywords out',
  replication: 'rb opens replication connections itself for cdc streams',
  client_encoding: 'rb always uses UTF8',
  min_protocol_version: 'not supported',
  max_protocol_version: 'not supported',
  scram_client_key: 'not supported',
  scram_server_key: 'not supported',
  oauth_issuer: 'OAuth is not supported',
  oauth_client_id: 'OAuth is not supported',
  oauth_client_secret: 'OAuth is not supported',
  oauth_scope: 'OAuth is not supported',
};

/** The problems of a keyword map, one message each (empty: rb acts on every keyword given). */
export function checkConnParams(params: ConnParams): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(params)) {
    if ((SUPPORTED_KEYWORDS as readonly string[]).includes(key)) continue;
    const only = ONLY_VALUES[key];
    if (only) {
      if (!only.includes(value)) problems.push(`${key}=${value} is not supported by rb (${only.map((v) => `${key}=${v}`).join(' or ')}, or leave it out)`);
      continue;
    }
    if (key in REFUSED) problems.push(`${key} is not supported by rb (${REFUSED[key]})`);
    else problems.push(`invalid connection option "${key}"`);
  }
  if (params.host?.includes(',') || params.port?.includes(',')) problems.push('several hosts in one connection string are not supported by rb (give one host)');
  if (params.port !== undefined && !/^\d+$/.test(params.port)) problems.push(`invalid port number: "${params.port}"`);
  for (const key of ['connect_timeout', 'keepalives_idle', 'tcp_user_timeout'] as const) {
    if (params[key] !== undefined && !/^-?\d+$/.test(params[key])) problems.push(`invalid integer value "${params[key]}" for connection option "${key}"`);
  }
  if (params.keepalives !== undefined && !/^\d+$/.test(params.keepalives)) problems.push(`invalid integer value "${params.keepalives}" for connection option "keepalives"`);
  return problems;
}

/** The password a connection string carries (URI user info, `?password=`, or `password=`), for masking. */
export function connStringPassword(text: string): string | undefined {
  try {
    return parseConnString(text).password || undefined;
  } catch {
    return undefined;
  }
}
