//! `Keyring`, `Box` and `Message`.

use std::sync::Arc;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::core::batch::Op;
use crate::core::error::Error;
use crate::core::format::envelope;
use crate::core::format::{self, text_len, Parsed, SuiteChoice};
use crate::core::seal::envelope::RunMemo;
use crate::core::{Encoding, Keyring as CoreKeyring, Sealer, SecretKey, Suite};

use super::errors::refuse_pickle;
use super::{args, arrow, batch, pipeline};

/// Inputs at least this large are sealed and opened with the GIL released.
const DETACH_THRESHOLD: usize = 16 * 1024;

/// Return 32 random bytes from the operating system, for use as a key.
#[pyfunction]
pub fn generate_key(py: Python<'_>) -> PyResult<Bound<'_, PyBytes>> {
    let key = SecretKey::generate()?;
    Ok(PyBytes::new(py, key.expose()))
}

/// Discard pooled randomness; registered with `os.register_at_fork(after_in_child=...)`.
#[pyfunction]
pub fn reseed_after_fork() {
    crate::core::rng::note_fork();
}

pub(crate) fn key_from_object(id: u32, obj: &Bound<'_, PyAny>) -> PyResult<SecretKey> {
    if let Ok(s) = obj.cast::<PyString>() {
        return SecretKey::from_text(s.to_str()?)
            .map_err(|e| PyValueError::new_err(format!("key {id}: {e}")));
    }
    let bytes = args::bytes_like(obj, "a key")
        .map_err(|_| PyTypeError::new_err(format!("key {id} must be bytes or a hex/base64 str")))?;
    SecretKey::from_slice(&bytes).map_err(|e| PyValueError::new_err(format!("key {id}: {e}")))
}

pub(crate) fn key_id(obj: &Bound<'_, PyAny>) -> PyResult<u32> {
    if obj.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err("key ids must be int, not bool"));
    }
    let id: i128 = obj
        .extract()
        .map_err(|_| PyTypeError::new_err("key ids must be int"))?;
    u32::try_from(id)
        .map_err(|_| PyValueError::new_err(format!("key id {id} is out of range 0..=4294967295")))
}

/// Keys by integer id, one of them active. Immutable; the raw keys are not kept.
#[pyclass(frozen, subclass, module = "sealbox._native", name = "Keyring")]
pub struct Keyring {
    pub(crate) inner: Arc<CoreKeyring>,
}

