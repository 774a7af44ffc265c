/** The plain Node pipe contender (see node-pipe-child.mjs for the code a user would write). */
import type { Contender } from './contender.js';
import { repoPath } from '../../engine/paths.js';

const CHILD = repoPath('bench', 'contenders', 'node-pipe-child.mjs');

export function nodePipeContender(): Contender {
  return {
    id: 'node-pipe',
    label: 'node pg-copy-streams pipe',
    kind: 'node-pipe',
    async unavailableReason() {
      return undefined; // pg and pg-copy-streams are dependencies of rb itself
    },
    async command(ctx) {
      return {
        command: process.execPath,
        args: [CHILD],
        env: { ...process.env, RB_SRC_URL: ctx.sourceUrl, RB_DST_URL: ctx.destUrl, RB_TABLES: ctx.tables.join(',') },
      };
    },
  };
}
