/**
 * Deterministic test frames for the ring-channel thread tests: frame `seq` has a size, metadata
 * and bytes that both threads derive from `seq` alone, so the consumer can verify every frame
 * without the producer sending anything else. Deliberately independent of the channel's code.
 *
 *   bytes 0-3  seq (u32 little-endian)     bytes 4-7  ~seq
 *   bytes 8-   xorshift32 stream seeded from seq, one byte per step
 */

export interface FramePlan {
  /** Small frames are 8..smallMaxBytes bytes. */
  smallMaxBytes: number;
  /** About one frame in `largeEvery` is large (0: none). */
  largeEvery: number;
  largeMinBytes: number;
  largeMaxBytes: number;
}

export function hash32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

export function frameSize(seq: number, plan: FramePlan): number {
  const h = hash32(seq);
  if (plan.largeEvery > 0 && h % plan.largeEvery === 0) {
    return plan.largeMinBytes + (hash32(h) % (plan.largeMaxBytes - plan.largeMinBytes + 1));
  }
  return 8 + (h % (plan.smallMaxBytes - 8 + 1));
}

export function frameMeta(seq: number): { rows: number; stream: number; shard: number } {
  return { rows: seq & 0x3ff, stream: seq % 7, shard: seq % 5 };
}

export function fillFrame(seq: number, view: Uint8Array): void {
  const inv = ~seq >>> 0;
  view[0] = seq;
  view[1] = seq >>> 8;
  view[2] = seq >>> 16;
  view[3] = seq >>> 24;
  view[4] = inv;
  view[5] = inv >>> 8;
  view[6] = inv >>> 16;
  view[7] = inv >>> 24;
  let s = hash32(seq ^ 0x9e3779b9) | 1;
  for (let i = 8; i < view.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    view[i] = s;
  }
}

/** null when the frame is exactly frame `seq`; else what is wrong with it. */
export function checkFrame(seq: number, payload: Uint8Array, plan: FramePlan): string | null {
  const size = frameSize(seq, plan);
  if (payload.length !== size) return `frame ${seq}: ${payload.length} bytes, expected ${size}`;
  const got = (payload[0] | (payload[1] << 8) | (payload[2] << 16) | (payload[3] << 24)) >>> 0;
  const inv = (payload[4] | (payload[5] << 8) | (payload[6] << 16) | (payload[7] << 24)) >>> 0;
  if (got !== seq >>> 0 || inv !== ~seq >>> 0) return `frame ${seq}: carries sequence ${got} (check ${inv})`;
  let s = hash32(seq ^ 0x9e3779b9) | 1;
  for (let i = 8; i < payload.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    if (payload[i] !== (s & 0xff)) return `frame ${seq}: byte ${i} is ${payload[i]}, expected ${s & 0xff}`;
  }
  return null;
}
