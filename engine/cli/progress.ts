/**
 * Progress on stderr while rb runs (only when stderr is a terminal), drawn by cli-progress from
 * the run's events (engine/api/run.ts):
 *
 *    plan 0.42s · prepare 0.08s · move 3.1s…
 *    public.orders |██████████░░░░░░░░░░| 412,000/1,000,000 rows | 131,000 rows/s | ETA 5s
 *    public.items  |░░░░░░░░░░░░░░░░░░░░| waiting
 *    public.events |████████████████████| 200,000 rows | merge 1.2s…
 *    public.users  |████████████████████| 50,000/50,000 rows | done in 2.4s (move 2.1s, index build 0.28s, swap 0.02s)
 *
 * Every phase that takes time shows with its elapsed time (plan, prepare, move, finish; per stream
 * its finish steps: replace's index build and swap, upsert's merge, append's commit). A stream that
 * has not started says `waiting`, not a rate of 0. An ETA is shown only once it means something
 * (ETA_MIN_SECONDS of this stream's movement and ETA_MIN_FRACTION of its estimated rows). The last
 * frame is drawn with the run's own row counts (the shards' progress events may lag behind).
 * The formatting is pure (formatPhases, formatStreamLine) and tested as such (progress.test.ts).
 *
 * While the bars are drawn the cursor is hidden and line wrapping is off. A signal halts them
 * (halt(): the last frame drawn, the terminal restored) before rb says anything about it, and
 * nothing is drawn after; a process that exits with the bars still up restores the terminal on
 * its way out (the 'exit' hook), so no exit path leaves the cursor hidden. Tested in a real
 * terminal: progress-terminal.test.ts, cancel-terminal.test.ts.
 */
import { writeSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { formatLsn } from '../../connectors/source-postgres/lsn.js';
import type { FinishStep, FinishStepTime, RunEvent, RunPhase } from '../api/run.js';
import type { CdcProgress } from '../run/run-cdc.js';
import { formatBytes, formatCount } from './output.js';

/** An ETA needs this many seconds of the stream's own movement… */
export const ETA_MIN_SECONDS = 3;
/** …and this share of its estimated rows moved. */
export const ETA_MIN_FRACTION = 0.1;
const BAR_WIDTH = 20;
/** What the bars change in the terminal, put back: the cursor shown, line wrapping on. */
const RESTORE_TERMINAL = '\x1b[?25h\x1b[?7h';
const PHASES: RunPhase[] = ['plan', 'prepare', 'move', 'finish'];

export interface PhaseTimes {
  /** performance.now() at a phase's start, and its duration once it ended. */
  [phase: string]: { startedAt: number; ms?: number } | undefined;
}

export interface StreamProgressState {
  name: string;
  /** The source's estimate; grown when more rows arrive than estimated. */
  total: number;
  rows: number;
  /** performance.now() of the stream's first and latest progress events (the rate is over that span). */
  startedAt?: number;
  lastAt?: number;
  /** The move phase ended (every shard of the run is done). */
  movedAt?: number;
  /** The finish: the step in hand and when it began; once done, its time and each step's. */
  finish?: { step: FinishStep; startedAt: number; stepStartedAt: number; done: FinishStepTime[]; ms?: number };
  /** The stream's move as the run measured it (its longest shard), once finished. */
  moveMs?: number;
}

const seconds = (ms: number) => (ms < 60_000 ? `${(ms / 1000).toFixed(ms < 1000 ? 2 : 1)}s` : formatClock(ms));
function formatClock(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 3600 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** `plan 0.42s · prepare 0.08s · move 3.1s…` — the running phase ends in `…`. */
export function formatPhases(phases: PhaseTimes, now: number): string {
  const parts: string[] = [];
  for (const p of PHASES) {
    const t = phases[p];
    if (!t) continue;
    parts.push(t.ms !== undefined ? `${p} ${seconds(t.ms)}` : `${p} ${seconds(now - t.startedAt)}…`);
  }
  return parts.join(' · ');
}

/** Seconds left for a moving stream, or undefined while an estimate would not mean anything yet. */
export function etaSeconds(s: StreamProgressState, now: number): number | undefined {
  if (s.startedAt === undefined || s.movedAt !== undefined || s.finish) return undefined;
  const elapsed = (now - s.startedAt) / 1000;
  if (elapsed < ETA_MIN_SECONDS || s.rows < ETA_MIN_FRACTION * s.total || s.rows >= s.total) return undefined;
  return Math.ceil((s.total - s.rows) / rowsPerSecond(s, now));
}

/** Rows per second from the first to the latest progress event (a stream whose shards are done keeps its rate). */
function rowsPerSecond(s: StreamProgressState, now: number): number {
  const span = ((s.lastAt ?? now) - (s.startedAt ?? now)) / 1000;
  return s.rows / Math.max(span, 0.001);
}

function bar(fraction: number): string {
  const full = Math.max(0, Math.min(BAR_WIDTH, Math.round(fraction * BAR_WIDTH)));
  return `|${'█'.repeat(full)}${'░'.repeat(BAR_WIDTH - full)}|`;
}

/** One stream's line (see the file's comment for the four states). */
export function formatStreamLine(s: StreamProgressState, now: number, nameWidth: number): string {
  const name = s.name.padEnd(nameWidth);
  if (s.startedAt === undefined && !s.finish) return `${name} ${bar(0)} waiting`;
  const total = Math.max(s.total, s.rows, 1);
  const rows = `${formatCount(s.rows)}/${formatCount(total)} rows`;
  const f = s.finish;
  const steps = (done: FinishStepTime[]) => done.map((x) => `${x.step} ${seconds(x.ms)}`);
  if (f?.ms !== undefined) {
    const move = s.moveMs ?? (s.startedAt !== undefined ? (s.movedAt ?? f.startedAt) - s.startedAt : 0);
    return `${name} ${bar(1)} ${formatCount(s.rows)}/${formatCount(s.rows)} rows | done in ${seconds(move + f.ms)} (${[`move ${seconds(move)}`, ...steps(f.done)].join(', ')})`;
  }
  if (f) return `${name} ${bar(1)} ${formatCount(s.rows)} rows | ${[...steps(f.done), `${f.step} ${seconds(now - f.stepStartedAt)}…`].join(' · ')}`;
  if (s.movedAt !== undefined) return `${name} ${bar(s.rows / total)} ${rows} | moved, waiting for the finish`;
  const eta = etaSeconds(s, now);
  // A rate needs two progress events a moment apart.
  const rate = s.lastAt !== undefined && s.lastAt - s.startedAt! >= 200 ? `${formatCount(Math.round(rowsPerSecond(s, now)))} rows/s` : 'starting';
  return `${name} ${bar(s.rows / total)} ${rows} | ${rate}${eta !== undefined ? ` | ETA ${seconds(eta * 1000)}` : ''}`;
}

export class RunProgress {
  private readonly multibar: cliProgress.MultiBar | null;
  private readonly streams = new Map<string, StreamProgressState & { shardRows: Map<number, number>; bar: cliProgress.SingleBar }>();
  private readonly phases: PhaseTimes = {};
  private phaseBar: cliProgress.SingleBar | null = null;
  private nameWidth = 0;
  /** The cdc line is the terminal's last line (its text, to draw it again), or null. */
  private cdcLine: string | null = null;
  private lastCdcLog = 0;
  /** halt() was called: nothing is drawn any more. */
  private halted = false;
  /** Exiting with the bars up (an error thrown past the run, process.exit): the terminal put back. */
  private readonly restoreOnExit = () => {
    if (this.multibar?.isActive) writeSync(2, `\n${RESTORE_TERMINAL}`);
  };

  constructor(enabled: boolean) {
    this.multibar = enabled
      ? new cliProgress.MultiBar({
          stream: process.stderr,
          clearOnComplete: false,
          hideCursor: true,
          // Every line is ours (formatPhases / formatStreamLine), drawn from the state at each frame.
          format: (_options, _params, payload: { line: () => string }) => payload.line(),
          // Each frame rewrites every line whole: what else landed on one (the terminal's `^C`) is wiped.
          forceRedraw: true,
          fps: 5,
        })
      : null;
    if (this.multibar) process.on('exit', this.restoreOnExit);
  }

  /** A run's event (engine/api/run.ts) other than a log line, which stays the caller's to print. */
  event(e: Exclude<RunEvent, { kind: 'log' }>, follow = false): void {
    if (this.halted) return;
    const now = performance.now();
    switch (e.kind) {
      case 'phase':
        return this.phase(e.phase, e.state, e.elapsedMs, now);
      case 'planned':
        return this.plan(e.streams);
      case 'progress':
        return this.update(e, now);
      case 'stream-finish': {
        const s = this.streams.get(e.stream);
        if (!s) return;
        if (e.state === 'start') {
          const f = s.finish;
          // The step before this one is done: its time is from its start to now.
          const done = f ? [...f.done, { step: f.step, ms: now - f.stepStartedAt }] : [];
          s.finish = { step: e.step, startedAt: f?.startedAt ?? now, stepStartedAt: now, done };
        } else {
          s.finish = { step: e.step, startedAt: s.finish?.startedAt ?? now - e.elapsedMs, stepStartedAt: now, done: e.steps, ms: e.elapsedMs };
          // The run's own count: the final frame says what the summary says.
          if (e.rows !== undefined) s.rows = e.rows;
          if (e.moveMs !== undefined) s.moveMs = e.moveMs;
          s.total = s.rows;
        }
        return this.redraw(s);
      }
      case 'cdc':
        return this.cdc(e, follow);
    }
  }

  private phase(phase: RunPhase, state: 'start' | 'end', elapsedMs: number, now: number): void {
    if (state === 'start') this.phases[phase] = { startedAt: now };
    else this.phases[phase] = { startedAt: this.phases[phase]?.startedAt ?? now - elapsedMs, ms: elapsedMs };
    if (phase === 'move' && state === 'end') for (const s of this.streams.values()) if (s.startedAt !== undefined) s.movedAt = now;
    if (!this.multibar) return;
    this.phaseBar ??= this.multibar.create(1, 0, { line: () => formatPhases(this.phases, performance.now()) });
    this.phaseBar.update(0);
  }

  private plan(streams: Array<{ name: string; estimatedRows: number }>): void {
    if (!this.multibar) return;
    this.nameWidth = Math.max(this.nameWidth, ...streams.map((s) => s.name.length));
    for (const s of streams) {
      const state = { name: s.name, total: Math.max(1, s.estimatedRows), rows: 0, shardRows: new Map<number, number>() } as StreamProgressState & { shardRows: Map<number, number>; bar: cliProgress.SingleBar };
      state.bar = this.multibar.create(1, 0, { line: () => formatStreamLine(state, performance.now(), this.nameWidth) });
      this.streams.set(s.name, state);
    }
  }

  private update(p: { stream: string; shardIndex: number; rows: number }, now: number): void {
    const s = this.streams.get(p.stream);
    if (!s) return;
    s.startedAt ??= now;
    s.lastAt = now;
    s.shardRows.set(p.shardIndex, p.rows);
    let rows = 0;
    for (const v of s.shardRows.values()) rows += v;
    s.rows = rows;
    // Estimates (pg_class.reltuples) can be low: grow the total rather than overflow the bar.
    if (rows > s.total) s.total = rows;
    this.redraw(s);
  }

  private redraw(s: { bar: cliProgress.SingleBar }): void {
    s.bar.update(0);
  }

  /**
   * CDC: one line with the changes applied and the lag — rewritten in place on a terminal; off a
   * terminal, a follow logs it every 30 s (a catch-up prints its summary at the end).
   */
  cdc(p: CdcProgress, follow: boolean): void {
    const line = `cdc: ${p.transactions.toLocaleString('en-US')} transactions, ${p.changes.toLocaleString('en-US')} changes applied, at ${formatLsn(p.confirmed)}, lag ${formatBytes(p.lagBytes)} / ${p.lagSeconds.toFixed(1)} s`;
    if (this.multibar) {
      if (this.multibar.isActive) this.multibar.stop();
      process.stderr.write(`\r${line}\x1b[K`);
      this.cdcLine = line;
    } else if (follow && performance.now() - this.lastCdcLog >= 30_000) {
      this.lastCdcLog = performance.now();
      process.stderr.write(`${new Date().toISOString()} ${line}\n`);
    }
  }

  /** A log line (a warning, a retry) above the bars while they are drawn, else straight to stderr. */
  log(line: string): void {
    if (this.multibar?.isActive) return this.multibar.log(`${line}\n`);
    // Over the cdc line (the next cdc event draws it again below), not after it.
    process.stderr.write(`${this.cdcLine !== null ? '\r\x1b[K' : ''}${line}\n`);
    this.cdcLine = null;
  }

  /** Draws the last frame (every line from the final state) and leaves it on the terminal. */
  stop(): void {
    if (this.multibar?.isActive) {
      // A frame first: it writes the log lines still buffered (stop() alone would drop them).
      this.multibar.update();
      // cli-progress's stop() shows the cursor, turns line wrapping back on and renders every line
      // once more from its format, i.e. from the final state, the cursor left on the next line.
      this.multibar.stop();
    }
    // The cdc line drawn once more, whole, before it is ended: what landed on it (the terminal's `^C`) is wiped.
    if (this.cdcLine !== null) process.stderr.write(`\r${this.cdcLine}\x1b[K\n`);
    this.cdcLine = null;
    process.off('exit', this.restoreOnExit);
  }

  /**
   * A signal: the bars stop here for good (the last frame drawn, the cursor shown, the cdc line
   * ended), so what rb writes next stands on lines of its own below them; later events draw nothing.
   */
  halt(): void {
    this.halted = true;
    this.stop();
  }
}
