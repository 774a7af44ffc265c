//! pgoutput parser, pass 1 (PostgreSQL docs, "Logical Replication Message Formats"); the grammar
//! is the comment at the top of `native/ts/pgoutput-decode.ts`, which this mirrors message by
//! message, check by check, so both give the same output and fail on the same input.
//!
//! Pass 1 validates every message, writes the non-change events to a compact tape of i64 slots
//! (strings as byte ranges of the input; `native/load-pgoutput.ts` turns the tape into event
//! objects and applies relation-cache and stream-state effects), and plans the change sets: rows
//! per set and bytes per column. Pass 2 (`pgoutput_fill.rs`) copies the tuples.
use crate::error::CodecError;
use crate::pgoutput_reader::{tag_name, ReadResult, Reader};

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

pub const T_NEW: u8 = b'N';
pub const T_KEY: u8 = b'K';
pub const T_OLD: u8 = b'O';
pub const V_NULL: u8 = b'n';
pub const V_UNCHANGED: u8 = b'u';
pub const V_TEXT: u8 = b't';
pub const V_BINARY: u8 = b'b';
pub const OP_INSERT: u8 = b'I';
pub const OP_UPDATE: u8 = b'U';
pub const OP_DELETE: u8 = b'D';

/// Pass-1 sizing of one change set: consecutive changes of one relation and width with no event
/// between them.
pub struct SetPlan {
    pub relation_oid: u32,
    pub ncols: usize,
    pub event_index: usize,
    pub rows: usize,
    pub new_bytes: Vec<u64>,
    pub old_bytes: Vec<u64>,
    pub has_old: bool,
}

pub struct Parsed {
    pub tape: Vec<i64>,
    pub events: usize,
    pub plans: Vec<SetPlan>,
    /// Per message: its change set, or -1 for an event.
    pub msg_set: Vec<i32>,
    /// Per change message: offset of its first tuple marker.
    pub msg_body: Vec<usize>,
    pub msg_xid: Vec<u32>,
    pub in_stream: bool,
}

/// Parses messages buf[offsets[i], offsets[i+1]) (ranges already checked by the caller). On a
/// malformed message, returns what was parsed before it together with the error: the caller still
/// applies the state effects of the events parsed so far, as the TypeScript parser does.
pub fn parse(buf: &[u8], offsets: &[i32], in_stream: bool) -> (Parsed, Option<CodecError>) {
    let n = offsets.len() - 1;
    let mut p = Parsed {
        tape: Vec::with_capacity(64),
        events: 0,
        plans: Vec::new(),
        msg_set: vec![-1; n],
        msg_body: vec![0; n],
        msg_xid: vec![0; n],
        in_stream,
    };
    for i in 0..n {
        let mut r = Reader::new(buf, offsets[i] as usize, offsets[i + 1] as usize);
        if let Err(e) = parse_message(&mut r, i, &mut p).and_then(|()| r.expect_end()) {
            return (p, Some(e));
        }
    }
    (p, None)
}

fn parse_message(r: &mut Reader, i: usize, p: &mut Parsed) -> ReadResult<()> {
    let tag = r.u8()?;
    r.tag = tag;
    if tag == OP_INSERT || tag == OP_UPDATE || tag == OP_DELETE {
        plan_change(r, tag, i, p)
    } else {
        decode_event(r, tag, i, p)?;
        p.events += 1;
        Ok(())
    }
}

