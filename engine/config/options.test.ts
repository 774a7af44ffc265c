/**
 * One test per option of the pipeline YAML, asserting the printed line (path, line, column,
 * expected, found) — BASE_YAML's line numbers are listed in testing.ts.
 */
import { describe, expect, it } from 'vitest';
import { afterLine, BASE_YAML, configErrorOf, issuesOf, parseOk, withLine } from './testing.js';

/** BASE_YAML plus one line under `resources:` (it becomes line 17). */
function resource(line: string): string {
  return `${BASE_YAML}\n  ${line}`;
}

/** BASE_YAML with a second stream (its mapping starts at line 10, column 7). */
function secondStream(...lines: string[]): string {
  return afterLine(9, [`    - ${lines[0]}`, ...lines.slice(1).map((l) => `      ${l}`)].join('\n'));
}

function errorLine(text: string): string {
  return configErrorOf(text).message;
}

describe('version', () => {
  it('must be the string "1.0"', () => {
    expect(errorLine(withLine(1, 'version: "2.0"'))).toBe('pipeline.yaml:1:10 version: expected "1.0", found "2.0"');
  });
  it('says to quote it when written as a number', () => {
    expect(errorLine(withLine(1, 'version: 1.0'))).toBe('pipeline.yaml:1:10 version: expected "1.0" (a quoted string), found 1.0');
  });
  it('is required', () => {
    expect(errorLine(withLine(1, '# no version'))).toBe('pipeline.yaml:2:1 version: missing (expected "1.0")');
  });
});

describe('pipeline', () => {
  it('accepts letters, digits, _ and -', () => {
    expect(parseOk(withLine(2, 'pipeline: _Orders-2_wh')).pipeline).toBe('_Orders-2_wh');
  });
  it('rejects a name starting with a digit or containing other characters', () => {
    const expected = 'a name of letters, digits, _ and -, starting with a letter or _';
    expect(errorLine(withLine(2, 'pipeline: 2orders'))).toBe(`pipeline.yaml:2:11 pipeline: expected ${expected}, found "2orders"`);
    expect(errorLine(withLine(2, 'pipeline: my pipeline'))).toBe(`pipeline.yaml:2:11 pipeline: expected ${expected}, found "my pipeline"`);
  });
  it('rejects an empty name', () => {
    expect(errorLine(withLine(2, 'pipeline: ""'))).toContain('pipeline.yaml:2:11 pipeline: expected a name of letters');
  });
});

describe('source', () => {
  it('use must be postgres', () => {
    expect(errorLine(withLine(4, '  use: mysql'))).toBe('pipeline.yaml:4:8 source.use: expected "postgres", found "mysql"');
  });
  it('needs at least one stream', () => {
    const text = withLine(9, '', withLine(8, '', withLine(7, '  streams: []')));
    expect(errorLine(text)).toBe('pipeline.yaml:7:12 source.streams: expected at least 1 item, found an empty list');
  });
  it('reports a missing source at the top-level mapping', () => {
    const text = BASE_YAML.split('\n').filter((_, i) => i < 2 || i > 8).join('\n');
    expect(errorLine(text)).toBe('pipeline.yaml:1:1 source: missing (expected a mapping)');
  });
});

describe('source.streams[].name', () => {
  it('is required', () => {
    expect(errorLine(secondStream('sync_mode: full_refresh'))).toBe('pipeline.yaml:10:7 source.streams[1].name: missing (expected a string)');
  });
  it('accepts quoted identifiers', () => {
    const config = parseOk(withLine(8, `    - name: '"My Schema"."Odd ""Table"""'`));
    expect(config.source.streams[0].name).toBe('"My Schema"."Odd ""Table"""');
  });
  it('must be table or schema.table', () => {
    expect(errorLine(withLine(8, '    - name: db.public.orders'))).toBe(
      'pipeline.yaml:8:13 source.streams[0].name: not a valid table name: has 3 parts; expected table or schema.table',
    );
  });
  it('must be unique, comparing the bare name with public.name', () => {
    expect(errorLine(secondStream('name: orders'))).toBe(
      'pipeline.yaml:10:13 source.streams[1].name: duplicate stream: public.orders is already streams[0]',
    );
  });
});

