/**
 * native/ on disk, whether this code runs from the TypeScript sources (then it is this file's
 * directory) or bundled into a dist/ chunk (then it is found from the package root: the first
 * directory up with a package.json). The addon and the pgoutput fixtures live there.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const NATIVE_DIR = ((): string => {
  const dir = path.dirname(fileURLToPath(import.meta.url));
  if (import.meta.url.endsWith('.ts')) return dir;
  for (let d = dir; path.dirname(d) !== d; d = path.dirname(d)) {
    if (existsSync(path.join(d, 'package.json'))) return path.join(d, 'native');
  }
  return dir;
})();
