/**
 * The cdc bench end to end at a tiny size: both contenders catch up the same backlog and both
 * destinations are verified equal to the source. Needs pgbench (`.ci/run` installs it) and an
 * embedded PostgreSQL whose logical replication worker can run; without them the test is
 * reported as skipped, with the reason in its name, never as passed.
 */
import { describe, expect, it } from 'vitest';
import { cdcBench, cdcBenchUnavailable, formatCdcReport } from './cdc-bench.js';

const UNAVAILABLE = await cdcBenchUnavailable();

describe('rb bench --profile cdc', () => {
  it.skipIf(UNAVAILABLE !== null)(
    `2,000 changes, one iteration: rb and the PostgreSQL subscription both end equal to the source, and the report has its fields${UNAVAILABLE ? ` (skipped: ${UNAVAILABLE})` : ''}`,
    async () => {
      const r = await cdcBench({ changes: 2000, iterations: 1, scale: 1 });
      expect(r.verified).toBe(true);
      expect(r.profile).toBe('cdc');
      expect(r.contenders.map((c) => c.name)).toEqual(['rb', 'pg_subscription']);
      for (const c of r.contenders) {
        expect(c.seconds).toHaveLength(1);
        expect(c.median_seconds).toBeGreaterThan(0);
        expect(c.changes_per_second).toBeGreaterThan(0);
        expect(c.ratio_to_pg_subscription).toBeGreaterThan(0);
      }
      expect(r.contenders[1].ratio_to_pg_subscription).toBe(1);
      expect(r.contenders[0].peak_rss_bytes).toBeGreaterThan(0);
      expect(r.changes).toBeGreaterThanOrEqual(2000);
      expect(r.backlog.toast_updates).toBeGreaterThan(0);
      expect(r.backlog.large_transactions).toBe(2);
      expect(formatCdcReport(r)).toMatch(/ratio_to_pg_subscription/);
    },
    300_000,
  );
});
