/**
 * The library's event kinds (engine/api/run.ts RUN_EVENT_KINDS, checked against the RunEvent union
 * at compile time) are each documented: README "Where the time went" names every kind, and every
 * JSON log event json-log.ts and run-command.ts write has its row in README's table.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { repoPath } from '../paths.js';
import { RUN_EVENT_KINDS } from './run.js';

const readme = readFileSync(repoPath('README.md'), 'utf8');
const section = /## Where the time went[\s\S]*?\n## /.exec(readme)![0];

describe('run events are documented', () => {
  it.each(RUN_EVENT_KINDS)('RunEvent %s is named in README "Where the time went"', (kind) => {
    expect(section).toContain(`\`${kind}\``);
  });

  it('every JSON log event has a row in the README table', () => {
    const source = readFileSync(repoPath('engine/telemetry/json-log.ts'), 'utf8') + readFileSync(repoPath('engine/cli/run-command.ts'), 'utf8');
    const written = new Set([...source.matchAll(/line\('(?:info|warn|error)', '([a-z-]+)'/g)].map((m) => m[1]));
    written.add('phase-start').add('phase-end'); // `phase-${e.state}`
    for (const event of ['run-start', 'slot-created', 'snapshot-done', 'checkpoint', 'retry', 'stop', 'run-end']) expect(written).toContain(event);
    for (const event of written) expect(section, event).toMatch(new RegExp(`\\n\\| [^|]*\`${event}\``));
  });
});
