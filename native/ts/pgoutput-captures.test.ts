/**
 * The parser against real server output: every capture in native/testing/fixtures (written by
 * engine/testing/capture-pgoutput.ts, protocol versions 1-4, text and binary) must decode, and a
 * few facts of the captured workload must come out right.
 */
import { describe, expect, it } from 'vitest';
import { newPgoutputState } from '../codec-api.js';
import { forEachInOrder, type PgoutputBatch, type PgoutputChangeSet, type PgoutputEvent } from '../pgoutput-types.js';
import { loadCaptures, parseLsn, pgoutputInput } from '../testing/pgoutput-fixture.js';
import { tsCodecs as codecs } from './index.js';

const captures = loadCaptures();
const ch = (c: string): number => c.charCodeAt(0);

type Item = { event: PgoutputEvent } | { set: PgoutputChangeSet };

function ordered(batch: PgoutputBatch): Item[] {
  const out: Item[] = [];
  forEachInOrder(
    batch,
    (event) => out.push({ event }),
    (set) => out.push({ set }),
  );
  return out;
}

function value(set: PgoutputChangeSet, row: number, col: number, old = false): Buffer {
  const c = (old ? set.oldTuples! : set.newTuples).columns[col];
  return Buffer.from(c.data.subarray(c.offsets[row], c.offsets[row + 1]));
}

