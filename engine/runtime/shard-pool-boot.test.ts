/**
 * A pool destroyed while its workers are still loading their module (a run that fails or is
 * cancelled during planning: the pool boots beside it) must not take the process down. Where Node
 * can require() an ES module, Piscina's require() of an ESM worker aborts the whole process when
 * the worker is terminated at the end of that load (exit 134 inside Node; CI lost a run's exit code
 * to it). rb's compiled pool therefore loads a CommonJS entry that import()s the worker
 * (engine/runtime/shard-worker-entry.cjs).
 *
 * The harness (testing/boot-destroy.mjs, a plain Node child: the hazard is in Node's loader) times
 * each destroy to the end of the worker module's evaluation (testing/timed-boot.mjs). The first
 * test shows the harness reproduces the abort with the ESM module loaded directly, so the second,
 * the real entry file over the same module, means something.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoPath } from '../paths.js';
import { ShardPool, workerFile } from './shard-pool.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'rb-pool-boot-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A package laid out as rb's is: the entry file at its place, `worker` as the compiled worker. */
function layout(name: string, worker: string): { entry: string; esm: string } {
  const dir = path.join(root, name);
  mkdirSync(path.join(dir, 'engine', 'runtime'), { recursive: true });
  mkdirSync(path.join(dir, 'dist', 'engine', 'runtime'), { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }\n');
  const entry = path.join(dir, 'engine', 'runtime', 'shard-worker-entry.cjs');
  copyFileSync(workerFile(true), entry);
  const esm = path.join(dir, 'dist', 'engine', 'runtime', 'shard-worker.js');
  writeFileSync(esm, worker);
  return { entry, esm };
}

const timed = layout('timed', readFileSync(repoPath('engine', 'runtime', 'testing', 'timed-boot.mjs'), 'utf8'));

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function bootDestroy(file: string, cycles: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [repoPath('engine', 'runtime', 'testing', 'boot-destroy.mjs'), file, String(cycles), '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe('a pool destroyed while its workers load their module', () => {
  it.runIf(process.features.require_module)(
    'the harness reproduces the abort when Piscina loads the ES module itself (require of ESM)',
    async () => {
      const r = await bootDestroy(timed.esm, 300);
      expect(r.signal, `the ESM worker survived 300 destroys: ${r.stdout}`).toBe('SIGABRT');
      expect(r.stderr).toMatch(/Assertion failed|FATAL ERROR/);
    },
    120_000,
  );

  it('the compiled pool entry (shard-worker-entry.cjs) survives the same destroys, with no pool errors', async () => {
    const r = await bootDestroy(timed.entry, 120);
    expect(r.stderr).toBe('');
    expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
    expect(JSON.parse(r.stdout)).toMatchObject({ survived: 120, poolErrors: 0 });
  }, 120_000);

  it('through the entry, a task gets the worker module\'s answer, and a module that fails to load is the pool\'s start error', async () => {
    const good = new ShardPool(1, { filename: timed.entry });
    try {
      expect(await good.piscina.run(null)).toBe('ok');
    } finally {
      await good.destroy();
    }
    const broken = layout('broken', "throw new Error('worker module exploded at load');\nexport default () => 1;\n");
    const pool = new ShardPool(1, { filename: broken.entry });
    try {
      for (let i = 0; i < 200 && !pool.startError; i++) await new Promise((r) => setTimeout(r, 50));
      expect(pool.startError?.message).toMatch(/pool worker failed .*worker module exploded at load/);
    } finally {
      await pool.destroy();
    }
  }, 30_000);

  it('the compiled pool loads the CommonJS entry, the sources the TypeScript worker', () => {
    expect(workerFile(true)).toBe(repoPath('engine', 'runtime', 'shard-worker-entry.cjs'));
    expect(workerFile(false)).toBe(repoPath('engine', 'runtime', 'shard-worker.ts'));
  });
});
