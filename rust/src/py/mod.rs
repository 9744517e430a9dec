//! PyO3 bindings: argument conversion, GIL release and error mapping only.

mod args;
mod arrow;
mod batch;
mod blind;
mod compat;
mod envelope;
mod errors;
mod hazmat;
mod pipeline;
mod privacy;
mod public;
mod sealbox;
mod stream;

use pyo3::prelude::*;

/// The native half of sealbox. Every class is frozen and `Sync`, so the module
/// runs without the GIL on free-threaded Python.
#[pymodule(gil_used = false)]
mod _native {
    #[pymodule_export]
    use super::sealbox::{Keyring, Message, SealBox};

    #[pymodule_export]
    use super::sealbox::{generate_key, reseed_after_fork};

    #[pymodule_export]
    use super::envelope::{
        envelope_local_unwrap, envelope_local_wrap, envelope_open, envelope_open_batch,
        envelope_rewrap_batch, envelope_seal, envelope_seal_batch,
    };

    #[pymodule_export]
    use super::hazmat::{
        argon2, hkdf_sha256, hmac_sha256, pbkdf2_hmac_sha256, scrypt, AesGcm, AesSiv,
        ChaCha20Poly1305, XChaCha20Poly1305,
    };

    #[pymodule_export]
    use super::public::{hpke_seal, sealed_box_seal, x25519_check_public, X25519PrivateKey};

    #[pymodule_export]
    use super::stream::{
        stream_create_wrapped, stream_header, stream_header_len, stream_layout,
        stream_open_wrapped, stream_rewrap, StreamCipher,
    };

    #[pymodule_export]
    use super::blind::{gem_index_key, BlindIndex};

    #[pymodule_export]
    use super::compat::{
        aes256_cbc_decrypt, aes256_cbc_encrypt, lockbox_attribute_key, lockbox_pad, lockbox_unpad,
        LockboxBox, RailsEncryptor,
    };

    #[pymodule_export]
    use super::privacy::{IpHasher, Scrubber};
}
