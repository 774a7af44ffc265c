/**
 * What the codec bench times: per codec, one task per implementation, each doing the whole
 * workload in one call (encode 10k rows, parse 100k messages, ...) so the timer's own cost is
 * noise. Building the cases runs every task once and checks the outputs (check-outputs.ts); a
 * mismatch throws before anything is timed.
 *
 * What one op includes, per codec (rb = native and TypeScript through the `Codecs` interface):
 *   copy-encode       rb: copyEncodedLength + a new output buffer + header, tuples, trailer.
 *                     peer: rowWriter over the rows' JS values, row Buffers concatenated.
 *   copy-decode       rb: header + copyDecode into a ColumnBatch (values stay wire bytes).
 *                     peer: rowReader into one object per row with JS values (numbers, BigInt,
 *                     strings, Dates, Buffers): more work per value, which is its design.
 *   copy-scan         rb only: count tuples and find their end without decoding.
 *   copydata-deframe  rb: strip the headers into a reused output buffer (as the COPY reader does).
 *                     peer: pg-copy-streams' parser, which allocates its output.
 *   pgoutput          rb: one pgoutputDecode call over all messages (fresh relation cache).
 *                     peer: one parse call per message (fresh parser).
 *   placeholders      rb only: the text for 1000 rows × 10 columns.
 */
import { COPY_BINARY_HEADER, COPY_BINARY_TRAILER, newPgoutputState, type Codecs } from '../../native/codec-api.js';
import type { PgoutputBatch } from '../../native/pgoutput-types.js';
import { Errors } from '../../engine/errors.js';
import { bytesDifference, decodeDifference, peerPgoutputDifference, peerRowsDifference, pgoutputDifference } from './check-outputs.js';
import { PEER_COPY, PEER_COPYDATA, PEER_PGOUTPUT, peerCopyDecode, peerCopyEncode, peerDeframe, peerPgoutputParse, peerRows } from './peers.js';
import type { CodecWorkloads } from './workloads.js';

export const CODEC_NAMES = ['copy-encode', 'copy-decode', 'copy-scan', 'copydata-deframe', 'pgoutput', 'placeholders'] as const;
export type CodecName = (typeof CODEC_NAMES)[number];

/** The ecosystem library measured beside rb for each codec (none exists for scan and placeholders). */
export const CODEC_PEERS: Readonly<Record<CodecName, string | null>> = {
  'copy-encode': PEER_COPY,
  'copy-decode': PEER_COPY,
  'copy-scan': null,
  'copydata-deframe': PEER_COPYDATA,
  pgoutput: PEER_PGOUTPUT,
  placeholders: null,
};

export interface CodecTask {
  /** 'native', 'ts' or the peer package's name. */
  impl: string;
  run: () => unknown;
}

export interface CodecCase {
  name: CodecName;
  /** Bytes of COPY / wire data (placeholders: text) one op processes, for MB/s. */
  bytes: number;
  /** What one op is. */
  op: string;
  tasks: CodecTask[];
}

function check(difference: string | null): void {
  if (difference !== null) throw Errors.internal(`codec bench: outputs differ before timing: ${difference}`);
}

function copyEncodeCase(w: CodecWorkloads, rb: readonly Codecs[]): CodecCase {
  const { batch, file } = w.copy;
  const encode = (c: Codecs) => (): Uint8Array => {
    const n = c.copyEncodedLength(batch);
    const out = new Uint8Array(COPY_BINARY_HEADER.length + n + COPY_BINARY_TRAILER.length);
    out.set(COPY_BINARY_HEADER, 0);
    c.copyEncodeInto(batch, out, COPY_BINARY_HEADER.length);
    out.set(COPY_BINARY_TRAILER, COPY_BINARY_HEADER.length + n);
    return out;
  };
  const rows = peerRows(w.copy.columns, w.copy.values, w.copy.rows);
  const tasks: CodecTask[] = [...rb.map((c) => ({ impl: c.impl, run: encode(c) })), { impl: PEER_COPY, run: () => peerCopyEncode(rows) }];
  for (const t of tasks) check(bytesDifference(`copy-encode ${t.impl}`, t.run() as Uint8Array, file));
  return { name: 'copy-encode', bytes: file.length, op: `encode ${w.copy.rows} rows × ${w.copy.columns.length} columns`, tasks };
}

function copyDecodeCase(w: CodecWorkloads, rb: readonly Codecs[]): CodecCase {
  const { file, codecs, columns } = w.copy;
  const tasks: CodecTask[] = rb.map((c) => ({ impl: c.impl, run: () => c.copyDecode(file, c.copyHeaderLength(file, 0), codecs) }));
  for (const t of tasks) check(decodeDifference(`copy-decode ${t.impl}`, t.run() as ReturnType<Codecs['copyDecode']>, w.copy));
  const peer = { impl: PEER_COPY, run: () => peerCopyDecode(file, columns) };
  check(peerRowsDifference(`copy-decode ${PEER_COPY}`, peer.run(), w.copy));
  return { name: 'copy-decode', bytes: file.length, op: `decode ${w.copy.rows} rows × ${columns.length} columns`, tasks: [...tasks, peer] };
}