describe('source.streams[].sync_mode', () => {
  it('defaults to full_refresh', () => {
    expect(parseOk(withLine(9, '')).source.streams[0].sync_mode).toBe('full_refresh');
  });
  it('is one of full_refresh, incremental, cdc', () => {
    expect(errorLine(withLine(9, '      sync_mode: snapshot'))).toBe(
      'pipeline.yaml:9:18 source.streams[0].sync_mode: expected one of full_refresh, incremental, cdc, found "snapshot"',
    );
  });
});

describe('source.streams[].cursor_field', () => {
  it('is required when sync_mode is incremental, reported at the stream', () => {
    const text = secondStream('name: public.items', 'sync_mode: incremental');
    expect(errorLine(text)).toBe('pipeline.yaml:10:7 source.streams[1].cursor_field: required when sync_mode is incremental');
    expect(issuesOf(text)[0]).toEqual({
      kind: 'invalid',
      path: 'source.streams[1].cursor_field',
      line: 10,
      column: 7,
      expected: 'a cursor column name',
      found: 'nothing',
      message: 'required when sync_mode is incremental',
    });
  });
  it('is kept with tie_breaker_field for incremental streams', () => {
    const text = secondStream('name: public.items', 'sync_mode: incremental', 'cursor_field: updated_at', 'tie_breaker_field: id');
    expect(parseOk(text).source.streams[1]).toEqual({
      name: 'public.items',
      sync_mode: 'incremental',
      cursor_field: 'updated_at',
      tie_breaker_field: 'id',
    });
  });
});

describe('source.streams[].tie_breaker_field and partition_key', () => {
  it('must be column names', () => {
    expect(errorLine(afterLine(9, '      partition_key: [id, x]'))).toBe(
      'pipeline.yaml:10:22 source.streams[0].partition_key: expected a string, found a list of 2 items',
    );
    expect(errorLine(afterLine(9, '      tie_breaker_field: ""'))).toBe(
      'pipeline.yaml:10:26 source.streams[0].tie_breaker_field: expected a non-empty string, found ""',
    );
  });
});

describe('source.streams[].columns', () => {
  it('is a non-empty list', () => {
    expect(errorLine(afterLine(9, '      columns: []'))).toBe(
      'pipeline.yaml:10:16 source.streams[0].columns: expected at least 1 item, found an empty list',
    );
  });
  it('has unique names', () => {
    expect(errorLine(afterLine(9, '      columns: [id, total, id]'))).toBe(
      'pipeline.yaml:10:28 source.streams[0].columns[2]: duplicate column "id" (already at [0])',
    );
  });
  it('has string names', () => {
    expect(errorLine(afterLine(9, '      columns: [id, 7]'))).toBe('pipeline.yaml:10:21 source.streams[0].columns[1]: expected a string, found 7');
  });
});

describe('source.streams[].primary_key', () => {
  it('overrides the key per stream and satisfies upsert', () => {
    const text = afterLine(9, '      primary_key: [order_id, line]', withLine(14, '  write_mode: upsert'));
    expect(parseOk(text).source.streams[0].primary_key).toEqual(['order_id', 'line']);
  });
});

