/**
 * Rows the destination rejects (docs/design.md section 9): a CHECK or NOT NULL constraint, a value
 * too long or out of range, a unique index — `classifyPgError(e) === 'data'`.
 *
 * The fast path never pays for this: a shard's COPY runs whole, and when the destination rejects
 * a row the shard's transaction rolls back and the shard is run again in isolation mode
 * (`WriteTask.isolate`, engine/runtime/shard-pool.ts) under the same snapshot. There, chunks are
 * read as COPY text (one row a line) and each is written under a savepoint; a chunk that fails is
 * cut down to its bad rows: the server names the failing line (`COPY t, line N`), so the rows
 * before it are written at once, that row is bad, and the rest is halved and tried again (an
 * INSERT names no line: halves only). The cost is proportional to the bad rows, times the log of
 * a chunk's rows. Bad rows are dropped (`skip`), written to `<state schema>.dlq` in the shard's
 * own transaction (`dlq`), or stop the run naming the row (`fail`, exit 5).
 */
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { BadRowPolicy } from '../contract/connector.js';
import type { DataErrorPolicy } from '../contract/domain.js';
import { classifyPgError, pgErrorInfo, RbError, type PgErrorInfo } from '../contract/errors.js';
import type { WriteContract } from '../contract/write-contract.js';
import { quoteIdent, quoteQualified } from '../postgres/identifiers.js';
import { parseCopyTextRows } from './copy-text.js';
import { InsertWriter } from './insert-writer.js';

/** A failure that is a row's fault (not the connection's, not rb's): the candidates for skip/dlq. */
export function isDataError(e: unknown): boolean {
  return classifyPgError(e) === 'data';
}

/** The 1-based line of a COPY that failed (`COPY t, line 3: …`), when the server says it. */
export function failedCopyLine(info: PgErrorInfo | undefined): number | null {
  const m = info?.where ? /^COPY .*?, line (\d+)/.exec(info.where) : null;
  return m ? Number(m[1]) : null;
}

/** The column a value error names (`COPY t, line 2, column s: "…"`), else the server's column field. */
function failedColumn(info: PgErrorInfo | undefined): string | null {
  if (info?.column) return info.column;
  const m = info?.where ? /^COPY .*?, line \d+, column (.+?): / .exec(info.where) : null;
  return m ? m[1] : null;
}

/** The server's message, with an upsert's staging table called by its target's name. */
function messageOf(e: unknown, contract?: WriteContract): string {
  const msg = e instanceof Error ? e.message : String(e);
  return contract?.staging ? msg.split(`relation "${contract.staging.table}"`).join(`relation "${contract.target.table}"`) : msg;
}

function describe(e: unknown, contract?: WriteContract): string {
  const info = pgErrorInfo(e);
  const msg = messageOf(e, contract);
  return `${msg}${info?.sqlstate ? ` (SQLSTATE ${info.sqlstate}${info.constraint ? `, constraint ${info.constraint}` : ''})` : ''}`;
}

/**
 * The error of a shard's attempt when the destination rejected a row: `isolate` asks the scheduler
 * for the isolating attempt, which finds the row (and, under `fail`, names it by its key).
 * `rowBase`: rows the shard wrote before the failing COPY (committed checkpoints aside).
 */
export function rejectedRowError(task: { stream: string; shardIndex: number }, e: unknown, rowBase: number, isolate: boolean): RbError {
  const info = pgErrorInfo(e);
  const line = failedCopyLine(info);
  const where = line ? `row ${rowBase + line} of the shard` : 'a row';
  return new RbError('data_error', `${task.stream} shard ${task.shardIndex}: ${where} was rejected by the destination: ${describe(e)}`, {
    stream: task.stream,
    shard: task.shardIndex,
    pg: info,
    details: { isolate },
    cause: e,
  });
}

interface DeadLetter {
  rowNumber: number;
  row: Record<string, string | null>;
  error: string;
  detail: string | null;
  sqlstate: string | null;
  constraint: string | null;
  column: string | null;
}

/** Dead letters per INSERT statement (11 parameters each). */
const DLQ_BATCH = 500;

/** Why a row was rejected: the destination's error, or a `validate` rule (no SQLSTATE). */
export interface Rejection {
  message: string;
  detail?: string | null;
  sqlstate?: string | null;
  constraint?: string | null;
  column?: string | null;
}

/**
 * The rows of one shard that are not written, by `policy`: `fail` throws a data error naming the
 * row (by its key, else its position), `skip` counts, `dlq` counts and keeps a dead letter until
 * `flush` writes the pending ones into the shard's open transaction.
 */
export class Rejections {
  skipped = 0;
  deadLettered = 0;
  /** Values written as NULL because the destination's type did not take them (type_change: null). */
  nulled = 0;
  private readonly pending: DeadLetter[] = [];

