/**
 * `load_method: insert`: multi-row INSERT statements with `$n` placeholders, chunked under the
 * protocol's 65,535-parameter limit. Binary-format tables send each value as a binary parameter
 * (node-postgres sends Buffers in binary format; PostgreSQL infers each parameter's type from the
 * target column), text-format tables send text parameters.
 */
import type pg from 'pg';
import type { ColumnBatch } from '../../native/batch.js';
import { codecs } from '../../native/index.js';
import { quoteIdent, quoteQualified } from '../postgres/identifiers.js';
import type { WriteContract } from '../contract/write-contract.js';

export class InsertWriter {
  private readonly prefix: string;
  private readonly statementCache = new Map<number, string>();
  rowsWritten = 0;

  constructor(
    private readonly client: pg.Client,
    private readonly contract: WriteContract,
  ) {
    this.prefix = `insert into ${quoteQualified(contract.writeTable)} (${contract.columns.map((c) => quoteIdent(c.name)).join(', ')}) values `;
  }

  private statement(rows: number): string {
    let s = this.statementCache.get(rows);
    if (!s) {
      s = this.prefix + codecs.placeholders(rows, this.contract.columns.length, 1);
      this.statementCache.set(rows, s);
    }
    return s;
  }

  /** Inserts a decoded binary batch (values in PostgreSQL binary send format). */
  async writeBatch(batch: ColumnBatch): Promise<void> {
    const ncols = batch.columns.length;
    let row = 0;
    for (const n of codecs.insertChunks(batch.rowCount, ncols)) {
      const params: Array<Buffer | null> = new Array(n * ncols);
      let p = 0;
      for (let r = row; r < row + n; r++) {
        for (let c = 0; c < ncols; c++) params[p++] = binaryParam(batch, c, r);
      }
      await this.client.query(this.statement(n), params);
      row += n;
    }
    this.rowsWritten += batch.rowCount;
  }

  /** Inserts rows of text values (NULL as null). */
  async writeTextRows(rows: Array<Array<string | null>>): Promise<void> {
    const ncols = this.contract.columns.length;
    let row = 0;
    for (const n of codecs.insertChunks(rows.length, ncols)) {
      const params: Array<string | null> = [];
      for (let r = row; r < row + n; r++) for (const v of rows[r]) params.push(v);
      await this.client.query(this.statement(n), params);
      row += n;
    }
    this.rowsWritten += rows.length;
  }
}

function binaryParam(batch: ColumnBatch, c: number, r: number): Buffer | null {
  const col = batch.columns[c];
  if (col.nulls[r]) return null;
  if (col.kind === 'var') {
    const v = col.data.subarray(col.offsets[r], col.offsets[r + 1]);
    return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  }
  const start = r * col.width;
  const bytes = Buffer.from(col.values.subarray(start, start + col.width));
  // Fixed numbers are stored little-endian; the wire wants network order.
  return col.swap ? bytes.reverse() : bytes;
}
