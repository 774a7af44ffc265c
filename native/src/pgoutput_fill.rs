//! pgoutput pass 2: lays out one output buffer and copies the planned change sets into it.
//!
//! Buffer layout (all offsets in bytes from the start, every segment 8-byte aligned):
//!   tape         i64 slots: the events of pass 1 (`pgoutput.rs`)
//!   descriptors  f64 slots, per set: relationOid, eventIndex, rows, ncols, hasOld,
//!                ops, lsns, xids, oldKind, then per column of the new tuples and (when hasOld)
//!                of the old tuples: kinds, offsets, data, dataLength
//!   segments     the typed arrays the descriptors point at
//! `native/load-pgoutput.ts` makes typed-array views of the segments: no per-value JS objects.
use crate::error::{CodecError, CodecResult};
use crate::pgoutput::{Parsed, SetPlan, OP_DELETE, T_KEY, T_NEW, T_OLD, V_BINARY, V_TEXT};

const ALIGN: usize = 8;
const SET_HEADER_SLOTS: usize = 9;

fn align(n: usize) -> usize {
    (n + ALIGN - 1) & !(ALIGN - 1)
}

#[derive(Clone, Copy)]
struct ColumnSeg {
    kinds: usize,
    offsets: usize,
    data: usize,
    cursor: usize,
}

struct SetSegs {
    ops: usize,
    lsns: usize,
    xids: usize,
    old_kind: usize,
    new_cols: Vec<ColumnSeg>,
    old_cols: Vec<ColumnSeg>,
}

pub struct PgoutputLayout {
    pub tape_slots: usize,
    pub descriptor_slots: usize,
    pub total: usize,
    sets: Vec<SetSegs>,
}

fn descriptor_slots(plan: &SetPlan) -> usize {
    SET_HEADER_SLOTS + 4 * plan.ncols * if plan.has_old { 2 } else { 1 }
}

fn check_bytes(bytes: &[u64]) -> CodecResult<()> {
    for (c, b) in bytes.iter().enumerate() {
        if *b > i32::MAX as u64 {
            return Err(CodecError::new(format!("pgoutput: column {c} holds {b} bytes, more than one batch can (2 GiB)"), 0));
        }
    }
    Ok(())
}

pub fn layout(parsed: &Parsed) -> CodecResult<PgoutputLayout> {
    for plan in &parsed.plans {
        check_bytes(&plan.new_bytes)?;
        if plan.has_old {
            check_bytes(&plan.old_bytes)?;
        }
    }
    let tape_slots = parsed.tape.len();
    let descriptor_slots: usize = parsed.plans.iter().map(descriptor_slots).sum();
    let mut cur = (tape_slots + descriptor_slots) * 8;
    let mut take = |n: usize| {
        let at = cur;
        cur = align(cur + n);
        at
    };
    let mut sets = Vec::with_capacity(parsed.plans.len());
    for plan in &parsed.plans {
        let rows = plan.rows;
        let ops = take(rows);
        let lsns = take(rows * 8);
        let xids = take(rows * 4);
        let old_kind = take(rows);
        let mut cols = |bytes: &[u64]| -> Vec<ColumnSeg> {
            bytes
                .iter()
                .map(|b| {
                    let kinds = take(rows);
                    let offsets = take((rows + 1) * 4);
                    let data = take(*b as usize);
                    ColumnSeg { kinds, offsets, data, cursor: 0 }
                })
                .collect()
        };
        let new_cols = cols(&plan.new_bytes);
        let old_cols = if plan.has_old { cols(&plan.old_bytes) } else { Vec::new() };
        sets.push(SetSegs { ops, lsns, xids, old_kind, new_cols, old_cols });
    }
    Ok(PgoutputLayout { tape_slots, descriptor_slots, total: cur, sets })
}

fn put_f64(out: &mut [u8], slot: usize, v: f64) {
    out[slot * 8..slot * 8 + 8].copy_from_slice(&v.to_ne_bytes());
}

