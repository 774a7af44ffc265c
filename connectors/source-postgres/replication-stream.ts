/**
 * The streaming replication protocol client that CDC stands on (PostgreSQL docs, "Streaming
 * Replication Protocol"; the pgoutput payloads are decoded elsewhere, `codecs.pgoutputDecode`).
 *
 * Flow:
 *   1. `openReplicationConnection` opens a node-postgres client with the startup parameter
 *      `replication=database`: the backend is a walsender for `ep.database`, which takes
 *      replication commands (and plain SQL) over the simple query protocol only. The server
 *      version and `wal_sender_timeout` are read at once (SHOW), so callers can pick a pgoutput
 *      protocol version (`server.maxProtoVersion`) and status updates are timely.
 *   2. `createSlot(name, { snapshot: 'export' })` runs
 *        CREATE_REPLICATION_SLOT name [TEMPORARY] LOGICAL pgoutput (SNAPSHOT 'export')
 *      (EXPORT_SNAPSHOT before PostgreSQL 15). The server waits for the transactions running at
 *      that moment to end, then answers with the slot's consistent point and the name of an
 *      exported snapshot. Every transaction committed before the consistent point is visible in
 *      the snapshot; every later one is streamed by the slot: a copy made in that snapshot plus
 *      the stream from the consistent point loses nothing and doubles nothing.
 *      The snapshot can be imported (`BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION
 *      SNAPSHOT '<name>'`) by other connections only until this connection runs its next command
 *      (or closes). This class therefore refuses any command while the snapshot is held: import
 *      it on every connection that needs it (an importer keeps it for its own transaction), then
 *      call `releaseSnapshot()`.
 *   3. `startReplication(slot, from, { publications, protoVersion, ... })` sends
 *        START_REPLICATION SLOT slot LOGICAL X/Y (proto_version '4', publication_names '"p"', ...)
 *      The server answers CopyBothResponse ('W'); from then on both sides send CopyData:
 *        server → XLogData       'w' walStart int64, walEnd int64, sendTime int64, payload
 *                 keepalive      'k' walEnd int64, sendTime int64, replyRequested byte
 *        client → status update  'r' written int64, flushed int64, applied int64,
 *                                    clientTime int64, replyRequested byte
 *      (times: microseconds since 2000-01-01 UTC). Each XLogData holds one pgoutput message;
 *      `walStart` is the message's LSN, the `lsns` input of pgoutputDecode (0 for Relation and
 *      Type messages; logical walsenders repeat it as walEnd, so the server's position comes
 *      from keepalives).
 *   4. `stream.stop()` sends CopyDone; the server answers CopyDone, CommandComplete and
 *      ReadyForQuery, and the connection takes commands again (DROP_REPLICATION_SLOT, SQL, ...) but
 *      cannot stream again: the walsender keeps its end-of-COPY state, so another
 *      START_REPLICATION would end at once. Streaming again needs a new connection.
 *      `close()` stops a running stream and terminates.
 *
 * The rule the CDC caller must keep: the `flushed` position sent in a status update tells the
 * server it may forget everything before it (the slot's confirmed_flush_lsn; a restart resumes
 * there). It must only cover transactions whose changes are committed in the destination: send a
 * transaction's Commit `endLsn` after the destination commit that holds it, never on receipt.
 * When nothing is pending (every received transaction is committed in the destination), the
 * `walEnd` of a keepalive may be sent, so the slot advances while the published tables are idle
 * and the server does not keep WAL for nothing. Positions sent never move backwards (the stream
 * keeps the highest it was given).
 *
 * The walsender ends a connection that sends no status update for `wal_sender_timeout`. The
 * stream answers keepalives that request a reply (with the positions last given, so nothing
 * advances that the caller did not confirm) and sends a status update every `statusIntervalMs`,
 * also while the consumer is slow and the socket is paused.
 *
 * The other way round, a network that dies without a reset would leave rb waiting on a silent
 * stream (an idle slot is silent too). With tcp_user_timeout set (docs/config.md), a stream that
 * has heard nothing for half the bound asks the server for a reply (a status update with
 * replyRequested, which the walsender answers with a keepalive); unanswered for the bound —
 * the larger of tcp_user_timeout and wal_sender_timeout, since a walsender busy decoding reads
 * replies only every wal_sender_timeout / 2 — the connection is given up as lost (a retryable
 * connection error carrying the walsender's pid, for connection.ts endLostBackend: the slot stays
 * active for that walsender until it is ended). A paused socket is rb's own silence, not counted.
 *
 * Memory is bounded: received messages wait in a queue; past `highWaterBytes` the socket is
 * paused (TCP backpressure reaches the walsender) until the consumer has drained most of it.
 */
