//! `Box.encrypt_batch`, `decrypt_batch`, `rotate_batch`: lists and Arrow-layout columns.

use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::exceptions::{PyTypeError, PyValueError};

use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString, PyTuple};
use zeroize::Zeroizing;

use crate::core::batch::{
    compact, first_chunk, resized, zeroed, Batch, ChunkOutput, Contexts, Items, Op, RotateMode,
    Status, CHUNK_BYTES,
};
use crate::core::{Encoding, Error as CoreError, Sealer};

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

/// Items per chunk of a list batch: smaller than the engine's default, so the
/// pipeline fills and drains quickly (the first chunk's items are borrowed, and
/// the last chunk's results turned into objects, while the workers wait).
const LIST_CHUNK_ITEMS: usize = 16_384;

/// Chunks of a list batch sent to the workers and not yet turned into objects.
const IN_FLIGHT: usize = 2;

/// Borrow the items of `values[start..]` up to a chunk's worth (item count or bytes).
fn next_chunk(
    values: &Bound<'_, PyTuple>,
    start: usize,
    allow_str: bool,
    what: &str,
) -> PyResult<Vec<Item>> {
    let n = values.len();
    let mut out = Vec::with_capacity(LIST_CHUNK_ITEMS.min(n.saturating_sub(start)));
    let mut bytes = 0usize;
    let mut i = start;
    while i < n && out.len() < LIST_CHUNK_ITEMS && bytes < CHUNK_BYTES {
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
/// The stages overlap: a driver thread has the workers fill the queued chunks
/// one after another (the GIL released), while this thread borrows the items
/// of the chunks it queues and turns the results that come back into Python
/// objects, keeping `IN_FLIGHT` chunks queued or in the workers' hands. Ctrl-C
/// is checked between chunks; on any error nothing is returned (chunks still
/// queued are handed back unprocessed, and the driver is joined first).
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
    };
    let (batch, ctx) = (&batch, &ctx);
    let compute = move |items: Vec<Item>, start: usize, reuse: Option<ChunkOutput>| {
        let window = Window {
            items: &items,
            start,
        };
        let out = batch.chunk(op, &window, ctx, start..start + items.len(), reuse);
        (items, start, out)
    };
    let mut results: Vec<Bound<'py, PyAny>> = Vec::with_capacity(n);
    // Set when the call fails: the chunks still queued are handed back
    // unprocessed (their items are released on this thread, with the GIL).
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| -> PyResult<()> {
        // One driver thread takes the chunks in order from a queue and hands
        // each to the workers; with a chunk always queued behind the one being
        // processed, the workers go on to the next chunk while this thread is
        // still making the objects of an earlier one.
        type Job = (Vec<Item>, usize, Option<ChunkOutput>);
        let (to_driver, inbox) = std::sync::mpsc::sync_channel::<Job>(IN_FLIGHT);
        let (to_caller, outbox) = std::sync::mpsc::channel();
        let mut outbox = Some(outbox);
        let stopped = &stop;
        let driver = scope.spawn(move || {
            for (items, start, reuse) in inbox {
                let done = if stopped.load(Ordering::Relaxed) {
                    (
                        items,
                        start,
                        Err(CoreError::Invalid("batch stopped".into())),
                    )
                } else {
                    compute(items, start, reuse)
                };
                if to_caller.send(done).is_err() {
                    break;
                }
            }
        });
        let worker_failed = || PyValueError::new_err("a batch worker failed");
        let run = (|| -> PyResult<()> {
            let mut next = 0usize;
            let mut in_flight = 0usize;
            let mut spare: Option<ChunkOutput> = None;
            // Queue the next chunk's items (borrowed with the GIL held); the
            // queue has room for every chunk in flight, so this never blocks.
            // An item of the wrong type stops the queueing but is reported
            // once the chunks before its own are done, so that with
            // errors="raise" a failure in those is reported first, wherever
            // chunks begin.
            let mut stopped_by: Option<PyErr> = None;
            let mut more = |next: &mut usize, reuse: Option<ChunkOutput>| -> bool {
                if *next >= n || stopped_by.is_some() {
                    return false;
                }
                let items = match next_chunk(&values, *next, allow_str, what) {
                    Ok(items) => items,
                    Err(e) => {
                        stopped_by = Some(e);
                        return false;
                    }
                };
                let at = *next;
                *next += items.len();
                if to_driver.send((items, at, reuse)).is_err() {
                    stopped_by = Some(worker_failed());
                    return false;
                }
                true
            };
            while in_flight < IN_FLIGHT && more(&mut next, None) {
                in_flight += 1;
            }
            while in_flight > 0 {
                // The receiver crosses into the GIL-free closure and back.
                let rx = outbox.take().ok_or_else(worker_failed)?;
                let (got, rx) = py.detach(move || (rx.recv(), rx));
                outbox = Some(rx);
                let (items, start, out) = got.map_err(|_| worker_failed())?;
                in_flight -= 1;
                let out = out?;
                py.check_signals()?;
                if more(&mut next, spare.take()) {
                    in_flight += 1;
                }
                for (k, status) in out.status.iter().enumerate() {
                    let obj = match status {
                        Status::Failed if raise => return Err(failure(op, start + k)),
                        Status::Failed | Status::Null => py.None().into_bound(py),
                        // The input object itself: rotation found nothing to do.
                        Status::Unchanged => match items.as_slice().get(k) {
                            Some(Item::Bytes(b)) => b.into_pyobject(py)?.into_any(),
                            Some(Item::Str(s)) => s.into_pyobject(py)?.into_any(),
                            None => PyBytes::new(py, out.item(k)).into_any(),
                        },
                        Status::Done => match out_encoding {
                            Encoding::Binary => PyBytes::new(py, out.item(k)).into_any(),
                            Encoding::Text => PyString::new(
                                py,
                                std::str::from_utf8(out.item(k)).unwrap_or_default(),
                            )
                            .into_any(),
                        },
                    };
                    results.push(obj);
                }
                spare = Some(out);
            }
            stopped_by.map_or(Ok(()), Err)
        })();
        // On success the queue is empty; on an error the driver hands the
        // chunks still queued back unprocessed. Either way it is joined
        // without the GIL, and what it sent back (which holds borrowed items)
        // is dropped here, with it.
        if run.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        drop(to_driver);
        let joined = py.detach(|| driver.join());
        drop(outbox);
        run?;
        joined.map_err(|_| worker_failed())
    })?;
    PyList::new(py, results)
}

