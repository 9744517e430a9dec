//! `BlindIndex`: argument conversion, GIL release and list building around
//! `core::search`. Normalizers are Python callables and run here, with the GIL
//! held, before the values cross into Rust.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyInt, PyList, PyString, PyTuple};
use zeroize::Zeroize;

use crate::core::batch::Items;
use crate::core::batch::CHUNK_BYTES;
use crate::core::compat;
use crate::core::search::{
    self, chunk_items, Algorithm, AlgorithmChoice, BlindIndexer, CostParams, Keying, OutputEncoding,
};
use crate::core::SecretKey;

use super::args::type_name;
use super::batch::parse_threads;
use super::errors::refuse_pickle;
use super::pipeline;
use super::sealbox::{key_from_object, key_id};

/// A value to hash, borrowed from its Python object where possible.
enum Value {
    Null,
    Bytes(PyBackedBytes),
    Str(PyBackedStr),
    /// A copy (bytearray, buffer, int digits, packed fields): wiped when dropped.
    Owned(zeroize::Zeroizing<Vec<u8>>),
}

impl AsRef<[u8]> for Value {
    fn as_ref(&self) -> &[u8] {
        match self {
            Value::Null => &[],
            Value::Bytes(b) => b,
            Value::Str(s) => s.as_bytes(),
            Value::Owned(v) => v.as_slice(),
        }
    }
}

/// str (UTF-8), bytes-like, or int (its decimal digits, as the gem's `to_s`).
fn scalar(obj: &Bound<'_, PyAny>, what: &dyn Fn() -> String) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if obj.is_instance_of::<PyBytes>() {
        return Ok(Value::Bytes(obj.extract()?));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::Str(s.to_owned().try_into()?));
    }
    if obj.is_instance_of::<PyByteArray>() {
        return Ok(Value::Owned(obj.cast::<PyByteArray>()?.to_vec().into()));
    }
    if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>() {
        return Ok(Value::Owned(
            obj.str()?.to_str()?.as_bytes().to_vec().into(),
        ));
    }
    if let Ok(buf) = pyo3::buffer::PyBuffer::<u8>::get(obj) {
        return Ok(Value::Owned(buf.to_vec(obj.py())?.into()));
    }
    Err(PyTypeError::new_err(format!(
        "{} must be str, bytes or int, not {}",
        what(),
        type_name(obj)
    )))
}

/// A blind index: keyed hashes under one or more key versions, as bytes (or
/// str for base64 and hex). Immutable; the keys stay here.
#[pyclass(frozen, subclass, module = "sealbox._native", name = "BlindIndex")]
pub struct BlindIndex {
    inner: BlindIndexer,
    /// Applied to every value that is not None (normalizers, compound fields).
    prepare: Option<Py<PyAny>>,
    /// A compound index: values are sequences of this many fields.
    fields: Option<usize>,
}

fn algorithm(name: &str, params: CostParams, allow_weak: bool) -> PyResult<Algorithm> {
    Algorithm::choose(name, params, allow_weak).map_err(|why| match why {
        AlgorithmChoice::NotApplicable(param) => {
            PyTypeError::new_err(format!("{param}= does not apply to {name}"))
        }
        AlgorithmChoice::Unknown => PyValueError::new_err(format!(
            "unknown algorithm {name:?}: expected 'hmac-sha256', 'argon2id', 'argon2i', 'pbkdf2-sha256' or 'scrypt'"
        )),
        AlgorithmChoice::Invalid(e) => e.into(),
    })
}

/// Index keys from the `keys` dict, derived from master keys when `derive` says
/// so, and how the index hashes with them: the gem's keys as they are, every
/// other key under sealbox's own label.
fn version_keys(
    keys: &Bound<'_, PyAny>,
    derive: Option<&Bound<'_, PyTuple>>,
) -> PyResult<(Vec<(u32, SecretKey)>, Keying)> {
    let dict = keys
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err("keys must be a dict of {version: key}"))?;
    let names: Option<(String, Vec<String>)> = match derive {
        None => None,
        Some(t) => {
            let scheme: String = t.get_item(0)?.extract()?;
            let rest: Vec<String> = t
                .iter()
                .skip(1)
                .map(|o| o.extract())
                .collect::<PyResult<_>>()?;
            Some((scheme, rest))
        }
    };
    let keying = match &names {
        Some((scheme, _)) if scheme == "gem" || scheme == "gem-key" => Keying::AsDerived,
        _ => Keying::Separated,
    };
    let mut out = Vec::with_capacity(dict.len());
    for (k, v) in dict.iter() {
        let version = key_id(&k)
            .map_err(|_| PyTypeError::new_err("key versions must be int (0..=4294967295)"))?;
        let key = key_from_object(version, &v)?;
        let key = match &names {
            None => key,
            Some((scheme, parts)) => match (scheme.as_str(), parts.as_slice()) {
                ("sealbox", [table, column, index]) => search::derive_index_key(
                    &key,
                    table.as_bytes(),
                    column.as_bytes(),
                    index.as_bytes(),
                )?,
                ("gem", [table, attribute]) => {
                    compat::gem_index_key(&key, table.as_bytes(), attribute.as_bytes())?
                }
                // The gem's `key:` option: the index key itself.
                ("gem-key", []) => key,
                _ => return Err(PyValueError::new_err("unknown key derivation")),
            },
        };
        out.push((version, key));
    }
    Ok((out, keying))
}