import type { Socket } from 'node:net';
import pg from 'pg';
import { RbError, classifyPgError, markTransient } from '../contract/errors.js';
import { connect, connectionError, destroySocket, queryError, writeStallMs, type PgEndpoint } from '../postgres/connection.js';
import { quoteIdent, quoteLiteral } from '../postgres/identifiers.js';
import { PG_EPOCH_UNIX_MS } from '../../native/pgoutput-types.js';
import { formatLsn, parseLsn } from './lsn.js';

/** A data message: one pgoutput message (`payload`) at `walStart`. */
export interface XLogDataMessage {
  kind: 'xlogdata';
  /**
   * LSN of the message (a change: its WAL record; a Commit: the commit record). 0n for messages
   * the walsender writes ahead of the one they belong to (Relation, Type).
   */
  walStart: bigint;
  /**
   * In logical replication the walsender repeats `walStart` here (it is not the server's end of
   * WAL, as in physical replication): take that from keepalives.
   */
  walEnd: bigint;
  /** Server clock, microseconds since 2000-01-01 UTC. */
  sendTime: bigint;
  /** The pgoutput message; a copy owned by the consumer. */
  payload: Buffer;
}

/** Primary keepalive. */
export interface KeepaliveMessage {
  kind: 'keepalive';
  /** The walsender's send position: every transaction committed before it has been sent. */
  walEnd: bigint;
  sendTime: bigint;
  /** The server ends the connection unless a status update follows soon. */
  replyRequested: boolean;
}

export type ReplicationMessage = XLogDataMessage | KeepaliveMessage;

export interface ServerInfo {
  /** `server_version_num`, e.g. 180001. */
  versionNum: number;
  /** Highest pgoutput proto_version this server speaks (`maxProtoVersionFor`). */
  maxProtoVersion: number;
  /** `wal_sender_timeout` of this session in ms (0: none). */
  walSenderTimeoutMs: number;
}

export interface IdentifySystemResult {
  systemId: string;
  timeline: number;
  /** Current WAL flush position. */
  xlogPos: bigint;
  dbName: string | null;
}

export interface ReplicationConnectionOptions {
  /**
   * Session settings sent in the startup packet (`-c name=value`) in addition to rb's usual ones,
   * e.g. `{ wal_sender_timeout: '30s', logical_decoding_work_mem: '256MB' }`.
   */
  settings?: Record<string, string>;
}

export interface CreateSlotOptions {
  /** 'export': export a snapshot (see the file header); 'nothing': no snapshot. */
  snapshot: 'export' | 'nothing';
  /** Dropped by the server when this connection ends (or on error). */
  temporary?: boolean;
  /** Decode prepared transactions at PREPARE (PostgreSQL 15+). */
  twoPhase?: boolean;
  /** Output plugin; 'pgoutput' by default. */
  plugin?: string;
}

export interface CreatedSlot {
  slot: string;
  /** Changes committed at or after this LSN are streamed; earlier ones are in the snapshot. */
  consistentPoint: bigint;
  /** Exported snapshot name (importable until `releaseSnapshot()`), or null. */
  snapshot: string | null;
  plugin: string;
}

export type StreamingMode = boolean | 'on' | 'off' | 'parallel';

export interface StartReplicationOptions {
  publications: string[];
  /** pgoutput proto_version: 1; 2 streaming (PG14); 3 two-phase (PG15); 4 parallel streaming (PG16). Default: the server's highest. */
  protoVersion?: number;
  /** Column values in binary send/recv format (PG14+). Default false. */
  binary?: boolean;
  /** Stream large in-progress transactions (`true` = 'on'). Default off. */
  streaming?: StreamingMode;
  /** Include logical decoding messages (pg_logical_emit_message). Default false. */
  messages?: boolean;
  /** Decode two-phase transactions at PREPARE (proto 3+). */
  twoPhase?: boolean;
  /** 'none': only changes without a replication origin (PG16+). */
  origin?: 'any' | 'none';
  /** Received bytes queued before the socket is paused. Default 256 KiB. */
  highWaterBytes?: number;
  /**
   * Interval of unsolicited status updates (with the positions last given), ms. Default: a third
   * of wal_sender_timeout, at most 10 s. 0: none.
   */
  statusIntervalMs?: number;
  /** Answer keepalives that request a reply at once. Default true. */
  autoReply?: boolean;
}

export interface StandbyStatus {
  /** Received and written; default `flushed`. */
  written?: bigint;
  /** Durably applied in the destination: the server may release WAL before it (see the file header). */
  flushed: bigint;
  /** Applied; default `flushed`. */
  applied?: bigint;
  /** Ask the server to answer with a keepalive at once. */
  replyRequested?: boolean;
}

/** Highest pgoutput protocol version a server speaks. */
export function maxProtoVersionFor(serverVersionNum: number): number {
  if (serverVersionNum >= 160000) return 4;
  if (serverVersionNum >= 150000) return 3;
  if (serverVersionNum >= 140000) return 2;
  return 1;
}

