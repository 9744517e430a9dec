//! `sealbox.hazmat`: primitives with cryptography's call shapes. Nonces are the
//! caller's responsibility here; `Box` is the safe recipe.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use zeroize::Zeroizing;

use crate::core::primitives::{self, Argon2Variant};
use crate::core::primitives::{self as core_siv, LcAead, XChaCha, SIV_LEN, TAG_LEN};
use crate::core::{rng, Error};

use super::args;
use super::errors::refuse_pickle;

fn random_key(py: Python<'_>, len: usize) -> PyResult<Bound<'_, PyBytes>> {
    PyBytes::new_with(py, len, |out| Ok(rng::fill_secret(out)?))
}

fn sealed_len(len: usize, extra: usize) -> PyResult<usize> {
    len.checked_add(extra)
        .ok_or_else(|| PyValueError::new_err("data is too large"))
}

fn opened_len(len: usize, extra: usize) -> PyResult<usize> {
    Ok(len.checked_sub(extra).ok_or(Error::Decrypt)?)
}

/// Outputs from this size on are computed with the GIL released (as `Box` does).
const DETACH_THRESHOLD: usize = 16 * 1024;

/// The second half of every `encrypt_into` / `decrypt_into`, after the arguments and
/// the nonce are checked: `buf` must be exactly `len` bytes and share no memory with
/// `data` (as in cryptography); then `work` writes the output, which lands in `buf`.
/// Returns `len`, the number of bytes written. When the tag does not verify, `buf`
/// is left zeroed (as cryptography leaves it); any other failure leaves it as it was.
///
/// Writing into a Python buffer in place would take `unsafe` (forbidden here), and a
/// mutable buffer must not be touched with the GIL released. So `work` fills a Rust
/// scratch buffer, zeroized on drop, with the GIL released when the output is large,
/// and `PyBuffer::copy_from_slice` (safe) copies it into `buf` with the GIL held.
fn write_into<F>(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    buf: &PyBuffer<u8>,
    len: usize,
    work: F,
) -> PyResult<usize>
where
    F: FnOnce(&mut [u8]) -> Result<(), Error> + Send,
{
    if buf.len_bytes() != len {
        return Err(PyValueError::new_err(format!(
            "buffer must be {len} bytes, got {}",
            buf.len_bytes()
        )));
    }
    if args::shares_memory(data, buf) {
        return Err(PyValueError::new_err("data and buf must not overlap"));
    }
    let mut scratch = Zeroizing::new(vec![0u8; len]);
    let done = if len >= DETACH_THRESHOLD {
        py.detach(|| work(&mut scratch))
    } else {
        work(&mut scratch)
    };
    match done {
        Ok(()) => {
            buf.copy_from_slice(py, &scratch)?;
            Ok(len)
        }
        Err(Error::Decrypt) => {
            scratch.fill(0);
            buf.copy_from_slice(py, &scratch)?;
            Err(Error::Decrypt.into())
        }
        Err(err) => Err(err.into()),
    }
}

macro_rules! nonce_aead {
    ($name:ident, $pyname:literal, $inner:ty, $ctor:expr, $doc:literal, { $($extra:tt)* }) => {
        #[doc = $doc]
        #[pyclass(frozen, module = "sealbox._native", name = $pyname)]
        pub struct $name {
            inner: $inner,
        }

        #[pymethods]
        impl $name {
            #[new]
            fn new(key: &Bound<'_, PyAny>) -> PyResult<Self> {
                let key = args::bytes_like(key, "key")?;
                let ctor: fn(&[u8]) -> Result<$inner, Error> = $ctor;
                Ok(Self { inner: ctor(&key)? })
            }

            /// Return `ciphertext || tag`.
            #[pyo3(signature = (nonce, data, associated_data))]
            fn encrypt<'py>(
                &self,
                py: Python<'py>,
                nonce: &Bound<'py, PyAny>,
                data: &Bound<'py, PyAny>,
                associated_data: Option<&Bound<'py, PyAny>>,
            ) -> PyResult<Bound<'py, PyBytes>> {
                let nonce = args::bytes_like(nonce, "nonce")?;
                let data = args::bytes_like(data, "data")?;
                let aad = args::optional_bytes(associated_data, "associated_data")?;
                PyBytes::new_with(py, sealed_len(data.len(), TAG_LEN)?, |out| {
                    Ok(self.inner.seal_into(&nonce, &aad, &data, out)?)
                })
            }

            /// Verify and return the plaintext; raises DecryptionError on failure.
            #[pyo3(signature = (nonce, data, associated_data))]
            fn decrypt<'py>(
                &self,
                py: Python<'py>,
                nonce: &Bound<'py, PyAny>,
                data: &Bound<'py, PyAny>,
                associated_data: Option<&Bound<'py, PyAny>>,
            ) -> PyResult<Bound<'py, PyBytes>> {
                let nonce = args::bytes_like(nonce, "nonce")?;
                let data = args::bytes_like(data, "data")?;
                let aad = args::optional_bytes(associated_data, "associated_data")?;
                self.inner.check_nonce(&nonce)?;
                PyBytes::new_with(py, opened_len(data.len(), TAG_LEN)?, |out| {
                    Ok(self.inner.open_into(&nonce, &aad, &data, out)?)
                })
            }

            /// Write `ciphertext || tag` into `buf` (`len(data) + 16` bytes, not
            /// overlapping `data`); return the number of bytes written.
            #[pyo3(signature = (nonce, data, associated_data, buf))]
            fn encrypt_into<'py>(
                &self,
                py: Python<'py>,
                nonce: &Bound<'py, PyAny>,
                data: &Bound<'py, PyAny>,
                associated_data: Option<&Bound<'py, PyAny>>,
                buf: &Bound<'py, PyAny>,
            ) -> PyResult<usize> {
                let nonce = args::bytes_like(nonce, "nonce")?;
                let plaintext = args::bytes_like(data, "data")?;
                let aad = args::optional_bytes(associated_data, "associated_data")?;
                let target = args::writable_buffer(buf, "buf")?;
                self.inner.check_nonce(&nonce)?;
                let len = sealed_len(plaintext.len(), TAG_LEN)?;
                write_into(py, data, &target, len, |out| {
                    self.inner.seal_into(&nonce, &aad, &plaintext, out)
                })
            }

            /// Verify `data` and write the plaintext into `buf` (`len(data) - 16`
            /// bytes, not overlapping `data`); return the number of bytes written.
            /// Raises DecryptionError on failure; when the tag does not verify,
            /// `buf` is left zeroed.
            #[pyo3(signature = (nonce, data, associated_data, buf))]
            fn decrypt_into<'py>(
                &self,
                py: Python<'py>,
                nonce: &Bound<'py, PyAny>,
                data: &Bound<'py, PyAny>,
                associated_data: Option<&Bound<'py, PyAny>>,
                buf: &Bound<'py, PyAny>,
            ) -> PyResult<usize> {
                let nonce = args::bytes_like(nonce, "nonce")?;
                let ciphertext = args::bytes_like(data, "data")?;
                let aad = args::optional_bytes(associated_data, "associated_data")?;
                let target = args::writable_buffer(buf, "buf")?;
                self.inner.check_nonce(&nonce)?;
                let len = opened_len(ciphertext.len(), TAG_LEN)?;
                write_into(py, data, &target, len, |out| {
                    self.inner.open_into(&nonce, &aad, &ciphertext, out)
                })
            }

            fn __reduce__(&self) -> PyResult<()> {
                Err(refuse_pickle($pyname))
            }

            $($extra)*
        }
    };
}

