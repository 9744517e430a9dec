//! X25519 key pairs and HPKE (RFC 9180) for `sealbox.PrivateKey` / `PublicKey`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use zeroize::Zeroizing;

use crate::core::primitives::hpke::{self, ENC_LEN, KEY_LEN};
use crate::core::primitives::sealed_box;
use crate::core::primitives::TAG_LEN;
use crate::core::Error;

use super::args;
use super::errors::refuse_pickle;

/// An X25519 private key, zeroized when dropped; opens HPKE messages.
#[pyclass(frozen, module = "sealbox._native", name = "X25519PrivateKey")]
pub struct X25519PrivateKey {
    key: Zeroizing<[u8; KEY_LEN]>,
    public: [u8; ENC_LEN],
}

#[pymethods]
impl X25519PrivateKey {
    #[new]
    fn new(key: &Bound<'_, PyAny>) -> PyResult<Self> {
        let bytes = args::bytes_like(key, "a private key")?;
        let mut own = Zeroizing::new([0u8; KEY_LEN]);
        if bytes.len() != KEY_LEN {
            return Err(Error::KeyLength {
                expected: "32 bytes",
                got: bytes.len(),
            }
            .into());
        }
        own.copy_from_slice(&bytes);
        let public = hpke::public_key(own.as_ref())?;
        Ok(Self { key: own, public })
    }

    #[staticmethod]
    fn generate() -> PyResult<Self> {
        let (key, public) = hpke::generate()?;
        Ok(Self { key, public })
    }

    fn public_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.public)
    }

    fn private_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.key.as_ref())
    }

    /// HPKE single-shot `Open` of `enc || ciphertext || tag` (AES-256-GCM).
    fn open<'py>(
        &self,
        py: Python<'py>,
        info: &[u8],
        aad: &[u8],
        sealed: &[u8],
    ) -> PyResult<Bound<'py, PyBytes>> {
        let out = hpke::open_base(self.key.as_ref(), info, aad, sealed)?;
        Ok(PyBytes::new(py, &out))
    }

    /// libsodium's `crypto_box_seal_open`.
    fn unseal<'py>(&self, py: Python<'py>, sealed: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let out = sealed_box::open(self.key.as_ref(), sealed)?;
        Ok(PyBytes::new(py, &out))
    }

    fn __repr__(&self) -> &'static str {
        "X25519PrivateKey(...)"
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(refuse_pickle("X25519PrivateKey"))
    }
}

/// HPKE single-shot `Seal` to `public` (AES-256-GCM): `enc || ciphertext || tag`.
#[pyfunction]
pub fn hpke_seal<'py>(
    py: Python<'py>,
    public: &[u8],
    info: &[u8],
    aad: &[u8],
    data: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let data = args::bytes_like(data, "data")?;
    let len = data
        .len()
        .checked_add(ENC_LEN + TAG_LEN)
        .ok_or_else(|| PyValueError::new_err("data is too large"))?;
    PyBytes::new_with(py, len, |out| {
        Ok(hpke::seal_base(public, info, aad, &data, out)?)
    })
}

/// Fail (ValueError) unless `public` is an X25519 public key of large order.
#[pyfunction]
pub fn x25519_check_public(public: &[u8]) -> PyResult<()> {
    if public.len() != ENC_LEN {
        return Err(PyValueError::new_err(format!(
            "an X25519 public key is 32 bytes, not {}",
            public.len()
        )));
    }
    // A point of small order gives an all-zero secret with every (clamped) scalar.
    hpke::x25519(&[0x55u8; KEY_LEN], public).map_err(|_| {
        PyValueError::new_err("not a usable X25519 public key (a point of small order)")
    })?;
    Ok(())
}

/// libsodium's `crypto_box_seal` to `public`.
#[pyfunction]
pub fn sealed_box_seal<'py>(
    py: Python<'py>,
    public: &[u8],
    message: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let message = args::bytes_like(message, "message")?;
    Ok(PyBytes::new(py, &sealed_box::seal(public, &message)?))
}
