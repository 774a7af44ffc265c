import { describe, expect, it } from 'vitest';
import { processTree } from '../engine/telemetry/server-cpu.js';
import { measureProcess } from './measure.js';

// Each side allocates and touches memory, burns `busyMs` of its own CPU time (not wall time: the
// machine may be shared), then lingers so the poller sees it.
const hog = (mb: number, busyMs: number): string =>
  `node -e "const b = Buffer.alloc(${mb} * 1e6, 1); let x = 0; while (process.cpuUsage().user < ${busyMs * 1000}) x += b[x % b.length]; setTimeout(() => {}, 300)"`;

describe('measureProcess', () => {
  it('adds up the peak RSS and CPU of both sides of a shell pipe', async () => {
    const m = await measureProcess({ command: 'bash', args: ['-c', `${hog(150, 400)} | ${hog(100, 400)}`], timeoutMs: 30_000 });
    expect(m.exitCode).toBe(0);
    expect(m.processesSeen).toBeGreaterThanOrEqual(2);
    expect(m.peakRssBytes).toBeGreaterThan(250e6);
    expect(m.peakRssBytes).toBeLessThan(1000e6);
    expect(m.cpuSeconds).toBeGreaterThan(0.6); // two 400 ms busy loops
    expect(m.wallSeconds).toBeGreaterThan(0.4);
  });

  it('measures CPU by polling /proc when GNU time is not used', async () => {
    const m = await measureProcess({ command: 'bash', args: ['-c', `${hog(50, 500)} | ${hog(50, 500)}`], timeoutMs: 30_000, useGnuTime: false });
    expect(m.cpuSource).toBe('proc-poll');
    expect(m.cpuSeconds).toBeGreaterThan(0.7);
    expect(m.peakRssBytes).toBeGreaterThan(100e6);
  });

  it('reports the exit code and output of a failing command', async () => {
    const m = await measureProcess({ command: 'bash', args: ['-c', 'echo out; echo oops >&2; exit 3'], timeoutMs: 10_000 });
    expect(m.exitCode).toBe(3);
    expect(m.stdout).toBe('out\n');
    expect(m.stderr).toContain('oops');
  });

  it('kills the whole tree at the timeout', async () => {
    const m = await measureProcess({ command: 'bash', args: ['-c', 'sleep 20 | sleep 20'], timeoutMs: 400 });
    expect(m.timedOut).toBe(true);
    expect(m.wallSeconds).toBeLessThan(5);
  });
});

describe('processTree', () => {
  it('includes the root and its children', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn('bash', ['-c', 'sleep 2 | sleep 2'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300));
    const pids = processTree(child.pid!);
    child.kill('SIGKILL');
    expect(pids[0]).toBe(child.pid);
    expect(pids.length).toBeGreaterThanOrEqual(3);
  });
});
