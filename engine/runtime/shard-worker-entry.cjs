// The file Piscina's workers load when rb runs compiled (WORKER_FILE in shard-pool.ts). Piscina
// require()s a worker's module; where Node can require() an ES module (20.19+, 22.12+) it would
// load dist's ESM worker that way, and a worker terminated while that load is under way (the pool
// destroyed during planning: a run that fails or is cancelled before its shards start) aborts the
// whole process inside Node (`Assertion failed: facade->InstantiateModule(...)`, or `IsGraphAsync
// must be used on an instantiated module`: exit 134, no clean-up). This file is plain CommonJS, so
// require() of it is safe, and it loads the real worker with import(), which a termination stops
// cleanly.
'use strict';
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const url = pathToFileURL(path.join(__dirname, '..', '..', 'dist', 'engine', 'runtime', 'shard-worker.js')).href;

// Piscina awaits a `default` that is a promise before it calls the worker ready (and before the
// worker blocks on its task queue, when no event loop turn would finish the import), so the
// handler is the worker's own function, loaded at start. A module that cannot load must kill the
// worker, which Piscina reports as the pool's error: a rejection here would only make Piscina look
// for another handler and start the worker with none.
const failStart = (e) => {
  setImmediate(() => {
    throw e;
  });
  return new Promise(() => {});
};
module.exports = { __esModule: true, default: import(url).then((m) => m.default, failStart) };
