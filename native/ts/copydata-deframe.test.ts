import { describe, expect, it } from 'vitest';
import { CodecError } from '../codec-api.js';
import { tsCodecs as codecs } from './index.js';

function copyData(payload: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h[0] = 0x64;
  h.writeInt32BE(payload.length + 4, 1);
  return Buffer.concat([h, payload]);
}

const payloads = [Buffer.from('first row'), Buffer.alloc(0), Buffer.alloc(300, 7), Buffer.from('x')];
const stream = Buffer.concat(payloads.map(copyData));
const copyDone = Buffer.from([0x63, 0, 0, 0, 4]); // 'c' CopyDone
const commandComplete = Buffer.concat([Buffer.from([0x43, 0, 0, 0, 13]), Buffer.from('COPY 4\0')]);

function deframeAll(buf: Uint8Array): { out: Buffer; consumed: number; messages: number; stop: boolean } {
  const out = Buffer.alloc(buf.length);
  const r = codecs.deframeCopyData(buf, 0, out, 0);
  return { out: out.subarray(0, r.written), consumed: r.consumed, messages: r.messages, stop: r.stop };
}

describe('deframeCopyData', () => {
  it('copies the payloads of all complete CopyData messages into one buffer', () => {
    const r = deframeAll(stream);
    expect(r.out.equals(Buffer.concat(payloads))).toBe(true);
    expect(r).toMatchObject({ consumed: stream.length, messages: 4, stop: false });
  });

  it('stops at the first non-CopyData message without consuming it', () => {
    const buf = Buffer.concat([stream, copyDone, commandComplete]);
    const r = deframeAll(buf);
    expect(r).toMatchObject({ consumed: stream.length, messages: 4, stop: true });
    expect(deframeAll(copyDone)).toMatchObject({ consumed: 0, messages: 0, stop: true });
  });

  it('stops before a message cut at any byte (header included), and resumes with the leftover', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const first = deframeAll(stream.subarray(0, cut));
      expect(first.stop).toBe(false);
      const rest = Buffer.concat([stream.subarray(first.consumed, cut), stream.subarray(cut)]);
      const second = deframeAll(rest);
      expect(Buffer.concat([first.out, second.out]).equals(Buffer.concat(payloads))).toBe(true);
      expect(first.messages + second.messages).toBe(4);
    }
  });

  it('writes at outOffset and reads from offset', () => {
    const out = Buffer.alloc(stream.length + 3, 0xee);
    const r = codecs.deframeCopyData(Buffer.concat([Buffer.from('ab'), stream]), 2, out, 3);
    expect(r.consumed).toBe(stream.length);
    expect(out.subarray(0, 3).every((b) => b === 0xee)).toBe(true);
    expect(out.subarray(3, 3 + r.written).equals(Buffer.concat(payloads))).toBe(true);
  });

  it('rejects a length below 4 with its offset', () => {
    const bad = Buffer.concat([copyData(Buffer.from('ok')), Buffer.from([0x64, 0, 0, 0, 3])]);
    let err: unknown;
    try {
      deframeAll(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CodecError);
    expect((err as CodecError).message).toBe('copydata: message at offset 7 has length 3, expected >= 4');
    expect((err as CodecError).offset).toBe(8);
  });

  it('refuses an output buffer without room', () => {
    expect(() => codecs.deframeCopyData(stream, 0, new Uint8Array(5), 0)).toThrow(CodecError);
  });

  it('handles empty input', () => {
    expect(codecs.deframeCopyData(new Uint8Array(0), 0, new Uint8Array(0), 0)).toEqual({ consumed: 0, written: 0, messages: 0, stop: false });
  });
});
