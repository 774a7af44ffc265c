import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT_CONFIG, RbError } from '../errors.js';
import { loadPipelineConfig, parsePipelineConfig } from './load.js';
import { BASE_YAML, configErrorOf, issuesOf, parseOk } from './testing.js';

/**
 * The configuration reference example (docs/design.md section 10), with the stream incremental
 * (its cursor fields mean nothing on a full_refresh stream): the original form is refused, see below.
 */
const DESIGN_EXAMPLE = `version: "1.0"
pipeline: orders_to_warehouse
source:
  use: postgres
  config: { url: \${SRC_URL} }            # or host/port/user/password/database/sslmode; or embedded: true
  streams:
    - name: public.orders                # schema-qualified or not (default schema public)
      sync_mode: incremental             # full_refresh | incremental | cdc
      cursor_field: updated_at           # incremental
      tie_breaker_field: id              # optional
      partition_key: id                  # optional; full_refresh
      columns: [id, customer_id, total, updated_at]   # projection pushdown
transforms: []
destination:
  use: postgres
  config: { url: \${DST_URL}, schema: raw, load_method: copy }   # copy | insert
  write_mode: upsert                     # append | replace | upsert
  primary_key: [id]
  on_data_error: fail
  schema_evolution: { new_column: add, type_change: coerce }
state: { schema: _rb }
resources:
  parallelism: auto                      # auto | N >= 1
  max_inflight_batches: 16               # >= 1
  max_batch_bytes: 64mb
  checkpoint_interval_bytes: 64mb
  checkpoint_interval_rows: 0
  checkpoint_interval_seconds: 0
  max_retries: 3
`;

const ENV = { SRC_URL: 'postgres://reader:r3ad@src.example:5432/shop', DST_URL: 'postgresql://writer@dst.example/warehouse' };

describe('parsePipelineConfig', () => {
  it('parses the DESIGN section 10 example with every default filled in', () => {
    expect(parsePipelineConfig(DESIGN_EXAMPLE, 'pipeline.yaml', ENV)).toEqual({
      version: '1.0',
      pipeline: 'orders_to_warehouse',
      source: {
        use: 'postgres',
        config: { kind: 'url', url: 'postgres://reader:r3ad@src.example:5432/shop' },
        streams: [
          {
            name: 'public.orders',
            sync_mode: 'incremental',
            cursor_field: 'updated_at',
            tie_breaker_field: 'id',
            partition_key: 'id',
            columns: ['id', 'customer_id', 'total', 'updated_at'],
          },
        ],
      },
      transforms: [],
      destination: {
        use: 'postgres',
        config: { kind: 'url', url: 'postgresql://writer@dst.example/warehouse', schema: 'raw', load_method: 'copy' },
        write_mode: 'upsert',
        primary_key: ['id'],
        on_data_error: 'fail',
        schema_evolution: { new_column: 'add', removed_column: 'ignore', type_change: 'coerce', nullability_change: 'allow' },
      },
      state: { schema: '_rb' },
      resources: {
        parallelism: 'auto',
        max_inflight_batches: 16,
        max_batch_bytes: 67108864,
        checkpoint_interval_bytes: 67108864,
        checkpoint_interval_rows: 0,
        checkpoint_interval_seconds: 0,
        max_retries: 3,
      },
    });
  });

  it('refuses the example with cursor fields on a full_refresh stream, naming each (its on_data_error dlq is fine)', () => {
    const text = DESIGN_EXAMPLE.replace('sync_mode: incremental ', 'sync_mode: full_refresh').replace('on_data_error: fail', 'on_data_error: dlq');
    expect(configErrorOf(text, ENV).message.split('\n')).toEqual([
      'pipeline.yaml:9:21 source.streams[0].cursor_field: applies only to sync_mode incremental (this stream is full_refresh); remove it or set sync_mode: incremental',
      'pipeline.yaml:10:26 source.streams[0].tie_breaker_field: applies only to sync_mode incremental (this stream is full_refresh); remove it or set sync_mode: incremental',
    ]);
  });

  it('fills defaults for a minimal file', () => {
    const config = parseOk(
      'version: "1.0"\npipeline: p\nsource: { use: postgres, config: { embedded: true }, streams: [{ name: t }] }\ndestination: { use: postgres, config: { embedded: true } }\n',
    );
    expect(config.transforms).toEqual([]);
    expect(config.state.schema).toBe('_rb');
    expect(config.source.streams[0]).toEqual({ name: 't', sync_mode: 'full_refresh' });
    expect(config.destination).toMatchObject({ write_mode: 'append', on_data_error: 'fail', config: { schema: 'public', load_method: 'copy' } });
    expect(config.resources.parallelism).toBe('auto');
  });

  it('reports every problem of a file at once, sorted by position, one line each', () => {
    const text = `version: 1
pipeline: orders
source:
  use: postgres
  config: { url: "postgres://a:pw@h/db", host: h }
  streams:
    - name: public.orders
      colums: [id]
    - name: public.items
      sync_mode: incremental
destination:
  use: postgres
  config: { url: \${DST_URL} }
  write_mode: upsert
resources:
  parallelism: 0
  max_batch_bytes: 10kb
`;
    const error = configErrorOf(text);
    expect(error.code).toBe('config_invalid');
    expect(error.exitCode).toBe(EXIT_CONFIG);
    expect(error.message.split('\n')).toEqual([
      'pipeline.yaml:1:10 version: expected "1.0" (a quoted string), found 1',
      'pipeline.yaml:5:48 source.config.host: host cannot be combined with url (use exactly one of url, host or embedded: true)',
      'pipeline.yaml:8:7 source.streams[0].colums: unknown key; did you mean "columns"? (expected one of name, sync_mode, cursor_field, tie_breaker_field, partition_key, columns, primary_key)',
      'pipeline.yaml:9:7 source.streams[1].cursor_field: required when sync_mode is incremental',
      'pipeline.yaml:12:3 destination.primary_key: required when write_mode is upsert (or give every stream its own primary_key)',
      'pipeline.yaml:13:18 destination.config.url: environment variable DST_URL is not set (set it, or write ${DST_URL:-default})',
      'pipeline.yaml:16:16 resources.parallelism: expected "auto" or an integer >= 1, found 0',
      'pipeline.yaml:17:20 resources.max_batch_bytes: expected a byte size from 64kb to 1gb (like 64mb, 512kb, 1gb or a number of bytes), found "10kb"',
    ]);
    const issues = issuesOf(text);
    expect(issues).toHaveLength(8);
    expect(error.details).toMatchObject({ file: 'pipeline.yaml' });
    for (const issue of issues) expect(Object.keys(issue).sort()).toEqual(['column', 'expected', 'found', 'kind', 'line', 'message', 'path']);
  });

  it('points at the mapping that lacks a required key', () => {
    const text = BASE_YAML.replace('  use: postgres\n  config:\n    url: postgres://app@dst', '  config:\n    url: postgres://app@dst');
    expect(configErrorOf(text).message).toBe('pipeline.yaml:11:3 destination.use: missing (expected "postgres")');
  });

  it('rejects a file that is not a mapping', () => {
    expect(configErrorOf('').message).toBe(
      'pipeline.yaml:1:1 expected a mapping with version, pipeline, source and destination, found an empty value',
    );
    expect(configErrorOf('- a\n- b\n').message).toBe(
      'pipeline.yaml:1:1 expected a mapping with version, pipeline, source and destination, found a list of 2 items',
    );
  });

  it('supports anchors, aliases and merge keys', () => {
    const text = `${BASE_YAML.replace('    - name: public.orders\n      sync_mode: full_refresh', [
      '    - &incremental',
      '      name: public.orders',
      '      sync_mode: incremental',
      '      cursor_field: updated_at',
      '    - <<: *incremental',
      '      name: public.items',
    ].join('\n'))}`;
    const config = parseOk(text);
    expect(config.source.streams[1]).toEqual({ name: 'public.items', sync_mode: 'incremental', cursor_field: 'updated_at' });
  });
});

