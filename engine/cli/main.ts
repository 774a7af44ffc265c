/**
 * rb's command line (docs/design.md section 11). commander parses arguments (a well-kept library rather
 * than a hand-written parser); each command lives in its own file and returns an exit code:
 *   0 ok, 1 internal, 2 bad config or arguments, 3 source error, 4 destination error, 5 data error.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { nativeStatus } from '../../native/index.js';
import { EXIT_CONFIG, EXIT_INTERNAL, RbError } from '../errors.js';
import { checkCommand } from './check-command.js';
import { demoCommand } from './demo-command.js';
import { discoverCommand } from './discover-command.js';
import { embeddedPsqlUrlCommand, embeddedStatusCommand, embeddedStopCommand } from './embedded-command.js';
import { printError } from './output.js';
import { parseParallelism, positiveInt } from './parallelism-arg.js';
import { runCommand, type RunCommandOptions } from './run-command.js';
import { stateResetCommand, stateShowCommand } from './state-command.js';
import { COMPILED, repoPath } from '../paths.js';

const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { version: string };

export function versionLine(): string {
  return `rb ${pkg.version} (codecs: ${nativeStatus.impl} — ${nativeStatus.reason}; js: ${COMPILED ? 'compiled (dist/)' : 'sources (tsx)'}; node ${process.version})`;
}

/** `rb bench --profile codecs [--json] [--time ms] [--iterations n] [--repeat n] [--clock wall|cpu] [--only a,b]`. */
async function codecBenchCommand(args: string[]): Promise<number> {
  const cmd = new Command('rb bench --profile codecs')
    .exitOverride()
    .option('--json', 'print JSON')
    .option('--time <ms>', 'time per task and round', Number)
    .option('--iterations <n>', 'minimum ops per task', Number)
    .option('--repeat <n>', 'rounds (median reported)', Number)
    .option('--clock <wall|cpu>', 'clock to time with (cpu on shared machines)')
    .option('--only <names>', 'codecs to run, comma-separated');
  cmd.parse(args, { from: 'user' });
  const o = cmd.opts<{ json?: boolean; time?: number; iterations?: number; repeat?: number; clock?: 'wall' | 'cpu'; only?: string }>();
  const { runCodecBench } = await import('../../bench/codecs/run-codecs.js');
  await runCodecBench({ json: !!o.json, time: o.time, iterations: o.iterations, repeat: o.repeat, clock: o.clock, only: o.only?.split(',') });
  return 0;
}