#[pymethods]
impl Keyring {
    #[new]
    #[pyo3(signature = (keys, *, active = None))]
    fn new(keys: &Bound<'_, PyAny>, active: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let dict = keys
            .cast::<PyDict>()
            .map_err(|_| PyTypeError::new_err("keys must be a dict of {key_id: key}"))?;
        if dict.is_empty() {
            return Err(PyValueError::new_err("a keyring needs at least one key"));
        }
        let mut entries = Vec::with_capacity(dict.len());
        for (k, v) in dict.iter() {
            let id = key_id(&k)?;
            entries.push((id, key_from_object(id, &v)?));
        }
        let active = match active {
            Some(a) if !a.is_none() => key_id(a)?,
            _ if entries.len() == 1 => entries.first().map(|(id, _)| *id).unwrap_or_default(),
            _ => {
                return Err(PyValueError::new_err(
                    "active= is required when the keyring has more than one key",
                ))
            }
        };
        let inner = CoreKeyring::new(entries, active)?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The id of the key that encrypts.
    #[getter]
    fn active_id(&self) -> u32 {
        self.inner.active_id()
    }

    /// Every key id, ascending.
    #[getter]
    fn ids(&self) -> Vec<u32> {
        self.inner.ids().collect()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __contains__(&self, id: &Bound<'_, PyAny>) -> bool {
        key_id(id)
            .map(|id| self.inner.get(id).is_some())
            .unwrap_or(false)
    }

    fn __repr__(&self) -> String {
        format!(
            "Keyring(ids={:?}, active={})",
            self.ids(),
            self.inner.active_id()
        )
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(refuse_pickle("Keyring"))
    }
}

/// Encrypts and decrypts values with a key or keyring. Immutable and thread-safe.
#[pyclass(frozen, subclass, module = "sealbox._native", name = "Box")]
pub struct SealBox {
    sealer: Sealer,
    encoding: Encoding,
    /// Decrypt (and rotate) messages only in `encoding`.
    strict: bool,
}

impl SealBox {
    pub(crate) fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    #[allow(clippy::too_many_arguments)]
    fn list_batch<'py>(
        &self,
        py: Python<'py>,
        op: Op,
        items: &Bound<'py, PyAny>,
        contexts: Option<&Bound<'py, PyAny>>,
        errors: &str,
        threads: Option<usize>,
        repeatable: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let (raise, threads) = (batch::parse_errors(errors)?, batch::parse_threads(threads)?);
        let repeatable = self.repeatable(op, repeatable)?;
        batch::list_batch(
            py,
            &self.sealer,
            self.encoding,
            self.strict,
            op,
            items,
            contexts,
            raise,
            threads,
            repeatable,
        )
    }

    /// Whether a batch derives its nonces (a rotation with `repeatable=True`): only a
    /// direct suite can, an envelope Box draws each data key afresh.
    fn repeatable(&self, op: Op, repeatable: bool) -> PyResult<bool> {
        if repeatable && !matches!(op, Op::Rotate(_)) {
            return Err(PyValueError::new_err("repeatable applies to rotate_batch"));
        }
        if repeatable && self.sealer.is_envelope() {
            return Err(PyValueError::new_err(
                "a repeatable rotation needs a direct suite: an envelope Box draws every data key afresh",
            ));
        }
        Ok(repeatable)
    }

    fn output<'py>(&self, py: Python<'py>, binary: Vec<u8>) -> Bound<'py, PyAny> {
        encoded(py, &binary, self.encoding)
    }
}

/// A binary message as `bytes`, or its text form as `str`.
pub(crate) fn encoded<'py>(
    py: Python<'py>,
    binary: &[u8],
    encoding: Encoding,
) -> Bound<'py, PyAny> {
    match encoding {
        Encoding::Binary => PyBytes::new(py, binary).into_any(),
        Encoding::Text => PyString::new(py, &format::encode_text(binary)).into_any(),
    }
}

