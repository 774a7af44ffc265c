/**
 * `rb state show <pipeline.yaml> [--json]` and `rb state reset <pipeline.yaml> [--stream NAME...]
 * [--yes]`: the pipeline's durable state in the destination (connectors/dest-postgres/state-store.ts).
 *
 * show:  per configured stream its sync mode, cursor (fields and values), updated_at and the last
 *        run that touched it; then the pipeline's last runs. JSON:
 *        { "pipeline", "state_schema", "streams": [ { name, sync_mode, cursor_fields, cursor,
 *          lookback, lsn (cdc), updated_at, run_id, last_run_status } ], "runs": [ ... ] }
 * reset: forgets the cursors (all streams, or the named ones), so the next run reads those streams
 *        from scratch; for a cdc pipeline (all streams) also drops its replication slot, and its
 *        publication when rb created it. Asks for confirmation on a terminal; elsewhere `--yes`.
 */
import { createInterface } from 'node:readline/promises';
import type { StateStore } from '../../connectors/contract/state.js';
import { openChangeSource, openStateStore } from '../../connectors/registry.js';
import { loadPipelineConfig, type PipelineConfig } from '../config/index.js';
import { EXIT_OK, RbError } from '../errors.js';
import { resolveEndpoint } from '../run/endpoints.js';
import { cdcNames, isCdcPipeline } from '../run/run-cdc.js';
import { printError, table } from './output.js';

async function withDestination<T>(file: string, json: boolean, body: (config: PipelineConfig, state: StateStore, exists: boolean) => Promise<T>): Promise<T | number> {
  let opened: Awaited<ReturnType<typeof openStateStore>> | undefined;
  try {
    const config = loadPipelineConfig(file);
    opened = await openStateStore(await resolveEndpoint(config.destination.config, 'destination'), { schema: config.state.schema, pipeline: config.pipeline });
    return await body(config, opened.state, await opened.state.readable());
  } catch (e) {
    if (!(e instanceof RbError)) throw e;
    printError(e, json);
    return e.exitCode;
  } finally {
    await opened?.close();
  }
}

export async function stateShowCommand(file: string, o: { json?: boolean }): Promise<number> {
  const r = await withDestination(file, !!o.json, async (config, state, exists) => {
    const states = exists ? await state.streamStates() : [];
    const runs = exists ? await state.recentRuns() : [];
    const byStream = new Map(states.map((s) => [s.stream, s]));
    const statusOf = new Map(runs.map((r) => [r.run_id as string, r.status as string]));
    const streams = config.source.streams.map((s) => {
      const st = byStream.get(s.name);
      return {
        name: s.name,
        sync_mode: s.sync_mode,
        cursor_fields: st?.cursorFields ?? (s.cursor_field ? [s.cursor_field] : []),
        cursor: st?.cursor ?? null,
        lookback: st?.lookback ?? null,
        lsn: st?.lsn ?? null,
        updated_at: st?.updatedAt?.toISOString() ?? null,
        run_id: st?.runId ?? null,
        last_run_status: st ? (statusOf.get(st.runId) ?? null) : null,
      };
    });
    const runList = runs.map((r) => ({
      run_id: r.run_id,
      status: r.status,
      started_at: (r.started_at as Date).toISOString(),
      finished_at: r.finished_at ? (r.finished_at as Date).toISOString() : null,
      rows_written: Number(r.rows_written),
      bytes_written: Number(r.bytes_written),
      resumed_from: r.resumed_from ?? null,
      snapshots: r.snapshots,
      retries: r.retries,
      error: r.error ?? null,
    }));
    if (o.json) {
      process.stdout.write(`${JSON.stringify({ pipeline: config.pipeline, state_schema: config.state.schema, streams, runs: runList })}\n`);
      return EXIT_OK;
    }
    process.stdout.write(
      `${table(
        ['stream', 'sync mode', 'cursor', 'updated at'],
        streams.map((s) => [
          s.name,
          s.sync_mode,
          s.cursor
            ? s.cursor_fields.map((f, i) => `${f}=${s.cursor![i] ?? 'NULL'}`).join(', ')
            : s.lsn
              ? `lsn ${s.lsn}`
              : s.sync_mode === 'incremental' || s.sync_mode === 'cdc'
                ? '(none: the next run reads everything)'
                : '—',
          s.updated_at ?? '—',
        ]),
      )}\n`,
    );
    if (runList.length) {
      process.stdout.write(
        `\nlast runs of ${config.pipeline}:\n${table(
          ['run', 'status', 'started', 'rows', 'note'],
          runList.map((r) => [String(r.run_id), String(r.status), r.started_at, String(r.rows_written), [r.resumed_from ? `resumed ${r.resumed_from}` : '', r.retries ? `${r.retries} retries` : ''].filter(Boolean).join('; ')]),
        )}\n`,
      );
    } else process.stdout.write(`\n${config.pipeline} has not run against this destination yet\n`);
    return EXIT_OK;
  });
  return r;
}

export async function stateResetCommand(file: string, o: { stream?: string[]; yes?: boolean; json?: boolean }): Promise<number> {
  return withDestination(file, !!o.json, async (config, state, exists) => {
    const names = config.source.streams.map((s) => s.name);
    const unknown = (o.stream ?? []).filter((s) => !names.includes(s));
    if (unknown.length) throw new RbError('usage', `--stream ${unknown[0]}: not a stream of ${config.pipeline} (streams: ${names.join(', ')})`);
    const cdc = isCdcPipeline(config);
    if (cdc && o.stream?.length) throw new RbError('usage', `--stream: the streams of cdc pipeline ${config.pipeline} share one replication slot; reset them all (leave --stream out)`);
    const which = o.stream?.length ? o.stream.join(', ') : `every stream of ${config.pipeline}`;
    if (!o.yes) {
      if (!process.stdin.isTTY) throw new RbError('usage', `rb state reset: add --yes to confirm (stdin is not a terminal); this forgets the cursors of ${which}`);
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      const answer = await rl.question(`Forget the cursors of ${which}? The next run reads them from scratch. [y/N] `);
      rl.close();
      if (!/^y(es)?$/i.test(answer.trim())) {
        process.stderr.write('rb: nothing reset\n');
        return EXIT_OK;
      }
    }
    const n = exists ? await state.resetStreams(o.stream?.length ? o.stream : null) : 0;
    // CDC: the slot keeps WAL for rb until dropped; the next run makes a new one with a new snapshot.
    let dropped: { slot: boolean; publication: boolean } | undefined;
    if (cdc) {
      const slotNames = cdcNames(config);
      const opened = await openChangeSource(await resolveEndpoint(config.source.config, 'source'));
      try {
        dropped = await opened.changes.drop(slotNames);
      } finally {
        await opened.close();
      }
      if (!o.json) process.stdout.write(`rb: ${dropped.slot ? `dropped replication slot ${slotNames.slot}` : `no replication slot ${slotNames.slot}`}${dropped.publication ? ` and publication ${slotNames.publication}` : ''}\n`);
    }
    if (o.json) process.stdout.write(`${JSON.stringify({ pipeline: config.pipeline, reset: n, streams: o.stream ?? names, ...(dropped ? { dropped_slot: dropped.slot, dropped_publication: dropped.publication } : {}) })}\n`);
    else process.stdout.write(`rb: reset ${n} stream state row(s) of ${config.pipeline} (${which}); the next run reads ${n ? 'them' : 'every stream'} from scratch\n`);
    return EXIT_OK;
  });
}