/** Microseconds since 2000-01-01 UTC, the protocol's clock. */
export function pgNowMicros(): bigint {
  return BigInt(Date.now() - PG_EPOCH_UNIX_MS) * 1000n;
}

const SLOT_NAME = /^[a-z0-9_]{1,63}$/;
const PLUGIN_NAME = /^[A-Za-z0-9_]{1,63}$/;
const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;
/**
 * Small on purpose: a queued message outlives young-generation collections and is copied by each
 * (then promoted), so a deep queue made garbage collection a quarter of a catch-up's CPU. A/B on
 * a 400k-change TPC-B catch-up (bench/cdc/README.md): 8 MiB → 1 MiB 0.87× the time, 1 MiB →
 * 256 KiB 0.95×, 256 → 64 KiB no difference. The kernel's socket buffer holds what comes next.
 */
const DEFAULT_HIGH_WATER = 256 << 10;
/** Bookkeeping bytes counted per queued message on top of its payload. */
const MESSAGE_OVERHEAD = 64;
const STOP_TIMEOUT_MS = 10_000;

const MSG_XLOGDATA = 0x77; // 'w'
const MSG_KEEPALIVE = 0x6b; // 'k'
const MSG_STATUS = 0x72; // 'r'

/** The part of pg's Connection we use. */
interface PgConnection {
  stream: Socket;
  query(text: string): void;
  endCopyFrom(): void;
  on(event: string, fn: (...args: unknown[]) => void): unknown;
  removeListener(event: string, fn: (...args: unknown[]) => void): unknown;
}

function rawConnection(client: pg.Client): PgConnection {
  return (client as unknown as { connection: PgConnection }).connection;
}

/** Wraps a failure as a source_query RbError, transient when classifyPgError says retryable. */
function streamError(e: unknown, context: string): RbError {
  if (e instanceof RbError) return e;
  return markTransient(queryError(e, 'source', context), classifyPgError(e) === 'retryable');
}

function checkSlotName(name: string): void {
  if (typeof name !== 'string' || !SLOT_NAME.test(name)) {
    throw new RbError('config_invalid', `invalid replication slot name ${JSON.stringify(name)}: use 1-63 lowercase letters, digits and underscores`);
  }
}

/** `-c name=value` with the escapes PostgreSQL's options parser knows (backslash, whitespace). */
function settingOption(name: string, value: string): string {
  if (!SETTING_NAME.test(name)) throw new RbError('config_invalid', `invalid setting name ${JSON.stringify(name)}`);
  return `-c ${name}=${String(value).replace(/[\\\s]/g, (c) => `\\${c}`)}`;
}

/** `wal_sender_timeout` as SHOW prints it ('60s', '500ms', '1min', '0') → ms. */
function parseDurationMs(text: string): number {
  const m = /^\s*(\d+)\s*(us|ms|s|min|h|d)?\s*$/.exec(text);
  if (!m) return 0;
  const n = Number(m[1]);
  const mult: Record<string, number> = { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };
  return n * mult[m[2] ?? 'ms'];
}

/**
 * Opens a logical replication connection (walsender) to `ep.database`, with rb's usual client
 * settings (TLS with the endpoint's sslmode, password, session options: `connect`).
 */
export async function openReplicationConnection(ep: PgEndpoint, applicationName: string, opts: ReplicationConnectionOptions = {}): Promise<ReplicationConnection> {
  const extra = Object.entries(opts.settings ?? {}).map(([k, v]) => settingOption(k, v));
  let client: pg.Client;
  try {
    // connect(): the endpoint's sslmode with libpq's fallbacks, as every other connection.
    client = await connect(ep, 'source', applicationName, { replication: 'database', extraOptions: extra.join(' ') });
  } catch (e) {
    const err = e instanceof RbError ? e : connectionError(e, ep, 'source');
    const sqlstate = err.pg?.sqlstate;
    if (sqlstate === '42501' || sqlstate === '28000') {
      throw new RbError('source_connect', `${err.message} (a replication connection needs the REPLICATION attribute and a pg_hba.conf "replication" entry)`, { pg: err.pg, cause: e });
    }
    throw err;
  }
  const conn = new ReplicationConnection(client, ep);
  try {
    await conn.init();
  } catch (e) {
    await client.end().catch(() => {});
    throw e;
  }
  return conn;
}

export class ReplicationConnection {
  readonly endpoint: PgEndpoint;
  server: ServerInfo = { versionNum: 0, maxProtoVersion: 1, walSenderTimeoutMs: 0 };
  private readonly client: pg.Client;
  private active: ReplicationStream | null = null;
  /** A stream ran (the server entered COPY mode): the walsender cannot stream again. */
  private streamedOnce = false;
  private heldSnapshot: string | null = null;
  private closed = false;

  /** Use `openReplicationConnection`. */
  constructor(client: pg.Client, endpoint: PgEndpoint) {
    this.client = client;
    this.endpoint = endpoint;
    // Errors on an idle client surface on the next command; without a listener they would crash.
    client.on('error', () => {});
  }

