//! Rails Active Record Encryption (7.0 to 8.1), byte for byte.
//!
//! The format (`activerecord/lib/active_record/encryption/`): AES-256-GCM with
//! empty associated data under a key derived from a password with PBKDF2
//! (65,536 iterations, SHA-1 or SHA-256, the app's `key_derivation_salt`); a
//! random IV, or for deterministic encryption `HMAC-SHA256(key, plaintext)[..12]`
//! (the plaintext after compression). Values over 140 bytes are zlib-deflated
//! first unless compression is off. A message is a map `{p: payload, h:
//! headers}` with headers `iv`, `at` (the tag), `e` (the Ruby encoding of a
//! plaintext that is not UTF-8), `k` (an envelope's wrapped data key, itself a
//! message), `i` (a 4-hex-digit key reference) and `c` (compressed), in that
//! order, serialized as compact JSON with every string base64'd, or as
//! MessagePack behind ActiveSupport's `0xCC 0x80` signature with Symbol keys.
//!
//! Decryption tries the keys Rails would try (only those a key reference
//! names, when there is one), opens envelopes, and inflates within a bound:
//! every failure, including an oversized inflation, is [`Error::Decrypt`].

use std::borrow::Cow;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::Mac;
use zeroize::Zeroizing;

use crate::core::compat::json::{self, Json};
use crate::core::compat::msgpack::{self, Value};
use crate::core::error::{Error, Result};
use crate::core::primitives::{gcm256_open_small, gcm256_seal_small, HmacSha256, LcAead};
use crate::core::rng;

/// ActiveSupport::KeyGenerator's iterations, in every Rails version.
pub const ITERATIONS: u32 = 1 << 16;
/// `Encryptor::THRESHOLD_TO_JUSTIFY_COMPRESSION`: compress values longer than this.
pub const COMPRESS_THRESHOLD: usize = 140;
/// The default bound on an inflated plaintext (a zip bomb is a decryption failure).
pub const DEFAULT_MAX_INFLATED: usize = 64 << 20;
/// The signature ActiveSupport::MessagePack puts first (the integer 128).
pub const MSGPACK_SIGNATURE: [u8; 2] = [0xcc, 0x80];
/// Ruby's name of the binary encoding, as the `e` header carries it.
pub const BINARY: &[u8] = b"ASCII-8BIT";

const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;

/// The digest of the PBKDF2 derivation (`hash_digest_class`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Digest {
    Sha1,
    Sha256,
}

/// `ActiveSupport::KeyGenerator.new(password, hash_digest_class:).generate_key(salt, 32)`.
pub fn derive_key(password: &[u8], salt: &[u8], digest: Digest) -> Zeroizing<[u8; KEY_LEN]> {
    let alg = match digest {
        Digest::Sha1 => aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA1,
        Digest::Sha256 => aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
    };
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    let iterations = std::num::NonZeroU32::MIN.saturating_add(ITERATIONS - 1);
    aws_lc_rs::pbkdf2::derive(alg, iterations, salt, password, out.as_mut());
    out
}

/// How a message is written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Serializer {
    Json,
    MessagePack,
}

/// One AES-256-GCM key as Rails holds it: the secret, its 4-hex-digit id
/// (`SHA1(secret).hexdigest[0, 4]`), the expanded cipher and the HMAC state
/// for deterministic IVs.
pub struct Key {
    id: [u8; 4],
    aead: LcAead,
    mac: HmacSha256,
}

impl Key {
    pub fn new(secret: &[u8; KEY_LEN]) -> Result<Self> {
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, secret);
        let mut id = [0u8; 4];
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (k, out) in id.iter_mut().enumerate() {
            let byte = digest.as_ref().get(k / 2).copied().unwrap_or(0);
            let nibble = if k % 2 == 0 { byte >> 4 } else { byte & 15 };
            *out = HEX.get(usize::from(nibble)).copied().unwrap_or(b'0');
        }
        let mac = <HmacSha256 as hmac::KeyInit>::new_from_slice(secret)
            .map_err(|_| Error::Internal("HMAC key"))?;
        Ok(Self {
            id,
            aead: LcAead::aes_gcm(secret)?,
            mac,
        })
    }

    /// The key reference Rails stores in the `i` header.
    pub fn id(&self) -> &[u8; 4] {
        &self.id
    }
}

/// A key provider: keys used directly (`DerivedSecretKeyProvider`,
/// `DeterministicKeyProvider`, `KeyProvider`), or as the keys that wrap
/// per-message data keys (`EnvelopeEncryptionKeyProvider`).
pub struct Provider {
    pub envelope: bool,
    pub keys: Vec<Arc<Key>>,
}