/// One chunk of a batch, its values copied into one buffer: cheaper than a
/// reference to each Python object, and safe to read with the GIL released.
struct Chunk {
    data: Vec<u8>,
    ends: Vec<usize>,
    nulls: Vec<bool>,
    any_null: bool,
}

impl Chunk {
    fn with_capacity(n: usize) -> Self {
        Self {
            data: Vec::new(),
            ends: Vec::with_capacity(n),
            nulls: Vec::with_capacity(n),
            any_null: false,
        }
    }

    fn push(&mut self, value: Option<&[u8]>) {
        if let Some(v) = value {
            let need = self.data.len().saturating_add(v.len());
            if need > self.data.capacity() {
                // Grow by hand, wiping the old buffer: a reallocation would
                // leave a copy of the values in freed memory.
                let cap = need.max(self.data.capacity().saturating_mul(2)).max(4096);
                let mut grown = Vec::with_capacity(cap);
                grown.extend_from_slice(&self.data);
                self.data.zeroize();
                self.data = grown;
            }
            self.data.extend_from_slice(v);
        }
        self.ends.push(self.data.len());
        self.nulls.push(value.is_none());
        self.any_null |= value.is_none();
    }

    fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        self.data.zeroize();
    }
}

impl Items for Chunk {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> &[u8] {
        let start = match i.checked_sub(1) {
            Some(j) => self.ends.get(j).copied().unwrap_or(0),
            None => 0,
        };
        let end = self.ends.get(i).copied().unwrap_or(start);
        self.data.get(start..end).unwrap_or(&[])
    }
}

/// The values of a batch, read a chunk at a time.
enum Source<'py> {
    List(Bound<'py, PyList>, usize),
    Iter(Bound<'py, pyo3::types::PyIterator>),
    Done,
}

impl<'py> Source<'py> {
    fn new(values: &Bound<'py, PyAny>) -> PyResult<Self> {
        if values.is_instance_of::<PyBytes>() || values.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(format!(
                "values must be a sequence of values, not a single {}",
                type_name(values)
            )));
        }
        if let Ok(list) = values.cast::<PyList>() {
            return Ok(Self::List(list.clone(), 0));
        }
        let iter = values
            .try_iter()
            .map_err(|_| PyTypeError::new_err("values must be a sequence"))?;
        Ok(Self::Iter(iter))
    }

    fn next(&mut self) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self {
            Self::List(list, pos) => {
                // A list changed by another thread meanwhile is read as it is now.
                let item = list.get_item(*pos).ok();
                *pos += 1;
                Ok(item)
            }
            Self::Iter(iter) => {
                let item = iter.next().transpose()?;
                if item.is_none() {
                    // An iterator is read to its end once, never past it.
                    *self = Self::Done;
                }
                Ok(item)
            }
            Self::Done => Ok(None),
        }
    }
}

impl BlindIndex {
    /// The core index, for other bindings that compute its values (log tokens).
    pub(super) fn indexer(&self) -> &BlindIndexer {
        &self.inner
    }

    /// Whether values go through Python code (normalizers, compound fields) first.
    pub(super) fn prepares_in_python(&self) -> bool {
        self.prepare.is_some() || self.fields.is_some()
    }

    /// Up to `max` values of a batch, the first being item `start`.
    fn next_chunk(&self, source: &mut Source<'_>, start: usize, max: usize) -> PyResult<Chunk> {
        let mut chunk = Chunk::with_capacity(max);
        while chunk.len() < max && chunk.data.len() < CHUNK_BYTES {
            let Some(obj) = source.next()? else { break };
            let index = start + chunk.len();
            // The common case, bytes or str without a normalizer, is copied
            // straight from the object.
            if self.prepare.is_none() && self.fields.is_none() {
                if let Ok(b) = obj.cast::<PyBytes>() {
                    chunk.push(Some(b.as_bytes()));
                    continue;
                }
                if let Ok(s) = obj.cast::<PyString>() {
                    chunk.push(Some(s.to_str()?.as_bytes()));
                    continue;
                }
            }
            match self.value(&obj, Some(index))? {
                Value::Null => chunk.push(None),
                v => chunk.push(Some(v.as_ref())),
            }
        }
        Ok(chunk)
    }

