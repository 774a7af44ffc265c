/**
 * zod building blocks for rb's value kinds (bounded numbers, byte sizes, parallelism, name lists).
 *
 * Issues raised here carry `params: IssueParams` so that `issues.ts` can print them uniformly:
 *   kind 'type' — the value has the wrong shape; printed as "expected <expected>, found <found>".
 *   kind 'rule' — a cross-field or semantic rule; printed as the issue's own message.
 * The found value is never taken from zod (which could echo a password): `issues.ts` reads it from
 * the document at the issue's path and redacts it.
 */

import { z } from 'zod';
import { BYTE_SIZE_EXPECTED, formatByteSize, parseByteSize } from './bytes.js';

export interface IssueParams {
  kind: 'type' | 'rule';
  expected: string;
}

/** zod skips refinements once a schema has issues; ours must run anyway to report everything at once. */
export const ALWAYS = { when: () => true };

type IssueSink = { addIssue(issue: { code: 'custom'; message: string; path?: PropertyKey[]; params: IssueParams }): void };

/** Reports a wrong-shape value at the current (or a relative) path. */
export function addTypeIssue(ctx: IssueSink, expected: string, path: PropertyKey[] = []): void {
  ctx.addIssue({ code: 'custom', message: `expected ${expected}`, path, params: { kind: 'type', expected } });
}

/** Reports a broken rule with its own message, e.g. "required when sync_mode is incremental". */
export function addRuleIssue(ctx: IssueSink, path: PropertyKey[], message: string, expected: string): void {
  ctx.addIssue({ code: 'custom', message, path, params: { kind: 'rule', expected } });
}

export function nonEmptyString() {
  return z.string().min(1);
}

export interface NumberBounds {
  integer: boolean;
  min: number;
  max?: number;
}

export function describeNumber({ integer, min, max }: NumberBounds): string {
  const noun = integer ? 'an integer' : 'a number';
  return max === undefined ? `${noun} >= ${min}` : `${noun} from ${min} to ${max}`;
}

/** A number within bounds; the expected text says exactly which (e.g. "an integer >= 1"). */
export function boundedNumber(bounds: NumberBounds) {
  const expected = describeNumber(bounds);
  return z.unknown().transform((value, ctx): number => {
    const ok =
      typeof value === 'number' &&
      Number.isFinite(value) &&
      (!bounds.integer || Number.isSafeInteger(value)) &&
      value >= bounds.min &&
      (bounds.max === undefined || value <= bounds.max);
    if (ok) return value as number;
    addTypeIssue(ctx, expected);
    return z.NEVER;
  });
}

/** A byte size (`64mb`, `512kb`, `1gb`, plain integers), parsed to bytes. */
export function byteSize(minBytes: number, maxBytes?: number) {
  const range = maxBytes !== undefined ? `from ${formatByteSize(minBytes)} to ${formatByteSize(maxBytes)}` : `of at least ${formatByteSize(minBytes)}`;
  const expected = minBytes > 0 || maxBytes !== undefined ? `a byte size ${range} (like 64mb, 512kb, 1gb or a number of bytes)` : BYTE_SIZE_EXPECTED;
  return z.unknown().transform((value, ctx): number => {
    const bytes = parseByteSize(value);
    if (bytes !== undefined && bytes >= minBytes && (maxBytes === undefined || bytes <= maxBytes)) return bytes;
    addTypeIssue(ctx, expected);
    return z.NEVER;
  });
}

export type ParallelismSetting = 'auto' | number;

export const PARALLELISM_EXPECTED = '"auto" or an integer >= 1';

/**
 * `auto` or a whole number >= 1. Digit strings are accepted too, so `rb run --parallelism 4` and
 * a quoted `"${PARALLELISM}"` in YAML mean the same as a plain 4. 0, negatives and fractions are
 * refused (docs/design.md section 4: "0 or a negative number is a config error").
 *
 * @example parseParallelism('auto') === 'auto'; parseParallelism('4') === 4; parseParallelism(0) === undefined
 */
export function parseParallelism(value: unknown): ParallelismSetting | undefined {
  if (value === 'auto') return 'auto';
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}

export function parallelism() {
  return z.unknown().transform((value, ctx): ParallelismSetting => {
    const setting = parseParallelism(value);
    if (setting !== undefined) return setting;
    addTypeIssue(ctx, PARALLELISM_EXPECTED);
    return z.NEVER;
  });
}

/** A non-empty list of distinct non-empty names (columns, key columns). */
export function nameList(noun: string) {
  return z
    .array(nonEmptyString())
    .min(1)
    .superRefine((names, ctx) => {
      if (!Array.isArray(names)) return; // ALWAYS: may see the raw value when the type check failed
      const firstIndex = new Map<unknown, number>();
      names.forEach((name, i) => {
        if (typeof name !== 'string') return;
        const first = firstIndex.get(name);
        if (first === undefined) firstIndex.set(name, i);
        else addRuleIssue(ctx, [i], `duplicate ${noun} ${JSON.stringify(name)} (already at [${first}])`, `distinct ${noun} names`);
      });
    }, ALWAYS);
}