/// An encryptor: what it encrypts with, what it decrypts with, and how it writes.
pub struct Encryptor {
    /// The provider non-deterministic values are encrypted with (its last key).
    pub primary: Option<Arc<Provider>>,
    /// The key deterministic values are encrypted with.
    pub deterministic: Option<Arc<Key>>,
    /// Every provider decryption tries, in order (the current scheme's, then
    /// the previous schemes').
    pub decrypt: Vec<Arc<Provider>>,
    pub store_key_references: bool,
    pub compress: bool,
    pub serializer: Serializer,
    pub max_inflated: usize,
}

/// A decrypted value: its bytes and the Ruby encoding the message names
/// (None: UTF-8).
pub struct Plain {
    pub data: Zeroizing<Vec<u8>>,
    pub encoding: Option<Vec<u8>>,
}

/// Ruby's `encode("UTF-8", invalid: :replace, undef: :replace)` of a binary
/// or US-ASCII string, as deterministic encryption forces it: every byte
/// above 0x7F becomes U+FFFD.
pub fn force_utf8(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for &b in bytes {
        if b < 0x80 {
            out.push(b);
        } else {
            out.extend_from_slice("\u{fffd}".as_bytes());
        }
    }
    out
}

fn is_utf8_name(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"UTF-8") || name.eq_ignore_ascii_case(b"CP65001")
}

fn is_binary_name(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(BINARY) || name.eq_ignore_ascii_case(b"BINARY")
}

/// zlib's `compress` at the default level (Ruby's `Zlib::Deflate.deflate`).
pub fn deflate(data: &[u8]) -> Result<Vec<u8>> {
    use flate2::{Compress, Compression, FlushCompress, Status};
    let mut z = Compress::new(Compression::default(), true);
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    loop {
        let consumed = usize::try_from(z.total_in()).map_err(|_| Error::Internal("deflate"))?;
        let input = data.get(consumed..).ok_or(Error::Internal("deflate"))?;
        if out.capacity() - out.len() < 64 {
            out.reserve(out.len().max(256));
        }
        match z.compress_vec(input, &mut out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => return Ok(out),
            Ok(_) => continue,
            Err(_) => return Err(Error::Internal("deflate")),
        }
    }
}

/// zlib-inflate `data`, which must be one whole stream and nothing more,
/// into at most `max` bytes.
pub fn inflate(data: &[u8], max: usize) -> Result<Zeroizing<Vec<u8>>> {
    use flate2::{Decompress, FlushDecompress, Status};
    let mut z = Decompress::new(true);
    let mut out = Zeroizing::new(Vec::with_capacity(
        data.len().saturating_mul(4).min(max).max(64),
    ));
    loop {
        let consumed = usize::try_from(z.total_in()).map_err(|_| Error::Decrypt)?;
        let input = data.get(consumed..).ok_or(Error::Decrypt)?;
        if out.len() == out.capacity() {
            if out.len() >= max {
                return Err(Error::Decrypt);
            }
            // Grow within the bound: a bomb stops at `max`, not at its size.
            let grow = out.len().max(4096).min(max.saturating_add(1) - out.len());
            out.reserve_exact(grow);
        }
        let before = (z.total_in(), z.total_out());
        match z.decompress_vec(input, &mut out, FlushDecompress::Finish) {
            Ok(Status::StreamEnd) => {
                if out.len() > max || z.total_in() != data.len() as u64 {
                    return Err(Error::Decrypt);
                }
                return Ok(out);
            }
            Ok(_) => {
                if out.len() > max {
                    return Err(Error::Decrypt);
                }
                // A truncated stream stops making progress.
                if (z.total_in(), z.total_out()) == before && out.len() < out.capacity() {
                    return Err(Error::Decrypt);
                }
            }
            Err(_) => return Err(Error::Decrypt),
        }
    }
}

// ---------------------------------------------------------------------------
// Messages

/// The key reference a message carries.
#[derive(Debug, PartialEq)]
enum KeyRef<'a> {
    /// No `i` header (or nil/false): every key is a candidate.
    None,
    Id(Cow<'a, [u8]>),
    /// An `i` that is not a string: no key has it.
    NoMatch,
}

/// A parsed message (a nested one, in `k`, has no `k` of its own that matters).
#[derive(Debug)]
struct Parsed<'a> {
    payload: Cow<'a, [u8]>,
    /// Rails opens nothing without a 12-byte IV and a 16-byte tag (it checks
    /// the tag's length against OpenSSL's truncated tags), so a message
    /// without them is refused when it is read.
    iv: [u8; IV_LEN],
    at: [u8; TAG_LEN],
    encoding: Option<Cow<'a, [u8]>>,
    /// `k`: a nested message, or something that is not one.
    k: Option<Result<Box<Parsed<'a>>>>,
    i: KeyRef<'a>,
    compressed: bool,
}

