/**
 * A deliberately simple builder of pgoutput messages for unit tests (independent of the parser:
 * it concatenates Buffers field by field, following the message formats in the PostgreSQL docs,
 * "Logical Replication Message Formats"), and a loader for the real captures in `fixtures/`
 * (written by the engine's `testing/capture-pgoutput.ts`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { NATIVE_DIR } from '../native-dir.js';

export type TupleValue = null | 'u' | { t: string | Uint8Array } | { b: Uint8Array };

const u8 = (v: number): Buffer => Buffer.from([v]);
const ch = (c: string): Buffer => Buffer.from(c, 'latin1');
const i16 = (v: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(v);
  return b;
};
const i32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
};
const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};
const u64 = (v: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt.asUintN(64, v));
  return b;
};
const i64 = (v: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(v);
  return b;
};
const str = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), u8(0)]);
/** The xid that row/relation/type/truncate/message messages carry inside a streamed block. */
const sx = (xid: number | undefined): Buffer => (xid === undefined ? Buffer.alloc(0) : u32(xid));

export function tuple(values: readonly TupleValue[]): Buffer {
  const parts: Buffer[] = [i16(values.length)];
  for (const v of values) {
    if (v === null) parts.push(ch('n'));
    else if (v === 'u') parts.push(ch('u'));
    else if ('t' in v) {
      const bytes = Buffer.from(v.t);
      parts.push(ch('t'), i32(bytes.length), bytes);
    } else parts.push(ch('b'), i32(v.b.length), Buffer.from(v.b));
  }
  return Buffer.concat(parts);
}

export interface RelationSpec {
  oid: number;
  namespace: string;
  name: string;
  replicaIdentity?: 'd' | 'n' | 'f' | 'i';
  columns: Array<{ flags?: number; name: string; typeOid: number; typmod?: number }>;
}

/** One builder per message; `xid` is the streamed-block xid (omit outside Stream Start..Stop). */
export const pgo = {
  begin: (finalLsn: bigint, commitTimeUs: bigint, xid: number): Buffer => Buffer.concat([ch('B'), u64(finalLsn), i64(commitTimeUs), u32(xid)]),
  commit: (commitLsn: bigint, endLsn: bigint, commitTimeUs: bigint, flags = 0): Buffer => Buffer.concat([ch('C'), u8(flags), u64(commitLsn), u64(endLsn), i64(commitTimeUs)]),
  origin: (originLsn: bigint, name: string): Buffer => Buffer.concat([ch('O'), u64(originLsn), str(name)]),
  relation: (r: RelationSpec, xid?: number): Buffer =>
    Buffer.concat([
      ch('R'),
      sx(xid),
      u32(r.oid),
      str(r.namespace),
      str(r.name),
      ch(r.replicaIdentity ?? 'd'),
      i16(r.columns.length),
      ...r.columns.flatMap((c) => [u8(c.flags ?? 0), str(c.name), u32(c.typeOid), i32(c.typmod ?? -1)]),
    ]),
  type: (typeOid: number, namespace: string, name: string, xid?: number): Buffer => Buffer.concat([ch('Y'), sx(xid), u32(typeOid), str(namespace), str(name)]),
  insert: (relOid: number, values: readonly TupleValue[], xid?: number): Buffer => Buffer.concat([ch('I'), sx(xid), u32(relOid), ch('N'), tuple(values)]),
  update: (relOid: number, values: readonly TupleValue[], old?: { kind: 'K' | 'O'; values: readonly TupleValue[] }, xid?: number): Buffer =>
    Buffer.concat([ch('U'), sx(xid), u32(relOid), ...(old ? [ch(old.kind), tuple(old.values)] : []), ch('N'), tuple(values)]),
  delete: (relOid: number, kind: 'K' | 'O', values: readonly TupleValue[], xid?: number): Buffer => Buffer.concat([ch('D'), sx(xid), u32(relOid), ch(kind), tuple(values)]),
  truncate: (relOids: readonly number[], options: number, xid?: number): Buffer => Buffer.concat([ch('T'), sx(xid), u32(relOids.length), u8(options), ...relOids.map(u32)]),
  message: (transactional: boolean, lsn: bigint, prefix: string, content: Uint8Array, xid?: number): Buffer =>
    Buffer.concat([ch('M'), sx(xid), u8(transactional ? 1 : 0), u64(lsn), str(prefix), i32(content.length), Buffer.from(content)]),
  streamStart: (xid: number, first: boolean): Buffer => Buffer.concat([ch('S'), u32(xid), u8(first ? 1 : 0)]),
  streamStop: (): Buffer => ch('E'),
  streamCommit: (xid: number, commitLsn: bigint, endLsn: bigint, commitTimeUs: bigint): Buffer => Buffer.concat([ch('c'), u32(xid), u8(0), u64(commitLsn), u64(endLsn), i64(commitTimeUs)]),
  streamAbort: (xid: number, subXid: number, parallel?: { abortLsn: bigint; abortTimeUs: bigint }): Buffer =>
    Buffer.concat([ch('A'), u32(xid), u32(subXid), ...(parallel ? [u64(parallel.abortLsn), i64(parallel.abortTimeUs)] : [])]),
  beginPrepare: (prepareLsn: bigint, endLsn: bigint, prepareTimeUs: bigint, xid: number, gid: string): Buffer =>
    Buffer.concat([ch('b'), u64(prepareLsn), u64(endLsn), i64(prepareTimeUs), u32(xid), str(gid)]),
  prepare: (prepareLsn: bigint, endLsn: bigint, prepareTimeUs: bigint, xid: number, gid: string): Buffer =>
    Buffer.concat([ch('P'), u8(0), u64(prepareLsn), u64(endLsn), i64(prepareTimeUs), u32(xid), str(gid)]),
  commitPrepared: (commitLsn: bigint, endLsn: bigint, commitTimeUs: bigint, xid: number, gid: string): Buffer =>
    Buffer.concat([ch('K'), u8(0), u64(commitLsn), u64(endLsn), i64(commitTimeUs), u32(xid), str(gid)]),
  rollbackPrepared: (prepareEndLsn: bigint, rollbackEndLsn: bigint, prepareTimeUs: bigint, rollbackTimeUs: bigint, xid: number, gid: string): Buffer =>
    Buffer.concat([ch('r'), u8(0), u64(prepareEndLsn), u64(rollbackEndLsn), i64(prepareTimeUs), i64(rollbackTimeUs), u32(xid), str(gid)]),
  streamPrepare: (prepareLsn: bigint, endLsn: bigint, prepareTimeUs: bigint, xid: number, gid: string): Buffer =>
    Buffer.concat([ch('p'), u8(0), u64(prepareLsn), u64(endLsn), i64(prepareTimeUs), u32(xid), str(gid)]),
};

