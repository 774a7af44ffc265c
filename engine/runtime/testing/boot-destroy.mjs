// Child process of shard-pool-boot.test.ts (plain Node, no tsx: the hazard is Node's own loader).
// Creates a Piscina pool on the worker module argv[2] and destroys it just as the workers' module
// finishes evaluating, `cycles` (argv[3]) times; prints one JSON line when it survived them all.
//
// The worker module given must be, or load, timed-boot.mjs's shape: its top level busy-waits until
// the time in RB_BOOT_DEADLINE (epoch ms), so its evaluation ends at a moment this process knows,
// and the pool is destroyed within a millisecond of it. The deadline is set past the pool's measured
// boot time (re-measured every 10 cycles, so a loaded machine still lands the termination at the end
// of the evaluation and not before the module started loading).
import { Piscina } from 'piscina';

const [file, cyclesArg, threadsArg] = process.argv.slice(2);
const cycles = Number(cyclesArg);
const threads = Number(threadsArg ?? 2);
let poolErrors = 0;

function pool() {
  const p = new Piscina({ filename: file, minThreads: threads, maxThreads: threads });
  p.on('error', () => poolErrors++);
  return p;
}

/** Milliseconds from creating a pool to its first task's answer, with no busy wait. */
async function bootMs() {
  process.env.RB_BOOT_DEADLINE = '0';
  const started = performance.now();
  const p = pool();
  await p.run(null);
  const ms = performance.now() - started;
  await p.destroy();
  return ms;
}

let boot = 0;
for (let i = 0; i < cycles; i++) {
  if (i % 10 === 0) boot = await bootMs();
  const lead = Math.round(boot * 1.5) + 20;
  process.env.RB_BOOT_DEADLINE = String(Date.now() + lead);
  const p = pool();
  await new Promise((r) => setTimeout(r, lead + (Math.random() - 0.5)));
  await p.destroy();
}
console.log(JSON.stringify({ survived: cycles, poolErrors, lastBootMs: Math.round(boot) }));
