// A pool worker module for boot-destroy.mjs: its evaluation ends at the epoch-ms time in
// RB_BOOT_DEADLINE (0: at once), then it exports a task handler, as rb's worker does.
const deadline = Number(process.env.RB_BOOT_DEADLINE ?? 0);
while (Date.now() < deadline) {
  // busy: the evaluation's end is the moment the harness destroys the pool
}
export default function task() {
  return 'ok';
}
