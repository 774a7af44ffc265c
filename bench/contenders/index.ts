/** Builds the contender list for a run (the alternation order is the list order). */
import { CONTENDER_KINDS, DEFAULT_CONTENDER_KINDS, REFERENCE_KIND, isRbKind, type Contender, type ContenderKind } from './contender.js';
import { nodePipeContender } from './node-pipe.js';
import { pgDumpContender } from './pg-dump.js';
import { pgcopydbContender } from './pgcopydb.js';
import { psqlPipeContender } from './psql-pipe.js';
import { rbContender } from './rb.js';

export { CONTENDER_KINDS, DEFAULT_CONTENDER_KINDS, REFERENCE_KIND, isRbKind };
export type { Contender, ContenderContext, ContenderKind } from './contender.js';

/** `kinds` in CONTENDER_KINDS order; one rb contender per parallelism value. */
export function buildContenders(kinds: readonly ContenderKind[], parallelism: readonly string[]): Contender[] {
  const out: Contender[] = [];
  for (const kind of CONTENDER_KINDS) {
    if (!kinds.includes(kind)) continue;
    if (kind === 'rb') for (const p of parallelism) out.push(rbContender(p, 'append'));
    if (kind === 'rb-replace') out.push(rbContender('auto', 'replace'));
    if (kind === 'rb-upsert') for (const changedPercent of [0, 1]) out.push(rbContender('auto', 'upsert', { changedPercent }));
    if (kind === 'psql-binary') out.push(psqlPipeContender('binary'));
    if (kind === 'psql-binary-pk') out.push(psqlPipeContender('binary', { primaryKey: true }));
    if (kind === 'psql-text') out.push(psqlPipeContender('text'));
    if (kind === 'pg-dump') out.push(pgDumpContender());
    if (kind === 'pgcopydb') out.push(pgcopydbContender());
    if (kind === 'node-pipe') out.push(nodePipeContender());
  }
  return out;
}