  /** @internal */
  async init(): Promise<void> {
    const v = await this.command<{ server_version_num: string }>('SHOW server_version_num');
    const t = await this.command<{ wal_sender_timeout: string }>('SHOW wal_sender_timeout');
    const versionNum = Number(v.rows[0]?.server_version_num);
    this.server = { versionNum, maxProtoVersion: maxProtoVersionFor(versionNum), walSenderTimeoutMs: parseDurationMs(t.rows[0]?.wal_sender_timeout ?? '0') };
  }

  /** The exported snapshot that still blocks commands (see `createSlot`), or null. */
  get snapshotHeld(): string | null {
    return this.heldSnapshot;
  }

  /**
   * Lets the connection run commands again. The exported snapshot stops being importable as soon
   * as the next command runs: call this once every connection that needs it has imported it.
   */
  releaseSnapshot(): void {
    this.heldSnapshot = null;
  }

  /** True while a START_REPLICATION stream is running. */
  get streaming(): boolean {
    return this.active !== null;
  }

  /** Runs one command (simple query protocol; replication commands or SQL). */
  async command<T extends pg.QueryResultRow = pg.QueryResultRow>(text: string): Promise<pg.QueryResult<T>> {
    this.checkIdle(text);
    try {
      return await this.client.query<T>(text);
    } catch (e) {
      throw streamError(e, `replication connection to ${this.endpoint.label}: ${text.split(/\s/, 1)[0]}`);
    }
  }

  private checkIdle(what: string): void {
    if (this.closed) throw new RbError('internal', `replication connection to ${this.endpoint.label} is closed`);
    if (this.active) throw new RbError('internal', `replication connection is streaming: stop() the stream before ${what.split(/\s/, 1)[0]}`);
    if (this.heldSnapshot !== null) {
      throw new RbError('internal', `replication connection holds exported snapshot ${this.heldSnapshot}: running ${what.split(/\s/, 1)[0]} would end it; call releaseSnapshot() first`);
    }
  }

  async identifySystem(): Promise<IdentifySystemResult> {
    const r = await this.command<{ systemid: string; timeline: string; xlogpos: string; dbname: string | null }>('IDENTIFY_SYSTEM');
    const row = r.rows[0];
    return { systemId: row.systemid, timeline: Number(row.timeline), xlogPos: parseLsn(row.xlogpos), dbName: row.dbname ?? null };
  }

  /**
   * Creates a logical slot. With `snapshot: 'export'` the returned snapshot stays importable on
   * other connections until this connection runs its next command: until `releaseSnapshot()`,
   * every command (and `startReplication`) is refused, so nothing ends it by accident. The
   * connection needs no traffic meanwhile (no wal_sender_timeout outside streaming); closing it
   * ends the snapshot too.
   * The command waits for the transactions running when it starts to finish.
   */
  async createSlot(name: string, opts: CreateSlotOptions): Promise<CreatedSlot> {
    checkSlotName(name);
    const plugin = opts.plugin ?? 'pgoutput';
    if (!PLUGIN_NAME.test(plugin)) throw new RbError('config_invalid', `invalid output plugin name ${JSON.stringify(plugin)}`);
    if (opts.snapshot !== 'export' && opts.snapshot !== 'nothing') throw new RbError('config_invalid', `createSlot: snapshot must be 'export' or 'nothing', not ${JSON.stringify(opts.snapshot)}`);
    let text = `CREATE_REPLICATION_SLOT ${name}${opts.temporary ? ' TEMPORARY' : ''} LOGICAL ${plugin}`;
    if (this.server.versionNum >= 150000) {
      const options = [`SNAPSHOT '${opts.snapshot}'`];
      if (opts.twoPhase) options.push('TWO_PHASE true');
      text += ` (${options.join(', ')})`;
    } else {
      if (opts.twoPhase) throw new RbError('config_invalid', `two-phase slots need PostgreSQL 15 or later (server ${this.server.versionNum})`);
      text += opts.snapshot === 'export' ? ' EXPORT_SNAPSHOT' : ' NOEXPORT_SNAPSHOT';
    }
    const r = await this.command<{ slot_name: string; consistent_point: string; snapshot_name: string | null; output_plugin: string | null }>(text);
    const row = r.rows[0];
    const snapshot = row.snapshot_name ?? null;
    if (opts.snapshot === 'export' && snapshot) this.heldSnapshot = snapshot;
    return { slot: row.slot_name, consistentPoint: parseLsn(row.consistent_point), snapshot, plugin: row.output_plugin ?? plugin };
  }

  /** DROP_REPLICATION_SLOT; with `wait`, waits for an active slot to become free instead of failing. */
  async dropSlot(name: string, opts: { wait?: boolean } = {}): Promise<void> {
    checkSlotName(name);
    await this.command(`DROP_REPLICATION_SLOT ${name}${opts.wait ? ' WAIT' : ''}`);
  }

