/**
 * The immutable contract between the leader (which prepares a stream's destination once) and the
 * workers (which only write). Plain data, so it crosses into worker threads by structured clone.
 */
import type { CopyFormat, LoadMethod, WriteMode } from './domain.js';
import type { QualifiedName } from './qualified-name.js';

export interface ContractColumn {
  name: string;
  /** Source type OID: decides the columnar codec (binary values are the source's send format). */
  sourceTypeOid: number;
  /** The destination column's SQL type. */
  typeSql: string;
}

export interface WriteContract {
  stream: string;
  target: QualifiedName;
  /** Where workers write: the target (append) or a staging table (replace, upsert). */
  writeTable: QualifiedName;
  /** Staging table for replace/upsert, dropped by finalize or cleanup. */
  staging: QualifiedName | null;
  /** True when the target did not exist before this run (replace renames staging into place). */
  targetCreated: boolean;
  columns: ContractColumn[];
  writeMode: WriteMode;
  /** Key for upsert (and the primary key given to tables rb creates). */
  key: string[];
  /** COPY format for the whole table: text when any column's binary form is not portable. */
  format: CopyFormat;
  loadMethod: LoadMethod;
  /** What prepare did about differences between the source and an existing target (schema_evolution). */
  schemaChanges?: SchemaChange[];
  /** `type_change: null`: columns whose values are written as NULL when the destination's type does not take them. */
  nullOnMisfit?: string[];
}

/** One schema_evolution decision, reported in the run's summary and `--json` (`schema_changes`). */
export interface SchemaChange {
  column: string;
  change: 'added' | 'not_written' | 'left_unwritten' | 'widened' | 'coerced' | 'null_when_not_fitting' | 'nullability_differs';
  /** The policy that decided, e.g. `new_column: add`. */
  policy: string;
  /** Source and destination types (type changes), or what differs. */
  source?: string;
  destination?: string;
}