describe('destination', () => {
  it('use must be postgres', () => {
    expect(errorLine(withLine(11, '  use: snowflake'))).toBe('pipeline.yaml:11:8 destination.use: expected "postgres", found "snowflake"');
  });
  it('write_mode defaults to append and is one of append, replace, upsert', () => {
    expect(parseOk(withLine(14, '')).destination.write_mode).toBe('append');
    expect(errorLine(withLine(14, '  write_mode: merge'))).toBe(
      'pipeline.yaml:14:15 destination.write_mode: expected one of append, replace, upsert, found "merge"',
    );
  });
  it('primary_key is required for upsert, reported at the destination mapping', () => {
    expect(errorLine(withLine(14, '  write_mode: upsert'))).toBe(
      'pipeline.yaml:11:3 destination.primary_key: required when write_mode is upsert (or give every stream its own primary_key)',
    );
  });
  it('primary_key is a list of distinct names', () => {
    expect(errorLine(afterLine(14, '  primary_key: id'))).toBe('pipeline.yaml:15:16 destination.primary_key: expected a list, found "id"');
    expect(errorLine(afterLine(14, '  primary_key: [a, a]'))).toBe(
      'pipeline.yaml:15:20 destination.primary_key[1]: duplicate key column "a" (already at [0])',
    );
  });
  it('on_data_error defaults to fail and is one of fail, skip, dlq', () => {
    expect(parseOk(BASE_YAML).destination.on_data_error).toBe('fail');
    expect(errorLine(afterLine(14, '  on_data_error: ignore'))).toBe(
      'pipeline.yaml:15:18 destination.on_data_error: expected one of fail, skip, dlq, found "ignore"',
    );
  });
});

describe('destination.schema_evolution', () => {
  it('fills every default', () => {
    expect(parseOk(BASE_YAML).destination.schema_evolution).toEqual({
      new_column: 'add',
      removed_column: 'ignore',
      type_change: 'fail',
      nullability_change: 'allow',
    });
  });
  it('reads type_change: null (YAML null) as the null policy', () => {
    expect(parseOk(afterLine(14, '  schema_evolution: { type_change: null }')).destination.schema_evolution.type_change).toBe('null');
    expect(parseOk(afterLine(14, '  schema_evolution: { type_change: "null" }')).destination.schema_evolution.type_change).toBe('null');
  });
  it('nullability_change: allow (the default) or fail', () => {
    expect(parseOk(BASE_YAML).destination.schema_evolution.nullability_change).toBe('allow');
    expect(parseOk(afterLine(14, '  schema_evolution: { nullability_change: fail }')).destination.schema_evolution.nullability_change).toBe('fail');
  });
  it('checks each policy', () => {
    const text = afterLine(14, '  schema_evolution:\n    new_column: drop\n    removed_column: add\n    type_change: cast\n    nullability_change: ignore');
    expect(configErrorOf(text).message.split('\n')).toEqual([
      'pipeline.yaml:16:17 destination.schema_evolution.new_column: expected one of add, ignore, fail, found "drop"',
      'pipeline.yaml:17:21 destination.schema_evolution.removed_column: expected one of ignore, fail, found "add"',
      'pipeline.yaml:18:18 destination.schema_evolution.type_change: expected one of coerce, fail, null, found "cast"',
      'pipeline.yaml:19:25 destination.schema_evolution.nullability_change: expected one of allow, fail, found "ignore"',
    ]);
  });
});

