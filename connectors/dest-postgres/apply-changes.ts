/**
 * Applying a group of source transactions to the destination in one transaction, together with
 * the position they end at (docs/design.md section 8): a crash before COMMIT leaves neither the
 * changes nor the position, a crash after it leaves both, so a restart from the stored position
 * applies every transaction exactly once. The group arrives in pieces (`write`, any number of
 * times, in the open transaction; a large source transaction spans several pieces) and ends with
 * `commit`.
 *
 * Per target table a piece's row changes are folded by key in commit order — the last change
 * of a key wins — and then written as statements over many rows:
 *   delete   `delete … using (values …)` by key
 *   upsert   `insert … on conflict (key) do update` for rows whose every column is known
 *   update   `update … from (values …)` for rows with an unchanged TOAST value ('u', not sent):
 *            only the columns that came are set, so the destination keeps its value
 * An UPDATE whose key changed deletes the old key. An UPDATE that follows an INSERT or UPDATE of
 * the same key in the piece takes the unchanged values from it (one in a later piece finds the
 * earlier piece's row already written in the open transaction). TRUNCATE is a barrier: what came
 * before it is written first. A table without a key (insert-only, like pgbench_history) gets its
 * inserts appended in order; an UPDATE or DELETE for it is an error naming the table and the fix.
 */
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { PgoutputRelation } from '../../native/pgoutput-types.js';
import type { ContractColumn, SchemaChange } from '../contract/write-contract.js';
import { UNCHANGED, type ChangeTarget, type ChangeValue, type RejectedChanges, type RowChange, type TransactionItem } from '../contract/changes.js';
import { pgErrorInfo, RbError } from '../contract/errors.js';
import { queryError } from '../postgres/connection.js';
import { quoteIdent, quoteQualified } from '../postgres/identifiers.js';
import type { QualifiedName } from '../contract/qualified-name.js';
import { isDataError, Rejections, type Rejection } from './bad-rows.js';
import { check, mask } from './row-transforms.js';
import { holderKey, UniqueClaims } from './unique-values.js';
import { STANDING_UNIQUE_PLAN } from '../contract/transforms.js';
import type { ChangeStep } from '../contract/transforms.js';
import type { DataErrorPolicy } from '../contract/domain.js';
import { copyText } from './copy-text.js';

export type { ChangeTarget };

/** Bound parameters per statement stay under PostgreSQL's 65,535. */
const MAX_PARAMS = 60_000;
/**
 * From this many rows a table's upserts, deletes and appends go through COPY (into a temporary
 * staging table, then one statement against the target); fewer are sent as a VALUES list, which
 * saves the COPY's round trips.
 */
const COPY_MIN_ROWS = 64;
/** Objects with oids below this are built in (the same in every database). */
const FIRST_NORMAL_OID = 16384;
/** COPY text is sent in pieces of about this many bytes. */
const COPY_PIECE_BYTES = 1 << 20;
/** A dead letter of a change has no shard: `shard` -1 (its `row_number` counts the run's rejected changes). */
const CDC_SHARD = -1;

/**
 * What a key's changes in the group come to. `move`: the row's key changed while a TOASTed value
 * stayed unchanged (not sent), and the group does not have that value: the row is rebuilt from
 * the destination's row at the old key `from`.
 */
type Folded = { op: 'delete'; key: ChangeValue[] } | { op: 'upsert'; values: ChangeValue[] } | { op: 'move'; from: ChangeValue[]; values: ChangeValue[] };

/** A destination column the changes write, and where its value is in the source's change records. */
interface ActiveColumn {
  name: string;
  typeSql: string;
  sourceTypeOid: number;
  /** Position in the Relation's columns. */
  pos: number;
}

type ActiveStep = ChangeStep & { idx: number; re?: RegExp };
/** A validate rule among them. */
type ActiveRule = Extract<ActiveStep, { kind: 'validate' }>;

interface TableBatch {
  target: ChangeTarget;
  /** The Relation message (the source's columns) the shape below was made for. */
  relation: PgoutputRelation;
  signature: string;
  /** The columns written, in the order folded values hold them. */
  columns: ActiveColumn[];
  /** Every column the destination table has, as far as this run knows (contract + added). */
  known: ContractColumn[];
  keyIdx: number[];
  /** The stream's masks and validate rules, by position in `columns` (ChangeTarget.transform). */
  steps: ActiveStep[];
  /** Columns whose values may not fit the destination's type and are then written as NULL (type_change: null). */
  misfit: string[];
  /** The stream's `unique` rules' standing claims (claimUnique), when it has any. */
  unique: UniqueClaims | null;
  byKey: Map<string, Folded>;
  /** Keyless targets: inserted rows, in order. */
  appended: ChangeValue[][];
}

export class ChangeApplier {
  private readonly bySource = new Map<string, ChangeTarget>();
  private readonly batches = new Map<string, TableBatch>();
  /** By the decoder's Relation object (a new one comes with each Relation message); null: not a stream's table. */
  private readonly byRelation = new Map<PgoutputRelation, TableBatch | null>();

  /** Some stream has a filter (judge) / a unique rule (claimUnique): else those passes are skipped. */
  private readonly anyFilter: boolean;
  private readonly anyUnique: boolean;

  constructor(targets: readonly ChangeTarget[]) {
    for (const t of targets) this.bySource.set(`${t.source.schema}.${t.source.table}`, t);
    this.anyFilter = targets.some((t) => t.filter);
    this.anyUnique = targets.some((t) => t.transform?.steps.some((st) => st.kind === 'validate' && 'unique' in st.check));
  }

