//! A thin, checked layer over the raw Node-API calls in `ffi.rs`: argument access, zero-copy views
//! of typed arrays, value creation, and throwing. Every exported function goes through `export!`,
//! which catches Rust panics (no unwinding may cross the FFI boundary) and turns both panics and
//! `JsError`s into JS exceptions with `code = 'codec'`.
use crate::error::CodecError;
use crate::ffi::*;
use std::os::raw::c_char;
use std::ptr::null_mut;

/// A failure inside a binding: either a codec error to throw, or a JS exception that is already
/// pending (a property getter threw), which must be left alone.
pub enum JsError {
    Codec(CodecError),
    Pending,
}

impl From<CodecError> for JsError {
    fn from(e: CodecError) -> JsError {
        JsError::Codec(e)
    }
}

pub type JsResult<T> = Result<T, JsError>;

/// An argument-shape error: the TS loader passed something the addon does not accept.
pub fn arg_error(message: String) -> JsError {
    JsError::Codec(CodecError::new(format!("native: {message}"), 0))
}

#[derive(Clone, Copy)]
pub struct Env(pub napi_env);

fn check(env: Env, status: napi_status, what: &str) -> JsResult<()> {
    if status == NAPI_OK {
        return Ok(());
    }
    let mut pending = false;
    unsafe { napi_is_exception_pending(env.0, &mut pending) };
    if pending || status == NAPI_PENDING_EXCEPTION {
        return Err(JsError::Pending);
    }
    Err(arg_error(format!("{what} failed with napi status {status}")))
}

/// A typed array's element type and its bytes, borrowed for the duration of one call.
struct TypedArrayInfo {
    kind: i32,
    length: usize,
    data: *mut u8,
}

impl Env {
    pub fn args<const N: usize>(self, info: napi_callback_info) -> JsResult<[napi_value; N]> {
        let mut argv: [napi_value; N] = [null_mut(); N];
        let mut argc = N;
        check(self, unsafe { napi_get_cb_info(self.0, info, &mut argc, argv.as_mut_ptr(), null_mut(), null_mut()) }, "napi_get_cb_info")?;
        if argc < N {
            return Err(arg_error(format!("expected {N} arguments, got {argc}")));
        }
        Ok(argv)
    }

    pub fn type_of(self, v: napi_value) -> JsResult<i32> {
        let mut t = 0;
        check(self, unsafe { napi_typeof(self.0, v, &mut t) }, "napi_typeof")?;
        Ok(t)
    }

    fn typed_array(self, v: napi_value, what: &str) -> JsResult<TypedArrayInfo> {
        let mut is = false;
        check(self, unsafe { napi_is_typedarray(self.0, v, &mut is) }, "napi_is_typedarray")?;
        if !is {
            return Err(arg_error(format!("{what}: expected a typed array")));
        }
        let mut kind = 0;
        let mut length = 0usize;
        let mut data: *mut std::os::raw::c_void = null_mut();
        let mut ab: napi_value = null_mut();
        let mut byte_offset = 0usize;
        check(
            self,
            unsafe { napi_get_typedarray_info(self.0, v, &mut kind, &mut length, &mut data, &mut ab, &mut byte_offset) },
            "napi_get_typedarray_info",
        )?;
        Ok(TypedArrayInfo { kind, length, data: data as *mut u8 })
    }

    fn typed_slice<T>(self, v: napi_value, kinds: &[i32], what: &str) -> JsResult<(*mut T, usize)> {
        let info = self.typed_array(v, what)?;
        if !kinds.contains(&info.kind) {
            return Err(arg_error(format!("{what}: unexpected typed array type {}", info.kind)));
        }
        if info.length == 0 || info.data.is_null() {
            // A zero-length view may have a null data pointer; slices need a dangling, aligned one.
            return Ok((std::ptr::NonNull::<T>::dangling().as_ptr(), 0));
        }
        if !(info.data as usize).is_multiple_of(std::mem::align_of::<T>()) {
            return Err(arg_error(format!("{what}: misaligned typed array")));
        }
        Ok((info.data as *mut T, info.length))
    }

    /// Bytes of a Uint8Array / Buffer, without copying. Valid until the call returns.
    pub fn bytes<'a>(self, v: napi_value, what: &str) -> JsResult<&'a [u8]> {
        let (p, n) = self.typed_slice::<u8>(v, &[NAPI_UINT8_ARRAY, NAPI_INT8_ARRAY, NAPI_UINT8_CLAMPED_ARRAY], what)?;
        Ok(unsafe { std::slice::from_raw_parts(p, n) })
    }

