/**
 * Runs one profile: data in the source, then every contender once as a warm-up and `iters` times in
 * alternation (A B C A B C ...), each run starting from empty destination tables and verified after
 * it. A contender whose run fails or copies wrong data is reported as failed and not run again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { redact } from '../engine/errors.js';
import type { Contender, ContenderContext } from './contenders/contender.js';
import { pgcopydbIncompatibility } from './contenders/pgcopydb.js';
import { writePgpass } from './contenders/pgpass.js';
import { EMBEDDED_DEST_ROOT, EMBEDDED_SOURCE_ROOT, ensureSourceData, resetDestination, resolveEndpoints, serverInfo } from './databases.js';
import { measureProcess } from './measure.js';
import type { Profile } from './profiles.js';
import type { ContenderResult, ProfileRun, RunRecord, ServerCpu } from './results.js';
import { postmasterPid, serverCpuSeconds } from '../engine/telemetry/server-cpu.js';
import { verifyDestination, type TableChecksum } from './verify.js';
import { REPO_ROOT } from '../engine/paths.js';

export { REPO_ROOT };

export interface ProfileRunOptions {
  iters: number;
  contenders: Contender[];
  sourceUrl?: string;
  destUrl?: string;
  regenerate: boolean;
  /** Run one untimed round first (default true). */
  warmup?: boolean;
  log: (line: string) => void;
}

type RunOutcome = { kind: 'ok'; record: RunRecord; telemetry?: Record<string, unknown> } | { kind: 'failed' | 'skipped'; reason: string };

const NODE_NOISE = /DeprecationWarning|ExperimentalWarning|--trace-deprecation|--trace-warnings/;

/** The most useful words about a failed run: an rb --json error, else the last real stderr lines. */
export function failureText(stdout: string, stderr: string, lines = 3): string {
  for (const line of stdout.trim().split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    try {
      const doc = JSON.parse(line) as { error?: { code?: string; message?: string } };
      if (doc.error?.message) return `${doc.error.code ? `[${doc.error.code}] ` : ''}${doc.error.message}`;
    } catch {
      /* not JSON */
    }
  }
  const useful = `${stderr}\n${stdout}`.split('\n').map((l) => l.trim()).filter((l) => l && !NODE_NOISE.test(l));
  return useful.slice(-lines).join(' | ');
}

/** The postmaster pids of the local (embedded) servers, whose CPU a run's report includes. */
export interface LocalServers {
  source?: number;
  dest?: number;
}

/** Backends end a moment after their client: wait this long before reading the servers' CPU. */
const SERVER_SETTLE_MS = 250;

function sampleServers(servers: LocalServers): ServerCpu {
  return {
    source: servers.source === undefined ? undefined : serverCpuSeconds(servers.source),
    dest: servers.dest === undefined ? undefined : serverCpuSeconds(servers.dest),
  };
}

function serverDelta(before: ServerCpu, after: ServerCpu): ServerCpu | undefined {
  const d = (k: keyof ServerCpu): number | undefined => (before[k] === undefined || after[k] === undefined ? undefined : Math.max(0, after[k]! - before[k]!));
  const out = { source: d('source'), dest: d('dest') };
  return out.source === undefined && out.dest === undefined ? undefined : out;
}

async function runOnce(c: Contender, ctx: ContenderContext, iteration: number, expected: TableChecksum[], timeoutMs: number, servers: LocalServers = {}): Promise<RunOutcome> {
  await resetDestination(ctx.destUrl, ctx.profile);
  try {
    await c.prepare?.(ctx);
  } catch (e) {
    return { kind: 'failed', reason: `set-up before the run failed: ${redact(e instanceof Error ? e.message : String(e), [ctx.sourceUrl, ctx.destUrl])}` };
  }
  const cmd = await c.command(ctx);
  const before = sampleServers(servers);
  const m = await measureProcess({ ...cmd, cwd: ctx.repoRoot, timeoutMs });
  let serverCpu: ServerCpu | undefined;
  if (servers.source !== undefined || servers.dest !== undefined) {
    await new Promise((r) => setTimeout(r, SERVER_SETTLE_MS));
    serverCpu = serverDelta(before, sampleServers(servers));
  }
  const secrets = [ctx.sourceUrl, ctx.destUrl];
  if (m.timedOut) return { kind: 'failed', reason: `timed out after ${Math.round(timeoutMs / 1000)} s` };
  if (m.exitCode !== 0) {
    const why = `exit ${m.exitCode ?? m.signal}: ${redact(failureText(m.stdout, m.stderr), secrets) || 'no output'}`;
    if (c.kind === 'pgcopydb') {
      const incompatible = await pgcopydbIncompatibility(ctx.sourceMajor, m.stderr);
      if (incompatible) return { kind: 'skipped', reason: redact(incompatible, secrets) };
    }
    return { kind: 'failed', reason: why };
  }
  const verdict = await verifyDestination(ctx.destUrl, expected);
  if (!verdict.ok) return { kind: 'failed', reason: `wrong data in the destination: ${verdict.problems.join('; ')}` };
  const telemetry = c.parseOutput?.(m.stdout);
  const moveMs = (telemetry?.phases_ms as { move?: number } | undefined)?.move;
  return {
    kind: 'ok',
    record: {
      iteration,
      wallSeconds: m.wallSeconds,
      cpuSeconds: m.cpuSeconds,
      peakRssBytes: m.peakRssBytes,
      ...(serverCpu ? { serverCpuSeconds: serverCpu } : {}),
      ...(typeof moveMs === 'number' ? { moveSeconds: moveMs / 1000 } : {}),
    },
    telemetry,
  };
}

