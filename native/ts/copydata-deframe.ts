/**
 * CopyData de-framing (PostgreSQL docs, "Message Formats"): during COPY TO STDOUT the backend
 * sends one CopyData message per row,
 *
 *   COPYDATA := 'd' int32 len (>= 4, counts itself, not the tag) byte[len - 4]
 *
 * followed by CopyDone 'c', CommandComplete 'C', ... Handling each message as a JS event costs far
 * more than the row itself, so the payloads of all complete CopyData messages in a socket chunk
 * are copied into one contiguous buffer in one call.
 */
import { CodecError, type DeframeResult } from '../codec-api.js';
import { checkOffset, copyBytes, int32At, plain } from './reader.js';

const COPY_DATA = 0x64; // 'd'
const HEADER_BYTES = 5;

/**
 * Copies the payloads of the complete CopyData messages in `buf[offset..]` to `out[outOffset..]`.
 * Stops before a message cut anywhere (even inside its 5-byte header), and at the first message
 * that is not CopyData (`stop: true`, not consumed). A CopyData length below 4 is a CodecError.
 *
 * @example
 *   const r = deframeCopyData(chunk, 0, out, 0);
 *   // out[0, r.written) is COPY binary data; chunk.subarray(r.consumed) waits for more bytes
 */
export function deframeCopyData(buf: Uint8Array, offset: number, out: Uint8Array, outOffset: number): DeframeResult {
  checkOffset('copydata', buf, offset);
  checkOffset('copydata', out, outOffset);
  buf = plain(buf);
  out = plain(out);
  const len = buf.length;
  let p = offset;
  let w = outOffset;
  let messages = 0;
  let stop = false;
  while (p < len) {
    if (buf[p] !== COPY_DATA) {
      stop = true;
      break;
    }
    if (len - p < HEADER_BYTES) break;
    const mlen = int32At(buf, p + 1);
    if (mlen < 4) {
      throw new CodecError(`copydata: message at offset ${p} has length ${mlen}, expected >= 4`, p + 1);
    }
    if (len - p - 1 < mlen) break;
    const n = mlen - 4;
    if (out.length - w < n) {
      throw new CodecError(`copydata: output has ${out.length - w} bytes free at offset ${w}, message at offset ${p} needs ${n}`, p);
    }
    copyBytes(buf, p + HEADER_BYTES, n, out, w);
    w += n;
    p += 1 + mlen;
    messages++;
  }
  return { consumed: p - offset, written: w - outOffset, messages, stop };
}
