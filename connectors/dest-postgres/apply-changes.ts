/**
 * Applying a group of source transactions to the destination in one transaction, together with
 * the position they end at (docs/design.md section 8): a crash before COMMIT leaves neither the
 * changes nor the position, a crash after it leaves both, so a restart from the stored position
 * applies every transaction exactly once.
 *
 * Per target table the group's row changes are folded by key in commit order — the last change
 * of a key wins — and then written as statements over many rows:
 *   delete   `delete … using (values …)` by key
 *   upsert   `insert … on conflict (key) do update` for rows whose every column is known
 *   update   `update … from (values …)` for rows with an unchanged TOAST value ('u', not sent):
 *            only the columns that came are set, so the destination keeps its value
 * An UPDATE whose key changed deletes the old key. An UPDATE that follows an INSERT or UPDATE of
 * the same key in the group takes the unchanged values from it. TRUNCATE is a barrier: what came
 * before it is written first. A table without a key (insert-only, like pgbench_history) gets its
 * inserts appended in order; an UPDATE or DELETE for it is an error naming the table and the fix.
 */
import type pg from 'pg';
import { UNCHANGED, type ChangeTarget, type ChangeValue, type RowChange, type Transaction } from '../contract/changes.js';
import { RbError } from '../contract/errors.js';
import { quoteIdent, quoteQualified } from '../postgres/identifiers.js';

export type { ChangeTarget };

/** Bound parameters per statement stay under PostgreSQL's 65,535. */
const MAX_PARAMS = 60_000;

/**
 * What a key's changes in the group come to. `move`: the row's key changed while a TOASTed value
 * stayed unchanged (not sent), and the group does not have that value: the row is rebuilt from
 * the destination's row at the old key `from`.
 */
type Folded = { op: 'delete'; key: ChangeValue[] } | { op: 'upsert'; values: ChangeValue[] } | { op: 'move'; from: ChangeValue[]; values: ChangeValue[] };

interface TableBatch {
  target: ChangeTarget;
  /** Source column position of each contract column (-1: not sent, e.g. generated before PG 18). */
  positions: number[];
  keyIdx: number[];
  byKey: Map<string, Folded>;
  /** Keyless targets: inserted rows, in order. */
  appended: ChangeValue[][];
}

export class ChangeApplier {
  private readonly bySource = new Map<string, ChangeTarget>();
  private readonly batches = new Map<string, TableBatch>();

  constructor(targets: readonly ChangeTarget[]) {
    for (const t of targets) this.bySource.set(`${t.source.schema}.${t.source.table}`, t);
  }

  /**
   * Applies `txns` and runs `alsoInTransaction` (the stream positions), all in one transaction.
   * Returns the row changes written.
   */
  async apply(dest: pg.Client, txns: readonly Transaction[], alsoInTransaction: (dest: pg.Client) => Promise<void>): Promise<number> {
    let written = 0;
    await dest.query('begin');
    try {
      for (const t of txns) {
        for (const item of t.items) {
          if (item.kind === 'truncate') {
            written += await this.flush(dest);
            const targets = item.relations.map((r) => this.targetOf(r.namespace, r.name)).filter((x): x is ChangeTarget => !!x);
            if (targets.length) await dest.query(`truncate ${targets.map((x) => quoteQualified(x.contract.target)).join(', ')}`);
            continue;
          }
          this.fold(item);
        }
      }
      written += await this.flush(dest);
      await alsoInTransaction(dest);
      await dest.query('commit');
      return written;
    } catch (e) {
      await dest.query('rollback').catch(() => {});
      this.batches.clear();
      throw e;
    }
  }

  private targetOf(namespace: string, name: string): ChangeTarget | undefined {
    return this.bySource.get(`${namespace || 'public'}.${name}`);
  }

  private batchFor(c: RowChange): TableBatch | null {
    const rel = c.relation;
    const target = this.targetOf(rel.namespace, rel.name);
    if (!target) return null; // a published table that is not one of the pipeline's streams
    const id = `${rel.namespace}.${rel.name}`;
    let b = this.batches.get(id);
    const names = rel.columns.map((x) => x.name);
    const positions = target.contract.columns.map((col) => names.indexOf(col.name));
    if (!b || b.positions.some((p, i) => p !== positions[i])) {
      const missing = target.contract.columns.find((_, i) => positions[i] < 0);
      if (missing) {
        throw new RbError('dest_query', `${target.contract.stream}: the source's table no longer has column ${JSON.stringify(missing.name)} (a change of the table's columns during CDC is not applied yet: rb state reset ${target.contract.stream} and run again)`, { stream: target.contract.stream });
      }
      const keyIdx = target.contract.key.map((k) => target.contract.columns.findIndex((col) => col.name === k));
      if (keyIdx.includes(-1)) throw new RbError('internal', `${target.contract.stream}: a key column is not among the stream's columns`, { stream: target.contract.stream });
      b = { target, positions, keyIdx, byKey: b?.byKey ?? new Map(), appended: b?.appended ?? [] };
      this.batches.set(id, b);
    }
    return b;
  }