const majorOf = (versionNum: number): number => Math.floor(versionNum / 10000);

export async function runProfile(profile: Profile, opts: ProfileRunOptions): Promise<ProfileRun> {
  const log = opts.log;
  const ep = await resolveEndpoints(profile, { sourceUrl: opts.sourceUrl, destUrl: opts.destUrl, log });
  const data = await ensureSourceData(ep.sourceUrl, profile, { regenerate: opts.regenerate, log });
  const [src, dst] = await Promise.all([serverInfo(ep.sourceUrl), serverInfo(ep.destUrl)]);

  // Embedded clusters run on this machine: their CPU is measured too.
  const servers: LocalServers = {
    source: ep.sourceEmbedded ? postmasterPid(path.resolve(EMBEDDED_SOURCE_ROOT, 'data')) : undefined,
    dest: ep.destEmbedded ? postmasterPid(path.resolve(EMBEDDED_DEST_ROOT, 'data')) : undefined,
  };
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'rb-bench-'));
  try {
    const pgpass = writePgpass(workDir, [ep.sourceUrl, ep.destUrl]);
    const ctx: ContenderContext = {
      profile,
      tables: profile.tables.map((t) => t.table),
      sourceUrl: ep.sourceUrl,
      destUrl: ep.destUrl,
      sourceMajor: majorOf(src.versionNum),
      workDir,
      pgpassFile: pgpass.file,
      sourceUrlNoPassword: pgpass.urls[0],
      destUrlNoPassword: pgpass.urls[1],
      repoRoot: REPO_ROOT,
    };
    const results: ContenderResult[] = [];
    const active: Array<{ c: Contender; r: ContenderResult }> = [];
    for (const c of opts.contenders) {
      const r: ContenderResult = { id: c.id, label: c.label, kind: c.kind, status: 'ok', runs: [] };
      results.push(r);
      const reason = await c.unavailableReason(ctx);
      if (reason) {
        r.status = 'skipped';
        r.reason = reason;
        log(`bench ${profile.name}: ${c.label} skipped: ${reason}`);
      } else {
        r.info = await c.info?.(ctx);
        r.note = await c.note?.(ctx);
        active.push({ c, r });
      }
    }

    const runRound = async (iteration: number): Promise<void> => {
      for (const { c, r } of active) {
        if (r.status !== 'ok') continue;
        const outcome = await runOnce(c, ctx, iteration, data.tables, profile.runTimeoutMs, servers);
        const what = iteration === 0 ? 'warm-up' : `run ${iteration}/${opts.iters}`;
        if (outcome.kind === 'ok') {
          if (iteration > 0) r.runs.push(outcome.record);
          if (outcome.telemetry) r.telemetry = outcome.telemetry;
          log(`bench ${profile.name}: ${what} ${c.label}: ${outcome.record.wallSeconds.toFixed(2)} s, verified`);
        } else {
          r.status = outcome.kind;
          r.reason = outcome.reason;
          r.runs = [];
          log(`bench ${profile.name}: ${what} ${c.label}: ${outcome.kind}: ${outcome.reason}`);
        }
      }
    };
    for (let i = opts.warmup === false ? 1 : 0; i <= opts.iters; i++) await runRound(i); // round 0 is the warm-up
    await resetDestination(ep.destUrl, profile); // leave the destination small

    return {
      profile: profile.name,
      description: profile.description,
      iterations: opts.iters,
      warmup: opts.warmup !== false,
      tables: data.tables,
      source: { embedded: ep.sourceEmbedded, serverVersion: src.version, generated: data.generated, generationSeconds: data.generationSeconds },
      destination: { embedded: ep.destEmbedded, serverVersion: dst.version },
      contenders: results,
    };
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}
