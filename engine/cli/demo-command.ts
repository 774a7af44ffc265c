/**
 * `rb demo`: on the embedded cluster (no database of the user's needed), seed a sample online shop
 * if absent, copy it with `scenarios/demo/pipeline.yaml` at --parallelism auto, verify source vs
 * destination (row counts and per-column checksums), and say how to run your own pipeline.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { clientConfig } from '../../connectors/postgres/connection.js';
import { parseQualifiedName } from '../../connectors/postgres/identifiers.js';
import { dropDatabase, ensureCluster } from '../embedded/cluster.js';
import { describeEmbeddedRoot, embeddedRoot } from '../embedded/root.js';
import { loadPipelineConfig } from '../config/index.js';
import { RbError } from '../errors.js';
import { resolveEndpoint } from '../run/endpoints.js';
import { exitCode, run } from '../api/run.js';
import { compareTables, formatComparison } from '../verify/index.js';
import { printError } from './output.js';
import { RunProgress } from './progress.js';
import { cancelledState, printSummary, stopOnSignals } from './run-command.js';
import { repoPath } from '../paths.js';

const DEMO_DIR = repoPath('scenarios', 'demo') + path.sep;

export async function demoCommand(o: { reset?: boolean; json?: boolean; parallelism?: 'auto' | number }): Promise<number> {
  const say = (s: string) => {
    if (!o.json) process.stderr.write(`${s}\n`);
  };
  try {
    const pipelineFile = `${DEMO_DIR}pipeline.yaml`;
    const config = loadPipelineConfig(pipelineFile);
    if (o.reset) {
      // The cluster is the user's (other pipelines may keep data in it): drop only the demo's databases.
      const demoDatabases = [config.source.config, config.destination.config].map((c) => (c.kind === 'embedded' ? c.database : undefined)).filter((d): d is string => !!d);
      say(`rb demo: dropping the demo's databases (${demoDatabases.join(', ')}) in ${describeEmbeddedRoot()}`);
      const info = await ensureCluster(embeddedRoot().root, { log: say });
      for (const d of demoDatabases) await dropDatabase(info, d);
    }
    say(`rb demo: starting ${describeEmbeddedRoot()} (first start takes a few seconds)`);
    const srcEp = await resolveEndpoint(config.source.config, 'source', { log: say });
    const dstEp = await resolveEndpoint(config.destination.config, 'destination', { log: say });
    const src = new pg.Client(clientConfig(srcEp, 'rb demo'));
    await src.connect();
    try {
      const t0 = performance.now();
      say('rb demo: creating the shop dataset if absent (customers, products, orders, order_items, events)');
      // RB_DEMO_SCALE (e.g. 0.01) shrinks every table: used by the tests.
      const scale = Number(process.env.RB_DEMO_SCALE ?? 1);
      if (Number.isFinite(scale) && scale > 0 && scale !== 1) await src.query(`select set_config('rb.demo_scale', $1, false)`, [String(scale)]);
      await src.query(readFileSync(`${DEMO_DIR}setup.sql`, 'utf8'));
      const n = await src.query(`select sum(n_live_tup)::int8 as n from pg_stat_user_tables where schemaname = 'shop'`);
      say(`rb demo: source ready in ${((performance.now() - t0) / 1000).toFixed(1)} s (~${Number(n.rows[0].n ?? 0).toLocaleString('en-US')} rows)`);
    } finally {
      await src.end();
    }

    say(`rb demo: running ${pipelineFile} with --parallelism ${o.parallelism ?? 'auto'}\n`);
    const progress = new RunProgress(!o.json && process.stderr.isTTY === true);
    // SIGINT/SIGTERM as in `rb run`: the first cancels the run (bars halted, exit 130), a second exits at once.
    const stop = stopOnSignals(false, null, progress);
    const result = await run(config, {
      parallelism: o.parallelism ?? 'auto',
      signal: stop.signal,
      onEvent: (e) => {
        if (e.kind === 'log' || e.kind === 'retry') {
          if (!o.json) progress.log(e.line);
        } else progress.event(e);
      },
    }).finally(() => {
      // Thrown or not, the bars end (the cursor shown) before anything else is printed.
      stop.dispose();
      progress.stop();
    });
    if (result.status === 'cancelled') {
      process.stderr.write(`rb: cancelled; ${cancelledState(config, result)}\n`);
      if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`);
      return exitCode(result);
    }
    if (result.status !== 'succeeded') {
      if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`);
      else printSummary(result);
      return exitCode(result);
    }
    const pairs = config.source.streams.map((s) => {
      const qn = parseQualifiedName(s.name);
      return { source: qn, dest: { schema: config.destination.config.schema ?? 'public', table: qn.table } };
    });
    const [vs, vd] = [new pg.Client(clientConfig(srcEp, 'rb demo verify')), new pg.Client(clientConfig(dstEp, 'rb demo verify'))];
    await Promise.all([vs.connect(), vd.connect()]);
    const comparison = await compareTables(vs, vd, pairs).finally(() => Promise.all([vs.end(), vd.end()]));
    const allEqual = comparison.every((c) => c.equal);
    if (o.json) {
      process.stdout.write(`${JSON.stringify({ ...result, verification: { equal: allEqual, tables: comparison } })}\n`);
    } else {
      printSummary(result);
      process.stdout.write(`\nverification (row counts and per-column checksums, source vs destination):\n${formatComparison(comparison)}\n`);
      process.stdout.write(
        `\n${allEqual ? 'All tables are identical.' : 'MISMATCH: see above.'}\n\n` +
          'Run your own pipeline:\n' +
          '  1. copy scenarios/demo/pipeline.yaml and point source.config / destination.config at your\n' +
          '     databases (url: postgres://user:${PGPASSWORD}@host:5432/db, or embedded: true)\n' +
          '  2. rb check my-pipeline.yaml      # config, connectivity, privileges\n' +
          '  3. rb discover my-pipeline.yaml   # tables, exact types, keys, sizes\n' +
          '  4. rb run my-pipeline.yaml --parallelism auto\n',
      );
    }
    return allEqual ? 0 : 1;
  } catch (e) {
    if (e instanceof RbError) {
      printError(e, !!o.json);
      return e.exitCode;
    }
    throw e;
  }
}
