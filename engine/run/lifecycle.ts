/**
 * A run's lifecycle events besides its phases, retries and cdc commits (engine/api/run.ts turns
 * them into RunEvents; `--log-format json` writes each as a line, docs/design.md section 16).
 */
import type { CursorPosition } from '../../connectors/contract/connector.js';

export type LifecycleEvent =
  /** The run began: its id (the `runs` table's), before anything is read. */
  | { kind: 'start'; runId: string; pipeline: string; follow: boolean }
  /** CDC, first run: the replication slot was created (and the publication, when rb made it); its changes start at `lsn`. */
  | { kind: 'slot-created'; slot: string; publication: string; publicationCreated: boolean; lsn: bigint }
  /** CDC, first run: the initial copy is committed with its position; applying the slot's changes begins. */
  | { kind: 'snapshot-done'; streams: string[]; rows: number; lsn: bigint }
  /** Incremental: a stream's cursor committed with the rows it makes visible (`checkpoints`: those its shard committed on the way). */
  | { kind: 'cursor-commit'; stream: string; cursor: CursorPosition | null; rows: number; checkpoints: number };
