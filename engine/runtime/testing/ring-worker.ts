/**
 * Worker-thread entry for the ring-channel tests: runs the role in workerData.task and posts its
 * report. Started through tsx-bootstrap.mjs (see startRingWorker in start-ring-worker.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runRingRole, type RingRoleTask } from './ring-roles.js';

const task = (workerData as { task: RingRoleTask }).task;
parentPort!.postMessage({ kind: 'started' });
parentPort!.postMessage({ kind: 'report', report: runRingRole(task) });
