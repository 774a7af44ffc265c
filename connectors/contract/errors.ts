/**
 * rb's one error type. Every failure that reaches the user is an RbError with a string-literal
 * `code`; the code decides the exit status (docs/design.md section 11):
 *   0 ok, 1 internal, 2 bad config or arguments, 3 source error, 4 destination error,
 *   5 data error (`on_data_error: fail`).
 * Postgres errors are kept as data (SQLSTATE, detail, table, constraint) in `pg`, so callers can
 * classify them with `classifyPgError` without parsing messages.
 */

export type RbErrorCode =
  | 'config_invalid'
  | 'config_missing_var'
  | 'config_parse'
  | 'usage'
  | 'source_connect'
  | 'source_query'
  | 'source_missing_table'
  | 'source_missing_column'
  | 'dest_connect'
  | 'dest_query'
  | 'dest_prepare'
  | 'data_error'
  | 'codec'
  | 'cancelled'
  | 'internal';

export const EXIT_OK = 0;
export const EXIT_INTERNAL = 1;
export const EXIT_CONFIG = 2;
export const EXIT_SOURCE = 3;
export const EXIT_DESTINATION = 4;
export const EXIT_DATA = 5;
/** Stopped by SIGINT/SIGTERM (128 + SIGINT, as shells report it). */
export const EXIT_CANCELLED = 130;

const EXIT_BY_CODE: Record<RbErrorCode, number> = {
  config_invalid: EXIT_CONFIG,
  config_missing_var: EXIT_CONFIG,
  config_parse: EXIT_CONFIG,
  usage: EXIT_CONFIG,
  source_connect: EXIT_SOURCE,
  source_query: EXIT_SOURCE,
  source_missing_table: EXIT_SOURCE,
  source_missing_column: EXIT_SOURCE,
  dest_connect: EXIT_DESTINATION,
  dest_query: EXIT_DESTINATION,
  dest_prepare: EXIT_DESTINATION,
  data_error: EXIT_DATA,
  codec: EXIT_INTERNAL,
  cancelled: EXIT_CANCELLED,
  internal: EXIT_INTERNAL,
};

/** Postgres error fields kept as data (pg-protocol's DatabaseError shape). */
export interface PgErrorInfo {
  sqlstate?: string;
  detail?: string;
  hint?: string;
  table?: string;
  column?: string;
  constraint?: string;
  where?: string;
}

export interface RbErrorOptions {
  cause?: unknown;
  stream?: string;
  shard?: number;
  pg?: PgErrorInfo;
  /** Extra structured context for --json output (never secrets). */
  details?: Record<string, unknown>;
}

export class RbError extends Error {
  readonly code: RbErrorCode;
  stream?: string;
  shard?: number;
  readonly pg?: PgErrorInfo;
  readonly details?: Record<string, unknown>;

  constructor(code: RbErrorCode, message: string, options: RbErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RbError';
    this.code = code;
    this.stream = options.stream;
    this.shard = options.shard;
    this.pg = options.pg;
    this.details = options.details;
  }

  get exitCode(): number {
    return EXIT_BY_CODE[this.code];
  }

  /** Plain object for --json output and for crossing worker-thread boundaries. */
  toJSON(): SerializedRbError {
    return {
      code: this.code,
      message: this.message,
      ...(this.stream !== undefined ? { stream: this.stream } : {}),
      ...(this.shard !== undefined ? { shard: this.shard } : {}),
      ...(this.pg?.sqlstate ? { sqlstate: this.pg.sqlstate } : {}),
      ...(this.pg && Object.keys(this.pg).length ? { pg: this.pg } : {}),
      ...(this.details ? { details: this.details } : {}),
    };
  }

  static fromJSON(s: SerializedRbError): RbError {
    return new RbError(s.code, s.message, { stream: s.stream, shard: s.shard, pg: s.pg, details: s.details });
  }
}

export interface SerializedRbError {
  code: RbErrorCode;
  message: string;
  stream?: string;
  shard?: number;
  sqlstate?: string;
  pg?: PgErrorInfo;
  details?: Record<string, unknown>;
}

export function isRbError(e: unknown): e is RbError {
  return e instanceof RbError;
}

/** Extracts Postgres error fields from a pg DatabaseError (or anything shaped like one). */
export function pgErrorInfo(e: unknown): PgErrorInfo | undefined {
  if (!e || typeof e !== 'object') return undefined;
  const o = e as Record<string, unknown>;
  // Node socket errors (EPIPE, ECONNRESET) also carry `code`; they have `syscall`/`errno`.
  if ('syscall' in o || 'errno' in o) return undefined;
  if (typeof o.code !== 'string' || !/^[0-9A-Z]{5}$/.test(o.code)) return undefined;
  const info: PgErrorInfo = { sqlstate: o.code };
  for (const k of ['detail', 'hint', 'table', 'column', 'constraint', 'where'] as const) {
    if (typeof o[k] === 'string' && o[k]) info[k] = o[k] as string;
  }
  return info;
}

/** Messages node-postgres gives when the connection itself is gone. */
const CONNECTION_LOST = /Connection terminated|connection.*(closed|ended)|connection error|not queryable/i;

/**
 * True when the connection broke (a socket error such as EPIPE/ECONNRESET, or node-postgres
 * reporting a terminated or unusable client), as opposed to an error the server sent.
 */
export function isConnectionError(e: unknown): boolean {
  if (!e || typeof e !== 'object') return false;
  if ('syscall' in e || 'errno' in e) return true;
  return CONNECTION_LOST.test((e as { message?: string }).message ?? '');
}

export type PgErrorClass = 'retryable' | 'fatal' | 'data';