    /// Raw pointer and length of a Uint8Array, for outputs that may alias an input (memmove).
    pub fn bytes_raw(self, v: napi_value, what: &str) -> JsResult<(*mut u8, usize)> {
        self.typed_slice::<u8>(v, &[NAPI_UINT8_ARRAY, NAPI_INT8_ARRAY, NAPI_UINT8_CLAMPED_ARRAY], what)
    }

    pub fn i32s<'a>(self, v: napi_value, what: &str) -> JsResult<&'a [i32]> {
        let (p, n) = self.typed_slice::<i32>(v, &[NAPI_INT32_ARRAY], what)?;
        Ok(unsafe { std::slice::from_raw_parts(p, n) })
    }

    pub fn i64s<'a>(self, v: napi_value, what: &str) -> JsResult<&'a [i64]> {
        let (p, n) = self.typed_slice::<i64>(v, &[NAPI_BIGINT64_ARRAY, NAPI_BIGUINT64_ARRAY], what)?;
        Ok(unsafe { std::slice::from_raw_parts(p, n) })
    }

    /// A Float64Array the binding writes small results into (a per-thread scratch array owned by
    /// `load.ts`), which saves creating result objects in native code.
    pub fn f64s_mut<'a>(self, v: napi_value, what: &str) -> JsResult<&'a mut [f64]> {
        let (p, n) = self.typed_slice::<f64>(v, &[NAPI_FLOAT64_ARRAY], what)?;
        Ok(unsafe { std::slice::from_raw_parts_mut(p, n) })
    }

    pub fn f64(self, v: napi_value, what: &str) -> JsResult<f64> {
        if self.type_of(v)? != NAPI_NUMBER {
            return Err(arg_error(format!("{what}: expected a number")));
        }
        let mut x = 0f64;
        check(self, unsafe { napi_get_value_double(self.0, v, &mut x) }, "napi_get_value_double")?;
        Ok(x)
    }

    /// A non-negative integer argument that fits in usize (offsets, counts).
    pub fn index(self, v: napi_value, what: &str) -> JsResult<usize> {
        let x = self.f64(v, what)?;
        // NaN fails the range test too.
        if !(0.0..=9007199254740991.0).contains(&x) || x.fract() != 0.0 {
            return Err(arg_error(format!("{what}: expected a non-negative integer, got {x}")));
        }
        Ok(x as usize)
    }

    pub fn boolean(self, v: napi_value) -> JsResult<bool> {
        let mut b = false;
        check(self, unsafe { napi_get_value_bool(self.0, v, &mut b) }, "napi_get_value_bool")?;
        Ok(b)
    }

    pub fn element(self, arr: napi_value, i: u32) -> JsResult<napi_value> {
        let mut out = null_mut();
        check(self, unsafe { napi_get_element(self.0, arr, i, &mut out) }, "napi_get_element")?;
        Ok(out)
    }

    pub fn array_length(self, arr: napi_value) -> JsResult<u32> {
        let mut is = false;
        check(self, unsafe { napi_is_array(self.0, arr, &mut is) }, "napi_is_array")?;
        if !is {
            return Err(arg_error("expected an array".to_string()));
        }
        let mut n = 0u32;
        check(self, unsafe { napi_get_array_length(self.0, arr, &mut n) }, "napi_get_array_length")?;
        Ok(n)
    }

    pub fn undefined(self) -> JsResult<napi_value> {
        let mut out = null_mut();
        check(self, unsafe { napi_get_undefined(self.0, &mut out) }, "napi_get_undefined")?;
        Ok(out)
    }

    pub fn double(self, x: f64) -> JsResult<napi_value> {
        let mut out = null_mut();
        check(self, unsafe { napi_create_double(self.0, x, &mut out) }, "napi_create_double")?;
        Ok(out)
    }

    /// A JS string from ASCII / Latin-1 bytes (placeholders are pure ASCII: the fastest path).
    pub fn latin1(self, s: &[u8]) -> JsResult<napi_value> {
        let mut out = null_mut();
        check(self, unsafe { napi_create_string_latin1(self.0, s.as_ptr() as *const c_char, s.len(), &mut out) }, "napi_create_string_latin1")?;
        Ok(out)
    }

