/**
 * One configuration problem, as the user sees it: where (path, line, column), what was expected,
 * what was found. `fromZodIssue` turns zod's issues into these; the found value is always read
 * from the document (never from zod's `input`) and passwords are masked on the way.
 */

import type { z } from 'zod';
import { redactSecrets } from './errors.js';
import type { IssueParams } from './schema-parts.js';

export type PathSegment = string | number;

export interface SourceLocation {
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
}

/** syntax: the YAML does not parse; missing_var: a `${VAR}` is not set; invalid: everything else. */
export type ConfigIssueKind = 'syntax' | 'missing_var' | 'invalid';

export interface ConfigIssue extends SourceLocation {
  kind: ConfigIssueKind;
  /** `source.streams[1].cursor_field`; '' for the document itself. */
  path: string;
  expected: string;
  found: string;
  /** The text after the path in the printed line, e.g. "required when sync_mode is incremental". */
  message: string;
}

/** What `fromZodIssue` needs to know about the document the issue is about. */
export interface IssueContext {
  data: unknown;
  schema: z.ZodType;
  secrets: string[];
  locate(path: readonly PathSegment[], at?: 'key' | 'value'): SourceLocation;
  sourceText(path: readonly PathSegment[]): string | undefined;
}

const SIMPLE_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `['source', 'streams', 1, 'cursor_field']` → `source.streams[1].cursor_field`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (SIMPLE_KEY.test(segment)) out += out ? `.${segment}` : segment;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

export function valueAt(data: unknown, path: readonly PathSegment[]): { present: boolean; value: unknown } {
  let value = data;
  for (const segment of path) {
    if (typeof value !== 'object' || value === null || !Object.prototype.hasOwnProperty.call(value, segment)) {
      return { present: false, value: undefined };
    }
    value = (value as Record<PathSegment, unknown>)[segment];
  }
  return { present: value !== undefined, value };
}

const MAX_FOUND_CHARS = 80;

/** A found value as printed: strings quoted, passwords masked, URLs without their password. */
export function describeFound(path: readonly PathSegment[], ctx: IssueContext): string {
  const { present, value } = valueAt(ctx.data, path);
  if (!present) return 'nothing';
  if (path[path.length - 1] === 'password') return '***';
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : `a list of ${value.length} item${value.length === 1 ? '' : 's'}`;
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') {
    const text = redactSecrets(value, ctx.secrets);
    return JSON.stringify(text.length > MAX_FOUND_CHARS ? `${text.slice(0, MAX_FOUND_CHARS)}…` : text);
  }
  return ctx.sourceText(path) ?? String(value);
}

const ROOT_EXPECTED = 'a mapping with version, pipeline, source and destination';

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
};

function describeExpected(issue: z.core.$ZodIssue, foundValue: unknown): string {
  switch (issue.code) {
    case 'custom':
      return (issue.params as IssueParams | undefined)?.expected ?? issue.message;
    case 'invalid_type':
      return TYPE_NAMES[issue.expected] ?? issue.expected;
    case 'invalid_value': {
      const values = issue.values.map((v) => (typeof v === 'string' ? v : String(v)));
      if (values.length === 1) {
        const quoted = JSON.stringify(issue.values[0]);
        const unquoted = foundValue !== undefined && typeof foundValue !== 'string';
        return typeof issue.values[0] === 'string' && unquoted ? `${quoted} (a quoted string)` : quoted;
      }
      return `one of ${values.join(', ')}`;
    }
    case 'too_small':
      if (issue.origin === 'array') return `at least ${issue.minimum} item${issue.minimum === 1 ? '' : 's'}`;
      if (issue.origin === 'string') return issue.minimum === 1 ? 'a non-empty string' : `at least ${issue.minimum} characters`;
      return `a number ${issue.inclusive ? '>=' : '>'} ${issue.minimum}`;
    case 'too_big':
      if (issue.origin === 'array') return `at most ${issue.maximum} items`;
      if (issue.origin === 'string') return `at most ${issue.maximum} characters`;
      return `a number ${issue.inclusive ? '<=' : '<'} ${issue.maximum}`;
    default:
      // invalid_format carries the schema's own description (e.g. the pipeline name pattern).
      return issue.message;
  }
}

/** Converts one zod issue (an unknown-key issue may name several keys) into ConfigIssues. */
export function fromZodIssue(issue: z.core.$ZodIssue, ctx: IssueContext): ConfigIssue[] {
  const path = issue.path.filter((s): s is PathSegment => typeof s === 'string' || typeof s === 'number');
  if (issue.code === 'unrecognized_keys') {
    const allowed = allowedKeysAt(ctx.schema, path);
    return issue.keys.map((key) => {
      const keyPath = [...path, key];
      const suggestion = closestName(key, allowed);
      const expected = allowed.length > 1 ? `one of ${allowed.join(', ')}` : (allowed[0] ?? 'no other keys');
      const hint = suggestion ? `; did you mean ${JSON.stringify(suggestion)}?` : '';
      return {
        kind: 'invalid' as const,
        path: formatPath(keyPath),
        ...ctx.locate(keyPath, 'key'),
        expected,
        found: JSON.stringify(key),
        message: `unknown key${hint} (expected ${expected})`,
      };
    });
  }
  const { present, value } = valueAt(ctx.data, path);
  const expected =
    path.length === 0 && issue.code === 'invalid_type' ? ROOT_EXPECTED : describeExpected(issue, value);
  const found = describeFound(path, ctx);
  const params = issue.code === 'custom' ? (issue.params as IssueParams | undefined) : undefined;
  let message: string;
  if (params?.kind === 'rule') message = issue.message;
  else if (!present) message = `missing (expected ${expected})`;
  else message = `expected ${expected}, found ${found}`;
  return [{ kind: 'invalid', path: formatPath(path), ...ctx.locate(path), expected, found, message }];
}

type SchemaDef = { type: string; innerType?: unknown; in?: unknown; element?: unknown; shape?: Record<string, unknown> };

function defOf(schema: unknown): SchemaDef | undefined {
  return (schema as { _zod?: { def?: SchemaDef } } | undefined)?._zod?.def;
}

/** Strips default / prefault / optional / pipe wrappers down to the schema that has the shape. */
function unwrap(schema: unknown): SchemaDef | undefined {
  let def = defOf(schema);
  for (let guard = 0; def && guard < 16; guard++) {
    if (def.innerType !== undefined) def = defOf(def.innerType);
    else if (def.type === 'pipe') def = defOf(def.in);
    else return def;
  }
  return def;
}

/** The keys a strict object at `path` accepts, read from the schema so the list never drifts. */
export function allowedKeysAt(schema: z.ZodType, path: readonly PathSegment[]): string[] {
  let def = unwrap(schema);
  for (const segment of path) {
    if (!def) return [];
    if (typeof segment === 'number') def = def.type === 'array' ? unwrap(def.element) : undefined;
    else def = def.type === 'object' && def.shape ? unwrap(def.shape[segment]) : undefined;
  }
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}

/** The allowed name within a small edit distance of a typo (`colums` → `columns`), if any. */
export function closestName(typo: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(typo.length / 3)) + 1;
  for (const name of names) {
    const distance = editDistance(typo.toLowerCase(), name.toLowerCase());
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return best;
}

/** Edit distance counting a swap of two neighbours as one edit (`hots` → `host` is 1). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
