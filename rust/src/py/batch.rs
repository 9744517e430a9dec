//! `Box.encrypt_batch`, `decrypt_batch`, `rotate_batch`: lists and Arrow-layout columns.

use pyo3::exceptions::{PyTypeError, PyValueError};
use std::ops::Range;

use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString, PyTuple};

use crate::core::batch::{
    chunks, Batch, ChunkOutput, Contexts, Items, OffsetColumn, RotateMode, Status,
};
use crate::core::{Encoding, Sealer};

use super::errors::DecryptionError;

/// One item of a list batch, borrowed from its Python object.
pub enum Item {
    Bytes(PyBackedBytes),
    Str(PyBackedStr),
}

impl AsRef<[u8]> for Item {
    fn as_ref(&self) -> &[u8] {
        match self {
            Item::Bytes(b) => b,
            Item::Str(s) => s.as_bytes(),
        }
    }
}

fn item(obj: &Bound<'_, PyAny>, allow_str: bool, what: &str, index: usize) -> PyResult<Item> {
    if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyByteArray>() {
        return Ok(Item::Bytes(obj.extract()?));
    }
    if allow_str {
        if let Ok(s) = obj.cast::<PyString>() {
            return Ok(Item::Str(s.to_owned().try_into()?));
        }
    }
    let expected = if allow_str { "bytes or str" } else { "bytes" };
    Err(PyTypeError::new_err(format!(
        "{what}[{index}] must be {expected}, not {}",
        obj.get_type().name()?
    )))
}

fn items(seq: &Bound<'_, PyAny>, allow_str: bool, what: &str) -> PyResult<Vec<Item>> {
    if seq.is_instance_of::<PyBytes>() || seq.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a sequence of values, not a single {}",
            seq.get_type().name()?
        )));
    }
    let mut out = Vec::with_capacity(seq.len().unwrap_or(0));
    if let Ok(list) = seq.cast::<PyList>() {
        for (i, obj) in list.iter().enumerate() {
            out.push(item(&obj, allow_str, what, i)?);
        }
    } else if let Ok(tuple) = seq.cast::<PyTuple>() {
        for (i, obj) in tuple.iter().enumerate() {
            out.push(item(&obj, allow_str, what, i)?);
        }
    } else {
        let iter = seq
            .try_iter()
            .map_err(|_| PyTypeError::new_err(format!("{what} must be a sequence of bytes")))?;
        for (i, obj) in iter.enumerate() {
            out.push(item(&obj?, allow_str, what, i)?);
        }
    }
    Ok(out)
}

/// Contexts: None, one bytes/str for all, or a sequence with one per item.
pub enum BatchContexts {
    None,
    One(Vec<u8>),
    Each(Vec<Item>),
}

impl BatchContexts {
    pub fn extract(obj: Option<&Bound<'_, PyAny>>, count: usize) -> PyResult<Self> {
        let Some(obj) = obj.filter(|o| !o.is_none()) else {
            return Ok(Self::None);
        };
        if let Ok(s) = obj.cast::<PyString>() {
            return Ok(Self::One(s.to_str()?.as_bytes().to_vec()));
        }
        if let Ok(b) = obj.cast::<PyBytes>() {
            return Ok(Self::One(b.as_bytes().to_vec()));
        }
        let each = items(obj, true, "contexts")?;
        if each.len() != count {
            return Err(PyValueError::new_err(format!(
                "contexts has {} items for {count} values: give one per value, one for all, or None",
                each.len()
            )));
        }
        Ok(Self::Each(each))
    }

