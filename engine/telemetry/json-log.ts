/**
 * `rb run --log-format json` (docs/design.md section 16): stderr carries one JSON object a line —
 * `time` (ISO 8601), `level` (info | warn | error), `event`, `stream` when there is one, and the
 * event's fields — for every lifecycle event of the run, instead of text lines and progress bars.
 * pino (loaded only for this format) writes synchronously to fd 2, so no line is lost when rb
 * exits right after its last one.
 *
 *   run-start       file, pipeline, run_id, follow, metrics (its URL with --metrics-addr); only file when the pipeline could not be loaded
 *   phase-start/-end phase (plan, prepare, move, finish), ms
 *   slot-created    cdc, first run: slot, publication, publication_created, lsn (where its changes start)
 *   planned         streams [{name, estimated_rows, shards}]
 *   stream-done     a stream's snapshot copy is finished: rows, move_ms, finish_ms
 *   snapshot-done   cdc, first run: the initial copy committed (streams, rows, lsn); applying changes begins
 *   checkpoint      cdc: a group committed with its position: lsn, rows, changes, apply_ms;
 *                   incremental: a stream's cursor committed: stream, cursor, rows, checkpoints
 *   cdc-progress    cdc: transactions, changes, lsn, lag_bytes, lag_seconds (at most every 30 s, and the first)
 *   retry           stream, shard, attempt, max_retries, delay_ms, class, code, message
 *   log             a line rb would print on stderr (warnings, resume): msg
 *   stop            signal (SIGINT/SIGTERM received)
 *   run-end         status, rows, bytes, duration_ms, verdict, server CPU, error with its class (level error when it failed)
 */
import type { RunEvent, RunResult } from '../api/run.js';
import { formatLsn } from '../../connectors/source-postgres/lsn.js';

/** A following run's lag line at most this often (as the text form off a terminal, section 8). */
const CDC_PROGRESS_MS = 30_000;

export type Level = 'info' | 'warn' | 'error';

export interface JsonLog {
  line(level: Level, event: string, fields?: Record<string, unknown>): void;
  /** A run event as its line (rows' progress is not a lifecycle event: the metrics have it). */
  event(e: RunEvent): void;
  runEnd(r: RunResult): void;
  /** More fields for the run-start line, before the run starts (the metrics endpoint's URL). */
  atStart(fields: Record<string, unknown>): void;
}

/** `file`: the pipeline file, on the run-start line. */
export async function createJsonLog(file?: string): Promise<JsonLog> {
  const { pino } = await import('pino');
  const logger = pino(
    {
      base: null,
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 2, sync: true }),
  );
  let lastCdcLine = 0;
  let startFields: Record<string, unknown> = file !== undefined ? { file } : {};
  const line = (level: Level, event: string, fields: Record<string, unknown> = {}) => logger[level]({ event, ...fields });
  return {
    line,
    atStart(fields) {
      startFields = { ...startFields, ...fields };
    },
    event(e) {
      switch (e.kind) {
        case 'start':
          return line('info', 'run-start', { ...startFields, pipeline: e.pipeline, run_id: e.runId, follow: e.follow });
        case 'slot-created':
          return line('info', 'slot-created', { slot: e.slot, publication: e.publication, publication_created: e.publicationCreated, lsn: formatLsn(e.lsn) });
        case 'snapshot-done':
          return line('info', 'snapshot-done', { streams: e.streams, rows: e.rows, lsn: formatLsn(e.lsn) });
        case 'cursor-commit':
          return line('info', 'checkpoint', { stream: e.stream, sync_mode: 'incremental', cursor: e.cursor, rows: e.rows, checkpoints: e.checkpoints });
        case 'phase':
          return line('info', `phase-${e.state}`, { phase: e.phase, ...(e.state === 'end' ? { ms: e.elapsedMs } : {}) });
        case 'planned':
          return line('info', 'planned', { streams: e.streams.map((s) => ({ name: s.name, estimated_rows: s.estimatedRows, shards: s.shards })) });
        case 'stream-finish':
          if (e.state !== 'end') return;
          return line('info', 'stream-done', { stream: e.stream, rows: e.rows, move_ms: e.moveMs, finish_ms: e.elapsedMs });
        case 'cdc-commit':
          return line('info', 'checkpoint', { sync_mode: 'cdc', lsn: formatLsn(e.lsn), rows: e.rows, changes: e.changesByStream, apply_ms: Math.round(e.applyMs) });
        case 'cdc': {
          const now = performance.now();
          if (lastCdcLine && now - lastCdcLine < CDC_PROGRESS_MS) return;
          lastCdcLine = now;
          return line('info', 'cdc-progress', { transactions: e.transactions, changes: e.changes, lsn: formatLsn(e.confirmed), lag_bytes: e.lagBytes, lag_seconds: e.lagSeconds });
        }
        case 'retry':
          return line('warn', 'retry', { stream: e.stream, shard: e.shard, attempt: e.attempt, max_retries: e.maxRetries, delay_ms: e.delayMs, class: e.class, code: e.code, message: e.message });
        case 'log':
          return line(/\bwarning\b/i.test(e.line) ? 'warn' : 'info', 'log', { msg: e.line.replace(/^rb: /, '') });
        default:
          return;
      }
    },
    runEnd(r) {
      line(r.status === 'failed' ? 'error' : 'info', 'run-end', {
        pipeline: r.pipeline,
        run_id: r.run_id,
        status: r.status,
        rows: r.rows_written,
        bytes: r.bytes_written,
        duration_ms: r.duration_ms,
        ...(r.telemetry?.verdict ? { verdict: r.telemetry.verdict.text } : {}),
        ...(r.telemetry ? { cpu_s: Math.round((r.telemetry.cpu_user_s + r.telemetry.cpu_system_s) * 1000) / 1000, server_cpu_s: r.telemetry.server_cpu_s } : {}),
        ...(r.cdc ? { lsn: r.cdc.to, transactions: r.cdc.transactions } : {}),
        ...(r.error ? { error: r.error } : {}),
      });
    },
  };
}
