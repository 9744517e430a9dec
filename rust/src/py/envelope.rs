//! Envelope messages whose data keys the Python layer supplies (a KMS or HSM
//! holds the key-encryption key): seal and open one message, and the batch
//! forms, parallel with the GIL released. Locally wrapped envelopes go through
//! `Box` itself (see `sealbox.rs`).

use std::sync::Arc;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use rayon::prelude::*;
use zeroize::Zeroizing;

use crate::core::batch::wraps::Wraps;
use crate::core::batch::{pool, Contexts};
use crate::core::error::{Error, Result};
use crate::core::format::envelope::{self as wire, EnvelopeMessage};
use crate::core::format::{Parsed, Shape};
use crate::core::seal::envelope::{self, DataKey};
use crate::core::{format, Encoding, Sealer};

use super::args;
use super::batch::{items, parse_threads, BatchContexts, Item};
use super::errors::DecryptionError;
use super::pipeline::{self, CHUNK_ITEMS, IN_FLIGHT};
use super::sealbox::SealBox;

fn data_key(obj: &Bound<'_, PyAny>) -> PyResult<DataKey> {
    let bytes = Zeroizing::new(args::bytes_like(obj, "data key")?.into_owned());
    Ok(DataKey::new(&bytes)?)
}

fn output<'py>(py: Python<'py>, binary: &[u8], text: bool) -> Bound<'py, PyAny> {
    let encoding = if text {
        Encoding::Text
    } else {
        Encoding::Binary
    };
    super::sealbox::encoded(py, binary, encoding)
}

fn seal_one(
    dk: &DataKey,
    kek_id: u32,
    flags: u8,
    wrapped: &[u8],
    data: &[u8],
    ctx: &[u8],
) -> Result<Vec<u8>> {
    let len = data
        .len()
        .checked_add(wire::overhead(wrapped.len()))
        .ok_or_else(|| Error::Invalid("data is too large".into()))?;
    let mut out = vec![0u8; len];
    envelope::seal_with_data_key(dk, kek_id, flags, wrapped, data, ctx, &mut out)?;
    Ok(out)
}

fn open_one(dk: &DataKey, raw: &[u8], ctx: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let binary = format::decode(raw)?;
    open_parsed(dk, &EnvelopeMessage::parse(&binary)?, ctx)
}

fn open_parsed(dk: &DataKey, msg: &EnvelopeMessage<'_>, ctx: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(vec![0u8; msg.ciphertext.len()]);
    envelope::open_payload(dk, msg, ctx, &mut out)?;
    Ok(out)
}

/// Seal one message under a data key wrapped elsewhere.
#[pyfunction]
#[pyo3(signature = (data_key, kek_id, flags, wrapped, data, context, text))]
#[allow(clippy::too_many_arguments)]
pub fn envelope_seal<'py>(
    py: Python<'py>,
    data_key: &Bound<'py, PyAny>,
    kek_id: u32,
    flags: u8,
    wrapped: &[u8],
    data: &Bound<'py, PyAny>,
    context: Option<&Bound<'py, PyAny>>,
    text: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let dk = self::data_key(data_key)?;
    let data = args::bytes_like(data, "data")?;
    let ctx = args::context(context)?;
    let binary = seal_one(&dk, kek_id, flags, wrapped, &data, &ctx)?;
    Ok(output(py, &binary, text))
}

/// Open one envelope message with its (unwrapped) data key.
#[pyfunction]
#[pyo3(signature = (data_key, message, context))]
pub fn envelope_open<'py>(
    py: Python<'py>,
    data_key: &Bound<'py, PyAny>,
    message: &Bound<'py, PyAny>,
    context: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let dk = self::data_key(data_key)?;
    let raw = args::message(message)?;
    let ctx = args::context(context)?;
    let plain = open_one(&dk, &raw, &ctx)?;
    Ok(PyBytes::new(py, &plain))
}

/// Run `work` over items `0..n` in chunks, in parallel with the GIL released
/// ([`pipeline::run`]), and hand each item's result to `finish` in order.
fn run_chunked<T: Send>(
    py: Python<'_>,
    n: usize,
    threads: Option<usize>,
    work: impl Fn(usize) -> T + Sync,
    mut finish: impl FnMut(usize, T) -> PyResult<()>,
) -> PyResult<()> {
    let pool = pool(threads)?;
    let mut next = 0usize;
    pipeline::run(
        py,
        IN_FLIGHT,
        || {
            let range = next..(next + CHUNK_ITEMS).min(n);
            next = range.end;
            Ok((!range.is_empty()).then_some(range))
        },
        |range: std::ops::Range<usize>| {
            let start = range.start;
            let out: Vec<T> =
                pool.install(|| range.into_par_iter().with_min_len(64).map(&work).collect());
            (start, out)
        },
        |(start, out)| {
            for (k, result) in out.into_iter().enumerate() {
                finish(start + k, result)?;
            }
            Ok(())
        },
    )
}

