/**
 * Connections for verification: a URL (we open and close the client) or a caller's idle client
 * (we borrow it), and read-only snapshot transactions whose text output does not depend on the
 * server's or the role's settings.
 */
import pg from 'pg';
import { quoteIdent } from '../../connectors/postgres/identifiers.js';
import { BEGIN_SNAPSHOT_SQL, COMMIT_SQL, ROLLBACK_SQL, SET_STABLE_TEXT_SQL } from './sql.js';

/** A connection URL, or a connected client that is not inside a transaction. */
export type PgTarget = string | pg.ClientBase;

/** Runs `fn` with a client for `target`; a client opened here is closed afterwards. */
export async function withClient<T>(target: PgTarget, fn: (client: pg.ClientBase) => Promise<T>): Promise<T> {
  if (typeof target !== 'string') return await fn(target);
  const client = new pg.Client({ connectionString: target, application_name: 'rb-verify' });
  // A server-side disconnect surfaces through the failing query; without a listener it would crash.
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Runs `fn` in a REPEATABLE READ, READ ONLY transaction with stable text settings and
 * `search_path = <schema>, pg_catalog` (the table's schema first, so output that names relations,
 * such as regclass values, is relative to it on both sides). `fn` may change settings further;
 * everything ends with the transaction.
 */
export async function inStableSnapshot<T>(client: pg.ClientBase, schema: string, fn: () => Promise<T>): Promise<T> {
  await client.query(BEGIN_SNAPSHOT_SQL);
  try {
    await client.query(SET_STABLE_TEXT_SQL, [`${quoteIdent(schema)}, pg_catalog`]);
    const result = await fn();
    await client.query(COMMIT_SQL);
    return result;
  } catch (e) {
    await client.query(ROLLBACK_SQL).catch(() => {});
    throw e;
  }
}
