import { describe, expect, it } from 'vitest';
import { CodecError, newPgoutputState, type PgoutputState } from '../codec-api.js';
import { forEachInOrder, type PgoutputBatch, type PgoutputChangeSet, type TupleColumns } from '../pgoutput-types.js';
import { pgo, pgoutputInput, type RelationSpec } from '../testing/pgoutput-fixture.js';
import { tsCodecs as codecs } from './index.js';

const users: RelationSpec = {
  oid: 16384,
  namespace: 'public',
  name: 'users',
  replicaIdentity: 'f',
  columns: [
    { flags: 1, name: 'id', typeOid: 23, typmod: -1 },
    { name: 'name', typeOid: 25 },
    { name: 'bio', typeOid: 25 },
  ],
};
const orders: RelationSpec = { oid: 16390, namespace: '', name: 'orders', columns: [{ flags: 1, name: 'id', typeOid: 20 }] };
const T = 1_000_000n;

/** One of every message, in a plausible order, with the row changes grouped as the parser should. */
const messages = [
  pgo.begin(0x5000n, T, 700),
  pgo.relation(users),
  pgo.type(90001, 'public', 'mood'),
  pgo.insert(users.oid, [{ t: '1' }, { t: 'ann' }, null]),
  pgo.insert(users.oid, [{ t: '2' }, { t: '' }, { b: Buffer.from([0, 1, 2]) }]),
  pgo.insert(orders.oid, [{ t: '10' }]),
  pgo.update(users.oid, [{ t: '1' }, { t: 'anne' }, 'u'], { kind: 'O', values: [{ t: '1' }, { t: 'ann' }, null] }),
  pgo.update(users.oid, [{ t: '2' }, { t: 'bob' }, 'u']),
  pgo.delete(users.oid, 'K', [{ t: '2' }, null, null]),
  pgo.truncate([users.oid, orders.oid], 3),
  pgo.message(true, 0x5100n, 'rb', Buffer.from('hello')),
  pgo.commit(0x5200n, 0x5280n, T + 5n),
  pgo.origin(0x9999n, 'upstream'),
  pgo.streamStart(800, true),
  pgo.relation(orders, 800),
  pgo.insert(orders.oid, [{ t: '11' }], 800),
  pgo.insert(orders.oid, [{ t: '12' }], 800),
  pgo.message(false, 0x5300n, 'p', Buffer.alloc(0), 800),
  pgo.streamStop(),
  pgo.streamStart(801, false),
  pgo.delete(orders.oid, 'O', [{ t: '11' }], 801),
  pgo.streamStop(),
  pgo.streamCommit(800, 0x6000n, 0x6080n, T + 9n),
  pgo.streamAbort(801, 802),
  pgo.streamAbort(803, 803, { abortLsn: 0x7000n, abortTimeUs: T + 10n }),
  pgo.beginPrepare(0x8000n, 0x8080n, T + 11n, 900, 'gid-1'),
  pgo.insert(orders.oid, [{ t: '13' }]),
  pgo.prepare(0x8000n, 0x8080n, T + 11n, 900, 'gid-1'),
  pgo.commitPrepared(0x8100n, 0x8180n, T + 12n, 900, 'gid-1'),
  pgo.rollbackPrepared(0x8080n, 0x8200n, T + 11n, T + 13n, 901, 'gid-2'),
  pgo.streamPrepare(0x8300n, 0x8380n, T + 14n, 902, 'gid-3'),
];

function decode(msgs: Buffer[], state: PgoutputState = newPgoutputState(), proto = 4): PgoutputBatch {
  const input = pgoutputInput(msgs);
  return codecs.pgoutputDecode(input.buf, input.offsets, input.lsns, proto, state);
}

/** The message tags in replay order: what must come out of forEachInOrder. */
function replayTags(batch: PgoutputBatch): string[] {
  const kindTag: Record<string, string> = {
    begin: 'B', commit: 'C', origin: 'O', relation: 'R', type: 'Y', truncate: 'T', message: 'M', streamStart: 'S', streamStop: 'E',
    streamCommit: 'c', streamAbort: 'A', beginPrepare: 'b', prepare: 'P', commitPrepared: 'K', rollbackPrepared: 'r', streamPrepare: 'p',
  };
  const out: string[] = [];
  forEachInOrder(
    batch,
    (e) => out.push(kindTag[e.kind]),
    (set) => set.ops.forEach((op) => out.push(String.fromCharCode(op))),
  );
  return out;
}

function values(t: TupleColumns, row: number): Array<string | null> {
  return t.columns.map((c) => {
    const k = c.kinds[row];
    if (k === 0) return null;
    const kind = String.fromCharCode(k);
    return kind === 't' || kind === 'b' ? `${kind}:${Buffer.from(c.data.subarray(c.offsets[row], c.offsets[row + 1])).toString('hex')}` : kind;
  });
}
const t = (s: string): string => `t:${Buffer.from(s).toString('hex')}`;

