//! `Scrubber`: argument conversion and GIL release around `core::privacy`.

use std::borrow::Cow;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use crate::core::privacy::{
    IpAnonymizer, IpHasher as CoreIpHasher, IpPseudonyms, ScrubOptions, Scrubber as CoreScrubber,
};

use super::blind::BlindIndex;
use super::errors::refuse_pickle;
use super::sealbox::key_from_object;

// Texts longer than this are scrubbed with the GIL released (line by line).
use crate::core::privacy::LINES_FROM as LONG_TEXT;

/// Compiled PII filters. Immutable; with an index, values become its tokens.
#[pyclass(frozen, module = "sealbox._native", name = "Scrubber")]
pub struct Scrubber {
    inner: CoreScrubber,
    replacement: String,
    index: Option<Py<BlindIndex>>,
}

impl Scrubber {
    fn run<'py>(
        &self,
        py: Python<'py>,
        text: &Bound<'py, PyString>,
    ) -> PyResult<Bound<'py, PyString>> {
        let index = self.index.as_ref().map(|i| i.get().indexer());
        let s = text.to_str()?;
        let out = if s.len() > LONG_TEXT {
            let owned: PyBackedStr = text.clone().try_into()?;
            py.detach(|| {
                self.inner
                    .scrub_text(&owned, &self.replacement, index)
                    .map(|c| match c {
                        Cow::Borrowed(_) => None,
                        Cow::Owned(o) => Some(o),
                    })
            })?
        } else {
            match self.inner.scrub(s, &self.replacement, index)? {
                Cow::Borrowed(_) => None,
                Cow::Owned(o) => Some(o),
            }
        };
        Ok(match out {
            // Nothing found: the same object back, no copy.
            None => text.clone(),
            Some(o) => PyString::new(py, &o),
        })
    }
}

#[pymethods]
impl Scrubber {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (*, url_password = true, email = true, credit_card = true, phone = true,
        ssn = true, ip = false, mac = false, patterns = Vec::new(), replacement = "[FILTERED]".to_owned(),
        index = None))]
    fn new(
        url_password: bool,
        email: bool,
        credit_card: bool,
        phone: bool,
        ssn: bool,
        ip: bool,
        mac: bool,
        patterns: Vec<String>,
        replacement: String,
        index: Option<Bound<'_, BlindIndex>>,
    ) -> PyResult<Self> {
        if let Some(ix) = &index {
            if ix.get().prepares_in_python() {
                return Err(PyTypeError::new_err(
                    "a scrubber's index cannot have normalizers or compound fields",
                ));
            }
        }
        let options = ScrubOptions {
            url_password,
            email,
            credit_card,
            phone,
            ssn,
            ip,
            mac,
            patterns,
        };
        Ok(Self {
            inner: CoreScrubber::new(&options)?,
            replacement,
            index: index.map(Bound::unbind),
        })
    }

    /// `text` with every value the filters find replaced.
    fn scrub<'py>(
        &self,
        py: Python<'py>,
        text: &Bound<'py, PyString>,
    ) -> PyResult<Bound<'py, PyString>> {
        self.run(py, text)
    }

    /// Every text of a list scrubbed, in one call.
    fn scrub_batch<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<Bound<'py, PyString>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let out = texts
            .iter()
            .map(|t| self.run(py, t))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, out)
    }

    #[getter]
    fn keyed(&self) -> bool {
        self.index.is_some()
    }

    fn __repr__(&self) -> String {
        format!(
            "Scrubber(filters={}, keyed={})",
            self.inner.len(),
            self.index.is_some()
        )
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(refuse_pickle("Scrubber"))
    }
}

/// Keyed pseudonyms of IP addresses (`core::privacy::IpPseudonyms`): sealbox's
/// keyed PRF, or IP Anonymizer's `hash_ip`. The key stays here.
#[pyclass(frozen, module = "sealbox._native", name = "IpHasher")]
pub struct IpHasher {
    inner: IpPseudonyms,
}

