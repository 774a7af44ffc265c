/**
 * Connections as libpq makes them (docs/design.md "Connections"), against a real TLS-enabled
 * PostgreSQL of this file's own: a throw-away CA, a server certificate for localhost and one for a
 * wrong name, a client certificate, all made with openssl here; pg_hba.conf with a user allowed
 * either way, one only over TLS (hostssl), one only without (hostnossl), one by certificate alone
 * (cert). The sslmode outcomes are the ones of PostgreSQL's own libpq_encryption test table.
 * Also: the password file, the PG* variables, a Unix socket, keyword/value strings, rb check.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path, { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterUrl, ensureCluster, resetCluster, type ClusterInfo } from '../../engine/embedded/cluster.js';
import { openReplicationConnection } from '../source-postgres/replication-stream.js';
import { connect, connectionSecurity, forgetNegotiations, resolveServerEndpoint, type PgEndpoint, type ServerConnectionSettings } from './connection.js';

const BIN = fileURLToPath(new URL('../../engine/cli/bin.js', import.meta.url));
const root = path.resolve('.rb', 'test-clusters', `tls-${process.pid}`);
const home = mkdtempSync(join(tmpdir(), 'rb-tls-home-'));
const certs = join(root, 'certs');
const PW = 'pw-Secret-9';
let info: ClusterInfo;
let admin: pg.Client;
let savedHome: string | undefined;
const warnings: string[] = [];

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: certs, stdio: 'pipe' });
}

/** A key and a certificate for `cn` (with subjectAltName `san`), signed by `ca` (or self-signed, a CA). */
function makeCert(name: string, cn: string, opts: { ca?: string; san?: string }): void {
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`];
  if (!opts.ca) {
    openssl('req', '-x509', ...key, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    return;
  }
  openssl('req', ...key, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  writeFileSync(join(certs, `${name}.ext`), opts.san ? `subjectAltName=${opts.san}\n` : 'basicConstraints=CA:FALSE\n');
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${opts.ca}.crt`, '-CAkey', `${opts.ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
}

async function reload(settings: Record<string, string>): Promise<void> {
  for (const [k, v] of Object.entries(settings)) await admin.query(`alter system set ${k} = '${v}'`);
  await admin.query('select pg_reload_conf()');
  // New backends fork from the postmaster once it has read the file: wait until one sees it.
  for (let i = 0; ; i++) {
    const c = new pg.Client({ connectionString: clusterUrl(info, 'postgres') });
    await c.connect();
    const r = await c.query('select current_setting($1) as v', [Object.keys(settings)[0]]);
    await c.end();
    if (r.rows[0].v === Object.values(settings)[0]) break;
    if (i > 100) throw new Error('the server did not reload');
    await new Promise((res) => setTimeout(res, 50));
  }
  forgetNegotiations();
}

beforeAll(async () => {
  savedHome = process.env.HOME;
  // A home of this file's own: no ~/.pgpass or ~/.postgresql of the machine's gets in.
  process.env.HOME = home;
  mkdirSync(path.dirname(root), { recursive: true });
  info = await ensureCluster(root);
  mkdirSync(certs, { recursive: true });
  makeCert('ca', 'rb test CA', {});
  makeCert('other-ca', 'another CA', {});
  makeCert('server', 'localhost', { ca: 'ca', san: 'DNS:localhost,IP:127.0.0.1' });
  makeCert('wrong', 'wrong.example', { ca: 'ca', san: 'DNS:wrong.example' });
  makeCert('client', 'certuser', { ca: 'ca' });
  // The server reads its files as the postgres OS user (cluster.ts runs it as that user under root).
  const owner = statSync(join(root, 'data')).uid;
  for (const f of ['server', 'wrong']) {
    chmodSync(join(certs, `${f}.key`), 0o600);
    chownSync(join(certs, `${f}.key`), owner, statSync(join(root, 'data')).gid);
  }
  chmodSync(join(certs, 'client.key'), 0o600);
  chmodSync(certs, 0o755);
  admin = new pg.Client({ connectionString: clusterUrl(info, 'postgres') });
  admin.on('error', () => {});
  await admin.connect();
  for (const u of ['app', 'ssluser', 'nossluser']) await admin.query(`create role ${u} login replication password '${PW}'`);
  await admin.query(`create role certuser login`);
  await admin.query(`create database app`);
  writeFileSync(
    join(root, 'data', 'pg_hba.conf'),
    [
      'local all all scram-sha-256',
      'host all postgres 127.0.0.1/32 scram-sha-256',
      'hostssl all certuser 127.0.0.1/32 cert',
      'hostssl all ssluser 127.0.0.1/32 scram-sha-256',
      'hostssl replication ssluser 127.0.0.1/32 scram-sha-256',
      'hostnossl all nossluser 127.0.0.1/32 scram-sha-256',
      'host all app 127.0.0.1/32 scram-sha-256',
      '',
    ].join('\n'),
  );
  await reload({ ssl: 'on', ssl_cert_file: join(certs, 'server.crt'), ssl_key_file: join(certs, 'server.key'), ssl_ca_file: join(certs, 'ca.crt') });
}, 120_000);

afterAll(async () => {
  await admin?.end().catch(() => {});
  await resetCluster(root).catch(() => {});
  rmSync(root, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
  process.env.HOME = savedHome;
});

const warn = (line: string) => warnings.push(line);

function endpoint(settings: ServerConnectionSettings, env: NodeJS.ProcessEnv = {}): PgEndpoint {
  return resolveServerEndpoint(settings, 'source', { env, warn });
}

const url = (user: string, query: string) => `postgresql://${user}:${PW}@localhost:${info.port}/app${query ? `?${query}` : ''}`;

/** 'tls' / 'plain' as pg_stat_ssl says of rb's backend, or the error. */
async function outcome(ep: PgEndpoint): Promise<string> {
  let client: pg.Client;
  try {
    client = await connect(ep, 'source', 'rb tls test');
  } catch (e) {
    return `fail: ${(e as Error).message}`;
  }
  try {
    const r = await client.query('select ssl from pg_stat_ssl where pid = pg_backend_pid()');
    return r.rows[0].ssl ? 'tls' : 'plain';
  } finally {
    await client.end();
  }
}

const MODES = ['disable', 'allow', 'prefer', 'require'] as const;

describe('sslmode against a TLS-enabled server', () => {
  // PostgreSQL's src/test/libpq_encryption table, "SSL enabled in server".
  const expected: Record<string, Record<(typeof MODES)[number], string>> = {
    app: { disable: 'plain', allow: 'plain', prefer: 'tls', require: 'tls' }, // TLS optional
    ssluser: { disable: 'fail', allow: 'tls', prefer: 'tls', require: 'tls' }, // TLS only (hostssl)
    nossluser: { disable: 'plain', allow: 'plain', prefer: 'plain', require: 'fail' }, // plaintext only (hostnossl)
  };
  for (const [user, modes] of Object.entries(expected)) {
    for (const mode of MODES) {
      it(`${user} (${user === 'app' ? 'TLS optional' : user === 'ssluser' ? 'TLS only' : 'plaintext only'}), sslmode=${mode}: ${modes[mode]}`, async () => {
        const got = await outcome(endpoint({ kind: 'url', url: url(user, `sslmode=${mode}`) }));
        expect(got.startsWith('fail') ? 'fail' : got, got).toBe(modes[mode]);
        if (got.startsWith('fail')) {
          expect(got).toMatch(/no pg_hba\.conf entry/);
          expect(got).not.toContain(PW);
        }
      });
    }
  }

  it('disable against a TLS-only user says the server takes it only over TLS', async () => {
    const got = await outcome(endpoint({ kind: 'url', url: url('ssluser', 'sslmode=disable') }));
    expect(got).toContain('no encryption');
    expect(got).toContain('(the server takes this connection only over TLS: set sslmode prefer or require)');
  });

  it('prefer is the default (no sslmode anywhere): TLS when offered', async () => {
    expect(await outcome(endpoint({ kind: 'url', url: url('app', '') }))).toBe('tls');
  });

  it('verify-full with the CA: TLS, chain and host name verified (pg_stat_ssl and rb check agree)', async () => {
    const ep = endpoint({ kind: 'url', url: url('app', `sslmode=verify-full&sslrootcert=${join(certs, 'ca.crt')}`) });
    const client = await connect(ep, 'source', 'rb tls test');
    const r = await client.query('select ssl, version from pg_stat_ssl where pid = pg_backend_pid()');
    const s = connectionSecurity(client, ep);
    await client.end();
    expect(r.rows[0].ssl).toBe(true);
    expect(s).toMatchObject({ tls: true, protocol: r.rows[0].version, verified: 'chain and host name', sslmode: 'verify-full' });
  });

  it('verify-full and verify-ca without a root certificate are refused before connecting, as libpq', () => {
    expect(() => endpoint({ kind: 'url', url: url('app', 'sslmode=verify-full') })).toThrow(
      /root certificate file ".*\.postgresql\/root\.crt" does not exist; either provide the file \(sslrootcert\), use the system's trusted roots with sslrootcert=system/,
    );
  });

  it('a wrong CA is refused in verify-ca, verify-full, and require with sslrootcert (which verifies the chain)', async () => {
    for (const mode of ['verify-ca', 'verify-full', 'require']) {
      const got = await outcome(endpoint({ kind: 'url', url: url('app', `sslmode=${mode}&sslrootcert=${join(certs, 'other-ca.crt')}`) }));
      expect(got).toMatch(/^fail: .*server certificate verify failed: .*checked against the root certificate in .*other-ca\.crt/);
    }
  });

  it('require without a root certificate takes any certificate (TLS, not verified)', async () => {
    const ep = endpoint({ kind: 'url', url: url('app', 'sslmode=require') });
    const client = await connect(ep, 'source', 'rb tls test');
    expect(connectionSecurity(client, ep)).toMatchObject({ tls: true, verified: 'none' });
    await client.end();
  });

  it('~/.postgresql/root.crt is the default root certificate, as libpq', async () => {
    mkdirSync(join(home, '.postgresql'), { recursive: true });
    writeFileSync(join(home, '.postgresql', 'root.crt'), readFileSync(join(certs, 'ca.crt')));
    try {
      const ep = endpoint({ kind: 'host', host: 'localhost', port: info.port, user: 'app', password: PW, database: 'app', sslmode: 'verify-full' });
      expect(ep.tls.caSource).toBe(join(home, '.postgresql', 'root.crt'));
      expect(await outcome(ep)).toBe('tls');
    } finally {
      rmSync(join(home, '.postgresql'), { recursive: true, force: true });
    }
  });

  it('the config keys sslmode/sslrootcert beside a url, and the url\'s own winning', async () => {
    const ep = endpoint({ kind: 'url', url: url('app', 'sslmode=verify-ca'), sslmode: 'disable', sslrootcert: join(certs, 'ca.crt') });
    expect(ep.tls).toMatchObject({ sslmode: 'verify-ca', verify: 'chain' });
    expect(await outcome(ep)).toBe('tls');
  });

  it('a client certificate logs in where password authentication is not allowed (cert)', async () => {
    const base = `host=localhost port=${info.port} dbname=app user=certuser sslmode=verify-full sslrootcert=${join(certs, 'ca.crt')}`;
    const ep = endpoint({ kind: 'url', url: `${base} sslcert=${join(certs, 'client.crt')} sslkey=${join(certs, 'client.key')}` });
    const client = await connect(ep, 'source', 'rb tls test');
    const r = await client.query('select current_user as u, s.ssl, s.client_dn from pg_stat_ssl s where pid = pg_backend_pid()');
    await client.end();
    expect(r.rows[0]).toEqual({ u: 'certuser', ssl: true, client_dn: '/CN=certuser' });
    // Without the certificate the server refuses it.
    expect(await outcome(endpoint({ kind: 'url', url: base }))).toMatch(/^fail: .*certificate/i);
  });

  it('a private key readable by group or others is refused with libpq\'s reason', () => {
    const key = join(certs, 'client.key');
    chmodSync(key, 0o644);
    try {
      expect(() => endpoint({ kind: 'url', url: `host=localhost user=certuser sslcert=${join(certs, 'client.crt')} sslkey=${key}` })).toThrow(
        `private key file "${key}" has group or world access; file must have permissions u=rw (0600) or less if owned by the current user, or permissions u=rw,g=r (0640) or less if owned by root`,
      );
    } finally {
      chmodSync(key, 0o600);
    }
  });

  it('sslrootcert=system makes verify-full the default and refuses weaker modes', () => {
    expect(endpoint({ kind: 'url', url: url('app', 'sslrootcert=system') }).tls).toMatchObject({ sslmode: 'verify-full', ca: 'system' });
    expect(() => endpoint({ kind: 'url', url: url('app', 'sslrootcert=system&sslmode=require') })).toThrow('weak sslmode "require" may not be used with sslrootcert=system (use "verify-full")');
  });

  it('the CDC replication connection works over TLS, with the TLS-only user (the walsender\'s pg_stat_ssl)', async () => {
    const ep = endpoint({ kind: 'url', url: url('ssluser', `sslmode=verify-full&sslrootcert=${join(certs, 'ca.crt')}`) });
    const conn = await openReplicationConnection(ep, 'rb tls walsender');
    try {
      const r = await admin.query(`select a.backend_type, s.ssl from pg_stat_activity a join pg_stat_ssl s using (pid) where a.application_name = 'rb tls walsender'`);
      expect(r.rows).toEqual([{ backend_type: 'walsender', ssl: true }]);
    } finally {
      await conn.close();
    }
  });
});

describe('verify-full against a certificate for another name', () => {
  beforeAll(async () => reload({ ssl_cert_file: join(certs, 'wrong.crt'), ssl_key_file: join(certs, 'wrong.key') }));
  afterAll(async () => reload({ ssl_cert_file: join(certs, 'server.crt'), ssl_key_file: join(certs, 'server.key') }));

  it('verify-full is refused and says why; verify-ca with the CA accepts it', async () => {
    const ca = join(certs, 'ca.crt');
    const full = await outcome(endpoint({ kind: 'url', url: url('app', `sslmode=verify-full&sslrootcert=${ca}`) }));
    expect(full).toContain('server certificate for DNS:wrong.example does not match host name "localhost" (sslmode verify-full checks the host name; verify-ca checks only the chain)');
    const ep = endpoint({ kind: 'url', url: url('app', `sslmode=verify-ca&sslrootcert=${ca}`) });
    const client = await connect(ep, 'source', 'rb tls test');
    expect(connectionSecurity(client, ep)).toMatchObject({ tls: true, verified: 'chain' });
    await client.end();
  });
});

describe('the password file, PG* variables, a Unix socket, keyword/value strings', () => {
  const pgpass = join(home, 'pgpass');

  it('takes the password from the password file (first matching line, wildcards, escapes)', async () => {
    writeFileSync(pgpass, ['# comment', `localhost:${info.port}:other:app:wrong`, `*:${info.port}:app:app:${PW}`, `*:*:*:*:not-this`, ''].join('\n'), { mode: 0o600 });
    const ep = endpoint({ kind: 'url', url: `host=localhost port=${info.port} dbname=app user=app sslmode=disable` }, { PGPASSFILE: pgpass });
    expect(await outcome(ep)).toBe('plain');
    // A password with ':' and '\' escaped in the file.
    await admin.query(`alter role nossluser password 'a:b\\c'`);
    writeFileSync(pgpass, `localhost:${info.port}:app:nossluser:a\\:b\\\\c\n`, { mode: 0o600 });
    expect(await outcome(endpoint({ kind: 'url', url: `postgresql://nossluser@localhost:${info.port}/app` }, { PGPASSFILE: pgpass }))).toBe('plain');
    await admin.query(`alter role nossluser password '${PW}'`);
  });

  it('ignores a password file with group or world access, with libpq\'s warning', async () => {
    writeFileSync(pgpass, `*:*:*:*:${PW}\n`);
    chmodSync(pgpass, 0o644);
    warnings.length = 0;
    const got = await outcome(endpoint({ kind: 'url', url: `postgresql://app@localhost:${info.port}/app` }, { PGPASSFILE: pgpass }));
    expect(got).toContain('the server asks for a password and none was supplied');
    expect(warnings).toEqual([`WARNING: password file "${pgpass}" has group or world access; permissions should be u=rw (0600) or less`]);
    chmodSync(pgpass, 0o600);
  });

  it('~/.pgpass is the default password file', async () => {
    writeFileSync(join(home, '.pgpass'), `localhost:${info.port}:app:app:${PW}\n`, { mode: 0o600 });
    try {
      expect(await outcome(endpoint({ kind: 'url', url: `postgresql://app@localhost:${info.port}/app?sslmode=require` }))).toBe('tls');
    } finally {
      rmSync(join(home, '.pgpass'));
    }
  });

  it('takes PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD, PGSSLMODE, PGSSLROOTCERT and PGAPPNAME as defaults', async () => {
    const env = { PGHOST: 'localhost', PGPORT: String(info.port), PGUSER: 'app', PGDATABASE: 'app', PGPASSWORD: PW, PGSSLMODE: 'verify-full', PGSSLROOTCERT: join(certs, 'ca.crt'), PGAPPNAME: 'from-pgappname' };
    const ep = endpoint({ kind: 'url', url: '' }, env);
    expect(ep).toMatchObject({ host: 'localhost', port: info.port, user: 'app', database: 'app', applicationName: 'from-pgappname', tls: { sslmode: 'verify-full' } });
    const client = await connect(ep, 'source', 'rb');
    const r = await client.query(`select current_user as u, current_database() as d, current_setting('application_name') as a, (select ssl from pg_stat_ssl where pid = pg_backend_pid()) as ssl`);
    await client.end();
    expect(r.rows[0]).toEqual({ u: 'app', d: 'app', a: 'from-pgappname', ssl: true });
    // What the connection block gives wins over the variables.
    expect(endpoint({ kind: 'host', host: '127.0.0.1', port: info.port, user: 'nossluser', database: 'postgres' }, env)).toMatchObject({ host: '127.0.0.1', user: 'nossluser', database: 'postgres' });
  });

  it('connects over the embedded cluster\'s Unix socket (host= a directory, in a URL and a keyword/value string), never with TLS', async () => {
    const dir = join(root, 'run');
    for (const u of [`postgresql://postgres:${encodeURIComponent(info.password)}@/postgres?host=${dir}&port=${info.port}&sslmode=require`, `postgresql://postgres:${encodeURIComponent(info.password)}@${encodeURIComponent(dir)}:${info.port}/postgres`, `host=${dir} port=${info.port} user=postgres password='${info.password}' dbname=postgres`]) {
      const ep = endpoint({ kind: 'url', url: u });
      expect(ep.host).toBe(dir);
      const client = await connect(ep, 'source', 'rb socket test');
      const r = await client.query(`select client_addr is null as local from pg_stat_activity where pid = pg_backend_pid()`);
      expect(r.rows[0].local).toBe(true);
      expect(connectionSecurity(client, ep)).toMatchObject({ tls: false, unixSocket: true });
      await client.end();
    }
  });

  it('says the socket is missing when no server listens there', async () => {
    expect(await outcome(endpoint({ kind: 'url', url: `host=${home} port=${info.port} user=u` }))).toContain(`no server socket ${home}/.s.PGSQL.${info.port}`);
  });

  it('applies connect_timeout (libpq: a server that never answers)', async () => {
    const net = await import('node:net');
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as { port: number }).port;
    const t0 = performance.now();
    const got = await outcome(endpoint({ kind: 'url', url: `host=127.0.0.1 port=${port} user=app connect_timeout=2 sslmode=disable` }));
    silent.close();
    expect(got).toContain('timeout expired after 2 s (connect_timeout)');
    expect(performance.now() - t0).toBeLessThan(6000);
  });
});

