/**
 * `rb run` for one pipeline (docs/design.md sections 2 and 7): plan → prepare (leader) → move
 * (pool) → finish.
 *
 *   main thread: connect, take the pipeline's run lock and read its state (an unfinished earlier
 *                run is resumed), open the snapshot coordinator, discover, plan each stream's
 *                read (shards; for incremental streams the cursor bounds), record the run as
 *                running, prepare every stream's destination, then hand shards to the pool
 *   pool:        copy shards (source COPY → destination COPY/INSERT), one transaction each,
 *                ending with the shard's ledger row; transient failures retried (shard-pool.ts)
 *   main thread: replace swaps / upsert merges with the streams' cursors, run record, summary
 *
 * A failure before the move leaves the destination untouched; a failure during the move drops
 * the staging tables (replace and upsert targets are untouched) and leaves an append's committed
 * shards in the ledger, where the next run finds them (resume.ts).
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { FinishStep, ShardPlan, ShardProgress } from '../../connectors/contract/connector.js';
import type { StateStore, StreamState } from '../../connectors/contract/state.js';
import type { SchemaChange, WriteContract } from '../../connectors/contract/write-contract.js';
import { quoteIdent, quoteQualified } from '../../connectors/postgres/identifiers.js';
import { openLeaderSession, type Endpoint, type LeaderSession } from '../../connectors/registry.js';
import { STANDING_UNIQUE_PLAN } from '../../connectors/contract/transforms.js';
import { nativeStatus } from '../../native/index.js';
import type { PipelineConfig } from '../config/index.js';
import { classifyPgError, EXIT_CANCELLED, errorClass, RbError, type ErrorClass } from '../errors.js';
import { resolveParallelism, telemetry, type ParallelismPlan } from '../plan/resolve-parallelism.js';
import { LocalExecutor, type ShardExecutor } from '../runtime/executor.js';
import { continueAfterCheckpoint } from '../runtime/continue-task.js';
import type { QueueExecutor, QueueReport, QueueRunOptions } from '../queue/queue-executor.js';
import { stageModeFromEnv } from '../runtime/shard-pool.js';
import type { ShardResult, ShardTask, StageMode } from '../runtime/shard-task.js';
import { resolveEndpoint } from './endpoints.js';
import { planPipelineStreams } from './plan-pipeline.js';
import type { StreamPlan } from './plan-streams.js';
import { planRead, previousRunToResume, type ReadPlan, type StoredPlan } from './resume.js';
import { runTelemetry, shardTimes, streamSkew, type RunTelemetry, type ShardTime, type StreamSkew } from './run-telemetry.js';
import { startServerCpu, type ServerCpuMeter } from '../telemetry/server-cpu.js';
import type { LifecycleEvent } from './lifecycle.js';
import { stageTimingEnabled } from '../runtime/stage-timing.js';
import { catchUp, type CdcCommit, type CdcProgress, cdcPositionsStored, cdcStates, cdcWriteMode, isCdcPipeline, startCdc, type CdcResult, type CdcStart } from './run-cdc.js';

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
  /** `--fresh`: do not resume an unfinished earlier run; plan everything anew. */
  fresh?: boolean;
  /** Delay before the first retry of a shard (doubled per retry). RB_RETRY_BASE_MS overrides. */
  retryBaseDelayMs?: number;
  /** `--follow` (cdc pipelines): after the catch-up keep streaming until `signal` aborts. */
  follow?: boolean;
  /**
   * SIGINT/SIGTERM. Following: stop streaming, commit the group in hand and finish the run
   * (succeeded). Otherwise: cancel — shards are stopped and rolled back, what this run created
   * and did not finish is dropped, the run is recorded `cancelled` (exit 130); a catch-up stops
   * after the group in hand.
   */
  signal?: AbortSignal;
  /** CDC: positions and lag, about once a second while changes are read. */
  onCdcProgress?: (p: CdcProgress) => void;
  /** CDC: each group committed in the destination (its position, sizes, apply time). */
  onCdcCommit?: (c: CdcCommit) => void;
  /** A shard retried after a transient failure; without it the retry is a `log` line. */
  onRetry?: (r: ShardRetry) => void;
  /** `--queue`: shards become jobs on this queue, run by `rb worker`s (docs/design.md section 14). */
  queue?: Omit<QueueRunOptions, 'log'>;
  /** Each phase as it starts and ends, and each stream's finish step (progress that is not rows). */
  onPhase?: (e: PhaseEvent) => void;
  /** start, slot-created, snapshot-done, cursor-commit (lifecycle.ts). */
  onLifecycle?: (e: LifecycleEvent) => void;
}

