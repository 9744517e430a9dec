//! Argument extraction with errors that say what was expected.

use std::borrow::Cow;

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString};

pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}

/// A bytes-like argument: `bytes` is borrowed, `bytearray` and `memoryview` copied.
/// `str` is refused with a hint, since its encoding would be a guess.
pub fn bytes_like<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Cow::Borrowed(b.as_bytes()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Cow::Owned(b.to_vec()));
    }
    if obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be bytes, not str (encode it first, e.g. value.encode())"
        )));
    }
    if let Ok(buf) = PyBuffer::<u8>::get(obj) {
        return Ok(Cow::Owned(buf.to_vec(obj.py())?));
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be bytes, bytearray or memoryview, not {}",
        type_name(obj)
    )))
}

/// An optional context: `None` (empty), bytes-like, or `str` (UTF-8).
pub fn context<'a>(obj: Option<&'a Bound<'_, PyAny>>) -> PyResult<Cow<'a, [u8]>> {
    match obj {
        None => Ok(Cow::Borrowed(&[])),
        Some(o) if o.is_none() => Ok(Cow::Borrowed(&[])),
        Some(o) => {
            if let Ok(s) = o.cast::<PyString>() {
                return Ok(Cow::Owned(s.to_str()?.as_bytes().to_vec()));
            }
            bytes_like(o, "context").map_err(|_| {
                PyTypeError::new_err(format!(
                    "context must be bytes, str or None, not {}",
                    type_name(o)
                ))
            })
        }
    }
}

/// A message: bytes-like (binary or text form) or `str` (text form).
pub fn message<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Cow::Owned(s.to_str()?.as_bytes().to_vec()));
    }
    bytes_like(obj, "message").map_err(|_| {
        PyTypeError::new_err(format!(
            "message must be bytes or str, not {}",
            type_name(obj)
        ))
    })
}

/// Optional associated data for hazmat AEADs: `None` means empty.
pub fn optional_bytes<'a>(
    obj: Option<&'a Bound<'_, PyAny>>,
    what: &str,
) -> PyResult<Cow<'a, [u8]>> {
    match obj {
        None => Ok(Cow::Borrowed(&[])),
        Some(o) if o.is_none() => Ok(Cow::Borrowed(&[])),
        Some(o) => bytes_like(o, what),
    }
}