    pub fn utf8(self, s: &str) -> JsResult<napi_value> {
        let mut out = null_mut();
        check(self, unsafe { napi_create_string_utf8(self.0, s.as_ptr() as *const c_char, s.len(), &mut out) }, "napi_create_string_utf8")?;
        Ok(out)
    }

    /// A new node Buffer of `len` bytes that are NOT zero-filled (node allocates it without
    /// zeroing, unlike an ArrayBuffer): the caller must write every byte before returning it.
    /// Much cheaper than a zeroed allocation for large outputs.
    pub fn buffer_uninit<'a>(self, len: usize) -> JsResult<(napi_value, &'a mut [u8])> {
        let mut out = null_mut();
        let mut data: *mut std::os::raw::c_void = null_mut();
        check(self, unsafe { napi_create_buffer(self.0, len, &mut data, &mut out) }, "napi_create_buffer")?;
        if len == 0 || data.is_null() {
            return Ok((out, &mut []));
        }
        Ok((out, unsafe { std::slice::from_raw_parts_mut(data as *mut u8, len) }))
    }

    pub fn array(self, items: &[napi_value]) -> JsResult<napi_value> {
        let mut out = null_mut();
        check(self, unsafe { napi_create_array_with_length(self.0, items.len(), &mut out) }, "napi_create_array_with_length")?;
        for (i, v) in items.iter().enumerate() {
            check(self, unsafe { napi_set_element(self.0, out, i as u32, *v) }, "napi_set_element")?;
        }
        Ok(out)
    }

    pub fn set_named(self, obj: napi_value, name: &[u8], v: napi_value) -> JsResult<()> {
        debug_assert!(name.last() == Some(&0));
        check(self, unsafe { napi_set_named_property(self.0, obj, name.as_ptr() as *const c_char, v) }, "napi_set_named_property")
    }

    /// Throws `err` as a JS Error with `code = 'codec'` and a numeric `offset` property.
    pub fn throw(self, err: JsError) {
        let e = match err {
            JsError::Pending => return,
            JsError::Codec(e) => e,
        };
        let env = self.0;
        unsafe {
            let mut pending = false;
            napi_is_exception_pending(env, &mut pending);
            if pending {
                return;
            }
            let (Ok(code), Ok(msg)) = (self.utf8("codec"), self.utf8(&e.message)) else {
                napi_throw_error(env, c"codec".as_ptr(), c"native: could not create an error".as_ptr());
                return;
            };
            let mut error = null_mut();
            if napi_create_error(env, code, msg, &mut error) != NAPI_OK {
                napi_throw_error(env, c"codec".as_ptr(), c"native: could not create an error".as_ptr());
                return;
            }
            if let Ok(off) = self.double(e.offset as f64) {
                let _ = self.set_named(error, b"offset\0", off);
            }
            napi_throw(env, error);
        }
    }
}

/// Runs a binding body with panics caught: a panic becomes a JS exception (code 'codec') rather
/// than unwinding into node, which would be undefined behaviour.
pub fn run_guarded(env: napi_env, info: napi_callback_info, body: fn(Env, napi_callback_info) -> JsResult<napi_value>) -> napi_value {
    let e = Env(env);
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(e, info))) {
        Ok(Ok(v)) => v,
        Ok(Err(err)) => {
            e.throw(err);
            null_mut()
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            e.throw(JsError::Codec(CodecError::new(format!("native: internal error: {what}"), 0)));
            null_mut()
        }
    }
}

/// Declares an `extern "C"` N-API callback named `$name` that runs `$body` under `run_guarded`.
#[macro_export]
macro_rules! napi_export {
    ($name:ident, $body:path) => {
        unsafe extern "C" fn $name(env: $crate::ffi::napi_env, info: $crate::ffi::napi_callback_info) -> $crate::ffi::napi_value {
            $crate::js::run_guarded(env, info, $body)
        }
    };
}

/// Adds `f` to `exports` under `name` (a NUL-terminated byte string).
pub fn register(env: Env, exports: napi_value, name: &[u8], f: napi_callback) -> JsResult<()> {
    let mut func = null_mut();
    check(env, unsafe { napi_create_function(env.0, name.as_ptr() as *const c_char, name.len() - 1, f, null_mut(), &mut func) }, "napi_create_function")?;
    env.set_named(exports, name, func)
}
