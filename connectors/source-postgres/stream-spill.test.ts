/**
 * StreamSpills (stream-spill.ts): a streamed transaction's messages come back in arrival order
 * with their LSNs, whether they stayed in memory, went to its file, or straddle the file's read
 * blocks; aborts drop a whole transaction or mark a subtransaction; the files leave nothing in
 * their directory, even while open.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StreamSpills, type MessageChunk } from './stream-spill.js';

function messages(chunks: Iterable<MessageChunk>): Array<{ payload: string; lsn: bigint }> {
  const out: Array<{ payload: string; lsn: bigint }> = [];
  for (const c of chunks) {
    expect(c.offsets.length).toBe(c.lsns.length + 1);
    for (let i = 0; i < c.lsns.length; i++) out.push({ payload: c.buf.subarray(c.offsets[i], c.offsets[i + 1]).toString('latin1'), lsn: c.lsns[i] });
  }
  return out;
}

function payload(i: number, size: number): Buffer {
  const b = Buffer.alloc(size, 65 + (i % 26));
  b.writeUInt32BE(i, 0);
  return b;
}

describe('StreamSpills', () => {
  it('gives a transaction back in arrival order from memory and from its file, across read blocks', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-spill-test-'));
    // 3 kB in memory, 64 kB read blocks (the minimum) and 10 kB chunks: sizes up to 200 kB cross
    // both, one message is larger than a block.
    const spills = new StreamSpills({ dir, memoryBytes: 3000, chunkBytes: 10_000 });
    const sent: Array<{ payload: string; lsn: bigint }> = [];
    for (let i = 0; i < 400; i++) {
      const size = i === 200 ? 200_000 : 1 + ((i * 7919) % 900);
      const p = payload(i, Math.max(size, 4));
      const lsn = 0x1_0000_0000n + BigInt(i) * 100n;
      spills.add(77, p, lsn);
      spills.add(78, p.subarray(0, 4), lsn + 1n); // a second transaction interleaved
      sent.push({ payload: p.toString('latin1'), lsn });
    }
    expect(spills.inProgress).toBe(2);
    // Unlinked while open: nothing in the directory although both spilled to files.
    expect(readdirSync(dir)).toEqual([]);
    const t = spills.take(77)!;
    expect(t.onDisk).toBe(true);
    expect(t.messages).toBe(400);
    const got = messages(t.chunks());
    expect(got.length).toBe(400);
    expect(got).toEqual(sent);
    // Twice: the replay reads the file, it does not consume it.
    expect(messages(t.chunks())).toEqual(sent);
    t.dispose();
    expect(spills.inProgress).toBe(1);
    expect(messages(spills.take(78)!.chunks()).map((m) => m.payload.length)).toEqual(sent.map(() => 4));
    spills.close();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('keeps a small transaction in memory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-spill-test-'));
    const spills = new StreamSpills({ dir });
    spills.add(5, Buffer.from('one'), 10n);
    spills.add(5, Buffer.from('two'), 20n);
    const t = spills.take(5)!;
    expect(t.onDisk).toBe(false);
    expect(messages(t.chunks())).toEqual([
      { payload: 'one', lsn: 10n },
      { payload: 'two', lsn: 20n },
    ]);
    expect(spills.take(6)).toBeUndefined();
  });

  it('a Stream Abort of the transaction drops it; of a subtransaction marks it for the replay', () => {
    const spills = new StreamSpills({ memoryBytes: 16 });
    spills.add(10, Buffer.alloc(40), 1n);
    spills.add(11, Buffer.alloc(40), 2n);
    spills.abort(10, 10);
    expect(spills.take(10)).toBeUndefined();
    spills.abort(11, 12);
    spills.abort(99, 99); // never streamed: nothing to do
    const t = spills.take(11)!;
    expect([...t.aborted]).toEqual([12]);
    expect(messages(t.chunks()).length).toBe(1);
    t.dispose();
    spills.close();
  });
});
