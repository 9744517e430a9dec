//! `Box.encrypt_batch`, `decrypt_batch`, `rotate_batch`: lists and Arrow-layout columns.

use pyo3::exceptions::{PyTypeError, PyValueError};

use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString, PyTuple};

use crate::core::batch::{
    Batch, ChunkOutput, ColumnJob, Contexts, Items, Op, RotateMode, Status, CHUNK_BYTES,
};
use crate::core::{Encoding, Sealer};

use super::errors::DecryptionError;
use super::pipeline::{self, CHUNK_ITEMS};

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
    // One type check and one new reference for the common case.
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        return Ok(Item::Bytes(bytes.clone().into()));
    }
    if obj.is_instance_of::<PyByteArray>() {
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

pub fn items(seq: &Bound<'_, PyAny>, allow_str: bool, what: &str) -> PyResult<Vec<Item>> {
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
        Op::Seal => {
            PyValueError::new_err(format!("item {index} could not be encrypted (too large)"))
        }
        _ => DecryptionError::new_err(format!("item {index} failed to decrypt")),
    }
}

/// The values of a list batch, fixed when the call starts: a list is copied
/// into a tuple (one reference per item), so that another thread changing it
/// while the GIL is released cannot change the batch; an iterable is drained.
fn snapshot<'py>(values: &Bound<'py, PyAny>, what: &str) -> PyResult<Bound<'py, PyTuple>> {
    if values.is_instance_of::<PyBytes>() || values.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a sequence of values, not a single {}",
            values.get_type().name()?
        )));
    }
    if let Ok(tuple) = values.cast::<PyTuple>() {
        return Ok(tuple.clone());
    }
    if let Ok(list) = values.cast::<PyList>() {
        return Ok(list.to_tuple());
    }
    let iter = values
        .try_iter()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a sequence of bytes")))?;
    let all = iter.collect::<PyResult<Vec<_>>>()?;
    PyTuple::new(values.py(), all)
}

/// The items of one chunk, addressed by their index in the whole batch.
struct Window<'a> {
    items: &'a [Item],
    start: usize,
}

impl Items for Window<'_> {
    fn len(&self) -> usize {
        self.start + self.items.len()
    }
    fn get(&self, i: usize) -> &[u8] {
        i.checked_sub(self.start)
            .and_then(|k| self.items.get(k))
            .map_or(&[], AsRef::as_ref)
    }
}

/// Borrow the items of `values[start..]` up to a chunk's worth (item count or bytes).
fn next_chunk(
    values: &Bound<'_, PyTuple>,
    start: usize,
    allow_str: bool,
    what: &str,
) -> PyResult<Vec<Item>> {
    let n = values.len();
    let mut out = Vec::with_capacity(CHUNK_ITEMS.min(n.saturating_sub(start)));
    let mut bytes = 0usize;
    let mut i = start;
    while i < n && out.len() < CHUNK_ITEMS && bytes < CHUNK_BYTES {
        let obj = values.get_borrowed_item(i)?;
        let it = item(&obj, allow_str, what, i)?;
        bytes += it.as_ref().len();
        out.push(it);
        i += 1;
    }
    Ok(out)
}

