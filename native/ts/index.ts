/**
 * The TypeScript implementation of rb's codecs (the fallback behind `native/index.ts`, and the
 * reference the Rust addon is tested against byte for byte). One concept per file; this file
 * only wires them into the `Codecs` interface of codec-api.ts.
 */
import type { Codecs } from '../codec-api.js';
import { copyDecode } from './copy-decode.js';
import { copyEncodedLength, copyEncodeInto } from './copy-encode.js';
import { copyHeaderLength, copyScan } from './copy-scan.js';
import { deframeCopyData } from './copydata-deframe.js';
import { pgoutputDecode } from './pgoutput-decode.js';
import { insertChunks, placeholders } from './placeholders.js';

export const tsCodecs: Codecs = {
  impl: 'ts',
  copyHeaderLength,
  copyScan,
  copyDecode,
  copyEncodedLength,
  copyEncodeInto,
  deframeCopyData,
  placeholders,
  insertChunks,
  pgoutputDecode,
};

export { copyDecode, emptyBatch } from './copy-decode.js';
export { copyEncodedLength, copyEncodeInto } from './copy-encode.js';
export { copyHeaderLength, copyScan } from './copy-scan.js';
export { deframeCopyData } from './copydata-deframe.js';
export { pgoutputDecode } from './pgoutput-decode.js';
export { insertChunks, placeholders } from './placeholders.js';
