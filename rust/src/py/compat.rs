//! Other libraries' formats: Rails Active Record Encryption's `Encryptor`,
//! Lockbox's boxes, padding and attribute keys.

use std::collections::HashMap;
use std::sync::Arc;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use rayon::prelude::*;
use zeroize::Zeroizing;

use crate::core::batch::pool;
use crate::core::compat::rails::{self, Digest, Encryptor, Key, Plain, Provider, Serializer};
use crate::core::compat::{attr_encrypted, lockbox};
use crate::core::error::{Error, Result as CoreResult};

use super::args;
use super::batch::{parse_errors, parse_threads};
use super::errors::{refuse_pickle, DecryptionError};
use super::pipeline::{self, CHUNK_ITEMS};

/// Values at least this large are encrypted and decrypted with the GIL released.
const DETACH_THRESHOLD: usize = 16 * 1024;

/// How one key of a provider is given: a password to derive, or a raw key.
enum KeySpec {
    Password {
        password: Zeroizing<Vec<u8>>,
        salt: Vec<u8>,
        digest: Digest,
    },
    Raw(Zeroizing<[u8; 32]>),
}

fn digest(name: &str) -> PyResult<Digest> {
    match name.to_ascii_lowercase().as_str() {
        "sha1" => Ok(Digest::Sha1),
        "sha256" => Ok(Digest::Sha256),
        _ => Err(PyValueError::new_err(format!(
            "hash_digest_class must be 'SHA1' or 'SHA256', not {name:?}"
        ))),
    }
}

fn key_spec(obj: &Bound<'_, PyAny>) -> PyResult<KeySpec> {
    if let Ok(t) = obj.cast::<PyTuple>() {
        let (password, salt, d): (Vec<u8>, Vec<u8>, String) = t.extract()?;
        return Ok(KeySpec::Password {
            password: Zeroizing::new(password),
            salt,
            digest: digest(&d)?,
        });
    }
    let bytes = args::bytes_like(obj, "a raw key")?;
    let raw: [u8; 32] = bytes.as_ref().try_into().map_err(|_| {
        PyValueError::new_err(format!("a raw key must be 32 bytes, got {}", bytes.len()))
    })?;
    Ok(KeySpec::Raw(Zeroizing::new(raw)))
}

/// Derive every distinct password once (in parallel: 65,536 PBKDF2 rounds each).
fn build_keys(specs: &[Vec<KeySpec>]) -> CoreResult<Vec<Vec<Arc<Key>>>> {
    type Id<'a> = (&'a [u8], &'a [u8], bool);
    let mut unique: Vec<&KeySpec> = Vec::new();
    let mut seen: HashMap<Id<'_>, usize> = HashMap::new();
    fn id(s: &KeySpec) -> Option<Id<'_>> {
        match s {
            KeySpec::Password {
                password,
                salt,
                digest,
            } => Some((
                password.as_slice(),
                salt.as_slice(),
                *digest == Digest::Sha1,
            )),
            KeySpec::Raw(_) => None,
        }
    }
    for s in specs.iter().flatten() {
        if let Some(k) = id(s) {
            if let std::collections::hash_map::Entry::Vacant(slot) = seen.entry(k) {
                slot.insert(unique.len());
                unique.push(s);
            }
        }
    }
    let derived: Vec<CoreResult<Arc<Key>>> = pool(None)?.install(|| {
        unique
            .par_iter()
            .map(|s| match s {
                KeySpec::Password {
                    password,
                    salt,
                    digest,
                } => Key::new(&rails::derive_key(password, salt, *digest)).map(Arc::new),
                KeySpec::Raw(raw) => Key::new(raw).map(Arc::new),
            })
            .collect()
    });
    let derived = derived.into_iter().collect::<CoreResult<Vec<_>>>()?;
    specs
        .iter()
        .map(|keys| {
            keys.iter()
                .map(|s| match (s, id(s)) {
                    (_, Some(k)) => seen
                        .get(&k)
                        .and_then(|&i| derived.get(i))
                        .cloned()
                        .ok_or(Error::Internal("derived key")),
                    (KeySpec::Raw(raw), None) => Key::new(raw).map(Arc::new),
                    (KeySpec::Password { .. }, None) => Err(Error::Internal("derived key")),
                })
                .collect()
        })
        .collect()
}

