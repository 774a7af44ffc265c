/** Runs the real `rb` binary for CLI tests: exit code, stdout and stderr. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../cli/bin.js', import.meta.url));

export interface CliResult {
  code: number | null;
  out: string;
  err: string;
}

export function runRb(args: string[], env: Record<string, string> = {}, timeoutMs = 180_000, cwd?: string): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: timeoutMs, cwd });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
