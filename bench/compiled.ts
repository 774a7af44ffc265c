/**
 * rb runs its compiled build while it is current (engine/cli/bin.js) and its TypeScript sources
 * through tsx otherwise. A bench must measure the compiled rb users run, never a stale build's
 * fallback: compile first when the sources changed.
 */
import { buildJs } from '../engine/install/build-js.mjs';
import { distIsCurrent } from '../engine/install/build-stamp.mjs';
import { REPO_ROOT } from '../engine/paths.js';

export async function ensureCompiled(log: (line: string) => void): Promise<void> {
  if (distIsCurrent(REPO_ROOT)) return;
  log('bench: the sources changed since rb was compiled; compiling to dist/ first');
  await buildJs({ quiet: true, root: REPO_ROOT });
}