#[pymethods]
impl SealBox {
    #[new]
    #[pyo3(signature = (key, *, algorithm = None, deterministic = false, encoding = "binary", strict_encoding = false, envelope = false))]
    fn new(
        key: &Bound<'_, PyAny>,
        algorithm: Option<&str>,
        deterministic: bool,
        encoding: &str,
        strict_encoding: bool,
        envelope: bool,
    ) -> PyResult<Self> {
        let encoding = Encoding::from_name(encoding).ok_or_else(|| {
            PyValueError::new_err(format!(
                "encoding must be 'binary' or 'text', not {encoding:?}"
            ))
        })?;
        if envelope && (algorithm.is_some() || deterministic) {
            return Err(PyValueError::new_err(
                "envelope messages use aes-256-gcm under each data key; algorithm and deterministic do not apply",
            ));
        }
        let ring = if let Ok(ring) = key.cast::<Keyring>() {
            Arc::clone(&ring.get().inner)
        } else if key.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(
                "key must be 32 bytes or a sealbox.Keyring, not str (use Keyring({0: text}) for hex or base64 keys)",
            ));
        } else if let Ok(bytes) = args::bytes_like(key, "key") {
            Arc::new(CoreKeyring::single(0, &SecretKey::from_slice(&bytes)?)?)
        } else {
            return Err(PyTypeError::new_err(format!(
                "key must be 32 bytes or a sealbox.Keyring, not {}",
                key.get_type().name()?
            )));
        };
        let suite = Suite::choose(algorithm, deterministic).map_err(|why| {
            let name = algorithm.unwrap_or_default();
            PyValueError::new_err(match why {
                SuiteChoice::SivIsDeterministic => {
                    "aes-256-siv is deterministic: use Box(key, deterministic=True)".to_owned()
                }
                SuiteChoice::NotDeterministic => {
                    format!("deterministic=True uses aes-256-siv, not {name}")
                }
                SuiteChoice::Unknown => format!(
                    "unknown algorithm {name:?}: expected 'aes-256-gcm' or 'xchacha20-poly1305' (or deterministic=True)"
                ),
            })
        })?;
        let sealer = if envelope {
            Sealer::envelope(ring)
        } else {
            Sealer::new(ring, suite)
        };
        Ok(Self {
            sealer,
            encoding,
            strict: strict_encoding,
        })
    }

    /// Encrypt `data`, binding `context` (authenticated, not stored).
    #[pyo3(signature = (data, *, context = None))]
    fn encrypt<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        context: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let data = args::bytes_like(data, "data")?;
        let context = args::context(context)?;
        let sealer = &self.sealer;
        let len = sealer.sealed_len(data.len())?;
        let (data, context) = (data.as_ref(), context.as_ref());
        match self.encoding {
            Encoding::Binary => {
                let long = data.len() >= DETACH_THRESHOLD;
                let out = PyBytes::new_with(py, len, |out| {
                    Ok(pipeline::one(py, long, || {
                        sealer.seal_into(data, context, out)
                    })?)
                })?;
                Ok(out.into_any())
            }
            Encoding::Text => {
                let long = data.len() >= DETACH_THRESHOLD;
                let binary = pipeline::one(py, long, || sealer.seal(data, context))?;
                debug_assert_eq!(text_len(binary.len()), format::encode_text(&binary).len());
                Ok(self.output(py, binary))
            }
        }
    }

    /// Decrypt a message in either encoding; any failure raises DecryptionError.
    #[pyo3(signature = (message, *, context = None))]
    fn decrypt<'py>(
        &self,
        py: Python<'py>,
        message: &Bound<'py, PyAny>,
        context: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let raw = args::message(message)?;
        let context = args::context(context)?;
        if self.strict && format::encoding_of(&raw) != self.encoding {
            return Err(Error::Decrypt.into());
        }
        let binary = format::decode(&raw)?;
        let msg = Parsed::parse(&binary)?;
        let sealer = &self.sealer;
        let len = sealer.inspect(&msg)?.plaintext_len;
        let context = context.as_ref();
        let open = |out: &mut [u8]| sealer.open_parsed(&msg, context, out, &mut RunMemo::default());
        PyBytes::new_with(py, len, |out| {
            Ok(pipeline::one(py, len >= DETACH_THRESHOLD, || open(out))?)
        })
    }

    /// Encrypt many values in one call, in parallel with the GIL released.
    #[pyo3(signature = (values, contexts = None, *, errors = "raise", threads = None))]
    fn encrypt_batch<'py>(
        &self,
        py: Python<'py>,
        values: &Bound<'py, PyAny>,
        contexts: Option<&Bound<'py, PyAny>>,
        errors: &str,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.list_batch(py, Op::Seal, values, contexts, errors, threads, false)
    }

    /// Decrypt many messages in one call, in parallel with the GIL released.
    #[pyo3(signature = (messages, contexts = None, *, errors = "raise", threads = None))]
    fn decrypt_batch<'py>(
        &self,
        py: Python<'py>,
        messages: &Bound<'py, PyAny>,
        contexts: Option<&Bound<'py, PyAny>>,
        errors: &str,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.list_batch(py, Op::Open, messages, contexts, errors, threads, false)
    }

    /// Re-encrypt messages under the active key (and this Box's algorithm).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (messages, contexts = None, mode = "auto", *, errors = "raise", threads = None, repeatable = false))]
    fn rotate_batch<'py>(
        &self,
        py: Python<'py>,
        messages: &Bound<'py, PyAny>,
        contexts: Option<&Bound<'py, PyAny>>,
        mode: &str,
        errors: &str,
        threads: Option<usize>,
        repeatable: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let op = Op::Rotate(batch::parse_mode(mode)?);
        self.list_batch(py, op, messages, contexts, errors, threads, repeatable)
    }

    /// The Arrow path of the batch methods (see `sealbox._box`).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (op, offsets, data, validity, contexts, mode, errors, threads, repeatable = false))]
    fn _column<'py>(
        &self,
        py: Python<'py>,
        op: &str,
        offsets: &Bound<'py, PyAny>,
        data: &Bound<'py, PyAny>,
        validity: Option<&Bound<'py, PyAny>>,
        contexts: Option<&Bound<'py, PyAny>>,
        mode: &str,
        errors: &str,
        threads: Option<usize>,
        repeatable: bool,
    ) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
        let op = match op {
            "encrypt" => Op::Seal,
            "decrypt" => Op::Open,
            "rotate" => Op::Rotate(batch::parse_mode(mode)?),
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown batch operation {other:?}"
                )))
            }
        };
        let (raise, threads) = (batch::parse_errors(errors)?, batch::parse_threads(threads)?);
        let repeatable = self.repeatable(op, repeatable)?;
        let column = arrow::Column::extract(offsets, data, validity)?;
        let sealer = &self.sealer;
        column.with_items(|items| {
            batch::column_batch(
                py,
                sealer,
                self.encoding,
                self.strict,
                op,
                items,
                column.nulls(),
                column.large(),
                contexts,
                raise,
                threads,
                repeatable,
            )
        })
    }

    /// The deterministic message under every key of the ring, active key first,
    /// for `WHERE column IN (...)` lookups that keep working during rotation.
    #[pyo3(signature = (data, *, context = None))]
    fn lookup_values<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        context: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let data = args::bytes_like(data, "data")?;
        let context = args::context(context)?;
        let sealer = &self.sealer;
        if !sealer.is_deterministic() {
            return Err(PyValueError::new_err(
                "lookup_values needs a deterministic Box (deterministic=True)",
            ));
        }
        let values = sealer.lookup_values(&data, &context)?;
        PyList::new(py, values.into_iter().map(|v| self.output(py, v)))
    }

    /// A new file under the active key: `(header, cipher)` (sealbox._files).
    #[pyo3(signature = (segment_size, context = None))]
    fn _stream_create<'py>(
        &self,
        py: Python<'py>,
        segment_size: usize,
        context: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        super::stream::create_direct(py, self.sealer.keyring(), segment_size, context)
    }

    /// The cipher of a file under a key of the ring (sealbox._files).
    #[pyo3(signature = (header, context = None))]
    fn _stream_open(
        &self,
        header: &[u8],
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<super::stream::StreamCipher> {
        super::stream::open_direct(self.sealer.keyring(), header, context)
    }

    /// Whether the message is under another key or algorithm than this Box
    /// encrypts with. Reads the header only.
    fn needs_rotation(&self, message: &Bound<'_, PyAny>) -> PyResult<bool> {
        let raw = args::message(message)?;
        Ok(self.sealer.needs_rotation(&raw)?)
    }

    #[getter]
    fn algorithm(&self) -> &'static str {
        if self.sealer.is_envelope() {
            envelope::NAME
        } else {
            self.sealer.suite().name()
        }
    }

    #[getter]
    fn deterministic(&self) -> bool {
        self.sealer.is_deterministic()
    }

    #[getter]
    fn encoding(&self) -> &'static str {
        self.encoding.name()
    }

    #[getter]
    fn strict_encoding(&self) -> bool {
        self.strict
    }

    #[getter]
    fn active_key_id(&self) -> u32 {
        self.sealer.keyring().active_id()
    }

    #[getter]
    fn key_ids(&self) -> Vec<u32> {
        self.sealer.keyring().ids().collect()
    }

    fn __repr__(&self) -> PyResult<String> {
        Ok(format!(
            "Box(algorithm={:?}, encoding={:?}, key_ids={:?}, active_key_id={})",
            self.algorithm(),
            self.encoding.name(),
            self.key_ids(),
            self.active_key_id()
        ))
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(refuse_pickle("Box"))
    }

    fn __copy__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __deepcopy__<'py>(slf: Bound<'py, Self>, _memo: &Bound<'py, PyAny>) -> Bound<'py, Self> {
        slf
    }
}

