/**
 * Bounded fuzzing of every decoder: random bytes and random mutations of valid input must either
 * decode or throw a CodecError — never another exception, never a hang. Seeded, so a failure
 * names the iteration that reproduces it.
 */
import { describe, expect, it } from 'vitest';
import { CodecError, newPgoutputState } from '../codec-api.js';
import { buildCopyBinary, buildCopyTuples, prng, randomBatch, randomCodecs, wire } from '../testing/copy-fixture.js';
import { pgo, pgoutputInput } from '../testing/pgoutput-fixture.js';
import { tsCodecs as codecs } from './index.js';

const ITERATIONS = 3000;

function mutate(rnd: () => number, src: Uint8Array): Uint8Array {
  const b = Buffer.from(src);
  const edits = 1 + Math.floor(rnd() * 4);
  for (let e = 0; e < edits && b.length > 0; e++) {
    const at = Math.floor(rnd() * b.length);
    const pick = rnd();
    if (pick < 0.5) b[at] = Math.floor(rnd() * 256);
    else if (pick < 0.7) b[at] = 0xff;
    else if (pick < 0.85) b[at] ^= 1 << Math.floor(rnd() * 8);
    else return b.subarray(0, at); // truncate
  }
  return b;
}

function randomBytes(rnd: () => number, max: number): Uint8Array {
  const b = new Uint8Array(Math.floor(rnd() * max));
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

/** Runs `fn`; a CodecError counts as a clean rejection, anything else fails the test. */
function survive(label: string, fn: () => void): 'ok' | 'rejected' {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (e instanceof CodecError) {
      expect(typeof e.offset, label).toBe('number');
      return 'rejected';
    }
    throw new Error(`${label}: ${e instanceof Error ? e.stack : String(e)}`);
  }
}

