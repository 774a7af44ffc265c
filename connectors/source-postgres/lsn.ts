/**
 * PostgreSQL log sequence numbers (pg_lsn) as bigint. The text form is two hexadecimal numbers,
 * the high and low 32 bits of the 64-bit WAL position, separated by a slash: `16/B374D848`.
 * PostgreSQL prints them in uppercase without leading zeros (`0/0` is InvalidXLogRecPtr); it
 * accepts either case and up to 8 digits per half, as `parseLsn` does.
 */
import { RbError } from '../contract/errors.js';

const LSN_TEXT = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;
const MAX_LSN = (1n << 64n) - 1n;

/** InvalidXLogRecPtr: "no position" in the replication protocol (`0/0`). */
export const INVALID_LSN = 0n;

/** `'16/B374D848'` → `0x16B374D848n`. Throws an RbError naming the text when it is not an LSN. */
export function parseLsn(text: string): bigint {
  const m = typeof text === 'string' ? LSN_TEXT.exec(text) : null;
  if (!m) throw new RbError('internal', `not a PostgreSQL LSN: ${JSON.stringify(text)} (expected two hex numbers such as "16/B374D848")`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** `0x16B374D848n` → `'16/B374D848'` (uppercase hex, as PostgreSQL prints it). */
export function formatLsn(lsn: bigint): string {
  if (typeof lsn !== 'bigint' || lsn < 0n || lsn > MAX_LSN) throw new RbError('internal', `not a PostgreSQL LSN: ${String(lsn)} (expected a bigint in [0, 2^64))`);
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}
