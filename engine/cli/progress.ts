/**
 * Progress bars on stderr (only when stderr is a TTY): one bar per stream with rows, rows/s and
 * an ETA from the source's size estimate.
 */
import cliProgress from 'cli-progress';
import { formatLsn } from '../../connectors/source-postgres/lsn.js';
import type { RunEvent } from '../api/run.js';
import type { CdcProgress } from '../run/run-cdc.js';
import type { ShardProgress } from '../runtime/shard-task.js';
import { formatBytes } from './output.js';

export class RunProgress {
  private readonly multibar: cliProgress.MultiBar | null;
  private readonly bars = new Map<string, cliProgress.SingleBar>();
  private readonly shardRows = new Map<string, Map<number, number>>();
  private readonly started = performance.now();
  private cdcLine = false;
  private lastCdcLog = 0;

  constructor(enabled: boolean) {
    this.multibar = enabled
      ? new cliProgress.MultiBar(
          {
            stream: process.stderr,
            clearOnComplete: false,
            hideCursor: true,
            format: ' {name} |{bar}| {value}/{total} rows | {rate} rows/s | ETA {eta_formatted}',
            etaBuffer: 50,
            fps: 5,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
  }

  /** A run's event (engine/api/run.ts) other than a log line, which stays the caller's to print. */
  event(e: Exclude<RunEvent, { kind: 'log' }>, follow = false): void {
    if (e.kind === 'planned') this.plan(e.streams);
    else if (e.kind === 'progress') this.update(e);
    else this.cdc(e, follow);
  }

  plan(streams: Array<{ name: string; estimatedRows: number }>): void {
    if (!this.multibar) return;
    const width = Math.max(...streams.map((s) => s.name.length));
    for (const s of streams) {
      this.bars.set(s.name, this.multibar.create(Math.max(1, s.estimatedRows), 0, { name: s.name.padEnd(width), rate: 0 }));
      this.shardRows.set(s.name, new Map());
    }
  }

  update(p: ShardProgress): void {
    const bar = this.bars.get(p.stream);
    if (!bar) return;
    const shards = this.shardRows.get(p.stream)!;
    shards.set(p.shardIndex, p.rows);
    let rows = 0;
    for (const v of shards.values()) rows += v;
    const secs = (performance.now() - this.started) / 1000;
    // Estimates (pg_class.reltuples) can be low: grow the total rather than overflow the bar.
    if (rows > bar.getTotal()) bar.setTotal(rows);
    bar.update(rows, { rate: Math.round(rows / Math.max(secs, 0.001)).toLocaleString('en-US') });
  }

  /**
   * CDC: one line with the changes applied and the lag — rewritten in place on a terminal; off a
   * terminal, a follow logs it every 30 s (a catch-up prints its summary at the end).
   */
  cdc(p: CdcProgress, follow: boolean): void {
    const line = `cdc: ${p.transactions.toLocaleString('en-US')} transactions, ${p.changes.toLocaleString('en-US')} changes applied, at ${formatLsn(p.confirmed)}, lag ${formatBytes(p.lagBytes)} / ${p.lagSeconds.toFixed(1)} s`;
    if (this.multibar) {
      this.multibar.stop();
      process.stderr.write(`\r${line}\x1b[K`);
      this.cdcLine = true;
    } else if (follow && performance.now() - this.lastCdcLog >= 30_000) {
      this.lastCdcLog = performance.now();
      process.stderr.write(`${new Date().toISOString()} ${line}\n`);
    }
  }

  stop(): void {
    this.multibar?.stop();
    if (this.cdcLine) process.stderr.write('\n');
    this.cdcLine = false;
  }
}
