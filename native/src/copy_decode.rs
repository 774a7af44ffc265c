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
use crate::out_layout::SegmentAlloc;
use crate::wire::{copy_fixed_masked, copy_var_raw, i16_at, i32_at, read_be_i32, zero_fixed_raw};

pub struct DecodePlan {
    pub scan: ScanResult,
    /// Bytes of var data per column (0 for fixed columns).
    pub var_bytes: Vec<usize>,
}

pub struct Layout {
    /// Per column: nulls offset, values (fixed) or offsets (var) offset, data offset, data length.
    pub segments: Vec<[usize; 4]>,
    pub total: usize,
    alloc: SegmentAlloc,
}

impl Layout {
    pub fn new(codecs: &[ColumnCodec], rows: usize, var_bytes: &[usize]) -> Layout {
        let mut alloc = SegmentAlloc::new(codecs.len() * 4 * 8);
        let mut segments = Vec::with_capacity(codecs.len());
        for (c, codec) in codecs.iter().enumerate() {
            let nulls = alloc.take(rows);
            match codec {
                ColumnCodec::Fixed { width, .. } => {
                    let values = alloc.take(rows * width);
                    segments.push([nulls, values, alloc.total(), 0]);
                }
                ColumnCodec::Var => {
                    let offsets = alloc.take(4 * (rows + 1));
                    let data = alloc.take(var_bytes[c]);
                    segments.push([nulls, offsets, data, var_bytes[c]]);
                }
            }
        }
        Layout { segments, total: alloc.total(), alloc }
    }

    /// Writes the layout header (4 f64 per column) and clears the padding between segments.
    pub fn write_header(&self, out: &mut [u8]) {
        for (c, seg) in self.segments.iter().enumerate() {
            for (k, v) in seg.iter().enumerate() {
                let at = (c * 4 + k) * 8;
                out[at..at + 8].copy_from_slice(&(*v as f64).to_ne_bytes());
            }
        }
        self.alloc.zero_gaps(out);
    }
}

