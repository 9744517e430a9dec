//! Argument extraction with errors that say what was expected.

use std::ops::{Deref, Range};

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyBufferError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString};
use zeroize::Zeroizing;

pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}

/// The bytes of an argument: borrowed from an immutable object (`bytes`, `str`),
/// or a copy of a mutable one (`bytearray`, `memoryview`), which may be a key or
/// a plaintext and is wiped when dropped.
pub enum ArgBytes<'a> {
    Borrowed(&'a [u8]),
    Copied(Zeroizing<Vec<u8>>),
}

impl ArgBytes<'_> {
    /// The bytes as a `Vec` of their own (the copy is moved out, not duplicated).
    pub fn into_owned(self) -> Vec<u8> {
        match self {
            ArgBytes::Borrowed(b) => b.to_vec(),
            ArgBytes::Copied(mut v) => std::mem::take(&mut *v),
        }
    }
}

impl Deref for ArgBytes<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            ArgBytes::Borrowed(b) => b,
            ArgBytes::Copied(v) => v,
        }
    }
}

impl AsRef<[u8]> for ArgBytes<'_> {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

/// A bytes-like argument: `bytes` is borrowed, `bytearray` and `memoryview` copied
/// (and the copy wiped when dropped). `str` is refused with a hint, since its
/// encoding would be a guess.
pub fn bytes_like<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<ArgBytes<'a>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(ArgBytes::Borrowed(b.as_bytes()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(ArgBytes::Copied(Zeroizing::new(b.to_vec())));
    }
    if obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be bytes, not str (encode it first, e.g. value.encode())"
        )));
    }
    if let Ok(buf) = PyBuffer::<u8>::get(obj) {
        return Ok(ArgBytes::Copied(Zeroizing::new(buf.to_vec(obj.py())?)));
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be bytes, bytearray or memoryview, not {}",
        type_name(obj)
    )))
}

/// An optional context: `None` (empty), bytes-like, or `str` (UTF-8).
pub fn context<'a>(obj: Option<&'a Bound<'_, PyAny>>) -> PyResult<ArgBytes<'a>> {
    match obj {
        None => Ok(ArgBytes::Borrowed(&[])),
        Some(o) if o.is_none() => Ok(ArgBytes::Borrowed(&[])),
        Some(o) => {
            if let Ok(s) = o.cast::<PyString>() {
                return Ok(ArgBytes::Copied(Zeroizing::new(
                    s.to_str()?.as_bytes().to_vec(),
                )));
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
pub fn message<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<ArgBytes<'a>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(ArgBytes::Copied(Zeroizing::new(
            s.to_str()?.as_bytes().to_vec(),
        )));
    }
    bytes_like(obj, "message").map_err(|_| {
        PyTypeError::new_err(format!(
            "message must be bytes or str, not {}",
            type_name(obj)
        ))
    })
}

/// Optional associated data for hazmat AEADs: `None` means empty.
pub fn optional_bytes<'a>(obj: Option<&'a Bound<'_, PyAny>>, what: &str) -> PyResult<ArgBytes<'a>> {
    match obj {
        None => Ok(ArgBytes::Borrowed(&[])),
        Some(o) if o.is_none() => Ok(ArgBytes::Borrowed(&[])),
        Some(o) => bytes_like(o, what),
    }
}

/// The target of a hazmat `*_into` method: a writable, C-contiguous byte buffer
/// (`bytearray`, a writable `memoryview`, ...). The bindings write it only through
/// `PyBuffer::copy_from_slice`, with the GIL held.
pub fn writable_buffer(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<PyBuffer<u8>> {
    let buf = PyBuffer::<u8>::get(obj).map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} must be a writable bytes-like object such as a bytearray, not {}",
            type_name(obj)
        ))
    })?;
    if buf.readonly() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be writable, and this {} is read-only",
            type_name(obj)
        )));
    }
    if !buf.is_c_contiguous() {
        return Err(PyBufferError::new_err(format!(
            "{what} must be C-contiguous"
        )));
    }
    Ok(buf)
}

/// Whether the bytes of `data` and of `buf` share memory. `buf` is C-contiguous
/// (`writable_buffer`); `data` may be strided, and then counts by its whole extent.
pub fn shares_memory(data: &Bound<'_, PyAny>, buf: &PyBuffer<u8>) -> bool {
    let start = buf.buf_ptr().addr();
    let out = start..start.saturating_add(buf.len_bytes());
    memory_range(data)
        .is_some_and(|d| !d.is_empty() && !out.is_empty() && d.start < out.end && out.start < d.end)
}

/// The addresses `obj`'s bytes occupy, or `None` when it lends no buffer or one
/// scattered through indirections (suboffsets), whose extent is unknown.
fn memory_range(obj: &Bound<'_, PyAny>) -> Option<Range<usize>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        let r = b.as_bytes().as_ptr_range();
        return Some(r.start.addr()..r.end.addr());
    }
    let buf = PyBuffer::<u8>::get(obj).ok()?;
    let base = buf.buf_ptr().addr();
    if buf.is_c_contiguous() {
        return Some(base..base.checked_add(buf.len_bytes())?);
    }
    if buf.suboffsets().is_some() {
        return None;
    }
    if buf.shape().contains(&0) {
        return Some(base..base);
    }
    // From the lowest to one past the highest byte any index reaches.
    let (mut low, mut high) = (0isize, 0isize);
    for (&n, &stride) in buf.shape().iter().zip(buf.strides()) {
        let reach = isize::try_from(n.saturating_sub(1))
            .ok()?
            .checked_mul(stride)?;
        if reach < 0 {
            low = low.checked_add(reach)?;
        } else {
            high = high.checked_add(reach)?;
        }
    }
    let start = base.checked_add_signed(low)?;
    let end = base
        .checked_add_signed(high)?
        .checked_add(buf.item_size())?;
    Some(start..end)
}