export type RunPhase = keyof RunResult['phases_ms'];
export type { CdcCommit };

export interface ShardRetry {
  stream: string;
  shard: number;
  attempt: number;
  maxRetries: number;
  delayMs: number;
  /** The transient error's code, class (errors.ts errorClass) and message. */
  code: string;
  class: ErrorClass;
  message: string;
  /** The line `rb run` prints for it. */
  line: string;
}
export type { FinishStep };
export type PhaseEvent =
  | { kind: 'phase'; phase: RunPhase; state: 'start' | 'end'; elapsedMs: number }
  /**
   * A stream's finish: `start` as each step begins; `end` once, with the whole finish's time, each
   * step's, the stream's rows as the run counts them (the progress events may lag behind) and its
   * move (its longest shard).
   */
  | { kind: 'stream-finish'; stream: string; step: FinishStep; state: 'start'; elapsedMs: number }
  | { kind: 'stream-finish'; stream: string; step: FinishStep; state: 'end'; elapsedMs: number; rows: number; moveMs: number; steps: FinishStepTime[] };

export interface FinishStepTime {
  step: FinishStep;
  ms: number;
}

export interface StreamResult {
  name: string;
  target: string;
  rows: number;
  bytes: number;
  /** The stream's move (its longest shard) plus its finish (finish_ms). */
  duration_ms: number;
  /** The stream's finish: replace's index build and swap, upsert's merge, append's state commit. */
  finish_ms: number;
  /** Its steps with their times, in order (`index build`, `swap`; `merge`; `commit`). */
  finish_steps: FinishStepTime[];
  shards: number;
  shard_kind: ShardPlan['kind'];
  write_mode: string;
  format: 'binary' | 'text';
  load_method: 'copy' | 'insert';
  sync_mode: string;
  /** Shards an earlier, unfinished run had committed (resumed: not copied again). */
  shards_skipped: number;
  /** Shard attempts that failed with a transient error and were retried. */
  retries: number;
  /** Rows the destination rejected, dropped (`on_data_error: skip`) or written to the DLQ (`dlq`); not in `rows`. */
  rows_skipped: number;
  rows_dead_lettered: number;
  /** Values written as NULL because the destination's type did not take them (`type_change: null`). */
  values_nulled: number;
  /** What prepare did about differences between the source and an existing target (schema_evolution). */
  schema_changes: SchemaChange[];
  /** Where the stream's transforms ran: in the source's query, in the pool on each row, or as the destination column's type (a cast). */
  transforms?: { pushed_down: string[]; in_pool: string[]; in_destination: string[] };
  /** Incremental: the cursor the stream now stands at, and the checkpoints committed. */
  cursor?: Array<string | null> | null;
  checkpoints?: number;
  /** CDC: the source position (`X/Y`) the stream is applied up to. */
  lsn?: string;
  /** Each shard this run moved: rows, bytes, wall time, waits, retries (run-telemetry.ts). */
  shard_times: ShardTime[];
  /** The slowest shard against the median one; null when no shard moved. */
  skew: StreamSkew | null;
}

export interface RunResult {
  status: 'succeeded' | 'failed' | 'cancelled';
  pipeline: string;
  run_id: string;
  duration_ms: number;
  rows_written: number;
  bytes_written: number;
  streams: StreamResult[];
  /** Where dead letters go (`on_data_error: dlq`): `<state schema>.dlq`. */
  dlq_table?: string;
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
  /** Where the shards ran: the pool's threads, this process's main thread (a lone shard, no pool started), or `rb worker`s (--queue). */
  executor?: 'pool' | 'in-process' | 'queue';
  /** --queue: the queue, and which worker committed each shard. */
  queue?: QueueReport;
  /** The unfinished run this one resumed (its committed shards were kept). */
  resumed_from?: string;
  /** Snapshots the written data spans: 2 when a resumed append kept shards of the earlier run. */
  snapshots: number;
  /** Shard attempts retried after a transient failure, over all streams. */
  retries: number;
  /** CDC: the catch-up from the slot (after the copy, on a first run), or the follow until stopped. */
  cdc?: CdcResult;
  /** Peak resident memory of this process so far (getrusage maxrss). */
  peak_rss_bytes?: number;
  /** rb's CPU and utilization, the shards' waits, and a verdict when one side clearly held the other back (run-telemetry.ts). */
  telemetry?: RunTelemetry;
  error?: { code: string; class: ErrorClass; message: string; stream?: string; shard?: number; sqlstate?: string };
}

