export { configLocation, loadPipelineConfig, parsePipelineConfig } from './load.js';
export * from './schema.js';
export {
  connectionSummary,
  DEFAULT_DESTINATION_SCHEMA,
  DEFAULT_PORT,
  LOAD_METHODS,
  SSL_MODES,
  type Connection,
  type DestinationConnection,
  type EmbeddedConnection,
  type HostConnection,
  type LoadMethod,
  type SslMode,
  type UrlConnection,
} from './connection.js';
export { checkQualifiedName, DEFAULT_SCHEMA, formatQualifiedName, parseQualifiedName, type QualifiedName } from './identifiers.js';
export { BYTES_PER_GB, BYTES_PER_KB, BYTES_PER_MB, formatByteSize, parseByteSize } from './bytes.js';
export { substituteEnv, type Env } from './env.js';
export { parseParallelism, PARALLELISM_EXPECTED, type ParallelismSetting } from './schema-parts.js';
export { configError, formatIssueLine } from './errors.js';
export type { ConfigIssue, ConfigIssueKind } from './issues.js';
