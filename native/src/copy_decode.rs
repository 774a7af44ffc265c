//! COPY binary tuples -> one columnar batch in a single output allocation.
//!
//! Two passes so the output is allocated once, at its exact size, by the caller (a JS
//! ArrayBuffer): `plan` walks the tuples, validates them against the column codecs and sums each
//! var column's bytes; `fill` copies the values into the laid-out buffer. The layout is written at
//! the start of the buffer (`4 * columns` f64: nulls, values-or-offsets, data offset, data length)
//! so `native/load.ts` only makes typed-array views; no per-value JS objects exist.
use crate::batch::ColumnCodec;
use crate::copy_scan::{check_offset, field_count_error, field_length_error, ScanResult};
use crate::error::{CodecError, CodecResult};
use crate::wire::{i16_at, i32_at};

pub struct DecodePlan {
    pub scan: ScanResult,
    /// Bytes of var data per column (0 for fixed columns).
    pub var_bytes: Vec<usize>,
}

pub struct Layout {
    /// Per column: nulls offset, values (fixed) or offsets (var) offset, data offset, data length.
    pub segments: Vec<[usize; 4]>,
    pub total: usize,
}

const ALIGN: usize = 8;

fn align(n: usize) -> usize {
    (n + ALIGN - 1) & !(ALIGN - 1)
}

impl Layout {
    pub fn new(codecs: &[ColumnCodec], rows: usize, var_bytes: &[usize]) -> Layout {
        let mut cur = align(codecs.len() * 4 * 8);
        let mut segments = Vec::with_capacity(codecs.len());
        for (c, codec) in codecs.iter().enumerate() {
            let nulls = cur;
            cur = align(cur + rows);
            let main = cur;
            match codec {
                ColumnCodec::Fixed { width, .. } => {
                    cur = align(cur + rows * width);
                    segments.push([nulls, main, cur, 0]);
                }
                ColumnCodec::Var => {
                    cur = align(cur + 4 * (rows + 1));
                    let data = cur;
                    cur = align(cur + var_bytes[c]);
                    segments.push([nulls, main, data, var_bytes[c]]);
                }
            }
        }
        Layout { segments, total: cur }
    }

    pub fn write_header(&self, out: &mut [u8]) {
        for (c, seg) in self.segments.iter().enumerate() {
            for (k, v) in seg.iter().enumerate() {
                let at = (c * 4 + k) * 8;
                out[at..at + 8].copy_from_slice(&(*v as f64).to_ne_bytes());
            }
        }
    }
}

/// Walks up to `max_rows` complete tuples from `offset`, checking field counts, field lengths and
/// fixed widths, and sums the bytes of each var column.
pub fn plan(buf: &[u8], offset: usize, codecs: &[ColumnCodec], max_rows: usize) -> CodecResult<DecodePlan> {
    let len = buf.len();
    let ncols = codecs.len();
    let mut var_bytes = vec![0usize; ncols];
    check_offset("copy binary", buf, offset)?;
    let mut pos = offset;
    let mut rows = 0usize;
    'tuples: while rows < max_rows {
        if pos + 2 > len {
            break;
        }
        let n = i16_at(buf, pos);
        if n == -1 {
            return Ok(DecodePlan { scan: ScanResult { rows, end: pos + 2, done: true }, var_bytes });
        }
        if n < 0 || n as usize != ncols {
            return Err(field_count_error(pos, n, ncols as i32));
        }
        let mut p = pos + 2;
        for (c, codec) in codecs.iter().enumerate() {
            if p + 4 > len {
                rollback(buf, pos, codecs, c, &mut var_bytes);
                break 'tuples;
            }
            let l = i32_at(buf, p);
            if l < -1 {
                return Err(field_length_error(pos, c, p, l));
            }
            if l >= 0 {
                let l = l as usize;
                match codec {
                    ColumnCodec::Fixed { width, .. } => {
                        if l != *width {
                            return Err(CodecError::new(
                                format!("copy binary: field {c} of tuple at offset {pos} has length {l} at offset {p}, expected {width} (fixed-width column)"),
                                p,
                            ));
                        }
                    }
                    ColumnCodec::Var => var_bytes[c] += l,
                }
                p += 4;
                if l > len - p {
                    rollback(buf, pos, codecs, c + 1, &mut var_bytes);
                    break 'tuples;
                }
                p += l;
            } else {
                p += 4;
            }
        }
        rows += 1;
        pos = p;
    }
    for (c, b) in var_bytes.iter().enumerate() {
        if *b > i32::MAX as usize {
            return Err(CodecError::new(format!("copy binary: column {c} holds {b} bytes, more than one batch can (2 GiB)"), offset));
        }
    }
    Ok(DecodePlan { scan: ScanResult { rows, end: pos, done: false }, var_bytes })
}