  private fold(c: RowChange): void {
    const b = this.batchFor(c);
    if (!b) return;
    const stream = b.target.contract.stream;
    const pick = (vals: ChangeValue[]) => b.positions.map((p) => vals[p]);
    if (!b.keyIdx.length) {
      if (c.kind !== 'insert') {
        throw new RbError(
          'dest_query',
          `${stream}: an ${c.kind.toUpperCase()} arrived for a table without a key; rb applies keyless tables as append (inserts only). Give the table a primary key (or name unique columns in primary_key, with ALTER TABLE … REPLICA IDENTITY FULL on the source) and rb state reset`,
          { stream },
        );
      }
      b.appended.push(pick(c.values));
      return;
    }
    const keyOf = (vals: ChangeValue[]) => b.keyIdx.map((i) => vals[i]);
    const id = (key: ChangeValue[]) => JSON.stringify(key.map((v) => (v === UNCHANGED ? '\u0000u' : v)));
    if (c.kind === 'delete') {
      const key = keyOf(pick(c.old));
      if (key.some((v) => v === null || v === UNCHANGED)) throw new RbError('internal', `${stream}: a DELETE without the old row's key values`, { stream });
      b.byKey.set(id(key), { op: 'delete', key });
      return;
    }
    const values = pick(c.values);
    const key = keyOf(values);
    if (key.some((v) => v === UNCHANGED || v === null)) throw new RbError('internal', `${stream}: a change without its key values`, { stream });
    let base: Folded | undefined = b.byKey.get(id(key));
    if (c.kind === 'update' && c.old) {
      const oldKey = keyOf(pick(c.old));
      if (id(oldKey) !== id(key)) {
        // The key changed: the old row goes; its unchanged values come from the group's earlier
        // change of it, else from the destination's row at the old key.
        const before = b.byKey.get(id(oldKey));
        b.byKey.set(id(oldKey), { op: 'delete', key: oldKey });
        base = values.includes(UNCHANGED) ? (before?.op === 'delete' || !before ? { op: 'move', from: oldKey, values: values.map(() => UNCHANGED) } : before) : undefined;
      }
    }
    const over = (prev: ChangeValue[]) => values.map((v, i) => (v === UNCHANGED ? prev[i] : v));
    if (base?.op === 'upsert') b.byKey.set(id(key), { op: 'upsert', values: over(base.values) });
    else if (base?.op === 'move') b.byKey.set(id(key), { op: 'move', from: base.from, values: over(base.values) });
    else b.byKey.set(id(key), { op: 'upsert', values });
  }

  /** Writes what was folded so far; returns the rows written. */
  private async flush(dest: pg.Client): Promise<number> {
    let n = 0;
    for (const b of this.batches.values()) {
      const c = b.target.contract;
      const table = quoteQualified(c.target);
      const cols = c.columns;
      if (b.appended.length) n += await insertRows(dest, table, cols.map((x) => x.name), cols.map((x) => x.typeSql), b.appended, '');
      b.appended = [];
      const deletes: ChangeValue[][] = [];
      const full: ChangeValue[][] = [];
      // Rows with unchanged values, by which columns came ('1') and which did not ('0').
      const partial = new Map<string, ChangeValue[][]>();
      const moves = new Map<string, Array<{ from: ChangeValue[]; values: ChangeValue[] }>>();
      for (const f of b.byKey.values()) {
        if (f.op === 'delete') deletes.push(f.key);
        else if (!f.values.includes(UNCHANGED)) full.push(f.values);
        else if (f.op === 'move') pushByShape(moves, f.values, f);
        else pushByShape(partial, f.values, f.values);
      }
      const keyNames = c.key;
      const keyTypes = b.keyIdx.map((i) => cols[i].typeSql);
      const sets = cols.filter((x) => !keyNames.includes(x.name)).map((x) => `${quoteIdent(x.name)} = excluded.${quoteIdent(x.name)}`);
      const conflict = ` on conflict (${keyNames.map(quoteIdent).join(', ')}) ${sets.length ? `do update set ${sets.join(', ')}` : 'do nothing'}`;
      // Moves read the old rows before the deletes remove them.
      for (const [shape, rows] of moves) {
        const present = [...shape].map((x) => x === '1');
        n += await moveRows(dest, table, cols.map((x) => x.name), cols.map((x) => x.typeSql), present, keyNames, keyTypes, rows, conflict);
      }
      if (deletes.length) n += await deleteRows(dest, table, keyNames, keyTypes, deletes);
      if (full.length) n += await insertRows(dest, table, cols.map((x) => x.name), cols.map((x) => x.typeSql), full, conflict);
      for (const [shape, rows] of partial) {
        const idx = [...shape].map((s, i) => (s === '1' ? i : -1)).filter((i) => i >= 0);
        n += await updateRows(dest, table, idx.map((i) => cols[i].name), idx.map((i) => cols[i].typeSql), keyNames, rows.map((r) => idx.map((i) => r[i])));
      }
      b.byKey.clear();
    }
    return n;
  }
}