export async function runPipeline(config: PipelineConfig, opts: RunOptions = {}): Promise<RunResult> {
  const started = performance.now();
  const cpuAtStart = process.cpuUsage();
  /** The shards this run moved (for the telemetry, also when the run fails later). */
  let moved: ShardResult[] = [];
  const runId = randomUUID();
  const cancelled = () => {
    if (opts.signal?.aborted && !opts.follow) throw new RbError('cancelled', 'cancelled (SIGINT/SIGTERM)');
  };
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
    snapshots: 1,
    retries: 0,
    ...(config.destination.on_data_error === 'dlq' ? { dlq_table: `${quoteIdent(config.state.schema)}.dlq` } : {}),
  };
  let phaseStart = started;
  const order: RunPhase[] = ['plan', 'prepare', 'move', 'finish'];
  const onPhase = opts.onPhase ?? (() => {});
  const lifecycle = opts.onLifecycle ?? (() => {});
  lifecycle({ kind: 'start', runId, pipeline: config.pipeline, follow: !!opts.follow });
  onPhase({ kind: 'phase', phase: 'plan', state: 'start', elapsedMs: 0 });
  const phase = (name: RunPhase) => {
    const now = performance.now();
    result.phases_ms[name] = Math.round(now - phaseStart);
    phaseStart = now;
    onPhase({ kind: 'phase', phase: name, state: 'end', elapsedMs: result.phases_ms[name] });
    const next = order[order.indexOf(name) + 1];
    if (next) onPhase({ kind: 'phase', phase: next, state: 'start', elapsedMs: 0 });
  };
  let session: LeaderSession | undefined;
  let serverCpu: ServerCpuMeter | undefined;
  const contracts: WriteContract[] = [];
  /** Indexes into `contracts` of the streams whose finish committed. */
  const finalized = new Set<number>();
  let executor: ShardExecutor | undefined;
  let queued: QueueExecutor | undefined;
  let state: StateStore | undefined;
  let recorded = false;
  let cdcStart: CdcStart | null = null;
  /** False until a first cdc run's positions are stored (before that its new slot is of no use). */
  let cdcPositions = false;
  try {
    if (opts.follow && !isCdcPipeline(config)) {
      throw new RbError('config_invalid', `--follow streams changes: it needs a cdc pipeline (sync_mode: cdc on the streams of ${config.pipeline})`);
    }
    // Parallelism depends only on the config, so the pool can boot while the leader plans.
    const manual = opts.parallelism ?? config.resources.parallelism;
    const plan: ParallelismPlan = resolveParallelism({
      availableCores: opts.availableCores ?? os.availableParallelism(),
      // An incremental stream may need a full read (its first run, or after `rb state reset`),
      // which is sharded like a full refresh; later runs read it as one shard.
      streams: config.source.streams.map((s) => ({ name: s.name, syncMode: s.sync_mode === 'incremental' ? ('full_refresh' as const) : s.sync_mode, sourceKind: 'postgres' as const })),
      transformCount: config.transforms.length,
      manual: manual === 'auto' ? undefined : manual,
    });
    Object.assign(result, telemetry(plan));
    if (plan.warning) opts.log?.(`rb: warning: ${plan.warning}`);
    // The queue's modules (pg-boss) load only for a queued run: a local run's start-up stays as it was.
    if (opts.queue) queued = new (await import('../queue/queue-executor.js')).QueueExecutor({ ...opts.queue, log: opts.log });
    executor = queued ?? new LocalExecutor(plan.effective, stageModeFromEnv());
    result.stage_mode = executor.stageMode;
    // Threads boot while the leader plans when shards are coming. A pipeline of incremental streams
    // only decides once their state is read: next reads are one shard each, and a lone shard runs
    // in this thread without starting any (LocalExecutor.execute).
    if (config.source.streams.some((s) => s.sync_mode === 'full_refresh')) executor.warm();

    const srcEp = await resolveEndpoint(config.source.config, 'source', { log: opts.log });
    const dstEp = await resolveEndpoint(config.destination.config, 'destination', { log: opts.log });
    session = await openLeaderSession(srcEp, dstEp, { schema: config.state.schema, pipeline: config.pipeline });
    serverCpu = startServerCpu(await session.backends());
    const { source, sink } = session;
    state = session.state;
    const store = state;

    // The pipeline's state: one run at a time; an unfinished earlier run is resumed.
    // Nothing is written before the plan holds: the state tables are created (or upgraded) only
    // when the run is recorded; until then an older or missing layout reads as "no earlier run".
    await store.lock();
    const readable = await store.readable();
    const unfinished = readable ? await previousRunToResume(store) : null;
    const resume = opts.fresh ? null : unfinished;
    const planId = resume?.planId ?? runId;
    const committed = resume ? await store.ledger(planId) : [];
    const states = readable ? await store.streamStates() : [];
    const cdc = isCdcPipeline(config);
    if (!(cdc ? cdcPositionsStored(config, states) : nextReadsOnly(config, states))) executor.warm();
    // Late commits are measured before the snapshot is taken (incremental.ts).
    const lookbackClock = config.source.streams.some((s) => s.sync_mode === 'incremental') ? await source.lookbackClock() : null;
    // CDC: publication and slot; a first run's copy reads the new slot's snapshot (run-cdc.ts).
    cdcStart = cdc ? await startCdc(config, session.changes, states, opts.log) : null;
    if (cdcStart?.first) lifecycle({ kind: 'slot-created', slot: cdcStart.names.slot, publication: cdcStart.names.publication, publicationCreated: !!cdcStart.createdPublication, lsn: cdcStart.from });

    // Coordinator: one snapshot for every shard of the run (docs/design.md section 5).
    let snapshot: string;
    try {
      snapshot = await source.openSnapshot(cdcStart?.snapshot?.name);
    } finally {
      // Imported (or failed): the replication connection may let it go.
      await cdcStart?.snapshot?.release();
    }
    // The same planning rb check does (plan-pipeline.ts): tables, columns, keys, cursors, cdc columns.
    const changes = session.changes;
    const streams = await planPipelineStreams(config, { source, publishesGeneratedColumns: () => changes.publishesGeneratedColumns() });

    const reads = new Map<string, ReadPlan>();
    for (const s of streams) {
      reads.set(
        s.name,
        await planRead({ config, stream: s, source, state: store, states, planId, resume, committed, target: queued ? queued.shardTarget(plan.shardTargets[s.name] ?? 1, manual, plan.eligibleStreams) : (plan.shardTargets[s.name] ?? 1), lookbackClock, copy: !cdcStart || cdcStart.first, opts }),
      );
    }
    opts.onPlanned?.(
      streams.map((s) => ({ name: s.name, estimatedRows: s.source.estimatedRows, estimatedBytes: s.source.relationBytes, shards: reads.get(s.name)!.stored.shards.length })),
    );
    if (resume) {
      result.resumed_from = resume.runId;
      if ([...reads.values()].some((r) => r.skipped.size > 0)) result.snapshots = 2;
    }

    phase('plan');
    cancelled();
    const stored: StoredPlan = { streams: Object.fromEntries([...reads].map(([name, r]) => [name, r.stored])) };
    await store.ensure();
    // validate unique: one claim per value for the plan (a resumed plan keeps those committed).
    // A cdc stream's claims stand across runs; its first run (a new copy) starts them afresh.
    if (hasUniqueRule(config)) await store.uniqueClaims(planId, cdcStart?.first ? streams.map((s) => s.name) : []);
    await store.startRun({ runId, planId, resumedFrom: resume?.runId ?? null, plan: stored, snapshots: result.snapshots });
    recorded = true;
    if (unfinished) await store.abandonRun(unfinished.runId, resume ? `resumed by run ${runId}` : `not resumed: run ${runId} started with --fresh`);
    // Leader-first: every stream's destination is prepared before any worker starts, in one
    // transaction (a failure leaves the destination as it was).
    contracts.push(
      ...(await sink.prepare(
        streams.map((s) => ({
          stream: s.name,
          source: s.source,
          // Transformed streams are prepared with the transforms' output columns.
          columns: s.transform?.columns ?? s.columns,
          computed: s.computed,
          ...(s.transform?.text ? { forceText: true } : {}),
          target: s.target,
          writeMode: cdcStart ? cdcWriteMode(s, cdcStart) : config.destination.write_mode,
          key: s.key,
          loadMethod: config.destination.config.load_method ?? 'copy',
          schemaEvolution: config.destination.schema_evolution,
        })),
      )),
    );

    phase('prepare');
    const tasks = buildTasks({ runId, planId, streams, contracts, reads, snapshot, source: srcEp, dest: dstEp, config });
    const ledgerOf = new Map(committed.map((c) => [`${c.stream}\u0000${c.shard}`, c]));
    cancelled();
    const shardResults = await executor.execute(tasks, {
      signal: opts.signal,
      ledger: () => store.ledger(planId),
      onProgress: opts.onProgress,
      retry: {
        maxRetries: config.resources.max_retries,
        baseDelayMs: opts.retryBaseDelayMs ?? (Number(process.env.RB_RETRY_BASE_MS) || DEFAULT_RETRY_BASE_MS),
        committed: async (task) => {
          const row = (await store.ledger(planId)).find((r) => r.stream === task.stream && r.shard === task.ledger?.shard);
          return row ? { stream: task.stream, shardIndex: task.shardIndex, rows: row.rows, bytes: row.bytes, durationMs: 0, skipped: true } : null;
        },
        refresh: async (task) => (task.checkpoint ? continueAfterCheckpoint(task, await store.streamStates()) : task),
        onRetry: (task, attempt, err, delayMs) => {
          const line = `rb: ${task.stream} shard ${task.shardIndex}: ${err.message} — retry ${attempt} of ${config.resources.max_retries} in ${delayMs} ms`;
          if (opts.onRetry) opts.onRetry({ stream: task.stream, shard: task.shardIndex, attempt, maxRetries: config.resources.max_retries, delayMs, code: err.code, class: errorClass(err), message: err.message, line });
          else opts.log?.(line);
        },
      },
    });
    moved = shardResults;
    // Each shard's final count: its last progress event may be older than its end (they are throttled).
    for (const r of shardResults) opts.onProgress?.({ stream: r.stream, shardIndex: r.shardIndex, rows: r.rows, bytes: r.bytes });
    result.executor = executor instanceof LocalExecutor ? (executor.ranInline ? 'in-process' : 'pool') : 'queue';
    if (queued?.report) result.queue = queued.report;
    // The workers are done: let them go while the leader finishes (awaited in the finally).
    void executor.release();
    await source.closeSnapshot();
    phase('move');
    cancelled();

    for (const [i, s] of streams.entries()) {
      const read = reads.get(s.name)!;
      // Shards a resumed run found committed count as this stream's rows too.
      const earlier: ShardResult[] = [...read.skipped].map((shard) => {
        const c = ledgerOf.get(`${s.name}\u0000${shard}`)!;
        return { stream: s.name, shardIndex: -1, rows: c.rows, bytes: c.bytes, durationMs: 0, skipped: true };
      });
      const mine = [...shardResults.filter((r) => r.stream === s.name), ...earlier];
      // The stream's position: what its shard committed last (incremental next reads report it),
      // else the plan's high-water mark (a first, sharded read stores the mark at the finish).
      const reported = mine.find((r) => r.highWater)?.highWater;
      const cursor = read.stored.cursor && reported ? { ...read.stored.cursor, mark: reported.cursor } : read.stored.cursor;
      const rows = mine.reduce((a, r) => a + r.rows, 0);
      const finishStarted = performance.now();
      const steps: Array<{ step: FinishStep; startedAt: number }> = [];
      const onStep = (step: FinishStep) => {
        steps.push({ step, startedAt: performance.now() });
        onPhase({ kind: 'stream-finish', stream: s.name, step, state: 'start', elapsedMs: Math.round(performance.now() - finishStarted) });
      };
      // An incremental stream's position commits with the finish that makes its rows visible.
      await sink
        .finalize(
          contracts[i],
          cursor
            ? { stream: s.name, syncMode: 'incremental', cursorFields: cursor.fields, cursor: cursor.mark, lookback: cursor.lookback, runId }
            : cdcStart?.first
              ? cdcStates(config, runId, cdcStart.from).find((x) => x.stream === s.name)
              : undefined,
          onStep,
        )
        .catch((e: unknown) => {
          throw rejectedAtFinish(e);
        });
      finalized.add(i);
      const finishedAt = performance.now();
      const finishMs = Math.round(finishedAt - finishStarted);
      const moveMs = Math.round(Math.max(0, ...mine.map((r) => r.durationMs)));
      // Each step runs until the next begins; the first also carries the transaction's begin. Rounded
      // on the finish's own clock so that the steps add up to finish_ms exactly.
      const at = (t: number) => Math.round(t - finishStarted);
      const stepTimes = steps.map((x, k) => ({ step: x.step, ms: at(steps[k + 1]?.startedAt ?? finishedAt) - (k === 0 ? 0 : at(x.startedAt)) }));
      onPhase({ kind: 'stream-finish', stream: s.name, step: steps[steps.length - 1]?.step ?? 'commit', state: 'end', elapsedMs: finishMs, rows, moveMs, steps: stepTimes });
      if (cursor) lifecycle({ kind: 'cursor-commit', stream: s.name, cursor: cursor.mark, rows, checkpoints: mine.reduce((a, r) => a + (r.checkpoints ?? 0), 0) });
      const retries = mine.reduce((a, r) => a + (r.retries ?? 0), 0);
      result.retries += retries;
      const times = shardTimes(mine);
      result.streams.push({
        name: s.name,
        target: quoteQualified(s.target),
        rows,
        bytes: mine.reduce((a, r) => a + r.bytes, 0),
        duration_ms: moveMs + finishMs,
        finish_ms: finishMs,
        finish_steps: stepTimes,
        shards: read.stored.shards.length,
        shard_kind: read.stored.kind,
        write_mode: contracts[i].writeMode,
        format: contracts[i].format,
        load_method: contracts[i].loadMethod,
        sync_mode: s.syncMode,
        shards_skipped: read.skipped.size,
        retries,
        rows_skipped: mine.reduce((a, r) => a + (r.rowsSkipped ?? 0), 0),
        rows_dead_lettered: mine.reduce((a, r) => a + (r.rowsDeadLettered ?? 0), 0),
        values_nulled: mine.reduce((a, r) => a + (r.valuesNulled ?? 0), 0),
        schema_changes: contracts[i].schemaChanges ?? [],
        ...(s.transform ? { transforms: s.transform.placement } : {}),
        ...(cursor ? { cursor: cursor.mark, checkpoints: mine.reduce((a, r) => a + (r.checkpoints ?? 0), 0) } : {}),
        shard_times: times,
        skew: streamSkew(times),
      });
    }
    cdcPositions = true;
    if (cdcStart) {
      // The copy (first run) is visible: apply the changes since its snapshot, up to now.
      // The threads are done: a follow streams on this thread alone.
      if (opts.follow) void executor.release();
      if (cdcStart.first) lifecycle({ kind: 'snapshot-done', streams: result.streams.map((x) => x.name), rows: result.streams.reduce((a, x) => a + x.rows, 0), lsn: cdcStart.from });
      result.cdc = await catchUp(config, cdcStart, session.changes, sink, streams, contracts, runId, { follow: opts.follow, signal: opts.signal, onProgress: opts.onCdcProgress, onCommit: opts.onCdcCommit, log: opts.log });
      const { rejected, decisions, ...cdcResult } = result.cdc;
      result.cdc = cdcResult;
      for (const st of result.streams) {
        st.lsn = result.cdc.to;
        // Changes the destination rejected (on_data_error skip | dlq) count with the copy's rows.
        st.rows_skipped += rejected?.[st.name]?.skipped ?? 0;
        st.rows_dead_lettered += rejected?.[st.name]?.deadLettered ?? 0;
        st.values_nulled += rejected?.[st.name]?.nulled ?? 0;
        for (const d of decisions?.[st.name] ?? []) if (!st.schema_changes.some((x) => x.column === d.column && x.change === d.change)) st.schema_changes.push(d);
      }
    }
    result.rows_written = result.streams.reduce((a, s) => a + s.rows, 0) + (result.cdc?.rows_written ?? 0);
    result.bytes_written = result.streams.reduce((a, s) => a + s.bytes, 0);
    // A catch-up stopped by a signal committed what it held; the run still counts as cancelled.
    result.status = opts.signal?.aborted && !opts.follow ? 'cancelled' : 'succeeded';
    if (result.status === 'cancelled') (result as RunResult & { exitCode?: number }).exitCode = EXIT_CANCELLED;
    phase('finish');
  } catch (e) {
    const err = e instanceof RbError ? e : new RbError('internal', e instanceof Error ? e.message : String(e), { cause: e });
    result.error = {
      code: err.code,
      class: errorClass(err),
      message: err.message,
      ...(err.stream !== undefined ? { stream: err.stream } : {}),
      ...(err.shard !== undefined ? { shard: err.shard } : {}),
      ...(err.pg?.sqlstate ? { sqlstate: err.pg.sqlstate } : {}),
    };
    if (err.code === 'cancelled') result.status = 'cancelled';
    // What this run prepared and did not finish (never a finished stream, never a user's table).
    if (session) for (const [i, c] of contracts.entries()) if (!finalized.has(i)) await session.sink.cleanup(c);
    // A first cdc run that failed before storing its positions: its new slot would only keep WAL
    // (the next run makes another); the source is left as it was.
    if (session && cdcStart?.first && !cdcPositions) {
      await session.source.closeSnapshot(); // the source connection may still be in the read-only snapshot
      await session.changes.drop(cdcStart.names).catch((d) => opts.log?.(`rb: could not drop replication slot ${cdcStart!.names.slot}: ${(d as Error).message}`));
    }
    (result as RunResult & { exitCode?: number }).exitCode = err.exitCode;
  } finally {
    result.duration_ms = Math.round(performance.now() - started);
    result.peak_rss_bytes = process.resourceUsage().maxRSS * 1024;
    result.telemetry = runTelemetry({
      cpu: process.cpuUsage(cpuAtStart),
      wallMs: performance.now() - started,
      cores: opts.availableCores ?? os.availableParallelism(),
      shards: shardTimes(moved),
      waitsMeasured: stageTimingEnabled() && moved.some((r) => r.destWaitMs !== undefined),
      servers: serverCpu?.finish(),
    });
    if (state && recorded) {
      const runs = state.runsTable;
      // The run's unique claims are of no use once it succeeded (a failed one's are kept for its resume).
      if (result.status === 'succeeded' && hasUniqueRule(config)) {
        await state.uniqueClaims(null).catch((e) => opts.log?.(`rb: could not drop the unique rule's claims: ${(e as Error).message}`));
      }
      await state
        .finishRun(runId, {
          status: result.status,
          rowsWritten: result.rows_written,
          bytesWritten: result.bytes_written,
          streams: result.streams,
          error: result.error,
          retries: result.retries,
        })
        .catch((e) => opts.log?.(`rb: could not record the run in ${runs}: ${(e as Error).message}`));
    }
    const closing = executor?.release();
    await Promise.all([session?.close(), opts.leavePoolClosing ? undefined : closing]);
  }
  return result;
}

