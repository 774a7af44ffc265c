//! pgoutput events (every message but Insert/Update/Delete) onto the tape of i64 slots that
//! `native/load-pgoutput.ts` turns into event objects. One record per event: kind, message index,
//! then the fields in wire order (strings as input byte ranges). The layouts per kind are listed
//! at the top of load-pgoutput.ts; the grammar is in native/ts/pgoutput-decode.ts.
use crate::pgoutput::Parsed;
use crate::pgoutput_reader::{ReadResult, Reader};

/// Event kinds on the tape (slot 0 of each record; slot 1 is the message index).
pub mod kind {
    pub const BEGIN: i64 = 1;
    pub const COMMIT: i64 = 2;
    pub const ORIGIN: i64 = 3;
    pub const RELATION: i64 = 4;
    pub const TYPE: i64 = 5;
    pub const TRUNCATE: i64 = 6;
    pub const MESSAGE: i64 = 7;
    pub const STREAM_START: i64 = 8;
    pub const STREAM_STOP: i64 = 9;
    pub const STREAM_COMMIT: i64 = 10;
    pub const STREAM_ABORT: i64 = 11;
    pub const BEGIN_PREPARE: i64 = 12;
    pub const PREPARE: i64 = 13;
    pub const COMMIT_PREPARED: i64 = 14;
    pub const ROLLBACK_PREPARED: i64 = 15;
    pub const STREAM_PREPARE: i64 = 16;
}

/// Appends one event's fields to the tape. The caller removes a partial record when the event
/// fails to parse (see `parse_message`).
struct Record<'a>(&'a mut Vec<i64>);

impl Record<'_> {
    fn u8(&mut self, r: &mut Reader) -> ReadResult<()> {
        let v = r.u8()?;
        self.0.push(v as i64);
        Ok(())
    }
    fn i16(&mut self, r: &mut Reader) -> ReadResult<i16> {
        let v = r.i16()?;
        self.0.push(v as i64);
        Ok(v)
    }
    fn i32(&mut self, r: &mut Reader) -> ReadResult<()> {
        let v = r.i32()?;
        self.0.push(v as i64);
        Ok(())
    }
    fn u32(&mut self, r: &mut Reader) -> ReadResult<u32> {
        let v = r.u32()?;
        self.0.push(v as i64);
        Ok(v)
    }
    /// u64 and i64 share the slot bits; the TS side reads LSNs unsigned and times signed.
    fn x64(&mut self, r: &mut Reader) -> ReadResult<()> {
        let v = r.u64()?;
        self.0.push(v as i64);
        Ok(())
    }
    fn cstring(&mut self, r: &mut Reader) -> ReadResult<()> {
        let (a, b) = r.cstring()?;
        self.0.push(a as i64);
        self.0.push(b as i64);
        Ok(())
    }
    fn stream_xid(&mut self, r: &mut Reader, in_stream: bool) -> ReadResult<()> {
        let v = if in_stream { r.u32()? } else { 0 };
        self.0.push(v as i64);
        Ok(())
    }
}