describe('transforms', () => {
  it('defaults to an empty list', () => {
    expect(parseOk(BASE_YAML).transforms).toEqual([]);
  });
  it('checks each entry against its type: required options, options of another type, unknown keys', () => {
    const text = `${BASE_YAML}\ntransforms:\n  - { type: mask, stream: public.orders, column: email, algorithm: sha256 }\n  - { type: filter, stream: public.orders, where: "x > 1", columns: [a] }`;
    expect(configErrorOf(text).message.split('\n')).toEqual([
      'pipeline.yaml:18:5 transforms[0]: a mask transform needs columns: a list of columns',
      'pipeline.yaml:18:5 transforms[0]: a mask transform needs method: sha256 | hmac_sha256 | redact | null',
      'pipeline.yaml:18:42 transforms[0].column: unknown key; did you mean "columns"? (expected one of type, stream, where, columns, method, key, rules, on_fail)',
      'pipeline.yaml:18:57 transforms[0].algorithm: unknown key (expected one of type, stream, where, columns, method, key, rules, on_fail)',
      'pipeline.yaml:19:69 transforms[1].columns: is not an option of a filter transform (its options: where)',
    ]);
  });
  it('checks type and that each entry is a mapping', () => {
    const text = `${BASE_YAML}\ntransforms:\n  - { type: explode, stream: public.orders }\n  - { stream: public.orders }\n  - mask`;
    expect(configErrorOf(text).message.split('\n')).toEqual([
      'pipeline.yaml:18:13 transforms[0].type: expected one of validate, rename, cast, filter, mask, found "explode"',
      'pipeline.yaml:19:5 transforms[1].type: missing (expected one of validate, rename, cast, filter, mask)',
      'pipeline.yaml:20:5 transforms[2]: expected a mapping, found "mask"',
    ]);
  });
  it('validate rules: one check each, a regular expression that compiles', () => {
    const text = `${BASE_YAML}\ntransforms:\n  - { type: validate, stream: public.orders, rules: [ { column: a, regex: "(", not_null: true }, { column: b, unique: true } ] }`;
    expect(configErrorOf(text).message.split('\n')).toEqual([
      'pipeline.yaml:18:55 transforms[0].rules[0]: a rule checks one thing (found not_null, regex)',
      'pipeline.yaml:18:75 transforms[0].rules[0].regex: not a valid regular expression: Invalid regular expression: /(/u: Unterminated group',
    ]);
  });
  it('accepts the transforms of the reference (docs/config.md)', () => {
    const text = `${BASE_YAML}\ntransforms:\n  - { type: filter, stream: public.orders, where: "status <> 'test'" }\n  - { type: mask, stream: public.orders, columns: [email], method: hmac_sha256, key: s3cret }\n  - { type: rename, stream: public.orders, columns: { name: full_name } }\n  - { type: cast, stream: public.orders, columns: { amount: "numeric(12,2)" } }\n  - { type: validate, stream: public.orders, rules: [ { column: age, range: { min: 0, max: 150 } } ], on_fail: dlq }`;
    expect(parseOk(text).transforms.map((t) => t.type)).toEqual(['filter', 'mask', 'rename', 'cast', 'validate']);
  });
});

describe('state', () => {
  it('schema defaults to _rb', () => {
    expect(parseOk(BASE_YAML).state).toEqual({ schema: '_rb' });
    expect(parseOk(`${BASE_YAML}\nstate: { schema: rb_state }`).state).toEqual({ schema: 'rb_state' });
  });
  it('schema must be a non-empty string', () => {
    expect(errorLine(`${BASE_YAML}\nstate: { schema: 5 }`)).toBe('pipeline.yaml:17:18 state.schema: expected a string, found 5');
  });
});

