/**
 * Captures real pgoutput messages from the embedded PostgreSQL into
 * `native/testing/fixtures/pgoutput-v<N>-<text|binary>.json`, so the parsers are tested against
 * what a server really sends (not only against our own builder). It lives in the engine because
 * it runs the embedded cluster (engine/embedded), which native/ (the bottom floor) cannot import.
 *
 *   npx tsx engine/testing/capture-pgoutput.ts
 *
 * The workload covers: a user type (Type message), inserts, an update that leaves a TOASTed value
 * unchanged ('u'), REPLICA IDENTITY FULL updates/deletes (old tuple 'O'), a key update and a
 * delete with the default identity ('K'), truncate, transactional and non-transactional logical
 * messages, a transaction replayed from a replication origin (Origin), a large transaction that
 * streams (logical_decoding_work_mem = 64kB; its bulk goes to an unpublished table so the fixture
 * stays small), a streamed subtransaction rollback and a streamed top-level abort (Stream Abort),
 * and two-phase transactions (commit prepared, rollback prepared, a streamed prepare).
 * Each protocol version reads the same WAL with `pg_logical_slot_peek_binary_changes`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { FIXTURES_DIR, type PgoutputCapture } from '../../native/testing/pgoutput-fixture.js';
import { ensureCluster, ensureDatabase, stopCluster, type ClusterInfo } from '../embedded/cluster.js';

const ROOT = path.join('.rb', 'capture-pg');
const DATABASE = 'rb_capture';
const PUBLICATION = 'rb_pub';
const SLOT = 'rb_cap';
const SLOT_2PC = 'rb_cap_2pc';
const ORIGIN = 'rb_upstream';

async function connect(info: ClusterInfo, database: string): Promise<pg.Client> {
  const client = new pg.Client({ host: info.host, port: info.port, user: info.user, password: info.password, database });
  await client.connect();
  return client;
}

/** Two-phase decoding needs prepared transactions, which need a server restart to enable. */
async function clusterWithPreparedTransactions(): Promise<ClusterInfo> {
  let info = await ensureCluster(ROOT, { log: (l) => console.error(l) });
  const admin = await connect(info, 'postgres');
  const { rows } = await admin.query<{ max_prepared_transactions: string }>('show max_prepared_transactions');
  if (Number(rows[0].max_prepared_transactions) === 0) {
    await admin.query('alter system set max_prepared_transactions = 10');
    await admin.end();
    await stopCluster(ROOT);
    info = await ensureCluster(ROOT);
  } else {
    await admin.end();
  }
  return info;
}

async function resetDatabase(info: ClusterInfo): Promise<void> {
  const admin = await connect(info, 'postgres');
  try {
    await admin.query('select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = $1', [DATABASE]);
    await admin.query(`drop database if exists ${DATABASE} with (force)`);
    await admin.query('select pg_replication_origin_drop($1) from pg_replication_origin where roname = $1', [ORIGIN]);
  } finally {
    await admin.end();
  }
  await ensureDatabase(info, DATABASE);
}

const SETUP = `
  create type mood as enum ('ok', 'meh');
  create table items (id int primary key, name text, qty int, price numeric(10,2), doc text, mood mood, at timestamptz);
  alter table items alter column doc set storage external;  -- out-of-line TOAST without compression
  create table audit (id bigserial primary key, item int, note text);
  alter table audit replica identity full;
  create table noise (id int, pad text);                    -- not published: bulk for streaming
  create publication ${PUBLICATION} for table items, audit;
`;

