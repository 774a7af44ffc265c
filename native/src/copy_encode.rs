//! Columnar batch -> COPY binary tuples (no header/trailer):
//!
//!   tuple: i16 fieldCount (i32 len byte[len] | i32 -1)*fieldCount
//!
//! Fixed columns are stored little-endian in the batch (swap = true) and written big-endian.
use crate::batch::ColumnView;
use crate::error::{CodecError, CodecResult};
use crate::wire::copy_fixed;

/// Exact bytes `encode_into` writes for `rows` rows of `cols` (validated views).
pub fn encoded_length(rows: usize, cols: &[ColumnView]) -> usize {
    let mut total = rows * (2 + 4 * cols.len());
    for col in cols {
        match col {
            ColumnView::Fixed { width, nulls, .. } => {
                let non_null = nulls[..rows].iter().filter(|&&n| n == 0).count();
                total += non_null * width;
            }
            ColumnView::Var { offsets, nulls, .. } => {
                for r in 0..rows {
                    if nulls[r] == 0 {
                        total += (offsets[r + 1] - offsets[r]) as usize;
                    }
                }
            }
        }
    }
    total
}

/// Writes the tuples into `out` (which must hold `encoded_length` bytes); returns bytes written.
/// `out` starts at the caller's `offset`, which only appears in error messages.
pub fn encode_into(rows: usize, cols: &[ColumnView], out: &mut [u8], offset: usize) -> CodecResult<usize> {
    let need = encoded_length(rows, cols);
    if out.len() < need {
        return Err(CodecError::new(format!("copy binary: output has {} bytes free at offset {offset}, need {need}", out.len()), offset));
    }
    let field_count = (cols.len() as i16).to_be_bytes();
    let mut p = 0usize;
    for r in 0..rows {
        out[p..p + 2].copy_from_slice(&field_count);
        p += 2;
        for col in cols {
            match *col {
                ColumnView::Fixed { width, swap, values, nulls } => {
                    if nulls[r] != 0 {
                        out[p..p + 4].copy_from_slice(&(-1i32).to_be_bytes());
                        p += 4;
                    } else {
                        out[p..p + 4].copy_from_slice(&(width as i32).to_be_bytes());
                        p += 4;
                        let at = r * width;
                        copy_fixed(&mut out[p..p + width], &values[at..at + width], width, swap);
                        p += width;
                    }
                }
                ColumnView::Var { offsets, data, nulls } => {
                    if nulls[r] != 0 {
                        out[p..p + 4].copy_from_slice(&(-1i32).to_be_bytes());
                        p += 4;
                    } else {
                        let (s, e) = (offsets[r] as usize, offsets[r + 1] as usize);
                        let l = e - s;
                        out[p..p + 4].copy_from_slice(&(l as i32).to_be_bytes());
                        p += 4;
                        out[p..p + l].copy_from_slice(&data[s..e]);
                        p += l;
                    }
                }
            }
        }
    }
    Ok(p)
}