describe('resources', () => {
  it('fills every default', () => {
    expect(parseOk(withLine(16, '', withLine(15, ''))).resources).toEqual({
      parallelism: 'auto',
      max_inflight_batches: 4,
      max_batch_bytes: 8 * 1024 * 1024,
      checkpoint_interval_bytes: 64 * 1024 * 1024,
      checkpoint_interval_rows: 0,
      checkpoint_interval_seconds: 0,
      max_retries: 3,
    });
  });

  describe('parallelism', () => {
    it('accepts auto and integers >= 1 (digit strings too)', () => {
      expect(parseOk(withLine(16, '  parallelism: 4')).resources.parallelism).toBe(4);
      expect(parseOk(withLine(16, '  parallelism: "2"')).resources.parallelism).toBe(2);
    });
    it('rejects 0, negatives, fractions and other strings', () => {
      for (const [value, found] of [['0', '0'], ['-2', '-2'], ['1.5', '1.5'], ['fast', '"fast"'], ['AUTO', '"AUTO"']]) {
        expect(errorLine(withLine(16, `  parallelism: ${value}`))).toBe(
          `pipeline.yaml:16:16 resources.parallelism: expected "auto" or an integer >= 1, found ${found}`,
        );
      }
    });
  });

  it('max_inflight_batches is an integer >= 1', () => {
    expect(parseOk(resource('max_inflight_batches: 4')).resources.max_inflight_batches).toBe(4);
    expect(errorLine(resource('max_inflight_batches: 0'))).toBe('pipeline.yaml:17:25 resources.max_inflight_batches: expected an integer >= 1, found 0');
    expect(errorLine(resource('max_inflight_batches: 2.5'))).toBe('pipeline.yaml:17:25 resources.max_inflight_batches: expected an integer >= 1, found 2.5');
  });

  it('max_batch_bytes is a byte size from 64kb to 1gb', () => {
    expect(parseOk(resource('max_batch_bytes: 128 MB')).resources.max_batch_bytes).toBe(128 * 1024 * 1024);
    expect(parseOk(resource('max_batch_bytes: 65536')).resources.max_batch_bytes).toBe(65536);
    const expected = 'a byte size from 64kb to 1gb (like 64mb, 512kb, 1gb or a number of bytes)';
    expect(errorLine(resource('max_batch_bytes: 2gb'))).toBe(`pipeline.yaml:17:20 resources.max_batch_bytes: expected ${expected}, found "2gb"`);
    expect(errorLine(resource('max_batch_bytes: 1kb'))).toBe(`pipeline.yaml:17:20 resources.max_batch_bytes: expected ${expected}, found "1kb"`);
    expect(errorLine(resource('max_batch_bytes: lots'))).toBe(`pipeline.yaml:17:20 resources.max_batch_bytes: expected ${expected}, found "lots"`);
  });

  it('checkpoint_interval_bytes is a byte size', () => {
    expect(parseOk(resource('checkpoint_interval_bytes: 1gb')).resources.checkpoint_interval_bytes).toBe(1024 ** 3);
    expect(parseOk(resource('checkpoint_interval_bytes: 0')).resources.checkpoint_interval_bytes).toBe(0);
    expect(errorLine(resource('checkpoint_interval_bytes: 10 pb'))).toBe(
      'pipeline.yaml:17:30 resources.checkpoint_interval_bytes: expected a byte size like 64mb, 512kb, 1gb or a whole number of bytes, found "10 pb"',
    );
  });

  it('checkpoint_interval_rows is an integer >= 0', () => {
    expect(parseOk(resource('checkpoint_interval_rows: 100000')).resources.checkpoint_interval_rows).toBe(100000);
    expect(errorLine(resource('checkpoint_interval_rows: -1'))).toBe('pipeline.yaml:17:29 resources.checkpoint_interval_rows: expected an integer >= 0, found -1');
  });

  it('checkpoint_interval_seconds is a number >= 0', () => {
    expect(parseOk(resource('checkpoint_interval_seconds: 2.5')).resources.checkpoint_interval_seconds).toBe(2.5);
    expect(errorLine(resource('checkpoint_interval_seconds: -1'))).toBe(
      'pipeline.yaml:17:32 resources.checkpoint_interval_seconds: expected a number >= 0, found -1',
    );
  });

  it('max_retries is an integer >= 0', () => {
    expect(parseOk(resource('max_retries: 0')).resources.max_retries).toBe(0);
    expect(errorLine(resource('max_retries: many'))).toBe('pipeline.yaml:17:16 resources.max_retries: expected an integer >= 0, found "many"');
  });
});

describe('unknown keys', () => {
  it('are errors at every level, naming the key, its path and the allowed keys', () => {
    const text = [
      withLine(9, '      sync_mod: cdc'), // lines 1-16
      '  max_retry: 3', // 17
      'state: { schema: _rb, shema: x }', // 18
      'extra: true', // 19
    ].join('\n');
    expect(configErrorOf(text).message.split('\n')).toEqual([
      'pipeline.yaml:9:7 source.streams[0].sync_mod: unknown key; did you mean "sync_mode"? (expected one of name, sync_mode, cursor_field, tie_breaker_field, partition_key, columns, primary_key)',
      'pipeline.yaml:17:3 resources.max_retry: unknown key; did you mean "max_retries"? (expected one of parallelism, max_inflight_batches, max_batch_bytes, checkpoint_interval_bytes, checkpoint_interval_rows, checkpoint_interval_seconds, max_retries)',
      'pipeline.yaml:18:23 state.shema: unknown key; did you mean "schema"? (expected schema)',
      'pipeline.yaml:19:1 extra: unknown key (expected one of version, pipeline, source, transforms, destination, state, resources)',
    ]);
  });
  it('are errors in source, destination and schema_evolution', () => {
    const text = afterLine(4, '  kind: pg', afterLine(14, '  schema_evolution: { new_columns: add }'));
    expect(configErrorOf(text).message.split('\n')).toEqual([
      'pipeline.yaml:5:3 source.kind: unknown key (expected one of use, config, streams)',
      'pipeline.yaml:16:23 destination.schema_evolution.new_columns: unknown key; did you mean "new_column"? (expected one of new_column, removed_column, type_change, nullability_change)',
    ]);
    expect(issuesOf(text)[0]).toMatchObject({ path: 'source.kind', found: '"kind"', expected: 'one of use, config, streams' });
  });
});