/**
 * True when every stream is incremental and has a stored cursor for its configured cursor field:
 * each then reads one shard after it (no sharded first read to start threads early for).
 */
function nextReadsOnly(config: PipelineConfig, states: readonly StreamState[]): boolean {
  if (config.source.streams.some((s) => s.sync_mode !== 'incremental')) return false;
  return config.source.streams.every((s) => {
    const st = states.find((x) => x.stream === s.name);
    return !!st?.cursor && st.cursorFields[0] === s.cursor_field;
  });
}

/** Default delay before a shard's first retry; doubled for each next one (RetryPolicy). */
export const DEFAULT_RETRY_BASE_MS = 500;

interface TaskInputs {
  runId: string;
  planId: string;
  streams: StreamPlan[];
  contracts: WriteContract[];
  reads: Map<string, ReadPlan>;
  snapshot: string;
  source: Endpoint;
  dest: Endpoint;
  config: PipelineConfig;
}

/**
 * A row the target rejected in the finish (an upsert's merge: a unique index other than the key, a
 * foreign key, a trigger) is a data error (exit 5), whatever on_data_error says: rows are isolated
 * while shards are written (the staging table enforces the target's CHECK and NOT NULL), not in
 * the merge. The target is as it was: the merge rolled back.
 */
function rejectedAtFinish(e: unknown): unknown {
  if (!(e instanceof RbError) || e.code !== 'dest_query' || classifyPgError({ code: e.pg?.sqlstate }) !== 'data') return e;
  return new RbError('data_error', `${e.message}${e.pg?.detail ? ` — ${e.pg.detail}` : ''} (a row rejected while merging into the target; rb isolates rejected rows while shards are written, not in the merge, so the target is left as it was)`, {
    stream: e.stream,
    pg: e.pg,
    cause: e,
  });
}

