//! COPY binary framing without decoding values (PostgreSQL docs, "COPY ... Binary Format"):
//!
//!   header : "PGCOPY\n\377\r\n\0" u32 flags u32 extLen byte[extLen]
//!   tuple  : i16 fieldCount (i32 len byte[len] | i32 -1)*fieldCount
//!   trailer: i16 -1
use crate::error::{CodecError, CodecResult};
use crate::wire::{i16_at, i32_at, read_be_i32, u32_at};

pub const COPY_SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
pub const HEADER_FIXED_LEN: usize = 19;

pub fn hex(b: u32) -> String {
    format!("0x{b:02x}")
}

/// Throws unless `offset` is a position inside (or at the end of) `buf`.
pub fn check_offset(what: &str, buf: &[u8], offset: usize) -> CodecResult<()> {
    if offset > buf.len() {
        return Err(CodecError::new(format!("{what}: offset {offset} is outside the buffer (0..{})", buf.len()), offset));
    }
    Ok(())
}

/// Length of the header at `offset` (19 + extension length), or None when it is not all there
/// yet. A partial signature that already differs fails at once. Flag bits 16-31 are
/// format-critical (bit 16 = OIDs included, which rb does not read).
pub fn copy_header_length(buf: &[u8], offset: usize) -> CodecResult<Option<usize>> {
    check_offset("copy binary", buf, offset)?;
    let avail = buf.len() - offset;
    for i in 0..avail.min(COPY_SIGNATURE.len()) {
        let (want, got) = (COPY_SIGNATURE[i], buf[offset + i]);
        if got != want {
            return Err(CodecError::new(
                format!("copy binary: bad header signature at offset {}: expected {}, found {}", offset + i, hex(want as u32), hex(got as u32)),
                offset + i,
            ));
        }
    }
    if avail < HEADER_FIXED_LEN {
        return Ok(None);
    }
    let flags = u32_at(buf, offset + 11);
    if flags & 0xffff_0000 != 0 {
        return Err(CodecError::new(
            format!(
                "copy binary: unsupported header flags {} at offset {}, expected bits 16-31 clear (OIDs are not supported)",
                hex(flags),
                offset + 11
            ),
            offset + 11,
        ));
    }
    let ext = i32_at(buf, offset + 15);
    if ext < 0 {
        return Err(CodecError::new(format!("copy binary: header extension length {ext} at offset {}, expected >= 0", offset + 15), offset + 15));
    }
    if avail - HEADER_FIXED_LEN < ext as usize {
        return Ok(None);
    }
    Ok(Some(HEADER_FIXED_LEN + ext as usize))
}

pub fn field_count_error(tuple_at: usize, found: i16, expected: i32) -> CodecError {
    let want = if expected < 0 { "a count >= 0 or -1 (trailer)".to_string() } else { expected.to_string() };
    CodecError::new(format!("copy binary: tuple at offset {tuple_at} has {found} fields, expected {want}"), tuple_at)
}

pub fn field_length_error(tuple_at: usize, field: usize, at: usize, found: i32) -> CodecError {
    CodecError::new(
        format!("copy binary: field {field} of tuple at offset {tuple_at} has length {found} at offset {at}, expected -1 (NULL) or >= 0"),
        at,
    )
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScanResult {
    pub rows: usize,
    pub end: usize,
    pub done: bool,
}

/// What the walker found at `pos`: a complete tuple ending at `end`, the trailer, or too few bytes.
pub enum Step {
    Tuple { fields: usize, end: usize },
    Trailer,
    Incomplete,
}

/// Walks one tuple at `pos`: where it ends when it is complete and well-formed.
#[inline(always)]
pub fn walk_tuple(buf: &[u8], pos: usize, field_count: i32) -> CodecResult<Step> {
    let len = buf.len();
    if len < 2 || pos > len - 2 {
        return Ok(Step::Incomplete);
    }
    let n = i16_at(buf, pos);
    if n == -1 {
        return Ok(Step::Trailer);
    }
    if n < 0 || (field_count >= 0 && n as i32 != field_count) {
        return Err(field_count_error(pos, n, field_count));
    }
    let mut p = pos + 2;
    for f in 0..n as usize {
        if len < 4 || p > len - 4 {
            return Ok(Step::Incomplete);
        }
        // SAFETY: p + 4 <= len checked above.
        let l = unsafe { read_be_i32(buf.as_ptr().add(p)) };
        if l < -1 {
            return Err(field_length_error(pos, f, p, l));
        }
        p += 4;
        // NULL (-1) advances by 0: no data-dependent branch on NULLs.
        let lz = l.max(0) as usize;
        if lz > len - p {
            return Ok(Step::Incomplete);
        }
        p += lz;
    }
    Ok(Step::Tuple { fields: n as usize, end: p })
}

pub fn copy_scan(buf: &[u8], offset: usize, field_count: i32) -> CodecResult<ScanResult> {
    check_offset("copy binary", buf, offset)?;
    let mut pos = offset;
    let mut rows = 0;
    loop {
        match walk_tuple(buf, pos, field_count)? {
            Step::Tuple { end, .. } => {
                rows += 1;
                pos = end;
            }
            Step::Trailer => return Ok(ScanResult { rows, end: pos + 2, done: true }),
            Step::Incomplete => return Ok(ScanResult { rows, end: pos, done: false }),
        }
    }
}