/** An "Examples:" block for a command's --help: each line a command and what it does. */
function examples(...lines: [command: string, what: string][]): string {
  const width = Math.max(...lines.map(([c]) => c.length));
  return `\nExamples:\n${lines.map(([c, what]) => `  $ ${c.padEnd(width)}  # ${what}`).join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = new Command()
    .name('rb')
    .description('Move data between PostgreSQL databases at the speed of the wire.')
    .version(versionLine(), '-V, --version')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError('(run rb --help for usage)')
    .addHelpText('after', `${examples(
      ['rb demo', 'try rb on a sample dataset in an embedded PostgreSQL'],
      ['rb check pipeline.yaml', 'is the pipeline file right, can rb reach and write both sides'],
      ['rb run pipeline.yaml', 'move the data'],
      ['rb run --help', "a command's options and examples"],
    )}\nEvery key of a pipeline file: docs/config.md\n`);

  const parallelismOption = () =>
    new Option('-p, --parallelism <auto|N>', 'worker threads: auto or an integer >= 1 (overrides resources.parallelism)').argParser(parseParallelism);

  program
    .command('run')
    .description('run a pipeline')
    .addHelpText('after', examples(
      ['rb run pipeline.yaml', 'copy every stream (resumes an unfinished earlier run)'],
      ['rb run pipeline.yaml --parallelism 4 --json', 'four workers; one JSON object with the result on stdout'],
      ['rb run pipeline.yaml --fresh', 'ignore an unfinished earlier run and copy everything anew'],
      ['rb run cdc.yaml --follow', 'cdc: catch up, then keep streaming until Ctrl-C'],
      ['rb run cdc.yaml --follow --metrics-addr 127.0.0.1:9187', 'Prometheus metrics at http://127.0.0.1:9187/metrics while it runs'],
      ['rb run pipeline.yaml --log-format json', 'one JSON object a line on stderr for every lifecycle event'],
      ['rb run pipeline.yaml --queue postgresql://queue-host/rb', 'shards as jobs for rb worker processes on other machines'],
      ['rb run pipeline.yaml --queue "$QUEUE_URL" --job-timeout 600', 'a worker silent for 10 minutes has its shard redone by another'],
    ))
    .argument('<pipeline.yaml>', 'pipeline file')
    .addOption(parallelismOption())
    .option('--json', 'print one JSON object with the result on stdout')
    .option('--fresh', 'do not resume an unfinished earlier run of this pipeline: plan and copy everything anew')
    .option('--follow', 'cdc pipelines: after catching up keep streaming changes until SIGINT/SIGTERM, then commit what is in hand and exit 0')
    .option('--queue <url>', 'PostgreSQL database of the job queue: enqueue the shards for rb worker processes and wait for them (this process plans, holds the snapshot, prepares and finishes)')
    .option('--job-timeout <seconds>', 'with --queue: seconds a worker may hold a shard before another redoes it (default 120 + 1 per 16 MiB of the shard)', positiveInt)
    .option('--metrics-addr <host:port>', 'serve Prometheus metrics at http://host:port/metrics while the run lasts (rows, cdc lag and applied counts, retries, errors)')
    .option('--log-format <text|json>', 'json: stderr carries one JSON object a line (time, level, event, stream, fields) instead of text and progress bars', 'text')
    .action(async (file: string, o: RunCommandOptions) => {
      exitCode = await runCommand(file, o);
    });

  program
    .command('worker')
    .description('run queued shards (rb run --queue) on this machine until SIGTERM')
    .addHelpText('after', examples(
      ['rb worker --queue postgresql://queue-host/rb', 'one shard per core; credentials from RB_CONNECTION_<PIPELINE>_SOURCE / _DESTINATION'],
      ['rb worker --queue "$QUEUE_URL" --concurrency 4 --pipeline pipeline.yaml', "four at a time; credentials from the pipeline file's connections"],
    ))
    .requiredOption('--queue <url>', 'PostgreSQL database of the job queue (the coordinator\'s --queue)')
    .option('--concurrency <n>', 'shards run at once (default: the cores of this machine)', positiveInt)
    .option('--pipeline <file...>', "pipeline files to take a job's source and destination connections from (by the job's pipeline name)")
    .action(async (o: { queue: string; concurrency?: number; pipeline?: string[] }) => {
      // pg-boss loads only for the worker (and a queued run), not for every command.
      const { workerCommand } = await import('./worker-command.js');
      exitCode = await workerCommand(o);
    });

  const state = program.command('state').description("a pipeline's durable state in the destination (cursors, runs)");
  state
    .command('show')
    .description('per stream: sync mode, cursor, updated_at; and the last runs')
    .addHelpText('after', examples(
      ['rb state show pipeline.yaml', 'cursors and the last runs'],
      ['rb state show pipeline.yaml --json', 'the same as JSON'],
    ))
    .argument('<pipeline.yaml>', 'pipeline file')
    .option('--json', 'print JSON')
    .action(async (file: string, o: { json?: boolean }) => {
      exitCode = await stateShowCommand(file, o);
    });
  state
    .command('reset')
    .description('forget the streams\' cursors: the next run reads them from scratch')
    .addHelpText('after', examples(
      ['rb state reset pipeline.yaml --yes', 'every stream (cdc: drops the slot)'],
      ['rb state reset pipeline.yaml --stream public.orders --yes', 'one stream'],
    ))
    .argument('<pipeline.yaml>', 'pipeline file')
    .option('--stream <name...>', 'only these streams (as named in the pipeline)')
    .option('--yes', 'do not ask (required when stdin is not a terminal)')
    .option('--json', 'print JSON')
    .action(async (file: string, o: { stream?: string[]; yes?: boolean; json?: boolean }) => {
      exitCode = await stateResetCommand(file, o);
    });

  program
    .command('check')
    .description('validate a pipeline file, then connectivity and privileges')
    .addHelpText('after', examples(
      ['rb check pipeline.yaml', 'read only; each failure with its fix; exit 0 when run would start'],
      ['rb check pipeline.yaml --json', 'the checks as JSON'],
    ))
    .argument('<pipeline.yaml>', 'pipeline file')
    .option('--json', 'print the checks as JSON')
    .action(async (file: string, o: { json?: boolean }) => {
      exitCode = await checkCommand(file, o);
    });

  program
    .command('discover')
    .description("list the source's tables: columns, exact types, keys, size, how they can be sharded")
    .addHelpText('after', examples(
      ['rb discover pipeline.yaml', "the configured streams' schemas"],
      ['rb discover pipeline.yaml --schema public sales --json', 'these schemas, as JSON'],
    ))
    .argument('<pipeline.yaml>', 'pipeline file (its source is discovered)')
    .option('--schema <name...>', 'schemas to list (default: the schemas of the configured streams)')
    .option('--json', 'print JSON')
    .action(async (file: string, o: { json?: boolean; schema?: string[] }) => {
      exitCode = await discoverCommand(file, o);
    });

  program
    .command('demo')
    .description('seed a sample shop dataset in the embedded PostgreSQL and copy it with rb')
    .addHelpText('after', examples(
      ['rb demo', 'seed, copy, verify (RB_DEMO_SCALE=0.01 for a small dataset)'],
      ['rb demo --reset --parallelism 2', "the demo's databases anew, two workers"],
    ))
    .option('--reset', "drop the demo's databases (rb_demo_source, rb_demo_dest) in the embedded cluster first and seed them anew")
    .addOption(parallelismOption())
    .option('--json', 'print the run result as JSON')
    .action(async (o: { reset?: boolean; json?: boolean; parallelism?: 'auto' | number }) => {
      exitCode = await demoCommand(o);
    });

  const embedded = program
    .command('embedded')
    .description("rb's embedded PostgreSQL (embedded: true): one per user, kept running between commands");
  embedded
    .command('status')
    .description('where the cluster is, whether it runs, its port and databases')
    .addHelpText('after', examples(
      ['rb embedded status', 'RB_EMBEDDED_ROOT overrides where (default ~/.local/share/rb/pg)'],
      ['rb embedded status --json', 'the same as JSON'],
    ))
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      exitCode = await embeddedStatusCommand(o);
    });
  embedded
    .command('stop')
    .description('stop the server (its data stays; the next command that needs it starts it)')
    .addHelpText('after', examples(['rb embedded stop', 'fast shutdown of the per-user cluster']))
    .action(async () => {
      exitCode = await embeddedStopCommand();
    });
  embedded
    .command('psql-url')
    .description('print a postgresql:// URL (with its password) to open the cluster with psql; starts it when stopped')
    .argument('[database]', 'database (default postgres; pipelines use rb_source and rb_dest unless they name one)')
    .addHelpText('after', examples(
      ['rb embedded psql-url rb_dest', 'the URL of the destination database of embedded pipelines'],
      ['psql "$(rb embedded psql-url rb_source)"', 'open the source database'],
    ))
    .action(async (database: string | undefined) => {
      exitCode = await embeddedPsqlUrlCommand(database);
    });

  program
    .command('bench')
    .description('measure throughput against the raw psql COPY pipe, pgcopydb and a Node pipe')
    .allowUnknownOption(true)
    .helpOption(false)
    .argument('[args...]')
    .action(async (args: string[]) => {
      const profileAt = args.findIndex((a) => a === '--profile' || a.startsWith('--profile='));
      const profile = profileAt < 0 ? undefined : args[profileAt].includes('=') ? args[profileAt].split('=')[1] : args[profileAt + 1];
      if (profile === 'cdc') {
        const { cdcBenchCommand } = await import('../../bench/cdc/cdc-bench.js');
        exitCode = await cdcBenchCommand(args.filter((_, i) => i !== profileAt && !(i === profileAt + 1 && !args[profileAt].includes('='))));
        return;
      }
      if (profile === 'codecs') {
        exitCode = await codecBenchCommand(args.filter((_, i) => i !== profileAt && !(i === profileAt + 1 && !args[profileAt].includes('='))));
        return;
      }
      const { benchMain } = await import('../../bench/cli.js');
      exitCode = await benchMain(args);
    });

  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return EXIT_CONFIG;
    }
    if (e instanceof RbError) {
      printError(e, false);
      return e.exitCode;
    }
    process.stderr.write(`rb: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return EXIT_INTERNAL;
  }
  return exitCode;
}