/// The header of a message, read without decrypting.
#[pyclass(frozen, module = "sealbox._native", name = "Message")]
pub struct Message {
    suite_name: &'static str,
    suite_id: u8,
    deterministic: bool,
    key_id: u32,
    wrapped_key: Option<Vec<u8>>,
    context_bound: bool,
    encoding: Encoding,
    nonce: Vec<u8>,
    commitment: Vec<u8>,
    ciphertext_length: usize,
    length: usize,
}

#[pymethods]
impl Message {
    /// Parse a message in either encoding. Raises DecryptionError if it is not one.
    #[staticmethod]
    fn parse(message: &Bound<'_, PyAny>) -> PyResult<Self> {
        let raw = args::message(message)?;
        let binary = format::decode(&raw)?;
        let encoding = if matches!(binary, std::borrow::Cow::Borrowed(_)) {
            Encoding::Binary
        } else {
            Encoding::Text
        };
        let m = match Parsed::parse(&binary)? {
            Parsed::Envelope(m) => m,
            Parsed::Sealed(m) => {
                return Ok(Self {
                    suite_name: m.suite.name(),
                    suite_id: m.suite.id(),
                    deterministic: m.suite.is_deterministic(),
                    key_id: m.key_id,
                    wrapped_key: None,
                    context_bound: false,
                    encoding,
                    nonce: m.nonce.to_vec(),
                    commitment: m.commitment.to_vec(),
                    ciphertext_length: m.ciphertext.len(),
                    length: binary.len(),
                })
            }
        };
        Ok(Self {
            suite_name: envelope::NAME,
            suite_id: envelope::SUITE_ID,
            deterministic: false,
            key_id: m.kek_id,
            wrapped_key: Some(m.wrapped.to_vec()),
            context_bound: m.context_bound(),
            encoding,
            nonce: m.salt.to_vec(),
            commitment: m.commitment.to_vec(),
            ciphertext_length: m.ciphertext.len(),
            length: binary.len(),
        })
    }

