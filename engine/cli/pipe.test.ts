/**
 * Output into a pipe whose reader went away (`rb discover p.yaml | head`): rb ends quietly with
 * exit 0, as `git log | head` does, instead of an EPIPE stack trace and exit 1.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipelineYaml } from '../testing/pipeline-yaml.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';

const BIN = fileURLToPath(new URL('./bin.js', import.meta.url));
let src: TestDb;
let dst: TestDb;
let file: string;

beforeAll(async () => {
  src = await createTestDatabase('pipe_src');
  dst = await createTestDatabase('pipe_dst');
  // Enough tables that discover prints well past a pipe's buffer.
  for (let i = 0; i < 40; i++) await src.query(`create table t${i} (${Array.from({ length: 30 }, (_, c) => `column_with_a_long_name_${c} text`).join(', ')})`);
  file = join(mkdtempSync(join(tmpdir(), 'rb-pipe-')), 'p.yaml');
  writeFileSync(file, pipelineYaml({ srcUrl: src.url, dstUrl: dst.url, streams: ['t0'] }));
});
afterAll(async () => {
  await dropTestDatabases();
});

/** Runs rb with stdout into a pipe that is closed as soon as the first bytes arrive (like `| head -1`). */
function closedEarly(args: string[]): Promise<{ code: number | null; err: string; got: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let got = 0;
    child.stderr!.on('data', (d) => (err += d));
    child.stdout!.once('data', (d: Buffer) => {
      got = d.length;
      child.stdout!.destroy();
    });
    child.on('exit', (code) => resolve({ code, err, got }));
  });
}

describe('a closed stdout', () => {
  it('rb discover | head: exit 0, no stack trace', async () => {
    const r = await closedEarly(['discover', file, '--schema', 'public']);
    expect(r.got).toBeGreaterThan(0);
    expect(r.err).not.toMatch(/EPIPE|Error:|at /);
    expect(r.code, r.err).toBe(0);
  });
});
