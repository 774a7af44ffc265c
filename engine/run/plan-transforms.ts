/**
 * A stream's `transforms:` entries, planned against its columns (docs/design.md section 9), in
 * the order the file lists them. Each column is followed from its source name through renames;
 * the result says what the source's query does (`steps`: filters, and the masks SQL computes
 * exactly — sha256, redact, null), what the destination stage does to each row (`rowSteps`:
 * hmac_sha256, whose key must not be in a query's text, and validate rules), and the output
 * columns the destination is prepared with (renamed; a hash or redaction is text; a cast is the
 * type it names, its values read by that type's input function from their text form, so a value
 * that does not fit is a row the destination rejects: on_data_error).
 *
 * RB_TRANSFORM_PUSHDOWN=0 moves every mask to the destination stage (the two ways are compared in
 * engine/run/transforms.test.ts). Nothing here talks to a database.
 */
import type { ColumnInfo } from '../../connectors/contract/catalog.js';
import type { ChangeStep, ChangeTransform, ReadStep, RowCheck, RowStep, SqlMask } from '../../connectors/contract/transforms.js';
import { configLocation, type PipelineConfig, type TransformConfig, type ValidationRule } from '../config/index.js';
import { RbError } from '../errors.js';
import type { StreamPlan } from './plan-streams.js';

export interface TransformPlan {
  /** The output columns, in the projection's order: what the destination is prepared with. */
  columns: ColumnInfo[];
  /** Layers of the source's query over the projected table. */
  steps: ReadStep[];
  /** What the destination stage applies to each row, after the source's steps. */
  rowSteps: RowStep[];
  /** The stream is written as COPY text (a cast, or steps in the destination stage). */
  text: boolean;
  /** Where each transform runs, for `--json`: in the source's query, or in the pool on each row. */
  placement: { pushed_down: string[]; in_pool: string[]; in_destination: string[] };
  /** A cdc stream's changes: every mask and validate on each change's values (cast: the destination's type; no filter). */
  change: ChangeTransform;
}

/** A column as the transforms see it at some point of the list. */
interface Col {
  /** Its name now (after renames). */
  name: string;
  /** Its name in the layer of the source query below the one being built. */
  below: string;
  info: ColumnInfo;
  mask?: SqlMask;
  /** The source column it comes from, and that column's type. */
  source: string;
  sourceTypeOid: number;
}

const TEXT: Pick<ColumnInfo, 'typeOid' | 'typmod' | 'typeName' | 'typtype' | 'typcategory' | 'elemOid' | 'typeSchema' | 'typeBaseName' | 'userDefined' | 'binaryPortable'> = {
  typeOid: 25,
  typmod: -1,
  typeName: 'text',
  typtype: 'b',
  typcategory: 'S',
  elemOid: 0,
  typeSchema: 'pg_catalog',
  typeBaseName: 'text',
  userDefined: false,
  binaryPortable: true,
};

