// Builds rb's native addon (called by `npm run build:native` and by the postinstall step in
// the engine's install/postinstall.mjs, which tolerates a failure). Without cargo it prints one line
// and exits 0: rb then runs on the TypeScript codecs. Build errors are printed and exit non-zero.
//
// The build goes through @napi-rs/cli (`napi build --release --platform`), which names the file
// `native/rb-native.<platform>.node` (e.g. rb-native.linux-x64-gnu.node); when the CLI is not
// installed (production install without devDependencies) it falls back to `cargo build` and
// copies the library under the same name.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const nativeDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(nativeDir, '..');
const binaryName = 'rb-native';

function hasCargo() {
  const r = spawnSync('cargo', ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/** The napi-rs platform suffix (its `platformArchABI`) for this machine. */
function platformSuffix() {
  const { platform, arch } = process;
  if (platform === 'linux') {
    const glibc = process.report?.getReport?.().header?.glibcVersionRuntime;
    return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`;
  }
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

function napiCli() {
  try {
    const require = createRequire(import.meta.url);
    const pkgPath = require.resolve('@napi-rs/cli/package.json');
    const bin = JSON.parse(readFileSync(pkgPath, 'utf8')).bin?.napi;
    const cli = bin && path.join(path.dirname(pkgPath), bin);
    return cli && existsSync(cli) ? cli : null;
  } catch {
    return null;
  }
}

function run(cmd, args) {
  console.log(`rb: ${[path.basename(cmd), ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

function buildWithNapiCli(cli) {
  // The napi section lives in a generated config file (target/ is git-ignored) so the root
  // package.json stays free of napi-rs fields.
  const configDir = path.join(root, 'target');
  mkdirSync(configDir, { recursive: true });
  const configPath = path.join(configDir, 'rb-napi.json');
  writeFileSync(configPath, JSON.stringify({ binaryName }) + '\n');
  return run(process.execPath, [
    cli, 'build', '--release', '--platform', '--no-js',
    '--manifest-path', path.join(nativeDir, 'Cargo.toml'),
    '--package-json-path', path.join(root, 'package.json'),
    '--config-path', configPath,
    '--output-dir', nativeDir,
  ]);
}

function buildWithCargo() {
  const status = run('cargo', ['build', '--release', '--manifest-path', path.join(nativeDir, 'Cargo.toml')]);
  if (status !== 0) return status;
  const lib = { linux: 'librb_native.so', darwin: 'librb_native.dylib', win32: 'rb_native.dll' }[process.platform] ?? 'librb_native.so';
  const dest = path.join(nativeDir, `${binaryName}.${platformSuffix()}.node`);
  // Copy then rename: a process that has the old file mapped keeps a valid image.
  copyFileSync(path.join(root, 'target', 'release', lib), `${dest}.tmp`);
  renameSync(`${dest}.tmp`, dest);
  return 0;
}

function main() {
  if (!hasCargo()) {
    console.log('rb: cargo not found; using the TypeScript codecs (RB_NATIVE=0 behaviour)');
    return 0;
  }
  const started = Date.now();
  const cli = napiCli();
  const status = cli ? buildWithNapiCli(cli) : buildWithCargo();
  if (status !== 0) {
    console.error(`rb: native addon build failed (exit ${status}); rb will use the TypeScript codecs`);
    return status;
  }
  const file = path.join(nativeDir, `${binaryName}.${platformSuffix()}.node`);
  if (!existsSync(file)) {
    console.error(`rb: native build finished but ${path.relative(root, file)} is missing`);
    return 1;
  }
  console.log(`rb: native addon built in ${((Date.now() - started) / 1000).toFixed(1)} s: ${path.relative(root, file)}`);
  return 0;
}

try {
  process.exitCode = main();
} catch (err) {
  console.error(`rb: native addon build failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
