//! JS bindings of the COPY codecs, the CopyData de-framer and the placeholder builders. Argument
//! shapes are private to `native/load.ts`, which adapts them to the `Codecs` interface:
//!
//!   copyHeaderLength(buf, offset) -> number
//!   copyScan(buf, offset, fieldCount, scratch: Float64Array) -> undefined   scratch = rows, end, done
//!   copyDecode(buf, offset, codecs: Int32Array, maxRows (-1 = all), scratch) -> Buffer (layout in copy_decode.rs)
//!   copyEncodedLength(rowCount, codecs: Int32Array, cols: Array) -> number
//!   copyEncodeInto(rowCount, codecs: Int32Array, cols: Array, out, offset) -> number
//!   deframeCopyData(buf, offset, out, outOffset, scratch) -> undefined     scratch = consumed, written, messages, stop
//!   placeholders(rows, cols, first) -> string
//!   insertChunks(rows, cols, maxParams) -> Buffer (f64 per statement)
//!
//! `cols` is flat, three entries per column: nulls (Uint8Array), values (Uint8Array, fixed) or
//! offsets (Int32Array, var), data (Uint8Array, var; null for fixed).
use crate::batch::{ColumnCodec, ColumnView};
use crate::copy_decode::{fill, plan, Layout};
use crate::copy_encode::{encode_into, validate_batch};
use crate::copy_scan::{copy_header_length, copy_scan};
use crate::deframe::deframe_copy_data;
use crate::error::CodecError;
use crate::ffi::{napi_callback_info, napi_value};
use crate::js::{arg_error, Env, JsResult};
use crate::placeholders::{insert_chunks, placeholders};

fn scratch<'a>(env: Env, v: napi_value, n: usize) -> JsResult<&'a mut [f64]> {
    let s = env.f64s_mut(v, "scratch")?;
    if s.len() < n {
        return Err(arg_error(format!("scratch: need {n} entries")));
    }
    Ok(s)
}

fn integer(env: Env, v: napi_value, what: &str) -> JsResult<i64> {
    let x = env.f64(v, what)?;
    if x.fract() != 0.0 || !x.is_finite() || x.abs() > 9007199254740991.0 {
        return Err(arg_error(format!("{what}: expected an integer, got {x}")));
    }
    Ok(x as i64)
}

fn codecs(env: Env, v: napi_value) -> JsResult<Vec<ColumnCodec>> {
    let packed = env.i32s(v, "codecs")?;
    if packed.len() > i16::MAX as usize {
        return Err(CodecError::new(format!("copy binary: {} columns, expected at most 32767", packed.len()), 0).into());
    }
    Ok(packed.iter().map(|p| ColumnCodec::unpack(*p)).collect::<Result<Vec<_>, CodecError>>()?)
}

fn columns<'a>(env: Env, codecs: &[ColumnCodec], cols: napi_value) -> JsResult<Vec<ColumnView<'a>>> {
    let n = env.array_length(cols)? as usize;
    if n != codecs.len() * 3 {
        return Err(arg_error(format!("cols: expected {} entries, got {n}", codecs.len() * 3)));
    }
    let mut out = Vec::with_capacity(codecs.len());
    for (c, codec) in codecs.iter().enumerate() {
        let i = (c * 3) as u32;
        let nulls = env.bytes(env.element(cols, i)?, "nulls")?;
        let view = match *codec {
            ColumnCodec::Fixed { width, swap } => ColumnView::Fixed { width, swap, values: env.bytes(env.element(cols, i + 1)?, "values")?, nulls },
            ColumnCodec::Var => ColumnView::Var {
                offsets: env.i32s(env.element(cols, i + 1)?, "offsets")?,
                data: env.bytes(env.element(cols, i + 2)?, "data")?,
                nulls,
            },
        };
        out.push(view);
    }
    Ok(out)
}

pub fn js_copy_header_length(env: Env, info: napi_callback_info) -> JsResult<napi_value> {
    let [buf, offset] = env.args(info)?;
    let buf = env.bytes(buf, "buf")?;
    let offset = env.index(offset, "offset")?;
    let n = copy_header_length(buf, offset)?;
    env.double(n.map_or(-1.0, |n| n as f64))
}

pub fn js_copy_scan(env: Env, info: napi_callback_info) -> JsResult<napi_value> {
    let [buf, offset, field_count, out] = env.args(info)?;
    let buf = env.bytes(buf, "buf")?;
    let offset = env.index(offset, "offset")?;
    let field_count = integer(env, field_count, "fieldCount")?.clamp(-1, i32::MAX as i64) as i32;
    let out = scratch(env, out, 3)?;
    let r = copy_scan(buf, offset, field_count)?;
    out[0] = r.rows as f64;
    out[1] = r.end as f64;
    out[2] = if r.done { 1.0 } else { 0.0 };
    env.undefined()
}

