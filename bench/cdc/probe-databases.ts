/**
 * The CDC probes' databases (ab-probe.ts, large-txn.ts): a source database on the embedded cluster
 * `.rb/cdcab-src` and destination databases on `.rb/cdcab-dst`, each dropped and made anew, and
 * no inactive slot left on the source (a killed probe's would keep WAL).
 */
import { clusterUrl, ensureCluster } from '../../engine/embedded/cluster.js';
import { repoPath } from '../../engine/paths.js';
import { queryOnce } from '../databases.js';

export async function freshProbeDatabases(source: string, destinations: readonly string[]): Promise<{ srcUrl: string; dstUrl: (db: string) => string }> {
  const src = await ensureCluster(repoPath('.rb/cdcab-src'));
  const dst = await ensureCluster(repoPath('.rb/cdcab-dst'));
  for (const [info, db] of [[src, source] as const, ...destinations.map((d) => [dst, d] as const)]) {
    await queryOnce(clusterUrl(info, 'postgres'), `drop database if exists ${db} with (force)`);
    await queryOnce(clusterUrl(info, 'postgres'), `create database ${db}`);
  }
  await queryOnce(clusterUrl(src, 'postgres'), `select pg_drop_replication_slot(slot_name) from pg_replication_slots where not active`);
  return { srcUrl: clusterUrl(src, source), dstUrl: (db) => clusterUrl(dst, db) };
}