nonce_aead!(
    AesGcm,
    "AESGCM",
    LcAead,
    LcAead::aes_gcm,
    "AES-GCM with a 16, 24 or 32-byte key and 12-byte nonces (aws-lc-rs).",
    {
        /// A random key of 128, 192 or 256 bits.
        #[staticmethod]
        fn generate_key(py: Python<'_>, bit_length: usize) -> PyResult<Bound<'_, PyBytes>> {
            if !matches!(bit_length, 128 | 192 | 256) {
                return Err(PyValueError::new_err("bit_length must be 128, 192 or 256"));
            }
            random_key(py, bit_length / 8)
        }
    }
);
nonce_aead!(
    ChaCha20Poly1305,
    "ChaCha20Poly1305",
    LcAead,
    LcAead::chacha20_poly1305,
    "ChaCha20-Poly1305 (RFC 8439) with a 32-byte key and 12-byte nonces (aws-lc-rs).",
    {
        #[staticmethod]
        fn generate_key(py: Python<'_>) -> PyResult<Bound<'_, PyBytes>> {
            random_key(py, 32)
        }
    }
);
nonce_aead!(
    XChaCha20Poly1305,
    "XChaCha20Poly1305",
    XChaCha,
    XChaCha::new,
    "XChaCha20-Poly1305 with a 32-byte key and 24-byte nonces (RustCrypto).",
    {
        #[staticmethod]
        fn generate_key(py: Python<'_>) -> PyResult<Bound<'_, PyBytes>> {
            random_key(py, 32)
        }
    }
);

/// AES-SIV (RFC 5297) with a 32, 48 or 64-byte key: deterministic, misuse-resistant.
#[pyclass(frozen, module = "sealbox._native", name = "AESSIV")]
pub struct AesSiv {
    inner: core_siv::AesSiv,
}

fn siv_headers<'a>(obj: Option<&'a Bound<'_, PyAny>>) -> PyResult<Vec<std::borrow::Cow<'a, [u8]>>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(Vec::new());
    };
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut out = Vec::new();
        for item in obj.try_iter()? {
            let item = item?;
            // Items must outlive this loop: copy (AD lists are short).
            out.push(std::borrow::Cow::Owned(
                args::bytes_like(&item, "associated_data items")?.into_owned(),
            ));
        }
        return Ok(out);
    }
    Err(PyTypeError::new_err(
        "associated_data must be a list of bytes or None",
    ))
}

