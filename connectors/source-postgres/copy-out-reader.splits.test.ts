/**
 * CopyOutReader against every way TCP may cut a server's reply: the bytes a real server sent for a
 * COPY TO (captured from the socket, CopyOutResponse to ReadyForQuery) are replayed in pieces of
 * random sizes, down to one byte, so CopyData messages are cut inside their 5-byte header, inside
 * the payload, and right before CopyDone. Each replay must give exactly the stream's rows, and
 * hand pg back exactly the bytes after CopyDone (CommandComplete, ReadyForQuery) — pulled from a
 * socket's Readable side, and pushed through a read tap as views of one reused buffer.
 */
import { Readable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codecs } from '../../native/index.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../../engine/testing/pg.js';
import type { ReadTap } from '../postgres/read-tap-socket.js';
import { CopyOutReader } from './copy-out-reader.js';

let db: TestDb;
let wire: Buffer;
let payload: Buffer;
let rows: number;
/** Offset in `wire` just past CopyDone. */
let afterCopyDone: number;

/** The raw bytes the server sends for `sql`, and the COPY stream they carry (both via pg itself). */
async function capture(client: pg.Client, sql: string): Promise<{ wire: Buffer; payload: Buffer }> {
  // Every read the socket makes goes through push(): record them, whoever consumes them.
  const socket = (client as unknown as { connection: { stream: Readable } }).connection.stream;
  const seen: Buffer[] = [];
  const push = socket.push.bind(socket);
  socket.push = (chunk: unknown, encoding?: BufferEncoding) => {
    if (Buffer.isBuffer(chunk)) seen.push(Buffer.from(chunk));
    return push(chunk, encoding);
  };
  const parts: Buffer[] = [];
  try {
    const reader = new CopyOutReader(sql, { format: 'binary', fieldCount: 3, chunkBytes: 1 << 20 });
    client.query(reader as unknown as pg.QueryConfig);
    for await (const c of reader) parts.push(Buffer.from(c.bytes));
  } finally {
    socket.push = push;
  }
  return { wire: Buffer.concat(seen), payload: Buffer.concat(parts) };
}

/** Index just past the CopyDone message in a server reply. */
function copyDoneEnd(buf: Buffer): number {
  for (let off = 0; off + 5 <= buf.length; ) {
    const len = buf.readInt32BE(off + 1);
    if (buf[off] === 0x63) return off + 1 + len;
    off += 1 + len;
  }
  throw new Error('no CopyDone in the capture');
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Replays `pieces` through a reader over a stand-in socket; returns its rows and pg's share. */
async function replay(pieces: Buffer[], chunkBytes: number): Promise<{ bytes: Buffer; rows: number; handedBack: Buffer }> {
  const handed: Buffer[] = [];
  const stream = new Readable({ objectMode: true, read() {} }); // one piece per read(), as the socket gives them
  stream.on('data', (b: Buffer) => handed.push(Buffer.from(b)));
  stream.pause();
  const reader = new CopyOutReader('copy … to stdout', { format: 'binary', fieldCount: 3, chunkBytes });
  reader.submit({ stream: stream as never, query: () => {} });
  for (const p of pieces) stream.push(p);
  stream.push(null);
  return readAll(reader, handed);
}

/**
 * The same through a read tap (as over the source stage's ReadTapSocket): every piece is a view of
 * one scratch buffer that is overwritten after each call, so a reader that kept a view instead of
 * copying would deliver garbage. Returning false stops the pieces until resume().
 */
async function replayTapped(pieces: Buffer[], chunkBytes: number): Promise<{ bytes: Buffer; rows: number; handedBack: Buffer }> {
  const handed: Buffer[] = [];
  const scratch = Buffer.alloc(wire.length);
  let tap: ReadTap | null = null;
  let paused = false;
  let next = 0;
  const pump = () => {
    while (!paused && next < pieces.length) {
      const piece = pieces[next++];
      if (!tap) {
        handed.push(Buffer.from(piece)); // handed back: pg reads on
        continue;
      }
      piece.copy(scratch);
      const more = tap(scratch.subarray(0, piece.length));
      scratch.fill(0xee, 0, piece.length);
      if (!more) paused = true;
    }
  };
  const stream = {
    setReadTap: (t: ReadTap | null) => void (tap = t),
    resume: () => {
      paused = false;
      setImmediate(pump); // a socket reads on later, never inside resume()
    },
    push: (b: Buffer) => handed.push(Buffer.from(b)) > 0,
  };
  const reader = new CopyOutReader('copy … to stdout', { format: 'binary', fieldCount: 3, chunkBytes });
  reader.submit({ stream: stream as never, query: () => {} });
  setImmediate(pump);
  return readAll(reader, handed);
}

/**
 * Reads every chunk (copying it, then releasing it), and completes the query the way pg would once
 * the bytes after CopyDone were handed back to it.
 */
async function readAll(reader: CopyOutReader, handed: Buffer[]): Promise<{ bytes: Buffer; rows: number; handedBack: Buffer }> {
  const out: Buffer[] = [];
  let n = 0;
  const consuming = (async () => {
    for await (const c of reader) {
      out.push(Buffer.from(c.bytes));
      n += c.rows;
      c.release?.();
    }
  })();
  await waitFor(() => Buffer.concat(handed).length >= wire.length - afterCopyDone);
  reader.handleCommandComplete({ text: `COPY ${rows}` });
  reader.handleReadyForQuery();
  await consuming;
  return { bytes: Buffer.concat(out), rows: n, handedBack: Buffer.concat(handed) };
}

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  expect(cond()).toBe(true);
}

