/**
 * An incremental checkpoint inside a shard's destination transaction (docs/design.md section 7):
 * the rows written so far reach the target (upsert merges its staging table into it) and the
 * stream's cursor moves to the last of them, in the same transaction, so a crash after COMMIT
 * resumes exactly after that row and a crash before it resumes from the previous checkpoint.
 */
import type pg from 'pg';
import type { RawField } from './copy-last-row.js';
import { mergeStaging } from './finalize.js';
import { claimStreamCursor, writeStreamState } from './state-store.js';
import type { StoredCursor } from '../contract/connector.js';
import type { LedgerEntry } from '../contract/state.js';
import type { WriteContract } from '../contract/write-contract.js';

export interface CursorTarget {
  schema: string;
  pipeline: string;
  runId: string;
  stream: string;
  syncMode: string;
  cursorFields: string[];
  fieldTypes: string[];
}

/**
 * Text forms of raw cursor fields, by the destination's own output functions: binary fields are
 * bound as binary parameters (node-postgres sends a Buffer in binary format), so the type's
 * receive function reads the exact value the source sent; text fields are re-read through the
 * type's input function.
 */
export async function cursorTexts(dest: pg.Client, types: readonly string[], fields: readonly RawField[]): Promise<Array<string | null>> {
  const list = types.map((t, i) => `($${i + 1}::${t})::text as v${i}`).join(', ');
  const r = await dest.query(`select ${list}`, fields as unknown[]);
  return types.map((_, i) => r.rows[0][`v${i}`] as string | null);
}

/**
 * Checks the fence (the stream's cursor is still `from`: claimStreamCursor), merges (upsert) and
 * stores the cursor; the caller commits. Returns the cursor now stored: the next checkpoint's `from`.
 */
export async function applyCheckpoint(
  dest: pg.Client,
  contract: WriteContract,
  target: CursorTarget,
  cursor: Array<string | null> | null,
  lookback: string | null,
  fence: { from: StoredCursor; queued?: LedgerEntry },
): Promise<StoredCursor> {
  await claimStreamCursor(dest, target, fence.from, fence.queued);
  if (contract.writeMode === 'upsert' && contract.staging) await mergeStaging(dest, contract, { truncate: true });
  await writeStreamState(dest, target.schema, target.pipeline, {
    stream: target.stream,
    syncMode: target.syncMode,
    cursorFields: target.cursorFields,
    cursor,
    lookback,
    runId: target.runId,
  });
  return { runId: target.runId, cursor };
}
