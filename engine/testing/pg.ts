/**
 * Test helpers for the embedded test cluster (started once per run by global-setup.ts).
 * `createTestDatabase()` makes a fresh database for one test and returns its URL; it is dropped
 * by `dropTestDatabases()` (call in afterAll) or with the cluster at the end of the run.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

export interface TestDb {
  name: string;
  url: string;
  /** A connected client (closed by `dropTestDatabases`). */
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<T>>;
  client(): Promise<pg.Client>;
}

const created: Array<{ name: string; clients: pg.Client[] }> = [];

export function clusterInfo(): { host: string; port: number; user: string; password: string } {
  return inject('pgCluster');
}

export function urlFor(database: string): string {
  const c = clusterInfo();
  return `postgresql://${encodeURIComponent(c.user)}:${encodeURIComponent(c.password)}@${c.host}:${c.port}/${encodeURIComponent(database)}`;
}

async function adminQuery(sql: string): Promise<void> {
  const c = clusterInfo();
  const client = new pg.Client({ ...c, database: 'postgres' });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(prefix = 't'): Promise<TestDb> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  await adminQuery(`create database "${name}"`);
  const entry = { name, clients: [] as pg.Client[] };
  created.push(entry);
  const url = urlFor(name);
  let shared: pg.Client | undefined;
  const client = async (): Promise<pg.Client> => {
    const cl = new pg.Client({ connectionString: url });
    cl.on('error', () => {});
    await cl.connect();
    entry.clients.push(cl);
    return cl;
  };
  return {
    name,
    url,
    client,
    async query(sql, params) {
      shared ??= await client();
      return shared.query(sql, params as unknown[]);
    },
  };
}

export async function dropTestDatabases(): Promise<void> {
  while (created.length) {
    const e = created.pop()!;
    for (const cl of e.clients) await cl.end().catch(() => {});
    await adminQuery(`drop database if exists "${e.name}" with (force)`).catch(() => {});
  }
}