#[pymethods]
impl AesSiv {
    #[new]
    fn new(key: &Bound<'_, PyAny>) -> PyResult<Self> {
        let key = args::bytes_like(key, "key")?;
        Ok(Self {
            inner: core_siv::AesSiv::new(&key)?,
        })
    }

    /// A random key of 256, 384 or 512 bits.
    #[staticmethod]
    fn generate_key(py: Python<'_>, bit_length: usize) -> PyResult<Bound<'_, PyBytes>> {
        if !matches!(bit_length, 256 | 384 | 512) {
            return Err(PyValueError::new_err("bit_length must be 256, 384 or 512"));
        }
        random_key(py, bit_length / 8)
    }

    /// Return `SIV || ciphertext`.
    #[pyo3(signature = (data, associated_data))]
    fn encrypt<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        associated_data: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let data = args::bytes_like(data, "data")?;
        let headers = siv_headers(associated_data)?;
        let refs: Vec<&[u8]> = headers.iter().map(|h| h.as_ref()).collect();
        PyBytes::new_with(py, sealed_len(data.len(), SIV_LEN)?, |out| {
            Ok(self.inner.encrypt_into(&refs, &data, out)?)
        })
    }

    #[pyo3(signature = (data, associated_data))]
    fn decrypt<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        associated_data: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let data = args::bytes_like(data, "data")?;
        let headers = siv_headers(associated_data)?;
        let refs: Vec<&[u8]> = headers.iter().map(|h| h.as_ref()).collect();
        PyBytes::new_with(py, opened_len(data.len(), SIV_LEN)?, |out| {
            Ok(self.inner.decrypt_into(&refs, &data, out)?)
        })
    }

    /// Write `SIV || ciphertext` into `buf` (`len(data) + 16` bytes, not overlapping
    /// `data`); return the number of bytes written.
    #[pyo3(signature = (data, associated_data, buf))]
    fn encrypt_into<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        associated_data: Option<&Bound<'py, PyAny>>,
        buf: &Bound<'py, PyAny>,
    ) -> PyResult<usize> {
        let plaintext = args::bytes_like(data, "data")?;
        let headers = siv_headers(associated_data)?;
        let target = args::writable_buffer(buf, "buf")?;
        let refs: Vec<&[u8]> = headers.iter().map(|h| h.as_ref()).collect();
        let len = sealed_len(plaintext.len(), SIV_LEN)?;
        write_into(py, data, &target, len, |out| {
            self.inner.encrypt_into(&refs, &plaintext, out)
        })
    }

    /// Verify `data` and write the plaintext into `buf` (`len(data) - 16` bytes, not
    /// overlapping `data`); return the number of bytes written. Raises
    /// DecryptionError on failure; when the tag does not verify, `buf` is left zeroed.
    #[pyo3(signature = (data, associated_data, buf))]
    fn decrypt_into<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        associated_data: Option<&Bound<'py, PyAny>>,
        buf: &Bound<'py, PyAny>,
    ) -> PyResult<usize> {
        let ciphertext = args::bytes_like(data, "data")?;
        let headers = siv_headers(associated_data)?;
        let target = args::writable_buffer(buf, "buf")?;
        let refs: Vec<&[u8]> = headers.iter().map(|h| h.as_ref()).collect();
        let len = opened_len(ciphertext.len(), SIV_LEN)?;
        write_into(py, data, &target, len, |out| {
            self.inner.decrypt_into(&refs, &ciphertext, out)
        })
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(refuse_pickle("AESSIV"))
    }
}

