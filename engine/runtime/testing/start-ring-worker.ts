/**
 * Starts a ring-channel test role in a worker thread running TypeScript through tsx, and exposes
 * its report and exit as promises so tests can await both (no worker outlives its test).
 */
import { Worker } from 'node:worker_threads';
import type { RingRoleReport, RingRoleTask } from './ring-roles.js';

export interface RingWorker {
  worker: Worker;
  /** Resolves when the worker has started running its role (it may block right after). */
  started: Promise<void>;
  report: Promise<RingRoleReport>;
  /** The worker's exit code. */
  exited: Promise<number>;
}

const BOOTSTRAP = new URL('./tsx-bootstrap.mjs', import.meta.url);
const ENTRY = new URL('./ring-worker.ts', import.meta.url).href;

export function startRingWorker(task: RingRoleTask): RingWorker {
  const worker = new Worker(BOOTSTRAP, { workerData: { entry: ENTRY, task } });
  let onStarted!: () => void;
  const started = new Promise<void>((resolve) => (onStarted = resolve));
  const report = new Promise<RingRoleReport>((resolve, reject) => {
    worker.on('message', (m: { kind: string; report?: RingRoleReport }) => {
      if (m.kind === 'started') onStarted();
      else if (m.kind === 'report') resolve(m.report!);
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`ring worker (${task.role}) exited with code ${code} before reporting`)));
  });
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  return { worker, started, report, exited };
}