/**
 * The one place that classifies Postgres failures (docs/design.md section 7).
 * retryable: connection loss, serialization failure, deadlock, admin shutdown, too many clients.
 * data: a row the destination rejects (bad value, constraint) — candidates for skip/dlq.
 * fatal: everything else (permissions, missing objects, syntax).
 */
export function classifyPgError(e: unknown): PgErrorClass {
  const info = pgErrorInfo(e);
  if (!info?.sqlstate) {
    const code = (e as { code?: string } | null)?.code;
    if (code && ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT'].includes(code)) return 'retryable';
    const msg = e instanceof Error ? e.message : '';
    if (CONNECTION_LOST.test(msg)) return 'retryable';
    return 'fatal';
  }
  const s = info.sqlstate;
  const cls = s.slice(0, 2);
  if (cls === '08') return 'retryable'; // connection exception
  if (s === '40001' || s === '40P01') return 'retryable'; // serialization failure, deadlock
  if (s === '57P01' || s === '57P02' || s === '57P03') return 'retryable'; // admin/crash shutdown, cannot connect now
  if (s === '53300') return 'retryable'; // too many connections
  // A COPY stream rb framed wrongly (bad file format, binary representation) is rb's fault, not a row's.
  if (s === '22P03' || s === '22P04') return 'fatal';
  if (cls === '22' || cls === '23') return 'data'; // data exception, integrity constraint
  return 'fatal';
}

/**
 * What kind of failure an error is, in a small, stable set (the label of `rb_errors_total` and
 * `rb_retries_total`, `error.class` in `--json`; docs/design.md section 16). The SQLSTATE decides
 * first (a dest_query can be a lost connection, a permission or a missing table), then the code:
 *   connection  could not connect, or the connection broke (08, 57P01-03, 53300, socket errors)
 *   permission  authentication or privileges (28, 42501)
 *   conflict    serialization failure, deadlock (40001, 40P01)
 *   schema      a missing or mismatched table, column, type or schema (42P01, 42703, 42704, 3F000, 42804,
 *               3D000; rb's own checks of the target: dest_prepare)
 *   data        a value or row the destination rejects (22, 23; data_error)
 *   query       any other statement the server refused (timeouts, resources, syntax)
 *   config      the pipeline or the arguments (exit 2)
 *   internal    rb's own fault (exit 1)
 *   cancelled   SIGINT/SIGTERM
 */
export const ERROR_CLASSES = ['connection', 'permission', 'conflict', 'schema', 'data', 'query', 'config', 'internal', 'cancelled'] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];

const SCHEMA_SQLSTATES = new Set(['42P01', '42703', '42704', '3F000', '42804', '3D000']);

export function errorClass(e: { code: string; sqlstate?: string; pg?: PgErrorInfo; details?: Record<string, unknown> }): ErrorClass {
  switch (e.code as RbErrorCode) {
    case 'config_invalid':
    case 'config_missing_var':
    case 'config_parse':
    case 'usage':
      return 'config';
    case 'internal':
    case 'codec':
      return 'internal';
    case 'cancelled':
      return 'cancelled';
    default:
      break;
  }
  const s = e.sqlstate ?? e.pg?.sqlstate;
  if (s) {
    if (s.startsWith('08') || s === '57P01' || s === '57P02' || s === '57P03' || s === '53300') return 'connection';
    if (s.startsWith('28') || s === '42501') return 'permission';
    if (s === '40001' || s === '40P01') return 'conflict';
    if (SCHEMA_SQLSTATES.has(s)) return 'schema';
    if ((s.startsWith('22') || s.startsWith('23')) && s !== '22P03' && s !== '22P04') return 'data';
    return 'query';
  }
  switch (e.code as RbErrorCode) {
    case 'source_connect':
    case 'dest_connect':
      return 'connection';
    case 'source_missing_table':
    case 'source_missing_column':
    case 'dest_prepare': // rb's own checks of the target: columns, types, schema_evolution
      return 'schema';
    case 'data_error':
      return 'data';
    default:
      // A transient failure without a server error is a connection that broke (markTransient).
      return e.details?.transient === true ? 'connection' : 'query';
  }
}

/**
 * Marks whether a stage's failure is transient (connection loss, admin shutdown, serialization
 * failure, deadlock: classifyPgError) in the error's details, which survive the trip to the main
 * thread, where the scheduler decides to retry the shard (engine/runtime/shard-pool.ts).
 */
export function markTransient(err: RbError, transient: boolean): RbError {
  if (transient) (err as { details?: Record<string, unknown> }).details = { ...err.details, transient: true };
  return err;
}

/** True for an error the scheduler may retry the shard for: marked transient, or a failed connect. */
export function isTransient(err: RbError): boolean {
  return err.details?.transient === true || err.code === 'source_connect' || err.code === 'dest_connect';
}

/** Removes a password from a connection URL or any message that may echo it. */
export function redact(text: string, secrets: Array<string | undefined> = []): string {
  let out = text.replace(/(postgres(?:ql)?:\/\/[^:/@\s]*:)([^@\s]*)@/gi, '$1***@');
  for (const s of secrets) if (s && s.length >= 1) out = out.split(s).join('***');
  return out;
}

export const Errors = {
  configInvalid(path: string, message: string, details?: Record<string, unknown>): RbError {
    return new RbError('config_invalid', path ? `${path}: ${message}` : message, { details });
  },
  usage(message: string): RbError {
    return new RbError('usage', message);
  },
  internal(message: string, cause?: unknown): RbError {
    return new RbError('internal', message, { cause });
  },
  codec(message: string): RbError {
    return new RbError('codec', message);
  },
  cancelled(reason = 'cancelled'): RbError {
    return new RbError('cancelled', reason);
  },
};
