import { describe, expect, it } from 'vitest';
import type { MachineDescription } from './machine.js';
import { formatProfileTable, formatReport, profileReport, type BenchReport } from './report.js';
import { barChartSvg, niceMax, renderHtml } from './report-html.js';
import { median, medianServerCpu, pairedRatios, summarizeProfile, type ProfileRun, type RunRecord } from './results.js';

const runs = (...secs: number[]): RunRecord[] => secs.map((s, i) => ({ iteration: i + 1, wallSeconds: s, cpuSeconds: s / 2, peakRssBytes: 50e6 + i, serverCpuSeconds: { source: s / 4, dest: s } }));

const run: ProfileRun = {
  profile: 'small',
  description: '200k events',
  iterations: 3,
  warmup: true,
  tables: [{ table: 'events', rows: 200_000, checksum: '123', textBytes: 100e6 }],
  source: { embedded: true, serverVersion: '18.1', generated: false },
  destination: { embedded: true, serverVersion: '18.1' },
  contenders: [
    { id: 'rb:auto', label: 'rb (auto)', kind: 'rb', status: 'ok', runs: runs(1.0, 0.8, 2.0), telemetry: { parallelism_mode: 'auto', parallelism_effective: 2, streams: [{ name: 'public.events', shards: 2 }] }, info: { version: 'rb 0.1.0 (native)', native_mode: 'native' } },
    { id: 'psql-binary', label: 'psql binary pipe', kind: 'psql-binary', status: 'ok', runs: runs(1.0, 1.0, 1.0) },
    { id: 'pgcopydb', label: 'pgcopydb', kind: 'pgcopydb', status: 'skipped', reason: 'pgcopydb is not installed', runs: [] },
    { id: 'node-pipe', label: 'node pg-copy-streams pipe', kind: 'node-pipe', status: 'failed', reason: 'wrong data in the destination: public.events: 10 rows, expected 200000', runs: [] },
  ],
};

const machine: MachineDescription = { cpu_model: 'AMD EPYC', cores: 2, memory_gib: 23.4, os: 'Linux 6.1 x64', node: 'v20.20.2', postgres: '18.1 (embedded)', psql: 'psql (PostgreSQL) 15.18', cpu_measurement: 'gnu-time' };

describe('results', () => {
  it('takes medians and pairs iterations for ratios', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(pairedRatios(runs(1, 2, 3), runs(2, 2, 1))).toEqual([0.5, 1, 3]);
    const s = summarizeProfile(run);
    const rb = s.contenders[0];
    expect(rb.medianSeconds).toBe(1.0);
    expect(rb.rowsPerSecond).toBe(200_000);
    expect(rb.mbPerSecond).toBe(100);
    expect(rb.ratioToReference).toBe(1.0); // ratios 1, 1.25, 0.5
    expect(rb.peakRssBytes).toBe(50e6 + 2);
    expect(rb.cpuSeconds).toBe(0.5);
    expect(rb.serverCpuSeconds).toEqual({ source: 0.25, dest: 1.0 });
    // A run that measured no server (remote servers) leaves the figure out.
    expect(medianServerCpu([{ iteration: 1, wallSeconds: 1, cpuSeconds: 1, peakRssBytes: 1 }])).toBeUndefined();
    expect(medianServerCpu([{ iteration: 1, wallSeconds: 1, cpuSeconds: 1, peakRssBytes: 1, serverCpuSeconds: { dest: 2 } }])).toEqual({ source: undefined, dest: 2 });
    expect(s.contenders[1].ratioToReference).toBe(1);
    expect(s.contenders[2].medianSeconds).toBeUndefined();
  });
});

describe('report', () => {
  const p = profileReport(run);
  const report: BenchReport = { rb_bench_report: 1, created_at: '2025-01-01T00:00:00.000Z', machine, settings: { iterations: 3, parallelism: ['auto'], contenders: ['rb:auto'] }, profiles: [p] };

  it('carries the telemetry and every contender into JSON', () => {
    const json = JSON.parse(JSON.stringify(report)) as BenchReport;
    const rb = json.profiles[0].contenders[0];
    expect(rb.ratio_to_psql_binary).toBe(1);
    expect(rb.server_cpu_seconds).toEqual({ source: 0.25, destination: 1 });
    expect(rb.runs[0].server_cpu_seconds).toEqual({ source: 0.25, destination: 1 });
    expect(rb.rb).toMatchObject({ parallelism_mode: 'auto', parallelism_effective: 2, native_mode: 'native' });
    expect(json.profiles[0].contenders.map((c) => c.status)).toEqual(['ok', 'ok', 'skipped', 'failed']);
  });

  it('prints a table with median, rows/s, MB/s, peak RSS, CPU and ratio, and why others did not run', () => {
    const text = formatProfileTable(p);
    expect(text).toMatch(/contender\s+median s\s+rows\/s\s+MB\/s\s+peak RSS\s+CPU s\s+server CPU s\s+vs psql binary/);
    expect(text).toMatch(/rb \(auto\)\s+1\.00\s+200,000\s+100\.0\s+50\.0 MB\s+0\.50\s+0\.25\+1\.00\s+1\.00×/);
    expect(text).toMatch(/pgcopydb\s+SKIPPED: pgcopydb is not installed/);
    expect(text).toMatch(/node pg-copy-streams pipe\s+FAILED: wrong data/);
    expect(text).toMatch(/parallelism auto, effective 2, public\.events shards: 2, codecs native/);
    expect(formatReport(report)).toContain('small — 200,000 rows');
  });

  it('writes a self-contained page with a bar per timed contender and the machine', () => {
    const html = renderHtml(report);
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|<link|src=|url\(/);
    expect(html).toContain('<svg');
    expect((barChartSvg(p).match(/<rect [^>]*rx="3"/g) ?? []).length).toBe(2); // one bar per timed contender
    expect(html).toContain('raw psql binary pipe = 1.00×');
    expect(html).toContain('2 cores — AMD EPYC');
    expect(html).toContain('23.4 GiB');
    expect(html).toContain('18.1 (embedded)');
    expect(html).toContain('skipped: pgcopydb is not installed');
    expect(html).toContain('<td class="num">0.25+1.00</td>');
  });

  it('picks round axis maxima', () => {
    expect(niceMax(187_000)).toBe(200_000);
    expect(niceMax(230_000)).toBe(250_000);
    expect(niceMax(59_630)).toBe(60_000);
    expect(niceMax(9)).toBe(10);
  });
});