#[pymethods]
impl IpHasher {
    #[new]
    #[pyo3(signature = (key, *, prefix_preserving = false))]
    fn new(key: &Bound<'_, PyAny>, prefix_preserving: bool) -> PyResult<Self> {
        let key = key_from_object(0, key).map_err(|_| {
            PyValueError::new_err("key must be 32 bytes, or 64 hex digits / base64 of them")
        })?;
        Ok(Self {
            inner: IpPseudonyms::Prf(CoreIpHasher::new(&key, prefix_preserving)?),
        })
    }

    /// IP Anonymizer's `hash_ip` with its key string (as UTF-8 bytes) and iterations.
    #[staticmethod]
    fn ip_anonymizer(key: &[u8], iterations: u32) -> PyResult<Self> {
        Ok(Self {
            inner: IpPseudonyms::IpAnonymizer(IpAnonymizer::new(key, iterations)?),
        })
    }

    /// The pseudonym of one address (the GIL released for a slow PBKDF2).
    fn hash(&self, py: Python<'_>, ip: &str) -> PyResult<String> {
        let inner = &self.inner;
        Ok(super::pipeline::one(py, inner.slow(), || inner.hash(ip))?)
    }

    /// The pseudonyms of a list of addresses, GIL released; a bad address
    /// fails the batch with its position.
    fn hash_batch(&self, py: Python<'_>, ips: Vec<PyBackedStr>) -> PyResult<Vec<String>> {
        py.detach(|| {
            ips.iter()
                .enumerate()
                .map(|(i, ip)| {
                    self.inner
                        .hash(ip)
                        .map_err(|e| crate::core::Error::Invalid(format!("item {i}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(PyErr::from)
    }

    /// The Arrow path of `hash_ip_batch` (see `sealbox.privacy`): a string
    /// column in Arrow's layout, hashed with no Python object per row, GIL
    /// released. Returns `(data, offsets, validity or None, null_count)` of a
    /// string column of the same offset width; nulls stay null.
    #[pyo3(signature = (offsets, data, validity, threads = None))]
    fn _column<'py>(
        &self,
        py: Python<'py>,
        offsets: &Bound<'py, PyAny>,
        data: &Bound<'py, PyAny>,
        validity: Option<&Bound<'py, PyAny>>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let threads = super::batch::parse_threads(threads)?;
        let column = super::arrow::Column::extract(offsets, data, validity)?;
        let (large, nulls) = (column.large(), column.nulls());
        let inner = &self.inner;
        let (out, starts) = column.with_items(|items| {
            let n = items.len();
            let (mut out, mut starts) = (Vec::new(), Vec::with_capacity(n + 1));
            starts.push(0);
            let mut next = 0usize;
            super::pipeline::run(
                py,
                super::pipeline::IN_FLIGHT,
                || {
                    let range = next..(next + super::pipeline::CHUNK_ITEMS).min(n);
                    next = range.end;
                    Ok((!range.is_empty()).then_some(range))
                },
                |range| inner.hash_column(items, nulls, range, threads),
                |part| {
                    let (data, ends) = part?;
                    let base = out.len();
                    out.extend_from_slice(&data);
                    starts.extend(ends.into_iter().map(|e| base + e));
                    Ok(())
                },
            )?;
            Ok((out, starts))
        })?;
        let offsets = super::arrow::offsets(starts.into_iter(), large)?;
        let (validity, null_count) = super::arrow::validity(nulls.unwrap_or(&[]).iter().copied());
        let validity_out = (null_count > 0).then(|| PyBytes::new(py, &validity));
        PyTuple::new(
            py,
            [
                PyBytes::new(py, &out).into_any(),
                PyBytes::new(py, &offsets).into_any(),
                validity_out.map_or_else(|| py.None().into_bound(py), |v| v.into_any()),
                null_count.into_pyobject(py)?.into_any(),
            ],
        )
    }

    fn __repr__(&self) -> &'static str {
        "IpHasher(<key>)"
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(refuse_pickle("IpHasher"))
    }
}