pub fn decode_event(r: &mut Reader, tag: u8, i: usize, p: &mut Parsed) -> ReadResult<()> {
    use kind::*;
    let in_stream = p.in_stream;
    let kind = match tag {
        b'B' => BEGIN,
        b'C' => COMMIT,
        b'O' => ORIGIN,
        b'R' => RELATION,
        b'Y' => TYPE,
        b'T' => TRUNCATE,
        b'M' => MESSAGE,
        b'S' => STREAM_START,
        b'E' => STREAM_STOP,
        b'c' => STREAM_COMMIT,
        b'A' => STREAM_ABORT,
        b'b' => BEGIN_PREPARE,
        b'P' => PREPARE,
        b'p' => STREAM_PREPARE,
        b'K' => COMMIT_PREPARED,
        b'r' => ROLLBACK_PREPARED,
        _ => return Err(r.fail_at(format!("unknown message tag at offset {}", r.pos - 1), r.pos - 1)),
    };
    p.tape.push(kind);
    p.tape.push(i as i64);
    let e = &mut Record(&mut p.tape);
    match tag {
        b'B' => {
            e.x64(r)?; // finalLsn
            e.x64(r)?; // commitTime
            e.u32(r)?; // xid
        }
        b'C' => {
            e.u8(r)?; // flags
            e.x64(r)?; // commitLsn
            e.x64(r)?; // endLsn
            e.x64(r)?; // commitTime
        }
        b'O' => {
            e.x64(r)?; // originLsn
            e.cstring(r)?; // name
        }
        b'R' => {
            e.stream_xid(r, in_stream)?;
            e.u32(r)?; // oid
            e.cstring(r)?; // namespace
            e.cstring(r)?; // name
            e.u8(r)?; // replica identity
            let ncols = e.i16(r)?;
            if ncols < 0 {
                return Err(r.fail_at(format!("relation has {ncols} columns at offset {}, expected >= 0", r.pos - 2), r.pos - 2));
            }
            for _ in 0..ncols {
                e.u8(r)?; // flags
                e.cstring(r)?; // name
                e.u32(r)?; // type oid
                e.i32(r)?; // typmod
            }
        }
        b'Y' => {
            e.stream_xid(r, in_stream)?;
            e.u32(r)?; // type oid
            e.cstring(r)?; // namespace
            e.cstring(r)?; // name
        }
        b'T' => {
            e.stream_xid(r, in_stream)?;
            let nrels = e.u32(r)?;
            e.u8(r)?; // options
            r.need(nrels as u64 * 4)?; // before reserving: a corrupt count must not allocate gigabytes
            e.0.reserve(nrels as usize);
            for _ in 0..nrels {
                e.u32(r)?;
            }
        }
        b'M' => {
            e.stream_xid(r, in_stream)?;
            e.u8(r)?; // flags
            e.x64(r)?; // message lsn
            e.cstring(r)?; // prefix
            let len = r.i32()?;
            if len < 0 {
                return Err(r.fail_at(format!("message content length {len} at offset {}, expected >= 0", r.pos - 4), r.pos - 4));
            }
            r.need(len as u64)?;
            e.0.push(r.pos as i64);
            e.0.push(len as i64);
            r.pos += len as usize;
        }
        b'S' => {
            e.u32(r)?; // xid
            e.u8(r)?; // first segment
            p.in_stream = true;
        }
        b'E' => p.in_stream = false,
        b'c' => {
            e.u32(r)?; // xid
            e.u8(r)?; // flags
            e.x64(r)?; // commitLsn
            e.x64(r)?; // endLsn
            e.x64(r)?; // commitTime
        }
        b'A' => {
            e.u32(r)?; // xid
            e.u32(r)?; // subXid
            // Protocol 4 with streaming = parallel adds abort LSN and time: known by the length.
            let parallel = r.remaining() == 16;
            e.0.push(parallel as i64);
            if parallel {
                e.x64(r)?;
                e.x64(r)?;
            }
        }
        b'b' => {
            e.x64(r)?; // prepareLsn
            e.x64(r)?; // endLsn
            e.x64(r)?; // prepareTime
            e.u32(r)?; // xid
            e.cstring(r)?; // gid
        }
        b'P' | b'p' | b'K' => {
            e.u8(r)?; // flags
            e.x64(r)?; // prepare/commit lsn
            e.x64(r)?; // endLsn
            e.x64(r)?; // prepare/commit time
            e.u32(r)?; // xid
            e.cstring(r)?; // gid
        }
        b'r' => {
            e.u8(r)?; // flags
            e.x64(r)?; // prepareEndLsn
            e.x64(r)?; // rollbackEndLsn
            e.x64(r)?; // prepareTime
            e.x64(r)?; // rollbackTime
            e.u32(r)?; // xid
            e.cstring(r)?; // gid
        }
        _ => unreachable!("tag checked above"),
    }
    Ok(())
}