/// A value to encrypt: its bytes and Ruby encoding (None: UTF-8).
enum Value {
    Bytes(PyBackedBytes),
    Str(PyBackedStr),
    /// A str with lone surrogates (from a surrogateescape decode), as its bytes.
    Escaped(Vec<u8>),
}

impl Value {
    fn extract(obj: &Bound<'_, PyAny>, what: &dyn Fn() -> String) -> PyResult<Self> {
        if let Ok(b) = obj.cast::<PyBytes>() {
            return Ok(Value::Bytes(b.clone().into()));
        }
        if let Ok(s) = obj.cast::<PyString>() {
            return match s.to_owned().try_into() {
                Ok(s) => Ok(Value::Str(s)),
                Err(_) => {
                    let b = s.call_method1("encode", ("utf-8", "surrogateescape"))?;
                    Ok(Value::Escaped(b.extract()?))
                }
            };
        }
        Err(PyTypeError::new_err(format!(
            "{} must be str or bytes, not {}",
            what(),
            args::type_name(obj)
        )))
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Value::Bytes(b) => b,
            Value::Str(s) => s.as_bytes(),
            Value::Escaped(v) => v,
        }
    }

    fn encoding(&self) -> Option<&'static [u8]> {
        match self {
            Value::Bytes(_) => Some(rails::BINARY),
            _ => None,
        }
    }
}

/// A message to decrypt: JSON text or MessagePack bytes.
enum MessageItem {
    Bytes(PyBackedBytes),
    Str(PyBackedStr),
}

impl MessageItem {
    fn extract(obj: &Bound<'_, PyAny>, what: &dyn Fn() -> String) -> PyResult<Self> {
        if let Ok(b) = obj.cast::<PyBytes>() {
            return Ok(MessageItem::Bytes(b.clone().into()));
        }
        if let Ok(s) = obj.cast::<PyString>() {
            // A str that is not UTF-8 (lone surrogates) is no message.
            return s
                .to_owned()
                .try_into()
                .map(MessageItem::Str)
                .map_err(|_| DecryptionError::new_err("decryption failed"));
        }
        if obj.is_instance_of::<pyo3::types::PyByteArray>()
            || obj.is_instance_of::<pyo3::types::PyMemoryView>()
        {
            let b: Vec<u8> = args::bytes_like(obj, "a message")?.into_owned();
            return Ok(MessageItem::Bytes(PyBytes::new(obj.py(), &b).into()));
        }
        Err(PyTypeError::new_err(format!(
            "{} must be str or bytes, not {}",
            what(),
            args::type_name(obj)
        )))
    }

    fn bytes(&self) -> &[u8] {
        match self {
            MessageItem::Bytes(b) => b,
            MessageItem::Str(s) => s.as_bytes(),
        }
    }
}

/// A decrypted value as Python sees it: `str` for text (UTF-8 by default,
/// or the Ruby encoding the message names), `bytes` for a binary value.
fn plain_to_py<'py>(py: Python<'py>, plain: &Plain) -> PyResult<Bound<'py, PyAny>> {
    let data: &[u8] = &plain.data;
    let name = plain.encoding.as_deref();
    let utf8_like = match name {
        None => true,
        Some(n) => n.eq_ignore_ascii_case(b"UTF-8") || n.eq_ignore_ascii_case(b"US-ASCII"),
    };
    if utf8_like {
        if let Ok(s) = std::str::from_utf8(data) {
            if name.is_none_or(|n| !n.eq_ignore_ascii_case(b"US-ASCII") || s.is_ascii()) {
                return Ok(PyString::new(py, s).into_any());
            }
        }
    }
    if let Some(n) = name {
        if n.eq_ignore_ascii_case(rails::BINARY) || n.eq_ignore_ascii_case(b"BINARY") {
            return Ok(PyBytes::new(py, data).into_any());
        }
    }
    let codec = match name {
        None => "utf-8".to_string(),
        Some(n) => String::from_utf8_lossy(n).to_ascii_lowercase(),
    };
    // Ruby would hand back the bytes under that encoding, valid or not:
    // surrogateescape keeps every byte.
    PyBytes::new(py, data)
        .call_method1("decode", (codec, "surrogateescape"))
        .map_err(|_| DecryptionError::new_err("decryption failed"))
}