describe('YAML syntax errors', () => {
  it('are config_parse errors with the line and column of the yaml library', () => {
    const error = configErrorOf('version: "1.0"\npipeline: x\nsource: { use: postgres\ndestination: {}\n');
    expect(error.code).toBe('config_parse');
    expect(error.exitCode).toBe(EXIT_CONFIG);
    expect(error.message).toMatch(/^pipeline\.yaml:\d+:\d+ YAML syntax error: /);
    expect(issuesOf('x: "unterminated')[0]).toMatchObject({ kind: 'syntax', line: 1, column: 17, expected: 'valid YAML', found: 'MISSING_CHAR' });
  });

  it('report tabs used for indentation at their position', () => {
    expect(configErrorOf('version: "1.0"\n\tpipeline: x\n').message).toBe(
      'pipeline.yaml:2:1 YAML syntax error: Tabs are not allowed as indentation',
    );
  });

  it('name a duplicate key', () => {
    expect(configErrorOf(`${BASE_YAML}\npipeline: again`).message).toBe(
      'pipeline.yaml:17:1 YAML syntax error: the key pipeline appears twice in the same mapping',
    );
  });

  it('refuse several documents in one file', () => {
    expect(configErrorOf(`${BASE_YAML}\n---\na: 1`).message).toBe(
      'pipeline.yaml:17:1 YAML syntax error: the file holds several YAML documents (separated by ---); a pipeline file holds one',
    );
  });

  it('name an unknown alias', () => {
    expect(configErrorOf(`${BASE_YAML.replace('parallelism: auto', 'parallelism: *p')}`).message).toBe(
      'pipeline.yaml:16:16 resources.parallelism: YAML syntax error: unknown alias *p (define the anchor &p before using it)',
    );
  });
});

describe('loadPipelineConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file and substitutes from the given env', () => {
    const file = join(dir, 'pipeline.yaml');
    writeFileSync(file, DESIGN_EXAMPLE);
    expect(loadPipelineConfig(file, ENV).destination.config).toMatchObject({ kind: 'url', schema: 'raw' });
  });

  it('names the file as given in messages', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, BASE_YAML.replace('parallelism: auto', 'parallelism: many'));
    expect(() => loadPipelineConfig(file, {})).toThrow(`${file}:16:16 resources.parallelism: expected "auto" or an integer >= 1, found "many"`);
  });

  it('reports a missing file as a usage error', () => {
    const file = join(dir, 'nope.yaml');
    let error: unknown;
    try {
      loadPipelineConfig(file, {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RbError);
    expect((error as RbError).code).toBe('usage');
    expect((error as RbError).message).toBe(`cannot read pipeline file ${file}: no such file`);
  });
});
