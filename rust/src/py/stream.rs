//! The segmented file format: a file's segment cipher and its header, for
//! `sealbox._files` (which reads and writes the file objects).

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use crate::core::batch::stream as runs;
use crate::core::batch::stream_file::{Direction, FileJob};
use crate::core::format::stream::{self as wire, StreamHeader};
use crate::core::seal::stream::SegmentKey;
use crate::core::Keyring as CoreKeyring;

use super::args;
use super::errors::refuse_pickle;
use super::pipeline;

/// Runs at least this large are sealed and opened with the GIL released.
const DETACH_THRESHOLD: usize = 16 * 1024;

/// The segment cipher of one file (its key and context). Holds key material.
#[pyclass(frozen, module = "sealbox._native", name = "StreamCipher")]
pub struct StreamCipher {
    key: SegmentKey,
}

pub(crate) fn pair<'py>(
    py: Python<'py>,
    header: &[u8],
    key: SegmentKey,
) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(
        py,
        [
            PyBytes::new(py, header).into_any(),
            Bound::new(py, StreamCipher { key })?.into_any(),
        ],
    )
}

/// A new direct-mode file under the ring's active key: `(header, cipher)`.
pub(crate) fn create_direct<'py>(
    py: Python<'py>,
    ring: &CoreKeyring,
    segment_size: usize,
    context: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let log = wire::segment_log(segment_size)?;
    let ctx = args::context(context)?;
    let (header, key) = SegmentKey::create_direct(ring.active(), log, &ctx)?;
    pair(py, &header, key)
}

/// The cipher of a direct-mode file, by the key its header names.
pub(crate) fn open_direct(
    ring: &CoreKeyring,
    header: &[u8],
    context: Option<&Bound<'_, PyAny>>,
) -> PyResult<StreamCipher> {
    let ctx = args::context(context)?;
    let parsed = StreamHeader::parse(header)?;
    Ok(StreamCipher {
        key: SegmentKey::open_direct(ring, &parsed, &ctx)?,
    })
}

#[pymethods]
impl StreamCipher {
    #[getter]
    fn segment_size(&self) -> usize {
        self.key.segment_size()
    }

    /// Seal the segments from `index` on; `last`: the run ends the file.
    fn seal<'py>(
        &self,
        py: Python<'py>,
        index: u64,
        data: &Bound<'py, PyAny>,
        last: bool,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let data = args::bytes_like(data, "data")?;
        let key = &self.key;
        let len = runs::sealed_len(key, data.len(), last)?;
        let data = data.as_ref();
        PyBytes::new_with(py, len, |out| {
            Ok(pipeline::one(py, len >= DETACH_THRESHOLD, || {
                runs::seal_run(key, index, data, last, out)
            })?)
        })
    }

    /// Open the sealed segments from `index` on; `last`: the run ends the file.
    fn open<'py>(
        &self,
        py: Python<'py>,
        index: u64,
        data: &Bound<'py, PyAny>,
        last: bool,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let data = args::bytes_like(data, "data")?;
        let key = &self.key;
        let len = runs::opened_len(key, data.len(), last)?;
        let data = data.as_ref();
        PyBytes::new_with(py, len, |out| {
            Ok(pipeline::one(py, len >= DETACH_THRESHOLD, || {
                runs::open_run(key, index, data, last, out)
            })?)
        })
    }

    /// Seal (`seal`) or open the file at `src` into `dst`, `per_run` segments at
    /// a time, with the GIL released. `header` is the one this cipher was made
    /// (or opened) with. A `dst` written by a call that fails is removed.
    fn process_file(
        &self,
        py: Python<'_>,
        src: PathBuf,
        dst: PathBuf,
        header: &[u8],
        per_run: usize,
        seal: bool,
    ) -> PyResult<()> {
        let direction = if seal {
            Direction::Seal
        } else {
            Direction::Open
        };
        let key = &self.key;
        let job = py.detach(|| FileJob::new(key, direction, header, &src, &dst, per_run))?;
        run_file(py, job)
    }

    fn __repr__(&self) -> String {
        format!("StreamCipher(segment_size={})", self.key.segment_size())
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(refuse_pickle("StreamCipher"))
    }
}