    /// One value, ready to hash: None, or its bytes.
    fn value(&self, obj: &Bound<'_, PyAny>, index: Option<usize>) -> PyResult<Value> {
        if obj.is_none() {
            return Ok(Value::Null);
        }
        let what = || match index {
            Some(i) => format!("values[{i}]"),
            None => "value".to_string(),
        };
        let prepared;
        let obj = match &self.prepare {
            Some(f) => {
                prepared = f.bind(obj.py()).call1((obj,))?;
                if prepared.is_none() {
                    return Ok(Value::Null);
                }
                &prepared
            }
            None => obj,
        };
        let Some(count) = self.fields else {
            return scalar(obj, &what);
        };
        if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
            return Err(PyTypeError::new_err(format!(
                "{} must be a tuple of {count} fields for this compound index, not {}",
                what(),
                type_name(obj)
            )));
        }
        let parts: Vec<Bound<'_, PyAny>> = obj
            .try_iter()
            .map_err(|_| {
                PyTypeError::new_err(format!(
                    "{} must be a tuple of {count} fields for this compound index, not {}",
                    what(),
                    type_name(obj)
                ))
            })?
            .collect::<PyResult<_>>()?;
        if parts.len() != count {
            return Err(PyValueError::new_err(format!(
                "{} has {} fields; this compound index takes {count}",
                what(),
                parts.len()
            )));
        }
        let mut pieces = Vec::with_capacity(count);
        for (j, part) in parts.iter().enumerate() {
            match scalar(part, &|| format!("field {j} of {}", what()))? {
                Value::Null => return Ok(Value::Null),
                v => pieces.push(v),
            }
        }
        let refs: Vec<&[u8]> = pieces.iter().map(AsRef::as_ref).collect();
        Ok(Value::Owned(search::pack(&refs).into()))
    }

    fn output<'py>(&self, py: Python<'py>, raw: &[u8]) -> Bound<'py, PyAny> {
        match self.inner.encoding() {
            OutputEncoding::Raw => PyBytes::new(py, raw).into_any(),
            _ => PyString::new(py, std::str::from_utf8(raw).unwrap_or_default()).into_any(),
        }
    }

    fn compute_one(&self, py: Python<'_>, slot: usize, value: &[u8]) -> PyResult<Vec<u8>> {
        let inner = &self.inner;
        let run = || -> crate::core::error::Result<Vec<u8>> {
            let mut out = vec![0u8; inner.out_len()];
            inner.compute_into(slot, value, &mut out, &mut inner.scratch()?)?;
            Ok(out)
        };
        Ok(pipeline::one(py, inner.algorithm().is_slow(), run)?)
    }
}