  private open = false;
  /** A write failed (and was rolled back): no later commit may store a position. */
  private failed = false;
  /** Temporary staging tables made in this session, by target and use. */
  private readonly stages = new Map<string, string>();
  /** Made in the open transaction: gone if it rolls back. */
  private stagesInTransaction: string[] = [];
  /** Rejected changes: of the open group, and of the committed ones. */
  private groupRejected = new Map<string, RejectedChanges>();
  private readonly rejected = new Map<string, RejectedChanges>();
  /** Rejected changes so far (a dead letter's row_number). */
  private rejectedOrdinal = 0;
  /** Rows of keyless tables claimed for unique rules (each its own holder). */
  private keylessRows = 0;
  /** schema_evolution decisions while streaming, per stream (decided). */
  private readonly schemaChanges = new Map<string, SchemaChange[]>();
  /** Destination column types by target (destinationTypes). */
  private readonly destTypes = new Map<string, Map<string, string>>();
  /** Changes a validate rule rejected since the last flush. */
  private invalid: Array<{ b: TableBatch; shown: ReadonlyArray<readonly [string, ChangeValue]>; why: Rejection; policy: DataErrorPolicy }> = [];

  /**
   * The session's temporary table that `kind` rows of `b`'s target are copied into: the columns
   * written (upsert) or the key (delete), with the target's types, and no constraints.
   */
  private async stage(dest: pg.Client, b: TableBatch, kind: 'upsert' | 'delete'): Promise<string> {
    const c = b.target.contract;
    const cols = (kind === 'upsert' ? b.columns.map((x) => x.name) : c.key).map(quoteIdent).join(', ');
    const id = `${kind}\u0000${quoteQualified(c.target)}\u0000${cols}`;
    let name = this.stages.get(id);
    if (!name) {
      name = `rb_cdc_${kind}_${this.stages.size}`;
      await dest.query(`create temporary table ${name} as select ${cols} from ${quoteQualified(c.target)} with no data`);
      this.stages.set(id, name);
      this.stagesInTransaction.push(id);
    }
    return name;
  }

  /** Writes `items` (commit order) in the open transaction, beginning one if none is. Returns the rows written. */
  async write(dest: pg.Client, items: readonly TransactionItem[]): Promise<number> {
    let written = 0;
    try {
      if (!this.open) {
        await dest.query('begin');
        this.open = true;
      }
      const verdicts = this.anyFilter ? await this.judge(items) : null;
      // Without unique rules each change is folded as it comes (the hot path: nothing else per change).
      if (!this.anyUnique) {
        for (const item of items) {
          if (item.kind === 'truncate') {
            written += await this.truncate(dest, item);
            continue;
          }
          if (this.needsShape(item.relation)) {
            written += await this.flush(dest);
            await this.shape(dest, item.relation);
          }
          this.fold(item, verdicts?.get(item));
        }
        return written + (await this.flush(dest));
      }
      for (let i = 0; i < items.length; ) {
        const item = items[i];
        if (item.kind === 'truncate') {
          written += await this.truncate(dest, item);
          i++;
          continue;
        }
        if (this.needsShape(item.relation)) {
          written += await this.flush(dest);
          await this.shape(dest, item.relation);
        }
        // The row changes up to the next TRUNCATE or new shape: their unique values claimed together.
        let j = i + 1;
        while (j < items.length) {
          const next = items[j];
          if (next.kind === 'truncate' || this.needsShape(next.relation)) break;
          j++;
        }
        const segment = items.slice(i, j) as RowChange[];
        const duplicates = await this.claimUnique(segment);
        for (const c of segment) this.fold(c, verdicts?.get(c), duplicates?.get(c));
        i = j;
      }
      return written + (await this.flush(dest));
    } catch (e) {
      await this.rollback(dest);
      this.failed = true;
      throw this.applyError(e);
    }
  }

  /**
   * A change the destination rejects (a CHECK, NOT NULL or unique index of the target that the
   * source does not have) stops the run as a data error (exit 5; cdc pipelines take
   * on_data_error: fail only), naming the table; what committed before it stays, the group it
   * was in is rolled back and the slot is not confirmed past it.
   */
  private applyError(e: unknown): unknown {
    if (e instanceof RbError) return e;
    const info = pgErrorInfo(e);
    const target = [...this.bySource.values()].find((t) => info?.table && (t.contract.target.table === info.table || t.contract.staging?.table === info.table));
    const stream = target?.contract.stream;
    if (isDataError(e)) {
      const msg = e instanceof Error ? e.message : String(e);
      return new RbError('data_error', `${stream ?? 'a cdc stream'}: a change was rejected by the destination: ${msg} (SQLSTATE ${info?.sqlstate}${info?.constraint ? `, constraint ${info.constraint}` : ''})${info?.detail ? ` — ${info.detail}` : ''}; the changes before its transaction group are applied, the next run starts again at that group (destination.on_data_error: fail)`, { stream, pg: info, cause: e });
    }
    return queryError(e, 'destination', `${stream ?? 'cdc'}: applying changes`, stream ? { stream } : {});
  }

  /** Runs `alsoInTransaction` (the stream positions) and commits the open transaction (one is begun if none is). */
  async commit(dest: pg.Client, alsoInTransaction: (dest: pg.Client) => Promise<void>): Promise<void> {
    // A write of this group failed and was rolled back: its position must never be stored.
    if (this.failed) throw new RbError('internal', 'a commit after a failed write of the same group');
    try {
      if (!this.open) await dest.query('begin');
      this.open = true;
      await alsoInTransaction(dest);
      await dest.query('commit');
      this.open = false;
      this.stagesInTransaction = [];
      for (const [stream, c] of this.groupRejected) {
        const all = this.rejected.get(stream) ?? { skipped: 0, deadLettered: 0, nulled: 0 };
        this.rejected.set(stream, { skipped: all.skipped + c.skipped, deadLettered: all.deadLettered + c.deadLettered, nulled: all.nulled + c.nulled });
      }
      this.groupRejected.clear();
    } catch (e) {
      await this.rollback(dest);
      throw e;
    }
  }

