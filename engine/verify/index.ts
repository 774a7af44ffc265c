export { compareTables, type ColumnComparison, type TableComparison, type TablePair } from './compare-tables.js';
export { formatComparison } from './format-comparison.js';
export { quickChecksum, sameQuickChecksum, type QuickChecksum, type QuickChecksumOptions } from './quick-checksum.js';
export { type PgTarget } from './session.js';
export { loadFixture, runVerifySql, scenarioPath, type LoadFixtureOptions, type VerifyCheck } from './fixtures.js';
export { firstBlockComment, splitSqlStatements } from './split-sql.js';