describe('against a plaintext-only server (ssl = off)', () => {
  beforeAll(async () => reload({ ssl: 'off' }));
  afterAll(async () => reload({ ssl: 'on' }));

  // PostgreSQL's src/test/libpq_encryption table, "SSL and GSS disabled in the server".
  const expected = { disable: 'plain', allow: 'plain', prefer: 'plain', require: 'fail' } as const;
  for (const mode of MODES) {
    it(`sslmode=${mode}: ${expected[mode]}`, async () => {
      const got = await outcome(endpoint({ kind: 'url', url: url('app', `sslmode=${mode}`) }));
      expect(got.startsWith('fail') ? 'fail' : got, got).toBe(expected[mode]);
      if (mode === 'require') expect(got).toContain('the server does not support TLS (SSL), but sslmode require requires it');
    });
  }

  it('verify-full is refused the same way, and rb check says "without TLS" for prefer', async () => {
    expect(await outcome(endpoint({ kind: 'url', url: url('app', `sslmode=verify-full&sslrootcert=${join(certs, 'ca.crt')}`) }))).toContain('but sslmode verify-full requires it');
    const ep = endpoint({ kind: 'url', url: url('app', 'sslmode=prefer') });
    forgetNegotiations();
    const client = await connect(ep, 'source', 'rb tls test');
    expect(connectionSecurity(client, ep)).toMatchObject({ tls: false, sslmode: 'prefer', fallback: 'the server does not offer TLS' });
    await client.end();
  });
});