describe('fuzz', () => {
  it('COPY scan/decode: succeed (and re-encode to the same bytes) or throw CodecError', () => {
    const rnd = prng(0xc0ffee);
    const cols = randomCodecs(7, 5);
    const valid = buildCopyBinary(
      Array.from({ length: 12 }, (_, i) => cols.map((c, j) => (i % 5 === j ? null : Buffer.alloc(c.kind === 'fixed' ? c.width : (i * j) % 9, i + j)))),
    );
    const seen = { ok: 0, rejected: 0 };
    for (let it = 0; it < ITERATIONS; it++) {
      const input = it % 4 === 0 ? randomBytes(rnd, 80) : mutate(rnd, valid);
      seen[
        survive(`copy iteration ${it}`, () => {
          const h = codecs.copyHeaderLength(input, 0);
          const start = h < 0 ? 0 : h;
          const scan = codecs.copyScan(input, start, -1);
          expect(scan.end).toBeLessThanOrEqual(input.length);
          const dec = codecs.copyDecode(input, start, cols);
          const tuplesEnd = dec.done ? dec.end - 2 : dec.end;
          const out = Buffer.alloc(codecs.copyEncodedLength(dec.batch));
          codecs.copyEncodeInto(dec.batch, out, 0);
          expect(out.equals(Buffer.from(input.subarray(start, tuplesEnd)))).toBe(true);
        })
      ]++;
    }
    expect(seen.ok).toBeGreaterThan(100);
    expect(seen.rejected).toBeGreaterThan(100);
  });

  it('COPY encode: random batches never throw anything but CodecError when corrupted', () => {
    const rnd = prng(99);
    for (let it = 0; it < 500; it++) {
      const cols = randomCodecs(it, 1 + (it % 4));
      const batch = randomBatch(it, cols, it % 20);
      const col = batch.columns[it % cols.length];
      // Corrupt one array: shorten it or scramble an offset.
      if (rnd() < 0.5) col.nulls = col.nulls.subarray(0, Math.floor(rnd() * col.nulls.length));
      else if (col.kind === 'var' && col.offsets.length > 1) col.offsets[Math.floor(rnd() * col.offsets.length)] = Math.floor(rnd() * 2000) - 1000;
      else if (col.kind === 'fixed') col.values = col.values.subarray(0, Math.floor(rnd() * col.values.length));
      survive(`encode iteration ${it}`, () => {
        const out = new Uint8Array(codecs.copyEncodedLength(batch));
        codecs.copyEncodeInto(batch, out, 0);
      });
    }
  });

  it('CopyData de-framing: consume whole messages only, or throw CodecError', () => {
    const rnd = prng(7);
    const frame = (p: Buffer): Buffer => Buffer.concat([Buffer.from([0x64]), wire.int4(p.length + 4), p]);
    const valid = Buffer.concat([frame(Buffer.from('a')), frame(Buffer.alloc(70, 1)), frame(Buffer.alloc(0)), Buffer.from([0x63, 0, 0, 0, 4])]);
    for (let it = 0; it < ITERATIONS; it++) {
      const input = it % 3 === 0 ? randomBytes(rnd, 40) : mutate(rnd, valid);
      survive(`deframe iteration ${it}`, () => {
        const out = new Uint8Array(input.length);
        const r = codecs.deframeCopyData(input, 0, out, 0);
        expect(r.consumed).toBeLessThanOrEqual(input.length);
        expect(r.written).toBe(r.consumed - 5 * r.messages);
      });
    }
  });

  it('pgoutput: decode or throw CodecError, for random and mutated messages', () => {
    const rnd = prng(4242);
    const rel = { oid: 5, namespace: 'public', name: 't', columns: [{ name: 'a', typeOid: 23 }, { name: 'b', typeOid: 25 }] };
    const valid = [
      pgo.begin(1n, 2n, 3),
      pgo.relation(rel),
      pgo.insert(5, [{ t: '1' }, null]),
      pgo.update(5, [{ t: '1' }, 'u'], { kind: 'O', values: [{ t: '1' }, { b: Buffer.from([1]) }] }),
      pgo.delete(5, 'K', [{ t: '1' }, null]),
      pgo.truncate([5], 0),
      pgo.message(true, 9n, 'x', Buffer.from('yz')),
      pgo.commit(1n, 2n, 3n),
      pgo.streamStart(9, true),
      pgo.insert(5, [{ t: '2' }, { t: 'q' }], 9),
      pgo.streamStop(),
      pgo.streamAbort(9, 9),
      pgo.beginPrepare(1n, 2n, 3n, 4, 'g'),
      pgo.rollbackPrepared(1n, 2n, 3n, 4n, 5, 'g'),
    ];
    for (let it = 0; it < ITERATIONS; it++) {
      const msgs = valid.map((m) => (rnd() < 0.2 ? mutate(rnd, m) : m)).filter((m) => m.length > 0);
      if (it % 5 === 0) msgs.push(randomBytes(rnd, 30));
      const nonEmpty = msgs.filter((m) => m.length > 0);
      const input = pgoutputInput(nonEmpty);
      survive(`pgoutput iteration ${it}`, () => {
        const batch = codecs.pgoutputDecode(input.buf, input.offsets, input.lsns, 1 + (it % 4), newPgoutputState());
        const rows = batch.changes.reduce((n, s) => n + s.rowCount, 0);
        expect(rows + batch.events.length).toBe(nonEmpty.length);
      });
    }
  });

  it('copyScan agrees with copyDecode on row counts for var-only codecs', () => {
    const rnd = prng(1);
    for (let it = 0; it < 300; it++) {
      const n = 1 + (it % 4);
      const rows = Array.from({ length: it % 9 }, () => Array.from({ length: n }, () => (rnd() < 0.2 ? null : Buffer.alloc(Math.floor(rnd() * 5), 3))));
      const bytes = buildCopyTuples(rows).subarray(0, Math.floor(rnd() * 200));
      const scan = codecs.copyScan(bytes, 0, n);
      const dec = codecs.copyDecode(bytes, 0, Array.from({ length: n }, () => ({ kind: 'var' as const })));
      expect([dec.rows, dec.end, dec.done]).toEqual([scan.rows, scan.end, scan.done]);
    }
  });
});