fn b64(text: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    strict_b64_decode_into(text, &mut out).ok_or(Error::Decrypt)?;
    Ok(out)
}

/// A header's value, whatever the serializer.
enum Header<'a> {
    Bytes(Cow<'a, [u8]>),
    Message(Box<Parsed<'a>>),
    /// nil or false.
    Falsy,
    /// true, a number, a Symbol: allowed, not a string.
    Other,
}

fn assemble<'a>(payload: Cow<'a, [u8]>, headers: Vec<(&[u8], Header<'a>)>) -> Result<Parsed<'a>> {
    let (mut iv, mut at) = (None, None);
    let mut m = Parsed {
        payload,
        iv: [0; IV_LEN],
        at: [0; TAG_LEN],
        encoding: None,
        k: None,
        i: KeyRef::None,
        compressed: false,
    };
    for (name, value) in headers {
        match name {
            b"iv" | b"at" => {
                let Header::Bytes(b) = value else {
                    return Err(Error::Decrypt);
                };
                if name == b"iv" {
                    iv = Some(b);
                } else {
                    at = Some(b);
                }
            }
            b"e" => match value {
                Header::Bytes(b) => m.encoding = Some(b),
                Header::Falsy => {}
                _ => return Err(Error::Decrypt),
            },
            b"k" => {
                m.k = match value {
                    Header::Message(nested) => Some(Ok(nested)),
                    Header::Falsy => None,
                    _ => Some(Err(Error::Decrypt)),
                }
            }
            b"i" => {
                m.i = match value {
                    Header::Bytes(b) => KeyRef::Id(b),
                    Header::Falsy => KeyRef::None,
                    _ => KeyRef::NoMatch,
                }
            }
            b"c" => m.compressed = !matches!(value, Header::Falsy),
            _ => {}
        }
    }
    m.iv = iv
        .as_deref()
        .and_then(|b| b.try_into().ok())
        .ok_or(Error::Decrypt)?;
    m.at = at
        .as_deref()
        .and_then(|b| b.try_into().ok())
        .ok_or(Error::Decrypt)?;
    Ok(m)
}

fn parse_json_message<'a>(data: &'a Json<'a>, level: usize) -> Result<Parsed<'a>> {
    if level > 2 {
        return Err(Error::Decrypt);
    }
    let payload = match data.get(b"p") {
        Some(Json::Str(s)) => Cow::Owned(b64(s)?),
        _ => return Err(Error::Decrypt),
    };
    let headers = match data.get(b"h") {
        None | Some(Json::Null) => Vec::new(),
        Some(h @ Json::Object(_)) => {
            let members = h.members().ok_or(Error::Decrypt)?;
            let mut out = Vec::with_capacity(members.len());
            for (name, value) in members {
                let v = match value {
                    Json::Str(s) => Header::Bytes(Cow::Owned(b64(s)?)),
                    Json::Object(_) => {
                        Header::Message(Box::new(parse_json_message(value, level + 1)?))
                    }
                    Json::Null | Json::Bool(false) => Header::Falsy,
                    Json::Bool(true) | Json::Number(_) => Header::Other,
                    Json::Array(_) => return Err(Error::Decrypt),
                };
                out.push((name, v));
            }
            out
        }
        Some(_) => return Err(Error::Decrypt),
    };
    assemble(payload, headers)
}

/// The value of a top-level key ("p", "h"): a string key, not a Symbol.
fn top_get<'v, 'a>(map: &'v Value<'a>, key: &[u8]) -> Option<&'v Value<'a>> {
    match map {
        Value::Map(entries) => entries
            .iter()
            .rev()
            .find(|(k, _)| matches!(k, Value::Str(b) | Value::Bin(b) if *b == key))
            .map(|(_, v)| v),
        _ => None,
    }
}

fn parse_msgpack_message<'a>(data: &Value<'a>, level: usize) -> Result<Parsed<'a>> {
    if level > 2 || !matches!(data, Value::Map(_)) {
        return Err(Error::Decrypt);
    }
    let payload = match top_get(data, b"p") {
        Some(Value::Str(b) | Value::Bin(b)) => Cow::Borrowed(*b),
        _ => return Err(Error::Decrypt),
    };
    let headers = match top_get(data, b"h") {
        None | Some(Value::Nil) => Vec::new(),
        Some(Value::Map(entries)) => {
            // Repeated keys: the last one wins (a Ruby Hash), in first-seen order.
            let mut out: Vec<(&[u8], Header<'a>)> = Vec::with_capacity(entries.len());
            for (k, value) in entries {
                let name = match k {
                    Value::Str(b) | Value::Bin(b) | Value::Symbol(b) => *b,
                    _ => return Err(Error::Decrypt),
                };
                let v = match value {
                    Value::Str(b) | Value::Bin(b) => Header::Bytes(Cow::Borrowed(*b)),
                    Value::Map(_) => {
                        Header::Message(Box::new(parse_msgpack_message(value, level + 1)?))
                    }
                    Value::Nil | Value::Bool(false) => Header::Falsy,
                    Value::Bool(true) | Value::Int(_) | Value::Float(_) | Value::Symbol(_) => {
                        Header::Other
                    }
                    Value::Array(_) => return Err(Error::Decrypt),
                };
                match out.iter_mut().find(|(seen, _)| *seen == name) {
                    Some(slot) => slot.1 = v,
                    None => out.push((name, v)),
                }
            }
            out
        }
        Some(_) => return Err(Error::Decrypt),
    };
    assemble(payload, headers)
}

/// Whether `message` is in the MessagePack form (its signature first).
pub fn is_msgpack(message: &[u8]) -> bool {
    message.starts_with(&MSGPACK_SIGNATURE)
}

/// Base64 (RFC 4648, padded) as Ruby's `strict_decode64` takes it: the
/// standard alphabet, length a multiple of 4, `=` only at the end, and unused
/// bits zero. Decodes into `out` (appended).
const B64_INVALID: u8 = 0xff;
// Built at compile time, where an index out of bounds fails the build.
#[allow(clippy::indexing_slicing)]
const B64_TABLE: [u8; 256] = {
    let mut t = [B64_INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
};

fn b64_sextet(c: u8) -> Option<u32> {
    let v = B64_TABLE
        .get(usize::from(c))
        .copied()
        .unwrap_or(B64_INVALID);
    (v != B64_INVALID).then_some(u32::from(v))
}

pub fn strict_b64_decode_into(text: &[u8], out: &mut Vec<u8>) -> Option<()> {
    out.reserve(text.len() / 4 * 3);
    b64_decode_with(text, |b| {
        out.extend_from_slice(b);
        Some(())
    })
}

fn b64_decode_with(text: &[u8], mut emit: impl FnMut(&[u8]) -> Option<()>) -> Option<()> {
    if text.len() % 4 != 0 {
        return None;
    }
    let mut quads = text.chunks_exact(4).peekable();
    while let Some(q) = quads.next() {
        let &[a, b, c, d] = q else { return None };
        let (a, b) = (b64_sextet(a)?, b64_sextet(b)?);
        let last = quads.peek().is_none();
        match (c, d) {
            (b'=', b'=') if last => {
                if b & 0x0f != 0 {
                    return None;
                }
                emit(&[((a << 2) | (b >> 4)) as u8])?;
            }
            (_, b'=') if last => {
                let c = b64_sextet(c)?;
                if c & 0x03 != 0 {
                    return None;
                }
                let n = (a << 18) | (b << 12) | (c << 6);
                emit(&[(n >> 16) as u8, (n >> 8) as u8])?;
            }
            _ => {
                let n = (a << 18) | (b << 12) | (b64_sextet(c)? << 6) | b64_sextet(d)?;
                emit(&[(n >> 16) as u8, (n >> 8) as u8, n as u8])?;
            }
        }
    }
    Some(())
}

/// The body of a JSON string up to its closing quote, if it has no escapes.
fn plain_string<'a>(s: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let rest = s.get(*at..)?;
    let len = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
    if rest.get(len) != Some(&b'"') {
        return None;
    }
    *at += len + 1;
    rest.get(..len)
}

fn eat(s: &[u8], at: &mut usize, lit: &[u8]) -> bool {
    if s.get(*at..).is_some_and(|r| r.starts_with(lit)) {
        *at += lit.len();
        true
    } else {
        false
    }
}

fn decode_fixed<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    let mut len = 0;
    b64_decode_with(text, |b| {
        out.get_mut(len..len + b.len())?.copy_from_slice(b);
        len += b.len();
        Some(())
    })?;
    (len == N).then_some(out)
}