describe('rb check reports each connection\'s TLS', () => {
  it('source over verified TLS, destination over the Unix socket; --json says in_use, protocol, verified; no password anywhere', async () => {
    await admin.query(`create table if not exists public.t (id int primary key)`);
    await admin.query(`grant select on public.t to app`);
    const dir = mkdtempSync(join(tmpdir(), 'rb-tls-check-'));
    const file = join(dir, 'p.yaml');
    writeFileSync(
      file,
      [
        'version: "1.0"',
        'pipeline: tls_check',
        'source:',
        '  use: postgres',
        `  config: { url: "host=localhost port=${info.port} dbname=postgres user=app password=${PW} sslmode=verify-full", sslrootcert: "${join(certs, 'ca.crt')}" }`,
        '  streams:',
        '    - name: public.t',
        'destination:',
        '  use: postgres',
        `  config: { host: "${join(root, 'run')}", port: ${info.port}, user: postgres, database: app, password: "${info.password}" }`,
        '',
      ].join('\n'),
    );
    const r = spawnSync(process.execPath, [BIN, 'check', file, '--json'], { encoding: 'utf8', env: { ...process.env, HOME: home } });
    rmSync(dir, { recursive: true, force: true });
    expect(r.stdout + r.stderr).not.toContain(PW);
    expect(r.stdout + r.stderr).not.toContain(info.password);
    const out = JSON.parse(r.stdout);
    const src = out.checks.find((c: { check: string }) => c.check === 'source connection');
    const dst = out.checks.find((c: { check: string }) => c.check === 'destination connection');
    expect(src).toMatchObject({ ok: true, tls: { in_use: true, verified: 'chain and host name', sslmode: 'verify-full' } });
    expect(src.tls.protocol).toMatch(/^TLSv1\.[23]$/);
    expect(src.detail).toMatch(/^connected TLS \(TLSv1\.[23], .+\), certificate verified: chain and host name \(sslmode verify-full\)$/);
    expect(dst).toMatchObject({ ok: true, tls: { in_use: false, verified: 'none', unix_socket: true }, detail: 'connected without TLS (a Unix socket)' });
  });

  it('rb run copies through worker threads over TLS: a TLS-only source user (hostssl) with verify-full, several shards', async () => {
    await admin.query(`create table if not exists public.big (id int primary key, v text)`);
    await admin.query(`insert into public.big select g, md5(g::text) from generate_series(1, 20000) g on conflict do nothing`);
    await admin.query(`grant select on public.big to ssluser`);
    const dir = mkdtempSync(join(tmpdir(), 'rb-tls-run-'));
    const file = join(dir, 'p.yaml');
    writeFileSync(
      file,
      [
        'version: "1.0"',
        'pipeline: tls_run',
        'source:',
        '  use: postgres',
        `  config: { url: "postgresql://ssluser:${PW}@localhost:${info.port}/postgres?sslmode=verify-full&sslrootcert=${join(certs, 'ca.crt')}" }`,
        '  streams:',
        '    - name: public.big',
        '      partition_key: id',
        'destination:',
        '  use: postgres',
        `  config: { url: "host=${join(root, 'run')} port=${info.port} user=postgres dbname=app password='${info.password}'", schema: copied }`,
        'resources:',
        '  parallelism: 2',
        '',
      ].join('\n'),
    );
    const r = spawnSync(process.execPath, [BIN, 'run', file, '--json'], { encoding: 'utf8', env: { ...process.env, HOME: home, RB_SHARD_MIN_BYTES: '0' } });
    rmSync(dir, { recursive: true, force: true });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(PW);
    const app = new pg.Client({ connectionString: clusterUrl(info, 'app') });
    await app.connect();
    const n = await app.query('select count(*)::int as n from copied.big');
    await app.end();
    expect(n.rows[0].n).toBe(20000);
    expect(JSON.parse(r.stdout).streams[0].shards).toBeGreaterThan(1);
  });
});
