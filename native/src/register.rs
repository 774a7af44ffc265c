//! Module registration. `napi_register_module_v1` is the Node-API entry point; node calls it once
//! per JS context (main thread and each worker thread) with that context's `exports`, so the
//! addon is context-aware as long as it keeps no global state, which it does not.
use crate::bind_copy::*;
use crate::bind_pgoutput::js_pgoutput_decode;
use crate::ffi::{napi_env, napi_value};
use crate::js::{register, Env, JsResult};
use crate::napi_export;

/// Version of the private argument and output layouts shared with `native/load.ts`
/// (`ADDON_ABI_VERSION` there): bump both together, so a stale build is refused, not misread.
const ABI_VERSION: f64 = 1.0;

napi_export!(copy_header_length_cb, js_copy_header_length);
napi_export!(copy_scan_cb, js_copy_scan);
napi_export!(copy_decode_cb, js_copy_decode);
napi_export!(copy_encoded_length_cb, js_copy_encoded_length);
napi_export!(copy_encode_into_cb, js_copy_encode_into);
napi_export!(deframe_copy_data_cb, js_deframe_copy_data);
napi_export!(placeholders_cb, js_placeholders);
napi_export!(insert_chunks_cb, js_insert_chunks);
napi_export!(pgoutput_decode_cb, js_pgoutput_decode);

fn register_all(env: Env, exports: napi_value) -> JsResult<()> {
    register(env, exports, b"copyHeaderLength\0", copy_header_length_cb)?;
    register(env, exports, b"copyScan\0", copy_scan_cb)?;
    register(env, exports, b"copyDecode\0", copy_decode_cb)?;
    register(env, exports, b"copyEncodedLength\0", copy_encoded_length_cb)?;
    register(env, exports, b"copyEncodeInto\0", copy_encode_into_cb)?;
    register(env, exports, b"deframeCopyData\0", deframe_copy_data_cb)?;
    register(env, exports, b"placeholders\0", placeholders_cb)?;
    register(env, exports, b"insertChunks\0", insert_chunks_cb)?;
    register(env, exports, b"pgoutputDecode\0", pgoutput_decode_cb)?;
    let version = env.utf8(env!("CARGO_PKG_VERSION"))?;
    env.set_named(exports, b"version\0", version)?;
    let abi = env.double(ABI_VERSION)?;
    env.set_named(exports, b"abiVersion\0", abi)?;
    Ok(())
}

/// # Safety
/// Called by node with a live environment and its `exports` object.
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: napi_env, exports: napi_value) -> napi_value {
    let e = Env(env);
    match std::panic::catch_unwind(|| register_all(e, exports)) {
        Ok(Ok(())) => exports,
        Ok(Err(err)) => {
            e.throw(err);
            std::ptr::null_mut()
        }
        Err(_) => std::ptr::null_mut(),
    }
}