/// A message in the exact form Rails writes without an envelope,
/// `{"p":"..","h":{"iv":"..","at":".."[,"e":".."][,"i":".."][,"c":true]}}`,
/// read without building a document (most messages are in it). None for
/// anything else, which the full parser then reads, to the same result for
/// this form.
fn canonical(s: &[u8]) -> Option<Parsed<'static>> {
    let mut at = 0;
    let field = |at: &mut usize, lit: &[u8]| -> Option<Option<Vec<u8>>> {
        if !eat(s, at, lit) {
            return Some(None);
        }
        let text = plain_string(s, at)?;
        let mut out = Vec::new();
        strict_b64_decode_into(text, &mut out)?;
        Some(Some(out))
    };
    if !eat(s, &mut at, b"{\"p\":\"") {
        return None;
    }
    let p = plain_string(s, &mut at)?;
    if !eat(s, &mut at, b",\"h\":{\"iv\":\"") {
        return None;
    }
    let iv = decode_fixed::<IV_LEN>(plain_string(s, &mut at)?)?;
    if !eat(s, &mut at, b",\"at\":\"") {
        return None;
    }
    let tag = decode_fixed::<TAG_LEN>(plain_string(s, &mut at)?)?;
    let e = field(&mut at, b",\"e\":\"")?;
    let i = field(&mut at, b",\"i\":\"")?;
    let c = eat(s, &mut at, b",\"c\":true");
    if !eat(s, &mut at, b"}}") || at != s.len() {
        return None;
    }
    let mut payload = Vec::new();
    strict_b64_decode_into(p, &mut payload)?;
    Some(Parsed {
        payload: Cow::Owned(payload),
        iv,
        at: tag,
        encoding: e.map(Cow::Owned),
        k: None,
        i: i.map_or(KeyRef::None, |i| KeyRef::Id(Cow::Owned(i))),
        compressed: c,
    })
}