/// Seal `values[i]` under `keys[i / per]`: `keys` are `(data_key, kek_id, flags, wrapped)`.
#[pyfunction]
#[pyo3(signature = (keys, per, values, contexts, text, threads = None))]
pub fn envelope_seal_batch<'py>(
    py: Python<'py>,
    keys: &Bound<'py, PyList>,
    per: usize,
    values: &Bound<'py, PyAny>,
    contexts: Option<&Bound<'py, PyAny>>,
    text: bool,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyList>> {
    let threads = parse_threads(threads)?;
    if per == 0 {
        return Err(PyValueError::new_err("per must be at least 1"));
    }
    let values: Vec<Item> = items(values, false, "values")?;
    let contexts = BatchContexts::extract(contexts, values.len())?;
    if keys
        .len()
        .checked_mul(per)
        .is_none_or(|capacity| capacity < values.len())
    {
        return Err(PyValueError::new_err(format!(
            "{} data keys for {} values at {per} per key",
            keys.len(),
            values.len()
        )));
    }
    let mut dks = Vec::with_capacity(keys.len());
    for k in keys.iter() {
        let (dk, kek_id, flags, wrapped): (Bound<'_, PyAny>, u32, u8, Vec<u8>) = k.extract()?;
        dks.push((data_key(&dk)?, kek_id, flags, wrapped));
    }
    let ctx: Contexts<'_> = contexts.view();
    let mut out = Vec::with_capacity(values.len());
    run_chunked(
        py,
        values.len(),
        threads,
        |i| {
            let (dk, kek_id, flags, wrapped) = dks
                .get(i / per)
                .ok_or(Error::Internal("fewer data keys than batches"))?;
            let v = values.get(i).map(|v| v.as_ref()).unwrap_or(&[]);
            seal_one(dk, *kek_id, *flags, wrapped, v, ctx.get(i))
        },
        |i, sealed: Result<Vec<u8>>| match sealed {
            Ok(binary) => {
                out.push(output(py, &binary, text));
                Ok(())
            }
            Err(e) => Err(PyValueError::new_err(format!(
                "item {i} could not be encrypted: {e}"
            ))),
        },
    )?;
    PyList::new(py, out)
}

/// Where one message of an envelope batch opens, with the shape of the parse
/// that said so: the workers view the message through it, not parsing it again.
enum Target {
    /// Under a key of the local box's ring (a direct message, or an envelope
    /// message wrapped by a local KEK).
    Local(Shape),
    /// Under a data key the caller unwrapped.
    Key(Arc<DataKey>, wire::Shape),
    /// Nowhere: not a message, or its data key did not unwrap.
    Fail,
}

/// One chunk of a provider-backed batch: its messages (borrowed from their
/// objects) and the binary form of those given as text, decoded once.
struct MessageChunk {
    start: usize,
    items: Vec<Item>,
    decoded: Vec<Option<Vec<u8>>>,
}

impl MessageChunk {
    /// The next chunk of `messages`, whose first item is item `start`.
    fn take(messages: &mut std::vec::IntoIter<Item>, start: usize) -> Option<Self> {
        let items: Vec<Item> = messages.by_ref().take(CHUNK_ITEMS).collect();
        if items.is_empty() {
            return None;
        }
        let decoded = items
            .iter()
            .map(|item| match format::decode(item.as_ref()) {
                Ok(std::borrow::Cow::Owned(binary)) => Some(binary),
                _ => None,
            })
            .collect();
        Some(Self {
            start,
            items,
            decoded,
        })
    }

    /// Item `k` in binary form (as given, when it is not text that decodes:
    /// then it does not parse).
    fn binary(&self, k: usize) -> &[u8] {
        match self.decoded.get(k) {
            Some(Some(binary)) => binary,
            _ => self.items.get(k).map_or(&[], AsRef::as_ref),
        }
    }

    fn len(&self) -> usize {
        self.items.len()
    }
}

/// Open a batch of messages in one call: each distinct wrapped data key
/// (`core::batch::wraps`) is unwrapped once by `unwrap(kek_id, bound, wrapped,
/// context)` (the KMS or HSM, in Python: it returns the data key, or raises
/// DecryptionError for a key that does not unwrap; any other error stops the
/// batch), with the GIL held as each chunk is prepared; direct messages, and
/// envelope messages whose KEK id is in `local_ids`, open with `local` (an
/// envelope Box over the local KEKs). The
/// chunks open in parallel with the GIL released. Returns the plaintexts,
/// None where an item failed.
#[pyfunction]
#[pyo3(signature = (messages, contexts, unwrap, local = None, local_ids = Vec::new(), threads = None))]
#[allow(clippy::too_many_arguments)]
pub fn envelope_open_batch<'py>(
    py: Python<'py>,
    messages: &Bound<'py, PyAny>,
    contexts: Option<&Bound<'py, PyAny>>,
    unwrap: &Bound<'py, PyAny>,
    local: Option<&Bound<'py, SealBox>>,
    local_ids: Vec<u32>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyList>> {
    let threads = parse_threads(threads)?;
    let messages = items(messages, true, "messages")?;
    let contexts = BatchContexts::extract(contexts, messages.len())?;
    let ctx = contexts.view();
    let local = local.map(|b| b.get().sealer());
    let n = messages.len();
    let mut messages = messages.into_iter();
    let mut wraps = Wraps::default();
    let mut keys: Vec<Option<Arc<DataKey>>> = Vec::new();
    let mut next = 0usize;
    let mut out = Vec::with_capacity(n);
    let pool = pool(threads)?;
    pipeline::run(
        py,
        IN_FLIGHT,
        || {
            let Some(chunk) = MessageChunk::take(&mut messages, next) else {
                return Ok(None);
            };
            next += chunk.len();
            let mut targets = Vec::with_capacity(chunk.len());
            for k in 0..chunk.len() {
                let i = chunk.start + k;
                let target = match Parsed::parse(chunk.binary(k)) {
                    Err(_) => Target::Fail,
                    Ok(Parsed::Envelope(msg))
                        if local.is_none() || !local_ids.contains(&msg.kek_id) =>
                    {
                        let (slot, new) = wraps.slot(&msg, ctx.get(i));
                        if new {
                            keys.push(unwrap_one(unwrap, &msg, ctx.get(i))?.map(Arc::new));
                        }
                        match keys.get(slot) {
                            Some(Some(dk)) => Target::Key(Arc::clone(dk), msg.shape()),
                            _ => Target::Fail,
                        }
                    }
                    // A direct message, or an envelope message under a local KEK.
                    Ok(parsed) => match local {
                        Some(_) => Target::Local(parsed.shape()),
                        None => Target::Fail,
                    },
                };
                targets.push(target);
            }
            Ok(Some((chunk, targets)))
        },
        |(chunk, targets): (MessageChunk, Vec<Target>)| {
            let opened: Vec<Option<Zeroizing<Vec<u8>>>> = pool.install(|| {
                (0..chunk.len())
                    .into_par_iter()
                    .with_min_len(64)
                    .map(|k| {
                        let context = ctx.get(chunk.start + k);
                        open_target(targets.get(k)?, local, chunk.binary(k), context).ok()
                    })
                    .collect()
            });
            (chunk, opened)
        },
        |(_chunk, opened)| {
            out.extend(opened.into_iter().map(|o| o.map(|p| PyBytes::new(py, &p))));
            Ok(())
        },
    )?;
    PyList::new(py, out)
}

/// The caller's unwrap of one wrapped data key: None when it does not unwrap.
fn unwrap_one(
    unwrap: &Bound<'_, PyAny>,
    msg: &EnvelopeMessage<'_>,
    context: &[u8],
) -> PyResult<Option<DataKey>> {
    let py = unwrap.py();
    let bound = msg.context_bound();
    let context = if bound { context } else { &[] };
    let got = unwrap.call1((
        msg.kek_id,
        bound,
        PyBytes::new(py, msg.wrapped),
        PyBytes::new(py, context),
    ));
    match got {
        Ok(key) if key.is_none() => Ok(None),
        Ok(key) => data_key(&key).map(Some),
        Err(e) if e.is_instance_of::<DecryptionError>(py) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Open one message (binary form, as parsed for its target) at its target.
fn open_target(
    target: &Target,
    local: Option<&Sealer>,
    binary: &[u8],
    context: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    match (target, local) {
        (Target::Local(shape), Some(sealer)) => {
            sealer.open_message(&Parsed::at(binary, *shape)?, context)
        }
        (Target::Key(dk, shape), _) => {
            open_parsed(dk, &EnvelopeMessage::at(binary, *shape)?, context)
        }
        _ => Err(Error::Decrypt),
    }
}

/// Where one message of a provider-backed re-wrap goes.
enum Rewrap {
    /// Not an envelope message (a direct message, or not a message at all):
    /// the caller re-encrypts it.
    Direct,
    /// Already under the active KEK: the input, unchanged.
    Keep,
    /// Its data key did not move: fails.
    Fail,
    /// The new KEK id and wrapped key its header takes, and the shape of the
    /// parse that named its old one (the workers rewrite the message through
    /// it, not parsing it again).
    New(Arc<(u32, Vec<u8>)>, wire::Shape),
}

/// What the caller's `rewrap` said of one distinct wrapped key.
#[derive(Clone)]
enum Moved {
    Keep,
    Fail,
    New(Arc<(u32, Vec<u8>)>),
}

/// Re-wrap a batch of envelope messages in one call: as each chunk is
/// prepared (GIL held), the wrapped data keys the batch has not met yet go,
/// in one list, to `rewrap([(kek_id, bound, wrapped, context), ...])`, which
/// returns for each the new `(kek_id, wrapped)`, True to leave it as it is, or
/// None when it did not move; then the chunk's headers are rewritten in
/// parallel (GIL released), payloads copied. Returns `(messages, direct)`:
/// the messages (the input object where unchanged, None where failed or not
/// an envelope message) and the indexes of the items that are not envelope
/// messages, for the caller to re-encrypt.
#[pyfunction]
#[pyo3(signature = (messages, contexts, rewrap, text, threads = None))]
pub fn envelope_rewrap_batch<'py>(
    py: Python<'py>,
    messages: &Bound<'py, PyAny>,
    contexts: Option<&Bound<'py, PyAny>>,
    rewrap: &Bound<'py, PyAny>,
    text: bool,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyTuple>> {
    let threads = parse_threads(threads)?;
    let messages = items(messages, true, "messages")?;
    let contexts = BatchContexts::extract(contexts, messages.len())?;
    let ctx = contexts.view();
    let n = messages.len();
    let mut messages = messages.into_iter();
    let mut wraps = Wraps::default();
    let mut moved: Vec<Moved> = Vec::new();
    let mut next = 0usize;
    let mut out = Vec::with_capacity(n);
    let mut direct = Vec::new();
    let pool = pool(threads)?;
    pipeline::run(
        py,
        IN_FLIGHT,
        || {
            let Some(chunk) = MessageChunk::take(&mut messages, next) else {
                return Ok(None);
            };
            next += chunk.len();
            let mut slots = Vec::with_capacity(chunk.len());
            let mut asked = Vec::new();
            for k in 0..chunk.len() {
                let i = chunk.start + k;
                slots.push(match Parsed::parse(chunk.binary(k)) {
                    Ok(Parsed::Envelope(msg)) => {
                        let (slot, new) = wraps.slot(&msg, ctx.get(i));
                        if new {
                            let bound = msg.context_bound();
                            let context = if bound { ctx.get(i) } else { &[] };
                            asked.push((
                                msg.kek_id,
                                bound,
                                PyBytes::new(py, msg.wrapped),
                                PyBytes::new(py, context),
                            ));
                        }
                        Some((slot, msg.shape()))
                    }
                    _ => None,
                });
            }
            if !asked.is_empty() {
                let answers = rewrap.call1((PyList::new(py, &asked)?,))?;
                let answers = answers
                    .cast::<PyList>()
                    .map_err(|_| PyTypeError::new_err("rewrap must return a list"))?;
                if answers.len() != asked.len() {
                    return Err(PyValueError::new_err(format!(
                        "rewrap returned {} answers for {} keys",
                        answers.len(),
                        asked.len()
                    )));
                }
                for answer in answers.iter() {
                    moved.push(if answer.is_none() {
                        Moved::Fail
                    } else if answer.is_instance_of::<pyo3::types::PyBool>() {
                        Moved::Keep
                    } else {
                        let (kek_id, wrapped): (u32, Vec<u8>) = answer.extract()?;
                        Moved::New(Arc::new((kek_id, wrapped)))
                    });
                }
            }
            let targets = slots
                .iter()
                .map(|slot| match slot {
                    None => Rewrap::Direct,
                    Some((s, shape)) => match moved.get(*s) {
                        None | Some(Moved::Fail) => Rewrap::Fail,
                        Some(Moved::Keep) => Rewrap::Keep,
                        Some(Moved::New(h)) => Rewrap::New(Arc::clone(h), *shape),
                    },
                })
                .collect();
            Ok(Some((chunk, targets)))
        },
        |(chunk, targets): (MessageChunk, Vec<Rewrap>)| {
            let rewritten: Vec<Option<Vec<u8>>> = pool.install(|| {
                (0..chunk.len())
                    .into_par_iter()
                    .with_min_len(64)
                    .map(|k| match targets.get(k) {
                        Some(Rewrap::New(header, shape)) => {
                            EnvelopeMessage::at(chunk.binary(k), *shape)
                                .and_then(|msg| rewrite_one(&msg, header.0, &header.1))
                                .ok()
                        }
                        _ => None,
                    })
                    .collect()
            });
            (chunk, targets, rewritten)
        },
        |(chunk, targets, rewritten)| {
            for (k, (target, binary)) in targets.iter().zip(rewritten).enumerate() {
                out.push(match (target, binary) {
                    (Rewrap::New(..), Some(b)) => output(py, &b, text),
                    // Current only in the Box's encoding: else re-encoded.
                    (Rewrap::Keep, _) => match chunk.items.get(k) {
                        Some(Item::Bytes(b))
                            if !text && format::encoding_of(b) == Encoding::Binary =>
                        {
                            b.into_pyobject(py)?.into_any()
                        }
                        Some(Item::Str(s))
                            if text && format::encoding_of(s.as_bytes()) == Encoding::Text =>
                        {
                            s.into_pyobject(py)?.into_any()
                        }
                        Some(_) => output(py, chunk.binary(k), text),
                        None => py.None().into_bound(py),
                    },
                    (Rewrap::Direct, _) => {
                        direct.push(chunk.start + k);
                        py.None().into_bound(py)
                    }
                    _ => py.None().into_bound(py),
                });
            }
            Ok(())
        },
    )?;
    PyTuple::new(
        py,
        [
            PyList::new(py, out)?.into_any(),
            PyList::new(py, direct)?.into_any(),
        ],
    )
}

/// An envelope message with a new KEK id and wrapped key, its payload copied.
fn rewrite_one(msg: &EnvelopeMessage<'_>, kek_id: u32, wrapped: &[u8]) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; msg.payload.len() + wire::FIXED_HEADER_LEN + wrapped.len()];
    wire::rewrite(msg, kek_id, wrapped, &mut buf)?;
    Ok(buf)
}

/// Wrap a data key under a keyring's active key (or `kek_id`), AES-SIV, for a
/// locally wrapped envelope; returns `(kek_id, wrapped)`.
#[pyfunction]
#[pyo3(signature = (keyring, data_key, flags, context, kek_id = None))]
pub fn envelope_local_wrap<'py>(
    py: Python<'py>,
    keyring: &Bound<'py, super::sealbox::Keyring>,
    data_key: &Bound<'py, PyAny>,
    flags: u8,
    context: Option<&Bound<'py, PyAny>>,
    kek_id: Option<u32>,
) -> PyResult<Bound<'py, PyTuple>> {
    let ring = &keyring.get().inner;
    let kek = match kek_id {
        Some(id) => ring
            .get(id)
            .ok_or_else(|| PyValueError::new_err(format!("key id {id} is not in the keyring")))?,
        None => ring.active(),
    };
    let key = Zeroizing::new(args::bytes_like(data_key, "data key")?.into_owned());
    if key.len() != crate::core::KEY_LEN {
        return Err(PyTypeError::new_err("a data key must be 32 bytes"));
    }
    let ctx = args::context(context)?;
    let bound: &[u8] = if flags & wire::FLAG_CONTEXT_BOUND != 0 {
        &ctx
    } else {
        &[]
    };
    let mut wrapped = [0u8; wire::LOCAL_WRAPPED_LEN];
    envelope::local_wrap(kek, flags, bound, &key, &mut wrapped)?;
    PyTuple::new(
        py,
        [
            kek.id().into_pyobject(py)?.into_any(),
            PyBytes::new(py, &wrapped).into_any(),
        ],
    )
}

/// Unwrap a locally wrapped data key (for moving it to another key-encryption key).
#[pyfunction]
#[pyo3(signature = (keyring, kek_id, flags, wrapped, context))]
pub fn envelope_local_unwrap<'py>(
    py: Python<'py>,
    keyring: &Bound<'py, super::sealbox::Keyring>,
    kek_id: u32,
    flags: u8,
    wrapped: &[u8],
    context: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let ring = &keyring.get().inner;
    let kek = ring.get(kek_id).ok_or(Error::Decrypt)?;
    let ctx = args::context(context)?;
    let bound: &[u8] = if flags & wire::FLAG_CONTEXT_BOUND != 0 {
        &ctx
    } else {
        &[]
    };
    let key = envelope::local_unwrap(kek, flags, bound, wrapped)?;
    Ok(PyBytes::new(py, key.as_ref()))
}