#[pymethods]
impl BlindIndex {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (keys, algorithm = "hmac-sha256", *, active, bits = None, length = None,
        encoding = "raw", t = None, m = None, p = None, iterations = None, n = None, r = None,
        prepare = None, fields = None, derive = None, allow_weak = false))]
    fn new(
        keys: &Bound<'_, PyAny>,
        algorithm: &str,
        active: &Bound<'_, PyAny>,
        bits: Option<u32>,
        length: Option<usize>,
        encoding: &str,
        t: Option<u32>,
        m: Option<u32>,
        p: Option<u32>,
        iterations: Option<u32>,
        n: Option<u64>,
        r: Option<u32>,
        prepare: Option<Py<PyAny>>,
        fields: Option<usize>,
        derive: Option<&Bound<'_, PyTuple>>,
        allow_weak: bool,
    ) -> PyResult<Self> {
        let alg = self::algorithm(
            algorithm,
            CostParams {
                t,
                m,
                p,
                iterations,
                n,
                r,
            },
            allow_weak,
        )?;
        let enc = OutputEncoding::from_name(encoding).ok_or_else(|| {
            PyValueError::new_err(format!(
                "encoding must be 'raw', 'base64' or 'hex', not {encoding:?}"
            ))
        })?;
        if fields.is_some_and(|f| f < 1) {
            return Err(PyValueError::new_err(
                "a compound index needs at least one field",
            ));
        }
        let active = key_id(active)
            .map_err(|_| PyTypeError::new_err("active must be an int key version"))?;
        let (keys, keying) = version_keys(keys, derive)?;
        let inner = BlindIndexer::new(alg, keys, keying, active, length, bits, enc)?;
        Ok(Self {
            inner,
            prepare,
            fields,
        })
    }

    /// The index value of `value` under the active key version (or `version`).
    /// None gives None.
    #[pyo3(signature = (value, *, version = None))]
    fn compute<'py>(
        &self,
        py: Python<'py>,
        value: &Bound<'py, PyAny>,
        version: Option<u32>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let slot = self.inner.slot(version)?;
        let v = self.value(value, None)?;
        if matches!(v, Value::Null) {
            return Ok(py.None().into_bound(py));
        }
        let out = self.compute_one(py, slot, v.as_ref())?;
        Ok(self.output(py, &out))
    }

    /// The index value under every key version, the active one first: the
    /// list for `WHERE column IN (...)` while rows are being re-indexed.
    fn lookup_values<'py>(
        &self,
        py: Python<'py>,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let v = self.value(value, None)?;
        if matches!(v, Value::Null) {
            return PyList::new(py, [py.None()]);
        }
        let inner = &self.inner;
        let bytes = v.as_ref();
        let all = pipeline::one(py, inner.algorithm().is_slow(), || {
            inner.lookup_values(bytes)
        })?;
        PyList::new(py, all.iter().map(|h| self.output(py, h)))
    }

    /// The index values of many values in one call: parallel, GIL released.
    #[pyo3(signature = (values, *, version = None, threads = None))]
    fn compute_batch<'py>(
        &self,
        py: Python<'py>,
        values: &Bound<'py, PyAny>,
        version: Option<u32>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let threads = parse_threads(threads)?;
        let slot = self.inner.slot(version)?;
        let mut source = Source::new(values)?;
        let per_chunk = chunk_items(self.inner.algorithm());
        let width = self.inner.out_len();
        let inner = &self.inner;
        let mut results: Vec<Bound<'py, PyAny>> = Vec::with_capacity(values.len().unwrap_or(0));
        // Values are read (and normalized, by Python code) a chunk at a time
        // while the workers hash the chunk before.
        let mut read = 0usize;
        pipeline::run(
            py,
            pipeline::IN_FLIGHT,
            || {
                let chunk = self.next_chunk(&mut source, read, per_chunk)?;
                read += chunk.len();
                Ok((!chunk.is_empty()).then_some(chunk))
            },
            |items: Chunk| {
                let mask = items.any_null.then_some(items.nulls.as_slice());
                let out = inner.compute_batch(slot, &items, mask, 0..items.len(), threads);
                (items, out)
            },
            |(items, out)| {
                let out = out?;
                for (null, hash) in items.nulls.iter().zip(out.chunks_exact(width.max(1))) {
                    results.push(if *null {
                        py.None().into_bound(py)
                    } else {
                        self.output(py, hash)
                    });
                }
                Ok(())
            },
        )?;
        PyList::new(py, results)
    }

    /// The Arrow path of `compute_batch` (see `sealbox._blind`): a binary or
    /// string column in Arrow's layout, hashed with no Python object per row.
    /// Returns `(data, offsets or None, validity or None, null_count)`: the
    /// fixed-width values, and for text encodings their int32/int64 offsets.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (offsets, data, validity, version, threads))]
    fn _column<'py>(
        &self,
        py: Python<'py>,
        offsets: &Bound<'py, PyAny>,
        data: &Bound<'py, PyAny>,
        validity: Option<&Bound<'py, PyAny>>,
        version: Option<u32>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        if self.prepare.is_some() || self.fields.is_some() {
            return Err(PyTypeError::new_err(
                "an index with normalize= or fields= reads Python values, not an Arrow column",
            ));
        }
        let threads = parse_threads(threads)?;
        let slot = self.inner.slot(version)?;
        let column = super::arrow::Column::extract(offsets, data, validity)?;
        let (large, nulls) = (column.large(), column.nulls());
        let per_chunk = chunk_items(self.inner.algorithm());
        let out_width = self.inner.out_len();
        let inner = &self.inner;
        let (n, out) = column.with_items(|items| {
            let n = items.len();
            let mut out = Vec::with_capacity(n.saturating_mul(out_width));
            let mut next = 0usize;
            pipeline::run(
                py,
                pipeline::IN_FLIGHT,
                || {
                    let range = next..(next + per_chunk.max(1)).min(n);
                    next = range.end;
                    Ok((!range.is_empty()).then_some(range))
                },
                |range| inner.compute_batch(slot, items, nulls, range, threads),
                |part| {
                    out.extend_from_slice(&part?);
                    Ok(())
                },
            )?;
            Ok((n, out))
        })?;
        let text_offsets = match self.inner.encoding() {
            OutputEncoding::Raw => None,
            _ => {
                let o = super::arrow::offsets((0..n + 1).map(|i| i * out_width), large)?;
                Some(PyBytes::new(py, &o))
            }
        };
        let (validity, null_count) = super::arrow::validity(nulls.unwrap_or(&[]).iter().copied());
        let validity_out = (null_count > 0).then(|| PyBytes::new(py, &validity));
        PyTuple::new(
            py,
            [
                PyBytes::new(py, &out).into_any(),
                text_offsets.map_or_else(|| py.None().into_bound(py), |o| o.into_any()),
                validity_out.map_or_else(|| py.None().into_bound(py), |v| v.into_any()),
                null_count.into_pyobject(py)?.into_any(),
            ],
        )
    }

    /// Whether values pass through Python (normalizers, compound fields) first.
    #[getter]
    fn _prepares(&self) -> bool {
        self.prepare.is_some() || self.fields.is_some()
    }

    /// 'hmac-sha256', 'argon2id', 'argon2i', 'pbkdf2-sha256' or 'scrypt'.
    #[getter]
    fn algorithm(&self) -> &'static str {
        self.inner.algorithm().name()
    }

    /// The cost parameters: {'t', 'm', 'p'}, {'iterations'}, {'n', 'r', 'p'} or {}.
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        match self.inner.algorithm() {
            Algorithm::HmacSha256 => {}
            Algorithm::Argon2 { t, m, p, .. } => {
                d.set_item("t", t)?;
                d.set_item("m", m)?;
                d.set_item("p", p)?;
            }
            Algorithm::Pbkdf2Sha256 { iterations } => d.set_item("iterations", iterations)?,
            Algorithm::Scrypt { log_n, r, p } => {
                d.set_item("n", 1u64 << log_n)?;
                d.set_item("r", r)?;
                d.set_item("p", p)?;
            }
        }
        Ok(d)
    }

    /// Bits kept of each hash.
    #[getter]
    fn bits(&self) -> u32 {
        self.inner.bits()
    }

    /// Bytes of hash computed before truncation.
    #[getter]
    fn length(&self) -> usize {
        self.inner.length()
    }

    /// 'raw' (bytes), 'base64' or 'hex' (str).
    #[getter]
    fn encoding(&self) -> &'static str {
        self.inner.encoding().name()
    }

    /// Number of fields of a compound index, or None.
    #[getter]
    fn fields(&self) -> Option<usize> {
        self.fields
    }

    /// Every key version, ascending.
    #[getter]
    fn versions(&self) -> Vec<u32> {
        self.inner.versions().collect()
    }

    /// The version `compute` uses.
    #[getter]
    fn active_version(&self) -> u32 {
        self.inner.active_version()
    }

    fn __repr__(&self) -> String {
        let alg = self.inner.algorithm();
        let cost = match alg {
            Algorithm::HmacSha256 => String::new(),
            Algorithm::Argon2 { t, m, p, .. } => format!(", t={t}, m={m}, p={p}"),
            Algorithm::Pbkdf2Sha256 { iterations } => format!(", iterations={iterations}"),
            Algorithm::Scrypt { log_n, r, p } => format!(", n={}, r={r}, p={p}", 1u64 << log_n),
        };
        format!(
            "BlindIndex(algorithm={:?}{cost}, bits={}, encoding={:?}, versions={:?}, active_version={})",
            alg.name(),
            self.inner.bits(),
            self.inner.encoding().name(),
            self.versions(),
            self.inner.active_version()
        )
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(refuse_pickle("BlindIndex"))
    }

    fn __copy__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __deepcopy__<'py>(slf: Bound<'py, Self>, _memo: &Bound<'py, PyAny>) -> Bound<'py, Self> {
        slf
    }
}

/// The blind_index gem's index key for a master key (64 hex digits or 32 bytes).
#[pyfunction]
pub fn gem_index_key<'py>(
    py: Python<'py>,
    master_key: &Bound<'py, PyAny>,
    table: &str,
    bidx_attribute: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let master = key_from_object(0, master_key)
        .map_err(|_| PyValueError::new_err("master key must be 32 bytes (64 hex digits)"))?;
    let key = compat::gem_index_key(&master, table.as_bytes(), bidx_attribute.as_bytes())?;
    Ok(PyBytes::new(py, key.expose()))
}
