/**
 * The replication protocol client against the embedded PostgreSQL (wal_level = logical): LSN text
 * form; a slot's exported snapshot and its stream hand over without loss or doubles; status
 * updates move the slot's confirmed_flush_lsn (and a restart resumes after it); keepalives are
 * parsed and answering them keeps the walsender alive past wal_sender_timeout (not answering gets
 * the connection dropped, a transient error); backpressure pauses the socket; errors before and
 * during streaming are RbErrors with their SQLSTATE. Every slot is dropped at the end.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codecs } from '../../native/index.js';
import { newPgoutputState } from '../../native/codec-api.js';
import { forEachInOrder, TupleKind, type PgoutputEvent, type TupleColumns } from '../../native/pgoutput-types.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../../engine/testing/pg.js';
import { RbError, isTransient } from '../contract/errors.js';
import { resolveServerEndpoint, type PgEndpoint } from '../postgres/connection.js';
import { formatLsn, parseLsn } from './lsn.js';
import {
  openReplicationConnection,
  type ReplicationConnection,
  type ReplicationConnectionOptions,
  type ReplicationStream,
  type XLogDataMessage,
} from './replication-stream.js';

let db: TestDb;
let ep: PgEndpoint;
let slotA: string;
const PUB = 'Pub Items'; // needs quoting in publication_names
const opened: ReplicationConnection[] = [];

async function open(opts?: ReplicationConnectionOptions): Promise<ReplicationConnection> {
  const c = await openReplicationConnection(ep, 'rb-replication-test', opts);
  opened.push(c);
  return c;
}

beforeAll(async () => {
  db = await createTestDatabase('repl');
  ep = resolveServerEndpoint({ kind: 'url', url: db.url }, 'source');
  slotA = `${db.name}_a`;
  await db.query(`create table items (id int primary key, name text, qty int);
    insert into items values (1, 'one', 10), (2, 'two', 20), (3, 'three', 30);
    create publication "${PUB}" for table items`);
});

afterAll(async () => {
  for (const c of opened) await c.close().catch(() => {});
  // A leftover slot retains WAL (and blocks dropping the database): drop them all, waiting for
  // walsenders that are still exiting to let go of theirs.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { rows } = await db.query<{ slot_name: string; active: boolean }>('select slot_name, active from pg_replication_slots where database = current_database()');
    for (const r of rows.filter((r) => !r.active)) await db.query('select pg_drop_replication_slot($1)', [r.slot_name]).catch(() => {});
    if (rows.length === 0) break;
    if (Date.now() > deadline) throw new Error(`replication slots left behind: ${rows.map((r) => r.slot_name).join(', ')}`);
    await sleep(100);
  }
  await dropTestDatabases();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** XLogData messages until `commits` Commit messages ('C') have arrived. */