export interface PgoutputInput {
  buf: Buffer;
  offsets: Int32Array;
  lsns: BigInt64Array;
}

/** Lays messages end to end as `pgoutputDecode` takes them; LSNs count up from `firstLsn`. */
export function pgoutputInput(messages: readonly Uint8Array[], firstLsn = 0x1000000n, lsns?: readonly bigint[]): PgoutputInput {
  const offsets = new Int32Array(messages.length + 1);
  messages.forEach((m, i) => (offsets[i + 1] = offsets[i] + m.length));
  const l = new BigInt64Array(messages.length);
  messages.forEach((_, i) => (l[i] = lsns ? lsns[i] : firstLsn + BigInt(i) * 0x100n));
  return { buf: Buffer.concat(messages.map((m) => Buffer.from(m))), offsets, lsns: l };
}

/** A captured slot read: what `capture-pgoutput.ts` writes to `fixtures/pgoutput-*.json`. */
export interface PgoutputCapture {
  description: string;
  serverVersion: string;
  protoVersion: number;
  binary: boolean;
  streaming: string;
  twoPhase: boolean;
  /** Per message: [lsn as 'X/Y', base64 payload]. */
  messages: Array<[string, string]>;
}

export const FIXTURES_DIR = path.join(NATIVE_DIR, 'testing', 'fixtures');

export function parseLsn(text: string): bigint {
  const [hi, lo] = text.split('/');
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function loadCaptures(dir: string = FIXTURES_DIR): Array<{ file: string; capture: PgoutputCapture; input: PgoutputInput }> {
  return readdirSync(dir)
    .filter((f) => f.startsWith('pgoutput-') && f.endsWith('.json'))
    .sort()
    .map((file) => {
      const capture = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as PgoutputCapture;
      const input = pgoutputInput(
        capture.messages.map(([, b64]) => Buffer.from(b64, 'base64')),
        0n,
        capture.messages.map(([lsn]) => parseLsn(lsn)),
      );
      return { file, capture, input };
    });
}
