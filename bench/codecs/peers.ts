/**
 * Adapters for the ecosystem libraries that do the same jobs as rb's codecs, each driven the
 * fastest fair way we found in its source (node_modules), so the bench measures the library's
 * codec and not Node's stream machinery:
 *
 *   pg-copy-streams-binary 2.x  COPY binary encode and decode. Both are Transform streams; we call
 *       their `_transform` directly with the whole input in one call and collect what they `push`
 *       (no pipe, no event loop turn, no backpressure). Encode: `rowWriter` turns one row
 *       (`[{type, value}]`) into one Buffer through `bufferput` (what a user writes to a COPY FROM
 *       stream); we concatenate the row Buffers into one file as rb produces one. Decode:
 *       `rowReader({ mapping })` yields one object per row with typed JS values. Its types: bool,
 *       bytea, int2, int4, int8 (BigInt), float4, float8, text, varchar, json, jsonb, timestamptz
 *       (JS Date: millisecond precision) and one-level arrays of those. No uuid, numeric, date,
 *       time, timestamp, interval, inet...: the bench sends uuid and numeric as bytea (the same wire
 *       bytes: 16 raw bytes, and numeric's binary send format).
 *   pg-copy-streams 7.x  CopyData de-framing: `CopyToStream._parse(chunk)` strips the 'd' headers
 *       of one socket chunk (collecting payload slices, then one concatenation per chunk). Fed the
 *       whole framed stream as one chunk.
 *   pg-logical-replication 2.x  pgoutput: `PgoutputPlugin.parse(buffer)` parses one message into
 *       one JS object (protocol 1 only: no streaming, two-phase or xid-carrying messages). 'b'
 *       values come back as Buffer views, 't' values through pg's type parsers.
 */
import { createRequire } from 'node:module';
import { PgoutputPlugin } from 'pg-logical-replication';
import type { BenchColumn, JsValue, PeerCopyType } from './workloads.js';

const require = createRequire(import.meta.url);

type Callback = (err?: Error | null) => void;

/** The parts of a pg-copy-streams(-binary) Transform/Readable we drive by hand. */
interface PushTarget {
  push(chunk: unknown): boolean;
}
interface BinaryTransform extends PushTarget {
  _transform(chunk: unknown, encoding: string, cb: Callback): void;
  _flush(cb: Callback): void;
}
interface CopyToQuery extends PushTarget {
  _parse(chunk: Buffer): boolean;
}

const copyBinary = require('pg-copy-streams-binary') as {
  rowWriter(options?: object): BinaryTransform;
  rowReader(options: { mapping: Array<{ key: string; type: PeerCopyType }> }): BinaryTransform;
};
const copyStreams = require('pg-copy-streams') as { to(text: string): CopyToQuery };

export const PEER_COPY = 'pg-copy-streams-binary';
export const PEER_COPYDATA = 'pg-copy-streams';
export const PEER_PGOUTPUT = 'pg-logical-replication';

/** One row as pg-copy-streams-binary's rowWriter takes it. */
export type PeerRow = Array<{ type: PeerCopyType; value: JsValue }>;

/** Rows in rowWriter's input shape (built once, before timing: it is the caller's data). */
export function peerRows(columns: readonly BenchColumn[], values: JsValue[][], rows: number): PeerRow[] {
  const out: PeerRow[] = new Array(rows);
  for (let r = 0; r < rows; r++) out[r] = columns.map((c, j) => ({ type: c.peerType, value: values[j][r] }));
  return out;
}

function fail(err?: Error | null): void {
  if (err) throw err;
}

/** Collects what a stream pushes, without the Readable buffer (null = end of stream). */
function collect<T>(target: PushTarget, into: T[]): void {
  target.push = (chunk: unknown): boolean => {
    if (chunk !== null) into.push(chunk as T);
    return true;
  };
}

/** A complete COPY binary file (header, tuples, trailer) for `rows`, with rowWriter. */
export function peerCopyEncode(rows: readonly PeerRow[]): Buffer {
  const writer = copyBinary.rowWriter();
  const chunks: Buffer[] = [];
  collect(writer, chunks);
  for (let r = 0; r < rows.length; r++) writer._transform(rows[r], 'buffer', fail);
  writer._flush(fail);
  return Buffer.concat(chunks);
}

export type PeerDecodedRow = Record<string, JsValue>;

/** Decodes a complete COPY binary file into one object per row, with rowReader. */
export function peerCopyDecode(file: Buffer, columns: readonly BenchColumn[]): PeerDecodedRow[] {
  const reader = copyBinary.rowReader({ mapping: columns.map((c) => ({ key: c.name, type: c.peerType })) });
  const rows: PeerDecodedRow[] = [];
  collect(reader, rows);
  reader._transform(file, 'buffer', fail);
  return rows;
}

/** The payloads of the CopyData messages in `framed`, as one Buffer, with pg-copy-streams. */
export function peerDeframe(framed: Buffer): Buffer {
  const query = copyStreams.to('COPY bench TO STDOUT (FORMAT binary)');
  const chunks: Buffer[] = [];
  collect(query, chunks);
  query._parse(framed);
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

export type PeerPgoutputMessage = ReturnType<PgoutputPlugin['parse']>;

/** Parses each message with a fresh parser (its relation cache filled by the stream's Relation messages). */
export function peerPgoutputParse(messages: readonly Buffer[]): PeerPgoutputMessage[] {
  const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: ['rb_bench'] });
  const out: PeerPgoutputMessage[] = new Array(messages.length);
  for (let i = 0; i < messages.length; i++) out[i] = plugin.parse(messages[i]);
  return out;
}