/// Rails Active Record Encryption's encryptor, with its key providers built.
#[pyclass(frozen, module = "sealbox._native", name = "RailsEncryptor")]
pub struct RailsEncryptor {
    inner: Encryptor,
}

impl RailsEncryptor {
    fn output<'py>(&self, py: Python<'py>, message: &[u8]) -> Bound<'py, PyAny> {
        match self.inner.serializer {
            Serializer::Json => {
                PyString::new(py, std::str::from_utf8(message).unwrap_or_default()).into_any()
            }
            Serializer::MessagePack => PyBytes::new(py, message).into_any(),
        }
    }
}

#[pymethods]
impl RailsEncryptor {
    /// `providers`: a list of `(envelope, keys)`, each key a `(password,
    /// salt, digest)` tuple or 32 raw bytes, in the order decryption tries
    /// them. `primary` and `deterministic` name the providers whose last key
    /// encrypts.
    #[new]
    #[pyo3(signature = (providers, primary, deterministic, *, store_key_references, compress, serializer, max_inflated))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        providers: &Bound<'_, PyList>,
        primary: Option<usize>,
        deterministic: Option<usize>,
        store_key_references: bool,
        compress: bool,
        serializer: &str,
        max_inflated: usize,
    ) -> PyResult<Self> {
        let serializer = match serializer {
            "json" => Serializer::Json,
            "message_pack" => Serializer::MessagePack,
            other => {
                return Err(PyValueError::new_err(format!(
                    "serializer must be 'json' or 'message_pack', not {other:?}"
                )))
            }
        };
        let mut envelope = Vec::with_capacity(providers.len());
        let mut specs = Vec::with_capacity(providers.len());
        for p in providers.iter() {
            let (env, keys): (bool, Bound<'_, PyList>) = p.extract()?;
            envelope.push(env);
            specs.push(
                keys.iter()
                    .map(|k| key_spec(&k))
                    .collect::<PyResult<Vec<_>>>()?,
            );
        }
        let keys = py.detach(|| build_keys(&specs))?;
        let decrypt: Vec<Arc<Provider>> = envelope
            .into_iter()
            .zip(keys)
            .map(|(envelope, keys)| Arc::new(Provider { envelope, keys }))
            .collect();
        let pick = |i: Option<usize>| -> PyResult<Option<Arc<Provider>>> {
            i.map(|i| {
                decrypt
                    .get(i)
                    .cloned()
                    .filter(|p| !p.keys.is_empty())
                    .ok_or_else(|| PyValueError::new_err("an encrypting provider has no key"))
            })
            .transpose()
        };
        let primary = pick(primary)?;
        let deterministic = pick(deterministic)?.and_then(|p| p.keys.last().cloned());
        Ok(Self {
            inner: Encryptor {
                primary,
                deterministic,
                decrypt,
                store_key_references,
                compress,
                serializer,
                max_inflated,
            },
        })
    }

    /// Encrypt one value (str: UTF-8; bytes: binary unless `encoding` names
    /// another Ruby encoding).
    #[pyo3(signature = (value, *, deterministic = false, encoding = None))]
    fn encrypt<'py>(
        &self,
        py: Python<'py>,
        value: &Bound<'py, PyAny>,
        deterministic: bool,
        encoding: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let v = Value::extract(value, &|| "value".into())?;
        let enc = encoding.map(str::as_bytes).or(v.encoding());
        let data = v.bytes();
        let inner = &self.inner;
        let out = pipeline::one(py, data.len() >= DETACH_THRESHOLD, || {
            inner.encrypt(data, enc, deterministic)
        })?;
        Ok(self.output(py, &out))
    }

    /// Decrypt one message: str for text, bytes for a binary value.
    fn decrypt<'py>(
        &self,
        py: Python<'py>,
        message: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let m = MessageItem::extract(message, &|| "message".into())?;
        let data = m.bytes();
        let inner = &self.inner;
        let plain = pipeline::one(py, data.len() >= DETACH_THRESHOLD, || inner.decrypt(data))?;
        plain_to_py(py, &plain)
    }

    /// Decrypt one message into `(bytes, encoding)`: the plaintext as stored
    /// and the Ruby encoding its `e` header names (None: UTF-8).
    fn decrypt_raw<'py>(
        &self,
        py: Python<'py>,
        message: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyBytes>, Option<String>)> {
        let m = MessageItem::extract(message, &|| "message".into())?;
        let data = m.bytes();
        let inner = &self.inner;
        let plain = pipeline::one(py, data.len() >= DETACH_THRESHOLD, || inner.decrypt(data))?;
        let enc = plain
            .encoding
            .as_deref()
            .map(|e| String::from_utf8_lossy(e).into_owned());
        Ok((PyBytes::new(py, &plain.data), enc))
    }

    /// Whether `message` parses as a Rails message (no key is tried).
    fn is_message(&self, message: &Bound<'_, PyAny>) -> bool {
        MessageItem::extract(message, &|| "message".into())
            .map(|m| rails::is_message(m.bytes()))
            .unwrap_or(false)
    }

    /// The 4-hex-digit references of the keys, per provider, in decryption order.
    fn key_references(&self) -> Vec<Vec<String>> {
        self.inner
            .decrypt
            .iter()
            .map(|p| {
                p.keys
                    .iter()
                    .map(|k| String::from_utf8_lossy(k.id()).into_owned())
                    .collect()
            })
            .collect()
    }

    /// Encrypt many values in parallel with the GIL released; None stays None.
    #[pyo3(signature = (values, *, deterministic = false, threads = None))]
    fn encrypt_batch<'py>(
        &self,
        py: Python<'py>,
        values: &Bound<'py, PyAny>,
        deterministic: bool,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let threads = parse_threads(threads)?;
        let values = snapshot(values, "values")?;
        let n = values.len();
        let inner = &self.inner;
        let mut results: Vec<Bound<'py, PyAny>> = Vec::with_capacity(n);
        let mut next = 0usize;
        pipeline::run(
            py,
            pipeline::IN_FLIGHT,
            || {
                if next >= n {
                    return Ok(None);
                }
                let end = (next + CHUNK_ITEMS).min(n);
                let mut chunk = Vec::with_capacity(end - next);
                for i in next..end {
                    let obj = values.get_borrowed_item(i)?;
                    chunk.push(if obj.is_none() {
                        None
                    } else {
                        Some(Value::extract(&obj, &|| format!("values[{i}]"))?)
                    });
                }
                next = end;
                Ok(Some(chunk))
            },
            |chunk: Vec<Option<Value>>| {
                let out: CoreResult<Vec<Option<Vec<u8>>>> = pool(threads).and_then(|p| {
                    p.install(|| {
                        chunk
                            .par_iter()
                            .map(|v| {
                                v.as_ref()
                                    .map(|v| inner.encrypt(v.bytes(), v.encoding(), deterministic))
                                    .transpose()
                            })
                            .collect()
                    })
                });
                (chunk, out)
            },
            |(_chunk, out)| {
                for m in out? {
                    results.push(match m {
                        Some(m) => self.output(py, &m),
                        None => py.None().into_bound(py),
                    });
                }
                Ok(())
            },
        )?;
        PyList::new(py, results)
    }

    /// Decrypt many messages in parallel with the GIL released; None stays
    /// None. With `errors="return"` a message that fails gives None.
    #[pyo3(signature = (messages, *, errors = "raise", threads = None))]
    fn decrypt_batch<'py>(
        &self,
        py: Python<'py>,
        messages: &Bound<'py, PyAny>,
        errors: &str,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let raise = parse_errors(errors)?;
        let threads = parse_threads(threads)?;
        let messages = snapshot(messages, "messages")?;
        let n = messages.len();
        let inner = &self.inner;
        let mut results: Vec<Bound<'py, PyAny>> = Vec::with_capacity(n);
        let mut next = 0usize;
        pipeline::run(
            py,
            pipeline::IN_FLIGHT,
            || {
                if next >= n {
                    return Ok(None);
                }
                let end = (next + CHUNK_ITEMS).min(n);
                let mut chunk = Vec::with_capacity(end - next);
                for i in next..end {
                    let obj = messages.get_borrowed_item(i)?;
                    chunk.push(if obj.is_none() {
                        None
                    } else {
                        match MessageItem::extract(&obj, &|| format!("messages[{i}]")) {
                            Ok(m) => Some(Ok(m)),
                            Err(e) if e.is_instance_of::<DecryptionError>(py) => Some(Err(())),
                            Err(e) => return Err(e),
                        }
                    });
                }
                let start = next;
                next = end;
                Ok(Some((start, chunk)))
            },
            |(start, chunk): (usize, Vec<Option<Result<MessageItem, ()>>>)| {
                let out: CoreResult<Vec<Option<CoreResult<Plain>>>> = pool(threads).map(|p| {
                    p.install(|| {
                        chunk
                            .par_iter()
                            .map(|m| {
                                m.as_ref().map(|m| match m {
                                    Ok(m) => inner.decrypt(m.bytes()),
                                    Err(()) => Err(Error::Decrypt),
                                })
                            })
                            .collect()
                    })
                });
                (start, chunk, out)
            },
            |(start, _chunk, out)| {
                for (k, plain) in out?.into_iter().enumerate() {
                    let obj = match plain {
                        None => py.None().into_bound(py),
                        Some(Ok(p)) => match plain_to_py(py, &p) {
                            Ok(o) => o,
                            Err(_) if !raise => py.None().into_bound(py),
                            Err(_) => {
                                return Err(DecryptionError::new_err(format!(
                                    "item {} failed to decrypt",
                                    start + k
                                )))
                            }
                        },
                        Some(Err(_)) if !raise => py.None().into_bound(py),
                        Some(Err(_)) => {
                            return Err(DecryptionError::new_err(format!(
                                "item {} failed to decrypt",
                                start + k
                            )))
                        }
                    };
                    results.push(obj);
                }
                Ok(())
            },
        )?;
        PyList::new(py, results)
    }

    fn __repr__(&self) -> String {
        let refs = if self.inner.store_key_references {
            ", store_key_references"
        } else {
            ""
        };
        format!(
            "RailsEncryptor({} providers, {}{})",
            self.inner.decrypt.len(),
            match self.inner.serializer {
                Serializer::Json => "json",
                Serializer::MessagePack => "message_pack",
            },
            refs
        )
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(refuse_pickle("RailsEncryptor"))
    }
}

