/** A queued shard's payload and a worker's connections (docs/design.md section 14): pure units. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { plainEndpoint } from '../../connectors/postgres/connection.js';
import type { ShardTask } from '../runtime/shard-task.js';
import { ConnectionResolver, connectionVariable } from './connections.js';
import { jobId, QUEUE_PROTOCOL, RB_VERSION, toPayload, versionMismatch } from './job-payload.js';

const SECRET = 's3cr3t-pw';

function task(): ShardTask {
  const ep = (database: string) => plainEndpoint({ host: 'db.example', port: 5432, user: 'rb', password: SECRET, database, label: `rb@db.example:5432/${database}`, embedded: false });
  return {
    runId: '00000000-0000-4000-8000-000000000001',
    stream: 'public.orders',
    streamIndex: 0,
    shardIndex: 3,
    shardCount: 8,
    source: ep('shop'),
    dest: ep('dw'),
    snapshot: '00000003-00000002-1',
    read: { table: { schema: 'public', table: 'orders' }, columns: [], format: 'binary', predicates: ['id >= 1 and id < 100'] },
    contract: {} as ShardTask['contract'],
    chunkBytes: 1 << 20,
    maxInflightChunks: 4,
    delayPerChunkMs: 0,
    badRows: { policy: 'fail', schema: '_rb', pipeline: 'orders-copy', runId: 'r', rowKey: ['id'] },
    ledger: { schema: '_rb', pipeline: 'orders-copy', planId: 'p', runId: 'r', stream: 'public.orders', shard: '3' },
  };
}

describe('job payload', () => {
  it('carries the task without endpoints: no password, connections named by pipeline and role', () => {
    const p = toPayload(task(), { coordinator: 'c:1', retry: { maxRetries: 3, baseDelayMs: 500 } });
    expect(JSON.stringify(p)).not.toContain(SECRET);
    expect(p.task).not.toHaveProperty('source');
    expect(p.task).not.toHaveProperty('dest');
    expect(p.source).toEqual({ pipeline: 'orders-copy', role: 'source', label: 'rb@db.example:5432/shop' });
    expect(p.dest).toEqual({ pipeline: 'orders-copy', role: 'destination', label: 'rb@db.example:5432/dw' });
    expect(p.task.read.predicates).toEqual(['id >= 1 and id < 100']);
  });

  it('one job id per run, stream and shard, shaped as a UUID', () => {
    const id = jobId(task());
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(jobId(task())).toBe(id);
    expect(jobId({ ...task(), shardIndex: 4 })).not.toBe(id);
  });

  it('a coordinator of another rb version or protocol is refused, naming both', () => {
    expect(versionMismatch({ protocol: QUEUE_PROTOCOL, rbVersion: RB_VERSION, coordinator: 'c:1' })).toBeNull();
    expect(versionMismatch({ protocol: QUEUE_PROTOCOL, rbVersion: '0.0.1', coordinator: 'c:1' })).toBe(
      `the coordinator c:1 runs rb 0.0.1 (queue protocol ${QUEUE_PROTOCOL}), this worker rb ${RB_VERSION} (protocol ${QUEUE_PROTOCOL}): run the same rb version on the coordinator and every worker`,
    );
    expect(versionMismatch({ protocol: QUEUE_PROTOCOL + 1, rbVersion: RB_VERSION, coordinator: 'c:1' })).toMatch(/queue protocol 2/);
  });
});

describe("a worker's connections", () => {
  const ref = { pipeline: 'orders-copy', role: 'source' as const, label: 'rb@db.example:5432/shop' };

  it('RB_CONNECTION_<PIPELINE>_<ROLE>: upper-cased, other characters as _', () => {
    expect(connectionVariable(ref)).toBe('RB_CONNECTION_ORDERS_COPY_SOURCE');
    expect(connectionVariable({ pipeline: 'a.b 1', role: 'destination' })).toBe('RB_CONNECTION_A_B_1_DESTINATION');
  });

  it('the variable first, resolved as a url block (PGPASSWORD fills the password)', async () => {
    const r = new ConnectionResolver([], { RB_CONNECTION_ORDERS_COPY_SOURCE: 'postgresql://rb@src.internal:6543/shop', PGPASSWORD: 'from-env' });
    const ep = await r.resolve(ref);
    expect({ host: ep.host, port: ep.port, user: ep.user, database: ep.database, password: ep.password }).toEqual({ host: 'src.internal', port: 6543, user: 'rb', database: 'shop', password: 'from-env' });
  });

  it("then a --pipeline file of the job's pipeline, ${VAR} from the worker's environment", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-conn-'));
    const file = join(dir, 'p.yaml');
    writeFileSync(
      file,
      `version: "1.0"\npipeline: orders-copy\nsource:\n  use: postgres\n  config: { url: "postgresql://rb:\${SRC_PW}@src.local/shop" }\n  streams:\n    - name: orders\ndestination:\n  use: postgres\n  config: { url: "postgresql://rb@dst.local/dw" }\n  write_mode: append\n`,
    );
    const r = new ConnectionResolver([file], { SRC_PW: 'pw1' });
    const src = await r.resolve(ref);
    expect([src.host, src.password]).toEqual(['src.local', 'pw1']);
    expect((await r.resolve({ ...ref, role: 'destination' })).host).toBe('dst.local');
  });

  it('neither: the error names both ways', async () => {
    await expect(new ConnectionResolver([], {}).resolve(ref)).rejects.toThrow(
      "this worker has no source connection for pipeline orders-copy (the coordinator reached rb@db.example:5432/shop): set RB_CONNECTION_ORDERS_COPY_SOURCE to its connection string, or start rb worker with --pipeline <that pipeline's file>",
    );
  });
});
