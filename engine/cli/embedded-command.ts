/**
 * `rb embedded status|stop|psql-url`: the embedded cluster `embedded: true` uses (one per user,
 * engine/embedded/root.ts) keeps running after rb exits so the next command reuses it; these say
 * where it is, stop it, and give a URL to open it with psql.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { clusterStatus, clusterUrl, ensureCluster, stopCluster } from '../embedded/cluster.js';
import { describeEmbeddedRoot, embeddedRoot, LEGACY_PROJECT_ROOT } from '../embedded/root.js';
import { EXIT_OK, EXIT_SOURCE } from '../errors.js';

/** A cluster of an older rb in this directory's .rb/pg, when it is not the one in use. */
function legacyNote(root: string): string | null {
  const legacy = path.resolve(LEGACY_PROJECT_ROOT);
  if (legacy === root || !existsSync(path.join(legacy, 'cluster.json'))) return null;
  return `note: ${legacy} holds a project-local cluster (an older rb kept one per working directory); RB_EMBEDDED_ROOT=${LEGACY_PROJECT_ROOT} rb … uses it, RB_EMBEDDED_ROOT=${LEGACY_PROJECT_ROOT} rb embedded stop stops it`;
}

export async function embeddedStatusCommand(o: { json?: boolean }): Promise<number> {
  const where = embeddedRoot();
  const s = await clusterStatus(where.root);
  const note = legacyNote(where.root);
  if (o.json) {
    process.stdout.write(
      `${JSON.stringify({
        root: s.root,
        root_from: where.from,
        created: s.created,
        running: s.running,
        ...(s.info ? { host: s.info.host, port: s.info.port, user: s.info.user } : {}),
        ...(s.version ? { server_version: s.version, databases: s.databases } : {}),
        ...(note ? { note } : {}),
      })}\n`,
    );
    return EXIT_OK;
  }
  const state = !s.created
    ? 'not created yet (rb demo, or a pipeline with embedded: true, creates it)'
    : s.running
      ? `running, PostgreSQL ${s.version} on ${s.info!.host}:${s.info!.port}, databases: ${s.databases!.join(', ') || 'none'}`
      : `stopped (the next rb command that needs it starts it; port ${s.info!.port} last)`;
  process.stdout.write(`${describeEmbeddedRoot(where)}: ${state}\n`);
  if (s.created) process.stdout.write(`server log: ${path.join(s.root, 'server.log')}\n`);
  if (note) process.stdout.write(`${note}\n`);
  return EXIT_OK;
}

export async function embeddedStopCommand(): Promise<number> {
  const where = embeddedRoot();
  const s = await clusterStatus(where.root);
  if (!s.running) {
    process.stdout.write(`${describeEmbeddedRoot(where)}: not running\n`);
    return EXIT_OK;
  }
  await stopCluster(where.root);
  process.stdout.write(`${describeEmbeddedRoot(where)}: stopped (its data stays; the next rb command that needs it starts it)\n`);
  return EXIT_OK;
}

/** Prints a postgresql:// URL with the cluster's password (for `psql "$(rb embedded psql-url)"`); starts a stopped cluster. */
export async function embeddedPsqlUrlCommand(database: string | undefined): Promise<number> {
  const where = embeddedRoot();
  const s = await clusterStatus(where.root);
  if (!s.created) {
    process.stderr.write(`rb: ${describeEmbeddedRoot(where)} is not created yet (rb demo, or a pipeline with embedded: true, creates it)\n`);
    return EXIT_SOURCE;
  }
  const info = s.running ? s.info! : await ensureCluster(where.root);
  process.stdout.write(`${clusterUrl(info, database ?? 'postgres')}\n`);
  return EXIT_OK;
}
