import { describe, expect, it } from 'vitest';
import type { ColumnComparison, TableComparison } from './compare-tables.js';
import { formatComparison } from './format-comparison.js';

function column(name: string, over: Partial<ColumnComparison> = {}): ColumnComparison {
  return { name, sourceType: 'text', destType: 'text', sourceMd5: 'a', destMd5: 'a', typeEqual: true, valuesEqual: true, equal: true, ...over };
}

function table(name: string, rows: [number, number], columns: ColumnComparison[], over: Partial<TableComparison> = {}): TableComparison {
  const mismatchedColumns = columns.filter((c) => !c.equal).map((c) => c.name);
  return {
    source: { schema: 'shop', table: name },
    dest: { schema: 'shop', table: name },
    sourceExists: true,
    destExists: true,
    sourceRows: rows[0],
    destRows: rows[1],
    orderBy: ['id'],
    columns,
    mismatchedColumns,
    equal: rows[0] === rows[1] && mismatchedColumns.length === 0,
    ...over,
  };
}

describe('formatComparison', () => {
  it('prints one aligned line per table and a summary', () => {
    const text = formatComparison([
      table('customers', [50000, 50000], [column('id'), column('name')]),
      table('商品', [3, 3], [column('id'), column('price', { destType: 'numeric', typeEqual: false, equal: false })]),
    ]);
    const lines = text.split('\n');
    expect(lines[0]).toBe('table            rows source → dest   columns equal   result');
    expect(lines[1]).toBe('shop.customers   50,000 → 50,000      2/2             ok');
    // 商品 is two characters but four terminal cells wide; the columns stay aligned.
    expect(lines[2]).toBe('shop."商品"      3 → 3                1/2             MISMATCH: price (type text → numeric)');
    expect(lines.at(-1)).toBe('1 of 2 tables differ');
  });

  it('says when every table is equal, and when nothing was compared', () => {
    expect(formatComparison([table('t', [1, 1], [column('id')])]).split('\n').at(-1)).toBe('1 table equal');
    expect(formatComparison([]).split('\n').at(-1)).toBe('no tables compared');
  });

  it('names columns missing on either side and renamed tables', () => {
    const r = table('t', [1, 1], [column('a', { destType: null, destMd5: null, typeEqual: false, valuesEqual: false, equal: false }), column('Mixed Case', { sourceType: null, sourceMd5: null, typeEqual: false, valuesEqual: false, equal: false })], {
      dest: { schema: 'raw', table: 't' },
    });
    const text = formatComparison([r]);
    expect(text).toContain('shop.t → raw.t');
    expect(text).toContain('MISMATCH: a (not in destination); "Mixed Case" (not in source)');
  });
});
