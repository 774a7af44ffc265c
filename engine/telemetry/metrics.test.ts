/**
 * Errors and retries by class (docs/design.md section 16): errors.ts errorClass sorts every error
 * into a small, stable set — the SQLSTATE first, then rb's code — and the Prometheus counters carry
 * that class as a label next to the code. The end-to-end case (a real retry scraped from a running
 * `rb run`) is in engine/cli/telemetry-cli.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { RunResult } from '../api/run.js';
import { ERROR_CLASSES, errorClass, markTransient, RbError } from '../errors.js';
import { startMetrics } from './metrics.js';

describe('errorClass', () => {
  it.each([
    [{ code: 'config_invalid' }, 'config'],
    [{ code: 'usage' }, 'config'],
    [{ code: 'internal' }, 'internal'],
    [{ code: 'codec' }, 'internal'],
    [{ code: 'cancelled' }, 'cancelled'],
    [{ code: 'source_connect' }, 'connection'],
    [{ code: 'dest_connect', sqlstate: '28P01' }, 'permission'], // password authentication failed
    [{ code: 'source_connect', sqlstate: '3D000' }, 'schema'], // database does not exist
    [{ code: 'dest_query', sqlstate: '57P01' }, 'connection'], // admin shutdown (a terminated backend)
    [{ code: 'source_query', sqlstate: '08006' }, 'connection'],
    [{ code: 'dest_query', sqlstate: '53300' }, 'connection'], // too many connections
    [{ code: 'dest_query', sqlstate: '40P01' }, 'conflict'],
    [{ code: 'dest_query', sqlstate: '40001' }, 'conflict'],
    [{ code: 'dest_query', sqlstate: '42501' }, 'permission'],
    [{ code: 'source_query', sqlstate: '42P01' }, 'schema'],
    [{ code: 'source_missing_column' }, 'schema'],
    [{ code: 'dest_prepare' }, 'schema'],
    [{ code: 'data_error', sqlstate: '23505' }, 'data'],
    [{ code: 'data_error' }, 'data'],
    [{ code: 'dest_query', sqlstate: '22P02' }, 'data'],
    [{ code: 'dest_query', sqlstate: '22P04' }, 'query'], // a COPY stream rb framed wrongly: not a row's fault
    [{ code: 'dest_query', sqlstate: '57014' }, 'query'], // statement timeout
    [{ code: 'dest_query' }, 'query'],
    [{ code: 'dest_query', details: { transient: true } }, 'connection'], // EPIPE: the socket broke
  ])('%j → %s', (e, cls) => {
    expect(errorClass(e)).toBe(cls);
    expect(ERROR_CLASSES).toContain(cls);
  });

  it('reads an RbError as it is thrown (the SQLSTATE in pg, the transient mark in details)', () => {
    expect(errorClass(new RbError('dest_query', 'terminating connection due to administrator command', { pg: { sqlstate: '57P01' } }))).toBe('connection');
    expect(errorClass(markTransient(new RbError('source_query', 'write EPIPE'), true))).toBe('connection');
    expect(errorClass(new RbError('dest_query', 'permission denied for table t', { pg: { sqlstate: '42501' } }))).toBe('permission');
  });
});

describe('rb_retries_total and rb_errors_total', () => {
  it('carry the class and the code as labels', async () => {
    const m = await startMetrics('127.0.0.1:0');
    try {
      const retry = { stream: 'public.t', shard: 1, attempt: 1, maxRetries: 3, delayMs: 50, code: 'dest_query', class: 'connection' as const, message: 'terminated', line: '' };
      m.observe({ kind: 'retry', ...retry });
      m.observe({ kind: 'retry', ...retry, attempt: 2 });
      m.observe({ kind: 'retry', ...retry, code: 'dest_query', class: 'conflict' });
      m.finish({ error: { code: 'data_error', class: 'data', message: 'duplicate key' } } as RunResult);
      const text = await (await fetch(m.url)).text();
      expect(text).toContain('rb_retries_total{class="connection",code="dest_query"} 2');
      expect(text).toContain('rb_retries_total{class="conflict",code="dest_query"} 1');
      expect(text).toContain('rb_errors_total{class="data",code="data_error"} 1');
    } finally {
      await m.close();
    }
  });
});
