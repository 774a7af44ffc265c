// Test hook for the regression gate (RB_BENCH_SLOWDOWN_FACTOR, see bench/contenders/rb.ts): runs
// the command given after the factor, then stays alive (factor - 1) times as long as it took before
// exiting with the command's status, so the measured process tree really takes `factor` times the
// wall time. Usage: node slow-wrapper.mjs <factor> <command> [args...]
import { spawn } from 'node:child_process';

const [factorText, command, ...args] = process.argv.slice(2);
const factor = Number(factorText);
if (!(factor >= 1) || !command) {
  process.stderr.write('usage: slow-wrapper.mjs <factor >= 1> <command> [args...]\n');
  process.exit(2);
}
const started = performance.now();
const child = spawn(command, args, { stdio: 'inherit' });
child.on('error', (e) => {
  process.stderr.write(`slow-wrapper: ${e.message}\n`);
  process.exit(127);
});
child.on('exit', (code, signal) => {
  const elapsedMs = performance.now() - started;
  setTimeout(() => process.exit(code ?? (signal ? 128 : 1)), (factor - 1) * elapsedMs);
});
