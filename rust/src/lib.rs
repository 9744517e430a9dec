//! sealbox: application-level encryption with a pure-Rust core and thin Python bindings.

pub mod core;

#[cfg(feature = "python")]
mod py;
