import { describe, expect, it } from 'vitest';
import { protectReferences, restoreReferences, substituteEnv } from './env.js';
import { BASE_YAML, configErrorOf, issuesOf, parseOk, withLine } from './testing.js';

describe('substituteEnv', () => {
  it('replaces ${NAME} anywhere in the text', () => {
    const r = substituteEnv('postgres://${USER}@${HOST}:5432/db', { USER: 'app', HOST: 'db1' });
    expect(r).toEqual({ value: 'postgres://app@db1:5432/db', referenceCount: 2, missing: [], malformed: [] });
  });

  it('uses the fallback of ${NAME:-fallback} when the variable is unset or empty', () => {
    expect(substituteEnv('${A:-x}', {}).value).toBe('x');
    expect(substituteEnv('${A:-x}', { A: '' }).value).toBe('x');
    expect(substituteEnv('${A:-x}', { A: 'y' }).value).toBe('y');
    expect(substituteEnv('${A:-}', {}).value).toBe('');
    expect(substituteEnv('${A:-a b,c:d}', {}).value).toBe('a b,c:d');
  });

  it('keeps an empty value for a set but empty variable without fallback', () => {
    expect(substituteEnv('[${A}]', { A: '' })).toMatchObject({ value: '[]', missing: [] });
  });

  it('reports each missing variable by name', () => {
    expect(substituteEnv('${A}/${B}/${A}', { B: 'b' }).missing).toEqual(['A', 'A']);
  });

  it('treats $${NAME} as the literal ${NAME}', () => {
    expect(substituteEnv('cost $${PRICE} and ${X}', { X: '1' })).toMatchObject({ value: 'cost ${PRICE} and 1', missing: [] });
  });

  it('leaves $NAME and a lone $ alone', () => {
    expect(substituteEnv('$HOME costs $5', {}).value).toBe('$HOME costs $5');
  });

  it('reports malformed references', () => {
    expect(substituteEnv('${1X}', {}).malformed).toEqual(['${1X}']);
    expect(substituteEnv('${}', {}).malformed).toEqual(['${}']);
    expect(substituteEnv('abc ${X', {}).malformed).toEqual(['${X']);
  });

  it('does not substitute recursively', () => {
    expect(substituteEnv('${A}', { A: '${B}', B: 'no' }).value).toBe('${B}');
  });
});

describe('protectReferences', () => {
  it('keeps the text length and line structure and round-trips', () => {
    const text = 'a: { url: ${X:-p,q} }\nb: $${Y}\n';
    const protectedText = protectReferences(text);
    expect(protectedText.length).toBe(text.length);
    expect(protectedText).not.toContain('${');
    expect(protectedText.split('\n').length).toBe(text.split('\n').length);
    expect(restoreReferences(protectedText)).toBe(text);
  });
});

describe('${VAR} in pipeline files', () => {
  const env = { SRC_URL: 'postgres://app:pw@src/shop', PAR: '4', PORT: '6543' };

  it('substitutes inside flow mappings, as in the DESIGN example', () => {
    const config = parseOk(withLine(5, '  config: { url: ${SRC_URL} }').replace('\n    url: postgres://app@src:5432/shop', ''), env);
    expect(config.source.config).toEqual({ kind: 'url', url: 'postgres://app:pw@src/shop' });
  });

  it('substitutes in the middle of a value', () => {
    const config = parseOk(withLine(13, '    url: postgres://app@${DST_HOST:-localhost}:5432/warehouse'), {});
    expect(config.destination.config).toMatchObject({ url: 'postgres://app@localhost:5432/warehouse' });
  });

  it('applies a default that contains YAML syntax characters without changing the structure', () => {
    const config = parseOk(withLine(2, 'pipeline: ${NAME:-a_b} # trailing comment'), {});
    expect(config.pipeline).toBe('a_b');
    const text = withLine(5, '  config: { url: "${U:-postgres://x@h/d?application_name=a,b}" }').replace('\n    url: postgres://app@src:5432/shop', '');
    expect(parseOk(text, {}).source.config).toEqual({ kind: 'url', url: 'postgres://x@h/d?application_name=a,b' });
  });

  it('keeps an escaped $${VAR} literally', () => {
    const config = parseOk(withLine(8, '    - name: public."$${not_a_var}"'), {});
    expect(config.source.streams[0].name).toBe('public."${not_a_var}"');
  });

  it('types an unquoted substituted value as YAML would (number), a quoted one stays a string', () => {
    const text = `${withLine(16, '  parallelism: ${PAR}')}\n  max_inflight_batches: \${N:-8}`;
    const config = parseOk(text, env);
    expect(config.resources.parallelism).toBe(4);
    expect(config.resources.max_inflight_batches).toBe(8);
    const quoted = `${BASE_YAML}\n  max_retries: "\${N:-8}"`;
    expect(configErrorOf(quoted).message).toBe('pipeline.yaml:17:16 resources.max_retries: expected an integer >= 0, found "8"');
  });

  it('does not substitute in comments or keys', () => {
    const config = parseOk(withLine(2, 'pipeline: orders # ${UNSET_IN_COMMENT}'), {});
    expect(config.pipeline).toBe('orders');
    expect(configErrorOf(afterLine16('  ${KEY}: 1')).message).toContain('resources["${KEY}"]: unknown key');
  });

  it('names a missing variable with its path, line and column', () => {
    const error = configErrorOf(withLine(6, '    url: ${SRC_URL}'), {});
    expect(error.code).toBe('config_missing_var');
    expect(error.message).toBe(
      'pipeline.yaml:6:10 source.config.url: environment variable SRC_URL is not set (set it, or write ${SRC_URL:-default})',
    );
    expect(issuesOf(withLine(6, '    url: ${SRC_URL}'), {})[0]).toMatchObject({
      kind: 'missing_var',
      path: 'source.config.url',
      line: 6,
      column: 10,
      expected: 'environment variable SRC_URL to be set',
      found: 'not set',
    });
  });

  it('reports every missing variable of the file at once', () => {
    const text = withLine(13, '    url: ${DST_URL}', withLine(6, '    url: ${SRC_URL}'));
    expect(configErrorOf(text).message.split('\n')).toEqual([
      'pipeline.yaml:6:10 source.config.url: environment variable SRC_URL is not set (set it, or write ${SRC_URL:-default})',
      'pipeline.yaml:13:10 destination.config.url: environment variable DST_URL is not set (set it, or write ${DST_URL:-default})',
    ]);
  });

  it('uses config_invalid when missing variables come with other problems, and lists both', () => {
    const error = configErrorOf(withLine(16, '  parallelism: 0', withLine(6, '    url: ${SRC_URL}')));
    expect(error.code).toBe('config_invalid');
    expect(error.message.split('\n')).toEqual([
      'pipeline.yaml:6:10 source.config.url: environment variable SRC_URL is not set (set it, or write ${SRC_URL:-default})',
      'pipeline.yaml:16:16 resources.parallelism: expected "auto" or an integer >= 1, found 0',
    ]);
  });

  it('reports a malformed reference', () => {
    expect(configErrorOf(withLine(2, 'pipeline: ${9X}')).message).toBe(
      'pipeline.yaml:2:11 pipeline: malformed variable reference ${9X}: expected ${NAME} or ${NAME:-default} (write $${ for a literal ${)',
    );
  });
});

function afterLine16(text: string): string {
  return `${BASE_YAML}\n${text}`;
}
