/**
 * Runs every data-driven case under scenarios/ (see scenarios/README.md): setup.sql on a fresh
 * source database, the steps of scenario.json (rb runs and source changes) against a fresh
 * destination, then every query of verify.sql on the destination must return ok = true, and the
 * tables listed in `compare` must be identical in source and destination, column by column.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseQualifiedName } from '../connectors/postgres/identifiers.js';
import { parsePipelineConfig } from '../engine/config/index.js';
import { runPipeline } from '../engine/run/run-pipeline.js';
import { createTestDatabase, dropTestDatabases } from '../engine/testing/pg.js';
import { compareTables, runVerifySql } from '../engine/verify/index.js';

const DIR = path.dirname(fileURLToPath(import.meta.url));

interface Scenario {
  description: string;
  steps: Array<{ run?: { rows?: number; parallelism?: number | 'auto' }; source_sql?: string; dest_sql?: string }>;
  compare?: Array<{ source: string; dest: string; columns?: string[] }>;
}

const cases = readdirSync(DIR, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(path.join(DIR, d.name, 'scenario.json')))
  .map((d) => d.name)
  .sort();

afterAll(dropTestDatabases);

describe('scenarios', () => {
  it('finds the cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(6);
  });

  for (const name of cases) {
    const dir = path.join(DIR, name);
    const scenario = JSON.parse(readFileSync(path.join(dir, 'scenario.json'), 'utf8')) as Scenario;
    it(`${name}: ${scenario.description}`, async () => {
      const src = await createTestDatabase('src');
      const dst = await createTestDatabase('dst');
      await src.query(readFileSync(path.join(dir, 'setup.sql'), 'utf8'));
      const config = parsePipelineConfig(readFileSync(path.join(dir, 'pipeline.yaml'), 'utf8'), `${name}/pipeline.yaml`, { SRC_URL: src.url, DST_URL: dst.url });
      for (const step of scenario.steps) {
        if (step.source_sql) await src.query(readFileSync(path.join(dir, step.source_sql), 'utf8'));
        if (step.dest_sql) await dst.query(readFileSync(path.join(dir, step.dest_sql), 'utf8'));
        if (step.run) {
          const result = await runPipeline(config, { parallelism: step.run.parallelism });
          expect(result.error).toBeUndefined();
          expect(result.status).toBe('succeeded');
          if (step.run.rows !== undefined) expect(result.rows_written).toBe(step.run.rows);
        }
      }
      const checks = await runVerifySql(dst.url, name);
      expect(checks.length).toBeGreaterThan(0);
      expect(checks.filter((c) => !c.ok).map((c) => `${c.check}: ${c.problem ?? 'not ok'}`)).toEqual([]);
      if (scenario.compare) {
        const pairs = scenario.compare.map((c) => ({ source: parseQualifiedName(c.source), dest: parseQualifiedName(c.dest), columns: c.columns }));
        const results = await compareTables(src.url, dst.url, pairs);
        for (const r of results) {
          const bad = r.columns.filter((c) => !c.equal).map((c) => c.name);
          expect(bad, `${name}: columns that differ`).toEqual([]);
          expect(r.destRows).toBe(r.sourceRows);
          expect(r.equal).toBe(true);
        }
      }
    });
  }
});
