/**
 * `--help` of every command (found by walking `rb --help`'s command list, so a new command is
 * covered without editing this file) ends with examples that start with `rb <that command>`.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from './main.js';

async function help(args: string[]): Promise<string> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  });
  try {
    expect(await main(['node', 'rb', ...args, '--help'])).toBe(0);
  } finally {
    spy.mockRestore();
  }
  return out;
}

/** The names in a help text's "Commands:" section (without `help`). */
function commandsOf(text: string): string[] {
  const section = /\nCommands:\n([\s\S]*?)(\n\n|\n?$)/.exec(text)?.[1] ?? '';
  return section
    .split('\n')
    .map((l) => /^ {2}([a-z][a-z-]*)/.exec(l)?.[1])
    .filter((name): name is string => name !== undefined && name !== 'help');
}

function exampleLines(text: string): string[] {
  const block = /\nExamples:\n([\s\S]*?)(\n\n|$)/.exec(text)?.[1] ?? '';
  return block.split('\n').filter((l) => l.trim().startsWith('$ '));
}

afterEach(() => vi.restoreAllMocks());

describe('--help', () => {
  it('of rb lists examples and points to the config reference', async () => {
    const text = await help([]);
    expect(exampleLines(text).length).toBeGreaterThanOrEqual(3);
    expect(text).toContain('docs/config.md');
  });

  it('of rb run shows the telemetry flags in its examples', async () => {
    const lines = exampleLines(await help(['run']));
    expect(lines.some((l) => l.includes('--follow --metrics-addr 127.0.0.1:9187'))).toBe(true);
    expect(lines.some((l) => l.includes('--log-format json'))).toBe(true);
  });

  it('of every command has examples of that command', async () => {
    const leaves: string[][] = [];
    const visit = async (path: string[]) => {
      const text = await help(path);
      const sub = commandsOf(text);
      if (path.length > 0 && sub.length === 0) {
        leaves.push(path);
        const lines = exampleLines(text);
        expect(lines.length, `rb ${path.join(' ')} --help has no examples`).toBeGreaterThanOrEqual(1);
        // `$ rb state show …`, or a shell line that runs it: `$ psql "$(rb embedded psql-url rb_dest)"`
        for (const line of lines) expect(line.trim()).toMatch(new RegExp(`^\\$ (.*\\$\\()?rb ${path.join(' ')}( |\\)|$)`));
      }
      for (const name of sub) await visit([...path, name]);
    };
    await visit([]);
    expect(leaves.map((p) => p.join(' '))).toEqual(expect.arrayContaining(['run', 'check', 'discover', 'demo', 'bench', 'state show', 'state reset', 'embedded status', 'embedded stop', 'embedded psql-url']));
  });
});
