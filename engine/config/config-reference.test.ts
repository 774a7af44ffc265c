/**
 * docs/config.md against the zod schema: every key the schema accepts is documented (and nothing
 * else), each entry has its type, default, modes and example, a stated default is the schema's,
 * an example validates, enum values are all listed, and "Not available yet" lists exactly the
 * values rb refuses as not available. README's option section points to docs/config.md.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { repoPath } from '../paths.js';
import { NOT_YET } from './availability.js';
import { PipelineConfigSchema } from './schema.js';

type Schema = z.ZodType;
interface SchemaKey {
  path: string;
  /** The schema as the parent declares it (with its optional/default wrapper). */
  schema: Schema;
  container: boolean;
}

const defOf = (s: Schema) => (s as unknown as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;

/** Strips optional/default/prefault/nullable, and for a pipe (transform, preprocess) takes its input side. */
function unwrap(s: Schema): Schema {
  const def = defOf(s);
  if (['optional', 'default', 'prefault', 'nullable'].includes(def.type)) return unwrap(def.innerType as Schema);
  if (def.type === 'pipe') {
    const input = def.in as Schema;
    // z.preprocess puts a transform in front of the real schema.
    return defOf(input).type === 'transform' ? unwrap(def.out as Schema) : unwrap(input);
  }
  return s;
}

function walkSchema(s: Schema, prefix: string, out: SchemaKey[]): void {
  const inner = unwrap(s);
  const def = defOf(inner);
  if (def.type === 'object') {
    for (const [key, child] of Object.entries(def.shape as Record<string, Schema>)) {
      const path = prefix ? `${prefix}.${key}` : key;
      const childInner = defOf(unwrap(child));
      out.push({ path, schema: child, container: childInner.type === 'object' || childInner.type === 'array' });
      walkSchema(child, path, out);
    }
  } else if (def.type === 'array') {
    walkSchema(def.element as Schema, `${prefix}[]`, out);
  }
}

function enumValues(s: Schema): string[] | undefined {
  const def = defOf(unwrap(s));
  return def.type === 'enum' ? Object.values(def.entries as Record<string, string>) : undefined;
}

/** Strips only optional/default/prefault: what a value written in the file is parsed with. */
function valueSchema(s: Schema): Schema {
  const def = defOf(s);
  return ['optional', 'default', 'prefault', 'nullable'].includes(def.type) ? valueSchema(def.innerType as Schema) : s;
}

/** The schema's own default: `.default(x)` or `.prefault(x)` (the latter parsed through the inner schema). */
function schemaDefault(s: Schema): { kind: 'default' | 'prefault'; value: unknown } | undefined {
  let cur = s;
  for (;;) {
    const def = defOf(cur);
    if (def.type === 'default') return { kind: 'default', value: def.defaultValue };
    if (def.type === 'prefault') return { kind: 'prefault', value: (def.innerType as Schema).parse(def.defaultValue) };
    if (def.type === 'optional' || def.type === 'nullable') cur = def.innerType as Schema;
    else return undefined;
  }
}

interface DocEntry {
  keys: string[];
  fields: Map<string, string>;
}

function readReference(): DocEntry[] {
  const text = readFileSync(repoPath('docs/config.md'), 'utf8');
  const entries: DocEntry[] = [];
  let current: DocEntry | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('### ')) {
      current = { keys: [...line.matchAll(/`([^`]+)`/g)].map((m) => m[1]), fields: new Map() };
      entries.push(current);
      continue;
    }
    const field = /^- \*\*([A-Za-z ]+):\*\* (.*)$/.exec(line);
    if (field && current) current.fields.set(field[1], field[2]);
  }
  return entries;
}

const firstCode = (text: string | undefined) => (text ? /^`([^`]+)`/.exec(text)?.[1] : undefined);
const codeSpans = (text: string) => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]);

/** A small valid pipeline as data; `probe` sets one key (`[]` = the first element) to a value. */
function baseConfig(): Record<string, any> {
  return {
    version: '1.0',
    pipeline: 'p',
    source: { use: 'postgres', config: { url: 'postgres://app@src:5432/shop' }, streams: [{ name: 'public.orders' }] },
    destination: { use: 'postgres', config: { url: 'postgres://app@dst:5432/wh' }, write_mode: 'append' },
  };
}

function probe(path: string, value: unknown): z.core.$ZodIssue[] {
  const config = baseConfig();
  const segments = path.replace(/\[\]/g, '.0').split('.');
  let node: any = config;
  segments.slice(0, -1).forEach((seg, i) => {
    const nextIsIndex = segments[i + 1] === '0';
    node[seg] ??= nextIsIndex ? [] : {};
    node = node[seg];
  });
  node[segments[segments.length - 1]] = value;
  const result = PipelineConfigSchema.safeParse(config);
  return result.success ? [] : result.error.issues;
}

/** Values of an enum key that rb refuses as "not available yet" (an issue at the key or its element). */
function refusedValues(key: SchemaKey, values: string[]): string[] {
  const at = key.path.replace(/\[\]/g, '.0');
  const parent = at.split('.').slice(0, -1).join('.');
  return values.filter((v) =>
    probe(key.path, v).some((issue) => {
      const p = issue.path.join('.');
      return (p === at || p === parent) && issue.message.includes(NOT_YET);
    }),
  );
}

const schemaKeys: SchemaKey[] = [];
walkSchema(PipelineConfigSchema, '', schemaKeys);
const entries = readReference();
const documented = new Map<string, DocEntry>();
for (const entry of entries) for (const key of entry.keys) documented.set(key, entry);

describe('docs/config.md', () => {
  it('documents every key of the schema, and only those', () => {
    const inSchema = schemaKeys.map((k) => k.path);
    expect(inSchema.length).toBeGreaterThan(40);
    expect(inSchema.filter((k) => !documented.has(k)), 'keys missing from docs/config.md').toEqual([]);
    expect([...documented.keys()].filter((k) => !inSchema.includes(k)), 'documented keys the schema does not accept').toEqual([]);
  });

  it('gives every key a type, a default, its modes and an example', () => {
    const incomplete = schemaKeys
      .filter((k) => ['Type', 'Default', 'Modes', 'Example'].some((f) => !documented.get(k.path)?.fields.get(f)))
      .map((k) => k.path);
    expect(incomplete).toEqual([]);
  });

  it("states each default as the schema's default", () => {
    const wrong: string[] = [];
    for (const key of schemaKeys) {
      const own = schemaDefault(key.schema);
      if (!own) continue;
      const stated = firstCode(documented.get(key.path)?.fields.get('Default'));
      if (stated === undefined) {
        if (own.kind === 'default') wrong.push(`${key.path}: no value in backticks first on its Default line`);
        continue;
      }
      const value = parseYaml(stated);
      const parsed = valueSchema(key.schema).safeParse(value);
      // A default that may not be written explicitly (every value not available yet) is compared as written.
      const notYet = codeSpans(documented.get(key.path)?.fields.get('Not available yet') ?? '');
      const actual = parsed.success ? parsed.data : notYet.includes(String(value)) ? value : undefined;
      const expected = own.value;
      if (JSON.stringify(actual) !== JSON.stringify(expected)) {
        wrong.push(`${key.path}: docs say ${stated}, the schema's default is ${JSON.stringify(expected)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('has examples that validate (or use a value it lists as not available yet)', () => {
    const wrong: string[] = [];
    for (const key of schemaKeys) {
      const entry = documented.get(key.path);
      const example = firstCode(entry?.fields.get('Example'));
      if (!entry || example === undefined) continue;
      let yaml: unknown;
      try {
        yaml = parseYaml(example);
      } catch (e) {
        wrong.push(`${key.path}: example is not YAML: ${(e as Error).message}`);
        continue;
      }
      if (key.container) continue; // a fragment of a larger file; the complete file below is validated whole
      const leaf = key.path.split('.').pop()!.replace(/\[\]$/, '');
      if (typeof yaml !== 'object' || yaml === null || !(leaf in yaml)) {
        wrong.push(`${key.path}: example ${example} does not set ${leaf}`);
        continue;
      }
      const value = (yaml as Record<string, unknown>)[leaf];
      const notYet = codeSpans(entry.fields.get('Not available yet') ?? '');
      if (!key.schema.safeParse(value).success && !notYet.includes(String(value))) wrong.push(`${key.path}: example value ${JSON.stringify(value)} is refused by the schema`);
    }
    expect(wrong).toEqual([]);
  });

  it('lists every value of each enum key', () => {
    const missing: string[] = [];
    for (const key of schemaKeys) {
      const values = enumValues(key.schema);
      if (!values) continue;
      const listed = codeSpans(documented.get(key.path)?.fields.get('Type') ?? '');
      for (const v of values) if (!listed.includes(v)) missing.push(`${key.path}: ${v}`);
    }
    expect(missing).toEqual([]);
  });

  it('lists as "Not available yet" exactly the values rb refuses as not available', () => {
    const wrong: string[] = [];
    let refusedSomewhere = 0;
    for (const key of schemaKeys) {
      const values = enumValues(key.schema);
      if (!values) continue;
      const refused = refusedValues(key, values);
      refusedSomewhere += refused.length;
      const listed = codeSpans(documented.get(key.path)?.fields.get('Not available yet') ?? '');
      if (JSON.stringify([...listed].sort()) !== JSON.stringify([...refused].sort())) {
        wrong.push(`${key.path}: docs list [${listed.join(', ')}], rb refuses [${refused.join(', ')}]`);
      }
    }
    expect(wrong).toEqual([]);
    // No enum value of a full-refresh pipeline is refused any more (what is left is refused for cdc
    // pipelines only, documented in each key's Modes); the probe itself still sees refusals.
    expect(refusedSomewhere).toBe(0);
    expect(probe('destination.on_data_error', 'nonsense').length).toBeGreaterThan(0);
  });

  it('opens with a complete file that validates', () => {
    const text = readFileSync(repoPath('docs/config.md'), 'utf8');
    const block = /```yaml\n([\s\S]*?)```/.exec(text)?.[1];
    expect(block).toBeDefined();
    const result = PipelineConfigSchema.safeParse(parseYaml(block!));
    expect(result.success, JSON.stringify(result.error?.issues)).toBe(true);
  });

  it('is where README sends readers for the options (no second list to drift)', () => {
    const readme = readFileSync(repoPath('README.md'), 'utf8');
    const section = /### Every option the pipeline file accepts\n([\s\S]*?)\n###? /.exec(readme)?.[1];
    expect(section).toBeDefined();
    expect(section).toContain('(docs/config.md)');
    expect(section!.split('\n').filter((l) => l.startsWith('| `'))).toEqual([]);
  });
});
