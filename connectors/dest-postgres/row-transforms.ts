/**
 * The transforms the destination stage applies (docs/design.md section 9): `RowStep`s on each
 * row's text forms, in the pool, for what the source's SQL cannot do exactly or safely — an HMAC
 * (its key would be in the query text, visible in pg_stat_activity and the server's log) and
 * `validate` — and, with RB_TRANSFORM_PUSHDOWN=0, every mask (so the two ways can be compared:
 * engine/run/transforms.test.ts). A mask hashes a value's text form as UTF-8, exactly as the
 * source's `encode(sha256(convert_to(v::text, 'UTF8')), 'hex')` does; NULL stays NULL.
 */
import { createHash, createHmac } from 'node:crypto';
import { REDACTED, type RowCheck, type RowStep } from '../contract/transforms.js';
import { copyText, parseCopyTextRows } from './copy-text.js';
import type { Rejections } from './bad-rows.js';

export class RowTransformer {
  /** Rows of the shard consumed so far (positions of rejected rows count from here). */
  private position = 0;
  private readonly regexes = new Map<RowStep, RegExp>();

  constructor(
    private readonly steps: readonly RowStep[],
    private readonly fieldCount: number,
    private readonly rejections: Rejections,
  ) {
    for (const s of steps) if (s.kind === 'validate' && 'regex' in s.check) this.regexes.set(s, new RegExp(s.check.regex, 'u'));
  }

  /**
   * A COPY text chunk with the steps applied: the rows that passed (as COPY text) and their
   * shard position of the chunk's first row. Rows a `validate` rejects go to `rejections`.
   */
  apply(bytes: Uint8Array): { rows: Array<Array<string | null>>; text: Buffer; first: number } {
    const rows = parseCopyTextRows(bytes, this.fieldCount);
    const kept: Array<Array<string | null>> = [];
    const first = this.position;
    rowLoop: for (const row of rows) {
      const at = ++this.position;
      for (const s of this.steps) {
        if (s.kind === 'mask') {
          row[s.column] = mask(row[s.column], s.method, s.key);
          continue;
        }
        if (!this.passes(s, row[s.column])) {
          this.rejections.reject(row, at, { message: `validate: ${s.name} ${s.rule}`, constraint: `validate ${s.rule}`, column: s.name }, s.policy);
          continue rowLoop;
        }
      }
      kept.push(row);
    }
    return { rows: kept, text: Buffer.from(kept.map((r) => `${r.map(copyText).join('\t')}\n`).join(''), 'utf8'), first };
  }

  private passes(s: Extract<RowStep, { kind: 'validate' }>, v: string | null): boolean {
    return check(s.check, v, this.regexes.get(s));
  }
}

/** A value masked by `method` (NULL stays NULL). */
export function mask(v: string | null, method: 'sha256' | 'hmac_sha256' | 'redact' | 'null', key?: string): string | null {
  if (v === null || method === 'null') return null;
  if (method === 'redact') return REDACTED;
  if (method === 'sha256') return createHash('sha256').update(v, 'utf8').digest('hex');
  return createHmac('sha256', key ?? '').update(v, 'utf8').digest('hex');
}

/** A rule on one value's text form; NULL passes every rule but not_null. */
export function check(c: RowCheck, v: string | null, re: RegExp | undefined): boolean {
  if ('not_null' in c) return v !== null;
  if (v === null) return true;
  if ('regex' in c) return re!.test(v);
  if ('allowed' in c) return c.allowed.includes(v);
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) return false;
  return (c.range.min === undefined || n >= c.range.min) && (c.range.max === undefined || n <= c.range.max);
}