describe('real pgoutput captures', () => {
  it('has captures for protocol versions 1-4 in text and binary', () => {
    expect(captures.map((c) => c.file)).toEqual([
      'pgoutput-v1-binary.json', 'pgoutput-v1-text.json', 'pgoutput-v2-binary.json', 'pgoutput-v2-text.json',
      'pgoutput-v3-binary.json', 'pgoutput-v3-text.json', 'pgoutput-v4-binary.json', 'pgoutput-v4-text.json',
    ]);
  });

  for (const { file, capture, input } of captures) {
    describe(file, () => {
      const state = newPgoutputState();
      const batch = codecs.pgoutputDecode(input.buf, input.offsets, input.lsns, capture.protoVersion, state);
      const events = batch.events;
      const items = [...state.relations.values()].find((r) => r.name === 'items')!;
      const audit = [...state.relations.values()].find((r) => r.name === 'audit')!;
      const sets = (oid: number): PgoutputChangeSet[] => batch.changes.filter((s) => s.relationOid === oid);
      const rowsOf = (oid: number, op: string): number => sets(oid).reduce((n, s) => n + s.ops.filter((o) => o === ch(op)).length, 0);

      it('decodes every message, the same in one call or in chunks', () => {
        const rows = batch.changes.reduce((n, s) => n + s.rowCount, 0);
        expect(rows + events.length).toBe(capture.messages.length);
        const chunked = newPgoutputState();
        const kinds: string[] = [];
        for (let i = 0; i < capture.messages.length; i += 7) {
          const part = capture.messages.slice(i, i + 7);
          const inp = pgoutputInput(part.map(([, b]) => Buffer.from(b, 'base64')), 0n, part.map(([l]) => parseLsn(l)));
          const b = codecs.pgoutputDecode(inp.buf, inp.offsets, inp.lsns, capture.protoVersion, chunked);
          for (const it of ordered(b)) kinds.push('event' in it ? it.event.kind : `rows:${it.set.rowCount}`);
        }
        expect(kinds.filter((k) => !k.startsWith('rows')).join()).toBe(events.map((e) => e.kind).join());
        expect(chunked.relations).toEqual(state.relations);
      });

      it('announces the user type and the relations with their columns', () => {
        expect(events.some((e) => e.kind === 'type' && e.name === 'mood' && e.namespace === 'public')).toBe(true);
        expect(items.columns.map((c) => c.name)).toEqual(['id', 'name', 'qty', 'price', 'doc', 'mood', 'at']);
        expect(items.columns[0].flags).toBe(1);
        expect(items.columns[3]).toMatchObject({ typeOid: 1700, typmod: (10 << 16) + 2 + 4 });
        expect(audit.replicaIdentity).toBe('f');
      });

      it('carries inserts with the full TOAST value, in the requested format', () => {
        expect(rowsOf(items.oid, 'I')).toBeGreaterThanOrEqual(18);
        const first = sets(items.oid)[0];
        expect(value(first, 0, 4).toString()).toBe('toast-'.repeat(400));
        const kind = capture.binary ? 'b' : 't';
        expect(String.fromCharCode(first.newTuples.columns[0].kinds[0])).toBe(kind);
        expect(value(first, 0, 0).equals(capture.binary ? Buffer.from([0, 0, 0, 1]) : Buffer.from('1'))).toBe(true);
        // 'infinity' timestamptz of row 2 survives as its wire form.
        const inf = value(first, 1, 6);
        expect(capture.binary ? inf.readBigInt64BE() : inf.toString()).toEqual(capture.binary ? 0x7fffffffffffffffn : 'infinity');
      });

      it("marks the unchanged TOAST value of an update 'u'", () => {
        const upd = sets(items.oid).find((s) => s.ops[0] === ch('U'))!;
        expect(String.fromCharCode(upd.newTuples.columns[4].kinds[0])).toBe('u');
        expect(upd.newTuples.columns[4].offsets[1] - upd.newTuples.columns[4].offsets[0]).toBe(0);
      });

      it("carries old tuples: 'O' with REPLICA IDENTITY FULL, 'K' for key changes and deletes", () => {
        const auditOld = sets(audit.oid).flatMap((s) => Array.from(s.oldKind).map((k, i) => [String.fromCharCode(s.ops[i]), k ? String.fromCharCode(k) : '']));
        expect(auditOld).toEqual([
          ['I', ''],
          ['I', ''],
          ['U', 'O'],
          ['D', 'O'],
        ]);
        const auditUpdate = sets(audit.oid).find((s) => s.ops[0] === ch('U'))!;
        expect(value(auditUpdate, 0, 2, true).toString()).toBe('created');
        expect(value(auditUpdate, 0, 2).toString()).toBe('checked');
        const keyed = sets(items.oid).filter((s) => s.oldKind.includes(ch('K')));
        expect(keyed.map((s) => String.fromCharCode(s.ops[0]))).toEqual(['D', 'U']);
        expect(String.fromCharCode(keyed[0].oldTuples!.columns[1].kinds[0])).toBe('n'); // non-key columns of a 'K' tuple are null
      });

      it('decodes truncate, logical messages and the replication origin', () => {
        expect(events.find((e) => e.kind === 'truncate')).toMatchObject({ relationOids: [audit.oid], restartIdentity: true, cascade: false });
        const msgs = events.filter((e) => e.kind === 'message');
        expect(msgs.map((m) => [m.transactional, m.prefix, Buffer.from(m.content).toString()])).toEqual([
          [true, 'rb', 'hello'],
          [false, 'rb', 'outside a transaction'],
        ]);
        expect(events.find((e) => e.kind === 'origin')).toMatchObject({ name: 'rb_upstream', originLsn: 0xabcdef0n });
      });

      it('pairs begin and commit LSNs, and keeps per-row LSNs of the messages', () => {
        let begin: Extract<PgoutputEvent, { kind: 'begin' }> | undefined;
        for (const e of events) {
          if (e.kind === 'begin') begin = e;
          if (e.kind === 'commit') {
            expect(e.commitLsn).toBe(begin!.finalLsn);
            expect(e.endLsn > e.commitLsn).toBe(true);
          }
        }
        const all = new Set(Array.from(input.lsns));
        for (const s of batch.changes) for (const l of s.lsns) expect(all.has(l)).toBe(true);
      });

      if (capture.protoVersion >= 2) {
        it('streams the large transaction and carries its xid on every streamed change', () => {
          let streamXid = 0;
          const streamed: number[] = [];
          for (const it of ordered(batch)) {
            if ('event' in it) {
              if (it.event.kind === 'streamStart') streamXid = it.event.xid;
              if (it.event.kind === 'streamStop') streamXid = 0;
            } else {
              for (const x of it.set.xids) {
                if (streamXid === 0) expect(x).toBe(0);
                else {
                  // The top-level xid, or one of its subtransactions (assigned later, so larger).
                  expect(x).toBeGreaterThanOrEqual(streamXid);
                  streamed.push(x);
                }
              }
            }
          }
          const starts = events.filter((e) => e.kind === 'streamStart');
          const commits = events.filter((e) => e.kind === 'streamCommit');
          expect(starts.some((s) => s.firstSegment)).toBe(true);
          expect(commits.length).toBeGreaterThanOrEqual(2);
          for (const c of commits) expect(streamed).toContain(c.xid);
          expect(streamed.length).toBeGreaterThanOrEqual(10);
          // The rolled-back savepoint is a Stream Abort of a subtransaction.
          const abort = events.find((e) => e.kind === 'streamAbort')!;
          expect(abort.subXid).toBeGreaterThan(abort.xid);
          if (capture.streaming === 'parallel') expect(typeof abort.abortLsn).toBe('bigint');
          else expect(abort.abortLsn).toBeNull();
        });
      }

      if (capture.twoPhase) {
        it('decodes two-phase commit messages', () => {
          const gids = events.flatMap((e) => ('gid' in e ? [`${e.kind}:${e.gid}`] : []));
          expect(gids).toEqual([
            'beginPrepare:rb_gid_1', 'prepare:rb_gid_1', 'commitPrepared:rb_gid_1',
            'beginPrepare:rb_gid_2', 'prepare:rb_gid_2', 'rollbackPrepared:rb_gid_2',
            'streamPrepare:rb_gid_3', 'commitPrepared:rb_gid_3',
          ]);
        });
      }
    });
  }
});
