/**
 * Where rb's own files are, whether this module runs from the TypeScript sources (through tsx or
 * vitest) or bundled under dist/ (engine/install/build-js.mjs; there import.meta.url is a chunk's).
 * Files that are not compiled (package.json, scenarios/, .mjs helpers, the native addon) are read
 * from the repository itself, addressed from REPO_ROOT, never relative to import.meta.url.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findPackageRoot } from '../native/native-dir.js';

/** True when running the compiled JavaScript in dist/. */
export const COMPILED = !import.meta.url.endsWith('.ts');

/** The repository (or installed package) root: the directory holding rb's package.json. */
export const REPO_ROOT = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));

export const repoPath = (...parts: string[]): string => path.join(REPO_ROOT, ...parts);