fn plan_change(r: &mut Reader, op: u8, i: usize, p: &mut Parsed) -> ReadResult<()> {
    p.msg_xid[i] = if p.in_stream { r.u32()? } else { 0 };
    let relation_oid = r.u32()?;
    p.msg_body[i] = r.pos;
    let event_index = p.events;
    let mut marker = r.u8()?;
    let mut planned: Option<usize> = None;
    if marker == T_KEY || marker == T_OLD {
        if op == OP_INSERT {
            return Err(r.fail_at(format!("expected 'N' at offset {}, found {}", r.pos - 1, tag_name(marker)), r.pos - 1));
        }
        let ncols = r.i16()?;
        let s = plan_for(&mut p.plans, relation_oid, ncols, event_index, r)?;
        p.plans[s].has_old = true;
        let ncols = p.plans[s].ncols;
        scan_values(r, ncols, &mut p.plans[s].old_bytes)?;
        planned = Some(s);
        marker = if op == OP_DELETE { 0 } else { r.u8()? };
    } else if op == OP_DELETE {
        return Err(r.fail_at(format!("expected 'K' or 'O' at offset {}, found {}", r.pos - 1, tag_name(marker)), r.pos - 1));
    }
    if op != OP_DELETE {
        if marker != T_NEW {
            return Err(r.fail_at(format!("expected 'N' at offset {}, found {}", r.pos - 1, tag_name(marker)), r.pos - 1));
        }
        let at = r.pos;
        let ncols = r.i16()?;
        if let Some(s) = planned {
            if ncols as i64 != p.plans[s].ncols as i64 {
                return Err(r.fail_at(format!("new tuple at offset {at} has {ncols} columns, old tuple has {}", p.plans[s].ncols), at));
            }
        }
        let s = match planned {
            Some(s) => s,
            None => plan_for(&mut p.plans, relation_oid, ncols, event_index, r)?,
        };
        scan_values(r, ncols as usize, &mut p.plans[s].new_bytes)?;
    }
    let last = p.plans.len() - 1; // plan_for always leaves the current set last
    p.plans[last].rows += 1;
    p.msg_set[i] = last as i32;
    Ok(())
}

/// The open set when this change continues it (same relation and width, no event between).
fn plan_for(plans: &mut Vec<SetPlan>, relation_oid: u32, ncols: i16, event_index: usize, r: &Reader) -> ReadResult<usize> {
    if ncols < 0 {
        return Err(r.fail_at(format!("tuple at offset {} has {ncols} columns, expected >= 0", r.pos - 2), r.pos - 2));
    }
    let ncols = ncols as usize;
    if let Some(last) = plans.last() {
        if last.event_index == event_index && last.relation_oid == relation_oid && last.ncols == ncols {
            return Ok(plans.len() - 1);
        }
    }
    plans.push(SetPlan {
        relation_oid,
        ncols,
        event_index,
        rows: 0,
        new_bytes: vec![0; ncols],
        old_bytes: vec![0; ncols],
        has_old: false,
    });
    Ok(plans.len() - 1)
}

fn scan_values(r: &mut Reader, ncols: usize, bytes: &mut [u64]) -> ReadResult<()> {
    for (c, total) in bytes.iter_mut().enumerate().take(ncols) {
        let kind = r.u8()?;
        if kind == V_TEXT || kind == V_BINARY {
            let len = r.i32()?;
            if len < 0 {
                return Err(r.fail_at(format!("column {c} value length {len} at offset {}, expected >= 0", r.pos - 4), r.pos - 4));
            }
            r.need(len as u64)?;
            r.pos += len as usize;
            *total += len as u64;
        } else if kind != V_NULL && kind != V_UNCHANGED {
            return Err(r.fail_at(
                format!("column {c} has value kind 0x{kind:x} at offset {}, expected 'n', 'u', 't' or 'b'", r.pos - 1),
                r.pos - 1,
            ));
        }
    }
    Ok(())
}

/// Builds one tape record; pushed only once the whole event has parsed.
struct Record(Vec<i64>);

