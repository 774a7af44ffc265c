/**
 * `rb run` for one pipeline (DESIGN section 2): plan → prepare (leader) → move (pool) → finish.
 *
 *   main thread: connect, discover, resolve parallelism, open the snapshot coordinator,
 *                plan shards, prepare every stream's destination, then hand shards to the pool
 *   pool:        copy shards (source COPY → destination COPY/INSERT), one transaction each
 *   main thread: replace swaps / upsert merges, run record, summary
 *
 * A failure before the move leaves the destination untouched; a failure during the move drops
 * the staging tables (replace and upsert targets are untouched).
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type pg from 'pg';
import { finalizeStream, cleanupStream } from '../../connectors/dest-postgres/finalize.js';
import { prepareStream } from '../../connectors/dest-postgres/prepare.js';
import type { WriteContract } from '../../connectors/dest-postgres/write-contract.js';
import { connect, resolveEndpoint, type PgEndpoint } from '../../connectors/postgres/connection.js';
import { quoteIdent, quoteQualified } from '../../connectors/postgres/identifiers.js';
import { selectList } from '../../connectors/source-postgres/select-list.js';
import { nativeStatus } from '../../native/index.js';
import type { PipelineConfig } from '../config/index.js';
import { RbError } from '../errors.js';
import { planShards, type ShardPlan } from '../plan/plan-shards.js';
import { resolveParallelism, telemetry, type ParallelismPlan } from '../plan/resolve-parallelism.js';
import { ShardPool, effectiveStageMode, runShardsOnPool, stageModeFromEnv } from '../runtime/shard-pool.js';
import type { ShardProgress, ShardTask, StageMode } from '../runtime/shard-task.js';
import { planStreams, type StreamPlan } from './plan-streams.js';
import { recordRun } from './run-record.js';

export interface RunOptions {
  /** `--parallelism` from the command line; overrides resources.parallelism. */
  parallelism?: 'auto' | number;
  availableCores?: number;
  log?: (line: string) => void;
  onPlanned?: (streams: Array<{ name: string; estimatedRows: number; estimatedBytes: number; shards: number }>) => void;
  onProgress?: (p: ShardProgress) => void;
  /**
   * Return without waiting for the pool's threads to exit (they are idle by then). For a caller
   * that ends the process right after the run, like the CLI: thread teardown is tens of
   * milliseconds that nobody needs to wait for. Default false: the threads are gone on return.
   */
  leavePoolClosing?: boolean;
}

export interface StreamResult {
  name: string;
  target: string;
  rows: number;
  bytes: number;
  duration_ms: number;
  shards: number;
  shard_kind: ShardPlan['kind'];
  write_mode: string;
  format: 'binary' | 'text';
  load_method: 'copy' | 'insert';
}

export interface RunResult {
  status: 'succeeded' | 'failed';
  pipeline: string;
  run_id: string;
  duration_ms: number;
  rows_written: number;
  bytes_written: number;
  streams: StreamResult[];
  codecs: 'native' | 'ts';
  /** Wall time of each phase: plan (connect, discover, shards), prepare (DDL), move (pool), finish. */
  phases_ms: { plan: number; prepare: number; move: number; finish: number };
  parallelism_mode?: 'auto' | 'manual';
  parallelism_effective?: number;
  parallelism_cap?: number;
  parallelism_available_cores?: number;
  parallelism_eligible_streams?: number;
  parallelism_transform_count?: number;
  /**
   * How each shard's stages ran (RB_STAGE_MODE): 'joined' (one pool task per shard) or 'split'
   * (source and destination tasks on two threads, joined by a ring channel). Split asked for on a
   * one-thread pool runs joined and says so here.
   */
  stage_mode?: StageMode;
  error?: { code: string; message: string; stream?: string; shard?: number; sqlstate?: string };
}