  async rollback(dest: pg.Client): Promise<void> {
    this.groupRejected.clear();
    this.invalid = [];
    this.batches.clear();
    this.byRelation.clear();
    for (const id of this.stagesInTransaction) this.stages.delete(id);
    this.stagesInTransaction = [];
    if (!this.open) return;
    this.open = false;
    await dest.query('rollback').catch(() => {});
  }

  private targetOf(namespace: string, name: string): ChangeTarget | undefined {
    return this.bySource.get(`${namespace || 'public'}.${name}`);
  }

  private batchFor(c: RowChange): TableBatch | null {
    return this.byRelation.get(c.relation) ?? null;
  }

  /**
   * True when `rel` is a pipeline table whose shape is not known for this Relation message yet
   * (the first change of the table, or the source sent new column information).
   */
  private needsShape(rel: PgoutputRelation): boolean {
    const known = this.byRelation.get(rel);
    if (known !== undefined) return false;
    if (!this.targetOf(rel.namespace, rel.name)) {
      this.byRelation.set(rel, null); // a published table that is not one of the pipeline's streams
      return false;
    }
    return true;
  }

  /**
   * The columns the changes of `rel` write, by `schema_evolution` when the source's columns
   * differ from the destination's: a new column is added to the target (`new_column: add`, in
   * the open transaction, so it lands with the changes that fill it) or not written (`ignore`),
   * or the run stops (`fail`); a column no longer sent stays in the destination unwritten
   * (`removed_column: ignore`) or stops the run; a changed type is written as the destination's
   * type (`type_change: coerce`) or stops the run. Folded rows of the old shape are written first.
   */
  private async shape(dest: pg.Client, rel: PgoutputRelation): Promise<void> {
    const target = this.targetOf(rel.namespace, rel.name)!;
    const c = target.contract;
    const stream = c.stream;
    const id = `${rel.namespace}.${rel.name}`;
    const prev = this.batches.get(id);
    const signature = rel.columns.map((x) => `${x.name}\u0000${x.typeOid}`).join('\u0001');
    if (prev && prev.signature === signature) {
      prev.relation = rel;
      this.byRelation.set(rel, prev);
      return;
    }
    const known = [...(prev?.known ?? c.columns)];
    const sent = rel.columns.map((x) => x.name);
    // A renamed column comes from its source column; its type is checked against the source's.
    const sourceName = (name: string) => target.transform?.sourceNames[name] ?? name;
    const fail = (what: string, policy: string): never => {
      throw new RbError('dest_query', `${stream}: ${what} while streaming changes (schema_evolution.${policy}); the destination keeps the changes applied before it`, { stream });
    };
    const columns: ActiveColumn[] = [];
    const misfit = [...(c.nullOnMisfit ?? [])];
    // Values are cast to the destination's own types (a column written through its text form —
    // type_change coerce or null — keeps a type other than the source's).
    const destTypes = await this.destinationTypes(dest, c.target);
    for (const col of known) {
      const pos = sent.indexOf(sourceName(col.name));
      if (pos < 0) {
        if (c.key.includes(col.name)) fail(`key column ${JSON.stringify(col.name)} is no longer sent by the source`, 'removed_column cannot ignore a key column');
        if (target.schema.removed_column === 'fail') fail(`column ${JSON.stringify(col.name)} is no longer sent by the source (dropped or renamed there)`, 'removed_column: fail');
        // ignore: it stays in the destination, no longer written
        this.decided(stream, { column: col.name, change: 'left_unwritten', policy: 'removed_column: ignore', destination: destTypes.get(col.name) ?? col.typeSql });
        continue;
      }
      const typeOid = rel.columns[pos].typeOid;
      const planned = target.transform?.sourceTypes[col.name] ?? col.sourceTypeOid;
      if (planned && typeOid !== planned) {
        if (target.schema.type_change === 'fail') fail(`column ${JSON.stringify(col.name)} changed type in the source (type oid ${planned} → ${typeOid})`, 'type_change: fail');
        // coerce: the source's text form is read by the destination column's type; null: a value it does not take is written as NULL.
        if (target.schema.type_change === 'null' && !misfit.includes(col.name)) misfit.push(col.name);
        const source = (await dest.query(`select format_type($1::oid, $2::int) as t`, [typeOid, rel.columns[pos].typmod])).rows[0].t as string;
        const coerced = target.schema.type_change === 'null' ? 'null_when_not_fitting' : 'coerced';
        this.decided(stream, { column: col.name, change: coerced, policy: `type_change: ${target.schema.type_change}`, source, destination: destTypes.get(col.name) ?? col.typeSql });
      }
      columns.push({ name: col.name, typeSql: destTypes.get(col.name) ?? col.typeSql, sourceTypeOid: typeOid, pos });
    }
    for (const [pos, rc] of rel.columns.entries()) {
      if (known.some((x) => sourceName(x.name) === rc.name)) continue;
      // A column the source had when the run planned but the stream does not select.
      if (target.sourceColumns.includes(rc.name) || target.explicitColumns) continue;
      if (target.schema.new_column === 'ignore') {
        this.decided(stream, { column: rc.name, change: 'not_written', policy: 'new_column: ignore', source: `type oid ${rc.typeOid}` });
        continue;
      }
      if (target.schema.new_column === 'fail') fail(`the source added column ${JSON.stringify(rc.name)}`, 'new_column: fail');
      // A user-defined type's oid means nothing in the destination database.
      if (rc.typeOid >= FIRST_NORMAL_OID) fail(`the source added column ${JSON.stringify(rc.name)} of a user-defined type (oid ${rc.typeOid}), which rb cannot create in the destination; add it there yourself`, 'new_column: add');
      await this.flush(dest);
      const typeSql = (await dest.query(`select format_type($1::oid, $2::int) as t`, [rc.typeOid, rc.typmod])).rows[0].t as string;
      await dest.query(`alter table ${quoteQualified(c.target)} add column if not exists ${quoteIdent(rc.name)} ${typeSql}`);
      const added: ContractColumn = { name: rc.name, sourceTypeOid: rc.typeOid, typeSql };
      this.decided(stream, { column: rc.name, change: 'added', policy: 'new_column: add', source: typeSql });
      known.push(added);
      columns.push({ ...added, pos });
    }
    const keyIdx = c.key.map((k) => columns.findIndex((col) => col.name === k));
    if (keyIdx.includes(-1)) throw new RbError('internal', `${stream}: a key column is not among the stream's columns`, { stream });
    if (prev && (prev.byKey.size || prev.appended.length)) await this.flush(dest);
    const steps = (target.transform?.steps ?? []).flatMap((st): ActiveStep[] => {
      const idx = columns.findIndex((col) => col.name === st.column);
      // A column no longer written (removed_column: ignore) has nothing to transform.
      return idx < 0 ? [] : [{ ...st, idx, ...(st.kind === 'validate' && 'regex' in st.check ? { re: new RegExp(st.check.regex, 'u') } : {}) }];
    });
    const unique = steps.some((st) => st.kind === 'validate' && 'unique' in st.check)
      ? (prev?.unique ?? new UniqueClaims(dest, { schema: target.badRows.schema, pipeline: target.badRows.pipeline, planId: STANDING_UNIQUE_PLAN, stream }))
      : null;
    const batch: TableBatch = { target, relation: rel, signature, columns, known, keyIdx, steps, misfit: misfit.filter((m) => !c.key.includes(m)), unique, byKey: new Map(), appended: [] };
    this.batches.set(id, batch);
    this.byRelation.set(rel, batch);
  }