fn put_i32(out: &mut [u8], at: usize, v: i32) {
    out[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

/// Writes tape, descriptors and tuple values. Indexing stays bounds-checked: `buf` may be a view
/// of shared memory that changed since pass 1, which must not become an out-of-bounds access.
pub fn fill(buf: &[u8], offsets: &[i32], lsns: &[i64], parsed: &Parsed, layout: &mut PgoutputLayout, out: &mut [u8]) {
    for (k, v) in parsed.tape.iter().enumerate() {
        out[k * 8..k * 8 + 8].copy_from_slice(&v.to_ne_bytes());
    }
    let mut slot = layout.tape_slots;
    for (plan, segs) in parsed.plans.iter().zip(&layout.sets) {
        let header = [
            plan.relation_oid as f64,
            plan.event_index as f64,
            plan.rows as f64,
            plan.ncols as f64,
            if plan.has_old { 1.0 } else { 0.0 },
            segs.ops as f64,
            segs.lsns as f64,
            segs.xids as f64,
            segs.old_kind as f64,
        ];
        for v in header {
            put_f64(out, slot, v);
            slot += 1;
        }
        let groups: [(&Vec<ColumnSeg>, &Vec<u64>); 2] = [(&segs.new_cols, &plan.new_bytes), (&segs.old_cols, &plan.old_bytes)];
        for (cols, bytes) in groups {
            for (seg, b) in cols.iter().zip(bytes) {
                for v in [seg.kinds as f64, seg.offsets as f64, seg.data as f64, *b as f64] {
                    put_f64(out, slot, v);
                    slot += 1;
                }
            }
        }
    }

    let mut rows_done = vec![0usize; parsed.plans.len()];
    for (i, &s) in parsed.msg_set.iter().enumerate() {
        if s < 0 {
            continue;
        }
        let s = s as usize;
        let row = rows_done[s];
        rows_done[s] += 1;
        let segs = &mut layout.sets[s];
        let op = buf[offsets[i] as usize];
        out[segs.ops + row] = op;
        out[segs.lsns + row * 8..segs.lsns + row * 8 + 8].copy_from_slice(&lsns[i].to_ne_bytes());
        out[segs.xids + row * 4..segs.xids + row * 4 + 4].copy_from_slice(&parsed.msg_xid[i].to_ne_bytes());
        let mut p = parsed.msg_body[i];
        let mut m = buf[p];
        p += 1;
        if m == T_KEY || m == T_OLD {
            out[segs.old_kind + row] = m;
            p = fill_tuple(buf, p, &mut segs.old_cols, row, out);
            m = if op == OP_DELETE {
                0
            } else {
                p += 1;
                buf[p - 1]
            };
        } else if !segs.old_cols.is_empty() {
            fill_absent(&segs.old_cols, row, out);
        }
        if m == T_NEW {
            fill_tuple(buf, p, &mut segs.new_cols, row, out);
        } else {
            fill_absent(&segs.new_cols, row, out);
        }
    }
}

fn fill_tuple(buf: &[u8], mut p: usize, cols: &mut [ColumnSeg], row: usize, out: &mut [u8]) -> usize {
    let ncols = i16::from_be_bytes([buf[p], buf[p + 1]]).max(0) as usize;
    p += 2;
    for col in cols.iter_mut().take(ncols) {
        let kind = buf[p];
        p += 1;
        out[col.kinds + row] = kind;
        if kind == V_TEXT || kind == V_BINARY {
            let len = i32::from_be_bytes([buf[p], buf[p + 1], buf[p + 2], buf[p + 3]]).max(0) as usize;
            p += 4;
            let at = col.data + col.cursor;
            out[at..at + len].copy_from_slice(&buf[p..p + len]);
            p += len;
            col.cursor += len;
        }
        put_i32(out, col.offsets + (row + 1) * 4, col.cursor as i32);
    }
    p
}

fn fill_absent(cols: &[ColumnSeg], row: usize, out: &mut [u8]) {
    for col in cols {
        put_i32(out, col.offsets + (row + 1) * 4, col.cursor as i32);
    }
}
