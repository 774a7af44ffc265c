/**
 * vitest global setup: one throw-away embedded PostgreSQL cluster per test run. Its connection is
 * handed to test files through `provide`; each test takes its own databases (`engine/testing/pg.ts`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureCluster, resetCluster } from '../embedded/cluster.js';
import { claimRunDir, staleRunDirs } from './stale-clusters.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgCluster: { host: string; port: number; user: string; password: string };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const base = path.resolve('.rb', 'test-clusters');
  const { mkdirSync, chmodSync } = await import('node:fs');
  mkdirSync(base, { recursive: true });
  chmodSync(base, 0o755);
  // Clusters left running by test runs that were killed before their teardown.
  for (const dir of staleRunDirs(base)) {
    await resetCluster(path.join(dir, 'embedded')).catch(() => {});
    await resetCluster(dir).catch(() => {});
  }
  const root = mkdtempSync(path.join(base, 'run-'));
  claimRunDir(root);
  const info = await ensureCluster(root);
  project.provide('pgCluster', { host: info.host, port: info.port, user: info.user, password: info.password });
  // `embedded: true` in anything a test runs (the test files and the rb processes they spawn
  // inherit this) gets a cluster inside this run's directory, never the user's own
  // (~/.local/share/rb/pg, engine/embedded/root.ts). Stopped and deleted with the run.
  const embeddedRoot = path.join(root, 'embedded');
  process.env.RB_EMBEDDED_ROOT = embeddedRoot;
  return async () => {
    await resetCluster(embeddedRoot).catch(() => {});
    await resetCluster(root);
    rmSync(root, { recursive: true, force: true });
  };
}
