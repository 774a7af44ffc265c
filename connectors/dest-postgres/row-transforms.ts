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
import { holderKey, type UniqueClaims } from './unique-values.js';

export class RowTransformer {
  /** Rows of the shard consumed so far (positions of rejected rows count from here). */
  private position = 0;
  private readonly regexes = new Map<RowStep, RegExp>();
  /** The `unique` rules, in order: their values are claimed per chunk (unique-values.ts). */
  private readonly unique: Array<Extract<RowStep, { kind: 'validate' }>>;

  constructor(
    private readonly steps: readonly RowStep[],
    private readonly fieldCount: number,
    private readonly rejections: Rejections,
    private readonly claims: UniqueClaims | null = null,
    /** Positions of the row's key columns: a claimed value's holder (unique-values.ts); none for a keyless stream. */
    private readonly keyColumns: readonly number[] = [],
  ) {
    for (const s of steps) if (s.kind === 'validate' && 'regex' in s.check) this.regexes.set(s, new RegExp(s.check.regex, 'u'));
    this.unique = steps.filter((s): s is Extract<RowStep, { kind: 'validate' }> => s.kind === 'validate' && 'unique' in s.check);
    if (this.unique.length && !claims) throw new Error('a unique rule needs the run\'s claims');
  }

  /**
   * A COPY text chunk with the steps applied: the rows that passed (as COPY text) and their
   * shard position of the chunk's first row. Rows a `validate` rejects go to `rejections`. A
   * `unique` rule takes each kept row's value at its point of the list; `applyClaimed` claims them.
   */
  apply(bytes: Uint8Array): { rows: Array<Array<string | null>>; text: Buffer; first: number; positions: number[]; marks: Array<Array<string | null>> } {
    const rows = parseCopyTextRows(bytes, this.fieldCount);
    const kept: Array<Array<string | null>> = [];
    const positions: number[] = [];
    const marks: Array<Array<string | null>> = [];
    const first = this.position;
    rowLoop: for (const row of rows) {
      const at = ++this.position;
      const mark: Array<string | null> = [];
      for (const s of this.steps) {
        if (s.kind === 'mask') {
          row[s.column] = mask(row[s.column], s.method, s.key);
          continue;
        }
        if ('unique' in s.check) {
          mark.push(row[s.column]);
          continue;
        }
        if (!this.passes(s, row[s.column])) {
          this.rejections.reject(row, at, { message: `validate: ${s.name} ${s.rule}`, constraint: `validate ${s.rule}`, column: s.name }, s.policy);
          continue rowLoop;
        }
      }
      kept.push(row);
      positions.push(at);
      marks.push(mark);
    }
    return { rows: kept, text: textOf(kept), first, positions, marks };
  }

  /**
   * `apply`, then the `unique` rules' values claimed in the shard's transaction (UniqueClaims):
   * each rule claims the chunk's distinct values at once, then the rows are judged in order — a
   * row keeps its values only when every rule's value is new to the run and not taken by an
   * earlier row of the chunk; a rejected row takes none, and values no kept row took are given
   * back, so a row one rule rejects never holds another rule's value.
   */
  async applyClaimed(bytes: Uint8Array): Promise<{ rows: Array<Array<string | null>>; text: Buffer; first: number }> {
    const out = this.apply(bytes);
    if (!this.unique.length || !out.rows.length) return out;
    const fresh: Array<Set<string>> = [];
    for (const [u, s] of this.unique.entries()) {
      const values = out.marks.map((m) => m[u]);
      const k = this.keyColumns;
      const holders = k.length ? out.rows.map((r) => holderKey(k.map((i) => r[i]))) : undefined;
      const ok = await this.claims!.claim(s.name, values, holders);
      fresh.push(new Set(values.filter((v, k): v is string => v !== null && ok[k])));
    }
    const kept: number[] = [];
    for (const [k, mark] of out.marks.entries()) {
      const broken = this.unique.findIndex((_, u) => mark[u] !== null && !fresh[u].has(mark[u]!));
      if (broken >= 0) {
        const s = this.unique[broken];
        this.rejections.reject(out.rows[k], out.positions[k], { message: `validate: ${s.name} unique`, constraint: 'validate unique', column: s.name }, s.policy);
        continue;
      }
      mark.forEach((v, u) => v !== null && fresh[u].delete(v));
      kept.push(k);
    }
    // What is left was claimed for rows that were rejected.
    for (const [u, s] of this.unique.entries()) await this.claims!.release(s.name, [...fresh[u]]);
    if (kept.length === out.rows.length) return out;
    const rows = kept.map((k) => out.rows[k]);
    return { rows, text: textOf(rows), first: out.first };
  }

  private passes(s: Extract<RowStep, { kind: 'validate' }>, v: string | null): boolean {
    return check(s.check, v, this.regexes.get(s));
  }
}

function textOf(rows: ReadonlyArray<ReadonlyArray<string | null>>): Buffer {
  return Buffer.from(rows.map((r) => `${r.map(copyText).join('\t')}\n`).join(''), 'utf8');
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
  // unique is claimed per chunk (RowTransformer.applyClaimed), not judged on one value.
  if (v === null || 'unique' in c) return true;
  if ('regex' in c) return re!.test(v);
  if ('allowed' in c) return c.allowed.includes(v);
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) return false;
  return (c.range.min === undefined || n >= c.range.min) && (c.range.max === undefined || n <= c.range.max);
}
