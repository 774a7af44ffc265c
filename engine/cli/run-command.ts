/** `rb run <pipeline.yaml>`: runs the pipeline, progress on stderr, summary or JSON at the end. */
import { loadPipelineConfig, type PipelineConfig } from '../config/index.js';
import { errorClass, RbError } from '../errors.js';
import type { SchemaChange } from '../../connectors/contract/write-contract.js';
import { exitCode, run, type RunResult } from '../api/run.js';
import { formatBytes, formatCount, formatDuration, printError, table } from './output.js';
import { RunProgress } from './progress.js';
import type { JsonLog } from '../telemetry/json-log.js';
import type { RunMetrics } from '../telemetry/metrics.js';

export interface RunCommandOptions {
  parallelism?: 'auto' | number;
  json?: boolean;
  fresh?: boolean;
  follow?: boolean;
  queue?: string;
  jobTimeout?: number;
  /** `--metrics-addr host:port`: a Prometheus endpoint while the run lasts (engine/telemetry/metrics.ts). */
  metricsAddr?: string;
  /** `--log-format text|json`: json writes one JSON object a line on stderr (engine/telemetry/json-log.ts). */
  logFormat?: string;
}

const LOG_FORMATS = ['text', 'json'];

export async function runCommand(file: string, o: RunCommandOptions): Promise<number> {
  let config;
  let jsonLog: JsonLog | null = null;
  let metrics: RunMetrics | null = null;
  try {
    if (o.logFormat !== undefined && !LOG_FORMATS.includes(o.logFormat)) throw new RbError('usage', `--log-format: expected one of ${LOG_FORMATS.join(', ')}, found '${o.logFormat}'`);
    // Loaded only when asked for: a plain run's start-up stays as it was.
    if (o.logFormat === 'json') jsonLog = await (await import('../telemetry/json-log.js')).createJsonLog(file);
    if (o.jobTimeout !== undefined && !o.queue) throw new RbError('usage', '--job-timeout is the timeout of a queued shard: it needs --queue <url>');
    config = loadPipelineConfig(file);
    if (o.metricsAddr !== undefined) metrics = await (await import('../telemetry/metrics.js')).startMetrics(o.metricsAddr);
  } catch (e) {
    if (e instanceof RbError) {
      // The run never started: its start line has only the file.
      if (jsonLog) {
        jsonLog.line('info', 'run-start', { file });
        jsonLog.line('error', 'run-end', { status: 'failed', error: { code: e.code, class: errorClass(e), message: e.message } });
      } else printError(e, !!o.json);
      return e.exitCode;
    }
    throw e;
  }
  const progress = new RunProgress(!o.json && !jsonLog && process.stderr.isTTY === true);
  // The endpoint's address: a field of the run-start line, or a line of its own.
  if (metrics && jsonLog) jsonLog.atStart({ metrics: metrics.url });
  else if (metrics) progress.log(`rb: metrics on ${metrics.url}`);
  const stop = stopOnSignals(!!o.follow, jsonLog, progress);
  // The library's run (engine/api/run.ts): its events drive the progress bars.
  const result = await run(config, {
    parallelism: o.parallelism,
    fresh: o.fresh,
    follow: o.follow,
    ...(o.queue ? { queue: { url: o.queue, jobTimeoutSeconds: o.jobTimeout } } : {}),
    signal: stop.signal,
    onEvent: (e) => {
      metrics?.observe(e);
      if (jsonLog) jsonLog.event(e);
      else if (e.kind === 'log' || e.kind === 'retry') progress.log(e.line);
      else progress.event(e, !!o.follow && !o.json);
    },
    // bin.js exits as soon as the summary is out.
    leavePoolClosing: true,
  }).finally(() => {
    // Thrown or not, the bars end (the cursor shown) before anything else is printed.
    stop.dispose();
    progress.stop();
  });
  metrics?.finish(result);
  await metrics?.close();
  jsonLog?.runEnd(result);
  if (result.status === 'cancelled' && !jsonLog) process.stderr.write(`rb: cancelled; ${cancelledState(config, result)}\n`);
  if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else if (result.status !== 'cancelled') printSummary(result);
  return exitCode(result);
}