    pub fn view(&self) -> Contexts<'_> {
        match self {
            Self::None => Contexts::None,
            Self::One(c) => Contexts::One(c),
            Self::Each(v) => Contexts::Each(v),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Encrypt,
    Decrypt,
    Rotate(RotateMode),
}

pub fn parse_errors(errors: &str) -> PyResult<bool> {
    match errors {
        "raise" => Ok(true),
        "return" => Ok(false),
        other => Err(PyValueError::new_err(format!(
            "errors must be 'raise' or 'return', not {other:?}"
        ))),
    }
}

pub fn parse_mode(mode: &str) -> PyResult<RotateMode> {
    match mode {
        "auto" => Ok(RotateMode::Auto),
        "reencrypt" => Ok(RotateMode::Reencrypt),
        other => Err(PyValueError::new_err(format!(
            "mode must be 'auto' or 'reencrypt', not {other:?}"
        ))),
    }
}

pub fn parse_threads(threads: Option<usize>) -> PyResult<Option<usize>> {
    match threads {
        Some(0) => Err(PyValueError::new_err(
            "threads must be at least 1 (or None for all cores)",
        )),
        t => Ok(t),
    }
}

fn failure(op: Op, index: usize) -> PyErr {
    match op {
        Op::Encrypt => {
            PyValueError::new_err(format!("item {index} could not be encrypted (too large)"))
        }
        _ => DecryptionError::new_err(format!("item {index} failed to decrypt")),
    }
}

/// Run `compute` over the chunks of a batch and hand each result, in order, to
/// `consume`. While this thread (holding the GIL) consumes chunk k, a scoped
/// thread already drives the workers through chunk k + 1. Ctrl-C is checked
/// between chunks; on any error nothing is returned (the chunk in flight is joined).
fn pipelined<'py, F, C>(
    py: Python<'py>,
    ranges: &[Range<usize>],
    compute: F,
    mut consume: C,
) -> PyResult<()>
where
    F: Fn(Range<usize>) -> crate::core::error::Result<ChunkOutput> + Sync,
    C: FnMut(Range<usize>, ChunkOutput) -> PyResult<()>,
{
    std::thread::scope(|scope| {
        let compute = &compute;
        let mut next = ranges
            .first()
            .cloned()
            .map(|r| scope.spawn(move || compute(r)));
        for (idx, range) in ranges.iter().enumerate() {
            py.check_signals()?;
            let Some(handle) = next.take() else { break };
            let out = py
                .detach(|| handle.join())
                .map_err(|_| PyValueError::new_err("a batch worker failed"))??;
            next = ranges
                .get(idx + 1)
                .cloned()
                .map(|r| scope.spawn(move || compute(r)));
            consume(range.clone(), out)?;
        }
        Ok(())
    })
}

fn compute<'a>(
    op: Op,
    batch: &'a Batch<'a>,
    items: &'a dyn Items,
    ctx: &'a Contexts<'a>,
) -> impl Fn(Range<usize>) -> crate::core::error::Result<ChunkOutput> + Sync + 'a {
    move |range| match op {
        Op::Encrypt => batch.seal(items, ctx, range),
        Op::Decrypt => batch.open(items, ctx, range),
        Op::Rotate(mode) => batch.rotate(items, ctx, mode, range),
    }
}

/// A batch over a Python sequence: returns a list (None for failed items with errors="return").
#[allow(clippy::too_many_arguments)]
pub fn list_batch<'py>(
    py: Python<'py>,
    sealer: &Sealer,
    encoding: Encoding,
    op: Op,
    values: &Bound<'py, PyAny>,
    contexts: Option<&Bound<'py, PyAny>>,
    raise: bool,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyList>> {
    let what = if op == Op::Encrypt {
        "values"
    } else {
        "messages"
    };
    let inputs = items(values, op != Op::Encrypt, what)?;
    let ctx = BatchContexts::extract(contexts, inputs.len())?;
    let ctx = ctx.view();
    // Plaintexts are always bytes; messages follow the Box's encoding.
    let out_encoding = if op == Op::Decrypt {
        Encoding::Binary
    } else {
        encoding
    };
    let batch = Batch {
        sealer,
        encoding: out_encoding,
        threads,
        nulls: None,
    };
    let mut results: Vec<Bound<'py, PyAny>> = Vec::with_capacity(inputs.len());
    let originals: Option<Vec<Bound<'py, PyAny>>> = match op {
        Op::Rotate(RotateMode::Auto) => Some(values.try_iter()?.collect::<PyResult<_>>()?),
        _ => None,
    };
    pipelined(
        py,
        &chunks(&inputs),
        compute(op, &batch, &inputs, &ctx),
        |range, out| {
            for (k, status) in out.status.iter().enumerate() {
                let obj = match status {
                    Status::Failed if raise => return Err(failure(op, range.start + k)),
                    Status::Failed | Status::Null => py.None().into_bound(py),
                    Status::Unchanged => {
                        match originals.as_ref().and_then(|o| o.get(range.start + k)) {
                            Some(orig) => orig.clone(),
                            None => PyBytes::new(py, out.item(k)).into_any(),
                        }
                    }
                    Status::Done => match out_encoding {
                        Encoding::Binary => PyBytes::new(py, out.item(k)).into_any(),
                        Encoding::Text => {
                            PyString::new(py, std::str::from_utf8(out.item(k)).unwrap_or_default())
                                .into_any()
                        }
                    },
                };
                results.push(obj);
            }
            Ok(())
        },
    )?;
    PyList::new(py, results)
}

