/**
 * Reads the pipeline YAML into plain data while remembering where every value came from.
 *
 * `parseDocument` keeps the node tree with source ranges; one walk over it (1) substitutes
 * `${VAR}` in each string scalar (env.ts), (2) records an index from config path
 * (`source.streams[1].cursor_field`) to its key and value nodes, so that any later issue can be
 * pointed at a line and column: the offending value, or the mapping that lacks a key.
 */

import { isAlias, isMap, isScalar, isSeq, parseDocument, type Node, type Scalar, type ScalarTag } from 'yaml';
import { protectReferences, restoreReferences, substituteEnv, type Env } from './env.js';
import type { ConfigIssue, PathSegment, SourceLocation } from './issues.js';
import { formatPath } from './issues.js';

interface IndexEntry {
  key?: Node;
  value?: Node | null;
  /** The scalar's text was changed by `${VAR}` substitution (its source text is not its value). */
  substituted?: boolean;
}

export interface PipelineDocument {
  /** Plain data after substitution; undefined when the YAML itself is broken. */
  data: unknown;
  /** Syntax errors (the data is unusable) and substitution problems (missing / malformed vars). */
  issues: ConfigIssue[];
  syntaxFailed: boolean;
  /** Paths whose value is unknown because a variable was missing; issues below them are noise. */
  unresolvedPaths: string[];
  /** Where the value at `path` is, or the closest enclosing node that exists. `key` points at the key itself. */
  locate(path: readonly PathSegment[], at?: 'key' | 'value'): SourceLocation;
  /** The scalar's text as written (e.g. `1.0` for the number 1), unless it was substituted. */
  sourceText(path: readonly PathSegment[]): string | undefined;
}

