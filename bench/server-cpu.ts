/**
 * CPU used by a local PostgreSQL server during a contender's run (the bench's embedded clusters):
 * the postmaster's own time, every live child's (backends, checkpointer, WAL writer, …), and the
 * children that have exited and been reaped (the postmaster's cutime + cstime). Sampled before and
 * after a run, the difference is what the run cost the server — the other half of the machine's
 * work, next to the client's CPU: on a small machine both servers and the client share the cores.
 * Unknown (undefined) for a remote server or where /proc is missing.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CLOCK_TICKS_PER_SECOND, procStatFields, processTree } from './measure.js';

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
  // live, once in cutime) rather than missed; the bench samples after the run's backends are gone.
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
