/**
 * The codec bench end to end on tiny workloads and a tiny time budget: the report's JSON shape,
 * every codec measured for TypeScript, native when the addon is in use, the peers where one exists,
 * and ratios / goals consistent with the measurements. No timing is asserted.
 */
import { describe, expect, it } from 'vitest';
import { Errors } from '../../engine/errors.js';
import { nativeStatus } from '../../native/index.js';
import { CODEC_NAMES } from './cases.js';
import { CODEC_GOALS, codecReportJson, renderCodecTable } from './report.js';
import { runCodecBench } from './run-codecs.js';
import { buildWorkloads, numericSend } from './workloads.js';

const PEERS: Record<string, string> = {
  'copy-encode': 'pg-copy-streams-binary',
  'copy-decode': 'pg-copy-streams-binary',
  'copydata-deframe': 'pg-copy-streams',
  pgoutput: 'pg-logical-replication',
};

describe('codec bench', () => {
  it('measures every codec for TypeScript, native when in use, and the peers, in the JSON shape', async () => {
    const report = await runCodecBench({ json: true, time: 1, iterations: 2, scale: 0.01, print: false });
    const json = JSON.parse(codecReportJson(report)) as typeof report;

    expect(Object.keys(json)).toEqual(['codecs', 'ratios', 'goals', 'native', 'machine', 'workloads', 'settings']);
    for (const r of json.codecs) {
      expect(Object.keys(r)).toEqual(['name', 'impl', 'ops_per_sec', 'mb_per_sec', 'ms_per_op', 'samples']);
      expect(r.ops_per_sec).toBeGreaterThan(0);
      expect(r.mb_per_sec).toBeGreaterThan(0);
      expect(r.samples).toBeGreaterThanOrEqual(2);
    }
    const impls = (name: string): string[] => json.codecs.filter((r) => r.name === name).map((r) => r.impl);
    const native = nativeStatus.impl === 'native';
    for (const name of CODEC_NAMES) {
      const expected = [...(native ? ['native'] : []), 'ts', ...(PEERS[name] ? [PEERS[name]] : [])];
      expect(impls(name), name).toEqual(expected);
    }
    expect(json.native.impl).toBe(nativeStatus.impl);
    expect(json.native.reason).toBe(nativeStatus.reason);
    if (native) expect(json.native.addon).toMatchObject({ file: expect.stringMatching(/^native\/rb-native\..+\.node$/), sha256: expect.stringMatching(/^[0-9a-f]{16}$/) });
    else expect(json.native.addon).toBeUndefined();
    expect(json.machine.cores).toBeGreaterThan(0);
    expect(json.settings).toEqual({ time_ms: 1, min_iterations: 2, rounds: 1, scale: 0.01, clock: 'wall' });

    // Ratios are the quotients of the reported ops/s; goals read them.
    const ops = (name: string, impl: string): number => json.codecs.find((r) => r.name === name && r.impl === impl)!.ops_per_sec;
    const ratios = json.ratios['copy-encode']!;
    // The reported ops/s are rounded, so their quotient can differ from the ratio in its last digits.
    const quotient = ops('copy-encode', 'ts') / ops('copy-encode', 'pg-copy-streams-binary');
    expect(Math.abs(ratios['ts_vs_pg-copy-streams-binary']! / quotient - 1)).toBeLessThan(0.01);
    expect(Object.keys(json.ratios['copy-scan']!)).toEqual(native ? ['native_vs_ts'] : []);
    expect(json.goals.map((g) => [g.codec, g.versus, g.target])).toEqual(CODEC_GOALS.map((g) => [g.codec, g.versus, g.target]));
    for (const g of json.goals) {
      if (native) {
        expect(g.measured).toBe(json.ratios[g.codec]![`native_vs_${g.versus}`]);
        expect(g.met).toBe(g.measured! >= g.target);
      } else {
        expect([g.measured, g.met]).toEqual([null, null]);
      }
    }
    const table = renderCodecTable(report);
    for (const name of CODEC_NAMES) expect(table).toContain(name);
    expect(table).toContain('goals (native vs):');
  });

  it('runs only the codecs asked for, on the CPU clock', async () => {
    const report = await runCodecBench({ json: false, time: 1, iterations: 2, scale: 0.01, only: ['placeholders,copy-scan'], clock: 'cpu', print: false });
    expect([...new Set(report.codecs.map((r) => r.name))]).toEqual(['copy-scan', 'placeholders']);
    expect(report.settings.clock).toBe('cpu');
    expect(report.goals.every((g) => g.measured === null && g.met === null)).toBe(true);
  });

  it('rejects unknown codecs and bad numbers as usage errors', async () => {
    await expect(runCodecBench({ json: true, only: ['copy-encod'], print: false })).rejects.toThrow(
      Errors.usage("--only: unknown codec 'copy-encod', expected one of copy-encode, copy-decode, copy-scan, copydata-deframe, pgoutput, placeholders"),
    );
    await expect(runCodecBench({ json: true, time: 0, print: false })).rejects.toThrow('--time: expected a positive number, found 0');
    await expect(runCodecBench({ json: true, repeat: 1.5, print: false })).rejects.toThrow('--repeat: expected a positive integer, found 1.5');
  });
});

describe('bench workloads', () => {
  it('are deterministic and self-consistent', () => {
    const a = buildWorkloads(0.01);
    const b = buildWorkloads(0.01);
    expect(a.copy.file.equals(b.copy.file)).toBe(true);
    expect(a.pgoutput.input.buf.equals(b.pgoutput.input.buf)).toBe(true);
    expect(a.copy.rows).toBe(100);
    expect(a.copyData.messages).toBe(a.copy.rows + 2);
    expect(a.pgoutput.messages.length).toBe(a.pgoutput.capturedMessages + a.pgoutput.changes + 2 * Math.ceil(a.pgoutput.changes / 1000) + 1);
  });

  it('encode numeric in its binary send format', () => {
    // 12345.67 = digits [1, 2345, 6700], weight 1, positive, dscale 2.
    expect(numericSend(1234567).toString('hex')).toBe('0003' + '0001' + '0000' + '0002' + '0001' + '0929' + '1a2c');
    // -0.05 = digits [500], weight -1, negative.
    expect(numericSend(-5).toString('hex')).toBe('0001' + 'ffff' + '4000' + '0002' + '01f4');
    // 0 = no digits, weight 0, positive.
    expect(numericSend(0).toString('hex')).toBe('0000' + '0000' + '0000' + '0002');
    // 10000 = digits [1], weight 1 (trailing zero groups dropped).
    expect(numericSend(1_000_000).toString('hex')).toBe('0001' + '0001' + '0000' + '0002' + '0001');
  });
});