fn with_parsed<R>(message: &[u8], f: impl FnOnce(Parsed<'_>) -> Result<R>) -> Result<R> {
    if let Some(parsed) = canonical(message) {
        return f(parsed);
    }
    if is_msgpack(message) {
        let (sig, rest) = msgpack::read_one(message)?;
        if sig != Value::Int(128) {
            return Err(Error::Decrypt);
        }
        let value = msgpack::read_all(rest)?;
        let parsed = parse_msgpack_message(&value, 1)?;
        f(parsed)
    } else {
        let doc = json::parse(message)?;
        let parsed = parse_json_message(&doc, 1)?;
        f(parsed)
    }
}

/// Whether `message` parses as a Rails message (`Encryptor#encrypted?`).
pub fn is_message(message: &[u8]) -> bool {
    with_parsed(message, |_| Ok(())).is_ok()
}

/// Open a parsed message's payload under `key`: a 12-byte IV and a 16-byte tag
/// are required.
fn open_with(aead: &LcAead, m: &Parsed<'_>) -> Result<Zeroizing<Vec<u8>>> {
    let nonce = aws_lc_rs::aead::Nonce::assume_unique_for_key(m.iv);
    let mut out = Zeroizing::new(vec![0u8; m.payload.len()]);
    aead.open_detached(nonce, b"", &m.payload, &m.at, &mut out)?;
    Ok(out)
}

/// Open with a data key that came out of an envelope.
fn open_with_data_key(dk: &[u8], m: &Parsed<'_>) -> Result<Zeroizing<Vec<u8>>> {
    let key: &[u8; KEY_LEN] = dk.try_into().map_err(|_| Error::Decrypt)?;
    let (iv, tag) = (&m.iv, &m.at);
    let mut out = Zeroizing::new(vec![0u8; m.payload.len()]);
    if m.payload.len() <= crate::core::primitives::SMALL_GCM_MAX {
        gcm256_open_small(key, iv, b"", &m.payload, tag, &mut out)?;
    } else {
        let aead = LcAead::aes_gcm(key).map_err(|_| Error::Decrypt)?;
        let nonce =
            aws_lc_rs::aead::Nonce::try_assume_unique_for_key(iv).map_err(|_| Error::Decrypt)?;
        aead.open_detached(nonce, b"", &m.payload, tag, &mut out)?;
    }
    Ok(out)
}

fn candidates<'k>(keys: &'k [Arc<Key>], r: &'k KeyRef<'_>) -> impl Iterator<Item = &'k Arc<Key>> {
    keys.iter().filter(move |k| match r {
        KeyRef::None => true,
        KeyRef::Id(id) => id.as_ref() == k.id.as_slice(),
        KeyRef::NoMatch => false,
    })
}

/// The header values a new message gets, in Rails' order.
struct Out<'a> {
    payload: &'a [u8],
    iv: [u8; IV_LEN],
    at: [u8; TAG_LEN],
    encoding: Option<&'a [u8]>,
    /// A wrapped data key: (payload, iv, tag); its encoding is binary.
    k: Option<(Vec<u8>, [u8; IV_LEN], [u8; TAG_LEN])>,
    i: Option<[u8; 4]>,
    compressed: bool,
    /// Whether an empty payload is a binary string (msgpack `bin`, not `str`).
    binary_payload: bool,
}