function pushByShape<T>(groups: Map<string, T[]>, values: readonly ChangeValue[], item: T): void {
  const shape = values.map((v) => (v === UNCHANGED ? '0' : '1')).join('');
  (groups.get(shape) ?? groups.set(shape, []).get(shape)!).push(item);
}

function valuesList(rows: readonly ChangeValue[][], types: readonly string[]): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const tuples = rows.map((r) => `(${r.map((v, i) => `$${params.push(v)}::${types[i]}`).join(', ')})`);
  return { sql: `values ${tuples.join(', ')}`, params };
}

async function inChunks(rows: readonly ChangeValue[][], width: number, run: (chunk: ChangeValue[][]) => Promise<number>): Promise<number> {
  const per = Math.max(1, Math.floor(MAX_PARAMS / Math.max(1, width)));
  let n = 0;
  for (let i = 0; i < rows.length; i += per) n += await run(rows.slice(i, i + per));
  return n;
}

function insertRows(dest: pg.Client, table: string, names: string[], types: string[], rows: ChangeValue[][], onConflict: string): Promise<number> {
  return inChunks(rows, names.length, async (chunk) => {
    const v = valuesList(chunk, types);
    const r = await dest.query(`insert into ${table} (${names.map(quoteIdent).join(', ')}) ${v.sql}${onConflict}`, v.params);
    return r.rowCount ?? 0;
  });
}

function deleteRows(dest: pg.Client, table: string, keys: string[], types: string[], rows: ChangeValue[][]): Promise<number> {
  return inChunks(rows, keys.length, async (chunk) => {
    const v = valuesList(chunk, types);
    const on = keys.map((k) => `t.${quoteIdent(k)} = v.${quoteIdent(k)}`).join(' and ');
    const r = await dest.query(`delete from ${table} t using (${v.sql}) v(${keys.map(quoteIdent).join(', ')}) where ${on}`, v.params);
    return r.rowCount ?? 0;
  });
}

function updateRows(dest: pg.Client, table: string, names: string[], types: string[], keys: string[], rows: ChangeValue[][]): Promise<number> {
  return inChunks(rows, names.length, async (chunk) => {
    const v = valuesList(chunk, types);
    const sets = names.filter((x) => !keys.includes(x)).map((x) => `${quoteIdent(x)} = v.${quoteIdent(x)}`);
    if (!sets.length) return 0;
    const on = keys.map((k) => `t.${quoteIdent(k)} = v.${quoteIdent(k)}`).join(' and ');
    const r = await dest.query(`update ${table} t set ${sets.join(', ')} from (${v.sql}) v(${names.map(quoteIdent).join(', ')}) where ${on}`, v.params);
    return r.rowCount ?? 0;
  });
}

/**
 * Rows whose key changed with unchanged (unsent) values: each new row is the sent values and, for
 * the rest, the destination's row at the old key (`from`), inserted before the old row is deleted.
 */
function moveRows(
  dest: pg.Client,
  table: string,
  names: string[],
  types: string[],
  present: boolean[],
  keys: string[],
  keyTypes: string[],
  rows: Array<{ from: ChangeValue[]; values: ChangeValue[] }>,
  onConflict: string,
): Promise<number> {
  const sent = names.map((_, i) => i).filter((i) => present[i]);
  const width = keys.length + sent.length;
  const flat = rows.map((r) => [...r.from, ...sent.map((i) => r.values[i])]);
  return inChunks(flat, width, async (chunk) => {
    const v = valuesList(chunk, [...keyTypes, ...sent.map((i) => types[i])]);
    const vcols = [...keys.map((k, i) => `rb_old_${i}`), ...sent.map((i) => `rb_new_${i}`)];
    const select = names.map((nm, i) => (present[i] ? `v.rb_new_${i}` : `t.${quoteIdent(nm)}`)).join(', ');
    const on = keys.map((k, i) => `t.${quoteIdent(k)} = v.rb_old_${i}`).join(' and ');
    const r = await dest.query(`insert into ${table} (${names.map(quoteIdent).join(', ')}) select ${select} from (${v.sql}) v(${vcols.join(', ')}) join ${table} t on ${on}${onConflict}`, v.params);
    return r.rowCount ?? 0;
  });
}
