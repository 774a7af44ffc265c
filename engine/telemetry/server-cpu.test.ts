import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, dropTestDatabases } from '../testing/pg.js';
import { backendIdentity } from '../../connectors/postgres/backend.js';
import { localPostmaster, postmasterPid, serverCpuSeconds, startServerCpu } from './server-cpu.js';

afterAll(async () => {
  await dropTestDatabases();
});

describe('server CPU', () => {
  it("counts what a backend burns, after it has exited too (the postmaster's reaped children)", async () => {
    const db = await createTestDatabase('servercpu');
    const admin = await db.client();
    // The test cluster runs on this machine: its data directory names its postmaster.
    const dataDir = (await admin.query('show data_directory')).rows[0].data_directory as string;
    const pid = postmasterPid(dataDir);
    expect(pid).toBeGreaterThan(0);
    const before = serverCpuSeconds(pid!)!;
    const busy = await db.client();
    await busy.query('select count(*) from generate_series(1, 4000000) g where g % 7 = 3');
    const live = serverCpuSeconds(pid!)!;
    expect(live - before).toBeGreaterThan(0.1); // the busy backend, still running
    await busy.end();
    // The backend exits and is reaped: its time moves into the postmaster's cutime + cstime.
    await new Promise((r) => setTimeout(r, 500));
    const after = serverCpuSeconds(pid!)!;
    expect(after - before).toBeGreaterThan(0.1);
    expect(after).toBeGreaterThanOrEqual(live - 0.02);
  });

  it('is undefined without a running server', () => {
    expect(postmasterPid(path.join('/nonexistent', 'data'))).toBeUndefined();
    expect(serverCpuSeconds(2 ** 22 + 12345)).toBeUndefined();
  });
});

describe('the server behind a connection (localPostmaster)', () => {
  it("finds the postmaster of the test cluster from a connection's backend", async () => {
    const db = await createTestDatabase('servercpu');
    const client = await db.client();
    const dataDir = (await client.query('show data_directory')).rows[0].data_directory as string;
    const me = await backendIdentity(client);
    expect(me.backendPid).toBeGreaterThan(0);
    expect(me.database).toBe(db.name);
    expect(me.unixSocket).toBe(false);
    // A direct TCP connection: the server sees rb's own port.
    expect(me.clientPort).toBeGreaterThan(0);
    expect(localPostmaster(me)).toEqual({ pid: postmasterPid(dataDir) });
  });

  it('gives a reason, not a pid, for a server it cannot see', async () => {
    const db = await createTestDatabase('servercpu');
    const me = await backendIdentity(await db.client());
    // Another client port than the backend's title names: not rb's connection (a proxy, another machine).
    expect(localPostmaster({ ...me, clientPort: me.clientPort! + 1 })).toEqual({ why: expect.stringMatching(/is not the backend of rb's connection/) });
    // The server saw the connection come from elsewhere.
    expect(localPostmaster({ ...me, clientPort: null })).toEqual({ why: expect.stringMatching(/not on this machine/) });
    // A pid this machine does not have.
    expect(localPostmaster({ ...me, backendPid: 2 ** 22 + 12345 })).toEqual({ why: expect.stringMatching(/no process \d+ in \/proc/) });
    // This process is no PostgreSQL backend.
    expect(localPostmaster({ ...me, backendPid: process.pid })).toEqual({ why: expect.stringMatching(/is not the backend/) });
  });

  it('startServerCpu: one server for both sides is counted once; an unseen side is null with its reason', async () => {
    const db = await createTestDatabase('servercpu');
    const a = await backendIdentity(await db.client());
    const busy = await db.client();
    const meter = startServerCpu({ source: a, destination: { ...a, clientPort: null } });
    await busy.query('select count(*) from generate_series(1, 3000000) g where g % 7 = 3');
    const r = meter.finish();
    expect(r.source_s).toBeGreaterThan(0.05);
    expect(r.destination_s).toBeNull();
    expect(r.unknown).toEqual({ destination: expect.stringMatching(/not on this machine/) });
    expect(r.same_server).toBe(false);
    expect(r.total_s).toBe(r.source_s);
    const both = startServerCpu({ source: a, destination: a });
    await busy.query('select count(*) from generate_series(1, 3000000) g where g % 7 = 3');
    const s = both.finish();
    expect(s.same_server).toBe(true);
    expect(s.source_s).toBeGreaterThan(0.05);
    expect(s.total_s).toBe(s.source_s);
    expect(s.unknown).toEqual({});
  });
});