fn write_json(o: &Out<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(o.payload.len() * 4 / 3 + 96);
    let s = |out: &mut Vec<u8>, bytes: &[u8]| json::write_str(out, B64.encode(bytes).as_bytes());
    out.extend_from_slice(b"{\"p\":");
    s(&mut out, o.payload);
    out.extend_from_slice(b",\"h\":{\"iv\":");
    s(&mut out, &o.iv);
    out.extend_from_slice(b",\"at\":");
    s(&mut out, &o.at);
    if let Some(e) = o.encoding {
        out.extend_from_slice(b",\"e\":");
        s(&mut out, e);
    }
    if let Some((payload, iv, at)) = &o.k {
        out.extend_from_slice(b",\"k\":{\"p\":");
        s(&mut out, payload);
        out.extend_from_slice(b",\"h\":{\"iv\":");
        s(&mut out, iv);
        out.extend_from_slice(b",\"at\":");
        s(&mut out, at);
        out.extend_from_slice(b",\"e\":");
        s(&mut out, BINARY);
        out.extend_from_slice(b"}}");
    }
    if let Some(i) = &o.i {
        out.extend_from_slice(b",\"i\":");
        s(&mut out, i);
    }
    if o.compressed {
        out.extend_from_slice(b",\"c\":true");
    }
    out.extend_from_slice(b"}}");
    out
}

fn write_msgpack(o: &Out<'_>) -> Vec<u8> {
    use msgpack::write;
    let mut out = Vec::with_capacity(o.payload.len() + 96);
    out.extend_from_slice(&MSGPACK_SIGNATURE);
    write::map(&mut out, 2);
    write::str(&mut out, b"p");
    if o.payload.is_empty() && !o.binary_payload {
        write::str(&mut out, b"");
    } else {
        write::bin(&mut out, o.payload);
    }
    write::str(&mut out, b"h");
    let n = 2
        + usize::from(o.encoding.is_some())
        + usize::from(o.k.is_some())
        + usize::from(o.i.is_some())
        + usize::from(o.compressed);
    write::map(&mut out, n);
    write::symbol(&mut out, b"iv");
    write::bin(&mut out, &o.iv);
    write::symbol(&mut out, b"at");
    write::bin(&mut out, &o.at);
    if let Some(e) = o.encoding {
        write::symbol(&mut out, b"e");
        write::str(&mut out, e);
    }
    if let Some((payload, iv, at)) = &o.k {
        write::symbol(&mut out, b"k");
        write::map(&mut out, 2);
        write::str(&mut out, b"p");
        write::bin(&mut out, payload);
        write::str(&mut out, b"h");
        write::map(&mut out, 3);
        write::symbol(&mut out, b"iv");
        write::bin(&mut out, iv);
        write::symbol(&mut out, b"at");
        write::bin(&mut out, at);
        write::symbol(&mut out, b"e");
        write::str(&mut out, BINARY);
    }
    if let Some(i) = &o.i {
        write::symbol(&mut out, b"i");
        write::str(&mut out, i);
    }
    if o.compressed {
        write::symbol(&mut out, b"c");
        write::bool(&mut out, true);
    }
    out
}

fn random_iv() -> Result<[u8; IV_LEN]> {
    let mut iv = [0u8; IV_LEN];
    rng::fill_public(&mut iv)?;
    Ok(iv)
}

fn seal(aead: &LcAead, iv: &[u8; IV_LEN], pt: &[u8]) -> Result<(Vec<u8>, [u8; TAG_LEN])> {
    let mut ct = vec![0u8; pt.len()];
    let mut tag = [0u8; TAG_LEN];
    let nonce = aws_lc_rs::aead::Nonce::try_assume_unique_for_key(iv)
        .map_err(|_| Error::Internal("nonce"))?;
    aead.seal_detached(nonce, b"", pt, &mut ct, &mut tag)?;
    Ok((ct, tag))
}

