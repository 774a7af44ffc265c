import { describe, expect, it } from 'vitest';
import { normalizeOptions, parseContenders, parseIters, parseParallelism, parseTolerance } from './options.js';
import { idChunks, parseProfiles, profileFingerprint, PROFILES, PUBLIC_PROFILE_NAMES } from './profiles.js';

describe('bench options', () => {
  it('reads the tolerance as a fraction, a percentage or a percent sign', () => {
    expect(parseTolerance(undefined)).toBe(0.2);
    expect(parseTolerance(0.2)).toBe(0.2);
    expect(parseTolerance('25')).toBe(0.25);
    expect(parseTolerance('30%')).toBeCloseTo(0.3);
    expect(() => parseTolerance('abc')).toThrow(/--tolerance: expected a fraction/);
    expect(() => parseTolerance('100%')).toThrow(/less than 100%/);
  });

  it('always runs rb at auto, plus the given parallelism values', () => {
    expect(parseParallelism(undefined)).toEqual(['auto']);
    expect(parseParallelism(['1', '4', 'auto', '4'])).toEqual(['auto', '1', '4']);
    expect(parseParallelism('2,8')).toEqual(['auto', '2', '8']);
    expect(() => parseParallelism(['0'])).toThrow(/--parallelism: expected 'auto' or an integer >= 1, found '0'/);
  });

  it('keeps the reference pipe in any contender selection', () => {
    expect(parseContenders(undefined)).toBeUndefined(); // each profile's own list
    expect(parseContenders('rb-upsert,pg-dump,psql-binary-pk')).toEqual(['rb-upsert', 'psql-binary', 'psql-binary-pk', 'pg-dump']);
    expect(parseContenders('node-pipe,rb')).toEqual(['rb', 'psql-binary', 'node-pipe']);
    expect(() => parseContenders('dlt')).toThrow(/--contenders: expected some of/);
  });

  it('validates iterations, profiles and gate combinations', () => {
    expect(parseIters(undefined)).toBe(3);
    expect(parseIters('5')).toBe(5);
    expect(() => parseIters('0')).toThrow(/--iters/);
    expect(() => normalizeOptions({ profile: 'huge' })).toThrow(/--profile: expected one of small\|narrow\|medium\|large, found 'huge'/);
    expect(() => normalizeOptions({ profile: 'small,medium', check: 'x.json' })).toThrow(/--check compares one profile/);
    expect(() => normalizeOptions({ profile: 'small', check: 'x.json', contenders: 'psql-text' })).toThrow(/include rb/);
    const s = normalizeOptions({ profile: 'small', saveBaseline: true, tolerance: '20%' });
    expect(s.saveBaseline).toBe('bench/baselines/small.json');
    expect(s.tolerance).toBeCloseTo(0.2);
    expect(s.profiles.map((p) => p.name)).toEqual(['small']);
  });
});

describe('profiles', () => {
  it('lists small, narrow, medium and large (tiny is for tests)', () => {
    expect(PUBLIC_PROFILE_NAMES).toEqual(['small', 'narrow', 'medium', 'large']);
    expect(parseProfiles('small,large').map((p) => p.name)).toEqual(['small', 'large']);
    expect(PROFILES.medium.tables).toEqual([{ table: 'events', rows: 2_000_000 }, { table: 'orders', rows: 200_000 }]);
    expect(PROFILES.large.tables).toEqual([{ table: 'events', rows: 10_000_000 }, { table: 'documents', rows: 50_000 }]);
  });

  it('fingerprints differ per profile and are stable', () => {
    expect(profileFingerprint(PROFILES.small)).toBe(profileFingerprint(PROFILES.small));
    expect(profileFingerprint(PROFILES.small)).not.toBe(profileFingerprint(PROFILES.tiny));
  });

  it('cuts ids into contiguous chunks that cover every row once', () => {
    expect(idChunks(10, 3)).toEqual([[1, 4], [5, 8], [9, 10]]);
    expect(idChunks(2, 4)).toEqual([[1, 1], [2, 2]]);
    const chunks = idChunks(200_000, 4);
    expect(chunks.reduce((n, [lo, hi]) => n + hi - lo + 1, 0)).toBe(200_000);
  });
});
