//! rb's native codecs: a Node-API addon with no crate dependencies (see `ffi.rs`). The pure codec
//! modules know nothing about JS; the `bind_*` modules adapt them to the argument shapes that
//! `native/load.ts` passes. Every export runs under `js::run_guarded`: no panic crosses the FFI
//! boundary, malformed input becomes a JS Error with `code = 'codec'`.
pub mod batch;
pub mod copy_decode;
pub mod copy_encode;
pub mod copy_scan;
pub mod deframe;
pub mod error;
pub mod out_layout;
pub mod pgoutput;
pub mod pgoutput_events;
pub mod pgoutput_fill;
pub mod pgoutput_reader;
pub mod placeholders;
pub mod wire;

#[cfg(not(test))]
mod bind_copy;
#[cfg(not(test))]
mod bind_pgoutput;
#[cfg(not(test))]
mod ffi;
#[cfg(not(test))]
mod js;
#[cfg(not(test))]
mod register;

#[cfg(test)]
mod tests;
