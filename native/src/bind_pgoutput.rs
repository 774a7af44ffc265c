//! JS binding of the pgoutput parser. Private shape, adapted by `native/load-pgoutput.ts`:
//!
//!   pgoutputDecode(buf, offsets: Int32Array, lsns: BigInt64Array, inStream: boolean,
//!                  scratch: Float64Array(6)) -> Buffer | [Buffer, errorMessage]
//!   scratch = tapeSlots, events, sets, inStream (after the batch), failed, errorOffset
//!
//! On a malformed message the result is the pair: the buffer then holds only the tape of the
//! events parsed before the error, whose state effects (relation cache, stream state) the caller
//! applies before throwing, exactly as the TypeScript parser leaves its state.
use crate::error::CodecError;
use crate::ffi::{napi_callback_info, napi_value, NAPI_BOOLEAN};
use crate::js::{arg_error, Env, JsResult};
use crate::pgoutput::parse;
use crate::pgoutput_fill::{fill, layout};

pub fn js_pgoutput_decode(env: Env, info: napi_callback_info) -> JsResult<napi_value> {
    let [buf, offsets, lsns, in_stream, scratch] = env.args(info)?;
    let buf = env.bytes(buf, "buf")?;
    let offsets = env.i32s(offsets, "offsets")?;
    let lsns = env.i64s(lsns, "lsns")?;
    if env.type_of(in_stream)? != NAPI_BOOLEAN {
        return Err(arg_error("inStream: expected a boolean".to_string()));
    }
    let in_stream = env.boolean(in_stream)?;
    let res = env.f64s_mut(scratch, "scratch")?;
    if res.len() < 6 {
        return Err(arg_error("scratch: need 6 entries".to_string()));
    }

    if offsets.is_empty() {
        return Err(CodecError::new("pgoutput: offsets is empty, expected n + 1 entries", 0).into());
    }
    let n = offsets.len() - 1;
    if lsns.len() < n {
        return Err(CodecError::new(format!("pgoutput: {} lsns for {n} messages", lsns.len()), 0).into());
    }
    for i in 0..n {
        let (a, b) = (offsets[i], offsets[i + 1]);
        if a < 0 || b <= a || b as usize > buf.len() {
            return Err(CodecError::new(
                format!("pgoutput: message {i} has range [{a}, {b}), expected a non-empty range inside {} bytes", buf.len()),
                a.max(0) as usize,
            )
            .into());
        }
    }

    let (parsed, error) = parse(buf, offsets, in_stream);
    let planned = match error {
        Some(e) => Err(e),
        None => layout(&parsed),
    };
    res[0] = parsed.tape.len() as f64;
    res[1] = parsed.events as f64;
    res[3] = if parsed.in_stream { 1.0 } else { 0.0 };
    match planned {
        Ok(mut lay) => {
            let (ab, out) = env.buffer_uninit(lay.total)?;
            fill(buf, offsets, lsns, &parsed, &mut lay, out);
            res[2] = parsed.plans.len() as f64;
            res[4] = 0.0;
            res[5] = 0.0;
            Ok(ab)
        }
        Err(e) => {
            let (ab, out) = env.buffer_uninit(parsed.tape.len() * 8)?;
            for (k, v) in parsed.tape.iter().enumerate() {
                out[k * 8..k * 8 + 8].copy_from_slice(&v.to_ne_bytes());
            }
            res[2] = 0.0;
            res[4] = 1.0;
            res[5] = e.offset as f64;
            let msg = env.utf8(&e.message)?;
            env.array(&[ab, msg])
        }
    }
}
