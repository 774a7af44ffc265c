/**
 * CopyOutReader against a real server: the chunks it yields, joined, are exactly the COPY stream
 * without its binary header and trailer (as pg-copy-streams delivers it), every chunk holds whole
 * rows, rows are counted right, a row much larger than a socket read (30 MB) goes through, and a
 * query error surfaces as the server's error with the client still usable — over node-postgres's
 * own socket and over the read-tap socket the source stage uses.
 */
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codecs } from '../../native/index.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../../engine/testing/pg.js';
import { ReadTapSocket } from '../postgres/read-tap-socket.js';
import type { CopyFrame } from '../contract/frames.js';
import { CopyOutReader, FIRST_CHUNK_BYTES } from './copy-out-reader.js';

let db: TestDb;
let client: pg.Client;
let plainClient: pg.Client;
let tapClient: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase('copyout');
  plainClient = await db.client();
  // The source stage's kind of connection: reads through one reused buffer (read-tap-socket.ts).
  tapClient = new pg.Client({ connectionString: db.url, stream: () => new ReadTapSocket() });
  await tapClient.connect();
  client = plainClient;
  await client.query(`create table t (id int, v text, b bytea);
    insert into t select g, repeat(md5(g::text), g % 50), decode(md5(g::text), 'hex') from generate_series(1, 20000) g;
    insert into t values (-1, repeat('x', 30 * 1024 * 1024), null), (-2, E'tab\\there\\nnewline \\\\ back', '\\x00ff');`);
});
afterAll(async () => {
  await tapClient?.end().catch(() => {});
  await dropTestDatabases();
});

async function reference(sql: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(client.query(copyTo(sql)), new Writable({ write(c, _e, cb) { parts.push(c); cb(); } }));
  return Buffer.concat(parts);
}

async function read(sql: string, format: 'binary' | 'text', chunkBytes: number): Promise<{ chunks: CopyFrame[]; reader: CopyOutReader }> {
  const reader = new CopyOutReader(sql, { format, fieldCount: 3, chunkBytes });
  client.query(reader as unknown as pg.QueryConfig);
  const chunks: CopyFrame[] = [];
  for await (const c of reader) chunks.push(c);
  return { chunks, reader };
}

describe.each([
  ['a plain socket', () => plainClient],
  ['a read-tap socket', () => tapClient],
])('CopyOutReader over %s', (_name, pick) => {
  beforeAll(() => {
    client = pick();
  });

  it('binary: chunks are whole tuples and join to the stream without header and trailer', async () => {
    const sql = 'copy (select id, v, b from t order by id) to stdout (format binary)';
    const want = await reference(sql);
    const header = codecs.copyHeaderLength(want, 0);
    const { chunks, reader } = await read(sql, 'binary', 256 * 1024);
    expect(Buffer.concat(chunks.map((c) => c.bytes)).equals(want.subarray(header, want.length - 2))).toBe(true);
    for (const c of chunks) expect(codecs.copyScan(c.bytes, 0, 3)).toEqual({ rows: c.rows, end: c.bytes.length, done: false });
    expect(chunks.reduce((a, c) => a + c.rows, 0)).toBe(20002);
    expect(reader.rowCount).toBe(20002);
    expect(chunks.length).toBeGreaterThan(3);
  });

  it('text: chunks are whole lines', async () => {
    const sql = 'copy (select id, v, b from t order by id) to stdout';
    const want = await reference(sql);
    const { chunks, reader } = await read(sql, 'text', 128 * 1024);
    expect(Buffer.concat(chunks.map((c) => c.bytes)).equals(want)).toBe(true);
    for (const c of chunks) expect(c.bytes[c.bytes.length - 1]).toBe(0x0a);
    expect(reader.rowsRead).toBe(20002);
  });

  it('reuses the buffers of released chunks, and the data stays exact', async () => {
    const sql = 'copy (select id, v, b from t where id > 0 order by id) to stdout (format binary)';
    const want = await reference(sql);
    const header = codecs.copyHeaderLength(want, 0);
    // Chunks larger than one socket read (256 kB for the read-tap socket), as in a run (8 MB).
    const reader = new CopyOutReader(sql, { format: 'binary', fieldCount: 3, chunkBytes: 1 << 20 });
    client.query(reader as unknown as pg.QueryConfig);
    const copies: Buffer[] = [];
    const memories = new Set<ArrayBufferLike>();
    let chunks = 0;
    for await (const c of reader) {
      chunks++;
      memories.add(c.bytes.buffer);
      copies.push(Buffer.from(c.bytes)); // what a consumer that is done with the bytes holds
      c.release?.();
      c.release?.(); // a second release is ignored
    }
    expect(Buffer.concat(copies).equals(want.subarray(header, want.length - 2))).toBe(true);
    expect(chunks).toBeGreaterThan(6);
    // Released buffers come back: far fewer distinct memories than chunks.
    expect(memories.size).toBeLessThanOrEqual(3);
  });

  it('hands the first rows over early, then grows the chunks to half of chunkBytes', async () => {
    const sql = 'copy (select id, v, b from t where id > 0 order by id) to stdout (format binary)';
    const chunkBytes = 2 << 20;
    const { chunks } = await read(sql, 'binary', chunkBytes);
    const sizes = chunks.map((c) => c.bytes.length);
    // The first chunk: FIRST_CHUNK_BYTES of rows plus at most the rest of one socket read (256 kB).
    expect(sizes[0]).toBeGreaterThanOrEqual(FIRST_CHUNK_BYTES);
    expect(sizes[0]).toBeLessThan(FIRST_CHUNK_BYTES + 256 * 1024 + 64 * 1024);
    // Then each at least twice the threshold before it, up to chunkBytes / 2 (the last may be short).
    for (let i = 1; i < sizes.length - 1; i++) expect(sizes[i]).toBeGreaterThanOrEqual(Math.min(FIRST_CHUNK_BYTES << i, chunkBytes >>> 1));
    expect(Math.max(...sizes)).toBeGreaterThanOrEqual(chunkBytes >>> 1);
  });

  it('a query error is the server error, and the client stays usable', async () => {
    const reader = new CopyOutReader('copy (select 1 / (id - 5000) from t) to stdout (format binary)', { format: 'binary', fieldCount: 1 });
    client.query(reader as unknown as pg.QueryConfig);
    await expect((async () => {
      for await (const _ of reader) void _;
    })()).rejects.toThrow(/division by zero/);
    expect((await client.query('select 42 as x')).rows[0].x).toBe(42);
  });
});
