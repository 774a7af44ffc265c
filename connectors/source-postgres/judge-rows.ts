/**
 * A cdc stream's `filter` on its changes (docs/design.md section 9): the source judges each
 * change's new row with the same query layers the first run's copy read through (renames and
 * masks before the filter, the user's predicate), over a VALUES list of the rows instead of the
 * table, so a change passes exactly when the copy would have read that row.
 *
 * A value not sent (an unchanged TOAST value) is taken from the source table's current row of
 * that key; a row the source no longer has passes (its DELETE is on its way in the stream, and a
 * later change decides again).
 */
import type pg from 'pg';
import type { JudgedRead } from '../contract/changes.js';
import { queryError } from '../postgres/connection.js';
import { quoteIdent, quoteQualified } from '../postgres/identifiers.js';
import { transformLayer } from './read-shard.js';

/** Bound parameters per statement stay under PostgreSQL's 65,535. */
const MAX_PARAMS = 60_000;
const ROW_NUMBER = 'rb_row';

/** True for each row the filters keep. `undefined` values were not sent (see above). */
export async function judgeRows(client: pg.Client, read: JudgedRead, rows: ReadonlyArray<ReadonlyArray<string | null | undefined>>): Promise<boolean[]> {
  const verdicts = new Array<boolean>(rows.length).fill(true);
  const filled = rows.map((r) => r.slice());
  const incomplete = filled.map((r, i) => (r.includes(undefined) ? i : -1)).filter((i) => i >= 0);
  const gone = incomplete.length ? await fillFromTable(client, read, filled, incomplete) : new Set<number>();
  const judged = filled.map((_, i) => i).filter((i) => !gone.has(i));
  const names = [ROW_NUMBER, ...read.columns.map((c) => c.name)].map(quoteIdent).join(', ');
  const per = Math.max(1, Math.floor(MAX_PARAMS / (read.columns.length + 1)));
  for (let at = 0; at < judged.length; at += per) {
    const chunk = judged.slice(at, at + per);
    const params: unknown[] = [];
    const tuples = chunk.map((i) => `($${params.push(i)}::int4, ${filled[i].map((v, k) => `$${params.push(v ?? null)}::${read.columns[k].typeSql}`).join(', ')})`);
    let select = `select * from (values ${tuples.join(', ')}) v(${names})`;
    for (const step of read.steps) select = transformLayer(select, step, ROW_NUMBER);
    const r = await client.query(`select ${quoteIdent(ROW_NUMBER)} as i from (${select}) s`, params).catch((e: unknown) => {
      throw queryError(e, 'source', `${quoteQualified(read.table)}: the filter on a change`);
    });
    for (const i of chunk) verdicts[i] = false;
    for (const row of r.rows as Array<{ i: number }>) verdicts[row.i] = true;
  }
  return verdicts;
}

/** Fills the missing values of `which` rows from the table's current rows; returns the rows the table no longer has. */
async function fillFromTable(client: pg.Client, read: JudgedRead, rows: Array<Array<string | null | undefined>>, which: number[]): Promise<Set<number>> {
  const keyPos = read.key.map((k) => read.columns.findIndex((c) => c.name === k));
  const keyOf = (r: ReadonlyArray<string | null | undefined>) => JSON.stringify(keyPos.map((p) => r[p]));
  const keys = read.key.map(quoteIdent).join(', ');
  const cols = read.columns.map((c) => `${quoteIdent(c.name)}::text`).join(', ');
  const current = new Map<string, Array<string | null>>();
  const per = Math.max(1, Math.floor(MAX_PARAMS / Math.max(1, keyPos.length)));
  for (let at = 0; at < which.length; at += per) {
    const params: unknown[] = [];
    const tuples = which.slice(at, at + per).map((i) => `(${keyPos.map((p) => `$${params.push(rows[i][p])}::${read.columns[p].typeSql}`).join(', ')})`);
    const r = await client
      .query({ text: `select ${cols} from ${quoteQualified(read.table)} where (${keys}) in (values ${tuples.join(', ')})`, values: params, rowMode: 'array' })
      .catch((e: unknown) => {
        throw queryError(e, 'source', `${quoteQualified(read.table)}: the current values of changes' unsent columns`);
      });
    for (const row of r.rows as Array<Array<string | null>>) current.set(keyOf(row), row);
  }
  const gone = new Set<number>();
  for (const i of which) {
    const now = current.get(keyOf(rows[i]));
    if (!now) gone.add(i);
    else rows[i] = rows[i].map((v, k) => (v === undefined ? now[k] : v));
  }
  return gone;
}