function copyScanCase(w: CodecWorkloads, rb: readonly Codecs[]): CodecCase {
  const { file, columns } = w.copy;
  const tasks: CodecTask[] = rb.map((c) => ({ impl: c.impl, run: () => c.copyScan(file, c.copyHeaderLength(file, 0), columns.length) }));
  for (const t of tasks) {
    const r = t.run() as ReturnType<Codecs['copyScan']>;
    if (r.rows !== w.copy.rows || r.end !== file.length || !r.done) check(`copy-scan ${t.impl}: rows ${r.rows}, end ${r.end}, done ${r.done}`);
  }
  return { name: 'copy-scan', bytes: file.length, op: `scan ${w.copy.rows} rows`, tasks };
}

function deframeCase(w: CodecWorkloads, rb: readonly Codecs[]): CodecCase {
  const { framed, messages } = w.copyData;
  const tasks: CodecTask[] = rb.map((c) => {
    const out = new Uint8Array(framed.length);
    return { impl: c.impl, run: () => ({ result: c.deframeCopyData(framed, 0, out, 0), out }) };
  });
  for (const t of tasks) {
    const { result, out } = t.run() as { result: ReturnType<Codecs['deframeCopyData']>; out: Uint8Array };
    if (result.consumed !== framed.length || result.messages !== messages) check(`copydata-deframe ${t.impl}: consumed ${result.consumed}, ${result.messages} messages`);
    check(bytesDifference(`copydata-deframe ${t.impl}`, out.subarray(0, result.written), w.copy.file));
  }
  const peer = { impl: PEER_COPYDATA, run: () => peerDeframe(framed) };
  check(bytesDifference(`copydata-deframe ${PEER_COPYDATA}`, peer.run(), w.copy.file));
  return { name: 'copydata-deframe', bytes: framed.length, op: `de-frame ${messages} CopyData messages`, tasks: [...tasks, peer] };
}

function pgoutputCase(w: CodecWorkloads, rb: readonly Codecs[]): CodecCase {
  const p = w.pgoutput;
  const { buf, offsets, lsns } = p.input;
  const tasks: CodecTask[] = rb.map((c) => ({ impl: c.impl, run: () => c.pgoutputDecode(buf, offsets, lsns, p.protoVersion, newPgoutputState()) }));
  const outputs = tasks.map((t) => t.run() as PgoutputBatch);
  for (let i = 1; i < tasks.length; i++) check(pgoutputDifference(`pgoutput ${tasks[i].impl} vs ${tasks[0].impl}`, outputs[i], outputs[0]));
  const peer = { impl: PEER_PGOUTPUT, run: () => peerPgoutputParse(p.messages) };
  const names = p.relation.columns.map((c) => c.name);
  check(peerPgoutputDifference(`pgoutput ${PEER_PGOUTPUT}`, peer.run(), outputs[0], p.relation.oid, names, p.changes));
  return { name: 'pgoutput', bytes: buf.length, op: `parse ${p.messages.length} messages (${p.changes} changes)`, tasks: [...tasks, peer] };
}

function placeholdersCase(w: CodecWorkloads, rb: readonly Codecs[]): CodecCase {
  const { rows, cols, first } = w.placeholders;
  const tasks: CodecTask[] = rb.map((c) => ({ impl: c.impl, run: () => c.placeholders(rows, cols, first) }));
  const texts = tasks.map((t) => t.run() as string);
  const last = first + rows * cols - 1;
  if (!texts[0].startsWith(`($${first},`) || !texts[0].endsWith(`,$${last})`)) check(`placeholders ${tasks[0].impl}: unexpected text ${texts[0].slice(0, 40)}…`);
  for (let i = 1; i < texts.length; i++) if (texts[i] !== texts[0]) check(`placeholders ${tasks[i].impl} differs from ${tasks[0].impl}`);
  return { name: 'placeholders', bytes: texts[0].length, op: `${rows} rows × ${cols} columns from $${first}`, tasks };
}

const BUILDERS: Record<CodecName, (w: CodecWorkloads, rb: readonly Codecs[]) => CodecCase> = {
  'copy-encode': copyEncodeCase,
  'copy-decode': copyDecodeCase,
  'copy-scan': copyScanCase,
  'copydata-deframe': deframeCase,
  pgoutput: pgoutputCase,
  placeholders: placeholdersCase,
};

/**
 * The cases for `names`, outputs checked. `rb` holds the TypeScript codecs and, when the addon is
 * built, the native ones.
 *
 * @example
 *   const cases = buildCases(buildWorkloads(), [tsCodecs, codecs], ['copy-encode']);
 */
export function buildCases(w: CodecWorkloads, rb: readonly Codecs[], names: readonly CodecName[] = CODEC_NAMES): CodecCase[] {
  return names.map((name) => BUILDERS[name](w, rb));
}
