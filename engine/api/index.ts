/**
 * rb as a library: `import { run, check, discover, loadPipeline } from 'rb'` (package.json
 * `exports`; types in dist/types, emitted by the build). The CLI is built on these same
 * functions (engine/cli/*-command.ts print what they return). README "Using rb from Node".
 */
export { loadPipeline, parsePipeline, type LoadOptions, type PipelineInput } from './load.js';
export { run, exitCode, RUN_EVENT_KINDS, type FinishStep, type LifecycleEvent, type FinishStepTime, type PhaseEvent, type PlannedStream, type RunEvent, type RunOptions, type RunPhase, type RunResult, type StreamResult } from './run.js';
export { check, type CheckLine, type CheckOptions, type CheckResult } from './check.js';
export { discover, type DiscoveredTable, type DiscoverOptions, type DiscoverResult, type IncrementalRead } from './discover.js';
export type {
  Connection,
  DestinationConfig,
  PipelineConfig,
  ResourcesConfig,
  SourceConfig,
  StateConfig,
  StreamConfig,
  SyncMode,
  WriteMode,
} from '../config/index.js';
export { RbError, errorClass, ERROR_CLASSES, type ErrorClass, EXIT_CANCELLED, EXIT_CONFIG, EXIT_DATA, EXIT_DESTINATION, EXIT_INTERNAL, EXIT_OK, EXIT_SOURCE, type RbErrorCode } from '../errors.js';