/// Arrow's 32-bit offsets cannot address more than 2 GiB of output.
fn check_size(total: usize, large: bool) -> PyResult<()> {
    if !large && i32::try_from(total).is_err() {
        return Err(PyValueError::new_err(
            "output exceeds 2 GiB: use a large_binary array",
        ));
    }
    Ok(())
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
    op: Op,
    column: &dyn Items,
    input_nulls: Option<&[bool]>,
    large: bool,
    contexts: Option<&Bound<'py, PyAny>>,
    raise: bool,
    threads: Option<usize>,
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
    };
    // A rotation usually keeps every message's length: the input's lengths
    // are taken as the layout, and the items from the first one that does not
    // fit on are laid out by a first pass.
    let mut layout = py.detach(|| batch.start_layout(op, column, 0..n))?;
    check_size(layout.total(), large)?;
    let mut status: Vec<Status> = Vec::with_capacity(n);
    // Zeroed by the workers with the GIL released; wiped if the call ends
    // early, since it may hold plaintexts; and moved into a NumPy array
    // uncopied at the end.
    let mut data = Zeroizing::new(py.detach(|| zeroed(layout.total(), threads))?);
    while status.len() < n {
        py.check_signals()?;
        let start = status.len();
        let range = layout
            .offsets
            .get(start..)
            .map(first_chunk)
            .map(|r| start + r.start..start + r.end)
            .ok_or_else(|| PyValueError::new_err("batch offsets are inconsistent"))?;
        let bounds = (
            layout.offsets.get(range.start).copied(),
            layout.offsets.get(range.end).copied(),
        );
        let region = match bounds {
            (Some(a), Some(b)) => data.get_mut(a..b),
            _ => None,
        }
        .ok_or_else(|| PyValueError::new_err("batch offsets are inconsistent"))?;
        let part = py.detach(|| batch.fill(op, column, &ctx, &layout, range.clone(), region))?;
        let Some(part) = part else {
            // An item did not fit its guessed place: lay out the rest, and
            // fill this chunk again in a buffer of the right size.
            let rest = py.detach(|| batch.layout(op, column, range.start..n))?;
            layout.replace_from(rest)?;
            check_size(layout.total(), large)?;
            let kept = bounds.0.unwrap_or(0);
            data = py.detach(|| resized(data, kept, layout.total(), threads))?;
            continue;
        };
        if raise {
            if let Some(k) = part.iter().position(|s| *s == Status::Failed) {
                return Err(failure(op, range.start + k));
            }
        }
        status.extend_from_slice(&part);
    }
    if status.contains(&Status::Failed) {
        let used = compact(&mut data, &mut layout.offsets, &status);
        data.truncate(used);
    }
    let (validity, nulls) = super::arrow::validity(
        status
            .iter()
            .map(|s| matches!(s, Status::Failed | Status::Null)),
    );
    let out_offsets = super::arrow::offsets(layout.offsets.iter().copied(), large)?;
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
