/**
 * Options the YAML accepts in shape but rb does not act on yet. Each one is refused with a rule
 * issue naming the field and saying it is not available yet (exit 2), never silently ignored: an
 * ignored `mask` would copy PII unmasked, an ignored `on_data_error: dlq` on a cdc pipeline would
 * fail the run the user asked to keep going. What is left here is refused for cdc pipelines only
 * (other sync modes beside cdc, skip/dlq, type_change: null); transforms.ts refuses its own.
 */

import { addRuleIssue } from './schema-parts.js';

type IssueSink = Parameters<typeof addRuleIssue>[0];

export const NOT_YET = 'is not available in this version of rb yet';

/** The message for a refused value, e.g. "on_data_error: dlq is not available in this version of rb yet". */
export function notYetMessage(what: string, instead: string): string {
  return `${what} ${NOT_YET} (${instead})`;
}

/** A stream field that only means something for one sync mode must not sit on another one. */
export function checkStreamFieldModes(stream: unknown, ctx: IssueSink): void {
  if (typeof stream !== 'object' || stream === null) return;
  const s = stream as Record<string, unknown>;
  const mode = s.sync_mode ?? 'full_refresh';
  if (mode === 'incremental') return;
  for (const field of ['cursor_field', 'tie_breaker_field'] as const) {
    // A value of the wrong shape has its own issue already.
    if (typeof s[field] === 'string' && s[field] !== '') {
      addRuleIssue(ctx, [field], `applies only to sync_mode incremental (this stream is ${String(mode)}); remove it or set sync_mode: incremental`, 'no cursor on this stream');
    }
  }
}

/** Incremental streams are written with append or upsert; replace would drop what earlier runs wrote. */
export function checkIncrementalWriteMode(config: unknown, ctx: IssueSink): void {
  if (typeof config !== 'object' || config === null) return;
  const c = config as { destination?: { write_mode?: unknown }; source?: { streams?: unknown } };
  if (c.destination?.write_mode !== 'replace' || !Array.isArray(c.source?.streams)) return;
  c.source.streams.forEach((s, i) => {
    if (typeof s === 'object' && s !== null && (s as { sync_mode?: unknown }).sync_mode === 'incremental') {
      addRuleIssue(ctx, ['source', 'streams', i, 'sync_mode'], 'incremental streams are written with write_mode append or upsert, not replace (replace would drop what earlier runs delivered)', 'full_refresh with write_mode replace');
    }
  });
}

/**
 * CDC pipelines (docs/design.md section 8): every stream cdc (one slot for the pipeline; mixing
 * sync modes in one cdc pipeline is not available yet), written with upsert (each table by its
 * key); `replication_slot` / `publication` only mean something for them.
 */
export function checkCdc(config: unknown, ctx: IssueSink): void {
  if (typeof config !== 'object' || config === null) return;
  const c = config as { destination?: { write_mode?: unknown }; source?: { streams?: unknown; config?: Record<string, unknown> } };
  if (!Array.isArray(c.source?.streams)) return;
  const modes = c.source.streams.map((s) => (typeof s === 'object' && s !== null ? ((s as { sync_mode?: unknown }).sync_mode ?? 'full_refresh') : 'full_refresh'));
  const cdc = modes.map((m) => m === 'cdc');
  if (!cdc.some(Boolean)) {
    for (const field of ['replication_slot', 'publication'] as const) {
      if (c.source.config && typeof c.source.config[field] === 'string') {
        addRuleIssue(ctx, ['source', 'config', field], 'applies only to pipelines whose streams are sync_mode cdc; remove it', 'no replication settings');
      }
    }
    return;
  }
  modes.forEach((m, i) => {
    if (m !== 'cdc') {
      addRuleIssue(ctx, ['source', 'streams', i, 'sync_mode'], notYetMessage(`sync_mode ${String(m)} beside cdc streams in one pipeline`, 'put the cdc streams in a pipeline of their own'), 'cdc like the other streams');
    }
  });
  if (c.destination?.write_mode !== 'upsert') {
    addRuleIssue(ctx, ['destination', 'write_mode'], `cdc streams are written with write_mode upsert (each table by its key), found ${String(c.destination?.write_mode ?? 'append')}`, 'upsert');
  }
}
