/**
 * The `transforms:` list (docs/design.md section 9): each entry names its `type` and `stream`,
 * then its own options. One strict object for every type (so unknown keys are errors and
 * docs/config.md documents each key once); `checkTransform` says which options belong to which
 * type. Columns are checked against the source's catalog when the run plans
 * (engine/run/plan-transforms.ts), with this entry's file position.
 *
 *   filter    where: "<SQL predicate over the stream's columns>"          (pushed into the source query)
 *   mask      columns: [..], method: sha256 | hmac_sha256 (key) | redact | null
 *   rename    columns: { old: new }
 *   cast      columns: { col: "numeric(12,2)" }
 *   validate  rules: [{ column, not_null | regex | range | allowed }], on_fail: fail | skip | dlq
 */
import { z } from 'zod';
import { DATA_ERROR_POLICIES } from '../../connectors/contract/domain.js';
import { notYetMessage } from './availability.js';
import { addRuleIssue, ALWAYS, nameList, nonEmptyString } from './schema-parts.js';

export const TRANSFORM_TYPES = ['validate', 'rename', 'cast', 'filter', 'mask'] as const;
export type TransformType = (typeof TRANSFORM_TYPES)[number];
export const MASK_METHODS = ['sha256', 'hmac_sha256', 'redact', 'null'] as const;
export type MaskMethod = (typeof MASK_METHODS)[number];

const scalar = z.union([z.string(), z.number(), z.boolean()]);

const RuleSchema = z.strictObject({
  column: nonEmptyString(),
  not_null: z.literal(true).optional(),
  regex: z
    .string()
    .superRefine((re, ctx) => {
      try {
        new RegExp(re, 'u');
      } catch (e) {
        addRuleIssue(ctx, [], `not a valid regular expression: ${(e as Error).message}`, 'a JavaScript regular expression');
      }
    })
    .optional(),
  range: z.strictObject({ min: z.number().optional(), max: z.number().optional() }).optional(),
  allowed: z.array(scalar).min(1).optional(),
  unique: z.literal(true).optional(),
});

export type ValidationRule = z.output<typeof RuleSchema>;

const OPTIONS_OF: Record<TransformType, readonly string[]> = {
  filter: ['where'],
  mask: ['columns', 'method', 'key'],
  rename: ['columns'],
  cast: ['columns'],
  validate: ['rules', 'on_fail'],
};
const ALL_OPTIONS = ['where', 'columns', 'method', 'key', 'rules', 'on_fail'] as const;

export const TransformSchema = z
  .strictObject({
    type: z.enum(TRANSFORM_TYPES),
    stream: nonEmptyString(),
    where: nonEmptyString().optional(),
    /** mask: a list of columns; rename: old → new; cast: column → SQL type. */
    columns: z.union([nameList('column'), z.record(nonEmptyString(), nonEmptyString())]).optional(),
    method: z.enum(MASK_METHODS).optional(),
    key: nonEmptyString().optional(),
    rules: z.array(RuleSchema).min(1).optional(),
    on_fail: z.enum(DATA_ERROR_POLICIES).optional(),
  })
  .superRefine((t, ctx) => checkTransform(t, ctx), ALWAYS);

export type TransformConfig = z.output<typeof TransformSchema>;

type IssueSink = Parameters<typeof addRuleIssue>[0];

function checkTransform(t: unknown, ctx: IssueSink): void {
  if (typeof t !== 'object' || t === null) return;
  const x = t as Record<string, unknown>;
  const type = x.type as TransformType;
  if (!TRANSFORM_TYPES.includes(type)) return;
  for (const k of ALL_OPTIONS) {
    if (x[k] !== undefined && !OPTIONS_OF[type].includes(k)) addRuleIssue(ctx, [k], `is not an option of a ${type} transform (its options: ${OPTIONS_OF[type].join(', ')})`, `no ${k}`);
  }
  const need = (k: string, what: string) => {
    if (x[k] === undefined) addRuleIssue(ctx, [], `a ${type} transform needs ${k}: ${what}`, `${k}: ${what}`);
  };
  if (type === 'filter') need('where', 'an SQL predicate over the stream\'s columns');
  if (type === 'mask') {
    need('columns', 'a list of columns');
    need('method', MASK_METHODS.join(' | '));
    if (x.columns !== undefined && !Array.isArray(x.columns)) addRuleIssue(ctx, ['columns'], 'a mask takes a list of columns', 'a list of columns, e.g. [email]');
    if (x.method === 'hmac_sha256' && x.key === undefined) addRuleIssue(ctx, ['key'], 'method hmac_sha256 needs key: (from the environment, e.g. key: ${MASK_KEY})', 'key: ${VAR}');
    if (x.method !== undefined && x.method !== 'hmac_sha256' && x.key !== undefined) addRuleIssue(ctx, ['key'], `only method hmac_sha256 takes a key (this mask is ${String(x.method)})`, 'no key');
  }
  if (type === 'rename' || type === 'cast') {
    need('columns', type === 'rename' ? '{ old: new }' : '{ column: "type" }');
    if (x.columns !== undefined && (Array.isArray(x.columns) || typeof x.columns !== 'object')) addRuleIssue(ctx, ['columns'], `a ${type} takes a mapping`, type === 'rename' ? '{ old: new }' : '{ column: "numeric(12,2)" }');
  }
  if (type === 'validate') {
    need('rules', 'a list of { column, not_null | regex | range | allowed }');
    if (Array.isArray(x.rules)) {
      x.rules.forEach((r, i) => {
        if (typeof r !== 'object' || r === null) return;
        const rule = r as Record<string, unknown>;
        const checks = ['not_null', 'regex', 'range', 'allowed', 'unique'].filter((k) => rule[k] !== undefined);
        if (checks.length !== 1) addRuleIssue(ctx, ['rules', i], `a rule checks one thing (found ${checks.length ? checks.join(', ') : 'none'})`, 'one of not_null, regex, range, allowed, unique');
        const range = rule.range as { min?: number; max?: number } | undefined;
        if (range && range.min === undefined && range.max === undefined) addRuleIssue(ctx, ['rules', i, 'range'], 'a range needs min, max or both', '{ min, max }');
      });
    }
  }
}

/** Every transform names a configured stream. */
export function checkTransformStreams(config: unknown, ctx: IssueSink): void {
  if (typeof config !== 'object' || config === null) return;
  const c = config as { transforms?: unknown; source?: { streams?: unknown } };
  if (!Array.isArray(c.transforms) || !Array.isArray(c.source?.streams)) return;
  const names = c.source.streams.map((s) => (typeof s === 'object' && s !== null ? (s as { name?: unknown }).name : undefined)).filter((n): n is string => typeof n === 'string');
  c.transforms.forEach((t, i) => {
    if (typeof t !== 'object' || t === null) return;
    const stream = (t as { stream?: unknown }).stream;
    if (typeof stream === 'string' && !names.includes(stream)) addRuleIssue(ctx, ['transforms', i, 'stream'], `names no stream of source.streams (${names.join(', ')})`, 'one of the configured streams');
  });
}