/// The items of a batch, fixed when the call starts (a list is copied into a
/// tuple, so that another thread changing it cannot change the batch).
fn snapshot<'py>(values: &Bound<'py, PyAny>, what: &str) -> PyResult<Bound<'py, PyTuple>> {
    if values.is_instance_of::<PyBytes>() || values.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a sequence of values, not a single {}",
            args::type_name(values)
        )));
    }
    if let Ok(t) = values.cast::<PyTuple>() {
        return Ok(t.clone());
    }
    if let Ok(l) = values.cast::<PyList>() {
        return Ok(l.to_tuple());
    }
    let iter = values
        .try_iter()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a sequence")))?;
    let all = iter.collect::<PyResult<Vec<_>>>()?;
    PyTuple::new(values.py(), all)
}

// ---------------------------------------------------------------------------
// Lockbox

/// One Lockbox box (`Lockbox::Box`): an algorithm and its key(s).
#[pyclass(frozen, module = "sealbox._native", name = "LockboxBox")]
pub struct LockboxBox {
    inner: lockbox::LockboxBox,
}

#[pymethods]
impl LockboxBox {
    #[new]
    #[pyo3(signature = (algorithm, key = None, encryption_key = None, decryption_key = None))]
    fn new(
        algorithm: &str,
        key: Option<&Bound<'_, PyAny>>,
        encryption_key: Option<&Bound<'_, PyAny>>,
        decryption_key: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let bytes = |o: Option<&Bound<'_, PyAny>>| -> PyResult<Option<Zeroizing<Vec<u8>>>> {
            o.filter(|o| !o.is_none())
                .map(|o| Ok(Zeroizing::new(args::bytes_like(o, "a key")?.into_owned())))
                .transpose()
        };
        let inner = if algorithm == "hybrid" {
            lockbox::LockboxBox::hybrid(
                bytes(encryption_key)?.as_deref().map(Vec::as_slice),
                bytes(decryption_key)?.as_deref().map(Vec::as_slice),
            )?
        } else {
            let key = bytes(key)?.ok_or_else(|| PyValueError::new_err("missing key"))?;
            lockbox::LockboxBox::symmetric(algorithm, &key)?
        };
        Ok(Self { inner })
    }

    /// nonce ‖ ciphertext, with a random nonce.
    fn encrypt<'py>(
        &self,
        py: Python<'py>,
        message: &Bound<'py, PyAny>,
        associated_data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let message = args::bytes_like(message, "message")?;
        let aad = args::bytes_like(associated_data, "associated_data")?;
        let (m, a) = (message.as_ref(), aad.as_ref());
        let inner = &self.inner;
        let out = pipeline::one(py, m.len() >= DETACH_THRESHOLD, || inner.encrypt(m, a))?;
        Ok(PyBytes::new(py, &out))
    }

    fn decrypt<'py>(
        &self,
        py: Python<'py>,
        ciphertext: &Bound<'py, PyAny>,
        associated_data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let ct = args::bytes_like(ciphertext, "ciphertext")?;
        let aad = args::bytes_like(associated_data, "associated_data")?;
        let (c, a) = (ct.as_ref(), aad.as_ref());
        let inner = &self.inner;
        let out = pipeline::one(py, c.len() >= DETACH_THRESHOLD, || inner.decrypt(c, a))?;
        Ok(PyBytes::new(py, &out))
    }

    #[getter]
    fn takes_associated_data(&self) -> bool {
        self.inner.takes_aad()
    }

    #[getter]
    fn can_encrypt(&self) -> bool {
        self.inner.can_encrypt()
    }

    #[getter]
    fn can_decrypt(&self) -> bool {
        self.inner.can_decrypt()
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(refuse_pickle("LockboxBox"))
    }
}

