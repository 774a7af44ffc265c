// Entry point for worker threads that run TypeScript in tests. Node 20 ignores `--import tsx` in a
// Worker's execArgv (ESM loader hooks cannot be set per worker before Node 22:
// https://github.com/nodejs/node/issues/47747), so the worker registers tsx itself and then
// imports the real entry, given as a file URL in workerData.entry.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
