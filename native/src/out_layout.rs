//! Carves one output buffer into 8-byte-aligned segments (typed arrays on the JS side need
//! aligned byte offsets) and remembers the padding between them.
//!
//! Outputs are allocated uninitialized (a zero-filled ArrayBuffer costs a memset or a fresh page
//! per 4 KiB, a large share of a decode), so every byte must be written: the codecs write each
//! segment in full and `zero_gaps` clears the padding.

const ALIGN: usize = 8;

pub fn align(n: usize) -> usize {
    (n + ALIGN - 1) & !(ALIGN - 1)
}

pub struct SegmentAlloc {
    cur: usize,
    gaps: Vec<(usize, usize)>,
}

impl SegmentAlloc {
    /// Segments start after `header` bytes (which the caller writes).
    pub fn new(header: usize) -> SegmentAlloc {
        let mut a = SegmentAlloc { cur: header, gaps: Vec::new() };
        a.pad();
        a
    }

    fn pad(&mut self) {
        let end = align(self.cur);
        if end > self.cur {
            self.gaps.push((self.cur, end - self.cur));
        }
        self.cur = end;
    }

    /// Reserves `n` bytes; returns their offset.
    pub fn take(&mut self, n: usize) -> usize {
        let at = self.cur;
        self.cur += n;
        self.pad();
        at
    }

    pub fn total(&self) -> usize {
        self.cur
    }

    pub fn zero_gaps(&self, out: &mut [u8]) {
        for &(at, n) in &self.gaps {
            out[at..at + n].fill(0);
        }
    }
}
