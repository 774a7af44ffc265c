/**
 * The PostgreSQL change source on the leader (docs/design.md section 8): publication and slot
 * setup, the slot's exported snapshot for a first run's copy, the source's WAL position, and the
 * catch-up read of the slot (change-reader.ts).
 */
import type pg from 'pg';
import type { CdcNames, ChangeReadOptions, ChangeReadResult, ChangeSource, JudgedRead, SlotSnapshot } from '../contract/changes.js';
import type { QualifiedName } from '../contract/qualified-name.js';
import { RbError } from '../contract/errors.js';
import type { PgEndpoint } from '../postgres/connection.js';
import { checkSlot, dropOwnPublication, emitMark, dropSlot, ensurePublication, keylessTableNotes, publishesGeneratedColumns, slotInfo } from './cdc-setup.js';
import { readChanges } from './change-reader.js';
import { judgeRows } from './judge-rows.js';
import { parseLsn } from './lsn.js';
import { openReplicationConnection, type ReplicationConnection } from './replication-stream.js';

/** Default slot and publication name of a pipeline: `rb_<pipeline>` (slot names are [a-z0-9_]). */
export function defaultCdcName(pipeline: string): string {
  return `rb_${pipeline.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

/** How long a killed run's walsender may still hold its slot before it notices. */
const SLOT_RELEASE_WAIT_MS = 10_000;

export class PostgresCdcSource implements ChangeSource {
  constructor(
    private readonly client: pg.Client,
    private readonly endpoint: PgEndpoint,
  ) {}

  judgeRows(read: JudgedRead, rows: ReadonlyArray<ReadonlyArray<string | null | undefined>>): Promise<boolean[]> {
    return judgeRows(this.client, read, rows);
  }

  /**
   * Publication (created when missing, then rb owns it: returns created = true) and a new slot
   * with an exported snapshot, for a first run. A slot of that name without stored positions is
   * of no use (its start cannot be matched to a copy): it is dropped and made again.
   */
  async setupFirst(names: CdcNames, tables: readonly QualifiedName[], log?: (line: string) => void): Promise<{ createdPublication: boolean; snapshot: SlotSnapshot }> {
    const createdPublication = await ensurePublication(this.client, names.publication, tables, names.pipeline);
    for (const note of await keylessTableNotes(this.client, tables)) log?.(note);
    const existing = await this.waitInactive(names.slot);
    if (existing) {
      log?.(`rb: replication slot ${names.slot} exists but no position is stored for it: dropping it and taking a new snapshot`);
      await dropSlot(this.client, names.slot);
    }
    const conn: ReplicationConnection = await openReplicationConnection(this.endpoint, 'rb cdc setup');
    try {
      const slot = await conn.createSlot(names.slot, { snapshot: 'export' });
      if (!slot.snapshot) throw new RbError('internal', `replication slot ${names.slot}: no snapshot exported`);
      return {
        createdPublication,
        snapshot: {
          name: slot.snapshot,
          consistentPoint: slot.consistentPoint,
          release: async () => {
            conn.releaseSnapshot();
            await conn.close().catch(() => {});
          },
        },
      };
    } catch (e) {
      await conn.close().catch(() => {});
      throw e;
    }
  }

  /** A next run: the publication still publishes the tables, the slot exists and is usable. */
  async checkNext(names: CdcNames, tables: readonly QualifiedName[]): Promise<void> {
    await ensurePublication(this.client, names.publication, tables, names.pipeline);
    const info = await this.waitInactive(names.slot);
    if (!info) {
      throw new RbError(
        'source_query',
        `replication slot ${names.slot} does not exist any more, but rb stored a position in it: the changes since are lost. Resync: rb state reset <pipeline.yaml> --yes, then rb run takes a new snapshot`,
      );
    }
    checkSlot(names.slot, info, this.endpoint.database);
  }

  async markEnd(content: string): Promise<{ lsn: bigint; content: string }> {
    return { lsn: await emitMark(this.client, content), content };
  }

  publishesGeneratedColumns(): Promise<boolean> {
    return publishesGeneratedColumns(this.client);
  }

  readChanges(opts: ChangeReadOptions): Promise<ChangeReadResult> {
    return readChanges(this.endpoint, opts, async () => parseLsn((await this.client.query(`select pg_current_wal_lsn()::text as l`)).rows[0].l as string));
  }

  async drop(names: CdcNames): Promise<{ slot: boolean; publication: boolean }> {
    const info = await this.waitInactive(names.slot);
    if (info?.active) throw new RbError('source_query', `replication slot ${names.slot} is in use (is the pipeline running?); stop it, then reset`);
    if (info) await dropSlot(this.client, names.slot);
    return { slot: !!info, publication: await dropOwnPublication(this.client, names.publication, names.pipeline) };
  }

  /** The slot's info once no connection holds it (a killed run's walsender lets go within seconds). */
  private async waitInactive(slot: string) {
    const deadline = Date.now() + SLOT_RELEASE_WAIT_MS;
    for (;;) {
      const info = await slotInfo(this.client, slot);
      if (!info?.active || Date.now() >= deadline) return info;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
