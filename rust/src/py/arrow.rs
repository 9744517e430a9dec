//! Arrow binary and string columns handed over by pyarrow without a copy: the
//! offsets and data buffers arrive as read-only NumPy views of the array's own
//! buffers (`sealbox._arrow`), and the validity bitmap as bytes.

use numpy::PyReadonlyArray1;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::core::batch::{Items, OffsetColumn};

use super::args;

enum Offsets<'py> {
    Small(PyReadonlyArray1<'py, i32>),
    Large(PyReadonlyArray1<'py, i64>),
}

/// A borrowed Arrow column: `offsets` (n + 1 entries), `data`, and the nulls.
pub struct Column<'py> {
    offsets: Offsets<'py>,
    data: PyReadonlyArray1<'py, u8>,
    nulls: Option<Vec<bool>>,
}

impl<'py> Column<'py> {
    pub fn extract(
        offsets: &Bound<'py, PyAny>,
        data: &Bound<'py, PyAny>,
        validity: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Self> {
        let offsets = if let Ok(o) = offsets.extract::<PyReadonlyArray1<'py, i32>>() {
            Offsets::Small(o)
        } else if let Ok(o) = offsets.extract::<PyReadonlyArray1<'py, i64>>() {
            Offsets::Large(o)
        } else {
            return Err(PyTypeError::new_err(
                "offsets must be a one-dimensional int32 or int64 NumPy array",
            ));
        };
        let data = data.extract::<PyReadonlyArray1<'py, u8>>().map_err(|_| {
            PyTypeError::new_err("data must be a one-dimensional uint8 NumPy array")
        })?;
        let n = match &offsets {
            Offsets::Small(o) => o.len()?,
            Offsets::Large(o) => o.len()?,
        }
        .saturating_sub(1);
        let validity = args::optional_bytes(validity, "validity")?;
        let nulls = (!validity.is_empty()).then(|| {
            (0..n)
                .map(|i| validity.get(i / 8).is_none_or(|b| b & (1 << (i % 8)) == 0))
                .collect()
        });
        Ok(Self {
            offsets,
            data,
            nulls,
        })
    }

    /// Whether the offsets are 64-bit (`large_binary`, `large_string`).
    pub fn large(&self) -> bool {
        matches!(self.offsets, Offsets::Large(_))
    }

    /// Which items are null, by index, when any are.
    pub fn nulls(&self) -> Option<&[bool]> {
        self.nulls.as_deref()
    }

    /// Run `f` over the column's items (the offsets are checked first).
    pub fn with_items<R>(&self, f: impl FnOnce(&dyn Items) -> PyResult<R>) -> PyResult<R> {
        let contiguous = || PyValueError::new_err("Arrow buffers must be contiguous and aligned");
        let data = self.data.as_slice().map_err(|_| contiguous())?;
        match &self.offsets {
            Offsets::Small(o) => f(&OffsetColumn::new(
                o.as_slice().map_err(|_| contiguous())?,
                data,
            )?),
            Offsets::Large(o) => f(&OffsetColumn::new(
                o.as_slice().map_err(|_| contiguous())?,
                data,
            )?),
        }
    }
}

/// An Arrow validity bitmap (bit i set when item i is valid) and its null count.
pub fn validity(is_null: impl ExactSizeIterator<Item = bool>) -> (Vec<u8>, usize) {
    let mut bits = vec![0u8; is_null.len().div_ceil(8)];
    let mut nulls = 0usize;
    for (i, null) in is_null.enumerate() {
        if null {
            nulls += 1;
        } else if let Some(b) = bits.get_mut(i / 8) {
            *b |= 1 << (i % 8);
        }
    }
    (bits, nulls)
}

/// Arrow offsets as little-endian bytes: int64 for the large types, else int32
/// (ValueError when the data outgrows them).
pub fn offsets(offsets: impl ExactSizeIterator<Item = usize>, large: bool) -> PyResult<Vec<u8>> {
    let width = if large { 8 } else { 4 };
    let mut out = Vec::with_capacity(offsets.len() * width);
    for o in offsets {
        if large {
            out.extend_from_slice(&(o as i64).to_le_bytes());
        } else {
            let o = i32::try_from(o).map_err(|_| {
                PyValueError::new_err("output exceeds 2 GiB: use a large_binary array")
            })?;
            out.extend_from_slice(&o.to_le_bytes());
        }
    }
    Ok(out)
}
