//! The Rust side of `native/batch.ts`: column codecs as packed at the boundary (`packCodecs`: 0 =
//! var, else width | swap << 8) and borrowed views of a batch's typed arrays.
use crate::error::{CodecError, CodecResult};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ColumnCodec {
    Fixed { width: usize, swap: bool },
    Var,
}

impl ColumnCodec {
    pub fn unpack(packed: i32) -> CodecResult<ColumnCodec> {
        if packed == 0 {
            return Ok(ColumnCodec::Var);
        }
        let width = (packed & 0xff) as usize;
        if ![1, 2, 4, 8, 16].contains(&width) || (packed & !0x1ff) != 0 {
            return Err(CodecError::new(format!("batch: invalid packed codec {packed}"), 0));
        }
        Ok(ColumnCodec::Fixed { width, swap: packed & (1 << 8) != 0 })
    }
}

/// One column of a batch, borrowed from JS typed arrays for the duration of a call.
pub enum ColumnView<'a> {
    Fixed { width: usize, swap: bool, values: &'a [u8], nulls: &'a [u8] },
    Var { offsets: &'a [i32], data: &'a [u8], nulls: &'a [u8] },
}

impl<'a> ColumnView<'a> {
    /// Checks that every array is long enough for `rows` rows and that the byte range of each
    /// non-null var value lies inside `data`, so encoding never reads out of bounds; returns the
    /// bytes this column takes on the wire (a 4-byte length per row plus the values).
    pub fn validate(&self, rows: usize, col: usize) -> CodecResult<usize> {
        let bad = |what: String| Err(CodecError::new(format!("copy binary: column {col} {what}"), 0));
        match self {
            ColumnView::Fixed { width, values, nulls, .. } => {
                if nulls.len() < rows {
                    return bad(format!("has {} null flags, expected {rows}", nulls.len()));
                }
                if values.len() < rows * width {
                    return bad(format!("has {} value bytes, expected {}", values.len(), rows * width));
                }
                let present = nulls[..rows].iter().filter(|&&n| n == 0).count();
                Ok(4 * rows + present * width)
            }
            ColumnView::Var { offsets, data, nulls } => {
                if nulls.len() < rows {
                    return bad(format!("has {} null flags, expected {rows}", nulls.len()));
                }
                if offsets.len() < rows + 1 {
                    return bad(format!("has {} offsets, expected {}", offsets.len(), rows + 1));
                }
                let mut bytes = 4 * rows;
                for r in 0..rows {
                    if nulls[r] != 0 {
                        continue;
                    }
                    let (s, e) = (offsets[r], offsets[r + 1]);
                    if s < 0 || e < s || e as usize > data.len() {
                        return bad(format!("row {r} has range [{s}, {e}) outside its {} data bytes", data.len()));
                    }
                    bytes += (e - s) as usize;
                }
                Ok(bytes)
            }
        }
    }
}
