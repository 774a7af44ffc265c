//! pgoutput parser, pass 1 (PostgreSQL docs, "Logical Replication Message Formats"); the grammar
//! is the comment at the top of `native/ts/pgoutput-decode.ts`, which this mirrors message by
//! message, check by check, so both give the same output and fail on the same input.
//!
//! Pass 1 validates every message, writes the non-change events to a compact tape of i64 slots
//! (strings as byte ranges of the input; `native/load-pgoutput.ts` turns the tape into event
//! objects and applies relation-cache and stream-state effects), and plans the change sets: rows
//! per set and bytes per column. Pass 2 (`pgoutput_fill.rs`) copies the tuples.
use crate::error::CodecError;
use crate::pgoutput_events::decode_event;
use crate::pgoutput_reader::{tag_name, ReadResult, Reader};
use crate::wire::read_be_i32;

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
    pub has_old: bool,
    /// Index in `Parsed::col_bytes` of this set's byte counts: ncols for the new tuples, then
    /// ncols for the old ones (one flat Vec: no allocation per set).
    pub bytes_at: usize,
}

pub struct Parsed {
    pub tape: Vec<i64>,
    pub events: usize,
    pub plans: Vec<SetPlan>,
    /// Bytes per column of every set (see `SetPlan::bytes_at`).
    pub col_bytes: Vec<u64>,
    /// Per message: its change set, or -1 for an event.
    pub msg_set: Vec<i32>,
    /// Per change message: offset of its first tuple marker.
    pub msg_body: Vec<usize>,
    pub msg_xid: Vec<u32>,
    pub in_stream: bool,
}

impl Parsed {
    pub fn new_bytes(&self, plan: &SetPlan) -> &[u64] {
        &self.col_bytes[plan.bytes_at..plan.bytes_at + plan.ncols]
    }

    pub fn old_bytes(&self, plan: &SetPlan) -> &[u64] {
        &self.col_bytes[plan.bytes_at + plan.ncols..plan.bytes_at + 2 * plan.ncols]
    }
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
        col_bytes: Vec::new(),
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
        let mark = p.tape.len();
        if let Err(e) = decode_event(r, tag, i, p) {
            p.tape.truncate(mark); // only whole events go on the tape
            return Err(e);
        }
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
        let s = plan_for(p, relation_oid, ncols, event_index, r)?;
        p.plans[s].has_old = true;
        let (at, n) = (p.plans[s].bytes_at + p.plans[s].ncols, p.plans[s].ncols);
        scan_values(r, n, &mut p.col_bytes[at..at + n])?;
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
            None => plan_for(p, relation_oid, ncols, event_index, r)?,
        };
        let (at, n) = (p.plans[s].bytes_at, p.plans[s].ncols);
        scan_values(r, n, &mut p.col_bytes[at..at + n])?;
    }
    let last = p.plans.len() - 1; // plan_for always leaves the current set last
    p.plans[last].rows += 1;
    p.msg_set[i] = last as i32;
    Ok(())
}

/// The open set when this change continues it (same relation and width, no event between).
fn plan_for(p: &mut Parsed, relation_oid: u32, ncols: i16, event_index: usize, r: &Reader) -> ReadResult<usize> {
    if ncols < 0 {
        return Err(r.fail_at(format!("tuple at offset {} has {ncols} columns, expected >= 0", r.pos - 2), r.pos - 2));
    }
    let ncols = ncols as usize;
    if let Some(last) = p.plans.last() {
        if last.event_index == event_index && last.relation_oid == relation_oid && last.ncols == ncols {
            return Ok(p.plans.len() - 1);
        }
    }
    // Columns cost at least one byte each in the message, so this is bounded by the input size.
    let bytes_at = p.col_bytes.len();
    p.col_bytes.resize(bytes_at + 2 * ncols, 0);
    p.plans.push(SetPlan { relation_oid, ncols, event_index, rows: 0, has_old: false, bytes_at });
    Ok(p.plans.len() - 1)
}

/// Walks a tuple's values, summing the bytes per column. A tight loop over the common case;
/// anything unusual (a cut message, a bad kind or length) re-reads that column with the
/// checking Reader, which reports the exact error the TypeScript parser gives.
fn scan_values(r: &mut Reader, ncols: usize, bytes: &mut [u64]) -> ReadResult<()> {
    let (end, base) = (r.end, r.buf.as_ptr());
    let mut p = r.pos;
    let mut c = 0;
    while c < ncols {
        if p >= end {
            break;
        }
        // SAFETY: p < end <= buf.len().
        let kind = unsafe { *base.add(p) };
        if kind == V_TEXT || kind == V_BINARY {
            if end - p < 5 {
                break;
            }
            // SAFETY: p + 5 <= end.
            let len = unsafe { read_be_i32(base.add(p + 1)) };
            if len < 0 || len as usize > end - p - 5 {
                break;
            }
            bytes[c] += len as u64;
            p += 5 + len as usize;
        } else if kind == V_NULL || kind == V_UNCHANGED {
            p += 1;
        } else {
            break;
        }
        c += 1;
    }
    r.pos = p;
    for (c, total) in bytes.iter_mut().enumerate().take(ncols).skip(c) {
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