describe('pgoutputDecode', () => {
  const state = newPgoutputState();
  const batch = decode(messages, state);

  it('keeps the exact message order between events and row changes', () => {
    expect(replayTags(batch)).toEqual(messages.map((m) => String.fromCharCode(m[0])));
  });

  it('groups consecutive changes of one relation into columnar change sets', () => {
    expect(batch.changes.map((s) => [s.relationOid, s.rowCount, s.eventIndex])).toEqual([
      [users.oid, 2, 3],
      [orders.oid, 1, 3],
      [users.oid, 3, 3],
      [orders.oid, 2, 9],
      [orders.oid, 1, 12],
      [orders.oid, 1, 17],
    ]);
    const [first, , updates] = batch.changes;
    expect(values(first.newTuples, 0)).toEqual([t('1'), t('ann'), 'n']);
    expect(values(first.newTuples, 1)).toEqual([t('2'), t(''), 'b:000102']);
    expect(first.oldTuples).toBeNull();
    expect(Array.from(updates.ops).map((o) => String.fromCharCode(o))).toEqual(['U', 'U', 'D']);
    expect(Array.from(updates.oldKind).map((o) => (o ? String.fromCharCode(o) : ''))).toEqual(['O', '', 'K']);
    expect(values(updates.newTuples, 0)).toEqual([t('1'), t('anne'), 'u']);
    expect(values(updates.newTuples, 2)).toEqual([null, null, null]);
    expect(values(updates.oldTuples as TupleColumns, 0)).toEqual([t('1'), t('ann'), 'n']);
    expect(values(updates.oldTuples as TupleColumns, 1)).toEqual([null, null, null]);
    expect(values(updates.oldTuples as TupleColumns, 2)).toEqual([t('2'), 'n', 'n']);
  });

  it('carries per-row LSNs and the streamed xid', () => {
    const input = pgoutputInput(messages);
    const streamed = batch.changes[3];
    expect(Array.from(streamed.xids)).toEqual([800, 800]);
    expect(Array.from(streamed.lsns)).toEqual([input.lsns[15], input.lsns[16]]);
    expect(Array.from(batch.changes[4].xids)).toEqual([801]);
    expect(Array.from(batch.changes[0].xids)).toEqual([0, 0]);
    expect(Array.from(batch.changes[5].xids)).toEqual([0]);
  });

  it('decodes every event with bigint LSNs and timestamps', () => {
    const e = batch.events;
    expect(e[0]).toEqual({ kind: 'begin', lsn: 0x1000000n, finalLsn: 0x5000n, commitTimeUs: T, xid: 700 });
    expect(e[1]).toMatchObject({ kind: 'relation', xid: 0, relation: { oid: users.oid, namespace: 'public', name: 'users', replicaIdentity: 'f' } });
    expect(e[2]).toMatchObject({ kind: 'type', typeOid: 90001, namespace: 'public', name: 'mood' });
    expect(e[3]).toMatchObject({ kind: 'truncate', cascade: true, restartIdentity: true, relationOids: [users.oid, orders.oid] });
    expect(e[4]).toMatchObject({ kind: 'message', transactional: true, messageLsn: 0x5100n, prefix: 'rb', content: Uint8Array.from(Buffer.from('hello')) });
    expect(e[5]).toMatchObject({ kind: 'commit', flags: 0, commitLsn: 0x5200n, endLsn: 0x5280n, commitTimeUs: T + 5n });
    expect(e[6]).toMatchObject({ kind: 'origin', originLsn: 0x9999n, name: 'upstream' });
    expect(e[7]).toMatchObject({ kind: 'streamStart', xid: 800, firstSegment: true });
    expect(e[8]).toMatchObject({ kind: 'relation', xid: 800 });
    expect(e[9]).toMatchObject({ kind: 'message', xid: 800, transactional: false, prefix: 'p', content: new Uint8Array(0) });
    expect(e[10]).toMatchObject({ kind: 'streamStop' });
    expect(e[11]).toMatchObject({ kind: 'streamStart', xid: 801, firstSegment: false });
    expect(e[13]).toMatchObject({ kind: 'streamCommit', xid: 800, commitLsn: 0x6000n, endLsn: 0x6080n, commitTimeUs: T + 9n });
    expect(e[14]).toMatchObject({ kind: 'streamAbort', xid: 801, subXid: 802, abortLsn: null, abortTimeUs: null });
    expect(e[15]).toMatchObject({ kind: 'streamAbort', xid: 803, abortLsn: 0x7000n, abortTimeUs: T + 10n });
    expect(e[16]).toMatchObject({ kind: 'beginPrepare', prepareLsn: 0x8000n, endLsn: 0x8080n, prepareTimeUs: T + 11n, xid: 900, gid: 'gid-1' });
    expect(e[17]).toMatchObject({ kind: 'prepare', xid: 900, gid: 'gid-1' });
    expect(e[18]).toMatchObject({ kind: 'commitPrepared', commitLsn: 0x8100n, xid: 900, gid: 'gid-1' });
    expect(e[19]).toMatchObject({ kind: 'rollbackPrepared', prepareEndLsn: 0x8080n, rollbackEndLsn: 0x8200n, rollbackTimeUs: T + 13n, xid: 901, gid: 'gid-2' });
    expect(e[20]).toMatchObject({ kind: 'streamPrepare', prepareLsn: 0x8300n, xid: 902, gid: 'gid-3' });
  });

  it('keeps the relation cache and stream state in `state`', () => {
    expect([...state.relations.keys()]).toEqual([users.oid, orders.oid]);
    expect(state.relations.get(users.oid)?.columns).toEqual([
      { flags: 1, name: 'id', typeOid: 23, typmod: -1 },
      { flags: 0, name: 'name', typeOid: 25, typmod: -1 },
      { flags: 0, name: 'bio', typeOid: 25, typmod: -1 },
    ]);
    expect(state.inStream).toBe(false);
  });

  it('gives the same result when the messages arrive in two calls, split anywhere', () => {
    const whole = replayTags(batch);
    for (let cut = 0; cut <= messages.length; cut++) {
      const s = newPgoutputState();
      const a = decode(messages.slice(0, cut), s);
      const b = decode(messages.slice(cut), s);
      expect([...replayTags(a), ...replayTags(b)]).toEqual(whole);
      const rows = (sets: PgoutputChangeSet[]): number => sets.reduce((n, x) => n + x.rowCount, 0);
      expect(rows(a.changes) + rows(b.changes)).toBe(10);
    }
  });

  it('throws a CodecError naming offset, need and message for every truncated message', () => {
    const prefix = pgo.origin(1n, 'x'); // keeps offsets non-zero, leaves the state alone
    messages.forEach((m, i) => {
      for (let len = 1; len < m.length; len++) {
        const s = newPgoutputState();
        if (i >= 15 && i <= 21) s.inStream = m[0] !== 0x53 && i !== 18 && i !== 19;
        const cut = Buffer.from(m.subarray(0, len));
        if (m[0] === 0x41 && len === 9) continue; // a Stream Abort without the v4 fields is valid
        expect(() => decode([prefix, cut], s), `message ${i} cut at ${len}`).toThrow(CodecError);
      }
    });
  });

  it('words errors like "need 8 bytes at offset 41, have 3 (message \'B\')"', () => {
    const begin = pgo.begin(1n, 2n, 3);
    const filler = Buffer.concat([pgo.streamStart(1, true), pgo.streamStop()]).subarray(0, 6);
    try {
      decode([filler, pgo.streamStop(), begin.subarray(0, 12)]);
      throw new Error('expected a CodecError');
    } catch (e) {
      expect(e).toBeInstanceOf(CodecError);
      expect((e as CodecError).message).toBe("pgoutput: need 8 bytes at offset 16, have 3 (message 'B')");
      expect((e as CodecError).offset).toBe(16);
    }
  });

  it('rejects unknown tags, bad markers, trailing bytes and bad input ranges', () => {
    expect(() => decode([Buffer.from('Z')])).toThrow(/unknown message tag at offset 0 \(message 'Z'\)/);
    expect(() => decode([Buffer.concat([pgo.streamStop(), Buffer.from([0])])])).toThrow(/1 unexpected trailing bytes/);
    const badMarker = pgo.insert(1, [{ t: 'x' }]);
    badMarker[5] = 0x58;
    expect(() => decode([badMarker])).toThrow(/expected 'N' at offset 5/);
    const badKind = pgo.insert(1, [{ t: 'x' }]);
    badKind[8] = 0x78;
    expect(() => decode([badKind])).toThrow(/column 0 has value kind 0x78 at offset 8/);
    expect(() => decode([pgo.insert(1, [null])], newPgoutputState(), 5)).toThrow(/protocol version 5/);
    const input = pgoutputInput([pgo.streamStop()]);
    expect(() => codecs.pgoutputDecode(input.buf, Int32Array.from([0, 5]), input.lsns, 2, newPgoutputState())).toThrow(CodecError);
    expect(() => codecs.pgoutputDecode(input.buf, Int32Array.from([0, 1]), new BigInt64Array(0), 2, newPgoutputState())).toThrow(CodecError);
  });

  it('splits change sets when the column count changes (a new relation version)', () => {
    const b = decode([pgo.insert(1, [{ t: 'a' }]), pgo.insert(1, [{ t: 'a' }, { t: 'b' }]), pgo.insert(1, [{ t: 'c' }, null])]);
    expect(b.changes.map((s) => [s.newTuples.columns.length, s.rowCount])).toEqual([
      [1, 1],
      [2, 2],
    ]);
  });

  it('rejects an update whose old and new tuples differ in width', () => {
    expect(() => decode([pgo.update(1, [{ t: 'a' }], { kind: 'K', values: [{ t: 'a' }, null] })])).toThrow(/new tuple at offset \d+ has 1 columns, old tuple has 2/);
  });

  it('returns empty output for no messages', () => {
    expect(decode([])).toEqual({ events: [], changes: [] });
  });
});
