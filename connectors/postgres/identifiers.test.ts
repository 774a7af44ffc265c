import { describe, expect, it } from 'vitest';
import { displayName, parseQualifiedName, quoteIdent, quoteLiteral } from './identifiers.js';

describe('identifiers', () => {
  it('quotes names with quotes, spaces and unicode', () => {
    expect(quoteIdent('a"b')).toBe('"a""b"');
    expect(quoteIdent('Mixed Case ü')).toBe('"Mixed Case ü"');
    expect(() => quoteIdent('a\0b')).toThrow(/NUL/);
    expect(quoteLiteral("it's")).toBe("'it''s'");
  });
  it('parses bare, qualified and quoted names', () => {
    expect(parseQualifiedName('orders')).toEqual({ schema: 'public', table: 'orders' });
    expect(parseQualifiedName('shop.Orders')).toEqual({ schema: 'shop', table: 'Orders' });
    expect(parseQualifiedName('"My Schema"."odd ""t"".x"')).toEqual({ schema: 'My Schema', table: 'odd "t".x' });
    expect(() => parseQualifiedName('a.b.c')).toThrow(/expected table or schema.table/);
    expect(() => parseQualifiedName('"open')).toThrow(/not closed/);
  });
  it('displays names readably', () => {
    expect(displayName({ schema: 'public', table: 'orders' })).toBe('public.orders');
    expect(displayName({ schema: 'public', table: 'Odd Name' })).toBe('public."Odd Name"');
  });
});