async function workload(c: pg.Client): Promise<void> {
  const tx = async (sql: string): Promise<void> => {
    await c.query(`begin; ${sql}; commit;`);
  };
  await tx(`insert into items values
      (1, 'apple', 3, 1.50, repeat('toast-', 400), 'ok', '2024-01-02 03:04:05+00'),
      (2, 'pear', 5, 0.99, 'short', 'meh', 'infinity'),
      (3, 'plum', null, null, null, null, null)`);
  await tx(`update items set qty = qty + 1 where id = 1`); // doc stays TOASTed and unchanged: 'u'
  await tx(`insert into audit (item, note) values (1, 'created'), (2, 'created')`);
  await tx(`update audit set note = 'checked' where item = 1`); // REPLICA IDENTITY FULL: old 'O'
  await tx(`delete from audit where item = 2`);
  await tx(`delete from items where id = 3`); // default identity: old key 'K'
  await tx(`update items set id = 20 where id = 2`); // key change: old key 'K'
  await c.query(`select pg_logical_emit_message(true, 'rb', 'hello')`);
  await c.query(`select pg_logical_emit_message(false, 'rb', 'outside a transaction')`);

  await c.query(`select pg_replication_origin_create('${ORIGIN}')`);
  await c.query(`select pg_replication_origin_session_setup('${ORIGIN}')`);
  await c.query(`begin`);
  await c.query(`select pg_replication_origin_xact_setup('0/ABCDEF0', '2024-05-06 07:08:09+00')`);
  await c.query(`insert into items values (4, 'from upstream', 1, 2.00, null, 'ok', now())`);
  await c.query(`commit`);
  await c.query(`select pg_replication_origin_session_reset()`);

  await tx(`truncate audit restart identity`);

  // Large enough to exceed logical_decoding_work_mem = 64kB: streamed with streaming on.
  await tx(`insert into items select g, 'bulk ' || g, g, g, null, 'ok', null from generate_series(100, 104) g;
            insert into noise select g, repeat('n', 40) from generate_series(1, 3000) g;
            insert into items select g, 'bulk ' || g, g, g, null, 'meh', null from generate_series(105, 109) g;
            update items set qty = -qty where id between 100 and 102`);
  // A streamed subtransaction rollback, then a streamed top-level abort.
  await c.query(`begin;
      insert into items values (200, 'kept', 1, 1, null, 'ok', null);
      savepoint s1;
      insert into noise select g, repeat('s', 40) from generate_series(1, 3000) g;
      insert into items values (201, 'rolled back', 1, 1, null, 'ok', null);
      rollback to savepoint s1;
      insert into items values (202, 'kept too', 1, 1, null, 'ok', null);
      commit`);
  await c.query(`begin;
      insert into items values (300, 'aborted', 1, 1, null, 'ok', null);
      insert into noise select g, repeat('a', 40) from generate_series(1, 3000) g;
      rollback`);

  // Two-phase commit: decoded as prepare + commit/rollback prepared by a two_phase slot.
  await c.query(`begin; insert into items values (400, 'prepared', 1, 1, null, 'ok', null); prepare transaction 'rb_gid_1'`);
  await c.query(`commit prepared 'rb_gid_1'`);
  await c.query(`begin; insert into items values (401, 'prepared then rolled back', 1, 1, null, 'ok', null); prepare transaction 'rb_gid_2'`);
  await c.query(`rollback prepared 'rb_gid_2'`);
  await c.query(`begin;
      insert into items values (402, 'streamed prepare', 1, 1, null, 'ok', null);
      insert into noise select g, repeat('p', 40) from generate_series(1, 3000) g;
      prepare transaction 'rb_gid_3'`);
  await c.query(`commit prepared 'rb_gid_3'`);
}

interface Mode {
  protoVersion: number;
  binary: boolean;
}

async function capture(c: pg.Client, mode: Mode, serverVersion: string): Promise<PgoutputCapture> {
  const streaming = mode.protoVersion >= 4 ? 'parallel' : mode.protoVersion >= 2 ? 'on' : 'off';
  const twoPhase = mode.protoVersion >= 3;
  const options: string[] = [
    'proto_version', String(mode.protoVersion),
    'publication_names', PUBLICATION,
    'binary', String(mode.binary),
    'messages', 'true',
  ];
  if (streaming !== 'off') options.push('streaming', streaming);
  if (twoPhase) options.push('two_phase', 'on');
  const params = options.map((_, i) => `$${i + 2}`).join(', ');
  await c.query(`set logical_decoding_work_mem = '64kB'`);
  const { rows } = await c.query<{ lsn: string; data: Buffer }>(
    `select lsn::text as lsn, data from pg_logical_slot_peek_binary_changes($1, NULL, NULL, ${params})`,
    [twoPhase ? SLOT_2PC : SLOT, ...options],
  );
  return {
    description: `pgoutput proto_version ${mode.protoVersion}, binary ${mode.binary}, streaming ${streaming}, two_phase ${twoPhase}; workload in capture-pgoutput.ts`,
    serverVersion,
    protoVersion: mode.protoVersion,
    binary: mode.binary,
    streaming,
    twoPhase,
    messages: rows.map((r) => [r.lsn, r.data.toString('base64')]),
  };
}

async function main(): Promise<void> {
  const info = await clusterWithPreparedTransactions();
  await resetDatabase(info);
  const c = await connect(info, DATABASE);
  try {
    const serverVersion = (await c.query<{ server_version: string }>('show server_version')).rows[0].server_version;
    await c.query(SETUP);
    await c.query(`select pg_create_logical_replication_slot('${SLOT}', 'pgoutput')`);
    await c.query(`select pg_create_logical_replication_slot('${SLOT_2PC}', 'pgoutput', false, true)`);
    await workload(c);
    mkdirSync(FIXTURES_DIR, { recursive: true });
    let total = 0;
    for (const protoVersion of [1, 2, 3, 4]) {
      for (const binary of [false, true]) {
        const cap = await capture(c, { protoVersion, binary }, serverVersion);
        const file = path.join(FIXTURES_DIR, `pgoutput-v${protoVersion}-${binary ? 'binary' : 'text'}.json`);
        const text = `${JSON.stringify({ ...cap, messages: [] }, null, 2).replace('"messages": []', `"messages": [\n${cap.messages.map((m) => `    ${JSON.stringify(m)}`).join(',\n')}\n  ]`)}\n`;
        writeFileSync(file, text);
        total += text.length;
        console.error(`wrote ${file}: ${cap.messages.length} messages, ${text.length} bytes`);
      }
    }
    console.error(`total ${total} bytes`);
  } finally {
    await c.query(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = current_database()`).catch(() => {});
    await c.end();
    await stopCluster(ROOT); // a capture is a one-off: leave no server running
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