impl Encryptor {
    /// Encrypt `value`, whose Ruby encoding is `encoding` (None: UTF-8).
    ///
    /// A deterministic value is first forced to UTF-8 as Rails does; that is
    /// done here for binary and US-ASCII values, and any other encoding must
    /// be transcoded by the caller.
    pub fn encrypt(
        &self,
        value: &[u8],
        encoding: Option<&[u8]>,
        deterministic: bool,
    ) -> Result<Vec<u8>> {
        let encoding = encoding.filter(|e| !is_utf8_name(e));
        let forced;
        let (value, encoding) = match (deterministic, encoding) {
            (true, Some(e)) if is_binary_name(e) || e.eq_ignore_ascii_case(b"US-ASCII") => {
                forced = force_utf8(value);
                (forced.as_slice(), None)
            }
            (true, Some(_)) => {
                return Err(Error::Invalid(
                    "a deterministic value must be UTF-8, binary or US-ASCII".into(),
                ))
            }
            (_, e) => (value, e),
        };
        let compressed_buf;
        let compressed = self.compress && value.len() > COMPRESS_THRESHOLD;
        let pt: &[u8] = if compressed {
            compressed_buf = deflate(value)?;
            &compressed_buf
        } else {
            value
        };
        let binary_payload = encoding.is_some_and(is_binary_name);
        let refs = self.store_key_references;
        let no_key = || Error::Invalid("this encryptor has no key for that".into());
        if deterministic {
            let key = self.deterministic.as_ref().ok_or_else(no_key)?;
            let mut mac = key.mac.clone();
            mac.update(pt);
            let full = mac.finalize().into_bytes();
            let mut iv = [0u8; IV_LEN];
            iv.copy_from_slice(full.get(..IV_LEN).ok_or(Error::Internal("hmac"))?);
            let (ct, at) = seal(&key.aead, &iv, pt)?;
            return Ok(self.serialize(&Out {
                payload: &ct,
                iv,
                at,
                encoding,
                k: None,
                i: refs.then_some(key.id),
                compressed,
                binary_payload,
            }));
        }
        let provider = self.primary.as_ref().ok_or_else(no_key)?;
        let key = provider.keys.last().ok_or_else(no_key)?;
        let iv = random_iv()?;
        if !provider.envelope {
            let (ct, at) = seal(&key.aead, &iv, pt)?;
            return Ok(self.serialize(&Out {
                payload: &ct,
                iv,
                at,
                encoding,
                k: None,
                i: refs.then_some(key.id),
                compressed,
                binary_payload,
            }));
        }
        // Envelope: a random data key encrypts the value, and the primary key
        // encrypts the data key (a nested message with `e` = ASCII-8BIT).
        let mut dk = Zeroizing::new([0u8; KEY_LEN]);
        rng::fill_data_key(dk.as_mut())?;
        let k_iv = random_iv()?;
        let (k_ct, k_at) = seal(&key.aead, &k_iv, dk.as_ref())?;
        let mut ct = vec![0u8; pt.len()];
        let mut at = [0u8; TAG_LEN];
        if pt.len() <= crate::core::primitives::SMALL_GCM_MAX {
            gcm256_seal_small(&dk, &iv, b"", pt, &mut ct, &mut at)?;
        } else {
            let aead = LcAead::aes_gcm(dk.as_ref())?;
            let nonce = aws_lc_rs::aead::Nonce::try_assume_unique_for_key(&iv)
                .map_err(|_| Error::Internal("nonce"))?;
            aead.seal_detached(nonce, b"", pt, &mut ct, &mut at)?;
        }
        Ok(self.serialize(&Out {
            payload: &ct,
            iv,
            at,
            encoding,
            k: Some((k_ct, k_iv, k_at)),
            i: refs.then_some(key.id),
            compressed,
            binary_payload,
        }))
    }

    fn serialize(&self, o: &Out<'_>) -> Vec<u8> {
        match self.serializer {
            Serializer::Json => write_json(o),
            Serializer::MessagePack => write_msgpack(o),
        }
    }

    /// Decrypt a message in either serialization.
    pub fn decrypt(&self, message: &[u8]) -> Result<Plain> {
        with_parsed(message, |mut m| {
            let data = match self.sole_key(&m) {
                // One key to try: decrypt the decoded payload in place (a
                // canonical message's payload is already a buffer of its own).
                Some(key) => {
                    let payload = std::mem::replace(&mut m.payload, Cow::Borrowed(&[]));
                    let mut data = Zeroizing::new(payload.into_owned());
                    let nonce = aws_lc_rs::aead::Nonce::assume_unique_for_key(m.iv);
                    key.aead
                        .open_in_place_detached(nonce, b"", &m.at, &mut data)?;
                    data
                }
                None => self.open(&m)?,
            };
            let data = if m.compressed {
                inflate(&data, self.max_inflated)?
            } else {
                data
            };
            Ok(Plain {
                data,
                encoding: m.encoding.as_ref().map(|e| e.to_vec()),
            })
        })
    }

    /// The only key decryption would try, when there is exactly one.
    fn sole_key<'s>(&'s self, m: &Parsed<'_>) -> Option<&'s Key> {
        let mut found = None;
        for provider in &self.decrypt {
            if provider.envelope {
                if m.k.is_some() {
                    return None;
                }
                continue;
            }
            for key in &provider.keys {
                let matches = match &m.i {
                    KeyRef::None => true,
                    KeyRef::Id(id) => id.as_ref() == key.id.as_slice(),
                    KeyRef::NoMatch => false,
                };
                if matches {
                    if found.is_some() {
                        return None;
                    }
                    found = Some(key.as_ref());
                }
            }
        }
        found
    }