export async function runPipeline(config: PipelineConfig, opts: RunOptions = {}): Promise<RunResult> {
  const started = performance.now();
  const runId = randomUUID();
  const result: RunResult = {
    status: 'failed',
    pipeline: config.pipeline,
    run_id: runId,
    duration_ms: 0,
    rows_written: 0,
    bytes_written: 0,
    streams: [],
    codecs: nativeStatus.impl,
    phases_ms: { plan: 0, prepare: 0, move: 0, finish: 0 },
  };
  let phaseStart = started;
  const phase = (name: keyof RunResult['phases_ms']) => {
    const now = performance.now();
    result.phases_ms[name] = Math.round(now - phaseStart);
    phaseStart = now;
  };
  let src: pg.Client | undefined;
  let dst: pg.Client | undefined;
  const contracts: WriteContract[] = [];
  let moved = false;
  let pool: ShardPool | undefined;
  let poolClosing: Promise<void> | undefined;
  try {
    const unsupported = config.source.streams.findIndex((s) => s.sync_mode !== 'full_refresh');
    if (unsupported >= 0) {
      throw new RbError('config_invalid', `source.streams[${unsupported}].sync_mode: ${config.source.streams[unsupported].sync_mode} is not available in this version of rb yet (full_refresh is)`);
    }
    // Parallelism depends only on the config, so the pool can boot while the leader plans.
    const manual = opts.parallelism ?? config.resources.parallelism;
    const plan: ParallelismPlan = resolveParallelism({
      availableCores: opts.availableCores ?? os.availableParallelism(),
      streams: config.source.streams.map((s) => ({ name: s.name, syncMode: s.sync_mode, sourceKind: 'postgres' as const })),
      transformCount: config.transforms.length,
      manual: manual === 'auto' ? undefined : manual,
    });
    Object.assign(result, telemetry(plan));
    const stageMode = effectiveStageMode(stageModeFromEnv(), plan.effective);
    result.stage_mode = stageMode;
    pool = new ShardPool(plan.effective);

    const srcEp = await resolveEndpoint(config.source.config, 'source', { log: opts.log });
    const dstEp = await resolveEndpoint(config.destination.config, 'destination', { log: opts.log });
    // Both at once (each is a TCP + SCRAM round trip or two); a failure is reported source first,
    // and whichever client did connect is closed by the finally below.
    const [srcConn, dstConn] = await Promise.allSettled([connect(srcEp, 'source', 'rb planner'), connect(dstEp, 'destination', 'rb leader')]);
    if (srcConn.status === 'fulfilled') src = srcConn.value;
    if (dstConn.status === 'fulfilled') dst = dstConn.value;
    if (srcConn.status === 'rejected') throw srcConn.reason;
    if (dstConn.status === 'rejected') throw dstConn.reason;
    src = srcConn.value;
    dst = dstConn.value;

    // Coordinator: one snapshot for every shard of the run (DESIGN section 5).
    await src.query('begin isolation level repeatable read read only');
    const snapshot = (await src.query('select pg_export_snapshot() as s')).rows[0].s as string;
    const streams = await planStreams(config, src);

    const shardPlans = new Map<string, ShardPlan>();
    for (const s of streams) {
      shardPlans.set(s.name, await planShards(src, s.source, plan.shardTargets[s.name] ?? 1, { partitionKey: s.partitionKey }));
    }
    opts.onPlanned?.(
      streams.map((s) => ({ name: s.name, estimatedRows: s.source.estimatedRows, estimatedBytes: s.source.relationBytes, shards: shardPlans.get(s.name)!.shards.length })),
    );

    phase('plan');
    // Leader-first: every stream's destination is prepared before any worker starts.
    for (const s of streams) {
      contracts.push(
        await prepareStream(dst, src, {
          stream: s.name,
          source: s.source,
          columns: s.columns,
          target: s.target,
          writeMode: config.destination.write_mode,
          key: s.key,
          loadMethod: config.destination.config.load_method ?? 'copy',
          schemaEvolution: config.destination.schema_evolution,
        }),
      );
    }

    phase('prepare');
    const tasks = buildTasks(runId, streams, contracts, shardPlans, snapshot, srcEp, dstEp, config);
    moved = true;
    const shardResults = await runShardsOnPool(pool, tasks, { onProgress: opts.onProgress, stageMode });
    // The workers are done: let them go while the leader finishes (awaited in the finally).
    poolClosing = pool.destroy().catch(() => {});
    await src.query('commit').catch(() => {});
    phase('move');

    for (const [i, s] of streams.entries()) {
      const mine = shardResults.filter((r) => r.stream === s.name);
      await finalizeStream(dst, contracts[i]);
      const sp = shardPlans.get(s.name)!;
      result.streams.push({
        name: s.name,
        target: quoteQualified(s.target),
        rows: mine.reduce((a, r) => a + r.rows, 0),
        bytes: mine.reduce((a, r) => a + r.bytes, 0),
        duration_ms: Math.round(Math.max(0, ...mine.map((r) => r.durationMs))),
        shards: sp.shards.length,
        shard_kind: sp.kind,
        write_mode: config.destination.write_mode,
        format: contracts[i].format,
        load_method: contracts[i].loadMethod,
      });
    }
    result.rows_written = result.streams.reduce((a, s) => a + s.rows, 0);
    result.bytes_written = result.streams.reduce((a, s) => a + s.bytes, 0);
    result.status = 'succeeded';
    phase('finish');
  } catch (e) {
    const err = e instanceof RbError ? e : new RbError('internal', e instanceof Error ? e.message : String(e), { cause: e });
    result.error = {
      code: err.code,
      message: err.message,
      ...(err.stream !== undefined ? { stream: err.stream } : {}),
      ...(err.shard !== undefined ? { shard: err.shard } : {}),
      ...(err.pg?.sqlstate ? { sqlstate: err.pg.sqlstate } : {}),
    };
    if (dst) for (const c of contracts) await cleanupStream(dst, c);
    (result as RunResult & { exitCode?: number }).exitCode = err.exitCode;
  } finally {
    result.duration_ms = Math.round(performance.now() - started);
    if (dst && moved) await recordRun(dst, config.state.schema, result).catch((e) => opts.log?.(`rb: could not record the run in ${quoteIdent(config.state.schema)}.runs: ${(e as Error).message}`));
    const closing = poolClosing ?? pool?.destroy().catch(() => {});
    await Promise.all([src?.end().catch(() => {}), dst?.end().catch(() => {}), opts.leavePoolClosing ? undefined : closing]);
  }
  return result;
}

