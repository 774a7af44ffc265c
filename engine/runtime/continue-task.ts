/**
 * Where the next attempt of an incremental shard that checkpoints starts (docs/design.md section
 * 7): after the cursor an earlier attempt of the same run committed, never again from the plan's
 * start (an append would write the committed rows twice). The same rule for the coordinator's
 * retries and for a queued shard's worker, which computes the read as the coordinator would
 * (SourceReads: no source connection needed).
 *
 *   stream_state.run_id = this run  →  predicates after its cursor, up to the run's mark;
 *                                      the checkpoint fence (CheckpointSpec.from) = that cursor
 *   otherwise                       →  the task as planned (nothing of it is committed)
 */
import type { StreamState } from '../../connectors/contract/state.js';
import { sourceReads } from '../../connectors/registry.js';
import type { ShardTask } from './shard-task.js';

export function continueAfterCheckpoint(task: ShardTask, states: readonly StreamState[]): ShardTask {
  if (!task.checkpoint || !task.continuation) return task;
  const st = states.find((x) => x.stream === task.stream);
  // Only a cursor this run stored moves the start: an older one is where the plan began.
  if (!st?.cursor || st.runId !== task.runId) return task;
  const { spec, atMost } = task.continuation;
  return {
    ...task,
    read: { ...task.read, predicates: sourceReads.continueRead(spec, st.cursor, atMost).predicates },
    checkpoint: { ...task.checkpoint, from: { runId: st.runId, cursor: st.cursor } },
  };
}