  constructor(
    private readonly client: pg.Client,
    private readonly columns: readonly string[],
    private readonly policy: BadRowPolicy,
    private readonly task: { stream: string; shardIndex: number },
  ) {}

  /** `values`: the row's text forms; `rowNumber`: its position in the shard, from 1. */
  reject(values: ReadonlyArray<string | null>, rowNumber: number, why: Rejection, policy: DataErrorPolicy = this.policy.policy, cause?: unknown): void {
    const row: Record<string, string | null> = {};
    this.columns.forEach((c, i) => (row[c] = values[i]));
    if (policy === 'fail') {
      const key = this.policy.rowKey.filter((k) => k in row);
      const which = key.length ? `the row with ${key.map((k) => `${k} = ${row[k] === null ? 'NULL' : JSON.stringify(row[k])}`).join(', ')}` : `row ${rowNumber} of the shard`;
      const code = why.sqlstate ? ` (SQLSTATE ${why.sqlstate}${why.constraint ? `, constraint ${why.constraint}` : ''})` : '';
      throw new RbError('data_error', `${this.task.stream} shard ${this.task.shardIndex}: ${which} was rejected${why.sqlstate ? ' by the destination' : ''}: ${why.message}${code}${why.detail ? ` — ${why.detail}` : ''} (${why.sqlstate ? 'destination.on_data_error' : 'validate on_fail'}: fail)`, {
        stream: this.task.stream,
        shard: this.task.shardIndex,
        pg: cause ? pgErrorInfo(cause) : undefined,
        details: { row_number: rowNumber, ...(key.length ? { key: Object.fromEntries(key.map((k) => [k, row[k]])) } : {}) },
      });
    }
    if (policy === 'skip') {
      this.skipped++;
      return;
    }
    this.deadLettered++;
    this.pending.push({ rowNumber, row, error: why.message, detail: why.detail ?? null, sqlstate: why.sqlstate ?? null, constraint: why.constraint ?? null, column: why.column ?? null });
  }

  /**
   * A row written with `columns` NULL because their values did not fit the destination's type
   * (`type_change: null`): counted, and under `dlq` recorded with the values it had.
   */
  nulledValues(values: ReadonlyArray<string | null>, rowNumber: number, columns: readonly string[], why: Rejection): void {
    this.nulled += columns.length;
    if (this.policy.policy !== 'dlq') return;
    const row: Record<string, string | null> = {};
    this.columns.forEach((c, i) => (row[c] = values[i]));
    this.pending.push({ rowNumber, row, error: `${why.message}; written with ${columns.join(', ')} NULL (schema_evolution.type_change: null)`, detail: why.detail ?? null, sqlstate: why.sqlstate ?? null, constraint: why.constraint ?? null, column: columns[0] });
  }

  /** Writes the dead letters collected so far (in the shard's transaction). */
  async flush(): Promise<void> {
    const t = `${quoteIdent(this.policy.schema)}.dlq`;
    while (this.pending.length) {
      const batch = this.pending.splice(0, DLQ_BATCH);
      const params: unknown[] = [];
      const tuples = batch.map((d) => {
        const at = params.length;
        params.push(this.policy.pipeline, this.policy.runId, this.task.stream, this.task.shardIndex, d.rowNumber, JSON.stringify(d.row), d.error, d.detail, d.sqlstate, d.constraint, d.column);
        return `(${Array.from({ length: 11 }, (_, i) => `$${at + i + 1}`).join(', ')})`;
      });
      await this.client.query(
        `insert into ${t} (pipeline, run_id, stream, shard, row_number, row_data, error, detail, sqlstate, constraint_name, column_name) values ${tuples.join(', ')}`,
        params,
      );
    }
  }
}

/**
 * Writes one shard's text chunks under savepoints, isolating the rows the destination rejects
 * (module comment) into `rejections`. Runs inside the shard's open transaction.
 */
export class RowIsolator {
  rowsWritten = 0;
  /** Rows of the shard consumed so far (the position of the next chunk's first row). */
  private position = 0;
  private readonly insert: InsertWriter | null;
  private readonly columns: string[];

  constructor(
    private readonly client: pg.Client,
    private readonly contract: WriteContract,
    private readonly rejections: Rejections,
    private readonly task: { stream: string; shardIndex: number },
  ) {
    if (contract.format !== 'text') throw new RbError('internal', `${task.stream}: row isolation needs text chunks`);
    this.insert = contract.loadMethod === 'insert' ? new InsertWriter(client, contract) : null;
    this.columns = contract.columns.map((c) => c.name);
  }

  /** Writes a chunk of whole COPY text rows; `position`: the shard position of its first row (0-based). */
  async writeChunk(bytes: Uint8Array, position = this.position): Promise<void> {
    const lines = splitLines(bytes);
    await this.segment(lines, position);
    this.position = position + lines.length;
  }