beforeAll(async () => {
  db = await createTestDatabase('copyout_splits');
  const client = await db.client();
  await client.query(`create table t (id int, v text, b bytea);
    insert into t select g, repeat(md5(g::text), g % 7), decode(md5(g::text), 'hex') from generate_series(1, 3000) g;
    insert into t values (-1, repeat('y', 200000), null);`);
  ({ wire, payload } = await capture(client, 'copy (select id, v, b from t order by id) to stdout (format binary)'));
  rows = 3001;
  afterCopyDone = copyDoneEnd(wire);
  await client.end();
});
afterAll(dropTestDatabases);

describe('CopyOutReader: messages cut anywhere by socket reads', () => {
  it('the capture is a whole reply and the reader read it right live', () => {
    expect(wire[0]).toBe(0x48); // CopyOutResponse
    expect(wire[wire.length - 6]).toBe(0x5a); // ReadyForQuery
    expect(codecs.copyScan(payload, 0, 3)).toEqual({ rows, end: payload.length, done: false });
  });

  const cases: Array<[string, (rand: () => number) => number]> = [
    ['one byte at a time', () => 1],
    ['2-7 bytes (cuts inside every 5-byte header)', (r) => 2 + Math.floor(r() * 6)],
    ['random up to 300 bytes', (r) => 1 + Math.floor(r() * 300)],
    ['random up to 70 kB', (r) => 1 + Math.floor(r() * 70_000)],
  ];
  for (const [name, size] of cases) {
    it(name, async () => {
      for (const seed of name === 'one byte at a time' ? [1] : [1, 2, 3]) {
        const rand = seeded(seed);
        const pieces: Buffer[] = [];
        for (let off = 0; off < wire.length; ) {
          const n = Math.min(wire.length - off, size(rand));
          pieces.push(wire.subarray(off, off + n));
          off += n;
        }
        for (const run of [replay, replayTapped]) {
          const got = await run(pieces, 64 * 1024);
          expect(got.rows, run.name).toBe(rows);
          expect(got.bytes.equals(payload), run.name).toBe(true);
          expect(got.handedBack.equals(wire.subarray(afterCopyDone)), run.name).toBe(true);
        }
      }
    });
  }

  it('a piece ending exactly at CopyDone, and one starting with it', async () => {
    const copyDoneStart = afterCopyDone - 5;
    for (const cut of [copyDoneStart, afterCopyDone, copyDoneStart + 2]) {
      for (const run of [replay, replayTapped]) {
        const got = await run([wire.subarray(0, cut), wire.subarray(cut)], 8 * 1024);
        expect(got.bytes.equals(payload), run.name).toBe(true);
        expect(got.handedBack.equals(wire.subarray(afterCopyDone)), run.name).toBe(true);
      }
    }
  });
});
