import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, dropTestDatabases } from './pg.js';

afterAll(dropTestDatabases);

describe('test cluster', () => {
  it('gives each test its own database on PostgreSQL 18 with logical WAL', async () => {
    const a = await createTestDatabase();
    const b = await createTestDatabase();
    expect(a.name).not.toBe(b.name);
    const r = await a.query<{ v: string; wal: string }>(`select current_setting('server_version_num') as v, current_setting('wal_level') as wal`);
    expect(Number(r.rows[0].v)).toBeGreaterThanOrEqual(180000);
    expect(r.rows[0].wal).toBe('logical');
    await a.query('create table x (id int)');
    await expect(b.query('select * from x')).rejects.toThrow(/does not exist/);
  });
});
