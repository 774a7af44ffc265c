//! Bulk CopyData de-framing (PostgreSQL protocol, "Message Formats"):
//!
//!   CopyData: 'd' i32 len(including itself) byte[len - 4]
//!
//! The payloads of consecutive complete CopyData messages are copied into one contiguous output,
//! so a COPY TO stream costs one JS call per socket chunk instead of one event per row. Works on
//! raw pointers with `ptr::copy` (memmove) because the caller may compact a buffer in place
//! (`out` aliasing `buf`), which Rust references must not do.
use crate::error::{CodecError, CodecResult};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeframeResult {
    pub consumed: usize,
    pub written: usize,
    pub messages: usize,
    pub stop: bool,
}

const COPY_DATA: u8 = b'd';

/// # Safety
/// `buf` must be valid for reads of `buf_len` bytes and `out` for writes of `out_len` bytes for
/// the duration of the call; they may overlap.
pub unsafe fn deframe_copy_data(
    buf: *const u8,
    buf_len: usize,
    offset: usize,
    out: *mut u8,
    out_len: usize,
    out_offset: usize,
) -> CodecResult<DeframeResult> {
    check_offset("copydata", buf_len, offset)?;
    check_offset("copydata", out_len, out_offset)?;
    let mut pos = offset;
    let mut written = 0usize;
    let mut messages = 0usize;
    let mut stop = false;
    while pos < buf_len {
        if *buf.add(pos) != COPY_DATA {
            stop = true;
            break;
        }
        if buf_len - pos < 5 {
            break;
        }
        let l = i32::from_be_bytes([*buf.add(pos + 1), *buf.add(pos + 2), *buf.add(pos + 3), *buf.add(pos + 4)]);
        if l < 4 {
            return Err(CodecError::new(format!("copydata: message at offset {pos} has length {l}, expected >= 4"), pos + 1));
        }
        let payload = l as usize - 4;
        if payload > buf_len - pos - 5 {
            break;
        }
        let dst = out_offset + written;
        if out_len - dst < payload {
            return Err(CodecError::new(
                format!("copydata: output has {} bytes free at offset {dst}, message at offset {pos} needs {payload}", out_len - dst),
                pos,
            ));
        }
        std::ptr::copy(buf.add(pos + 5), out.add(dst), payload);
        written += payload;
        messages += 1;
        pos += 5 + payload;
    }
    Ok(DeframeResult { consumed: pos - offset, written, messages, stop })
}

fn check_offset(what: &str, len: usize, offset: usize) -> CodecResult<()> {
    if offset > len {
        return Err(CodecError::new(format!("{what}: offset {offset} is outside the buffer (0..{len})"), offset));
    }
    Ok(())
}