/// `Lockbox.attribute_key` as 32 raw bytes.
#[pyfunction]
pub fn lockbox_attribute_key<'py>(
    py: Python<'py>,
    master_key: &Bound<'py, PyAny>,
    table: &str,
    attribute: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let master = args::bytes_like(master_key, "master_key")?;
    let master: &[u8; 32] = master
        .as_ref()
        .try_into()
        .map_err(|_| PyValueError::new_err("master key must be 32 bytes (64 hex digits)"))?;
    let key = lockbox::attribute_key(master, table.as_bytes(), attribute.as_bytes())?;
    Ok(PyBytes::new(py, key.as_ref()))
}

/// Lockbox's padding (ISO/IEC 7816-4) to a multiple of `size`.
#[pyfunction]
pub fn lockbox_pad<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    size: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let data = args::bytes_like(data, "data")?;
    Ok(PyBytes::new(py, &lockbox::pad(&data, size)?))
}

/// Undo `lockbox_pad`; a bad padding raises DecryptionError.
#[pyfunction]
pub fn lockbox_unpad<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    size: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut data = Zeroizing::new(args::bytes_like(data, "data")?.into_owned());
    lockbox::unpad(&mut data, size)?;
    Ok(PyBytes::new(py, &data))
}

// ---------------------------------------------------------------------------
// attr_encrypted

/// AES-256-CBC with PKCS#7 padding, as OpenSSL's `aes-256-cbc` (attr_encrypted's
/// other algorithm).
#[pyfunction]
pub fn aes256_cbc_encrypt<'py>(
    py: Python<'py>,
    key: &Bound<'py, PyAny>,
    iv: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let (key, iv, data) = (
        args::bytes_like(key, "key")?,
        args::bytes_like(iv, "iv")?,
        args::bytes_like(data, "data")?,
    );
    Ok(PyBytes::new(
        py,
        &attr_encrypted::cbc_encrypt(&key, &iv, &data)?,
    ))
}

/// Undo `aes256_cbc_encrypt`; any failure raises DecryptionError.
#[pyfunction]
pub fn aes256_cbc_decrypt<'py>(
    py: Python<'py>,
    key: &Bound<'py, PyAny>,
    iv: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let (key, iv, data) = (
        args::bytes_like(key, "key")?,
        args::bytes_like(iv, "iv")?,
        args::bytes_like(data, "data")?,
    );
    Ok(PyBytes::new(
        py,
        &attr_encrypted::cbc_decrypt(&key, &iv, &data)?,
    ))
}