/// HMAC-SHA256 of `data` under `key`.
#[pyfunction]
pub fn hmac_sha256<'py>(
    py: Python<'py>,
    key: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let key = args::bytes_like(key, "key")?;
    let data = args::bytes_like(data, "data")?;
    Ok(PyBytes::new(py, &primitives::hmac_sha256(&key, &data)))
}

/// HKDF-SHA256 (RFC 5869); `salt=None` means no salt (HashLen zero bytes).
#[pyfunction]
#[pyo3(signature = (ikm, *, salt, info, length))]
pub fn hkdf_sha256<'py>(
    py: Python<'py>,
    ikm: &Bound<'py, PyAny>,
    salt: Option<&Bound<'py, PyAny>>,
    info: Option<&Bound<'py, PyAny>>,
    length: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let ikm = args::bytes_like(ikm, "ikm")?;
    let salt = args::optional_bytes(salt, "salt")?;
    let info = args::optional_bytes(info, "info")?;
    let okm = primitives::hkdf_sha256(&ikm, &salt, &info, length)?;
    Ok(PyBytes::new(py, &okm))
}

/// PBKDF2-HMAC-SHA256 (RFC 8018). Runs with the GIL released.
#[pyfunction]
pub fn pbkdf2_hmac_sha256<'py>(
    py: Python<'py>,
    password: &Bound<'py, PyAny>,
    salt: &Bound<'py, PyAny>,
    iterations: u32,
    length: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let password = args::bytes_like(password, "password")?;
    let salt = args::bytes_like(salt, "salt")?;
    let (p, s) = (password.as_ref(), salt.as_ref());
    let dk = py.detach(|| primitives::pbkdf2_hmac_sha256(p, s, iterations, length))?;
    Ok(PyBytes::new(py, &dk))
}

/// Argon2 (RFC 9106, version 0x13), `variant` "argon2id" or "argon2i": `t`
/// passes, `m` KiB, `p` lanes (`sealbox.hazmat.argon2id` and `argon2i`).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (variant, password, salt, *, t, m, p, length = 32, secret = None, associated_data = None))]
pub fn argon2<'py>(
    py: Python<'py>,
    variant: &str,
    password: &Bound<'py, PyAny>,
    salt: &Bound<'py, PyAny>,
    t: u32,
    m: u32,
    p: u32,
    length: usize,
    secret: Option<&Bound<'py, PyAny>>,
    associated_data: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let variant = match variant {
        "argon2id" => Argon2Variant::Argon2id,
        "argon2i" => Argon2Variant::Argon2i,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown Argon2 variant {other:?}: expected 'argon2id' or 'argon2i'"
            )))
        }
    };
    let password = args::bytes_like(password, "password")?;
    let salt = args::bytes_like(salt, "salt")?;
    let secret = args::optional_bytes(secret, "secret")?;
    let ad = args::optional_bytes(associated_data, "associated_data")?;
    let (pw, s, k, x) = (
        password.as_ref(),
        salt.as_ref(),
        secret.as_ref(),
        ad.as_ref(),
    );
    let out = py.detach(|| primitives::argon2(variant, pw, s, k, x, t, m, p, length))?;
    Ok(PyBytes::new(py, &out))
}

/// scrypt (RFC 7914) with cost `n` (a power of two), block size `r`, parallelism `p`.
#[pyfunction]
#[pyo3(signature = (password, salt, *, n, r, p, length = 32))]
pub fn scrypt<'py>(
    py: Python<'py>,
    password: &Bound<'py, PyAny>,
    salt: &Bound<'py, PyAny>,
    n: u64,
    r: u32,
    p: u32,
    length: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let log_n = primitives::scrypt_log_n(n)?;
    let password = args::bytes_like(password, "password")?;
    let salt = args::bytes_like(salt, "salt")?;
    let (pw, s) = (password.as_ref(), salt.as_ref());
    let out = py.detach(|| primitives::scrypt(pw, s, log_n, r, p, length))?;
    Ok(PyBytes::new(py, &out))
}
