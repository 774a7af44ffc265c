/**
 * How noisy is the regression gate's figure, and which figure and tolerance catch a real slowdown?
 * (bench/README.md, "Choosing the gate".) Runs the gate's two contenders (rb auto, the psql binary
 * pipe) side by side in alternation, `--windows` gate decisions' worth of pairs unchanged, then
 * `--slowed` decisions' worth with RB_BENCH_CPU_SLOWDOWN (CPU work per chunk in rb's writers: a
 * real slowdown of the move, not a sleep). For each candidate figure it reports, per tolerance, how
 * many unchanged decisions pass and how many slowed ones fail, with a decision made as the gate
 * makes it: the median of `--pairs` consecutive pairs against the baseline (the median of the
 * first unchanged decision's pairs, as `--save-baseline` would have saved it).
 *
 *   npx tsx bench/gate-noise.ts [--profile small] [--pairs 5] [--windows 20] [--slowed 10] [--slowdown 0.15] [--json out.json]
 *
 * Figures (higher is better for rb):
 *   wall  pipe wall s / rb wall s            (the gate before: process start to exit)
 *   move  pipe wall s / rb's move phase s    (rb's --json phases_ms.move: start-up and planning out)
 *   cpu   pipe client CPU s / rb client CPU s (the process trees' user + system)
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { buildContenders } from './contenders/index.js';
import { ensureCompiled } from './compiled.js';
import { parseProfiles } from './profiles.js';
import { median, RATIO_FIGURES, type RatioFigure, type RunRecord } from './results.js';
import { runProfile } from './runner.js';

export type FigureName = RatioFigure;
export const FIGURES = Object.keys(RATIO_FIGURES) as FigureName[];

export interface Pair {
  rb: RunRecord;
  pipe: RunRecord;
}

/** One pair's ratio of a figure, as the report and the gate take it (results.ts RATIO_FIGURES). */
export function figure(name: FigureName, p: Pair): number | undefined {
  const f = RATIO_FIGURES[name];
  const [a, b] = [f.ref(p.pipe), f.cand(p.rb)];
  return a !== undefined && b !== undefined && b > 0 ? a / b : undefined;
}

/** Consecutive, disjoint windows of `size` pairs: one gate decision each (a short last one dropped). */
export function windows<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i + size <= xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

export interface FigureVerdicts {
  figure: FigureName;
  baseline: number;
  /** Each decision's median over its pairs, relative to the baseline (1 = same as the baseline). */
  unchanged: number[];
  slowed: number[];
  /** Per tolerance: unchanged decisions that pass, slowed decisions that fail. */
  byTolerance: Array<{ tolerance: number; unchangedPass: number; slowedFail: number }>;
}

/** The gate's decisions for one figure, at each tolerance from 1% to 40%. */
export function verdicts(name: FigureName, unchanged: Pair[], slowed: Pair[], pairsPerDecision: number): FigureVerdicts | undefined {
  const values = (ps: Pair[]) => ps.map((p) => figure(name, p));
  if ([...values(unchanged), ...values(slowed)].some((v) => v === undefined)) return undefined;
  const decide = (ps: Pair[]) => windows(values(ps) as number[], pairsPerDecision).map(median);
  const [first, ...rest] = decide(unchanged);
  const baseline = first;
  const u = rest.map((v) => v / baseline);
  const s = decide(slowed).map((v) => v / baseline);
  const byTolerance = [];
  for (let pct = 1; pct <= 40; pct++) {
    const t = pct / 100;
    byTolerance.push({ tolerance: t, unchangedPass: u.filter((v) => v >= 1 - t).length, slowedFail: s.filter((v) => v < 1 - t).length });
  }
  return { figure: name, baseline, unchanged: u, slowed: s, byTolerance };
}

function pairsOf(run: Awaited<ReturnType<typeof runProfile>>): Pair[] {
  const rb = run.contenders.find((c) => c.id === 'rb:auto');
  const pipe = run.contenders.find((c) => c.id === 'psql-binary');
  if (rb?.status !== 'ok' || pipe?.status !== 'ok') throw new Error(`gate-noise: a contender failed: ${rb?.reason ?? pipe?.reason}`);
  const byIter = new Map(pipe.runs.map((r) => [r.iteration, r]));
  return rb.runs.filter((r) => byIter.has(r.iteration)).map((r) => ({ rb: r, pipe: byIter.get(r.iteration)! }));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      profile: { type: 'string', default: 'small' },
      pairs: { type: 'string', default: '5' },
      windows: { type: 'string', default: '20' },
      slowed: { type: 'string', default: '10' },
      slowdown: { type: 'string', default: '0.15' },
      json: { type: 'string' },
    },
  });
  const [profile] = parseProfiles(values.profile!);
  const pairs = Number(values.pairs);
  const log = (l: string) => process.stderr.write(`${l}\n`);
  await ensureCompiled(log);
  const contenders = buildContenders(['rb', 'psql-binary'], ['auto']);
  const batch = async (decisions: number, slowdown?: string) => {
    if (slowdown) process.env.RB_BENCH_CPU_SLOWDOWN = slowdown;
    else delete process.env.RB_BENCH_CPU_SLOWDOWN;
    try {
      return pairsOf(await runProfile(profile, { iters: decisions * pairs, contenders, regenerate: false, log }));
    } finally {
      delete process.env.RB_BENCH_CPU_SLOWDOWN;
    }
  };
  // One more unchanged decision than asked: the first is the baseline.
  const unchanged = await batch(Number(values.windows) + 1);
  const slowed = await batch(Number(values.slowed), values.slowdown);
  const move = (ps: Pair[]) => median(ps.map((p) => p.rb.moveSeconds ?? NaN));
  const wall = (ps: Pair[]) => median(ps.map((p) => p.rb.wallSeconds));
  const out = {
    profile: profile.name,
    pairs_per_decision: pairs,
    slowdown: Number(values.slowdown),
    rb_move_slowdown: move(slowed) / move(unchanged) - 1,
    rb_wall_slowdown: wall(slowed) / wall(unchanged) - 1,
    figures: FIGURES.map((f) => verdicts(f, unchanged, slowed, pairs)).filter(Boolean),
    unchanged,
    slowed,
  };
  log(`rb's move ${(out.rb_move_slowdown * 100).toFixed(1)}% slower, its wall time ${(out.rb_wall_slowdown * 100).toFixed(1)}% (RB_BENCH_CPU_SLOWDOWN=${values.slowdown})`);
  for (const f of out.figures) {
    const good = f!.byTolerance.filter((t) => t.unchangedPass >= f!.unchanged.length - Math.floor(f!.unchanged.length / 20) && t.slowedFail >= Math.ceil(f!.slowed.length * 0.9));
    const spread = (xs: number[]) => `${Math.min(...xs).toFixed(3)}–${Math.max(...xs).toFixed(3)}`;
    console.log(
      `${f!.figure.padEnd(5)} baseline ${f!.baseline.toFixed(3)}; unchanged decisions ${spread(f!.unchanged)} of the baseline, slowed ${spread(f!.slowed)}; ` +
        (good.length ? `tolerances meeting 19/20 pass and 9/10 caught: ${good[0].tolerance * 100}%–${good[good.length - 1].tolerance * 100}%` : 'no tolerance meets both'),
    );
  }
  if (values.json) writeFileSync(values.json, `${JSON.stringify(out, null, 2)}\n`);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