export function planTransforms(config: PipelineConfig, stream: StreamPlan, env: NodeJS.ProcessEnv = process.env): TransformPlan | null {
  const entries = config.transforms.map((t, i) => ({ t, i })).filter(({ t }) => t.stream === stream.name);
  if (!entries.length) return null;
  const pushdown = env.RB_TRANSFORM_PUSHDOWN !== '0';
  const sc = config.source.streams[stream.index];
  /** Columns whose value rb itself relies on: keys, cursors, the partition key. */
  const pinned = new Set([...stream.key, ...(sc.cursor_field ? [sc.cursor_field] : []), ...(sc.tie_breaker_field ? [sc.tie_breaker_field] : []), ...(sc.partition_key ? [sc.partition_key] : [])]);
  const cols: Col[] = stream.columns.map((c) => ({ name: c.name, below: c.name, info: { ...c }, source: c.name, sourceTypeOid: c.typeOid }));
  /** Masks and validates in the list's order, for a cdc stream's changes. */
  const changeSteps: Array<{ step: ChangeStep; col: Col }> = [];
  const steps: ReadStep[] = [];
  const placement: TransformPlan['placement'] = { pushed_down: [], in_pool: [], in_destination: [] };
  const pending: Array<{ step: RowStep; col: Col }> = [];
  let text = false;
  /** The source query's next layer is needed when a column was renamed or masked since the last one. */
  let dirty = false;

  const where = (i: number, path: Array<string | number>) => {
    const full = ['transforms', i, ...path];
    const at = configLocation(config, full);
    return `${at ? `${at} ` : ''}${full.map((p, k) => (typeof p === 'number' ? `[${p}]` : k ? `.${p}` : p)).join('')}`;
  };
  const fail = (i: number, path: Array<string | number>, msg: string): never => {
    throw new RbError('config_invalid', `${where(i, path)}: ${msg}`, { stream: stream.name });
  };
  const column = (i: number, path: Array<string | number>, name: string): Col =>
    cols.find((c) => c.name === name) ?? fail(i, path, `column ${JSON.stringify(name)} is not a column of stream ${stream.name} here (its columns: ${cols.map((c) => c.name).join(', ')})`);
  const notPinned = (i: number, path: Array<string | number>, c: Col, what: string) => {
    if (pinned.has(c.info.name)) fail(i, path, `${what} of ${JSON.stringify(c.name)}, a key, cursor or partition column of the stream, is not available in this version of rb yet`);
  };
  const layer = () => {
    if (!dirty) return;
    steps.push({ kind: 'project', columns: cols.map((c) => ({ name: c.name, from: c.below, ...(c.mask ? { mask: c.mask } : {}) })) });
    for (const c of cols) {
      c.below = c.name;
      delete c.mask;
    }
    dirty = false;
  };

  for (const { t, i } of entries) {
    switch (t.type) {
      case 'filter':
        if (pending.length) fail(i, ['where'], `a filter after a transform the destination applies (${describeRowStep(pending[0].step)}) is not available in this version of rb yet; list the filter first`);
        layer();
        steps.push({ kind: 'filter', where: t.where! });
        placement.pushed_down.push(`filter ${t.where}`);
        break;
      case 'rename':
        for (const [from, to] of Object.entries(t.columns as Record<string, string>)) {
          const c = column(i, ['columns', from], from);
          notPinned(i, ['columns', from], c, 'a rename');
          if (to !== from && cols.some((x) => x.name === to)) fail(i, ['columns', from], `stream ${stream.name} has a column ${JSON.stringify(to)} already`);
          c.name = to;
          c.info.name = to;
          dirty = true;
          placement.pushed_down.push(`rename ${from} → ${to}`);
        }
        break;
      case 'mask':
        (t.columns as string[]).forEach((name, j) => {
          const c = column(i, ['columns', j], name);
          notPinned(i, ['columns', j], c, 'a mask');
          const method = t.method!;
          changeSteps.push({ step: { kind: 'mask', column: '', method, ...(t.key !== undefined ? { key: t.key } : {}) }, col: c });
          if (pushdown && method !== 'hmac_sha256' && !pending.some((p) => p.col === c)) {
            // A second mask of a column masks the first one's result: a layer in between.
            if (c.mask) layer();
            c.mask = method;
            dirty = true;
            placement.pushed_down.push(`mask ${method} ${name}`);
          } else {
            pending.push({ step: { kind: 'mask', column: -1, method, ...(t.key !== undefined ? { key: t.key } : {}) }, col: c });
            text = true;
            placement.in_pool.push(`mask ${method} ${name}`);
          }
          c.info = method === 'null' ? { ...c.info, notNull: false } : { ...c.info, ...TEXT };
        });
        break;
      case 'cast':
        for (const [name, type] of Object.entries(t.columns as Record<string, string>)) {
          const c = column(i, ['columns', name], name);
          notPinned(i, ['columns', name], c, 'a cast');
          // The destination's column is of that type; values are read by its input function.
          c.info = { ...c.info, ...TEXT, typeName: type, typeBaseName: type };
          text = true;
          placement.in_destination.push(`cast ${name} ${type}`);
        }
        break;
      case 'validate':
        (t.rules ?? []).forEach((rule, j) => {
          const c = column(i, ['rules', j, 'column'], rule.column);
          const policy = t.on_fail ?? config.destination.on_data_error;
          pending.push({ step: { kind: 'validate', column: -1, name: c.name, check: ruleCheck(rule), policy, rule: describeRule(rule) }, col: c });
          changeSteps.push({ step: { kind: 'validate', column: '', check: ruleCheck(rule), policy, rule: describeRule(rule) }, col: c });
          text = true;
          placement.in_pool.push(`validate ${c.name} ${describeRule(rule)}`);
        });
        break;
    }
  }
  layer();
  const rowSteps = pending.map(({ step, col }) => ({ ...step, column: cols.indexOf(col) }) as RowStep);
  const change: ChangeTransform = {
    sourceNames: Object.fromEntries(cols.map((c) => [c.name, c.source])),
    sourceTypes: Object.fromEntries(cols.map((c) => [c.name, c.sourceTypeOid])),
    steps: changeSteps.map(({ step, col }) => ({ ...step, column: col.name }) as ChangeStep),
    ...(steps.some((x) => x.kind === 'filter') ? { filterSteps: steps } : {}),
  };
  return { columns: cols.map((c) => c.info), steps, rowSteps, text, placement, change };
}

function ruleCheck(r: ValidationRule): RowCheck {
  if (r.not_null) return { not_null: true };
  if (r.unique) return { unique: true };
  if (r.regex !== undefined) return { regex: r.regex };
  if (r.range) return { range: r.range };
  return { allowed: (r.allowed ?? []).map(String) };
}

function describeRule(r: ValidationRule): string {
  if (r.not_null) return 'not_null';
  if (r.unique) return 'unique';
  if (r.regex !== undefined) return `regex ${JSON.stringify(r.regex)}`;
  if (r.range) return `range [${r.range.min ?? '-∞'}, ${r.range.max ?? '∞'}]`;
  return `allowed ${JSON.stringify(r.allowed)}`;
}

function describeRowStep(s: RowStep): string {
  return s.kind === 'mask' ? `mask ${s.method}` : `validate ${s.rule}`;
}

export type { TransformConfig };
