import { InvalidArgumentError } from 'commander';

/** `--parallelism auto|N`: N an integer >= 1; 0, negatives and anything else are usage errors. */
export function parseParallelism(value: string): 'auto' | number {
  if (value === 'auto') return 'auto';
  if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`expected auto or an integer >= 1, found ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n < 1) throw new InvalidArgumentError(`expected auto or an integer >= 1, found ${n}`);
  return n;
}

/** An integer >= 1 (`--concurrency`, `--job-timeout`). */
export function positiveInt(value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1) throw new InvalidArgumentError(`expected an integer >= 1, found ${JSON.stringify(value)}`);
  return Number(value);
}
