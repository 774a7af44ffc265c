/**
 * `rb worker --queue <url> [--concurrency N] [--pipeline file…]`: runs queued shards until stopped
 * (engine/queue/worker.ts). First SIGTERM/SIGINT: take no more jobs, finish those in hand, exit 0;
 * a second: stop them (rolled back) and put their jobs back, exit 0.
 */
import os from 'node:os';
import { RbError } from '../errors.js';
import { runWorker } from '../queue/worker.js';
import { printError } from './output.js';

export async function workerCommand(o: { queue: string; concurrency?: number; pipeline?: string[] }): Promise<number> {
  const drain = new AbortController();
  const stop = new AbortController();
  const on = (sig: NodeJS.Signals) => {
    if (!drain.signal.aborted) {
      process.stderr.write(`rb worker: ${sig}: taking no more jobs; finishing the shards in hand (again to stop them and put their jobs back)\n`);
      drain.abort();
    } else if (!stop.signal.aborted) {
      process.stderr.write(`rb worker: ${sig} again: stopping the shards in hand; their jobs go back to the queue\n`);
      stop.abort();
    }
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  try {
    await runWorker({
      queueUrl: o.queue,
      concurrency: o.concurrency ?? os.availableParallelism(),
      pipelineFiles: o.pipeline ?? [],
      log: (line) => process.stderr.write(`${line}\n`),
      drain: drain.signal,
      stop: stop.signal,
      ...(process.env.RB_WORKER_POLL_MS ? { pollMs: Number(process.env.RB_WORKER_POLL_MS) } : {}),
    });
    return 0;
  } catch (e) {
    const err = e instanceof RbError ? e : new RbError('internal', e instanceof Error ? e.message : String(e));
    printError(err, false);
    return err.exitCode;
  } finally {
    process.off('SIGINT', on);
    process.off('SIGTERM', on);
  }
}
