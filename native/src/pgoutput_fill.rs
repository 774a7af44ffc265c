//! pgoutput pass 2: lays out one output buffer and copies the planned change sets into it.
//!
//! The buffer is allocated uninitialized: every byte is written here (padding included).
//!
//! Buffer layout (all offsets in bytes from the start, every segment 8-byte aligned):
//!   tape         i64 slots: the events of pass 1 (`pgoutput_events.rs`)
//!   descriptors  f64 slots, per set: relationOid, eventIndex, rows, ncols, hasOld,
//!                ops, lsns, xids, oldKind, then per column of the new tuples and (when hasOld)
//!                of the old tuples: kinds, offsets, data, dataLength
//!   segments     the typed arrays the descriptors point at
//! `native/load-pgoutput.ts` makes typed-array views of the segments: no per-value JS objects.
//! Everything per set lives in flat Vecs (no allocation per set): small transactions make many
//! small sets.
use crate::error::{CodecError, CodecResult};
use crate::out_layout::SegmentAlloc;
use crate::pgoutput::{Parsed, OP_DELETE, T_KEY, T_NEW, T_OLD, V_BINARY, V_TEXT};
use crate::wire::{copy_var_raw, read_be_i32};

const SET_HEADER_SLOTS: usize = 9;

#[derive(Clone, Copy)]
struct ColumnSeg {
    kinds: usize,
    offsets: usize,
    data: usize,
    data_len: usize,
    cursor: usize,
}

struct SetSegs {
    ops: usize,
    lsns: usize,
    xids: usize,
    old_kind: usize,
    /// Index in `PgoutputLayout::cols` of the new-tuple columns, followed by the old-tuple ones.
    cols_at: usize,
}

pub struct PgoutputLayout {
    pub tape_slots: usize,
    pub descriptor_slots: usize,
    pub total: usize,
    sets: Vec<SetSegs>,
    cols: Vec<ColumnSeg>,
    alloc: SegmentAlloc,
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
    let mut descriptor_slots = 0;
    let mut ncols_total = 0;
    for plan in &parsed.plans {
        check_bytes(parsed.new_bytes(plan))?;
        let groups = if plan.has_old { 2 } else { 1 };
        if plan.has_old {
            check_bytes(parsed.old_bytes(plan))?;
        }
        descriptor_slots += SET_HEADER_SLOTS + 4 * plan.ncols * groups;
        ncols_total += plan.ncols * groups;
    }
    let tape_slots = parsed.tape.len();
    let mut alloc = SegmentAlloc::new((tape_slots + descriptor_slots) * 8);
    let mut sets = Vec::with_capacity(parsed.plans.len());
    let mut cols = Vec::with_capacity(ncols_total);
    for plan in &parsed.plans {
        let rows = plan.rows;
        let ops = alloc.take(rows);
        let lsns = alloc.take(rows * 8);
        let xids = alloc.take(rows * 4);
        let old_kind = alloc.take(rows);
        let cols_at = cols.len();
        let groups: &[&[u64]] = if plan.has_old { &[parsed.new_bytes(plan), parsed.old_bytes(plan)] } else { &[parsed.new_bytes(plan)] };
        for bytes in groups {
            for &b in bytes.iter() {
                let kinds = alloc.take(rows);
                let offsets = alloc.take((rows + 1) * 4);
                let data = alloc.take(b as usize);
                cols.push(ColumnSeg { kinds, offsets, data, data_len: b as usize, cursor: 0 });
            }
        }
        sets.push(SetSegs { ops, lsns, xids, old_kind, cols_at });
    }
    Ok(PgoutputLayout { tape_slots, descriptor_slots, total: alloc.total(), sets, cols, alloc })
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
        let n = plan.ncols * if plan.has_old { 2 } else { 1 };
        for seg in &layout.cols[segs.cols_at..segs.cols_at + n] {
            for v in [seg.kinds as f64, seg.offsets as f64, seg.data as f64, seg.data_len as f64] {
                put_f64(out, slot, v);
                slot += 1;
            }
        }
    }

    // The output is not zero-filled: clear the padding and every offsets[0] here; the loop
    // below writes every other byte (kinds and oldKind of absent tuples included).
    layout.alloc.zero_gaps(out);
    for col in &layout.cols {
        put_i32(out, col.offsets, 0);
    }
    let mut rows_done = vec![0usize; parsed.plans.len()];
    for (i, &s) in parsed.msg_set.iter().enumerate() {
        if s < 0 {
            continue;
        }
        let s = s as usize;
        let plan = &parsed.plans[s];
        let row = rows_done[s];
        rows_done[s] += 1;
        let segs = &layout.sets[s];
        let (new_cols, rest) = layout.cols[segs.cols_at..].split_at_mut(plan.ncols);
        let old_cols = if plan.has_old { &mut rest[..plan.ncols] } else { &mut rest[..0] };
        let op = buf[offsets[i] as usize];
        out[segs.ops + row] = op;
        out[segs.lsns + row * 8..segs.lsns + row * 8 + 8].copy_from_slice(&lsns[i].to_ne_bytes());
        out[segs.xids + row * 4..segs.xids + row * 4 + 4].copy_from_slice(&parsed.msg_xid[i].to_ne_bytes());
        let mut p = parsed.msg_body[i];
        let mut m = buf[p];
        p += 1;
        if m == T_KEY || m == T_OLD {
            out[segs.old_kind + row] = m;
            p = fill_tuple(buf, p, old_cols, row, out);
            m = if op == OP_DELETE {
                0
            } else {
                p += 1;
                buf[p - 1]
            };
        } else {
            out[segs.old_kind + row] = 0;
            fill_absent(old_cols, row, out);
        }
        if m == T_NEW {
            fill_tuple(buf, p, new_cols, row, out);
        } else {
            fill_absent(new_cols, row, out);
        }
    }
}

fn fill_tuple(buf: &[u8], mut p: usize, cols: &mut [ColumnSeg], row: usize, out: &mut [u8]) -> usize {
    let len = buf.len();
    if len < 2 || p > len - 2 {
        return p;
    }
    let ncols = i16::from_be_bytes([buf[p], buf[p + 1]]).max(0) as usize;
    p += 2;
    let (src, dst, out_len) = (buf.as_ptr(), out.as_mut_ptr(), out.len());
    for col in cols.iter_mut().take(ncols) {
        // Pass 1 validated the tuple; these checks only keep a shared input that changed since
        // then from causing an out-of-bounds access (the layout bounds every write).
        if p >= len || col.kinds + row >= out_len || col.offsets + (row + 2) * 4 > out_len {
            break;
        }
        // SAFETY: indexes checked just above.
        unsafe {
            let kind = *src.add(p);
            p += 1;
            *dst.add(col.kinds + row) = kind;
            if kind == V_TEXT || kind == V_BINARY {
                if len - p < 4 {
                    break;
                }
                let n = read_be_i32(src.add(p)).max(0) as usize;
                p += 4;
                let n = n.min(len - p).min(col.data_len - col.cursor);
                copy_var_raw(src.add(p), dst.add(col.data + col.cursor), n);
                p += n;
                col.cursor += n;
            }
            (dst.add(col.offsets + (row + 1) * 4) as *mut i32).write_unaligned(col.cursor as i32);
        }
    }
    p
}

fn fill_absent(cols: &[ColumnSeg], row: usize, out: &mut [u8]) {
    for col in cols {
        out[col.kinds + row] = 0;
        put_i32(out, col.offsets + (row + 1) * 4, col.cursor as i32);
    }
}
