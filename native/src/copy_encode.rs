//! Columnar batch -> COPY binary tuples (no header/trailer):
//!
//!   tuple: i16 fieldCount (i32 len byte[len] | i32 -1)*fieldCount
//!
//! Fixed columns are stored little-endian in the batch (swap = true) and written big-endian.
//! `validate_batch` checks every array once and yields the exact output length; `encode_into`
//! then writes row by row with raw pointers, re-checking only what another thread could change
//! under it (var offsets of a batch in shared memory) so it can never read or write out of bounds.
use crate::batch::ColumnView;
use crate::error::{CodecError, CodecResult};
use crate::wire::{copy_fixed_raw, copy_var_raw};

/// Validates the batch and returns the exact bytes `encode_into` writes for it.
pub fn validate_batch(rows: usize, cols: &[ColumnView]) -> CodecResult<usize> {
    let mut total = 2 * rows;
    for (c, col) in cols.iter().enumerate() {
        total += col.validate(rows, c)?;
    }
    Ok(total)
}

/// A column as raw parts for the write loop (lengths validated by `validate_batch`).
struct EncodeColumn {
    /// 0 for var columns.
    width: usize,
    swap: bool,
    nulls: *const u8,
    values: *const u8,
    offsets: *const i32,
    data: *const u8,
    data_len: usize,
}

fn changed(col: usize, row: usize) -> CodecError {
    CodecError::new(format!("copy binary: column {col} row {row} changed while the batch was being encoded"), 0)
}

/// Writes the tuples of a batch validated by `validate_batch` (which returned `need`) into
/// `out`, whose first byte is at the caller's `offset` (used in messages). Returns bytes written.
pub fn encode_into(rows: usize, cols: &[ColumnView], need: usize, out: &mut [u8], offset: usize) -> CodecResult<usize> {
    if out.len() < need {
        return Err(CodecError::new(format!("copy binary: output has {} bytes free at offset {offset}, need {need}", out.len()), offset));
    }
    let parts: Vec<EncodeColumn> = cols
        .iter()
        .map(|col| match *col {
            ColumnView::Fixed { width, swap, values, nulls } => EncodeColumn {
                width,
                swap,
                nulls: nulls.as_ptr(),
                values: values.as_ptr(),
                offsets: std::ptr::null(),
                data: std::ptr::null(),
                data_len: 0,
            },
            ColumnView::Var { offsets, data, nulls } => EncodeColumn {
                width: 0,
                swap: false,
                nulls: nulls.as_ptr(),
                values: std::ptr::null(),
                offsets: offsets.as_ptr(),
                data: data.as_ptr(),
                data_len: data.len(),
            },
        })
        .collect();
    let field_count = (cols.len() as u16).to_be();
    let dst = out.as_mut_ptr();
    let cap = out.len();
    let mut p = 0usize;
    for r in 0..rows {
        // Fixed parts of the tuple always fit: `need` counted them for every row.
        // SAFETY: p + 2 + 4 * cols <= need <= cap while the var checks below hold.
        unsafe { (dst.add(p) as *mut u16).write_unaligned(field_count) };
        p += 2;
        for (c, col) in parts.iter().enumerate() {
            // SAFETY: nulls, values and offsets hold at least `rows` (+1) entries (validated).
            unsafe {
                if *col.nulls.add(r) != 0 {
                    if p + 4 > cap {
                        return Err(changed(c, r));
                    }
                    (dst.add(p) as *mut i32).write_unaligned((-1i32).to_be());
                    p += 4;
                    continue;
                }
                if col.width != 0 {
                    let w = col.width;
                    if p + 4 + w > cap {
                        return Err(changed(c, r));
                    }
                    (dst.add(p) as *mut i32).write_unaligned((w as i32).to_be());
                    copy_fixed_raw(col.values.add(r * w), dst.add(p + 4), w, col.swap);
                    p += 4 + w;
                } else {
                    // Re-read and re-check: a batch in shared memory may change after validation.
                    let s = col.offsets.add(r).read();
                    let e = col.offsets.add(r + 1).read();
                    if s < 0 || e < s || e as usize > col.data_len || p + 4 + (e - s) as usize > cap {
                        return Err(changed(c, r));
                    }
                    let l = (e - s) as usize;
                    (dst.add(p) as *mut i32).write_unaligned((l as i32).to_be());
                    copy_var_raw(col.data.add(s as usize), dst.add(p + 4), l);
                    p += 4 + l;
                }
            }
        }
    }
    Ok(p)
}
