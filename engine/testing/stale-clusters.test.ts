import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OWNER_FILE, claimRunDir, staleRunDirs } from './stale-clusters.js';

const base = mkdtempSync(path.join(os.tmpdir(), 'rb-stale-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function runDir(name: string, owner?: number): string {
  const dir = path.join(base, name);
  mkdirSync(dir);
  if (owner !== undefined) writeFileSync(path.join(dir, OWNER_FILE), `${owner}\n`);
  return dir;
}

describe('staleRunDirs', () => {
  it('lists the run directories whose owner process has exited, and only those', () => {
    // A pid that existed and is gone: a child that has exited (and was reaped).
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(gone.stdout);
    expect(deadPid).toBeGreaterThan(0);
    const dead = runDir('run-dead', deadPid);
    runDir('run-alive', process.ppid); // the process that started this test: alive
    const mine = runDir('run-mine');
    claimRunDir(mine); // this process: alive
    runDir('run-unclaimed'); // being set up right now: left alone
    runDir('other-dir', deadPid); // not a run directory
    expect(staleRunDirs(base)).toEqual([dead]);
  });

  it('is empty for a base directory that does not exist', () => {
    expect(staleRunDirs(path.join(base, 'nope'))).toEqual([]);
  });
});
