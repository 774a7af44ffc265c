import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, dropTestDatabases } from '../engine/testing/pg.js';
import { postmasterPid, serverCpuSeconds } from './server-cpu.js';

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
