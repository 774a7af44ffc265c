/**
 * Measures one contender run as a child process tree: wall time, CPU seconds, peak RSS.
 *
 * - Wall time: from spawn to exit (performance.now()).
 * - CPU seconds: when GNU time is installed (/usr/bin/time), the command runs under it and its
 *   user+system figures are used: they come from wait4() and so include every descendant that was
 *   waited for (both sides of a shell pipe, node's threads). Otherwise the sum of the last
 *   utime+stime polled from /proc/<pid>/stat of every process seen in the tree.
 * - Peak RSS: /proc is polled every POLL_MS for the whole tree (children of children, e.g. the two
 *   psql of a shell pipe), and each process's VmHWM (its own high-water mark, exact even between
 *   polls) is kept; the figure is the sum over the tree's processes, the wrapper excluded. The
 *   processes of a pipe run at the same time, so their peaks add up.
 * Client side only: the PostgreSQL backends' work is the same for every contender and not counted.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLOCK_TICKS_PER_SECOND, procStatFields, processTree } from '../engine/telemetry/server-cpu.js';

export interface MeasureRequest {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs: number;
  /** Use GNU time for CPU when installed (default); false forces /proc polling. */
  useGnuTime?: boolean;
}

export interface ProcessMeasurement {
  wallSeconds: number;
  cpuSeconds: number;
  peakRssBytes: number;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  /** Processes seen in the tree (for the report's footnotes and the tests). */
  processesSeen: number;
  cpuSource: 'gnu-time' | 'proc-poll';
}

const POLL_MS = 40;
const GNU_TIME = '/usr/bin/time';
const MAX_CAPTURE_BYTES = 8 << 20;

interface PidSample {
  hwmKb: number;
  cpuTicks: number;
}

function sampleOne(pid: number): PidSample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmHWM:\s+(\d+) kB/.exec(status);
    const rest = procStatFields(pid);
    if (!rest) return undefined;
    return { hwmKb: m ? Number(m[1]) : 0, cpuTicks: Number(rest[11]) + Number(rest[12]) };
  } catch {
    return undefined;
  }
}

function parseGnuTime(file: string): { cpuSeconds: number } | undefined {
  try {
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    // GNU time prefixes "Command exited with non-zero status N" when the command fails.
    const m = /^([\d.]+) ([\d.]+)$/.exec(lines[lines.length - 1].trim());
    return m ? { cpuSeconds: Number(m[1]) + Number(m[2]) } : undefined;
  } catch {
    return undefined;
  }
}

export function gnuTimeAvailable(): boolean {
  return existsSync(GNU_TIME);
}

/** Runs the command and measures it; never throws for a failing command (see exitCode). */
export async function measureProcess(req: MeasureRequest): Promise<ProcessMeasurement> {
  const useTime = req.useGnuTime !== false && gnuTimeAvailable();
  const tmp = useTime ? mkdtempSync(path.join(os.tmpdir(), 'rb-bench-time-')) : '';
  const timeFile = path.join(tmp, 'time.txt');
  const [cmd, args] = useTime ? [GNU_TIME, ['-f', '%U %S', '-o', timeFile, req.command, ...req.args]] : [req.command, req.args];

  const started = performance.now();
  // detached: own process group, so a timeout kills the whole tree (kill(-pgid)).
  const child = spawn(cmd, args, { cwd: req.cwd, env: req.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const samples = new Map<number, PidSample>();
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    if (stdout.length < MAX_CAPTURE_BYTES) stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < MAX_CAPTURE_BYTES) stderr += d;
  });

  const poll = (): void => {
    if (child.pid === undefined) return;
    for (const pid of processTree(child.pid)) {
      const s = sampleOne(pid);
      if (!s) continue;
      const prev = samples.get(pid);
      samples.set(pid, { hwmKb: Math.max(prev?.hwmKb ?? 0, s.hwmKb), cpuTicks: Math.max(prev?.cpuTicks ?? 0, s.cpuTicks) });
    }
  };
  poll();
  const timer = setInterval(poll, POLL_MS);
  let timedOut = false;
  const killer = setTimeout(() => {
    timedOut = true;
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }, req.timeoutMs);

  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, s) => resolve({ code: c, signal: s }));
  });
  const wallSeconds = (performance.now() - started) / 1000;
  clearInterval(timer);
  clearTimeout(killer);

  let peakKb = 0;
  let ticks = 0;
  for (const [pid, s] of samples) {
    if (useTime && pid === child.pid) continue; // the GNU time wrapper itself
    peakKb += s.hwmKb;
    ticks += s.cpuTicks;
  }
  const timed = useTime ? parseGnuTime(timeFile) : undefined;
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  return {
    wallSeconds,
    cpuSeconds: timed?.cpuSeconds ?? ticks / CLOCK_TICKS_PER_SECOND,
    peakRssBytes: peakKb * 1024,
    exitCode: code,
    signal,
    timedOut,
    stdout,
    stderr,
    processesSeen: samples.size - (useTime ? 1 : 0),
    cpuSource: timed ? 'gnu-time' : 'proc-poll',
  };
}