  /**
   * START_REPLICATION of a logical slot from `from` (the server starts at the later of `from`
   * and the slot's confirmed_flush_lsn; 0n: wherever the slot is). Resolves once the server is
   * streaming (CopyBothResponse); an error before that (no such slot, bad option, slot active)
   * rejects with an RbError. Once per connection: after a stream, open a new connection.
   */
  async startReplication(slot: string, from: bigint, opts: StartReplicationOptions): Promise<ReplicationStream> {
    checkSlotName(slot);
    this.checkIdle('START_REPLICATION');
    if (this.streamedOnce) {
      // The walsender keeps its end-of-streaming flags after a logical COPY ends, so a second
      // START_REPLICATION would end at once (PostgreSQL 18 walsender.c, StartLogicalReplication).
      throw new RbError('internal', `replication connection to ${this.endpoint.label} has streamed once already: open a new connection to stream again`);
    }
    const protoVersion = opts.protoVersion ?? this.server.maxProtoVersion;
    if (!Number.isInteger(protoVersion) || protoVersion < 1) throw new RbError('config_invalid', `invalid pgoutput proto_version ${protoVersion}`);
    if (protoVersion > this.server.maxProtoVersion) {
      throw new RbError('config_invalid', `pgoutput proto_version ${protoVersion} needs a newer server (server_version_num ${this.server.versionNum} speaks up to ${this.server.maxProtoVersion})`);
    }
    if (!opts.publications?.length) throw new RbError('config_invalid', 'startReplication: at least one publication is needed');
    const streaming = opts.streaming === true ? 'on' : opts.streaming === false || opts.streaming === undefined ? 'off' : opts.streaming;
    if (streaming === 'on' && protoVersion < 2) throw new RbError('config_invalid', 'streaming needs pgoutput proto_version 2 or later');
    if (streaming === 'parallel' && protoVersion < 4) throw new RbError('config_invalid', "streaming 'parallel' needs pgoutput proto_version 4");
    if (opts.twoPhase && protoVersion < 3) throw new RbError('config_invalid', 'two_phase needs pgoutput proto_version 3 or later');
    if (opts.binary && this.server.versionNum < 140000) throw new RbError('config_invalid', 'pgoutput binary mode needs PostgreSQL 14 or later');
    if (opts.origin && this.server.versionNum < 160000) throw new RbError('config_invalid', 'the pgoutput origin option needs PostgreSQL 16 or later');

    const options: Array<[string, string]> = [
      ['proto_version', String(protoVersion)],
      ['publication_names', opts.publications.map((p) => quoteIdent(p)).join(',')],
    ];
    if (opts.binary) options.push(['binary', 'true']);
    if (streaming !== 'off') options.push(['streaming', streaming]);
    if (opts.messages) options.push(['messages', 'true']);
    if (opts.twoPhase) options.push(['two_phase', 'on']);
    if (opts.origin) options.push(['origin', opts.origin]);
    const text = `START_REPLICATION SLOT ${slot} LOGICAL ${formatLsn(from)} (${options.map(([k, v]) => `${quoteIdent(k)} ${quoteLiteral(v)}`).join(', ')})`;

    const timeout = this.server.walSenderTimeoutMs;
    const statusIntervalMs = opts.statusIntervalMs ?? (timeout > 0 ? Math.max(100, Math.min(10_000, Math.floor(timeout / 3))) : 10_000);
    const tcpUserTimeout = writeStallMs(this.client);
    const stream = new ReplicationStream({
      text,
      slot,
      from,
      protoVersion,
      highWaterBytes: opts.highWaterBytes ?? DEFAULT_HIGH_WATER,
      statusIntervalMs,
      autoReply: opts.autoReply ?? true,
      silenceMs: tcpUserTimeout > 0 ? Math.max(tcpUserTimeout, timeout) : 0,
      tcpUserTimeoutMs: tcpUserTimeout,
      backendPid: (this.client as unknown as { processID?: number }).processID ?? 0,
    });
    this.active = stream;
    stream.finished.then(() => {
      if (this.active === stream) this.active = null;
    });
    this.client.query(stream.submittable as unknown as pg.QueryConfig);
    try {
      await stream.started;
      this.streamedOnce = true;
    } catch (e) {
      if (this.active === stream) this.active = null;
      throw e;
    }
    return stream;
  }