/// A file job stepped with the GIL released, Ctrl-C checked between steps. A
/// job that stops is dropped with the GIL released too (`pipeline::steps` would
/// drop it holding the GIL): dropping it waits for its writer, whose output may
/// be a pipe that a Python thread reads.
fn run_file(py: Python<'_>, mut job: FileJob<'_>) -> PyResult<()> {
    let stepped = loop {
        match py.detach(|| job.step()) {
            Ok(true) => {
                if let Err(e) = py.check_signals() {
                    break Err(e);
                }
            }
            Ok(false) => break Ok(()),
            Err(e) => break Err(PyErr::from(e)),
        }
    };
    match stepped {
        Ok(()) => Ok(py.detach(|| job.finish())?),
        Err(e) => {
            py.detach(move || drop(job));
            Err(e)
        }
    }
}

/// The length of a stream header from its first 10 bytes (DecryptionError if
/// they do not start one).
#[pyfunction]
pub fn stream_header_len(prefix: &[u8]) -> PyResult<usize> {
    Ok(wire::header_len(prefix)?)
}

/// A stream header's fields: `(key_id, mode, segment_size, wrapped)`; mode is
/// "direct" or "wrapped".
#[pyfunction]
pub fn stream_header<'py>(py: Python<'py>, header: &[u8]) -> PyResult<Bound<'py, PyTuple>> {
    let h = StreamHeader::parse(header)?;
    let mode = if h.mode == wire::MODE_DIRECT {
        "direct"
    } else {
        "wrapped"
    };
    PyTuple::new(
        py,
        [
            h.key_id.into_pyobject(py)?.into_any(),
            mode.into_pyobject(py)?.into_any(),
            h.segment_size().into_pyobject(py)?.into_any(),
            PyBytes::new(py, h.wrapped).into_any(),
        ],
    )
}

/// `(segments, plaintext_length)` of a body of `body_len` bytes (DecryptionError
/// for a length no writer produces).
#[pyfunction]
pub fn stream_layout(body_len: u64, segment_size: usize) -> PyResult<(u64, u64)> {
    let l = wire::layout(body_len, wire::segment_log(segment_size)?)?;
    Ok((l.segments, l.plaintext_len))
}

/// A new wrapped-mode file: `(header, cipher)` for a data key the caller
/// wrapped as `wrapped` under `kek_id`.
#[pyfunction]
#[pyo3(signature = (data_key, kek_id, wrapped, segment_size, context = None))]
pub fn stream_create_wrapped<'py>(
    py: Python<'py>,
    data_key: &Bound<'py, PyAny>,
    kek_id: u32,
    wrapped: &[u8],
    segment_size: usize,
    context: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let dk = args::bytes_like(data_key, "data key")?;
    let ctx = args::context(context)?;
    let log = wire::segment_log(segment_size)?;
    let (header, key) = SegmentKey::create_wrapped(&dk, kek_id, wrapped, log, &ctx)?;
    pair(py, &header, key)
}

/// The cipher of a wrapped-mode file, with its unwrapped data key.
#[pyfunction]
#[pyo3(signature = (header, data_key, context = None))]
pub fn stream_open_wrapped(
    header: &[u8],
    data_key: &Bound<'_, PyAny>,
    context: Option<&Bound<'_, PyAny>>,
) -> PyResult<StreamCipher> {
    let dk = args::bytes_like(data_key, "data key")?;
    let ctx = args::context(context)?;
    let parsed = StreamHeader::parse(header)?;
    Ok(StreamCipher {
        key: SegmentKey::open_wrapped(&dk, &parsed, &ctx)?,
    })
}

/// A wrapped-mode header with another KEK id and wrapped data key (segments unchanged).
#[pyfunction]
pub fn stream_rewrap<'py>(
    py: Python<'py>,
    header: &[u8],
    kek_id: u32,
    wrapped: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let parsed = StreamHeader::parse(header)?;
    Ok(PyBytes::new(py, &wire::rewrap(&parsed, kek_id, wrapped)?))
}
