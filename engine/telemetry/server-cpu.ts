/**
 * CPU used by a PostgreSQL server on this machine (docs/design.md section 16), read from /proc:
 * the postmaster's own time, every live child's (backends, checkpointer, WAL writer, …), and the
 * children that have exited and been reaped (the postmaster's cutime + cstime). Sampled before and
 * after, the difference is what the interval cost the server — the other half of the machine's
 * work next to rb's own CPU: on a small machine rb and both servers share the cores.
 *
 * Used by `rb bench` (bench/runner.ts: each contender's run against the embedded clusters) and by
 * `rb run` (the result's `telemetry.source_server_cpu_s` / `destination_server_cpu_s`). A run finds
 * the postmaster through its own leader connection: the backend's pid (`pg_backend_pid()`) is
 * trusted only when /proc shows that process to be a PostgreSQL backend serving this very
 * connection (its process title names the client port rb's socket has, or `[local]` and the
 * database over a Unix socket); its parent is the postmaster. Anything else — a remote server, a
 * proxy or a container in between, /proc hidden or missing — is null, with the reason.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { BackendIdentity } from '../../connectors/registry.js';

/** Linux's USER_HZ: utime/stime in /proc/<pid>/stat are in these ticks (100 on every mainstream arch). */
export const CLOCK_TICKS_PER_SECOND = 100;

/**
 * The fields of /proc/<pid>/stat after the command name (which may contain spaces): index 0 is
 * field 3 (state), so ppid (4) is [1], utime (14) [11], stime [12], cutime [13], cstime [14].
 * Undefined once the process is gone.
 */
export function procStatFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function readChildren(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ')) if (c.trim()) out.push(Number(c));
    } catch {
      /* exited */
    }
  }
  return out;
}

/** The pids of the tree rooted at `root` (root included), walking /proc/<pid>/task/<tid>/children. */
export function processTree(root: number): number[] {
  const seen: number[] = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    if (seen.includes(pid)) continue;
    seen.push(pid);
    stack.push(...readChildren(pid));
  }
  return seen;
}

/** The postmaster's pid from `<dataDir>/postmaster.pid` (first line), or undefined. */
export function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** utime, stime, cutime, cstime of a process, in clock ticks. */
function statTimes(pid: number): [number, number, number, number] | undefined {
  const f = procStatFields(pid);
  return f ? [Number(f[11]), Number(f[12]), Number(f[13]), Number(f[14])] : undefined;
}

/** CPU seconds the server rooted at postmaster `pid` has used so far; undefined if it is gone. */
export function serverCpuSeconds(pid: number): number | undefined {
  // Children first, the postmaster last: a child reaped in between is then counted twice (once
  // live, once in cutime) rather than missed.
  let ticks = 0;
  for (const child of processTree(pid)) {
    if (child === pid) continue;
    const t = statTimes(child);
    if (t) ticks += t[0] + t[1];
  }
  const own = statTimes(pid);
  if (!own) return undefined;
  ticks += own[0] + own[1] + own[2] + own[3];
  return ticks / CLOCK_TICKS_PER_SECOND;
}

/**
 * The postmaster of the server behind a connection, when that server runs on this machine and
 * /proc shows it; else why not (a sentence for `telemetry.server_cpu_unknown`).
 */
export function localPostmaster(b: BackendIdentity): { pid: number } | { why: string } {
  if (b.clientPort === null && !b.unixSocket) return { why: 'the server is not on this machine (it sees the connection from another address)' };
  let title: string;
  try {
    title = readFileSync(`/proc/${b.backendPid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
  } catch {
    return { why: `no process ${b.backendPid} in /proc: the server is not on this machine, or its processes are hidden (another PID namespace, hidepid)` };
  }
  // A backend's process title: "postgres: [cluster: ]user database client(port) activity".
  const ours = b.unixSocket ? title.includes(' [local]') && title.includes(` ${b.database} `) : title.includes(`(${b.clientPort})`);
  if (!title.startsWith('postgres: ') || !ours) return { why: `process ${b.backendPid} on this machine is not the backend of rb's connection: the server is elsewhere (a remote host, a proxy or a container)` };
  const ppid = Number(procStatFields(b.backendPid)?.[1]);
  if (!(ppid > 1) || statTimes(ppid) === undefined) return { why: `the postmaster of backend ${b.backendPid} is not readable in /proc` };
  return { pid: ppid };
}

/** One run's `telemetry` server fields (run-telemetry.ts puts them in the result). */
export interface ServerCpu {
  /** CPU seconds of the source's and the destination's server over the run; null when not measurable. */
  source_s: number | null;
  destination_s: number | null;
  /** Both sides are one server (one figure: counted once in `total_s`). */
  same_server: boolean;
  /** The distinct servers' CPU seconds together; null when neither side is measurable. */
  total_s: number | null;
  /** Seconds between the two samples. */
  wall_s: number;
  /** Why a side is null. */
  unknown: { source?: string; destination?: string };
}

export interface ServerCpuMeter {
  finish(): ServerCpu;
}

type Sample = { pid: number; at: number } | { why: string };

/** Samples both sides' servers now; `finish()` samples again and gives the differences. */
export function startServerCpu(backends: { source: BackendIdentity; destination: BackendIdentity }): ServerCpuMeter {
  const startedAt = performance.now();
  const sample = (b: BackendIdentity): Sample => {
    const found = localPostmaster(b);
    if ('why' in found) return found;
    const at = serverCpuSeconds(found.pid);
    return at === undefined ? { why: `the postmaster ${found.pid} is gone` } : { pid: found.pid, at };
  };
  const src = sample(backends.source);
  const dst = sample(backends.destination);
  const hundredths = (x: number) => Math.round(x * 100) / 100;
  const since = (s: Sample): number | { why: string } => {
    if ('why' in s) return s;
    const now = serverCpuSeconds(s.pid);
    return now === undefined ? { why: `the postmaster ${s.pid} exited during the run` } : hundredths(Math.max(0, now - s.at));
  };
  return {
    finish() {
      const s = since(src);
      const d = since(dst);
      const same = 'pid' in src && 'pid' in dst && src.pid === dst.pid;
      const known = [s, same ? null : d].filter((x): x is number => typeof x === 'number');
      return {
        source_s: typeof s === 'number' ? s : null,
        destination_s: typeof d === 'number' ? d : null,
        same_server: same,
        total_s: known.length ? hundredths(known.reduce((a, x) => a + x, 0)) : null,
        wall_s: Math.round(performance.now() - startedAt) / 1000,
        unknown: { ...(typeof s === 'number' ? {} : { source: s.why }), ...(typeof d === 'number' ? {} : { destination: d.why }) },
      };
    },
  };
}