  /**
   * The filters' verdicts on the new rows of `items` (ChangeTarget.filter: the source judges
   * them, one query per filtered table), or null when no item's table has a filter.
   */
  private async judge(items: readonly TransactionItem[]): Promise<Map<RowChange, boolean> | null> {
    let byTarget: Map<ChangeTarget, Array<Extract<RowChange, { values: ChangeValue[] }>>> | null = null;
    for (const it of items) {
      if (it.kind !== 'insert' && it.kind !== 'update') continue;
      const t = this.targetOf(it.relation.namespace, it.relation.name);
      if (!t?.filter) continue;
      byTarget ??= new Map();
      (byTarget.get(t) ?? byTarget.set(t, []).get(t)!).push(it);
    }
    if (!byTarget) return null;
    const verdicts = new Map<RowChange, boolean>();
    for (const [t, changes] of byTarget) {
      const positions = new Map<PgoutputRelation, number[]>();
      const rows = changes.map((c) => {
        let pos = positions.get(c.relation);
        if (!pos) positions.set(c.relation, (pos = t.filter!.columns.map((name) => c.relation.columns.findIndex((x) => x.name === name))));
        return pos.map((p) => {
          const v = p < 0 ? null : c.values[p];
          return v === UNCHANGED ? undefined : v;
        });
      });
      const pass = await t.filter!.judge(rows);
      changes.forEach((c, i) => verdicts.set(c, pass[i]));
    }
    return verdicts;
  }

  /** The target's column types as the destination has them (format_type), once per target. */
  private async destinationTypes(dest: pg.Client, target: QualifiedName): Promise<Map<string, string>> {
    const id = quoteQualified(target);
    let types = this.destTypes.get(id);
    if (!types) {
      const r = await dest.query(`select attname, format_type(atttypid, atttypmod) as t from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped`, [id]);
      types = new Map((r.rows as Array<{ attname: string; t: string }>).map((x) => [x.attname, x.t]));
      this.destTypes.set(id, types);
    }
    return types;
  }

  /**
   * A cdc stream's `unique` rules (unique-values.ts, standing claims): each rule's values — at
   * its point of the list, after the masks before it — are claimed for the changes' keys at once
   * (claimHeld: a value another key holds is a duplicate, a row writing its own value again is
   * not); then every key the accepted changes touched keeps only its value now (settle: a row
   * changed to another value gives the old one back, a deleted row all of its values). Claims are
   * made before values are given back, so within one piece a value one row leaves and another
   * takes is refused (never two rows with one value). Returns the rule that rejected each
   * duplicate, or null when no table has such a rule.
   */
  private async claimUnique(changes: readonly RowChange[]): Promise<Map<RowChange, ActiveRule> | null> {
    const out = new Map<RowChange, ActiveRule>();
    const byBatch = new Map<TableBatch, RowChange[]>();
    for (const c of changes) {
      const b = this.batchFor(c);
      if (b?.unique) (byBatch.get(b) ?? byBatch.set(b, []).get(b)!).push(c);
    }
    for (const [b, list] of byBatch) {
      const holderOf = (vals: readonly ChangeValue[]) => (b.keyIdx.length ? holderKey(keyOf(b, vals) as Array<string | null>) : null);
      // Each change's values as the list makes them, and whether another rule rejects it (then it
      // claims nothing: the row keeps what it holds).
      const seen = new Map<RowChange, { row: ChangeValue[]; at: Map<ActiveStep, ChangeValue>; holder: string }>();
      for (const c of list) {
        if (c.kind === 'delete') continue;
        const row = pick(b, c.values);
        const { failed, at } = stepsOver(b, row.slice());
        // A keyless table's rows have no key to hold a value: every repeat is a duplicate.
        if (!failed) seen.set(c, { row, at, holder: holderOf(row) ?? `row ${++this.keylessRows}` });
      }
      const rules = b.steps.filter((st): st is ActiveRule => st.kind === 'validate' && 'unique' in st.check);
      for (const st of rules) {
        const owners = [...seen].filter(([c, x]) => !out.has(c) && x.at.has(st));
        const held = await b.unique!.claimHeld(st.column, owners.map(([, x]) => ({ value: x.at.get(st) as string | null, holder: x.holder })));
        owners.forEach(([c], n) => {
          if (!held[n]) out.set(c, st);
        });
      }
      if (!b.keyIdx.length) continue;
      // What each key the accepted changes touched holds now (null: nothing), per rule. A change
      // rejected by a later rule may leave a value it claimed for an earlier one held (refused to
      // others, never shared).
      for (const st of rules) {
        const keeps = new Map<string, string | null>();
        for (const c of list) {
          if (out.has(c)) continue;
          if (c.kind === 'delete') {
            keeps.set(holderOf(pick(b, c.old))!, null);
            continue;
          }
          const x = seen.get(c);
          if (!x) continue;
          if (c.kind === 'update' && c.old) {
            const before = holderOf(pick(b, c.old))!;
            if (before !== x.holder) keeps.set(before, null);
          }
          if (x.at.has(st)) keeps.set(x.holder, x.at.get(st) as string | null);
        }
        await b.unique!.settle(st.column, [...keeps].map(([holder, keep]) => ({ holder, keep })));
      }
    }
    return out.size ? out : null;
  }

