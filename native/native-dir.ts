/**
 * Where the package's files are, whether this code runs from the TypeScript sources or bundled
 * into a dist/ chunk (whose import.meta.url is dist/chunks/…). native/ holds the addon and the
 * pgoutput fixtures; the engine's paths.ts finds the package root with the same walk.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The first directory at or above `start` that holds a package.json (`start` if none does). */
export function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return start;
  }
}

/** native/ on disk: this file's directory in the sources, found from the package root when bundled. */
export const NATIVE_DIR = import.meta.url.endsWith('.ts')
  ? path.dirname(fileURLToPath(import.meta.url))
  : path.join(findPackageRoot(path.dirname(fileURLToPath(import.meta.url))), 'native');
