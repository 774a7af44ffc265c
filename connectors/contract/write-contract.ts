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
}
