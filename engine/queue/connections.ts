/**
 * How `rb worker` finds the credentials of a queued shard's connections (docs/design.md section 14;
 * README "Several machines"). A job names a connection by pipeline and role; the worker resolves it
 * from its own machine, first match wins:
 *
 *   1. RB_CONNECTION_<PIPELINE>_SOURCE / RB_CONNECTION_<PIPELINE>_DESTINATION: a connection string
 *      (postgresql:// URI or keyword/value), resolved as a `url:` block is (PG* variables and the
 *      password file fill what it leaves out). <PIPELINE> is the pipeline's name upper-cased, every
 *      character other than A-Z and 0-9 turned into `_` (orders-copy → ORDERS_COPY).
 *   2. a pipeline file given with `rb worker --pipeline <file>` whose `pipeline:` is the job's:
 *      its source.config / destination.config, with `${VAR}` read from the worker's environment.
 *
 * Nothing found: the job fails for good, saying both ways (a worker without credentials cannot
 * become able to run it by retrying).
 */
import type { PgEndpoint } from '../../connectors/postgres/connection.js';
import { resolveServerEndpoint } from '../../connectors/postgres/connection.js';
import { loadPipelineConfig, type PipelineConfig } from '../config/index.js';
import { RbError } from '../errors.js';
import { resolveEndpoint } from '../run/endpoints.js';
import type { ConnectionRef } from './job-payload.js';

/** The environment variable that holds a pipeline's connection string for a role. */
export function connectionVariable(ref: Pick<ConnectionRef, 'pipeline' | 'role'>): string {
  return `RB_CONNECTION_${ref.pipeline.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_${ref.role.toUpperCase()}`;
}

export class ConnectionResolver {
  private readonly pipelines = new Map<string, PipelineConfig>();
  private readonly cache = new Map<string, Promise<PgEndpoint>>();

  constructor(
    pipelineFiles: readonly string[],
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    for (const file of pipelineFiles) {
      const config = loadPipelineConfig(file, env);
      const known = this.pipelines.get(config.pipeline);
      if (known) throw new RbError('usage', `--pipeline ${file}: pipeline ${config.pipeline} is given twice`);
      this.pipelines.set(config.pipeline, config);
    }
  }

  /** The endpoint for `ref` (resolved once per pipeline and role). */
  resolve(ref: ConnectionRef): Promise<PgEndpoint> {
    const key = `${ref.pipeline}\u0000${ref.role}`;
    let p = this.cache.get(key);
    if (!p) {
      p = this.resolveNow(ref);
      p.catch(() => this.cache.delete(key));
      this.cache.set(key, p);
    }
    return p;
  }

  private async resolveNow(ref: ConnectionRef): Promise<PgEndpoint> {
    const variable = connectionVariable(ref);
    const url = this.env[variable];
    if (url) return resolveServerEndpoint({ kind: 'url', url }, ref.role, { env: this.env });
    const config = this.pipelines.get(ref.pipeline);
    if (config) return resolveEndpoint(ref.role === 'source' ? config.source.config : config.destination.config, ref.role);
    throw new RbError(
      'usage',
      `this worker has no ${ref.role} connection for pipeline ${ref.pipeline} (the coordinator reached ${ref.label}): set ${variable} to its connection string, or start rb worker with --pipeline <that pipeline's file>`,
      { details: { connection: ref.role } },
    );
  }
}