/** Options whose shape is accepted but which rb does not act on yet: each is refused by name (exit 2). */
describe('options not available yet', () => {
  const refused = 'is not available in this version of rb yet';
  it.each(['fail', 'skip', 'dlq'])('destination.on_data_error: %s is accepted for full_refresh, incremental and cdc streams', (policy) => {
    expect(parseOk(afterLine(14, `  on_data_error: ${policy}`)).destination.on_data_error).toBe(policy);
    const cdc = BASE_YAML.replace('sync_mode: full_refresh', 'sync_mode: cdc').replace('write_mode: append', `write_mode: upsert\n  on_data_error: ${policy}`);
    expect(parseOk(cdc).destination.on_data_error).toBe(policy);
  });
  it('destination.schema_evolution.type_change: null is accepted on a cdc pipeline', () => {
    const cdc = BASE_YAML.replace('sync_mode: full_refresh', 'sync_mode: cdc').replace('write_mode: append', 'write_mode: upsert\n  schema_evolution: { type_change: null }');
    expect(parseOk(cdc).destination.schema_evolution.type_change).toBe('null');
  });
  it('a full_refresh stream beside cdc streams', () => {
    const yaml = withLine(9, '      sync_mode: cdc\n    - name: public.items', withLine(14, '  write_mode: upsert\n  primary_key: [id]'));
    expect(errorLine(yaml)).toMatch(new RegExp(`^pipeline.yaml:\\d+:\\d+ source.streams\\[1\\].sync_mode: sync_mode full_refresh beside cdc streams in one pipeline ${refused}`));
  });
  it.each(['cursor_field', 'tie_breaker_field'])('source.streams[].%s on a full_refresh stream', (field) => {
    expect(errorLine(afterLine(9, `      ${field}: updated_at`))).toMatch(
      new RegExp(`^pipeline.yaml:10:\\d+ source.streams\\[0\\].${field}: applies only to sync_mode incremental \\(this stream is full_refresh\\)`),
    );
  });
});

describe('sync_mode cdc', () => {
  const cdc = (writeMode: string, extraSource = '') => {
    // Highest line first: a replacement of several lines shifts the ones below it.
    const y = withLine(9, '      sync_mode: cdc', withLine(14, `  write_mode: ${writeMode}${writeMode === 'upsert' ? '\n  primary_key: [id]' : ''}`));
    return extraSource ? withLine(6, `    url: postgres://app@src:5432/shop\n${extraSource}`, y) : y;
  };
  it('is accepted with upsert, with its slot and publication names', () => {
    const c = parseOk(cdc('upsert', '    replication_slot: rb_slot\n    publication: rb_pub'));
    expect(c.source.streams[0].sync_mode).toBe('cdc');
    expect(c.source.config).toMatchObject({ replication_slot: 'rb_slot', publication: 'rb_pub' });
  });
  it.each(['append', 'replace'])('is refused with write_mode %s', (mode) => {
    expect(errorLine(cdc(mode))).toMatch(new RegExp(`destination.write_mode: cdc streams are written with write_mode upsert \\(each table by its key\\), found ${mode}`));
  });
  it('replication_slot without cdc streams is refused', () => {
    expect(errorLine(withLine(6, '    url: postgres://app@src:5432/shop\n    replication_slot: s'))).toMatch(/source.config.replication_slot: applies only to pipelines whose streams are sync_mode cdc/);
  });
});
