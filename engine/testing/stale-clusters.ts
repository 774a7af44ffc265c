/**
 * Throw-away test clusters whose test run is gone. Every run's global setup records its process id
 * in `<run dir>/owner.pid`; a run killed from outside (a timeout, Ctrl-C twice) skips its teardown
 * and leaves its cluster running. The next run's setup stops and deletes the clusters whose owner
 * no longer exists — never one whose owner is alive, so two test runs in one checkout leave each
 * other alone.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const OWNER_FILE = 'owner.pid';

/** Records the current process as the owner of a run directory. */
export function claimRunDir(dir: string): void {
  writeFileSync(path.join(dir, OWNER_FILE), `${process.pid}\n`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Run directories under `base` (named run-*) whose recorded owner process has exited. */
export function staleRunDirs(base: string): string[] {
  if (!existsSync(base)) return [];
  const out: string[] = [];
  for (const name of readdirSync(base)) {
    if (!name.startsWith('run-')) continue;
    const ownerFile = path.join(base, name, OWNER_FILE);
    if (!existsSync(ownerFile)) continue; // being set up right now, or from before owner files
    const pid = Number(readFileSync(ownerFile, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid)) out.push(path.join(base, name));
  }
  return out;
}
