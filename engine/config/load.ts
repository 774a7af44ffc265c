/**
 * Entry points: read, substitute, validate, and either return the config with every default
 * filled in or throw one RbError listing every problem in the file (errors.ts).
 */

import { readFileSync } from 'node:fs';
import { RbError } from '../errors.js';
import { readPipelineDocument } from './document.js';
import type { Env } from './env.js';
import { collectSecrets, configError } from './errors.js';
import { fromZodIssue, type ConfigIssue, type PathSegment } from './issues.js';
import { PipelineConfigSchema, type PipelineConfig } from './schema.js';

/**
 * Validates pipeline YAML text. `fileName` only labels the messages.
 *
 * @example
 *   const config = parsePipelineConfig(text, 'pipeline.yaml', { SRC_URL: 'postgres://…' });
 *   config.resources.max_batch_bytes // 67108864 when not set
 */
export function parsePipelineConfig(text: string, fileName = 'pipeline.yaml', env: Env = process.env): PipelineConfig {
  const doc = readPipelineDocument(text, env);
  if (doc.syntaxFailed) throw configError(fileName, doc.issues);

  const secrets = collectSecrets(doc.data);
  const result = PipelineConfigSchema.safeParse(doc.data);
  const issues: ConfigIssue[] = [...doc.issues];
  if (!result.success) {
    const context = { data: doc.data, schema: PipelineConfigSchema, secrets, locate: doc.locate, sourceText: doc.sourceText };
    // A value built from a missing variable is not what the user wrote: its own complaints
    // would only be noise next to "environment variable X is not set".
    const unresolved = (path: string) => doc.unresolvedPaths.some((p) => path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`));
    for (const zodIssue of result.error.issues) {
      for (const issue of fromZodIssue(zodIssue, context)) if (!unresolved(issue.path)) issues.push(issue);
    }
  }
  if (issues.length > 0 || !result.success) throw configError(fileName, issues, secrets);
  LOCATIONS.set(result.data, (path) => {
    const at = doc.locate(path);
    return `${fileName}:${at.line}:${at.column}`;
  });
  return result.data;
}

/** Where each validated config's values are in its file, for errors found later (planning). */
const LOCATIONS = new WeakMap<PipelineConfig, (path: readonly PathSegment[]) => string>();

/**
 * `file:line:column` of the value at `path` in the file `config` was read from (the closest
 * enclosing value that exists), or undefined for a config not read by parsePipelineConfig.
 */
export function configLocation(config: PipelineConfig, path: readonly PathSegment[]): string | undefined {
  return LOCATIONS.get(config)?.(path);
}

/**
 * Reads and validates a pipeline file. Messages name the file as given in `path`.
 *
 * @example const config = loadPipelineConfig('pipeline.yaml');
 */
export function loadPipelineConfig(path: string, env: Env = process.env): PipelineConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new RbError('usage', `cannot read pipeline file ${path}: ${reason}`, { cause: error });
  }
  return parsePipelineConfig(text, path, env);
}