/// Undoes the var-byte sums of the first `upto` fields of the incomplete tuple at `pos`.
fn rollback(buf: &[u8], pos: usize, codecs: &[ColumnCodec], upto: usize, var_bytes: &mut [usize]) {
    let mut p = pos + 2;
    for c in 0..upto {
        let l = i32_at(buf, p);
        p += 4;
        if l > 0 {
            if let ColumnCodec::Var = codecs[c] {
                var_bytes[c] -= l as usize;
            }
            p += l as usize;
        }
    }
}

/// One output column during `fill`: where its segments start and how far its data has grown.
struct FillColumn {
    /// 0 for var columns.
    width: usize,
    swap: bool,
    nulls: usize,
    main: usize,
    data: usize,
    data_len: usize,
    cursor: usize,
}

#[inline(always)]
unsafe fn read_be_i32(p: *const u8) -> i32 {
    i32::from_be((p as *const i32).read_unaligned())
}

/// Copies one fixed-width value, byte-swapping numbers (wire big-endian -> batch little-endian).
#[inline(always)]
unsafe fn copy_fixed_raw(src: *const u8, dst: *mut u8, width: usize, swap: bool) {
    match (width, swap) {
        (1, _) => *dst = *src,
        (2, true) => (dst as *mut u16).write_unaligned((src as *const u16).read_unaligned().swap_bytes()),
        (4, true) => (dst as *mut u32).write_unaligned((src as *const u32).read_unaligned().swap_bytes()),
        (8, true) => (dst as *mut u64).write_unaligned((src as *const u64).read_unaligned().swap_bytes()),
        (16, true) => (dst as *mut u128).write_unaligned((src as *const u128).read_unaligned().swap_bytes()),
        (w, _) => std::ptr::copy_nonoverlapping(src, dst, w),
    }
}

/// Copies a short var value with a byte loop (cheaper than a memcpy call below ~32 bytes).
#[inline(always)]
unsafe fn copy_var_raw(src: *const u8, dst: *mut u8, n: usize) {
    if n <= 32 {
        for i in 0..n {
            *dst.add(i) = *src.add(i);
        }
    } else {
        std::ptr::copy_nonoverlapping(src, dst, n);
    }
}

fn changed(at: usize) -> CodecError {
    CodecError::new(format!("copy binary: input changed while it was being decoded (offset {at})"), at)
}

/// Copies `rows` planned tuples from `offset` into `out` laid out by `layout`.
///
/// Every read from `buf` is still checked: the input may be a view of shared memory that another
/// thread changes between the passes, which must end in an error, never in an out-of-bounds
/// access. Writes are in bounds by construction of the layout (fixed sizes per row, var data
/// checked against its segment).
pub fn fill(buf: &[u8], offset: usize, codecs: &[ColumnCodec], rows: usize, layout: &Layout, out: &mut [u8]) -> CodecResult<()> {
    assert!(out.len() >= layout.total && layout.segments.len() == codecs.len());
    layout.write_header(out);
    let mut cols: Vec<FillColumn> = codecs
        .iter()
        .zip(&layout.segments)
        .map(|(codec, seg)| {
            let (width, swap) = match *codec {
                ColumnCodec::Fixed { width, swap } => (width, swap),
                ColumnCodec::Var => (0, false),
            };
            FillColumn { width, swap, nulls: seg[0], main: seg[1], data: seg[2], data_len: seg[3], cursor: 0 }
        })
        .collect();
    let len = buf.len();
    let src = buf.as_ptr();
    let dst = out.as_mut_ptr();
    let mut p = offset;
    for r in 0..rows {
        if len < 2 || p > len - 2 {
            return Err(changed(p));
        }
        p += 2;
        for col in cols.iter_mut() {
            if len < 4 || p > len - 4 {
                return Err(changed(p));
            }
            // SAFETY: p + 4 <= len was checked above.
            let l = unsafe { read_be_i32(src.add(p)) };
            p += 4;
            if l < 0 {
                // SAFETY: r < rows; the nulls segment holds `rows` bytes.
                unsafe { *dst.add(col.nulls + r) = 1 };
                if col.width == 0 {
                    unsafe { (dst.add(col.main + (r + 1) * 4) as *mut i32).write_unaligned(col.cursor as i32) };
                }
                continue;
            }
            let l = l as usize;
            if l > len - p {
                return Err(changed(p));
            }
            if col.width != 0 {
                if l != col.width {
                    return Err(changed(p));
                }
                // SAFETY: source checked above; the values segment holds rows * width bytes.
                unsafe { copy_fixed_raw(src.add(p), dst.add(col.main + r * col.width), col.width, col.swap) };
            } else {
                if l > col.data_len - col.cursor {
                    return Err(changed(p));
                }
                // SAFETY: source checked above, destination checked against the data segment;
                // the offsets segment holds rows + 1 entries.
                unsafe {
                    copy_var_raw(src.add(p), dst.add(col.data + col.cursor), l);
                    col.cursor += l;
                    (dst.add(col.main + (r + 1) * 4) as *mut i32).write_unaligned(col.cursor as i32);
                }
            }
            p += l;
        }
    }
    Ok(())
}