impl Record {
    fn new(k: i64, i: usize) -> Record {
        Record(vec![k, i as i64])
    }
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

fn decode_event(r: &mut Reader, tag: u8, i: usize, p: &mut Parsed) -> ReadResult<()> {
    use kind::*;
    let in_stream = p.in_stream;
    let rec = match tag {
        b'B' => {
            let mut e = Record::new(BEGIN, i);
            e.x64(r)?; // finalLsn
            e.x64(r)?; // commitTime
            e.u32(r)?; // xid
            e
        }
        b'C' => {
            let mut e = Record::new(COMMIT, i);
            e.u8(r)?; // flags
            e.x64(r)?; // commitLsn
            e.x64(r)?; // endLsn
            e.x64(r)?; // commitTime
            e
        }
        b'O' => {
            let mut e = Record::new(ORIGIN, i);
            e.x64(r)?; // originLsn
            e.cstring(r)?; // name
            e
        }
        b'R' => {
            let mut e = Record::new(RELATION, i);
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
            e
        }
        b'Y' => {
            let mut e = Record::new(TYPE, i);
            e.stream_xid(r, in_stream)?;
            e.u32(r)?; // type oid
            e.cstring(r)?; // namespace
            e.cstring(r)?; // name
            e
        }
        b'T' => {
            let mut e = Record::new(TRUNCATE, i);
            e.stream_xid(r, in_stream)?;
            let nrels = e.u32(r)?;
            e.u8(r)?; // options
            r.need(nrels as u64 * 4)?; // before reserving: a corrupt count must not allocate gigabytes
            e.0.reserve(nrels as usize);
            for _ in 0..nrels {
                e.u32(r)?;
            }
            e
        }
        b'M' => {
            let mut e = Record::new(MESSAGE, i);
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
            e
        }
        b'S' => {
            let mut e = Record::new(STREAM_START, i);
            e.u32(r)?; // xid
            e.u8(r)?; // first segment
            p.in_stream = true;
            e
        }
        b'E' => {
            p.in_stream = false;
            Record::new(STREAM_STOP, i)
        }
        b'c' => {
            let mut e = Record::new(STREAM_COMMIT, i);
            e.u32(r)?; // xid
            e.u8(r)?; // flags
            e.x64(r)?; // commitLsn
            e.x64(r)?; // endLsn
            e.x64(r)?; // commitTime
            e
        }
        b'A' => {
            let mut e = Record::new(STREAM_ABORT, i);
            e.u32(r)?; // xid
            e.u32(r)?; // subXid
            // Protocol 4 with streaming = parallel adds abort LSN and time: known by the length.
            let parallel = r.remaining() == 16;
            e.0.push(parallel as i64);
            if parallel {
                e.x64(r)?;
                e.x64(r)?;
            }
            e
        }
        b'b' => {
            let mut e = Record::new(BEGIN_PREPARE, i);
            e.x64(r)?; // prepareLsn
            e.x64(r)?; // endLsn
            e.x64(r)?; // prepareTime
            e.u32(r)?; // xid
            e.cstring(r)?; // gid
            e
        }
        b'P' | b'p' | b'K' => {
            let k = match tag {
                b'P' => PREPARE,
                b'p' => STREAM_PREPARE,
                _ => COMMIT_PREPARED,
            };
            let mut e = Record::new(k, i);
            e.u8(r)?; // flags
            e.x64(r)?; // prepare/commit lsn
            e.x64(r)?; // endLsn
            e.x64(r)?; // prepare/commit time
            e.u32(r)?; // xid
            e.cstring(r)?; // gid
            e
        }
        b'r' => {
            let mut e = Record::new(ROLLBACK_PREPARED, i);
            e.u8(r)?; // flags
            e.x64(r)?; // prepareEndLsn
            e.x64(r)?; // rollbackEndLsn
            e.x64(r)?; // prepareTime
            e.x64(r)?; // rollbackTime
            e.u32(r)?; // xid
            e.cstring(r)?; // gid
            e
        }
        _ => return Err(r.fail_at(format!("unknown message tag at offset {}", r.pos - 1), r.pos - 1)),
    };
    p.tape.extend_from_slice(&rec.0);
    Ok(())
}