/// A batch over an Arrow-layout column (`offsets` of n + 1 little-endian i32 or
/// i64, `data`, and an optional validity bitmap). Returns the output column as
/// `(offsets, data, validity or None, null_count)`.
#[allow(clippy::too_many_arguments)]
pub fn column_batch<'py>(
    py: Python<'py>,
    sealer: &Sealer,
    encoding: Encoding,
    op: Op,
    offsets: &[u8],
    data: &[u8],
    validity: Option<&[u8]>,
    large: bool,
    contexts: Option<&Bound<'py, PyAny>>,
    raise: bool,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyTuple>> {
    let width = if large { 8 } else { 4 };
    if offsets.len() % width != 0 {
        return Err(PyValueError::new_err("offsets buffer has a partial entry"));
    }
    let offs: Vec<i64> = offsets
        .chunks_exact(width)
        .map(|c| match c {
            [a, b, c, d] => i64::from(i32::from_le_bytes([*a, *b, *c, *d])),
            _ => {
                let mut x = [0u8; 8];
                x.copy_from_slice(c);
                i64::from_le_bytes(x)
            }
        })
        .collect();
    let column = OffsetColumn::new(&offs, data)?;
    let n = column.len();
    let ctx = BatchContexts::extract(contexts, n)?;
    let ctx = ctx.view();
    let out_encoding = if op == Op::Decrypt {
        Encoding::Binary
    } else {
        encoding
    };
    let input_nulls: Option<Vec<bool>> = validity.map(|v| {
        (0..n)
            .map(|i| v.get(i / 8).is_none_or(|b| b & (1 << (i % 8)) == 0))
            .collect()
    });
    let batch = Batch {
        sealer,
        encoding: out_encoding,
        threads,
        nulls: input_nulls.as_deref(),
    };
    let mut out_offsets: Vec<u8> = Vec::with_capacity((n + 1) * width);
    let mut out_data: Vec<u8> = Vec::new();
    let mut validity = vec![0u8; n.div_ceil(8)];
    let mut nulls = 0usize;
    let push_offset = |v: usize, buf: &mut Vec<u8>| -> PyResult<()> {
        if large {
            buf.extend_from_slice(&(v as i64).to_le_bytes());
        } else {
            let v = i32::try_from(v).map_err(|_| {
                PyValueError::new_err("output exceeds 2 GiB: use a large_binary array")
            })?;
            buf.extend_from_slice(&v.to_le_bytes());
        }
        Ok(())
    };
    push_offset(0, &mut out_offsets)?;
    pipelined(
        py,
        &chunks(&column),
        compute(op, &batch, &column, &ctx),
        |range, out| {
            out_data.reserve(out.data.len());
            for (k, status) in out.status.iter().enumerate() {
                let i = range.start + k;
                if *status == Status::Failed && raise {
                    return Err(failure(op, i));
                }
                if matches!(status, Status::Failed | Status::Null) {
                    nulls += 1;
                } else {
                    out_data.extend_from_slice(out.item(k));
                    if let Some(b) = validity.get_mut(i / 8) {
                        *b |= 1 << (i % 8);
                    }
                }
                push_offset(out_data.len(), &mut out_offsets)?;
            }
            Ok(())
        },
    )?;
    let validity = if nulls > 0 {
        Some(PyBytes::new(py, &validity))
    } else {
        None
    };
    PyTuple::new(
        py,
        [
            PyBytes::new(py, &out_offsets).into_any(),
            PyBytes::new(py, &out_data).into_any(),
            validity
                .map(|v| v.into_any())
                .unwrap_or_else(|| py.None().into_bound(py)),
            nulls.into_pyobject(py)?.into_any(),
        ],
    )
}