export function readPipelineDocument(text: string, env: Env): PipelineDocument {
  const protectedText = protectReferences(text);
  const restore = protectedText === text ? (s: string) => s : restoreReferences;
  const lineStarts = computeLineStarts(text);
  const position = (offset: number): SourceLocation => positionOf(lineStarts, offset);

  // merge: `<<: *defaults` is common in hand-written configs (YAML 1.1 merge keys).
  const doc = parseDocument(protectedText, { prettyErrors: false, merge: true });
  const index = new Map<string, IndexEntry>();
  const issues: ConfigIssue[] = [];
  const unresolvedPaths: string[] = [];

  const locate = (path: readonly PathSegment[], at: 'key' | 'value' = 'value'): SourceLocation => {
    for (let depth = path.length; depth >= 0; depth--) {
      const entry = index.get(formatPath(path.slice(0, depth)));
      if (!entry) continue;
      const keyStart = entry.key?.range?.[0];
      const value = entry.value;
      const valueStart = value?.range && value.range[1] > value.range[0] ? value.range[0] : undefined;
      const offset = at === 'key' && depth === path.length ? (keyStart ?? valueStart) : (valueStart ?? keyStart);
      if (offset !== undefined) return position(offset);
    }
    return { line: 1, column: 1 };
  };

  const base = {
    issues,
    unresolvedPaths,
    locate,
    sourceText(path: readonly PathSegment[]): string | undefined {
      const entry = index.get(formatPath(path));
      if (!entry || entry.substituted || !isScalar(entry.value)) return undefined;
      const source = (entry.value as Scalar & { source?: unknown }).source;
      return typeof source === 'string' ? restore(source) : undefined;
    },
  };

  if (doc.errors.length > 0) {
    for (const error of doc.errors) {
      const { line, column } = position(error.pos[0]);
      const friendly = error.code === 'DUPLICATE_KEY' ? duplicateKeyMessage(text, error.pos[0]) : FRIENDLIER_YAML_ERRORS[error.code];
      const message = `YAML syntax error: ${friendly ?? restore(error.message)}`;
      issues.push({ kind: 'syntax', path: '', line, column, expected: 'valid YAML', found: error.code, message });
    }
    return { ...base, data: undefined, syntaxFailed: true };
  }

  const scalarTags = doc.schema.tags.filter((tag): tag is ScalarTag => !('collection' in tag && tag.collection) && tag.default === true && !!tag.test);

  // Scalars written without quotes that were built from variables get YAML's type resolution
  // after substitution, so `port: ${PGPORT}` is the number 5432 and not the string "5432".
  const resolvePlain = (value: string): unknown => {
    if (value === '') return value;
    const tag = scalarTags.find((t) => t.test!.test(value));
    return tag ? tag.resolve(value, () => undefined, {}) : value;
  };

  const substitute = (node: Scalar, path: PathSegment[], entry: IndexEntry) => {
    if (typeof node.value !== 'string') return;
    const raw = restore(node.value);
    const result = substituteEnv(raw, env);
    if (result.referenceCount === 0) {
      node.value = result.value; // only `$${` escapes, if anything, were rewritten
      return;
    }
    entry.substituted = true;
    const where = position(node.range?.[0] ?? 0);
    const pathText = formatPath(path);
    for (const name of result.missing) {
      issues.push({
        kind: 'missing_var',
        path: pathText,
        ...where,
        expected: `environment variable ${name} to be set`,
        found: 'not set',
        message: `environment variable ${name} is not set (set it, or write \${${name}:-default})`,
      });
    }
    for (const reference of result.malformed) {
      issues.push({
        kind: 'invalid',
        path: pathText,
        ...where,
        expected: '${NAME} or ${NAME:-default} (write $${ for a literal ${)',
        found: reference,
        message: `malformed variable reference ${reference}: expected \${NAME} or \${NAME:-default} (write $\${ for a literal \${)`,
      });
    }
    if (result.missing.length > 0 || result.malformed.length > 0) unresolvedPaths.push(pathText);
    node.value = node.type === 'PLAIN' && !node.tag ? resolvePlain(result.value) : result.value;
  };

  const walk = (node: Node | null | undefined, path: PathSegment[], key?: Node) => {
    const entry: IndexEntry = { key, value: node };
    index.set(formatPath(path), entry);
    if (isMap(node)) {
      for (const pair of node.items) {
        const keyNode = pair.key as Node | null;
        let keyText: string;
        if (isScalar(keyNode)) {
          if (typeof keyNode.value === 'string') keyNode.value = restore(keyNode.value);
          keyText = String(keyNode.value);
        } else {
          keyText = String(keyNode);
        }
        walk(pair.value as Node | null, [...path, keyText], keyNode ?? undefined);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item as Node | null, [...path, i]));
    } else if (isScalar(node)) {
      substitute(node, path, entry);
    } else if (isAlias(node) && !node.resolve(doc)) {
      const where = position(node.range?.[0] ?? 0);
      const message = `YAML syntax error: unknown alias *${node.source} (define the anchor &${node.source} before using it)`;
      issues.push({ kind: 'syntax', path: formatPath(path), ...where, expected: 'a defined anchor', found: `*${node.source}`, message });
    }
    // A resolvable alias is left alone: its anchored node is walked (and substituted) where it is defined.
  };
  walk(doc.contents as Node | null, []);
  if (issues.some((issue) => issue.kind === 'syntax')) return { ...base, data: undefined, syntaxFailed: true };

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    const { line, column } = position(0);
    const message = `YAML error: ${error instanceof Error ? error.message : String(error)}`;
    issues.push({ kind: 'syntax', path: '', line, column, expected: 'valid YAML', found: 'ALIAS_ERROR', message });
    return { ...base, data: undefined, syntaxFailed: true };
  }
  return { ...base, data, syntaxFailed: false };
}

/** Messages the yaml library words for programmers, reworded for people editing a pipeline file. */
const FRIENDLIER_YAML_ERRORS: Partial<Record<string, string>> = {
  MULTIPLE_DOCS: 'the file holds several YAML documents (separated by ---); a pipeline file holds one',
};

/** yaml points at the start of the repeated key; read the key's text from there. */
function duplicateKeyMessage(text: string, offset: number): string {
  const line = text.slice(offset).split('\n')[0];
  const key = /^(.*?)\s*:(?:\s|$)/.exec(line)?.[1];
  return key ? `the key ${key} appears twice in the same mapping` : 'a key appears twice in the same mapping';
}

function computeLineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

/** 1-based line and column (in UTF-16 code units, as editors using JS strings count). */
function positionOf(lineStarts: number[], offset: number): SourceLocation {
  let lo = 0;
  let hi = lineStarts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (lineStarts[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, column: offset - lineStarts[lo] + 1 };
}