function buildTasks(
  runId: string,
  streams: StreamPlan[],
  contracts: WriteContract[],
  shardPlans: Map<string, ShardPlan>,
  snapshot: string,
  source: PgEndpoint,
  dest: PgEndpoint,
  config: PipelineConfig,
): ShardTask[] {
  const tasks: ShardTask[] = [];
  const chunkBytes = Math.max(64 * 1024, Math.min(config.resources.max_batch_bytes, 8 * 1024 * 1024));
  const delay = Number(process.env.RB_BENCH_DELAY_MS ?? 0) || 0;
  for (const [i, s] of streams.entries()) {
    const contract = contracts[i];
    const cols = selectList(contract.columns);
    const plan = shardPlans.get(s.name)!;
    for (const shard of plan.shards) {
      const where = shard.predicate ? ` where ${shard.predicate}` : '';
      const fmt = contract.format === 'binary' ? ' (format binary)' : '';
      tasks.push({
        runId,
        stream: s.name,
        streamIndex: i,
        shardIndex: shard.index,
        shardCount: plan.shards.length,
        source,
        dest,
        snapshot,
        copyOutSql: `copy (select ${cols} from ${quoteQualified(s.source.name)}${where}) to stdout${fmt}`,
        preferIndexScan: plan.kind === 'range' && plan.shards.length > 1,
        contract,
        chunkBytes,
        maxInflightChunks: Math.max(1, Math.min(config.resources.max_inflight_batches, 4)),
        delayPerChunkMs: delay,
      });
    }
  }
  return tasks;
}

export function exitCodeOf(result: RunResult): number {
  return result.status === 'succeeded' ? 0 : ((result as RunResult & { exitCode?: number }).exitCode ?? 1);
}