  /** A TRUNCATE: what came before it is written first; a stream with `unique` rules forgets its claims (its rows are gone). */
  private async truncate(dest: pg.Client, item: Extract<TransactionItem, { kind: 'truncate' }>): Promise<number> {
    const written = await this.flush(dest);
    const targets = item.relations.map((r) => this.targetOf(r.namespace, r.name)).filter((x): x is ChangeTarget => !!x);
    if (targets.length) await dest.query(`truncate ${targets.map((x) => quoteQualified(x.contract.target)).join(', ')}`);
    for (const t of targets) {
      const b = [...this.batches.values()].find((x) => x.target === t);
      if (b?.unique) await b.unique.forgetAll();
    }
    return written;
  }

  /**
   * `pass` false: the stream's filter does not keep the change's new row, which leaves the
   * destination (a keyless table's insert is not appended). `duplicate`: the unique rule whose
   * value another row holds (claimUnique).
   */
  private fold(c: RowChange, pass?: boolean, duplicate?: ActiveRule): void {
    const b = this.batchFor(c);
    if (!b) return;
    // (A keyless table's UPDATE is an error below, filtered or not.)
    if (pass === false && c.kind !== 'delete' && (b.keyIdx.length || c.kind === 'insert')) {
      if (!b.keyIdx.length) return;
      const key = keyOf(b, pick(b, c.values));
      if (!isFullKey(key)) throw new RbError('internal', `${b.target.contract.stream}: a change without its key values`, { stream: b.target.contract.stream });
      if (c.kind === 'update' && c.old) {
        const oldKey = keyOf(b, pick(b, c.old));
        if (isFullKey(oldKey) && keyId(oldKey) !== keyId(key)) b.byKey.set(keyId(oldKey), { op: 'delete', key: oldKey });
      }
      b.byKey.set(keyId(key), { op: 'delete', key });
      return;
    }
    if (!b.keyIdx.length) {
      if (c.kind !== 'insert') {
        const stream = b.target.contract.stream;
        throw new RbError(
          'dest_query',
          `${stream}: an ${c.kind.toUpperCase()} arrived for a table without a key; rb applies keyless tables as append (inserts only). Give the table a primary key (or name unique columns in primary_key, with ALTER TABLE … REPLICA IDENTITY FULL on the source) and rb state reset`,
          { stream },
        );
      }
      const row = b.steps.length ? this.transformed(b, pick(b, c.values), duplicate) : pick(b, c.values);
      if (row) b.appended.push(row);
      return;
    }
    if (c.kind === 'delete') {
      const key = keyOf(b, pick(b, c.old));
      if (!isFullKey(key)) throw new RbError('internal', `${b.target.contract.stream}: a DELETE without the old row's key values`, { stream: b.target.contract.stream });
      b.byKey.set(keyId(key), { op: 'delete', key });
      return;
    }
    const values = b.steps.length ? this.transformed(b, pick(b, c.values), duplicate) : pick(b, c.values);
    // Rejected by a validate rule (skip, dlq): the change is not applied.
    if (!values) return;
    const key = keyOf(b, values);
    if (!isFullKey(key)) throw new RbError('internal', `${b.target.contract.stream}: a change without its key values`, { stream: b.target.contract.stream });
    const id = keyId(key);
    let base: Folded | undefined = b.byKey.get(id);
    if (c.kind === 'update' && c.old) {
      const oldKey = keyOf(b, pick(b, c.old));
      const oldId = keyId(oldKey);
      if (oldId !== id) {
        // The key changed: the old row goes; its unchanged values come from the group's earlier
        // change of it, else from the destination's row at the old key.
        const before = b.byKey.get(oldId);
        b.byKey.set(oldId, { op: 'delete', key: oldKey });
        base = values.includes(UNCHANGED) ? (before?.op === 'delete' || !before ? { op: 'move', from: oldKey, values: values.map(() => UNCHANGED) } : before) : undefined;
      }
    }
    if (base?.op === 'upsert') b.byKey.set(id, { op: 'upsert', values: overlay(values, base.values) });
    else if (base?.op === 'move') b.byKey.set(id, { op: 'move', from: base.from, values: overlay(values, base.values) });
    else b.byKey.set(id, { op: 'upsert', values });
  }

