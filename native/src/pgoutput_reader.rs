//! A cursor over one pgoutput message. Every read checks that the message still has the bytes and
//! fails with the same wording as `native/ts/reader.ts` (`WireReader`): what was needed, where,
//! and the message tag.
use crate::error::CodecError;

pub struct Reader<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
    pub end: usize,
    pub tag: u8,
}

pub fn tag_name(tag: u8) -> String {
    if (0x20..0x7f).contains(&tag) {
        format!("'{}'", tag as char)
    } else {
        format!("0x{tag:02x}")
    }
}

pub type ReadResult<T> = Result<T, CodecError>;

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], start: usize, end: usize) -> Reader<'a> {
        Reader { buf, pos: start, end, tag: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.end - self.pos
    }

    pub fn fail_at(&self, message: String, at: usize) -> CodecError {
        CodecError::new(format!("pgoutput: {message} (message {})", tag_name(self.tag)), at)
    }

    pub fn need(&self, n: u64) -> ReadResult<()> {
        if ((self.end - self.pos) as u64) < n {
            return Err(self.fail_at(format!("need {n} bytes at offset {}, have {}", self.pos, self.end - self.pos), self.pos));
        }
        Ok(())
    }

    pub fn u8(&mut self) -> ReadResult<u8> {
        self.need(1)?;
        let v = self.buf[self.pos];
        self.pos += 1;
        Ok(v)
    }

    pub fn i16(&mut self) -> ReadResult<i16> {
        self.need(2)?;
        let v = i16::from_be_bytes([self.buf[self.pos], self.buf[self.pos + 1]]);
        self.pos += 2;
        Ok(v)
    }

    pub fn i32(&mut self) -> ReadResult<i32> {
        self.need(4)?;
        let p = self.pos;
        let v = i32::from_be_bytes([self.buf[p], self.buf[p + 1], self.buf[p + 2], self.buf[p + 3]]);
        self.pos += 4;
        Ok(v)
    }

    pub fn u32(&mut self) -> ReadResult<u32> {
        Ok(self.i32()? as u32)
    }

    pub fn u64(&mut self) -> ReadResult<u64> {
        self.need(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&self.buf[self.pos..self.pos + 8]);
        self.pos += 8;
        Ok(u64::from_be_bytes(a))
    }

    pub fn i64(&mut self) -> ReadResult<i64> {
        Ok(self.u64()? as i64)
    }

    /// A NUL-terminated string: its byte range [start, end) (the TS side decodes it as UTF-8).
    pub fn cstring(&mut self) -> ReadResult<(usize, usize)> {
        let start = self.pos;
        match self.buf[start..self.end].iter().position(|&b| b == 0) {
            Some(k) => {
                self.pos = start + k + 1;
                Ok((start, start + k))
            }
            None => Err(self.fail_at(format!("unterminated string at offset {start}"), start)),
        }
    }

    pub fn expect_end(&self) -> ReadResult<()> {
        if self.pos != self.end {
            return Err(self.fail_at(format!("{} unexpected trailing bytes at offset {}", self.end - self.pos, self.pos), self.pos));
        }
        Ok(())
    }
}