  /**
   * Stops a running stream (CopyDone, waiting a few seconds for the server), then ends the
   * connection. An exported snapshot ends with it.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.active) await this.active.stop({ timeoutMs: 5000 }).catch(() => {});
    this.closed = true;
    this.heldSnapshot = null;
    const socket = rawConnection(this.client).stream;
    socket?.resume(); // a paused socket would never see the server's end
    await Promise.race([this.client.end().catch(() => {}), new Promise((r) => setTimeout(r, 5000).unref())]);
    destroySocket(this.client);
  }
}

interface StreamConfig {
  text: string;
  slot: string;
  from: bigint;
  protoVersion: number;
  highWaterBytes: number;
  statusIntervalMs: number;
  autoReply: boolean;
  /** Unanswered silence after which the connection is given up as lost (0: never). */
  silenceMs: number;
  tcpUserTimeoutMs: number;
  /** The walsender's pid (BackendKeyData), 0 if unknown. */
  backendPid: number;
}

type StreamState = 'starting' | 'streaming' | 'stopping' | 'ended';

/**
 * A running START_REPLICATION: an async iterable of messages (one consumer), plus status updates.
 * Leaving a `for await` loop early does not end the stream (iterate again, or `stop()` it).
 * An error (ErrorResponse, lost connection) is thrown by the iterator after the messages
 * received before it, as an RbError 'source_query' (SQLSTATE in `pg`; `details.transient` when
 * a retry may work).
 */
export class ReplicationStream implements AsyncIterable<ReplicationMessage> {
  readonly slot: string;
  /** The `from` LSN START_REPLICATION was sent with. */
  readonly startLsn: bigint;
  readonly protoVersion: number;
  /** Highest `walEnd` the server has reported (XLogData: the message LSN; keepalive: its send position). */
  lastWalEnd = 0n;
  /** XLogData messages received. */
  messagesReceived = 0;
  /** Positions last sent (0n until the first `sendStatus`). */
  written = 0n;
  flushed = 0n;
  applied = 0n;

  /** Resolves once the server streams (rejects with the error that prevented it). */
  readonly started: Promise<void>;
  /** Resolves when the COPY is over, whichever way (never rejects). */
  readonly finished: Promise<void>;

  /** @internal The object handed to pg's `client.query` (its Submittable interface). */
  readonly submittable: object;

  private readonly cfg: StreamConfig;
  private state: StreamState = 'starting';
  private connection: PgConnection | null = null;
  private queue: ReplicationMessage[] = [];
  private head = 0;
  private queuedBytes = 0;
  private socketPaused = false;
  private error: RbError | null = null;
  private waiters: Array<() => void> = [];
  private timer: NodeJS.Timeout | null = null;
  private liveTimer: NodeJS.Timeout | null = null;
  /** When a message last arrived (or rb's pause of the socket ended). */
  private heardAt = 0;
  /** When a reply was asked for with nothing heard since (0: none outstanding). */
  private askedAt = 0;
  private resolveStarted!: () => void;
  private rejectStarted!: (e: Error) => void;
  private resolveFinished!: () => void;
  private readonly onCopyBoth = () => this.handleCopyBoth();

  /** Use `ReplicationConnection.startReplication`. */
  constructor(cfg: StreamConfig) {
    this.cfg = cfg;
    this.slot = cfg.slot;
    this.startLsn = cfg.from;
    this.protoVersion = cfg.protoVersion;
    this.started = new Promise<void>((resolve, reject) => {
      this.resolveStarted = resolve;
      this.rejectStarted = reject;
    });
    this.started.catch(() => {});
    this.finished = new Promise<void>((resolve) => {
      this.resolveFinished = resolve;
    });
    const self = this;
    this.submittable = {
      text: cfg.text,
      submit(connection: PgConnection) {
        self.connection = connection;
        connection.on('replicationStart', self.onCopyBoth);
        connection.query(cfg.text);
      },
      handleCopyData(msg: { chunk: Buffer }) {
        self.handleCopyData(msg.chunk);
      },
      handleError(err: unknown) {
        self.handleError(err);
      },
      handleReadyForQuery() {
        if (self.state === 'streaming') {
          // The server left COPY mode on its own (it does so when shutting down).
          self.fail(markTransient(new RbError('source_query', `replication stream on slot ${cfg.slot}: the server ended the stream`), true));
        }
        self.end();
      },
      handleCommandComplete() {},
      handleRowDescription() {},
      handleDataRow() {},
      handleEmptyQuery() {},
      handlePortalSuspended() {},
      handleCopyInResponse() {},
    };
  }

  /** Bytes of received messages waiting for the consumer. */
  get bufferedBytes(): number {
    return this.queuedBytes;
  }

  /** Messages waiting for the consumer. */
  get bufferedMessages(): number {
    return this.queue.length - this.head;
  }

  /** True while the socket is paused because the queue is full. */
  get paused(): boolean {
    return this.socketPaused;
  }

  /** True once the COPY is over without an error and every message was taken. */
  get ended(): boolean {
    return this.state === 'ended' && this.head >= this.queue.length && this.error === null;
  }

  /** The error that ended the stream (thrown by the iterator once the messages before it are taken), or null. */
  get failure(): RbError | null {
    return this.error;
  }