  /**
   * Runs one statement's rows. Under `on_data_error: skip | dlq` it runs under a savepoint, and
   * when the destination rejects a row (a data error: a CHECK, NOT NULL or unique index the source
   * does not have, a value the target's type does not take) the rows are halved under savepoints
   * down to the rejected ones, which are dropped (`skip`) or written to `<state schema>.dlq` in the
   * group's transaction (`dlq`): the cost is the rejected rows times the log of the statement's.
   * Under `fail` no savepoint — the error ends the group (applyError) — unless a column may have
   * values its destination type does not take (type_change: null, lastChance).
   */
  private async guard<T>(
    dest: pg.Client,
    b: TableBatch,
    op: string,
    rows: readonly T[],
    run: (rows: readonly T[]) => Promise<number>,
    shown: (row: T) => ReadonlyArray<readonly [string, ChangeValue]>,
    withNull?: (row: T, column: number) => T,
  ): Promise<number> {
    if (!rows.length) return 0;
    // Under fail, isolation is only needed when a value may be written as NULL instead (type_change: null).
    if (b.target.badRows.policy === 'fail' && !b.misfit.length) return run(rows);
    await dest.query('savepoint rb_change');
    try {
      const n = await run(rows);
      await dest.query('release savepoint rb_change');
      return n;
    } catch (e) {
      // Anything else than a rejected row ends the group, whose transaction rolls back whole.
      if (!isDataError(e)) throw e;
      await dest.query('rollback to savepoint rb_change');
      await dest.query('release savepoint rb_change');
      if (rows.length === 1) return this.lastChance(dest, b, op, rows[0], e, run, shown, withNull);
      const mid = rows.length >> 1;
      return (await this.guard(dest, b, op, rows.slice(0, mid), run, shown, withNull)) + (await this.guard(dest, b, op, rows.slice(mid), run, shown, withNull));
    }
  }

  /**
   * One change the destination rejected. A value that does not fit a column whose type changed
   * under `type_change: null` (b.misfit) is written as NULL instead — a column at a time, the one
   * the server names or else the next candidate with a value — counted in `values_nulled` and,
   * under dlq, recorded with the values as they were. Otherwise the change is rejected.
   */
  private async lastChance<T>(
    dest: pg.Client,
    b: TableBatch,
    op: string,
    row: T,
    err: unknown,
    run: (rows: readonly T[]) => Promise<number>,
    shown: (row: T) => ReadonlyArray<readonly [string, ChangeValue]>,
    withNull?: (row: T, column: number) => T,
  ): Promise<number> {
    let current = row;
    let e = err;
    const nulled: string[] = [];
    while (withNull && b.misfit.length) {
      const info = pgErrorInfo(e);
      if (info?.sqlstate?.slice(0, 2) !== '22') break;
      const values = new Map(shown(current));
      const col = info.column && b.misfit.includes(info.column) && !nulled.includes(info.column) ? info.column : b.misfit.find((c) => !nulled.includes(c) && typeof values.get(c) === 'string');
      const at = col ? b.columns.findIndex((x) => x.name === col) : -1;
      if (at < 0) break;
      current = withNull(current, at);
      nulled.push(col!);
      await dest.query('savepoint rb_change');
      try {
        const n = await run([current]);
        await dest.query('release savepoint rb_change');
        const { rejections, values: sent } = this.rejectionsFor(dest, b, shown(row));
        const first = pgErrorInfo(err);
        rejections.nulledValues(sent, ++this.rejectedOrdinal, nulled, { message: `${op}: ${err instanceof Error ? err.message : String(err)}`, detail: first?.detail, sqlstate: first?.sqlstate, column: nulled[0] });
        await rejections.flush();
        this.count(b.target.contract.stream, { nulled: rejections.nulled });
        return n;
      } catch (again) {
        if (!isDataError(again)) throw again;
        await dest.query('rollback to savepoint rb_change');
        await dest.query('release savepoint rb_change');
        e = again;
      }
    }
    await this.reject(dest, b, op, shown(row), e);
    return 0;
  }

  /** A change the destination rejected: under fail the run stops naming its key; else counted, and under dlq recorded with the values it sent (an unchanged TOAST value was not sent). */
  private async reject(dest: pg.Client, b: TableBatch, op: string, shown: ReadonlyArray<readonly [string, ChangeValue]>, e: unknown): Promise<void> {
    const info = pgErrorInfo(e);
    const why = { message: `${op}: ${e instanceof Error ? e.message : String(e)}`, detail: info?.detail ?? null, sqlstate: info?.sqlstate ?? null, constraint: info?.constraint ?? null, column: info?.column ?? null };
    if (b.target.badRows.policy === 'fail') {
      const stream = b.target.contract.stream;
      const values = new Map(shown);
      const key = b.target.contract.key.map((k) => `${k} = ${JSON.stringify(values.get(k))}`).join(', ');
      throw new RbError('data_error', `${stream}: a change${key ? ` of the row with ${key}` : ''} was rejected by the destination: ${why.message}${why.sqlstate ? ` (SQLSTATE ${why.sqlstate}${why.constraint ? `, constraint ${why.constraint}` : ''})` : ''}; the changes before its transaction group are applied (destination.on_data_error: fail)`, { stream, pg: info, cause: e });
    }
    await this.letter(dest, b, shown, why, b.target.badRows.policy);
  }

  /** Adds to the open group's counts of a stream. */
  private count(stream: string, add: Partial<RejectedChanges>): void {
    const c = this.groupRejected.get(stream) ?? { skipped: 0, deadLettered: 0, nulled: 0 };
    this.groupRejected.set(stream, { skipped: c.skipped + (add.skipped ?? 0), deadLettered: c.deadLettered + (add.deadLettered ?? 0), nulled: c.nulled + (add.nulled ?? 0) });
  }

