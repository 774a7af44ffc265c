/**
 * In-progress transactions streamed by the server (pgoutput protocol 2+, `streaming 'on'`;
 * docs/design.md section 8 "Streamed transactions"): the messages of each one, held until its
 * Stream Commit — then replayed in commit order through the same decode and apply as a
 * transaction sent whole — or its Stream Abort — then dropped (a subtransaction's abort drops its
 * changes at the replay).
 *
 * Each transaction keeps up to `memoryBytes` of messages in memory, the rest in a file of its own
 * in `dir` (the system's temporary directory by default). The file is unlinked as soon as it is
 * opened, so it lives exactly as long as its descriptor: a process killed with SIGKILL leaves
 * nothing on disk, and the server streams the transaction again from its start on the next run
 * (its commit is after the confirmed position). Where an open file cannot be unlinked, it is
 * removed when the transaction is disposed.
 *
 * Frames, in memory and on disk: u32 payload length, i64 XLogData start LSN, payload.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RbError } from '../contract/errors.js';

const FRAME_HEAD = 12;
/** Per transaction, before its messages go to a file. */
const DEFAULT_MEMORY_BYTES = 1 << 20;
/** A replayed chunk ends at about this many bytes of messages, or this many messages. */
const DEFAULT_CHUNK_BYTES = 1 << 20;
const DEFAULT_CHUNK_MESSAGES = 20_000;

/** A chunk of messages in the shape `pgoutputDecode` takes. */
export interface MessageChunk {
  buf: Buffer;
  offsets: Int32Array;
  lsns: BigInt64Array;
}

export interface StreamSpillOptions {
  /** Where spill files are made (unlinked at once). Default: os.tmpdir(). */
  dir?: string;
  memoryBytes?: number;
  chunkBytes?: number;
  /** Default 20,000: what a replayed chunk decodes to stays about one apply piece. */
  chunkMessages?: number;
}

/** One streamed transaction's messages. */
export class SpilledTransaction {
  /** Subtransactions (and the transaction itself) a Stream Abort discarded. */
  readonly aborted = new Set<number>();
  /** Messages received, and their payload bytes. */
  messages = 0;
  bytes = 0;
  private held: Buffer[] = [];
  private heldBytes = 0;
  private fd = -1;
  private fileBytes = 0;
  /** Set when the file could not be unlinked while open. */
  private path: string | null = null;

  constructor(
    readonly xid: number,
    private readonly spills: StreamSpills,
  ) {}

  /** True once some of its messages went to its file. */
  get onDisk(): boolean {
    return this.fd >= 0;
  }

  add(payload: Uint8Array, lsn: bigint): void {
    const frame = Buffer.allocUnsafe(FRAME_HEAD + payload.length);
    frame.writeUInt32BE(payload.length, 0);
    frame.writeBigInt64BE(BigInt.asIntN(64, lsn), 4);
    frame.set(payload, FRAME_HEAD);
    this.held.push(frame);
    this.heldBytes += frame.length;
    this.messages++;
    this.bytes += payload.length;
    if (this.heldBytes >= this.spills.memoryBytes) this.flush();
  }

  /** Messages in arrival order, in chunks of about `chunkBytes`: the file's first, then memory's. */
  *chunks(): Generator<MessageChunk> {
    const frames = new FrameCollector(this.spills.chunkBytes, this.spills.chunkMessages);
    if (this.fd >= 0) {
      const blockBytes = Math.max(this.spills.chunkBytes, 64 << 10);
      let carry: Buffer = Buffer.alloc(0);
      for (let pos = 0; pos < this.fileBytes; ) {
        // A new block each read: the frames of the last one may still be in the collector.
        const block = Buffer.allocUnsafe(Math.min(blockBytes, this.fileBytes - pos));
        const n = readSync(this.fd, block, 0, block.length, pos);
        if (n <= 0) throw new RbError('internal', `spill file of streamed transaction ${this.xid}: read ${n} bytes at ${pos} of ${this.fileBytes}`);
        pos += n;
        const data = carry.length ? Buffer.concat([carry, block.subarray(0, n)]) : block.subarray(0, n);
        let at = 0;
        while (data.length - at >= FRAME_HEAD && data.length - at >= FRAME_HEAD + data.readUInt32BE(at)) {
          const len = data.readUInt32BE(at);
          frames.push(data.subarray(at + FRAME_HEAD, at + FRAME_HEAD + len), data.readBigInt64BE(at + 4));
          at += FRAME_HEAD + len;
          if (frames.full) yield frames.take();
        }
        carry = data.subarray(at);
      }
      if (carry.length) throw new RbError('internal', `spill file of streamed transaction ${this.xid}: ${carry.length} bytes of a cut frame at its end`);
    }
    for (const frame of this.held) {
      frames.push(frame.subarray(FRAME_HEAD), frame.readBigInt64BE(4));
      if (frames.full) yield frames.take();
    }
    if (frames.count) yield frames.take();
  }

