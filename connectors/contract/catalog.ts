/**
 * A source table as discovery describes it (connectors/postgres/catalog.ts): columns with their
 * exact types, keys and size. The planner, the source's shard reads and the sink's prepare all
 * work from it. Types are PostgreSQL's (OIDs, typmods): both ends of every stream are PostgreSQL.
 */
import type { QualifiedName } from './qualified-name.js';

export interface ColumnInfo {
  name: string;
  attnum: number;
  typeOid: number;
  typmod: number;
  /** `format_type(atttypid, atttypmod)`: the exact type as the source database prints it. */
  typeName: string;
  notNull: boolean;
  generated: boolean;
  /** A virtual generated column (PostgreSQL 18+): computed when read, never stored or published. */
  generatedVirtual: boolean;
  /** A generated column's expression as the source prints it (`pg_get_expr`), else null. */
  generationExpr: string | null;
  identity: boolean;
  /** 'b' base, 'c' composite, 'd' domain, 'e' enum, 'p' pseudo, 'r' range, 'm' multirange. */
  typtype: string;
  /** 'A' for arrays. */
  typcategory: string;
  elemOid: number;
  typeSchema: string;
  typeBaseName: string;
  /** True for types defined outside pg_catalog/information_schema (or arrays of them). */
  userDefined: boolean;
  /**
   * False when the binary COPY form embeds type OIDs that differ between databases (arrays of
   * user-defined types, composites, records) or the type is an extension's: such tables use text COPY.
   */
  binaryPortable: boolean;
}

export interface TableInfo {
  name: QualifiedName;
  oid: number;
  relkind: string;
  columns: ColumnInfo[];
  primaryKey: string[];
  uniqueKeys: string[][];
  estimatedRows: number;
  relationBytes: number;
  totalBytes: number;
  blockSize: number;
}
