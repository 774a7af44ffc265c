/**
 * The crossover table (native vs TypeScript by input size) on two tiny sizes: one row per codec
 * and size, speed-ups consistent with the timings. No timing is asserted.
 */
import { describe, expect, it } from 'vitest';
import { nativeStatus } from '../../native/index.js';
import { CODEC_NAMES } from './cases.js';
import { renderCrossover, runCrossover } from './crossover.js';

describe('crossover', () => {
  it('measures native and TypeScript per codec and size, or says the addon is missing', async () => {
    if (nativeStatus.impl !== 'native') {
      await expect(runCrossover({ timeMs: 1, sizes: [1] })).rejects.toThrow(`crossover: native addon not in use (${nativeStatus.reason})`);
      return;
    }
    const rows = await runCrossover({ timeMs: 1, sizes: [1, 10] });
    expect(rows.map((r) => `${r.codec}@${r.size}`)).toEqual([1, 10].flatMap((s) => CODEC_NAMES.map((c) => `${c}@${s}`)));
    for (const r of rows) {
      expect(r.native_us).toBeGreaterThan(0);
      expect(r.ts_us).toBeGreaterThan(0);
      expect(r.native_speedup).toBeCloseTo(r.ts_us / r.native_us, 0);
    }
    const table = renderCrossover(rows);
    expect(table.split('\n')).toHaveLength(2 + CODEC_NAMES.length);
  });
});
