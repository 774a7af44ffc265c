/**
 * `loadPipeline` / `parsePipeline`: a pipeline file (or its text, or the same shape as an object)
 * validated into a `PipelineConfig` with every default filled in (engine/config/load.ts). Invalid
 * input throws one RbError (`code: 'config_invalid'`, exit 2) listing every problem with its line.
 */
import { stringify } from 'yaml';
import type { z } from 'zod';
import { loadPipelineConfig, parsePipelineConfig, type PipelineConfig, type PipelineConfigSchema } from '../config/index.js';
import type { Env } from '../config/index.js';

/**
 * A pipeline as written (the file's shape, before defaults): what `parsePipeline` takes as an
 * object. Values rb parses itself (byte sizes, parallelism, bounded numbers) are `unknown` here
 * and checked at run time with the file's messages.
 */
export type PipelineInput = z.input<typeof PipelineConfigSchema>;

export interface LoadOptions {
  /** Where `${VAR}` is looked up (default process.env). */
  env?: Env;
}

/** Reads and validates a pipeline file. */
export function loadPipeline(file: string, opts: LoadOptions = {}): PipelineConfig {
  return loadPipelineConfig(file, opts.env ?? process.env);
}

/**
 * Validates pipeline YAML text, or an object of the file's shape (written out as YAML first, so
 * messages name its keys and `${VAR}` is substituted alike). `fileName` only labels messages.
 */
export function parsePipeline(input: string | PipelineInput, opts: LoadOptions & { fileName?: string } = {}): PipelineConfig {
  const text = typeof input === 'string' ? input : stringify(input);
  return parsePipelineConfig(text, opts.fileName ?? 'pipeline.yaml', opts.env ?? process.env);
}
