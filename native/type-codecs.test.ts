import { describe, expect, it } from 'vitest';
import { codecForType, codecsForTypes, TypeOid } from './type-codecs.js';

describe('codecForType', () => {
  it('maps fixed-width built-in types to their width, swapping numbers but not uuid', () => {
    expect(codecForType(TypeOid.bool)).toEqual({ kind: 'fixed', width: 1, swap: false });
    expect(codecForType(TypeOid.int2)).toEqual({ kind: 'fixed', width: 2, swap: true });
    for (const oid of [TypeOid.int4, TypeOid.oid, TypeOid.float4, TypeOid.date]) expect(codecForType(oid)).toEqual({ kind: 'fixed', width: 4, swap: true });
    for (const oid of [TypeOid.int8, TypeOid.float8, TypeOid.money, TypeOid.time, TypeOid.timestamp, TypeOid.timestamptz]) {
      expect(codecForType(oid)).toEqual({ kind: 'fixed', width: 8, swap: true });
    }
    expect(codecForType(TypeOid.uuid)).toEqual({ kind: 'fixed', width: 16, swap: false });
  });

  it('maps everything else to var, including unknown and user-defined OIDs', () => {
    for (const oid of [TypeOid.text, TypeOid.numeric, TypeOid.jsonb, TypeOid.interval, TypeOid.timetz, TypeOid.bytea, 1007, 3904, 90001, 0]) {
      expect(codecForType(oid)).toEqual({ kind: 'var' });
    }
  });

  it('makes every column var for text-format COPY', () => {
    expect(codecsForTypes([TypeOid.int4, TypeOid.uuid, TypeOid.text], 'text')).toEqual([{ kind: 'var' }, { kind: 'var' }, { kind: 'var' }]);
    expect(codecsForTypes([TypeOid.int4, TypeOid.text])).toEqual([{ kind: 'fixed', width: 4, swap: true }, { kind: 'var' }]);
  });
});