/// A batch over a Python sequence: returns a list (None for failed items with
/// errors="return").
///
/// It runs through [`pipeline::run`]: the workers fill one chunk while this
/// thread borrows the items of the next and makes the objects of the last.
#[allow(clippy::too_many_arguments)]
pub fn list_batch<'py>(
    py: Python<'py>,
    sealer: &Sealer,
    encoding: Encoding,
    strict: bool,
    op: Op,
    values: &Bound<'py, PyAny>,
    contexts: Option<&Bound<'py, PyAny>>,
    raise: bool,
    threads: Option<usize>,
    repeatable: bool,
) -> PyResult<Bound<'py, PyList>> {
    let what = if op == Op::Seal { "values" } else { "messages" };
    let allow_str = op != Op::Seal;
    let values = snapshot(values, what)?;
    let n = values.len();
    let ctx = BatchContexts::extract(contexts, n)?;
    let ctx = ctx.view();
    // Plaintexts are always bytes; messages follow the Box's encoding.
    let out_encoding = if op == Op::Open {
        Encoding::Binary
    } else {
        encoding
    };
    let batch = Batch {
        sealer,
        encoding: out_encoding,
        threads,
        nulls: None,
        accept: strict.then_some(encoding),
        repeatable,
    };
    let mut results: Vec<Bound<'py, PyAny>> = Vec::with_capacity(n);
    // A finished chunk's buffers are reused by the chunk queued after it.
    let spare: std::cell::Cell<Option<ChunkOutput>> = std::cell::Cell::new(None);
    let mut next = 0usize;
    pipeline::run(
        py,
        pipeline::IN_FLIGHT,
        || {
            if next >= n {
                return Ok(None);
            }
            let items = next_chunk(&values, next, allow_str, what)?;
            let at = next;
            next += items.len();
            Ok(Some((items, at, spare.take())))
        },
        |(items, start, reuse): (Vec<Item>, usize, Option<ChunkOutput>)| {
            let window = Window {
                items: &items,
                start,
            };
            let out = batch.chunk(op, &window, &ctx, start..start + items.len(), reuse);
            (items, start, out)
        },
        |(items, start, out)| {
            let out = out?;
            for (k, status) in out.status.iter().enumerate() {
                let obj = match status {
                    Status::Failed if raise => return Err(failure(op, start + k)),
                    Status::Failed | Status::Null => py.None().into_bound(py),
                    // The input object itself: rotation found nothing to do
                    // (a message given as bytes to a text Box, or as str to a
                    // binary one, is returned as the Box's type).
                    Status::Unchanged => match (items.as_slice().get(k), out_encoding) {
                        (Some(Item::Bytes(b)), Encoding::Binary) => b.into_pyobject(py)?.into_any(),
                        (Some(Item::Str(s)), Encoding::Text) => s.into_pyobject(py)?.into_any(),
                        _ => encoded_item(py, out.item(k), out_encoding),
                    },
                    Status::Done => encoded_item(py, out.item(k), out_encoding),
                };
                results.push(obj);
            }
            spare.set(Some(out));
            Ok(())
        },
    )?;
    PyList::new(py, results)
}

/// One output of a batch as the Box's type: bytes, or str for text (ASCII).
fn encoded_item<'py>(py: Python<'py>, item: &[u8], encoding: Encoding) -> Bound<'py, PyAny> {
    match encoding {
        Encoding::Binary => PyBytes::new(py, item).into_any(),
        Encoding::Text => {
            PyString::new(py, std::str::from_utf8(item).unwrap_or_default()).into_any()
        }
    }
}

/// A batch over an Arrow column. The output lengths are computed first (or,
/// for a rotation, taken from the input and checked as the items are
/// processed), then every item is written once, in parallel with the GIL
/// released, straight into the result's data buffer. Returns `(offsets, data,
/// validity or None, null_count)`, offsets and data as uint8 NumPy arrays that
/// own the buffers (failed items, with `errors="return"`, removed from `data`).
#[allow(clippy::too_many_arguments)]
pub fn column_batch<'py>(
    py: Python<'py>,
    sealer: &Sealer,
    encoding: Encoding,
    strict: bool,
    op: Op,
    column: &dyn Items,
    input_nulls: Option<&[bool]>,
    large: bool,
    contexts: Option<&Bound<'py, PyAny>>,
    raise: bool,
    threads: Option<usize>,
    repeatable: bool,
) -> PyResult<Bound<'py, PyTuple>> {
    let n = column.len();
    let ctx = BatchContexts::extract(contexts, n)?;
    let ctx = ctx.view();
    let out_encoding = if op == Op::Open {
        Encoding::Binary
    } else {
        encoding
    };
    let batch = Batch {
        sealer,
        encoding: out_encoding,
        threads,
        nulls: input_nulls,
        accept: strict.then_some(encoding),
        repeatable,
    };
    let max_total = if large { usize::MAX } else { i32::MAX as usize };
    let job = py.detach(|| ColumnJob::new(&batch, op, column, &ctx, raise, max_total))?;
    let job = pipeline::steps(py, job, |job| Ok(job.step()?))?;
    if let Some(index) = job.failed_at() {
        return Err(failure(op, index));
    }
    let (offsets, mut data, status) = job.finish();
    let (validity, nulls) = super::arrow::validity(
        status
            .iter()
            .map(|s| matches!(s, Status::Failed | Status::Null)),
    );
    let out_offsets = super::arrow::offsets(offsets.iter().copied(), large)?;
    let validity = if nulls > 0 {
        PyBytes::new(py, &validity).into_any()
    } else {
        py.None().into_bound(py)
    };
    PyTuple::new(
        py,
        [
            out_offsets.into_pyarray(py).into_any(),
            std::mem::take(&mut *data).into_pyarray(py).into_any(),
            validity,
            nulls.into_pyobject(py)?.into_any(),
        ],
    )
}