async function collect(stream: ReplicationStream, commits: number, timeoutMs = 10_000): Promise<XLogDataMessage[]> {
  const out: XLogDataMessage[] = [];
  const deadline = Date.now() + timeoutMs;
  let seen = 0;
  while (seen < commits) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out with ${seen} of ${commits} commits (${out.length} messages)`);
    for (const m of await stream.read(Number.POSITIVE_INFINITY, left)) {
      if (m.kind !== 'xlogdata') continue;
      out.push(m);
      if (m.payload[0] === 0x43) seen++;
    }
  }
  return out;
}

type Row = { op: string; new: Array<string | null> | null; old: Array<string | null> | null };

/** Columns 0 and 2 of items are int4 (binary: 4 bytes big-endian). */
const intColumns = new Set([0, 2]);

function tuple(t: TupleColumns | null, r: number, binary: boolean): Array<string | null> | null {
  if (!t || t.columns.every((c) => c.kinds[r] === TupleKind.absent)) return null;
  return t.columns.map((c, i) => {
    const k = c.kinds[r];
    if (k === TupleKind.null) return null;
    if (k === TupleKind.unchangedToast) return '<unchanged>';
    const bytes = Buffer.from(c.data.subarray(c.offsets[r], c.offsets[r + 1]));
    return binary && intColumns.has(i) ? String(bytes.readInt32BE(0)) : bytes.toString('utf8');
  });
}

function decode(msgs: XLogDataMessage[], protoVersion: number, binary = false): { rows: Row[]; events: PgoutputEvent[] } {
  const buf = Buffer.concat(msgs.map((m) => m.payload));
  const offsets = new Int32Array(msgs.length + 1);
  for (let i = 0; i < msgs.length; i++) offsets[i + 1] = offsets[i] + msgs[i].payload.length;
  const lsns = BigInt64Array.from(msgs.map((m) => m.walStart));
  const batch = codecs.pgoutputDecode(buf, offsets, lsns, protoVersion, newPgoutputState());
  const rows: Row[] = [];
  const events: PgoutputEvent[] = [];
  forEachInOrder(
    batch,
    (e) => events.push(e),
    (set) => {
      for (let r = 0; r < set.rowCount; r++) {
        rows.push({ op: String.fromCharCode(set.ops[r]), new: tuple(set.newTuples, r, binary), old: set.oldKind[r] ? tuple(set.oldTuples, r, binary) : null });
      }
    },
  );
  return { rows, events };
}

async function slotRow(slot: string): Promise<{ confirmed_flush_lsn: string | null; active: boolean } | undefined> {
  const { rows } = await db.query<{ confirmed_flush_lsn: string | null; active: boolean }>('select confirmed_flush_lsn::text, active from pg_replication_slots where slot_name = $1', [slot]);
  return rows[0];
}

async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('lsn', () => {
  it('parses and formats the text form, round trip', () => {
    const cases: Array<[string, bigint]> = [
      ['0/0', 0n],
      ['16/B374D848', 0x16b374d848n],
      ['0/1', 1n],
      ['1/0', 1n << 32n],
      ['FFFFFFFF/FFFFFFFF', (1n << 64n) - 1n],
    ];
    for (const [text, value] of cases) {
      expect(parseLsn(text)).toBe(value);
      expect(formatLsn(value)).toBe(text);
    }
    expect(parseLsn('16/b374d848')).toBe(0x16b374d848n); // either case in, uppercase out
    expect(parseLsn('00000016/0B374D84')).toBe(0x160b374d84n);
    expect(formatLsn(0x160b374d84n)).toBe('16/B374D84');
  });

  it('rejects text that is not an LSN, naming it', () => {
    for (const bad of ['', '16', '16/', '/1', 'G/0', '1/2/3', '123456789/0', ' 1/0', '1/0x10', '-1/0']) {
      expect(() => parseLsn(bad)).toThrow(RbError);
      expect(() => parseLsn(bad)).toThrow(JSON.stringify(bad));
    }
    expect(() => formatLsn(-1n)).toThrow(/-1/);
    expect(() => formatLsn(1n << 64n)).toThrow(/18446744073709551616/);
  });
});

describe('replication stream', () => {
  let conn: ReplicationConnection;
  let consistentPoint: bigint;
  let lastCommitEnd: bigint;
  let activeStream: ReplicationStream;

  it('hands over from the exported snapshot to the stream: nothing lost, nothing doubled', async () => {
    conn = await open();
    expect(conn.server.versionNum).toBeGreaterThanOrEqual(180000);
    expect(conn.server.maxProtoVersion).toBe(4);
    const sys = await conn.identifySystem();
    expect(sys.dbName).toBe(db.name);

    const created = await conn.createSlot(slotA, { snapshot: 'export' });
    expect(created.slot).toBe(slotA);
    expect(created.plugin).toBe('pgoutput');
    expect(created.snapshot).toMatch(/^[0-9A-F]+-[0-9A-F]+-\d+$/);
    consistentPoint = created.consistentPoint;
    expect(consistentPoint).toBeGreaterThan(0n);
    // While the snapshot is held, no command may run (it would end the snapshot).
    expect(conn.snapshotHeld).toBe(created.snapshot);
    await expect(conn.identifySystem()).rejects.toThrow(/releaseSnapshot/);

    // Committed after the slot: in the stream, not in the snapshot.
    await db.query(`insert into items values (4, 'after slot', 40)`);

    const reader = await db.client();
    await reader.query('begin isolation level repeatable read');
    await reader.query(`set transaction snapshot '${created.snapshot}'`);
    const { rows } = await reader.query('select id, name, qty from items order by id');
    expect(rows).toEqual([
      { id: 1, name: 'one', qty: 10 },
      { id: 2, name: 'two', qty: 20 },
      { id: 3, name: 'three', qty: 30 },
    ]);
    await reader.query('commit');

    conn.releaseSnapshot();
    await conn.identifySystem(); // the next command: the snapshot is no longer importable
    const late = await db.client();
    await late.query('begin isolation level repeatable read');
    await expect(late.query(`set transaction snapshot '${created.snapshot}'`)).rejects.toMatchObject({ code: '42704', message: expect.stringMatching(/does not exist/) });
    await late.query('rollback');

    await db.query(`begin; insert into items values (5, 'five', 50); update items set qty = 11 where id = 1; commit`);
    await db.query(`begin; delete from items where id = 2; update items set name = 'three!' where id = 3; commit`);

    const stream = await conn.startReplication(slotA, consistentPoint, { publications: [PUB], protoVersion: 4, binary: false, streaming: true });
    expect(conn.streaming).toBe(true);
    const msgs = await collect(stream, 3);
    expect(msgs[0].walStart).toBeGreaterThanOrEqual(consistentPoint);
    const { rows: changes, events } = decode(msgs, 4);
    expect(changes).toEqual([
      { op: 'I', new: ['4', 'after slot', '40'], old: null },
      { op: 'I', new: ['5', 'five', '50'], old: null },
      { op: 'U', new: ['1', 'one', '11'], old: null },
      { op: 'D', new: null, old: ['2', null, null] },
      { op: 'U', new: ['3', 'three!', '30'], old: null },
    ]);
    const kinds = events.map((e) => e.kind).filter((k) => k !== 'relation');
    expect(kinds).toEqual(['begin', 'commit', 'begin', 'commit', 'begin', 'commit']);
    const relation = events.find((e) => e.kind === 'relation');
    expect(relation?.kind === 'relation' && relation.relation.name).toBe('items');
    const commits = events.filter((e): e is Extract<PgoutputEvent, { kind: 'commit' }> => e.kind === 'commit');
    lastCommitEnd = commits[2].endLsn;
    expect(commits[0].commitLsn).toBeGreaterThanOrEqual(consistentPoint);
    expect(stream.lastWalEnd).toBeGreaterThanOrEqual(commits[2].commitLsn);
    activeStream = stream;
  });

  it('standby status: the flushed position becomes the slot confirmed_flush_lsn, and a restart resumes after it', async () => {
    const stream = activeStream;
    expect((await slotRow(slotA))?.confirmed_flush_lsn).not.toBe(formatLsn(lastCommitEnd));
    // Three distinct positions, so a mixed-up field shows.
    const written = lastCommitEnd + 0x100n;
    const applied = lastCommitEnd - 0x10n;
    expect(stream.sendStatus({ written, flushed: lastCommitEnd, applied, replyRequested: true })).toBe(true);
    // replyRequested: the server answers at once with a keepalive.
    const answer = await stream.read(Number.POSITIVE_INFINITY, 3000);
    expect(answer.some((m) => m.kind === 'keepalive')).toBe(true);
    await waitFor('confirmed_flush_lsn', async () => (await slotRow(slotA))?.confirmed_flush_lsn === formatLsn(lastCommitEnd));
    const { rows: stat } = await db.query<{ write_lsn: string; flush_lsn: string; replay_lsn: string }>(
      `select write_lsn::text, flush_lsn::text, replay_lsn::text from pg_stat_replication where pid = (select active_pid from pg_replication_slots where slot_name = $1)`,
      [slotA],
    );
    expect(stat).toEqual([{ write_lsn: formatLsn(written), flush_lsn: formatLsn(lastCommitEnd), replay_lsn: formatLsn(applied) }]);

    await stream.stop();
    expect(conn.streaming).toBe(false);
    expect(stream.ended).toBe(true);
    await waitFor('slot to become inactive', async () => (await slotRow(slotA))?.active === false);
    await conn.identifySystem(); // back in command mode
    // ... but a logical walsender streams once per connection.
    await expect(conn.startReplication(slotA, 0n, { publications: [PUB] })).rejects.toThrow(/new connection/);
    await conn.close();

    // From 0/0 the server starts at confirmed_flush_lsn: the confirmed transactions are not resent.
    await db.query(`insert into items values (6, 'six', 60)`);
    const conn2 = await open();
    const again = await conn2.startReplication(slotA, 0n, { publications: [PUB] });
    const { rows } = decode(await collect(again, 1), again.protoVersion);
    expect(again.protoVersion).toBe(4);
    expect(rows).toEqual([{ op: 'I', new: ['6', 'six', '60'], old: null }]);
    await conn2.close(); // stops the stream first
    expect(again.ended).toBe(true);
    await waitFor('slot to become inactive', async () => (await slotRow(slotA))?.active === false);
  });

  it('keepalives: answered, the connection outlives wal_sender_timeout; unanswered, it is dropped (transient)', async () => {
    const c = await open({ settings: { wal_sender_timeout: '1s' } });
    expect(c.server.walSenderTimeoutMs).toBe(1000);
    const slotK = `${db.name}_k`;
    const created = await c.createSlot(slotK, { snapshot: 'nothing', temporary: true });
    expect(created.snapshot).toBeNull();
    expect(c.snapshotHeld).toBeNull();

    const s1 = await c.startReplication(slotK, created.consistentPoint, { publications: [PUB], autoReply: false, statusIntervalMs: 0 });
    let requested = 0;
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      for (const m of await s1.read(Number.POSITIVE_INFINITY, until - Date.now())) {
        if (m.kind !== 'keepalive') continue;
        expect(m.walEnd).toBeGreaterThan(0n);
        expect(m.sendTime).toBeGreaterThan(0n);
        if (m.replyRequested) {
          requested++;
          s1.sendStatus({ flushed: m.walEnd }); // nothing pending: the server's WAL end may be confirmed
        }
      }
    }
    expect(requested).toBeGreaterThanOrEqual(2);
    expect(s1.ended).toBe(false);
    await s1.stop();
    await c.identifySystem();
    await c.close();
    await waitFor('temporary slot to go', async () => (await slotRow(slotK)) === undefined);

    // Not answering: the walsender drops the connection after wal_sender_timeout.
    const c2 = await open({ settings: { wal_sender_timeout: '1s' } });
    const slotK2 = `${db.name}_k2`;
    const created2 = await c2.createSlot(slotK2, { snapshot: 'nothing', temporary: true });
    const s2 = await c2.startReplication(slotK2, created2.consistentPoint, { publications: [PUB], autoReply: false, statusIntervalMs: 0 });
    const t0 = Date.now();
    let requested2 = 0;
    let err: unknown;
    try {
      while (Date.now() - t0 < 5000) for (const m of await s2.read(Number.POSITIVE_INFINITY, 500)) if (m.kind === 'keepalive' && m.replyRequested) requested2++;
    } catch (e) {
      err = e;
    }
    expect(requested2).toBeGreaterThanOrEqual(1);
    expect(err).toBeInstanceOf(RbError);
    expect((err as RbError).code).toBe('source_query');
    expect((err as RbError).message).toMatch(/Connection terminated/);
    expect(isTransient(err as RbError)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    await c2.close();
    await waitFor('temporary slot to go', async () => (await slotRow(slotK2)) === undefined);
  });

  it('backpressure: a slow consumer pauses the socket; status updates keep it alive meanwhile', async () => {
    const c = await open({ settings: { wal_sender_timeout: '1s' } });
    const slotB = `${db.name}_b`;
    const created = await c.createSlot(slotB, { snapshot: 'nothing', temporary: true });
    const stream = await c.startReplication(slotB, created.consistentPoint, { publications: [PUB], protoVersion: 2, binary: true, highWaterBytes: 64 * 1024 });
    const n = 20_000;
    await db.query(`insert into items select g, 'bulk', g from generate_series(1000, ${999 + n}) g`);
    await waitFor('the socket to pause', async () => stream.paused);
    await sleep(1500); // longer than wal_sender_timeout, reading nothing
    expect(stream.paused).toBe(true);
    expect(stream.bufferedBytes).toBeLessThan(64 * 1024 + 256 * 1024);
    expect(stream.messagesReceived).toBeLessThan(n / 4);
    const { rows } = decode(await collect(stream, 1, 20_000), 2, true);
    expect(rows.length).toBe(n);
    expect(rows.every((r) => r.op === 'I')).toBe(true);
    expect(rows[0].new).toEqual(['1000', 'bulk', '1000']);
    expect(rows[n - 1].new?.[0]).toBe(String(999 + n));
    // Still streaming: the walsender did not time out while the socket was paused.
    await db.query(`insert into items values (-1, 'after the pause', -1)`);
    const more = decode(await collect(stream, 1), 2, true).rows;
    expect(more).toEqual([{ op: 'I', new: ['-1', 'after the pause', '-1'], old: null }]);
    await stream.stop();
    await c.close();
  });

  it('errors: a missing slot rejects with SQLSTATE 42704; an ErrorResponse while streaming ends the iterator', async () => {
    const conn = await open();
    const err = await conn.startReplication(`${db.name}_nope`, 0n, { publications: [PUB] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RbError);
    expect(err).toMatchObject({ code: 'source_query', pg: { sqlstate: '42704' } });
    expect((err as RbError).message).toMatch(/does not exist/);
    expect(isTransient(err as RbError)).toBe(false);
    expect(conn.streaming).toBe(false);
    await conn.identifySystem(); // still usable

    const stream = await conn.startReplication(slotA, 0n, { publications: [PUB] });
    const admin: pg.Client = await db.client();
    await waitFor('slot to be active', async () => (await slotRow(slotA))?.active === true);
    await admin.query('select pg_terminate_backend(active_pid) from pg_replication_slots where slot_name = $1', [slotA]);
    const thrown = await (async () => {
      for await (const _ of stream) {
        // keepalives
      }
    })().catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(RbError);
    expect(thrown).toMatchObject({ code: 'source_query', pg: { sqlstate: '57P01' } });
    expect(isTransient(thrown as RbError)).toBe(true);
    await conn.close();
  });
});
