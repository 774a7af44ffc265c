//! The one error type of the pure codec code: what was expected, what was found, and where.
//! The binding layer turns it into a JS `Error` with `code = 'codec'` and an `offset` property,
//! which `native/load.ts` re-wraps as the shared `CodecError` class.

#[derive(Debug, Clone, PartialEq)]
pub struct CodecError {
    pub message: String,
    /// Byte offset in the input where the problem was found (absolute, as the caller passed it).
    pub offset: usize,
}

impl CodecError {
    pub fn new(message: impl Into<String>, offset: usize) -> CodecError {
        CodecError { message: message.into(), offset }
    }
}

pub type CodecResult<T> = Result<T, CodecError>;
