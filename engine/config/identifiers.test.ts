import { describe, expect, it } from 'vitest';
import { RbError } from '../errors.js';
import { checkQualifiedName, formatQualifiedName, parseQualifiedName } from './identifiers.js';

describe('parseQualifiedName', () => {
  it('splits schema.table', () => {
    expect(parseQualifiedName('sales.orders')).toEqual({ schema: 'sales', table: 'orders' });
  });

  it('defaults the schema to public for a bare table', () => {
    expect(parseQualifiedName('orders')).toEqual({ schema: 'public', table: 'orders' });
  });

  it('keeps names exactly as written (no case folding)', () => {
    expect(parseQualifiedName('Sales.Orders')).toEqual({ schema: 'Sales', table: 'Orders' });
  });

  it('reads double-quoted parts with doubled quotes', () => {
    expect(parseQualifiedName('"My Schema"."Odd ""Table"""')).toEqual({ schema: 'My Schema', table: 'Odd "Table"' });
  });

  it('keeps a dot inside quotes as part of the name', () => {
    expect(parseQualifiedName('"a.b"."c.d"')).toEqual({ schema: 'a.b', table: 'c.d' });
    expect(parseQualifiedName('"v1.events"')).toEqual({ schema: 'public', table: 'v1.events' });
  });

  it('mixes quoted and unquoted parts and tolerates spaces around the dot', () => {
    expect(parseQualifiedName('raw."Order Items"')).toEqual({ schema: 'raw', table: 'Order Items' });
    expect(parseQualifiedName('"Raw" . orders')).toEqual({ schema: 'Raw', table: 'orders' });
  });

  it('accepts characters PostgreSQL allows only when quoted, as long as there is no dot or quote', () => {
    expect(parseQualifiedName('public.order-items')).toEqual({ schema: 'public', table: 'order-items' });
  });

  it('throws config_invalid naming the problem', () => {
    const cases: Array<[string, string]> = [
      ['', 'the name is empty'],
      ['a.', 'the name ends with a dot'],
      ['a..b', 'a name part is empty'],
      ['.a', 'a name part is empty'],
      ['"abc', 'a double quote is not closed'],
      ['""', 'a quoted name part is empty'],
      ['a.b.c', 'has 3 parts; expected table or schema.table'],
      ['"a"b', 'unexpected "b" at character 4'],
      ['x'.repeat(64), 'is longer than 63 bytes'],
    ];
    for (const [name, problem] of cases) {
      let error: unknown;
      try {
        parseQualifiedName(name);
      } catch (e) {
        error = e;
      }
      expect(error, name).toBeInstanceOf(RbError);
      expect((error as RbError).code).toBe('config_invalid');
      expect((error as RbError).message).toContain(`invalid stream name ${JSON.stringify(name)}: `);
      expect((error as RbError).message).toContain(problem);
    }
  });

  it('measures the 63-byte limit in UTF-8 bytes', () => {
    expect(checkQualifiedName('é'.repeat(31)).ok).toBe(true); // 62 bytes
    expect(checkQualifiedName('é'.repeat(32)).ok).toBe(false); // 64 bytes
  });
});

describe('formatQualifiedName', () => {
  it('quotes both parts and doubles quotes, round-tripping through the parser', () => {
    const name = { schema: 'My Schema', table: 'Odd "Table"' };
    expect(formatQualifiedName(name)).toBe('"My Schema"."Odd ""Table"""');
    expect(parseQualifiedName(formatQualifiedName(name))).toEqual(name);
  });
});
