// Whether dist/ (the compiled JavaScript, see build-js.mjs) matches the TypeScript sources.
// The stamp is a hash of every source file's path, size and mtime: editing, adding or deleting
// a source makes dist/ stale, and stale means "not used" (bin.js runs the sources through tsx).
// Plain .mjs with no dependencies: bin.js reads it before anything else is loaded.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export const DIST_DIR = 'dist';
export const STAMP_FILE = path.join(DIST_DIR, '.build-stamp.json');
/** The directories whose .ts files are compiled (the test files are not). */
export const SOURCE_DIRS = ['engine', 'connectors', 'native', 'bench'];
const SKIP_DIRS = new Set(['node_modules', 'target', 'fixtures', 'src', 'results', 'baselines']);

/** Every compiled source, as absolute paths, in a stable order. */
export function sourceFiles(root) {
  const out = [];
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) walk(p);
      } else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts')) {
        out.push(p);
      }
    }
  };
  for (const d of SOURCE_DIRS) walk(path.join(root, d));
  return out.sort();
}

/** The stamp of the sources as they are now. */
export function sourceStamp(root) {
  const h = createHash('sha256');
  const files = sourceFiles(root);
  for (const f of files) {
    const s = statSync(f);
    h.update(`${path.relative(root, f)}\0${s.size}\0${s.mtimeMs}\n`);
  }
  return { files: files.length, hash: h.digest('hex') };
}

/** True when dist/ was built from exactly the sources on disk now. */
export function distIsCurrent(root) {
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(path.join(root, STAMP_FILE), 'utf8'));
  } catch {
    return false;
  }
  const now = sourceStamp(root);
  return stamp.files === now.files && stamp.hash === now.hash;
}