    /// Format version (1).
    #[getter]
    fn version(&self) -> u8 {
        crate::core::Message::VERSION
    }

    /// Suite name: 'aes-256-gcm', 'xchacha20-poly1305', 'aes-256-siv' or 'envelope'.
    #[getter]
    fn suite(&self) -> &'static str {
        self.suite_name
    }

    #[getter]
    fn suite_id(&self) -> u8 {
        self.suite_id
    }

    /// The key id; for an envelope message, the id of the key-encryption key.
    #[getter]
    fn key_id(&self) -> u32 {
        self.key_id
    }

    #[getter]
    fn deterministic(&self) -> bool {
        self.deterministic
    }

    /// An envelope message's wrapped data key (None for other suites).
    #[getter]
    fn wrapped_key<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.wrapped_key.as_ref().map(|w| PyBytes::new(py, w))
    }

    /// Whether an envelope message's data key is bound to its context (one key per message)
    /// rather than shared through a data-key cache.
    #[getter]
    fn context_bound(&self) -> bool {
        self.context_bound
    }

    /// 'binary' or 'text': the form the message was given in.
    #[getter]
    fn encoding(&self) -> &'static str {
        self.encoding.name()
    }

    /// The salt (aes-256-gcm) or nonce (xchacha20-poly1305); empty for aes-256-siv.
    #[getter]
    fn nonce<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.nonce)
    }

    #[getter]
    fn commitment<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.commitment)
    }

    /// Length of the plaintext the message carries.
    #[getter]
    fn plaintext_length(&self) -> usize {
        self.ciphertext_length
    }

    /// Bytes the format adds to the plaintext (binary form).
    #[getter]
    fn overhead(&self) -> usize {
        self.length - self.ciphertext_length
    }

    fn __len__(&self) -> usize {
        self.length
    }

    fn __repr__(&self) -> String {
        format!(
            "Message(version=1, suite={:?}, key_id={}, encoding={:?}, plaintext_length={})",
            self.suite_name,
            self.key_id,
            self.encoding.name(),
            self.ciphertext_length
        )
    }
}
