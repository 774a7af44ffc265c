/**
 * `COPY <write table> (cols) FROM STDIN` in large writes (docs/design.md section 2, "Move"). The source
 * side hands tuple-aligned chunks without the COPY binary header and trailer; this writer frames
 * the stream (header first, trailer last) so chunks from any number of reads can be joined.
 */
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { CopyFormat } from '../contract/domain.js';
import { isConnectionError } from '../contract/errors.js';
import { COPY_BINARY_HEADER, COPY_BINARY_TRAILER } from '../../native/codec-api.js';
import { loseConnection, writeStallMs, type PgEndpoint } from '../postgres/connection.js';
import { watchStall } from '../postgres/stall-watch.js';
import { quoteIdent, quoteQualified } from '../postgres/identifiers.js';
import type { WriteContract } from '../contract/write-contract.js';

export function copyInSql(contract: WriteContract): string {
  const cols = contract.columns.map((c) => quoteIdent(c.name)).join(', ');
  const fmt = contract.format === 'binary' ? ' (format binary)' : '';
  return `copy ${quoteQualified(contract.writeTable)} (${cols}) from stdin${fmt}`;
}

export class CopyInWriter {
  private readonly stream: ReturnType<typeof copyFrom>;
  private failure: Error | null = null;
  private onError: (() => void) | null = null;
  private readonly finished: Promise<void>;
  bytesWritten = 0;

  private constructor(
    private readonly client: pg.Client,
    contract: WriteContract,
    private readonly endpoint?: PgEndpoint,
  ) {
    this.stream = client.query(copyFrom(copyInSql(contract)));
    this.finished = new Promise((resolve, reject) => {
      this.stream.on('finish', resolve);
      this.stream.on('error', (e: Error) => {
        // A server error (ErrorResponse) explains a socket error (EPIPE) that may arrive first.
        if (!this.failure || (isConnectionError(this.failure) && !isConnectionError(e))) this.failure = e;
        this.onError?.();
        reject(e);
      });
    });
    this.finished.catch(() => {});
    if (contract.format === 'binary') this.stream.write(Buffer.from(COPY_BINARY_HEADER));
  }

  /**
   * `endpoint`: the server `client` is connected to, for the stall watch of `finish` (without it
   * the wait for the COPY's answer is bounded only by keepalives and the kernel).
   */
  static open(client: pg.Client, contract: WriteContract, endpoint?: PgEndpoint): CopyInWriter {
    return new CopyInWriter(client, contract, endpoint);
  }

  /**
   * The error to report: when the socket broke, give the server a moment to deliver the
   * ErrorResponse that says why (e.g. 57P01 terminating connection due to administrator command).
   */
  async settledFailure(e: unknown): Promise<unknown> {
    const first = this.failure ?? e;
    if (!isConnectionError(first as Error)) return first;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 250);
      this.onError = () => {
        clearTimeout(t);
        resolve();
      };
    });
    return this.failure ?? e;
  }

  /**
   * Writes one chunk; resolves once the socket can take more (backpressure), with `true` when
   * every byte written so far has left this process (the write had to wait for 'drain', which the
   * COPY stream passes on only after the socket's own 'drain'): `bytes` may then be reused. With
   * `false` the socket may still hold a reference to them.
   */
  async write(bytes: Uint8Array): Promise<boolean> {
    if (this.failure) throw this.failure;
    this.bytesWritten += bytes.length;
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (this.stream.write(buf)) return false;
    // The socket is full: the server has not taken what was sent. A dead network (packets dropped,
    // no reset) would keep it full for the kernel's ~15 minutes of retransmissions; after
    // tcp_user_timeout without a drain the connection is given up as lost (retryable).
    const stallMs = writeStallMs(this.client);
    await new Promise<void>((resolve, reject) => {
      const timer =
        stallMs > 0
          ? setTimeout(() => {
              const lost = loseConnection(this.client, `the server took no data for ${stallMs / 1000} s while rb was writing (tcp_user_timeout ${stallMs} ms): the network or the server stopped`);
              if (!this.failure || isConnectionError(this.failure)) this.failure = lost;
              onError(lost);
            }, stallMs)
          : undefined;
      const onDrain = () => {
        clearTimeout(timer);
        this.stream.off('error', onError);
        resolve();
      };
      const onError = (e: Error) => {
        clearTimeout(timer);
        this.stream.off('drain', onDrain);
        this.stream.off('error', onError);
        reject(e);
      };
      this.stream.once('drain', onDrain);
      this.stream.once('error', onError);
    });
    return true;
  }

  /**
   * Ends the COPY; resolves with the row count the server reports. A dead network after the last
   * write leaves rb waiting for an answer that never comes: after tcp_user_timeout without one the
   * server is asked what the backend does (connectors/postgres/stall-watch.ts) — still working
   * (constraints, triggers at the end of the statement) is waited for; waiting for rb's data
   * (ClientRead) or done (idle in transaction) gives the connection up as lost.
   */
  async finish(format: CopyFormat): Promise<number> {
    if (this.failure) throw this.failure;
    if (format === 'binary') this.stream.write(Buffer.from(COPY_BINARY_TRAILER));
    this.stream.end();
    const endedAt = performance.now();
    let lost!: (e: Error) => void;
    const given = new Promise<never>((_, reject) => (lost = reject));
    given.catch(() => {});
    const stop = this.endpoint
      ? watchStall(
          {
            waitingMs: (now = performance.now()) => now - endedAt,
            fail: (e) => {
              if (!this.failure || isConnectionError(this.failure)) this.failure = e;
              lost(e);
            },
          },
          this.client,
          this.endpoint,
          'destination',
          "after rb's last write of a COPY",
        )
      : () => {};
    try {
      await Promise.race([this.finished, given]);
    } finally {
      stop();
    }
    return Number(this.stream.rowCount ?? 0);
  }

  /** Aborts the COPY (CopyFail): the server rolls the statement back. */
  abort(reason: string): void {
    this.stream.destroy(new Error(reason));
  }
}
