/**
 * The PostgreSQL SnapshotSource (connectors/contract/connector.ts): the leader's source
 * connection and the run's coordinator transaction, whose exported snapshot every shard imports
 * (docs/design.md section 5), so all shards see one moment of the source.
 */
import type pg from 'pg';
import type { TableInfo } from '../contract/catalog.js';
import type { CursorPosition, CursorRange, CursorRead, CursorSpec, ShardPlan, ShardRead, SnapshotSource } from '../contract/connector.js';
import type { QualifiedName } from '../contract/qualified-name.js';
import { discoverTable } from '../postgres/catalog.js';
import { queryError } from '../postgres/connection.js';
import { displayName, quoteLiteral } from '../postgres/identifiers.js';
import { shardSelectSql } from './read-shard.js';
import { cursorRead, lookbackFor, measureLookbackClock, readHighWater } from './incremental.js';
import { planShards } from './plan-shards.js';

export class PostgresSnapshotSource implements SnapshotSource {
  constructor(readonly client: pg.Client) {}

  discover(name: QualifiedName): Promise<TableInfo> {
    return discoverTable(this.client, name);
  }
  lookbackClock(): Promise<string> {
    return measureLookbackClock(this.client);
  }
  async openSnapshot(importFrom?: string): Promise<string> {
    await this.client.query('begin isolation level repeatable read read only');
    if (importFrom) await this.client.query(`set transaction snapshot ${quoteLiteral(importFrom)}`);
    return (await this.client.query('select pg_export_snapshot() as s')).rows[0].s as string;
  }
  planShards(table: TableInfo, target: number, opts: { partitionKey?: string } = {}): Promise<ShardPlan> {
    return planShards(this.client, table, target, opts);
  }
  highWater(table: QualifiedName, spec: CursorSpec): Promise<CursorPosition | null> {
    return readHighWater(this.client, table, spec);
  }
  lookbackFor(cursorType: string, clock: string): Promise<string | null> {
    return lookbackFor(this.client, cursorType, clock);
  }
  cursorRead(spec: CursorSpec, range: CursorRange): Promise<CursorRead> {
    return cursorRead(this.client, spec, range);
  }
  async probeRead(read: ShardRead): Promise<void> {
    // Planned, never run: a user's filter that does not compile fails here, before any data moves.
    // Inside the coordinator's transaction (rb run) a failure must not abort it: a savepoint.
    // rb check plans outside a transaction, where there is none to protect.
    const inTransaction = await this.client.query('savepoint rb_probe').then(
      () => true,
      () => false,
    );
    try {
      await this.client.query(`explain ${shardSelectSql(read)}`);
      if (inTransaction) await this.client.query('release savepoint rb_probe');
    } catch (e) {
      if (inTransaction) await this.client.query('rollback to savepoint rb_probe').catch(() => {});
      throw queryError(e, 'source', `${displayName(read.table)}: the transformed read`);
    }
  }
  async closeSnapshot(): Promise<void> {
    await this.client.query('commit').catch(() => {});
  }
}
