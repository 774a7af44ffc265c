/**
 * Scenario files (scenarios/README.md): loading `setup.sql` into a source database (for tests,
 * `rb demo` and `rb bench`) and running `verify.sql` against a destination. A setup script is
 * sent as one simple-query message, so it runs in one session and one implicit transaction:
 * either all of it applies or none.
 */
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import path from 'node:path';
import { quoteLiteral } from '../../connectors/postgres/identifiers.js';
import { RbError, pgErrorInfo } from '../errors.js';
import { withClient, type PgTarget } from './session.js';
import { firstBlockComment, splitSqlStatements } from './split-sql.js';
import { repoPath } from '../paths.js';

const SCENARIOS_DIR = repoPath('scenarios') + path.sep;

/** Absolute path of a file in a scenario folder, e.g. `scenarioPath('demo', 'pipeline.yaml')`. */
export function scenarioPath(scenario: string, file = 'setup.sql'): string {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(scenario)) throw new RbError('usage', `not a scenario name: ${JSON.stringify(scenario)}`);
  return `${SCENARIOS_DIR}${scenario}/${file}`;
}

export interface LoadFixtureOptions {
  /**
   * Custom settings for the script, set for its transaction only,
   * e.g. `{ 'rb.demo_scale': '0.01' }` for a small demo dataset.
   */
  settings?: Record<string, string>;
}

/**
 * Runs `scenarios/<scenario>/setup.sql` against `target`.
 * @example
 *   await loadFixture(db.url, 'all-types');
 *   await loadFixture(srcUrl, 'demo', { settings: { 'rb.demo_scale': '0.1' } });
 */
export async function loadFixture(target: PgTarget, scenario: string, opts: LoadFixtureOptions = {}): Promise<void> {
  const file = scenarioPath(scenario);
  const script = readFileSync(file, 'utf8');
  const settings = Object.entries(opts.settings ?? {});
  // set_config(..., true) is transaction-local: the implicit transaction of this one message.
  const prelude = settings.map(([k, v]) => `select set_config(${quoteLiteral(k)}, ${quoteLiteral(v)}, true);\n`).join('');
  await withClient(target, async (client) => {
    try {
      await client.query(prelude + script);
    } catch (e) {
      throw new RbError('internal', `loading ${file} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e, pg: pgErrorInfo(e) });
    }
  });
}

export interface VerifyCheck {
  /** The query's `check` column, else its first block comment (`select /* name *\/ ...`), else its first line. */
  check: string;
  ok: boolean;
  /** The statement as run (leading comments removed). */
  sql: string;
  /** Why a query counts as failed when it is not a plain `ok = false` (wrong shape, error). */
  problem?: string;
}

/**
 * Runs `scenarios/<scenario>/verify.sql` (or the `sql` given) against `target`, one statement at
 * a time in one REPEATABLE READ transaction that is rolled back (a check never changes the
 * destination, and all checks see one snapshot). Every statement must return exactly one row whose
 * column `ok` is true; a statement that fails with an error is reported as a failed check.
 * @example
 *   const failed = (await runVerifySql(dstUrl, 'all-types')).filter((c) => !c.ok);
 */
export async function runVerifySql(target: PgTarget, scenario: string, sql?: string): Promise<VerifyCheck[]> {
  const script = sql ?? readFileSync(scenarioPath(scenario, 'verify.sql'), 'utf8');
  const statements = splitSqlStatements(script);
  return await withClient(target, async (client) => {
    await client.query('begin isolation level repeatable read');
    try {
      const checks: VerifyCheck[] = [];
      for (const [i, statement] of statements.entries()) {
        const name = firstBlockComment(statement) ?? firstLine(statement);
        await client.query(`savepoint rb_verify_${i}`);
        try {
          checks.push(checkOf(await client.query(statement), name, statement));
        } catch (e) {
          await client.query(`rollback to savepoint rb_verify_${i}`);
          checks.push({ check: name, ok: false, sql: statement, problem: `error: ${e instanceof Error ? e.message : String(e)}` });
        }
      }
      return checks;
    } finally {
      await client.query('rollback').catch(() => {});
    }
  });
}

function firstLine(statement: string): string {
  const line = statement.split('\n')[0];
  return line.length > 80 ? `${line.slice(0, 77)}...` : line;
}

function checkOf(r: pg.QueryResult, name: string, statement: string): VerifyCheck {
  const row = r.rows[0] as Record<string, unknown> | undefined;
  const check = typeof row?.check === 'string' ? row.check : name;
  if (r.rows.length !== 1) return { check, ok: false, sql: statement, problem: `returned ${r.rows.length} rows, expected 1` };
  if (typeof row!.ok !== 'boolean') {
    return { check, ok: false, sql: statement, problem: `column ok is ${row!.ok === null ? 'NULL' : typeof row!.ok}, expected a boolean` };
  }
  return { check, ok: row!.ok, sql: statement };
}