pub fn js_copy_decode(env: Env, info: napi_callback_info) -> JsResult<napi_value> {
    let [buf, offset, packed, max_rows, out] = env.args(info)?;
    let buf = env.bytes(buf, "buf")?;
    let offset = env.index(offset, "offset")?;
    let codecs = codecs(env, packed)?;
    let max_rows = integer(env, max_rows, "maxRows")?;
    let max_rows = if max_rows < 0 { usize::MAX } else { max_rows as usize };
    let out = scratch(env, out, 3)?;
    let p = plan(buf, offset, &codecs, max_rows)?;
    let layout = Layout::new(&codecs, p.scan.rows, &p.var_bytes);
    let (ab, bytes) = env.buffer_uninit(layout.total)?;
    fill(buf, offset, &codecs, p.scan.rows, &layout, bytes)?;
    out[0] = p.scan.rows as f64;
    out[1] = p.scan.end as f64;
    out[2] = if p.scan.done { 1.0 } else { 0.0 };
    Ok(ab)
}

pub fn js_copy_encoded_length(env: Env, info: napi_callback_info) -> JsResult<napi_value> {
    let [rows, packed, cols] = env.args(info)?;
    let rows = env.index(rows, "rowCount")?;
    let codecs = codecs(env, packed)?;
    let cols = columns(env, &codecs, cols)?;
    env.double(validate_batch(rows, &cols)? as f64)
}

pub fn js_copy_encode_into(env: Env, info: napi_callback_info) -> JsResult<napi_value> {
    let [rows, packed, cols, out, offset] = env.args(info)?;
    let rows = env.index(rows, "rowCount")?;
    let codecs = codecs(env, packed)?;
    let cols = columns(env, &codecs, cols)?;
    let (out_ptr, out_len) = env.bytes_raw(out, "out")?;
    let offset = env.index(offset, "offset")?;
    if offset > out_len {
        return Err(CodecError::new(format!("copy binary: offset {offset} is outside the buffer (0..{out_len})"), offset).into());
    }
    // The output must not alias the batch's arrays: the encoder reads them while writing.
    let out_range = out_ptr as usize..out_ptr as usize + out_len;
    let overlaps = |s: &[u8]| !s.is_empty() && (s.as_ptr() as usize) < out_range.end && out_range.start < s.as_ptr() as usize + s.len();
    for col in &cols {
        let aliased = match col {
            ColumnView::Fixed { values, nulls, .. } => overlaps(values) || overlaps(nulls),
            ColumnView::Var { offsets, data, nulls } => {
                overlaps(data) || overlaps(nulls) || overlaps(unsafe { std::slice::from_raw_parts(offsets.as_ptr() as *const u8, offsets.len() * 4) })
            }
        };
        if aliased {
            return Err(arg_error("out: overlaps the batch being encoded".to_string()));
        }
    }
    let need = validate_batch(rows, &cols)?;
    let out = unsafe { std::slice::from_raw_parts_mut(out_ptr.add(offset), out_len - offset) };
    env.double(encode_into(rows, &cols, need, out, offset)? as f64)
}

pub fn js_deframe_copy_data(env: Env, info: napi_callback_info) -> JsResult<napi_value> {
    let [buf, offset, out, out_offset, res] = env.args(info)?;
    let (buf_ptr, buf_len) = env.bytes_raw(buf, "buf")?;
    let offset = env.index(offset, "offset")?;
    let (out_ptr, out_len) = env.bytes_raw(out, "out")?;
    let out_offset = env.index(out_offset, "outOffset")?;
    let res = scratch(env, res, 4)?;
    let r = unsafe { deframe_copy_data(buf_ptr, buf_len, offset, out_ptr, out_len, out_offset)? };
    res[0] = r.consumed as f64;
    res[1] = r.written as f64;
    res[2] = r.messages as f64;
    res[3] = if r.stop { 1.0 } else { 0.0 };
    env.undefined()
}

/// A count argument of the placeholder builders, checked as `native/ts/placeholders.ts` does.
fn count(env: Env, v: napi_value, what: &str, min: u64) -> JsResult<u64> {
    let x = env.f64(v, what)?;
    if !(x.fract() == 0.0 && x >= min as f64 && x <= 9007199254740991.0) {
        return Err(CodecError::new(format!("placeholders: {what} {x}, expected an integer >= {min}"), 0).into());
    }
    Ok(x as u64)
}

pub fn js_placeholders(env: Env, info: napi_callback_info) -> JsResult<napi_value> {
    let [rows, cols, first] = env.args(info)?;
    let rows = count(env, rows, "rows", 0)?;
    let cols = count(env, cols, "cols", 0)?;
    let first = count(env, first, "first", 1)?;
    let s = placeholders(rows, cols, first)?;
    env.latin1(&s)
}

pub fn js_insert_chunks(env: Env, info: napi_callback_info) -> JsResult<napi_value> {
    let [rows, cols, max_params] = env.args(info)?;
    let rows = count(env, rows, "rows", 0)?;
    let cols = count(env, cols, "cols", 0)?;
    let max_params = count(env, max_params, "maxParams", 1)?;
    let chunks = insert_chunks(rows, cols, max_params)?;
    // One buffer of f64 instead of one napi call per element; load.ts makes the array.
    let (ab, out) = env.buffer_uninit(chunks.len() * 8)?;
    for (k, n) in chunks.iter().enumerate() {
        out[k * 8..k * 8 + 8].copy_from_slice(&(*n as f64).to_ne_bytes());
    }
    Ok(ab)
}
