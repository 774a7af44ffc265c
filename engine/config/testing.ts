/**
 * Helpers for this folder's tests: a small valid pipeline whose line numbers the tests rely on,
 * and shortcuts to get the RbError (or its issues) a text produces.
 */

import { RbError } from '../errors.js';
import type { Env } from './env.js';
import type { ConfigIssue } from './issues.js';
import { parsePipelineConfig } from './load.js';
import type { PipelineConfig } from './schema.js';

/** Line numbers matter: tests replace a line by number and assert positions. */
export const BASE_YAML = [
  'version: "1.0"', // 1
  'pipeline: orders', // 2
  'source:', // 3
  '  use: postgres', // 4
  '  config:', // 5
  '    url: postgres://app@src:5432/shop', // 6
  '  streams:', // 7
  '    - name: public.orders', // 8
  '      sync_mode: full_refresh', // 9
  'destination:', // 10
  '  use: postgres', // 11
  '  config:', // 12
  '    url: postgres://app@dst:5432/warehouse', // 13
  '  write_mode: append', // 14
  'resources:', // 15
  '  parallelism: auto', // 16
].join('\n');

/** BASE_YAML with line `lineNo` (1-based) replaced by `text` (which may span several lines). */
export function withLine(lineNo: number, text: string, base = BASE_YAML): string {
  const lines = base.split('\n');
  lines[lineNo - 1] = text;
  return lines.join('\n');
}

/** BASE_YAML with lines inserted after line `lineNo`. */
export function afterLine(lineNo: number, text: string, base = BASE_YAML): string {
  const lines = base.split('\n');
  lines.splice(lineNo, 0, text);
  return lines.join('\n');
}

export function parseOk(text: string, env: Env = {}): PipelineConfig {
  return parsePipelineConfig(text, 'pipeline.yaml', env);
}

export function configErrorOf(text: string, env: Env = {}): RbError {
  try {
    parsePipelineConfig(text, 'pipeline.yaml', env);
  } catch (error) {
    if (error instanceof RbError) return error;
    throw error;
  }
  throw new Error('expected the configuration to be rejected');
}

export function issuesOf(text: string, env: Env = {}): ConfigIssue[] {
  return (configErrorOf(text, env).details?.issues ?? []) as ConfigIssue[];
}

/** The printed lines of the error a text produces. */
export function messageLinesOf(text: string, env: Env = {}): string[] {
  return configErrorOf(text, env).message.split('\n');
}
