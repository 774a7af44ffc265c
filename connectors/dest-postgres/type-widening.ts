/**
 * Whether every value of one column type fits another unchanged (docs/design.md section 9,
 * `schema_evolution.type_change: coerce`): when the source's type holds more than the
 * destination's (int → bigint, varchar(10) → varchar(50), numeric(10,2) → numeric(12,2)), prepare
 * widens the destination column to the source's type; otherwise values are written through their
 * text form and the destination's type reads them (a value that does not fit is a data error).
 * Types are compared as `format_type` prints them; anything not listed here is not known to fit.
 */

const INTEGERS: Record<string, number> = { smallint: 1, integer: 2, bigint: 3 };
/** Decimal digits an integer type may need. */
const INTEGER_DIGITS: Record<string, number> = { smallint: 5, integer: 10, bigint: 19 };

interface Parsed {
  base: string;
  /** numeric(p,s): [p, s]; varchar(n) / char(n): [n]; absent: unbounded. */
  mods: number[] | null;
}

function parse(type: string): Parsed {
  const t = type.trim().toLowerCase().replace(/"/g, '');
  const m = /^(.*?)\s*\(([\d,\s]+)\)$/.exec(t);
  return m ? { base: m[1], mods: m[2].split(',').map((x) => Number(x.trim())) } : { base: t, mods: null };
}

/** True when every value of type `from` is a value of type `to`, unchanged. */
export function fitsIn(from: string, to: string): boolean {
  const a = parse(from);
  const b = parse(to);
  if (a.base === b.base && JSON.stringify(a.mods) === JSON.stringify(b.mods)) return true;
  if (a.base in INTEGERS) {
    if (b.base in INTEGERS) return INTEGERS[a.base] <= INTEGERS[b.base];
    if (b.base === 'numeric') return !b.mods || b.mods[0] - (b.mods[1] ?? 0) >= INTEGER_DIGITS[a.base];
    if (b.base === 'double precision') return a.base !== 'bigint';
    if (b.base === 'real') return a.base === 'smallint';
    return false;
  }
  if (a.base === 'real') return b.base === 'double precision';
  if (a.base === 'numeric' && b.base === 'numeric') {
    if (!b.mods) return true;
    if (!a.mods) return false;
    const [p, s = 0] = a.mods;
    const [p2, s2 = 0] = b.mods;
    return s2 >= s && p2 - s2 >= p - s;
  }
  const texts = ['character varying', 'text'];
  if (texts.includes(a.base) && texts.includes(b.base)) {
    if (b.base === 'text' || !b.mods) return true;
    return a.base === 'character varying' && !!a.mods && a.mods[0] <= b.mods[0];
  }
  return false;
}
