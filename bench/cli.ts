/**
 * `rb bench`: measured throughput of rb beside the raw psql COPY pipes, pgcopydb and a plain Node
 * pipe, with a regression gate. `runBenchCommand` is what engine/cli calls with commander's parsed
 * options; this file also runs standalone:
 *
 *   npx tsx bench/cli.ts --profile small [--iters 3] [--parallelism 4] [--json] [--out r.html]
 *   npx tsx bench/cli.ts --profile small --check bench/baselines/small.json [--tolerance 15%]
 *
 * Output: the table (or the JSON with --json) on stdout, progress on stderr. Exit codes: 0 ok;
 * 1 the gate failed, or an rb run failed or copied wrong data; 2 bad options; others from RbError.
 */
import { realpathSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { EXIT_CONFIG, isRbError, redact } from '../engine/errors.js';
import { ensureCompiled } from './compiled.js';
import { buildContenders, DEFAULT_CONTENDER_KINDS, isRbKind } from './contenders/index.js';
import { slowdownFactor } from './contenders/rb.js';
import { baselineFromReport, loadBaseline, runGate, saveBaseline, DEFAULT_TOLERANCE, type GateReport } from './gate.js';
import { describeMachine } from './machine.js';
import { normalizeOptions, DEFAULT_ITERS, type BenchCommandOptions } from './options.js';
import { PUBLIC_PROFILE_NAMES } from './profiles.js';
import { CONTENDER_KINDS } from './contenders/contender.js';
import { formatReport, profileReport, type BenchReport } from './report.js';
import { renderHtml } from './report-html.js';
import { runProfile } from './runner.js';

export type { BenchCommandOptions } from './options.js';

export interface BenchIo {
  stdout: (text: string) => void;
  stderr: (line: string) => void;
}

const defaultIo: BenchIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (l) => process.stderr.write(`${l}\n`),
};

/**
 * Runs `rb bench` and returns the exit code.
 * @example
 *   const code = await runBenchCommand({ profile: 'small', check: 'bench/baselines/small.json' });
 */