  private handleCopyBoth(): void {
    if (this.state !== 'starting') return;
    this.state = 'streaming';
    if (this.cfg.statusIntervalMs > 0) {
      this.timer = setInterval(() => this.writeStatus(false), this.cfg.statusIntervalMs);
      this.timer.unref();
    }
    this.heardAt = performance.now();
    if (this.cfg.silenceMs > 0) {
      this.liveTimer = setInterval(() => this.checkAlive(), Math.max(100, Math.min(this.cfg.silenceMs / 4, 5000)));
      this.liveTimer.unref();
    }
    this.resolveStarted();
  }

  /** The liveness check of a silent stream (file header). */
  private checkAlive(): void {
    if (this.state !== 'streaming') return;
    const now = performance.now();
    if (this.socketPaused) {
      // rb is not reading: the silence is its own.
      this.heardAt = now;
      this.askedAt = 0;
      return;
    }
    if (!this.askedAt && now - this.heardAt >= this.cfg.silenceMs / 2) this.writeStatus(true);
    if (!this.askedAt || now - this.askedAt < this.cfg.silenceMs) return;
    const ms = this.cfg.silenceMs;
    const pid = this.cfg.backendPid;
    const cause = Object.assign(
      new Error(
        `the server sent nothing for ${ms / 1000} s and did not answer rb's request for a reply (tcp_user_timeout ${this.cfg.tcpUserTimeoutMs} ms, at least wal_sender_timeout): the network or the server stopped`,
      ),
      { code: 'ETIMEDOUT', errno: -110, syscall: 'read', ...(pid ? { lostBackendPid: pid } : {}) },
    );
    this.fail(streamError(cause, `replication stream on slot ${this.slot}`));
    this.connection?.stream.destroy();
  }

  private handleCopyData(chunk: Buffer): void {
    this.heardAt = performance.now();
    this.askedAt = 0;
    const type = chunk[0];
    if (type === MSG_XLOGDATA && chunk.length >= 25) {
      const walEnd = chunk.readBigUInt64BE(9);
      if (walEnd > this.lastWalEnd) this.lastWalEnd = walEnd;
      if (this.state !== 'streaming') return; // stopping: the consumer is gone
      this.messagesReceived++;
      // A copy: pg's parser may reuse the buffer `chunk` points into once this call returns.
      const payload = Buffer.from(chunk.subarray(25));
      this.push({ kind: 'xlogdata', walStart: chunk.readBigUInt64BE(1), walEnd, sendTime: chunk.readBigInt64BE(17), payload }, payload.length);
      return;
    }
    if (type === MSG_KEEPALIVE && chunk.length >= 18) {
      const walEnd = chunk.readBigUInt64BE(1);
      if (walEnd > this.lastWalEnd) this.lastWalEnd = walEnd;
      const replyRequested = chunk[17] !== 0;
      if (replyRequested && (this.cfg.autoReply || this.state === 'stopping')) this.writeStatus(false);
      if (this.state !== 'streaming') return;
      this.push({ kind: 'keepalive', walEnd, sendTime: chunk.readBigInt64BE(9), replyRequested }, 0);
      return;
    }
    // Not a message this protocol has: the stream cannot be trusted any more.
    this.fail(new RbError('source_query', `replication stream on slot ${this.slot}: unexpected CopyData message (type 0x${(type ?? 0).toString(16)}, ${chunk.length} bytes)`));
    if (this.connection) this.connection.stream.destroy();
  }

  private push(m: ReplicationMessage, bytes: number): void {
    this.queue.push(m);
    this.queuedBytes += bytes + MESSAGE_OVERHEAD;
    if (!this.socketPaused && this.queuedBytes >= this.cfg.highWaterBytes && this.connection) {
      this.socketPaused = true;
      this.connection.stream.pause();
    }
    this.wake();
  }

  private handleError(err: unknown): void {
    const wrapped = streamError(err, `replication stream on slot ${this.slot}`);
    if (this.state === 'starting') {
      this.rejectStarted(wrapped);
    } else if (this.state === 'streaming') {
      this.error ??= wrapped;
    }
    // While stopping the consumer is gone: stop() resolves, the connection reports the error next.
    this.end();
  }

  private fail(err: RbError): void {
    if (this.state === 'starting') this.rejectStarted(err);
    else this.error ??= err;
    this.wake();
  }

  private end(): void {
    if (this.state === 'ended') return;
    if (this.state === 'starting') this.rejectStarted(new RbError('source_query', `replication stream on slot ${this.slot}: the server ended the command without streaming`));
    this.state = 'ended';
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.liveTimer) clearInterval(this.liveTimer);
    this.liveTimer = null;
    if (this.connection) {
      this.connection.removeListener('replicationStart', this.onCopyBoth);
      if (this.socketPaused) {
        this.socketPaused = false;
        this.connection.stream.resume();
      }
    }
    this.resolveFinished();
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private take(max: number): ReplicationMessage[] {
    const end = Math.min(this.queue.length, this.head + max);
    const out = this.queue.slice(this.head, end);
    this.head = end;
    for (const m of out) this.queuedBytes -= (m.kind === 'xlogdata' ? m.payload.length : 0) + MESSAGE_OVERHEAD;
    if (this.head >= this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.socketPaused && this.queuedBytes <= this.cfg.highWaterBytes / 4 && this.connection) {
      this.socketPaused = false;
      this.heardAt = performance.now();
      this.connection.stream.resume();
    }
    return out;
  }