/**
 * SIGINT/SIGTERM. Following: the first one ends the stream after the transaction in hand (its
 * group is committed and acknowledged, the run recorded, exit 0). Otherwise the first one cancels
 * the run: open work is rolled back, what the run created and did not finish is dropped, the run
 * is recorded `cancelled`, exit 130. A second signal exits at once (130), saying what may be left.
 * On a terminal the progress bars are halted first (last frame, cursor shown) and the line the
 * terminal echoed for Ctrl-C (`^C`) is cleared, so each message is a line of its own. Once the run
 * has ended (`dispose`), a signal exits at once with 130 (found by engine/cli/cancel.test.ts: a
 * cancel that finished within 50 ms left the second SIGINT to Node's default, no exit code).
 * `rb demo` installs the same around its run (demo-command.ts).
 */
export function stopOnSignals(follow: boolean, jsonLog: JsonLog | null, progress: RunProgress): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const on = (sig: NodeJS.Signals) => {
    // --log-format json: the signal is a line of its own; a second one still exits at once.
    if (jsonLog) {
      jsonLog.line('info', 'stop', { signal: sig, ...(ac.signal.aborted ? { exiting: true } : {}) });
      if (ac.signal.aborted) process.exit(130);
      ac.abort();
      return;
    }
    progress.halt();
    const say = (line: string) => process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}${line}\n`);
    if (ac.signal.aborted) {
      say(
        follow
          ? `rb: ${sig} again: exiting now; the destination holds the changes committed so far, and the next rb run goes on from there`
          : `rb: ${sig} again: exiting now; staging tables (<table>__rb_replace, <table>__rb_upsert) may be left in the destination — the next rb run of this pipeline replaces them — and the run stays recorded as running (the next run resumes it)`,
      );
      process.exit(130);
    }
    say(follow ? `rb: ${sig}: committing the changes in hand, then stopping (again to exit at once)` : `rb: ${sig}: cancelling the run (again to exit at once)`);
    ac.abort();
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  // After the run (its summary or cancel line still to print): a signal exits at once, 130 — a
  // second one after a cancel that finished within the two signals' gap says so as before.
  const late = (sig: NodeJS.Signals) => (ac.signal.aborted ? on(sig) : process.exit(130));
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      process.on('SIGINT', late);
      process.on('SIGTERM', late);
    },
  };
}

/** One line on what a cancelled run left in the destination (`rb run`, `rb demo`). */
export function cancelledState(config: PipelineConfig, r: RunResult): string {
  if (r.cdc) return `the changes applied up to ${r.cdc.to} are committed; the next rb run goes on from there`;
  const done = r.streams.map((s) => s.name);
  const finished = done.length ? `${done.join(', ')} finished before the signal; ` : '';
  if (config.destination.write_mode === 'append') {
    return `${finished}shards this run committed stay in the targets and the next rb run resumes the run (it keeps them; --fresh appends everything anew)`;
  }
  return `${finished}the other targets are as they were before the run (staging tables dropped, nothing merged or swapped)`;
}

/** A stream whose slowest shard took this many times its median one gets a summary line. */
const SKEW_WORTH_SAYING = 2;

export function printSummary(r: RunResult): void {
  if (r.status === 'failed' && r.error) {
    printError(new RbError(r.error.code as RbError['code'], r.error.message, { stream: r.error.stream, shard: r.error.shard, pg: r.error.sqlstate ? { sqlstate: r.error.sqlstate } : undefined }), false);
    return;
  }
  const rows = r.streams.map((s) => [
    s.name,
    s.target,
    formatCount(s.rows),
    formatBytes(s.bytes),
    s.shards_skipped ? `${s.shards} (${s.shards_skipped} kept)` : String(s.shards),
    `${s.sync_mode}/${s.write_mode}/${s.load_method}/${s.format}`,
    formatDuration(s.duration_ms),
  ]);
  process.stdout.write(`${table(['stream', 'target', 'rows', 'bytes', 'shards', 'mode', 'time'], rows)}\n`);
  const secs = r.duration_ms / 1000;
  process.stdout.write(
    `\n${r.pipeline}: ${formatCount(r.rows_written)} rows, ${formatBytes(r.bytes_written)} in ${formatDuration(r.duration_ms)} ` +
      `(${formatCount(Math.round(r.rows_written / Math.max(secs, 0.001)))} rows/s; parallelism ${r.parallelism_effective} ${r.parallelism_mode}; codecs ${r.codecs})\n`,
  );
  if (r.resumed_from) {
    process.stdout.write(`resumed the unfinished run ${r.resumed_from}${r.snapshots > 1 ? ': its committed shards were kept, so the data spans two source snapshots' : ''}\n`);
  }
  if (r.queue) {
    const by = Object.entries(r.queue.workers).map(([w, n]) => `${w} ${n}`).join(', ');
    process.stdout.write(`${r.queue.jobs} shard job(s) on ${r.queue.queue}; committed by ${by || 'no worker this run'}\n`);
  }
  if (r.retries) process.stdout.write(`${r.retries} shard attempt(s) failed with a transient error and were retried\n`);
  // Where the time went, when it is clear (engine/run/run-telemetry.ts).
  if (r.telemetry?.verdict) process.stdout.write(`${r.telemetry.verdict.text}\n`);
  for (const s of r.streams) {
    if (s.skew && s.skew.ratio >= SKEW_WORTH_SAYING) process.stdout.write(`${s.name}: shard ${s.skew.slowest_shard} took ${s.skew.ratio}× the median shard (${formatDuration(s.skew.slowest_ms)} vs ${formatDuration(s.skew.median_ms)})\n`);
  }
  for (const s of r.streams) {
    // Rows the destination rejected (destination.on_data_error): said per stream, never silent.
    if (s.rows_skipped) process.stdout.write(`${s.name}: ${formatCount(s.rows_skipped)} row(s) rejected by the destination were skipped (on_data_error: skip)\n`);
    if (s.rows_dead_lettered) process.stdout.write(`${s.name}: ${formatCount(s.rows_dead_lettered)} row(s) rejected by the destination were written to ${r.dlq_table ?? 'the DLQ'} (on_data_error: dlq)\n`);
    if (s.values_nulled) process.stdout.write(`${s.name}: ${formatCount(s.values_nulled)} value(s) the destination's type did not take were written as NULL (schema_evolution.type_change: null)\n`);
    for (const c of s.schema_changes) process.stdout.write(`${s.name}: ${describeSchemaChange(c)} (schema_evolution.${c.policy})\n`);
  }
  if (r.cdc) {
    const c = r.cdc;
    process.stdout.write(
      `changes: ${formatCount(c.transactions)} transactions, ${formatCount(c.changes)} row changes from slot ${c.slot} (${c.from} → ${c.to}), ${formatCount(c.rows_written)} rows written` +
        `${c.lag_bytes ? `; ${formatBytes(c.lag_bytes)} behind the server's position at the end` : ''}\n`,
    );
  }
}

/** One schema_evolution decision as the summary says it. */
function describeSchemaChange(c: SchemaChange): string {
  const col = JSON.stringify(c.column);
  switch (c.change) {
    case 'added':
      return `column ${col} (${c.source}) added to the target`;
    case 'not_written':
      return `column ${col} of the source not written (the target has none)`;
    case 'left_unwritten':
      return `target column ${col} not in the source: left as it is, new rows get its default`;
    case 'widened':
      return `column ${col} widened from ${c.destination} to ${c.source}`;
    case 'coerced':
      return `column ${col} is ${c.source} in the source, ${c.destination} in the target: written through its text form`;
    case 'null_when_not_fitting':
      return `column ${col} is ${c.source} in the source, ${c.destination} in the target: a value that does not fit is written as NULL`;
    case 'nullability_differs':
      return `column ${col} allows NULL in the source but not in the target: a NULL is a row the destination rejects`;
  }
}