export async function runBenchCommand(options: BenchCommandOptions, io: BenchIo = defaultIo): Promise<number> {
  const secrets = [options.sourceUrl, options.destUrl];
  try {
    const s = normalizeOptions(options);
    const baseline = s.check ? loadBaseline(s.check) : undefined; // fail on a bad file before measuring
    const contendersOf = (p: (typeof s.profiles)[number]) => buildContenders(s.contenders ?? p.contenders ?? DEFAULT_CONTENDER_KINDS, s.parallelism);
    if (s.profiles.some((p) => contendersOf(p).some((c) => isRbKind(c.kind)))) await ensureCompiled(io.stderr);
    const runs = [];
    for (const profile of s.profiles) {
      const contenders = contendersOf(profile);
      runs.push(await runProfile(profile, { iters: s.iters, contenders, sourceUrl: s.sourceUrl, destUrl: s.destUrl, regenerate: s.regenerate, warmup: s.warmup, log: io.stderr }));
    }
    const postgres = runs.map((r) => `${r.source.serverVersion}${r.source.embedded ? ' (embedded)' : ''}`)[0] ?? 'unknown';
    const machine = await describeMachine(postgres);
    const factor = slowdownFactor();
    const report: BenchReport = {
      rb_bench_report: 1,
      created_at: new Date().toISOString(),
      machine,
      settings: { iterations: s.iters, parallelism: s.parallelism, contenders: [...new Set(s.profiles.flatMap((p) => contendersOf(p).map((c) => c.id)))], ...(factor > 1 ? { slowdown_factor: factor } : {}) },
      profiles: runs.map(profileReport),
    };
    const first = report.profiles[0];
    let gate: GateReport | undefined;
    if (baseline && s.check) {
      gate = runGate(first, baseline, s.check, s.tolerance);
      report.gate = gate;
    }
    if (s.saveBaseline) {
      const b = baselineFromReport(first, machine);
      saveBaseline(s.saveBaseline, b);
      io.stderr(`bench: baseline written to ${s.saveBaseline} (${b.figure} ratio ${b.ratio.toFixed(3)})`);
    }
    if (s.out) {
      writeFileSync(s.out, renderHtml(report));
      io.stderr(`bench: report written to ${s.out}`);
    }
    io.stdout(s.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    // Both figures, where the reader looks: after the table, or on stderr beside the JSON.
    if (gate) {
      if (s.json) io.stderr(gate.message);
      else io.stdout(`${gate.message}\n`);
    }
    const rbFailed = report.profiles.some((p) => p.contenders.some((c) => isRbKind(c.kind) && c.status === 'failed'));
    if (gate && !gate.pass) return 1;
    return rbFailed ? 1 : 0;
  } catch (e) {
    const message = redact(e instanceof Error ? e.message : String(e), secrets);
    io.stderr(`rb bench: ${message}`);
    return isRbError(e) ? e.exitCode : 1;
  }
}

/** The commander definition (standalone use; engine/cli registers its own with the same options). */
export function benchProgram(): Command {
  return new Command('rb bench')
    .description('measure rb beside the raw psql COPY pipes, pgcopydb and a plain Node pipe')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  $ rb bench --profile small                                         # rb and every contender, verified, in alternation',
        '  $ rb bench --profile small --check bench/baselines/small.json      # the regression gate CI runs',
        '  $ rb bench --profile codecs --clock cpu                            # native vs TypeScript codecs',
        '  $ rb bench --profile cdc                                           # catch-up against PostgreSQL\'s subscription',
        '',
      ].join('\n'),
    )
    .option('--profile <name>', `data profile: ${PUBLIC_PROFILE_NAMES.join('|')} (or a comma-separated list)`, 'small')
    .option('--iters <n>', 'timed runs per contender, after one warm-up', String(DEFAULT_ITERS))
    .option('--parallelism <n...>', "rb parallelism values to run besides 'auto'", [])
    .option('--source-url <url>', 'source database (default: embedded cluster .rb/bench-src)')
    .option('--dest-url <url>', 'destination database (default: embedded cluster .rb/bench-dst)')
    .option('--regenerate', 'generate the profile data again', false)
    .option('--json', 'print the report as JSON', false)
    .option('--out <file.html>', 'write an HTML report with a bar chart')
    .option('--check <baseline.json>', "fail when rb's ratios to the psql binary pipe (client CPU, wall time) are worse than the baseline's by more than the tolerance")
    .option('--tolerance <fraction|pct>', "allowed drop of the baseline's figure for --check (the wall-time guard keeps the baseline's own)", `${DEFAULT_TOLERANCE * 100}%`)
    .option('--save-baseline [file]', 'write a baseline (default bench/baselines/<profile>.json)')
    .option('--contenders <list>', `contenders to run: ${CONTENDER_KINDS.join(',')} (default: the profile's own list)`)
    .addOption(new Option('--no-warmup', 'skip the warm-up round (quick, noisier runs)').hideHelp());
}

/**
 * Parses `rb bench` arguments (without the `bench` word) and runs it: what engine/cli calls.
 * @example
 *   process.exitCode = await benchMain(['--profile', 'small', '--json']);
 */
export async function benchMain(args: string[], io: BenchIo = defaultIo): Promise<number> {
  const program = benchProgram().exitOverride();
  program.configureOutput({ writeOut: (t) => io.stdout(t), writeErr: (t) => io.stderr(t.trimEnd()) });
  try {
    program.parse(args, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.code === 'commander.helpDisplayed' || e.code === 'commander.help' ? 0 : EXIT_CONFIG;
    throw e;
  }
  return await runBenchCommand(program.opts<BenchCommandOptions>(), io);
}

const isMain = (() => {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();

if (isMain) process.exitCode = await benchMain(process.argv.slice(2));
