//! The pure-Rust core of sealbox: primitives, keys, the message format and the
//! sealing logic. Nothing here depends on Python, so `cargo test`, benches and
//! fuzzers run without an interpreter.

pub mod batch;
pub mod blind;
pub mod envelope;
pub mod error;
pub mod keys;
pub mod message;
pub mod primitives;
pub mod rng;
pub mod seal;

pub use error::Error;
pub use keys::{Keyring, SecretKey, KEY_LEN};
pub use message::{Encoding, Message, Suite};
pub use seal::Sealer;
