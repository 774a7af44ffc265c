/** The progress lines as pure functions (progress.ts): phases with elapsed times, waiting streams, when an ETA shows, finish steps. */
import { describe, expect, it } from 'vitest';
import { ETA_MIN_FRACTION, ETA_MIN_SECONDS, etaSeconds, formatPhases, formatStreamLine, type StreamProgressState } from './progress.js';

const t0 = 1_000_000;

describe('formatPhases', () => {
  it('shows each phase with its time, the running one ticking', () => {
    expect(formatPhases({ plan: { startedAt: t0, ms: 420 }, prepare: { startedAt: t0 + 420, ms: 80 }, move: { startedAt: t0 + 500 } }, t0 + 3600)).toBe('plan 0.42s · prepare 0.08s · move 3.1s…');
    expect(formatPhases({ plan: { startedAt: t0, ms: 420 }, prepare: { startedAt: t0, ms: 80 }, move: { startedAt: t0, ms: 62_000 }, finish: { startedAt: t0, ms: 41_000 } }, t0)).toBe('plan 0.42s · prepare 0.08s · move 1m02s · finish 41.0s');
  });
});

describe('formatStreamLine', () => {
  const base: StreamProgressState = { name: 'public.orders', total: 1_000_000, rows: 0 };
  it('says waiting for a stream that has not started (no rate, no ETA)', () => {
    const line = formatStreamLine(base, t0, 14);
    expect(line).toBe('public.orders  |░░░░░░░░░░░░░░░░░░░░| waiting');
    expect(line).not.toMatch(/rows\/s|ETA/);
  });
  it('shows no ETA before it means something, then one', () => {
    const early = { ...base, startedAt: t0, rows: 500_000 };
    expect(etaSeconds(early, t0 + (ETA_MIN_SECONDS - 1) * 1000)).toBeUndefined(); // a fast first second says nothing yet
    const few = { ...base, startedAt: t0, rows: ETA_MIN_FRACTION * base.total - 1 };
    expect(etaSeconds(few, t0 + 60_000)).toBeUndefined(); // nor does a sliver of the rows
    const later = { ...base, startedAt: t0, lastAt: t0 + 4000, rows: 400_000 };
    expect(etaSeconds(later, t0 + 4000)).toBe(6); // 100k rows/s, 600k left
    expect(formatStreamLine(later, t0 + 4000, 13)).toBe('public.orders |████████░░░░░░░░░░░░| 400,000/1,000,000 rows | 100,000 rows/s | ETA 6.0s');
    expect(formatStreamLine({ ...later, rows: 1_200_000, total: 1_200_000 }, t0 + 4000, 13)).not.toContain('ETA'); // past the estimate: no guess
    // the rate is over the span of its progress events: a stream whose shards are done keeps it
    expect(formatStreamLine({ ...later, rows: 1_000_000 }, t0 + 60_000, 13)).toContain('| 250,000 rows/s');
    expect(formatStreamLine({ ...base, startedAt: t0, lastAt: t0, rows: 5000 }, t0 + 100, 13)).toBe('public.orders |░░░░░░░░░░░░░░░░░░░░| 5,000/1,000,000 rows | starting');
  });
  it('done: the move as the run measured it when known', () => {
    expect(formatStreamLine({ ...base, rows: 10, startedAt: t0, moveMs: 1500, finish: { step: 'commit', startedAt: t0 + 5000, stepStartedAt: t0 + 5000, ms: 20, done: [{ step: 'commit', ms: 20 }] } }, t0 + 9999, 13)).toBe(
      'public.orders |████████████████████| 10/10 rows | done in 1.5s (move 1.5s, commit 0.02s)',
    );
  });
  it('shows the finish step ticking, then the stream done with move and finish times', () => {
    const moved = { ...base, startedAt: t0, rows: 1_000_000, movedAt: t0 + 2000 };
    expect(formatStreamLine({ ...moved, finish: { step: 'merge', startedAt: t0 + 2000, stepStartedAt: t0 + 2000, done: [] } }, t0 + 14_300, 13)).toBe('public.orders |████████████████████| 1,000,000 rows | merge 12.3s…');
    // replace: the index build, then the swap ticking after it
    expect(formatStreamLine({ ...moved, finish: { step: 'swap', startedAt: t0 + 2000, stepStartedAt: t0 + 5200, done: [{ step: 'index build', ms: 3200 }] } }, t0 + 5210, 13)).toBe(
      'public.orders |████████████████████| 1,000,000 rows | index build 3.2s · swap 0.01s…',
    );
    expect(formatStreamLine({ ...moved, finish: { step: 'swap', startedAt: t0 + 2000, stepStartedAt: t0 + 2900, ms: 900, done: [{ step: 'index build', ms: 880 }, { step: 'swap', ms: 20 }] } }, t0 + 9999, 13)).toBe(
      'public.orders |████████████████████| 1,000,000/1,000,000 rows | done in 2.9s (move 2.0s, index build 0.88s, swap 0.02s)',
    );
  });
});
