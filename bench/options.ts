/**
 * `rb bench` options: the shape the CLI (engine/cli, commander) hands to `runBenchCommand`, and
 * their validation into settings. Every error is a usage error (exit 2) naming the option.
 */
import { RbError } from '../engine/errors.js';
import { CONTENDER_KINDS, REFERENCE_KIND, type ContenderKind } from './contenders/contender.js';
import { DEFAULT_TOLERANCE } from './gate.js';
import { parseProfiles, type Profile } from './profiles.js';

export interface BenchCommandOptions {
  profile: string;
  iters?: number | string;
  /** Extra rb parallelism values besides `auto` (e.g. ['1', '4']). */
  parallelism?: string[] | string;
  sourceUrl?: string;
  destUrl?: string;
  regenerate?: boolean;
  json?: boolean;
  out?: string;
  check?: string;
  /** A fraction (0.15) or a percentage (15 or '15%'). */
  tolerance?: number | string;
  /** A path, or true for bench/baselines/<profile>.json. */
  saveBaseline?: string | boolean;
  /** false skips the warm-up round (for quick runs and the tests; results are noisier). */
  warmup?: boolean;
  /** Contender kinds to run (comma-separated or a list); psql-binary is always added (it is the reference). */
  contenders?: string | string[];
}

export interface BenchSettings {
  profiles: Profile[];
  iters: number;
  parallelism: string[];
  sourceUrl?: string;
  destUrl?: string;
  regenerate: boolean;
  json: boolean;
  out?: string;
  check?: string;
  tolerance: number;
  saveBaseline?: string;
  /** Given with --contenders; undefined: each profile's default list. */
  contenders?: ContenderKind[];
  warmup: boolean;
}

export const DEFAULT_ITERS = 3;

const list = (v: string[] | string | undefined): string[] =>
  (Array.isArray(v) ? v : v === undefined ? [] : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);

export function parseTolerance(v: number | string | undefined): number {
  if (v === undefined || v === '') return DEFAULT_TOLERANCE;
  const text = String(v).trim();
  const pct = text.endsWith('%');
  const n = Number(pct ? text.slice(0, -1) : text);
  if (!Number.isFinite(n) || n < 0) throw new RbError('usage', `--tolerance: expected a fraction (0.15) or a percentage (15%), found '${text}'`);
  const fraction = pct || n >= 1 ? n / 100 : n;
  if (fraction >= 1) throw new RbError('usage', `--tolerance: expected less than 100%, found '${text}'`);
  return fraction;
}

export function parseParallelism(v: string[] | string | undefined): string[] {
  const out = ['auto'];
  for (const p of list(v)) {
    if (p !== 'auto' && !/^[1-9]\d*$/.test(p)) throw new RbError('usage', `--parallelism: expected 'auto' or an integer >= 1, found '${p}'`);
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/** `--contenders`; left out: undefined (each profile's own list, else DEFAULT_CONTENDER_KINDS). */
export function parseContenders(v: string[] | string | undefined): ContenderKind[] | undefined {
  const names = list(v);
  if (names.length === 0) return undefined;
  const out = new Set<ContenderKind>([REFERENCE_KIND]);
  for (const n of names) {
    if (!CONTENDER_KINDS.includes(n as ContenderKind)) throw new RbError('usage', `--contenders: expected some of ${CONTENDER_KINDS.join(',')}, found '${n}'`);
    out.add(n as ContenderKind);
  }
  return CONTENDER_KINDS.filter((k) => out.has(k));
}

export function parseIters(v: number | string | undefined): number {
  if (v === undefined || v === '') return DEFAULT_ITERS;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new RbError('usage', `--iters: expected an integer >= 1, found '${v}'`);
  return n;
}

export function normalizeOptions(o: BenchCommandOptions): BenchSettings {
  const profiles = parseProfiles(o.profile ?? 'small');
  const single = (flag: string): void => {
    if (profiles.length > 1) throw new RbError('usage', `${flag} compares one profile: give a single --profile`);
  };
  if (o.check) single('--check');
  if (o.saveBaseline) single('--save-baseline');
  const contenders = parseContenders(o.contenders);
  if ((o.check || o.saveBaseline) && contenders && !contenders.includes('rb')) throw new RbError('usage', '--check and --save-baseline measure rb: include rb in --contenders');
  return {
    profiles,
    iters: parseIters(o.iters),
    parallelism: parseParallelism(o.parallelism),
    sourceUrl: o.sourceUrl || undefined,
    destUrl: o.destUrl || undefined,
    regenerate: Boolean(o.regenerate),
    json: Boolean(o.json),
    out: o.out || undefined,
    check: o.check || undefined,
    tolerance: parseTolerance(o.tolerance),
    saveBaseline: o.saveBaseline === true ? `bench/baselines/${profiles[0].name}.json` : o.saveBaseline || undefined,
    contenders,
    warmup: o.warmup !== false,
  };
}