  /**
   * Up to `max` queued messages: waits for at least one, or `timeoutMs` (then resolves []).
   * Resolves [] once the stream has ended; throws the stream's error after the messages before it.
   */
  async read(max = Number.POSITIVE_INFINITY, timeoutMs?: number): Promise<ReplicationMessage[]> {
    let deadline = false;
    let timer: NodeJS.Timeout | null = null;
    try {
      for (;;) {
        if (this.head < this.queue.length) return this.take(max);
        if (this.error) throw this.error;
        if (this.state === 'ended' || deadline) return [];
        await new Promise<void>((resolve) => {
          this.waiters.push(resolve);
          if (timeoutMs !== undefined && !timer) {
            timer = setTimeout(() => {
              deadline = true;
              this.wake();
            }, timeoutMs);
          }
        });
      }
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  async next(): Promise<IteratorResult<ReplicationMessage, undefined>> {
    const [m] = await this.read(1);
    return m ? { value: m, done: false } : { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): AsyncIterator<ReplicationMessage, undefined> {
    return {
      next: () => this.next(),
      return: async () => ({ value: undefined, done: true }),
    };
  }

  /**
   * Sends a standby status update ('r'). `flushed` must only cover what the destination has
   * committed (see the file header). Positions never move backwards: each is the highest given
   * so far. Returns false when the stream is no longer running (nothing sent).
   */
  sendStatus(status: StandbyStatus): boolean {
    for (const [k, v] of Object.entries(status)) {
      if (k !== 'replyRequested' && v !== undefined && (typeof v !== 'bigint' || v < 0n || v >= 1n << 64n)) {
        throw new RbError('internal', `sendStatus: ${k} must be an LSN (bigint), got ${String(v)}`);
      }
    }
    const max = (a: bigint, b: bigint | undefined) => (b !== undefined && b > a ? b : a);
    this.flushed = max(this.flushed, status.flushed);
    this.written = max(max(this.written, status.written), this.flushed);
    this.applied = max(this.applied, status.applied ?? status.flushed);
    return this.writeStatus(status.replyRequested ?? false);
  }

  private writeStatus(replyRequested: boolean): boolean {
    if ((this.state !== 'streaming' && this.state !== 'stopping') || !this.connection) return false;
    const socket = this.connection.stream;
    if (!socket.writable) return false;
    // CopyData('d', length 4 + 34) around the 34-byte status update.
    const buf = Buffer.allocUnsafe(39);
    buf[0] = 0x64;
    buf.writeInt32BE(38, 1);
    buf[5] = MSG_STATUS;
    buf.writeBigUInt64BE(this.written, 6);
    buf.writeBigUInt64BE(this.flushed, 14);
    buf.writeBigUInt64BE(this.applied, 22);
    buf.writeBigInt64BE(pgNowMicros(), 30);
    buf[38] = replyRequested ? 1 : 0;
    socket.write(buf);
    if (replyRequested && !this.askedAt) this.askedAt = performance.now();
    return true;
  }

  /**
   * Ends the stream: sends the positions last given and CopyDone, drops what is still queued or
   * arrives, and waits for the server to end the COPY (CopyDone, CommandComplete, ReadyForQuery);
   * the connection then takes commands again (but cannot stream again). After `timeoutMs` (default 10 s) the socket is
   * destroyed instead.
   */
  async stop(opts: { timeoutMs?: number } = {}): Promise<void> {
    if (this.state === 'starting') await this.started.catch(() => {});
    if (this.state === 'streaming' && this.connection) {
      this.state = 'stopping';
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      if (this.liveTimer) clearInterval(this.liveTimer);
      this.liveTimer = null;
      if (this.flushed > 0n) this.writeStatus(false);
      this.queue = [];
      this.head = 0;
      this.queuedBytes = 0;
      if (this.socketPaused) {
        this.socketPaused = false;
        this.connection.stream.resume();
      }
      this.connection.endCopyFrom();
      this.wake();
    }
    let timer: NodeJS.Timeout | null = null;
    const timedOut = await Promise.race([
      this.finished.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), opts.timeoutMs ?? STOP_TIMEOUT_MS);
      }),
    ]);
    if (timer) clearTimeout(timer);
    if (timedOut && this.connection) {
      this.connection.stream.destroy();
      await this.finished;
    }
  }
}