  /**
   * A change's values with the stream's masks and validate rules applied in the list's order (an
   * unchanged TOAST value was not sent: it is neither masked nor checked — the destination holds
   * it as written before). Null when a rule rejects it: under `fail` that stops the run (exit 5)
   * naming the row by its key; under skip/dlq the change is not applied, counted (and dead-lettered
   * when the group's statements are written).
   */
  private transformed(b: TableBatch, values: ChangeValue[], duplicate?: ActiveRule): ChangeValue[] | null {
    const st = stepsOver(b, values, duplicate).failed;
    if (st) {
      const stream = b.target.contract.stream;
      const why: Rejection = { message: `validate: ${st.column} ${st.rule}`, constraint: `validate ${st.rule}`, column: st.column };
      if (st.policy === 'fail') {
        const key = b.keyIdx.map((i) => `${b.columns[i].name} = ${JSON.stringify(values[i])}`).join(', ');
        throw new RbError('data_error', `${stream}: a change${key ? ` of the row with ${key}` : ''} was rejected: ${why.message} (validate on_fail: fail); the changes before its transaction group are applied`, { stream });
      }
      this.invalid.push({ b, shown: b.columns.map((c, i) => [c.name, values[i]] as const), why, policy: st.policy });
      return null;
    }
    return values;
  }

  /** A change's dead-letter writer, for the values it sent (an unchanged TOAST value was not sent). */
  private rejectionsFor(dest: pg.Client, b: TableBatch, shown: ReadonlyArray<readonly [string, ChangeValue]>): { rejections: Rejections; values: Array<string | null> } {
    const sent = shown.filter((x): x is readonly [string, string | null] => x[1] !== UNCHANGED);
    const rejections = new Rejections(dest, sent.map((x) => x[0]), b.target.badRows, { stream: b.target.contract.stream, shardIndex: CDC_SHARD });
    return { rejections, values: sent.map((x) => x[1]) };
  }

  /** Counts a rejected change under `policy` (skip, dlq) and writes its dead letter into the open transaction. */
  private async letter(dest: pg.Client, b: TableBatch, shown: ReadonlyArray<readonly [string, ChangeValue]>, why: Rejection, policy: DataErrorPolicy): Promise<void> {
    const { rejections, values } = this.rejectionsFor(dest, b, shown);
    rejections.reject(values, ++this.rejectedOrdinal, why, policy);
    await rejections.flush();
    this.count(b.target.contract.stream, { skipped: rejections.skipped, deadLettered: rejections.deadLettered });
  }

  /** A schema_evolution decision while streaming, once per stream, column and kind (reported in the run's schema_changes). */
  private decided(stream: string, change: SchemaChange): void {
    const list = this.schemaChanges.get(stream) ?? this.schemaChanges.set(stream, []).get(stream)!;
    if (!list.some((x) => x.column === change.column && x.change === change.change)) list.push(change);
  }

  /** The schema_evolution decisions made while streaming, per stream. */
  decisions(): Record<string, SchemaChange[]> {
    return Object.fromEntries([...this.schemaChanges].map(([k, v]) => [k, [...v]]));
  }

  /** Rejected changes of the committed groups, per stream. */
  rejectedChanges(): Record<string, RejectedChanges> {
    return Object.fromEntries([...this.rejected].map(([k, v]) => [k, { ...v }]));
  }

  /** Writes what was folded so far; returns the rows written. */
  private async flush(dest: pg.Client): Promise<number> {
    let n = 0;
    // Changes a validate rule rejected (skip, dlq): counted and dead-lettered in this transaction.
    for (const x of this.invalid.splice(0)) await this.letter(dest, x.b, x.shown, x.why, x.policy);
    for (const b of this.batches.values()) {
      const c = b.target.contract;
      const table = quoteQualified(c.target);
      const cols = b.columns;
      const names = cols.map((x) => x.name);
      const types = cols.map((x) => x.typeSql);
      const whole = (r: readonly ChangeValue[]) => names.map((nm, i) => [nm, r[i]] as const);
      const withNull = (r: ChangeValue[], i: number) => r.map((v, k) => (k === i ? null : v));
      if (b.appended.length) {
        n += await this.guard(dest, b, 'insert', b.appended, (rs) => (rs.length >= COPY_MIN_ROWS ? copyRows(dest, table, names, rs) : insertRows(dest, table, names, types, rs, '')), whole, withNull);
      }
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
        n += await this.guard(dest, b, 'update (key changed)', rows, (rs) => moveRows(dest, table, names, types, present, keyNames, keyTypes, rs, conflict), (r) => whole(r.values), (r, i) => ({ from: r.from, values: withNull(r.values, i) }));
      }
      // Staging tables are made before any savepoint (guard): one a savepoint rolled back would be gone.
      if (deletes.length) {
        const stage = deletes.length >= COPY_MIN_ROWS ? await this.stage(dest, b, 'delete') : null;
        const on = keyNames.map((k) => `t.${quoteIdent(k)} = s.${quoteIdent(k)}`).join(' and ');
        n += await this.guard(
          dest,
          b,
          'delete',
          deletes,
          async (rs) => {
            if (!stage || rs.length < COPY_MIN_ROWS) return deleteRows(dest, table, keyNames, keyTypes, rs);
            await copyRows(dest, stage, keyNames, rs);
            const k = (await dest.query(`delete from ${table} t using ${stage} s where ${on}`)).rowCount ?? 0;
            await dest.query(`truncate ${stage}`);
            return k;
          },
          (r) => keyNames.map((k, i) => [k, r[i]] as const),
        );
      }
      if (full.length) {
        const stage = full.length >= COPY_MIN_ROWS ? await this.stage(dest, b, 'upsert') : null;
        const list = names.map(quoteIdent).join(', ');
        n += await this.guard(
          dest,
          b,
          'insert or update',
          full,
          async (rs) => {
            if (!stage || rs.length < COPY_MIN_ROWS) return insertRows(dest, table, names, types, rs, conflict);
            await copyRows(dest, stage, names, rs);
            const k = (await dest.query(`insert into ${table} (${list}) select ${list} from ${stage}${conflict}`)).rowCount ?? 0;
            await dest.query(`truncate ${stage}`);
            return k;
          },
          whole,
          withNull,
        );
      }
      for (const [shape, rows] of partial) {
        const idx = [...shape].map((s, i) => (s === '1' ? i : -1)).filter((i) => i >= 0);
        const sent = idx.map((i) => cols[i].name);
        const sentTypes = idx.map((i) => cols[i].typeSql);
        n += await this.guard(dest, b, 'update', rows, (rs) => updateRows(dest, table, sent, sentTypes, keyNames, rs.map((r) => idx.map((i) => r[i]))), whole, withNull);
      }
      b.byKey.clear();
    }
    return n;
  }
}

