/**
 * Where rb's embedded cluster lives (docs/design.md section 12). One per user by default, so
 * `embedded: true` means the same cluster from every directory:
 *
 *   RB_EMBEDDED_ROOT   when set (a relative path is taken from the working directory, so
 *                      `RB_EMBEDDED_ROOT=.rb/pg` asks for a project-local cluster)
 *   $XDG_DATA_HOME/rb/pg   when XDG_DATA_HOME is an absolute path (the XDG base directory rule)
 *   ~/.local/share/rb/pg   otherwise (HOME, else the account's home directory)
 *
 * The test suite and the bench pass their own roots to ensureCluster and never reach this
 * default (engine/testing/global-setup.ts sets RB_EMBEDDED_ROOT for everything a test spawns).
 */
import os from 'node:os';
import path from 'node:path';

export type EmbeddedRootOrigin = 'RB_EMBEDDED_ROOT' | 'XDG_DATA_HOME' | 'HOME';

export interface EmbeddedRoot {
  /** Absolute path of the cluster directory (data/, run/, cluster.json, server.log). */
  root: string;
  from: EmbeddedRootOrigin;
}

/** The directory rb used for `embedded: true` before it was per user: `./.rb/pg` of the working directory. */
export const LEGACY_PROJECT_ROOT = path.join('.rb', 'pg');

/**
 * @example embeddedRoot({ HOME: '/home/ann' }) → { root: '/home/ann/.local/share/rb/pg', from: 'HOME' }
 * @example embeddedRoot({ RB_EMBEDDED_ROOT: '.rb/pg' }) → { root: `${process.cwd()}/.rb/pg`, from: 'RB_EMBEDDED_ROOT' }
 */
export function embeddedRoot(env: NodeJS.ProcessEnv = process.env): EmbeddedRoot {
  if (env.RB_EMBEDDED_ROOT) return { root: path.resolve(env.RB_EMBEDDED_ROOT), from: 'RB_EMBEDDED_ROOT' };
  const xdg = env.XDG_DATA_HOME;
  if (xdg && path.isAbsolute(xdg)) return { root: path.join(xdg, 'rb', 'pg'), from: 'XDG_DATA_HOME' };
  return { root: path.join(env.HOME || os.homedir(), '.local', 'share', 'rb', 'pg'), from: 'HOME' };
}

/** "rb's embedded cluster at /home/ann/.local/share/rb/pg (per user)" — how commands name it. */
export function describeEmbeddedRoot(r: EmbeddedRoot = embeddedRoot()): string {
  return `rb's embedded cluster at ${r.root} (${r.from === 'RB_EMBEDDED_ROOT' ? 'RB_EMBEDDED_ROOT' : 'per user; RB_EMBEDDED_ROOT overrides'})`;
}
