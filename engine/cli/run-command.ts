/** `rb run <pipeline.yaml>`: runs the pipeline, progress on stderr, summary or JSON at the end. */
import { loadPipelineConfig } from '../config/index.js';
import { RbError } from '../errors.js';
import { exitCodeOf, runPipeline, type RunResult } from '../run/run-pipeline.js';
import { formatBytes, formatCount, formatDuration, printError, table } from './output.js';
import { RunProgress } from './progress.js';

export async function runCommand(file: string, o: { parallelism?: 'auto' | number; json?: boolean; fresh?: boolean; follow?: boolean }): Promise<number> {
  let config;
  try {
    config = loadPipelineConfig(file);
  } catch (e) {
    if (e instanceof RbError) {
      printError(e, !!o.json);
      return e.exitCode;
    }
    throw e;
  }
  const progress = new RunProgress(!o.json && process.stderr.isTTY === true);
  const stop = o.follow ? stopOnSignals() : null;
  const result = await runPipeline(config, {
    parallelism: o.parallelism,
    fresh: o.fresh,
    follow: o.follow,
    signal: stop?.signal,
    log: (line) => process.stderr.write(`${line}\n`),
    onPlanned: (streams) => progress.plan(streams),
    onProgress: (p) => progress.update(p),
    onCdcProgress: (p) => progress.cdc(p, !!o.follow && !o.json),
    // bin.js exits as soon as the summary is out.
    leavePoolClosing: true,
  });
  stop?.dispose();
  progress.stop();
  if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else printSummary(result);
  return exitCodeOf(result);
}

/**
 * `--follow`: the first SIGINT/SIGTERM ends the stream after the transaction in hand (its group
 * is committed and acknowledged, the run recorded, exit 0); a second one exits at once (130) —
 * the destination then holds the last committed group, and the next run goes on from there.
 */
function stopOnSignals(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const on = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) {
      process.stderr.write(`rb: ${sig} again: exiting now; the destination holds the changes committed so far, and the next rb run goes on from there\n`);
      process.exit(130);
    }
    process.stderr.write(`rb: ${sig}: committing the changes in hand, then stopping (again to exit at once)\n`);
    ac.abort();
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}

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
  if (r.retries) process.stdout.write(`${r.retries} shard attempt(s) failed with a transient error and were retried\n`);
  if (r.cdc) {
    const c = r.cdc;
    process.stdout.write(
      `changes: ${formatCount(c.transactions)} transactions, ${formatCount(c.changes)} row changes from slot ${c.slot} (${c.from} → ${c.to}), ${formatCount(c.rows_written)} rows written` +
        `${c.lag_bytes ? `; ${formatBytes(c.lag_bytes)} behind the server's position at the end` : ''}\n`,
    );
  }
}