/// Walks up to `max_rows` complete tuples from `offset`, checking field counts, field lengths and
/// fixed widths, and sums the bytes of each var column.
pub fn plan(buf: &[u8], offset: usize, codecs: &[ColumnCodec], max_rows: usize) -> CodecResult<DecodePlan> {
    let len = buf.len();
    let ncols = codecs.len();
    let mut var_bytes = vec![0usize; ncols];
    // Per column: the fixed width, or 0 for var.
    let widths: Vec<usize> = codecs
        .iter()
        .map(|c| match c {
            ColumnCodec::Fixed { width, .. } => *width,
            ColumnCodec::Var => 0,
        })
        .collect();
    check_offset("copy binary", buf, offset)?;
    let mut pos = offset;
    let mut rows = 0usize;
    while rows < max_rows {
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
        // Fields of this tuple whose bytes were added to var_bytes before it was found cut.
        let mut cut: Option<usize> = None;
        // Branch-light on purpose: NULLs and value lengths are data-dependent, so they feed
        // max() and sums instead of branches; only errors and the chunk end branch.
        for (c, (&w, vb)) in widths.iter().zip(var_bytes.iter_mut()).enumerate() {
            if len < 4 || p > len - 4 {
                cut = Some(c);
                break;
            }
            // SAFETY: p + 4 <= len checked above.
            let l = unsafe { read_be_i32(buf.as_ptr().add(p)) };
            if l < -1 {
                return Err(field_length_error(pos, c, p, l));
            }
            let lz = l.max(0) as usize;
            if w > 0 {
                if l >= 0 && lz != w {
                    return Err(CodecError::new(
                        format!("copy binary: field {c} of tuple at offset {pos} has length {l} at offset {p}, expected {w} (fixed-width column)"),
                        p,
                    ));
                }
            } else {
                *vb += lz;
            }
            p += 4;
            if lz > len - p {
                cut = Some(c + 1);
                break;
            }
            p += lz;
        }
        if let Some(upto) = cut {
            rollback(buf, pos, codecs, upto, &mut var_bytes);
            break;
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
    /// Fixed columns: the value's bits in a u128 (`width` low bytes) and, when swapped, how far
    /// a full 16-byte swap leaves them from the bottom.
    mask: u128,
    shift: u32,
    /// Fixed columns: rows whose slot can take a 16-byte store without leaving the segment.
    wide_rows: usize,
    nulls: usize,
    main: usize,
    data: usize,
    data_len: usize,
    cursor: usize,
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
            let mask = if width >= 16 { u128::MAX } else { (1u128 << (width * 8)) - 1 };
            let shift = (16usize.saturating_sub(width) * 8) as u32;
            let wide_rows = match (rows * width).checked_sub(16) {
                Some(room) if width > 0 => room / width + 1,
                _ => 0,
            };
            FillColumn { width, swap, mask, shift, wide_rows, nulls: seg[0], main: seg[1], data: seg[2], data_len: seg[3], cursor: 0 }
        })
        .collect();
    let len = buf.len();
    let src = buf.as_ptr();
    let dst = out.as_mut_ptr();
    for col in &cols {
        if col.width == 0 {
            // SAFETY: the offsets segment holds rows + 1 entries.
            unsafe { (dst.add(col.main) as *mut i32).write_unaligned(0) };
        }
    }
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
            let null = l < 0;
            // NULLs are data-dependent: they select values (masks, max) rather than branch.
            let lz = l.max(0) as usize;
            if lz > len - p {
                return Err(changed(p));
            }
            // SAFETY: r < rows; the nulls segment holds `rows` bytes. Every byte of the output is
            // written (it is not zero-filled): the NULL flag either way, zeros in a NULL's slot.
            unsafe { *dst.add(col.nulls + r) = null as u8 };
            if col.width != 0 {
                let w = col.width;
                if !null && lz != w {
                    return Err(changed(p));
                }
                // SAFETY: the values segment holds rows * width bytes; the source is read only
                // where checked: `w` bytes at p when they are inside the buffer.
                unsafe {
                    let slot = dst.add(col.main + r * w);
                    if r < col.wide_rows && len - p >= 16 {
                        // One path for every width (no jump per value): load 16 bytes, keep the
                        // value's, store 16. The zero bytes past the value land in the next
                        // rows' slots, written later; `wide_rows` keeps them inside the segment.
                        let v = (src.add(p) as *const u128).read_unaligned();
                        let v = if col.swap { v.swap_bytes() >> col.shift } else { v & col.mask };
                        let keep = 0u128.wrapping_sub(!null as u128);
                        (slot as *mut u128).write_unaligned(v & keep);
                    } else if w <= len - p {
                        copy_fixed_masked(src.add(p), slot, w, col.swap, null);
                    } else {
                        // Only a NULL in the last field of the buffer gets here (a value was checked).
                        zero_fixed_raw(slot, w);
                    }
                }
            } else {
                if lz > col.data_len - col.cursor {
                    return Err(changed(p));
                }
                // SAFETY: source checked above, destination checked against the data segment;
                // the offsets segment holds rows + 1 entries.
                unsafe {
                    if len - p >= 32 && col.data_len - col.cursor >= 32 && lz <= 32 {
                        // Short value with room after it: move 32 bytes whatever its length (one
                        // predictable path instead of a branch per length). The extra bytes
                        // stay inside this column's data segment, whose later values are
                        // written contiguously from cursor + lz and overwrite them.
                        let d = dst.add(col.data + col.cursor);
                        (d as *mut u128).write_unaligned((src.add(p) as *const u128).read_unaligned());
                        (d.add(16) as *mut u128).write_unaligned((src.add(p + 16) as *const u128).read_unaligned());
                    } else {
                        copy_var_raw(src.add(p), dst.add(col.data + col.cursor), lz);
                    }
                    col.cursor += lz;
                    (dst.add(col.main + (r + 1) * 4) as *mut i32).write_unaligned(col.cursor as i32);
                }
            }
            p += lz;
        }
    }
    Ok(())
}