    fn open(&self, m: &Parsed<'_>) -> Result<Zeroizing<Vec<u8>>> {
        for provider in &self.decrypt {
            if !provider.envelope {
                for key in candidates(&provider.keys, &m.i) {
                    if let Ok(pt) = open_with(&key.aead, m) {
                        return Ok(pt);
                    }
                }
                continue;
            }
            let Some(Ok(wrapped)) = &m.k else {
                continue;
            };
            for key in candidates(&provider.keys, &m.i) {
                if let Ok(dk) = open_with(&key.aead, wrapped) {
                    // The key that opened the envelope decides: Rails tries
                    // no other once the data key is out.
                    return open_with_data_key(&dk, m);
                }
            }
        }
        Err(Error::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(password: &str, salt: &str, digest: Digest) -> Arc<Key> {
        Arc::new(Key::new(&derive_key(password.as_bytes(), salt.as_bytes(), digest)).unwrap())
    }

    fn det_encryptor(digest: Digest) -> Encryptor {
        let k = key(
            "test deterministic key",
            "testing key derivation salt",
            digest,
        );
        Encryptor {
            primary: None,
            deterministic: Some(k.clone()),
            decrypt: vec![Arc::new(Provider {
                envelope: false,
                keys: vec![k],
            })],
            store_key_references: false,
            compress: true,
            serializer: Serializer::Json,
            max_inflated: DEFAULT_MAX_INFLATED,
        }
    }

    #[test]
    fn rails_test_suite_vector() {
        // encryptable_record_test.rb, "deterministic ciphertexts remain constant" (SHA-1).
        let e = det_encryptor(Digest::Sha1);
        let want =
            r#"{"p":"DIohhw==","h":{"iv":"wEPaDcJP3VNIxaiz","at":"X7+2xvvcu1k1if6Dy28Esw=="}}"#;
        assert_eq!(e.encrypt(b"Dune", None, true).unwrap(), want.as_bytes());
        let plain = e.decrypt(want.as_bytes()).unwrap();
        assert_eq!(plain.data.as_slice(), b"Dune");
        assert_eq!(plain.encoding, None);
        // With SHA-256 the IV differs.
        let e256 = det_encryptor(Digest::Sha256);
        let out = String::from_utf8(e256.encrypt(b"Dune", None, true).unwrap()).unwrap();
        assert!(out.contains(r#""iv":"kfbFGCd8hLihylB4""#), "{out}");
        assert!(e256.decrypt(want.as_bytes()).is_err());
    }

    #[test]
    fn inflate_is_bounded() {
        let big = vec![b'a'; 1 << 20];
        let z = deflate(&big).unwrap();
        assert_eq!(inflate(&z, 1 << 20).unwrap().as_slice(), big.as_slice());
        assert!(inflate(&z, (1 << 20) - 1).is_err());
        assert!(inflate(&z[..z.len() - 1], 1 << 21).is_err());
        let mut extra = z.clone();
        extra.push(0);
        assert!(inflate(&extra, 1 << 21).is_err());
        assert!(inflate(b"not zlib", 1 << 21).is_err());
        assert_eq!(inflate(&deflate(b"").unwrap(), 0).unwrap().len(), 0);
    }

    #[test]
    fn strict_base64_agrees_with_the_base64_crate() {
        // Ruby's strict_decode64 and the base64 crate's padded engine refuse
        // the same texts: bad characters, missing padding, non-zero unused bits.
        let alphabet = b"ABab09+/=-_ \n";
        let mut seed = 0x1234_5678_u32;
        for len in 0..14 {
            for _ in 0..3000 {
                let text: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        alphabet[(seed as usize) % alphabet.len()]
                    })
                    .collect();
                let mut ours = Vec::new();
                let ok = strict_b64_decode_into(&text, &mut ours).is_some();
                match B64.decode(&text) {
                    Ok(theirs) => assert!(ok && ours == theirs, "{text:?}"),
                    Err(_) => assert!(!ok, "{text:?}"),
                }
            }
        }
        for bytes in 0..40usize {
            let data: Vec<u8> = (0..bytes as u8).map(|b| b.wrapping_mul(37)).collect();
            let mut out = Vec::new();
            strict_b64_decode_into(B64.encode(&data).as_bytes(), &mut out).unwrap();
            assert_eq!(out, data);
        }
        assert!(decode_fixed::<12>(b"wEPaDcJP3VNIxaiz").is_some());
        assert!(decode_fixed::<12>(b"X7+2xvvcu1k1if6Dy28Esw==").is_none());
    }

    #[test]
    fn key_ids_and_forcing() {
        let k = key("a", "b", Digest::Sha256);
        assert!(k
            .id()
            .iter()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(force_utf8(b"a\xffb"), "a\u{fffd}b".as_bytes());
    }
}
