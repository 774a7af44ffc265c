/**
 * Byte sizes in the pipeline YAML (docs/design.md section 10): `64mb`, `512 KB`, `1gb`, `1.5gb`, `4096`.
 * Units are binary (1kb = 1024 bytes), case-insensitive, with or without a space between the number
 * and the unit. The result is always a whole number of bytes: `0.1kb` (102.4 bytes) is rejected
 * rather than rounded, because a silently rounded buffer size is a surprise nobody asked for.
 */

export const BYTES_PER_KB = 1024;
export const BYTES_PER_MB = 1024 * BYTES_PER_KB;
export const BYTES_PER_GB = 1024 * BYTES_PER_MB;

const UNIT_BYTES: Record<string, number> = {
  '': 1,
  b: 1,
  kb: BYTES_PER_KB,
  mb: BYTES_PER_MB,
  gb: BYTES_PER_GB,
};

const BYTE_SIZE_PATTERN = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i;

/** What `parseByteSize` says about a value that is not a byte size. */
export const BYTE_SIZE_EXPECTED = 'a byte size like 64mb, 512kb, 1gb or a whole number of bytes';

/**
 * Parses a byte size into a whole number of bytes, or returns `undefined` when the value is not
 * one (wrong type, negative, fractional bytes, unknown unit, beyond Number.MAX_SAFE_INTEGER).
 *
 * @example parseByteSize('64mb') === 67108864; parseByteSize('512 KB') === 524288; parseByteSize(4096) === 4096
 */
export function parseByteSize(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  }
  if (typeof value !== 'string') return undefined;
  const match = BYTE_SIZE_PATTERN.exec(value.trim());
  if (!match) return undefined;
  const amount = Number(match[1]);
  const unit = (match[2] ?? '').toLowerCase();
  const bytes = amount * UNIT_BYTES[unit];
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/**
 * Prints a byte count in the largest unit that divides it exactly, so the text parses back to the
 * same number (no `1.5kb` approximations in messages).
 *
 * @example formatByteSize(64 * 1024 * 1024) === '64mb'; formatByteSize(1000) === '1000'
 */
export function formatByteSize(bytes: number): string {
  if (bytes > 0 && bytes % BYTES_PER_GB === 0) return `${bytes / BYTES_PER_GB}gb`;
  if (bytes > 0 && bytes % BYTES_PER_MB === 0) return `${bytes / BYTES_PER_MB}mb`;
  if (bytes > 0 && bytes % BYTES_PER_KB === 0) return `${bytes / BYTES_PER_KB}kb`;
  return String(bytes);
}