  /** `lines` start at shard position `base` (0-based). */
  private async segment(lines: Buffer[], base: number): Promise<void> {
    if (!lines.length) return;
    const err = await this.attempt(lines);
    if (!err) {
      this.rowsWritten += lines.length;
      return;
    }
    if (lines.length === 1) return await this.bad(lines[0], base, err);
    const line = this.insert ? null : failedCopyLine(pgErrorInfo(err));
    if (line !== null && line >= 1 && line <= lines.length) {
      // The rows before the failing line went in fine until it: write them, the line is bad.
      await this.segment(lines.slice(0, line - 1), base);
      await this.bad(lines[line - 1], base + line - 1, err);
      const rest = lines.slice(line);
      const mid = Math.ceil(rest.length / 2);
      await this.segment(rest.slice(0, mid), base + line);
      await this.segment(rest.slice(mid), base + line + mid);
      return;
    }
    const mid = Math.ceil(lines.length / 2);
    await this.segment(lines.slice(0, mid), base);
    await this.segment(lines.slice(mid), base + mid);
  }

  /** Writes `lines` under a savepoint; returns the data error that rolled them back, or null. */
  private async attempt(lines: Buffer[]): Promise<unknown> {
    await this.client.query('savepoint rb_rows');
    try {
      if (this.insert) await this.insert.writeTextRows(parseCopyTextRows(Buffer.concat(lines), this.columns.length));
      else await this.copy(Buffer.concat(lines), lines.length);
      await this.client.query('release savepoint rb_rows');
      return null;
    } catch (e) {
      if (!isDataError(e)) throw e;
      await this.client.query('rollback to savepoint rb_rows');
      await this.client.query('release savepoint rb_rows');
      return e;
    }
  }

  private async copy(bytes: Buffer, rows: number): Promise<void> {
    const cols = this.columns.map(quoteIdent).join(', ');
    const stream = this.client.query(copyFrom(`copy ${quoteQualified(this.contract.writeTable)} (${cols}) from stdin`));
    await new Promise<void>((resolve, reject) => {
      stream.on('error', reject);
      stream.on('finish', resolve);
      stream.end(bytes);
    });
    const n = Number(stream.rowCount ?? 0);
    if (n !== rows) throw new RbError('internal', `${this.task.stream} shard ${this.task.shardIndex}: destination reports ${n} rows, rb counted ${rows}`);
  }

  /**
   * One row the destination rejected: written with NULL where `type_change: null` lets a value that
   * does not fit become NULL (retried, a column at a time), else rejected.
   */
  private async bad(line: Buffer, index: number, err: unknown): Promise<void> {
    const misfit = this.contract.nullOnMisfit ?? [];
    let current = line;
    let e = err;
    const nulled: string[] = [];
    while (misfit.length) {
      const info = pgErrorInfo(e);
      if (info?.sqlstate?.slice(0, 2) !== '22') break;
      // COPY names the column; an INSERT does not: try the listed ones in turn.
      const named = failedColumn(info);
      const col = named ? (misfit.includes(named) && !nulled.includes(named) ? named : undefined) : misfit.find((c) => !nulled.includes(c));
      if (!col) break;
      current = withNull(current, this.columns.indexOf(col));
      nulled.push(col);
      const again = await this.attempt([current]);
      if (!again) {
        this.rowsWritten++;
        this.rejections.nulledValues(parseCopyTextRows(line, this.columns.length)[0], index + 1, nulled, { message: messageOf(err, this.contract), detail: info.detail, sqlstate: info.sqlstate, column: col });
        return;
      }
      e = again;
    }
    this.reject(line, index, e);
  }

  private reject(line: Buffer, index: number, err: unknown): void {
    const info = pgErrorInfo(err);
    const values = parseCopyTextRows(line, this.columns.length)[0];
    this.rejections.reject(values, index + 1, { message: messageOf(err, this.contract), detail: info?.detail, sqlstate: info?.sqlstate, constraint: info?.constraint, column: failedColumn(info) }, undefined, err);
  }
}

/** A COPY text line with field `i` replaced by NULL (fields are tab-separated; a tab in a value is escaped). */
function withNull(line: Buffer, i: number): Buffer {
  const text = line.toString('utf8');
  const nl = text.endsWith('\n');
  const fields = (nl ? text.slice(0, -1) : text).split('\t');
  fields[i] = '\\N';
  return Buffer.from(`${fields.join('\t')}${nl ? '\n' : ''}`, 'utf8');
}

/** The rows of a COPY text chunk, each with its newline (a newline inside a value is escaped). */
function splitLines(bytes: Uint8Array): Buffer[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lines: Buffer[] = [];
  let start = 0;
  while (start < buf.length) {
    let end = buf.indexOf(0x0a, start);
    if (end < 0) end = buf.length - 1;
    lines.push(buf.subarray(start, end + 1));
    start = end + 1;
  }
  return lines;
}
