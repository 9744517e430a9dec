//! Core errors to Python exceptions. The exception classes live in Python
//! (`sealbox._errors`) and are raised from here.

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::PyErr;

use crate::core::Error;

pyo3::import_exception!(sealbox._errors, DecryptionError);

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        match err {
            Error::Decrypt => DecryptionError::new_err("decryption failed"),
            Error::Random => PyOSError::new_err(err.to_string()),
            // OSError(errno, strerror, filename): FileNotFoundError, PermissionError...
            Error::Io {
                code: Some(code),
                message,
                path,
            } => PyOSError::new_err((code, message, path)),
            Error::Io { code: None, .. } => PyOSError::new_err(err.to_string()),
            Error::Internal(_) => PyRuntimeError::new_err(err.to_string()),
            Error::KeyLength { .. } | Error::NonceLength { .. } | Error::Invalid(_) => {
                PyValueError::new_err(err.to_string())
            }
        }
    }
}

/// The refusal of every class that holds key material to be pickled.
pub fn refuse_pickle(what: &str) -> PyErr {
    PyTypeError::new_err(format!(
        "cannot pickle '{what}' object: it holds key material"
    ))
}
