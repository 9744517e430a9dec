//! Formats and keys shared with other libraries: Rails Active Record
//! Encryption, Lockbox, attr_encrypted and the blind_index gem.

pub mod attr_encrypted;
pub mod blind_index;
pub mod json;
pub mod lockbox;
pub mod msgpack;
pub mod rails;

pub use blind_index::gem_index_key;