  /** Releases its memory and file. */
  dispose(): void {
    this.held = [];
    this.heldBytes = 0;
    if (this.fd >= 0) {
      closeSync(this.fd);
      this.fd = -1;
    }
    if (this.path) {
      try {
        unlinkSync(this.path);
      } catch {
        // gone already
      }
      this.path = null;
    }
  }

  private flush(): void {
    if (this.fd < 0) [this.fd, this.path] = this.spills.openFile(this.xid);
    const data = this.held.length === 1 ? this.held[0] : Buffer.concat(this.held, this.heldBytes);
    for (let at = 0; at < data.length; ) at += writeSync(this.fd, data, at, data.length - at, this.fileBytes + at);
    this.fileBytes += data.length;
    this.held = [];
    this.heldBytes = 0;
  }
}

/** The streamed transactions in progress on one replication stream, by top-level xid. */
export class StreamSpills {
  readonly memoryBytes: number;
  readonly chunkBytes: number;
  readonly chunkMessages: number;
  private readonly open = new Map<number, SpilledTransaction>();
  private readonly dir: string;

  constructor(opts: StreamSpillOptions = {}) {
    this.dir = opts.dir ?? tmpdir();
    this.memoryBytes = opts.memoryBytes ?? DEFAULT_MEMORY_BYTES;
    this.chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.chunkMessages = opts.chunkMessages ?? DEFAULT_CHUNK_MESSAGES;
  }

  /** Transactions streamed and neither committed nor aborted yet. */
  get inProgress(): number {
    return this.open.size;
  }

  /** The first Stream Start of `xid`: its (possibly empty) spill. */
  begin(xid: number): void {
    if (!this.open.has(xid)) this.open.set(xid, new SpilledTransaction(xid, this));
  }

  /** True while `xid` has a spill (its first segment arrived; not committed or aborted yet). */
  has(xid: number): boolean {
    return this.open.has(xid);
  }

  /** Appends a message of the stream block of `xid` (the top-level transaction the Stream Start named). */
  add(xid: number, payload: Uint8Array, lsn: bigint): void {
    let t = this.open.get(xid);
    if (!t) this.open.set(xid, (t = new SpilledTransaction(xid, this)));
    t.add(payload, lsn);
  }

  /** Stream Abort: the whole transaction (`subXid` = `xid`) is dropped, else only that subtransaction's changes. */
  abort(xid: number, subXid: number): void {
    const t = this.open.get(xid);
    if (!t) return;
    if (subXid === xid) {
      this.open.delete(xid);
      t.dispose();
    } else t.aborted.add(subXid);
  }

  /** Stream Commit: the transaction leaves the set (the caller replays, then disposes it); undefined when nothing of it was streamed. */
  take(xid: number): SpilledTransaction | undefined {
    const t = this.open.get(xid);
    this.open.delete(xid);
    return t;
  }

  /** Drops everything (the read ends: the server sends in-progress transactions again next time). */
  close(): void {
    for (const t of this.open.values()) t.dispose();
    this.open.clear();
  }

  /** @internal A new file for a transaction's messages, and its path if it could not be unlinked at once. */
  openFile(xid: number): [number, string | null] {
    const path = join(this.dir, `rb-cdc-stream-${process.pid}-${xid}-${randomBytes(6).toString('hex')}`);
    const fd = openSync(path, 'wx+', 0o600);
    try {
      unlinkSync(path);
      return [fd, null];
    } catch {
      return [fd, path];
    }
  }
}

/** Builds a MessageChunk from frames, copying their payloads into one buffer. */
class FrameCollector {
  private parts: Buffer[] = [];
  private lsnList: bigint[] = [];
  private bytes = 0;

  constructor(
    private readonly limit: number,
    private readonly maxMessages: number,
  ) {}

  get count(): number {
    return this.parts.length;
  }

  get full(): boolean {
    return this.bytes >= this.limit || this.parts.length >= this.maxMessages;
  }

  push(payload: Buffer, lsn: bigint): void {
    this.parts.push(payload);
    this.lsnList.push(lsn);
    this.bytes += payload.length;
  }

  take(): MessageChunk {
    const buf = Buffer.concat(this.parts, this.bytes);
    const offsets = new Int32Array(this.parts.length + 1);
    let at = 0;
    this.parts.forEach((p, i) => {
      offsets[i] = at;
      at += p.length;
    });
    offsets[this.parts.length] = at;
    const chunk = { buf, offsets, lsns: BigInt64Array.from(this.lsnList) };
    this.parts = [];
    this.lsnList = [];
    this.bytes = 0;
    return chunk;
  }
}