function buildTasks({ runId, planId, streams, contracts, reads, snapshot, source, dest, config }: TaskInputs): ShardTask[] {
  const tasks: ShardTask[] = [];
  // The config bounds both (64kb to 1gb; at least one chunk): used as given.
  const chunkBytes = config.resources.max_batch_bytes;
  const delay = Number(process.env.RB_BENCH_DELAY_MS ?? 0) || 0;
  const sourceDelay = Number(process.env.RB_BENCH_SOURCE_DELAY_MS ?? 0) || 0;
  const cpuSlowdown = Number(process.env.RB_BENCH_CPU_SLOWDOWN ?? 0) || 0;
  for (const [i, s] of streams.entries()) {
    const contract = contracts[i];
    const read = reads.get(s.name)!;
    const plan = read.stored;
    for (const shard of plan.shards) {
      const shardId = String(shard.index);
      if (read.skipped.has(shardId)) continue;
      tasks.push({
        runId,
        stream: s.name,
        streamIndex: i,
        shardIndex: shard.index,
        shardCount: plan.shards.length,
        source,
        dest,
        snapshot,
        read: {
          table: s.source.name,
          // A transformed stream reads its source columns; its steps make the contract's.
          columns: s.transform ? s.columns.map((c) => ({ name: c.name, sourceTypeOid: c.typeOid, typeSql: c.typeName })) : contract.columns,
          ...(s.transform?.steps.length ? { steps: s.transform.steps } : {}),
          format: contract.format,
          predicates: [shard.predicate, ...plan.predicates],
          orderBy: plan.orderBy,
          preferIndexScan: plan.kind === 'range' && plan.shards.length > 1,
        },
        contract,
        chunkBytes,
        maxInflightChunks: config.resources.max_inflight_batches,
        estimatedBytes: Math.round(s.source.relationBytes / Math.max(1, plan.shards.length)),
        delayPerChunkMs: delay,
        ...(sourceDelay ? { sourceDelayPerChunkMs: sourceDelay } : {}),
        ...(cpuSlowdown > 0 ? { cpuSlowdown } : {}),
        badRows: {
          policy: config.destination.on_data_error,
          schema: config.state.schema,
          pipeline: config.pipeline,
          runId,
          rowKey: s.key.length ? s.key : s.source.primaryKey.filter((k) => s.columns.some((c) => c.name === k)),
        },
        ledger: { schema: config.state.schema, pipeline: config.pipeline, planId, runId, stream: s.name, shard: shardId },
        ...(read.checkpoint ? { checkpoint: { ...read.checkpoint(contract), runId } } : {}),
        ...(read.continuation ? { continuation: read.continuation } : {}),
        ...(s.transform?.rowSteps.length ? { rowSteps: s.transform.rowSteps } : {}),
        ...(s.syncMode === 'cdc' ? { uniquePlan: STANDING_UNIQUE_PLAN } : {}),
      });
    }
  }
  return tasks;
}

/** A `validate` of the pipeline has a `unique` rule (its claims: dest-postgres/unique-values.ts). */
function hasUniqueRule(config: PipelineConfig): boolean {
  return config.transforms.some((t) => t.type === 'validate' && t.rules?.some((r) => r.unique));
}

export function exitCodeOf(result: RunResult): number {
  return result.status === 'succeeded' ? 0 : ((result as RunResult & { exitCode?: number }).exitCode ?? 1);
}

