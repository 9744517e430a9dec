//! sealbox: application-level encryption with a pure-Rust core and thin Python bindings.

pub mod core;

#[cfg(feature = "python")]
mod py;

/// The extension's own allocations (batch buffers, Arrow outputs) come from
/// mimalloc, which keeps freed memory for the next batch rather than returning
/// it to the kernel at once, and is built without transparent huge pages
/// (docs/backends.md). Python objects still come from Python's allocator.
#[cfg(feature = "python")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
