/**
 * `rb run --metrics-addr host:port` (docs/design.md section 16): a Prometheus endpoint at
 * `http://host:port/metrics`, fed by the run's events (engine/api/run.ts), for a `--follow` that
 * runs for weeks or a long full refresh. prom-client (loaded only when the flag is given) keeps
 * the registry and writes the text exposition format; process metrics (CPU, memory, event loop
 * lag) come with it (`collectDefaultMetrics`, `rb_` prefix).
 *
 *   rb_rows_written_total{stream}            rows shards wrote (a full refresh or a first cdc copy)
 *   rb_bytes_written_total{stream}           COPY bytes written by shards
 *   rb_cdc_changes_applied_total{stream}     row changes applied, per stream
 *   rb_cdc_rows_written_total                rows the applied changes wrote
 *   rb_cdc_transactions_applied_total        source transactions applied
 *   rb_cdc_lag_bytes, rb_cdc_lag_seconds     replication lag (as in the progress line, section 8)
 *   rb_cdc_confirmed_lsn                     the position applied and confirmed, as a number
 *   rb_retries_total{class,code}, rb_errors_total{class,code}   shard retries and the run's failure, by
 *                                            error class (errors.ts errorClass: connection, permission,
 *                                            conflict, schema, data, query, config, internal, cancelled) and code
 *   rb_cdc_batch_changes, rb_cdc_apply_seconds      histograms of each committed group
 *   rb_run_phase{phase}                      1 for the phase running now
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RunEvent, RunResult } from '../api/run.js';
import { RbError } from '../errors.js';

/** `host:port` (port 0: any free one); an IPv6 host in brackets. */
export function parseMetricsAddr(raw: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(raw.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new RbError('usage', `--metrics-addr: expected host:port (for example 127.0.0.1:9187), found '${raw}'`);
  return { host: m[1] ?? m[2], port };
}

export interface RunMetrics {
  /** Where it listens: `http://host:port/metrics`. */
  readonly url: string;
  observe(e: RunEvent): void;
  /** The run's end: its failure counted by class and code, no phase running. */
  finish(r: RunResult): void;
  close(): Promise<void>;
}

export async function startMetrics(addr: string): Promise<RunMetrics> {
  const { host, port } = parseMetricsAddr(addr);
  const prom = await import('prom-client');
  const register = new prom.Registry();
  prom.collectDefaultMetrics({ register, prefix: 'rb_' });
  const counter = (name: string, help: string, labelNames: string[] = []) => new prom.Counter({ name, help, labelNames, registers: [register] });
  const gauge = (name: string, help: string, labelNames: string[] = []) => new prom.Gauge({ name, help, labelNames, registers: [register] });
  const rows = counter('rb_rows_written_total', 'Rows written to the destination', ['stream']);
  const bytes = counter('rb_bytes_written_total', 'COPY bytes written to the destination by shards', ['stream']);
  const changes = counter('rb_cdc_changes_applied_total', 'CDC row changes applied', ['stream']);
  const cdcRows = counter('rb_cdc_rows_written_total', 'Rows the applied CDC changes wrote (a group counts its rows, not per stream)');
  const transactions = counter('rb_cdc_transactions_applied_total', 'CDC source transactions applied');
  const retries = counter('rb_retries_total', 'Shard attempts retried after a transient failure, by error class and code', ['class', 'code']);
  const errors = counter('rb_errors_total', "The run's failure, by error class and code", ['class', 'code']);
  const lagBytes = gauge('rb_cdc_lag_bytes', "Bytes of the source's WAL past the position applied");
  const lagSeconds = gauge('rb_cdc_lag_seconds', 'Seconds since the commit of the last applied transaction while more is waiting (0 when caught up)');
  const lsn = gauge('rb_cdc_confirmed_lsn', 'The source position applied and confirmed (the LSN as a number)');
  const phase = gauge('rb_run_phase', '1 for the phase running now (plan, prepare, move, finish)', ['phase']);
  const batch = new prom.Histogram({ name: 'rb_cdc_batch_changes', help: 'Row changes per committed group', buckets: [1, 10, 100, 1000, 5000, 20000, 50000], registers: [register] });
  const apply = new prom.Histogram({ name: 'rb_cdc_apply_seconds', help: 'Time from a group first write to its commit', buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [register] });

  /** Each shard's counts so far: progress events are cumulative per shard (a retried shard starts again: counted once). */
  const shardSeen = new Map<string, { rows: number; bytes: number }>();
  let cdcSeen = { transactions: 0 };

  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('rb: metrics are at /metrics\n');
      return;
    }
    register.metrics().then(
      (text) => res.writeHead(200, { 'content-type': register.contentType }).end(text),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(String(e)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new RbError('usage', `--metrics-addr ${addr}: cannot listen: ${(e as Error).message}`)));
    server.listen(port, host, () => resolve());
  });
  // Never keeps the process alive on its own (bin.js exits once output is flushed).
  server.unref();
  const bound = server.address() as AddressInfo;
  const shown = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;

  return {
    url: `http://${shown}:${bound.port}/metrics`,
    observe(e) {
      switch (e.kind) {
        case 'progress': {
          const key = `${e.stream}\u0000${e.shardIndex}`;
          const seen = shardSeen.get(key) ?? { rows: 0, bytes: 0 };
          if (e.rows > seen.rows) rows.inc({ stream: e.stream }, e.rows - seen.rows);
          if (e.bytes > seen.bytes) bytes.inc({ stream: e.stream }, e.bytes - seen.bytes);
          shardSeen.set(key, { rows: Math.max(seen.rows, e.rows), bytes: Math.max(seen.bytes, e.bytes) });
          return;
        }
        case 'cdc':
          if (e.transactions > cdcSeen.transactions) transactions.inc(e.transactions - cdcSeen.transactions);
          cdcSeen = { transactions: Math.max(cdcSeen.transactions, e.transactions) };
          lagBytes.set(e.lagBytes);
          lagSeconds.set(e.lagSeconds);
          lsn.set(Number(e.confirmed));
          return;
        case 'cdc-commit': {
          let n = 0;
          for (const [stream, c] of Object.entries(e.changesByStream)) {
            changes.inc({ stream }, c);
            n += c;
          }
          cdcRows.inc(e.rows);
          batch.observe(n);
          apply.observe(e.applyMs / 1000);
          lsn.set(Number(e.lsn));
          return;
        }
        case 'retry':
          retries.inc({ class: e.class, code: e.code });
          return;
        case 'phase':
          phase.set({ phase: e.phase }, e.state === 'start' ? 1 : 0);
          return;
        default:
          return;
      }
    },
    finish(r) {
      if (r.error) errors.inc({ class: r.error.class, code: r.error.code });
      phase.reset();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
