/**
 * The cdc bench end to end at a tiny size: both contenders catch up the same backlog and both
 * destinations are verified equal to the source. Needs pgbench (`.ci/run` installs it); without it
 * the test is reported as skipped, never as passed.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cdcBench, formatCdcReport } from './cdc-bench.js';

const PGBENCH = spawnSync('pgbench', ['--version']).status === 0;

describe('rb bench --profile cdc', () => {
  it.skipIf(!PGBENCH)('2,000 changes, one iteration: rb and the PostgreSQL subscription both end equal to the source, and the report has its fields', async () => {
    const r = await cdcBench({ changes: 2000, iterations: 1, scale: 1 });
    expect(r.verified).toBe(true);
    expect(r.contenders.map((c) => c.name)).toEqual(['rb', 'pg_subscription']);
    const rb = r.contenders[0];
    expect(rb.seconds).toHaveLength(1);
    expect(rb.changes_per_second).toBeGreaterThan(0);
    expect(rb.ratio_to_pg_subscription).toBeGreaterThan(0);
    expect(rb.peak_rss_bytes).toBeGreaterThan(0);
    expect(r.changes).toBeGreaterThanOrEqual(2000);
    expect(formatCdcReport(r)).toMatch(/ratio_to_pg_subscription/);
  }, 300_000);
});