/** The written columns' values of a change record. */
function pick(b: TableBatch, vals: readonly ChangeValue[]): ChangeValue[] {
  const out = new Array<ChangeValue>(b.columns.length);
  for (let i = 0; i < out.length; i++) out[i] = vals[b.columns[i].pos];
  return out;
}

function keyOf(b: TableBatch, vals: readonly ChangeValue[]): ChangeValue[] {
  const out = new Array<ChangeValue>(b.keyIdx.length);
  for (let i = 0; i < out.length; i++) out[i] = vals[b.keyIdx[i]];
  return out;
}

function isFullKey(key: readonly ChangeValue[]): key is string[] {
  for (const v of key) if (typeof v !== 'string') return false;
  return true;
}

/** A map key for a key's values (all text): the value itself for a one-column key. */
function keyId(key: readonly ChangeValue[]): string {
  return key.length === 1 ? (key[0] as string) : JSON.stringify(key);
}

/** `values` with each unchanged (unsent) value taken from `prev`. */
function overlay(values: readonly ChangeValue[], prev: readonly ChangeValue[]): ChangeValue[] {
  const out = values.slice();
  for (let i = 0; i < out.length; i++) if (out[i] === UNCHANGED) out[i] = prev[i];
  return out;
}

function pushByShape<T>(groups: Map<string, T[]>, values: readonly ChangeValue[], item: T): void {
  const shape = values.map((v) => (v === UNCHANGED ? '0' : '1')).join('');
  (groups.get(shape) ?? groups.set(shape, []).get(shape)!).push(item);
}

/** `COPY table (names) FROM STDIN` (text format) of `rows`; returns the rows copied. */
async function copyRows(dest: pg.Client, table: string, names: string[], rows: readonly ChangeValue[][]): Promise<number> {
  const stream = dest.query(copyFrom(`copy ${table} (${names.map(quoteIdent).join(', ')}) from stdin`));
  const done = new Promise<void>((resolve, reject) => {
    stream.on('finish', resolve);
    stream.on('error', reject);
  });
  done.catch(() => {});
  let piece: string[] = [];
  let bytes = 0;
  for (const r of rows) {
    const line = `${r.map(copyText).join('\t')}\n`;
    piece.push(line);
    bytes += line.length;
    if (bytes >= COPY_PIECE_BYTES) {
      if (!stream.write(piece.join(''))) await new Promise<void>((resolve, reject) => { stream.once('drain', resolve); done.catch(reject); });
      piece = [];
      bytes = 0;
    }
  }
  stream.end(piece.join(''));
  await done;
  return rows.length;
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

function insertRows(dest: pg.Client, table: string, names: string[], types: string[], rows: readonly ChangeValue[][], onConflict: string): Promise<number> {
  return inChunks(rows, names.length, async (chunk) => {
    const v = valuesList(chunk, types);
    const r = await dest.query(`insert into ${table} (${names.map(quoteIdent).join(', ')}) ${v.sql}${onConflict}`, v.params);
    return r.rowCount ?? 0;
  });
}

function deleteRows(dest: pg.Client, table: string, keys: string[], types: string[], rows: readonly ChangeValue[][]): Promise<number> {
  return inChunks(rows, keys.length, async (chunk) => {
    const v = valuesList(chunk, types);
    const on = keys.map((k) => `t.${quoteIdent(k)} = v.${quoteIdent(k)}`).join(' and ');
    const r = await dest.query(`delete from ${table} t using (${v.sql}) v(${keys.map(quoteIdent).join(', ')}) where ${on}`, v.params);
    return r.rowCount ?? 0;
  });
}

function updateRows(dest: pg.Client, table: string, names: string[], types: string[], keys: string[], rows: readonly ChangeValue[][]): Promise<number> {
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
  rows: ReadonlyArray<{ from: ChangeValue[]; values: ChangeValue[] }>,
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

/**
 * The stream's masks and validate rules over a change's values, in the list's order (`values`
 * masked in place): the first rule the change breaks — a non-unique rule, or `duplicate` (the
 * unique rule claimUnique found its value taken by) — with the masks after it not applied, and
 * each unique rule's value at its point of the list. A value not sent (unchanged
 * TOAST) is neither masked nor checked: the destination holds it as written before.
 */
function stepsOver(b: TableBatch, values: ChangeValue[], duplicate?: ActiveRule): { failed: ActiveRule | null; at: Map<ActiveStep, ChangeValue> } {
  const at = new Map<ActiveStep, ChangeValue>();
  for (const st of b.steps) {
    const v = values[st.idx];
    if (v === UNCHANGED) continue;
    if (st.kind === 'mask') values[st.idx] = mask(v, st.method, st.key);
    else if (st === duplicate) return { failed: st, at };
    else if ('unique' in st.check) at.set(st, v);
    else if (!check(st.check, v, st.re)) return { failed: st, at };
  }
  return { failed: null, at };
}
