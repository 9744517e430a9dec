//! The pure-Rust core of sealbox: primitives, keys, the message format and the
//! sealing logic. Nothing here depends on Python, so `cargo test`, benches and
//! fuzzers run without an interpreter.

// In layers (docs/architecture.md): error, rng -> format, primitives -> keys ->
// seal -> batch -> search -> compat, privacy; each imports only the layers before it.
pub mod batch;
pub mod compat;
pub mod error;
pub mod format;
pub mod keys;
pub mod primitives;
pub mod privacy;
pub mod rng;
pub mod seal;
pub mod search;

pub use error::Error;
pub use format::{Encoding, Message, Suite};
pub use keys::{Keyring, SecretKey, KEY_LEN};
pub use seal::Sealer;
