#!/usr/bin/env node
// rb's executable. Runs the compiled JavaScript in dist/ when it was built from the sources on disk
// (postinstall and `npm run build` build it; see engine/install/build-js.mjs), otherwise registers
// tsx and runs the TypeScript sources as they are. RB_FROM_SOURCE=1 forces the sources.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { distIsCurrent } from '../install/build-stamp.mjs';

// A reader that went away (`rb discover p.yaml | head`): output is of no use any more. Like
// `git log | head`, rb ends quietly — exit 0 — instead of crashing with an EPIPE stack trace; a
// command that changes data (`rb run`) keeps going and only stops writing to stdout.
const quietOnClosedPipe = (stream, exitNow) =>
  stream.on('error', (e) => {
    if (e?.code !== 'EPIPE' && e?.code !== 'ERR_STREAM_DESTROYED') throw e;
    if (exitNow()) process.exit(0);
  });
const readOnly = () => !['run', 'state', 'demo', 'bench'].includes(process.argv[2] ?? '') || process.argv.includes('show');
quietOnClosedPipe(process.stdout, readOnly);
quietOnClosedPipe(process.stderr, () => false);

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let main;
if (process.env.RB_FROM_SOURCE !== '1' && distIsCurrent(root)) {
  ({ main } = await import('../../dist/engine/cli/main.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('./main.ts'));
}
// Exit as soon as the command is done and its output is flushed (writes to a pipe are
// asynchronous on POSIX: an empty write's callback runs after every earlier write). Nothing else is
// left to wait for; idle pool threads and closing sockets would hold the process for tens of ms.
const code = await main(process.argv);
const flushed = (stream) => new Promise((resolve) => stream.write('', () => resolve()));
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
process.exit(code);
