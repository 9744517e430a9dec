//! Blind indexes: keyed hashes of values, kept in their own column, so that rows
//! can be found by an encrypted value without decrypting the table.
//!
//! A `BlindIndexer` holds one or more index-key *versions* (one active) and an
//! algorithm: HMAC-SHA256 (fast), or a slow one (Argon2id, Argon2i,
//! PBKDF2-HMAC-SHA256, scrypt) whose salt is the hash key, as the blind_index
//! gem and CipherSweet do. The hash key is derived from the index key under a
//! label of its own (`hash_key`), so an index never computes what a Box
//! computes under the same key bytes. The hash of `length` bytes is truncated
//! to `bits` and written raw, as base64 or as hex. Several versions at once let
//! lookups match rows indexed under an old key while a re-index job runs.
//!
//! All primitives come from RustCrypto (`hmac`, `sha2`, `hkdf`, `pbkdf2`,
//! `argon2`, `scrypt`); nothing here implements one.

use std::ops::Range;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::Mac;
use rayon::prelude::*;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::core::batch::{pool, zeroed, Items};
use crate::core::error::{Error, Result};
use crate::core::keys::{self, prf_key, SecretKey, KEY_LEN};
use crate::core::primitives::{scrypt_log_n, scrypt_params, Argon2Variant, MAX_ARGON2_KIB};

/// The longest hash an index may keep before truncation.
pub const MAX_LENGTH: usize = 64;
/// The HKDF salt of `derive_index_key` (see docs/search.md).
const MASTER_KEY_SALT: &[u8] = b"sealbox/v1/blind-index";

/// OWASP's minimum configurations (Password Storage Cheat Sheet). A cost is
/// accepted without an opt-in when it reaches one row in every parameter.
pub mod owasp {
    /// Argon2id: (m in KiB, t), any p.
    pub const ARGON2ID: [(u32, u32); 5] = [
        (47_104, 1),
        (19_456, 2),
        (12_288, 3),
        (9_216, 4),
        (7_168, 5),
    ];
    /// Argon2i: the same rows from t = 3 on; with fewer passes Argon2i is open
    /// to time-memory trade-offs (libsodium refuses t < 3 for it).
    pub const ARGON2I: [(u32, u32); 3] = [(12_288, 3), (9_216, 4), (7_168, 5)];
    pub const PBKDF2_SHA256_ITERATIONS: u32 = 600_000;
    /// scrypt: (log2 N, p), with r at least `SCRYPT_R`.
    pub const SCRYPT: [(u8, u32); 5] = [(17, 1), (16, 2), (15, 3), (14, 5), (13, 10)];
    pub const SCRYPT_R: u32 = 8;
}

/// A blind-index hash function and its cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// HMAC-SHA256 keyed with the index key.
    HmacSha256,
    /// Argon2 (version 0x13): `t` passes over `m` KiB in `p` lanes; salt = index key.
    Argon2 {
        variant: Argon2Variant,
        t: u32,
        m: u32,
        p: u32,
    },
    /// PBKDF2-HMAC-SHA256 with `iterations`; salt = index key.
    Pbkdf2Sha256 { iterations: u32 },
    /// scrypt with N = 2^`log_n`, `r`, `p`; salt = index key.
    Scrypt { log_n: u8, r: u32, p: u32 },
}

/// The cost parameters a caller may give; each algorithm takes some of them
/// and has defaults for those it takes.
#[derive(Clone, Copy, Debug, Default)]
pub struct CostParams {
    pub t: Option<u32>,
    pub m: Option<u32>,
    pub p: Option<u32>,
    pub iterations: Option<u32>,
    pub n: Option<u64>,
    pub r: Option<u32>,
}

/// Why `Algorithm::choose` refused a choice.
#[derive(Debug, PartialEq, Eq)]
pub enum AlgorithmChoice {
    /// A parameter the algorithm does not take was given (its name).
    NotApplicable(&'static str),
    /// No algorithm has this name.
    Unknown,
    /// A parameter's value is refused.
    Invalid(Error),
}

impl Algorithm {
    /// The algorithm `name` with the given cost parameters, and OWASP's
    /// minimums for the others: Argon2id t = 2, m = 19,456 KiB, p = 1; Argon2i
    /// t = 3, m = 12,288 KiB, p = 1; PBKDF2 600,000 iterations; scrypt N = 2^17,
    /// r = 8, p = 1. A cost below every OWASP configuration (`owasp`) is
    /// refused unless `allow_weak`.
    pub fn choose(
        name: &str,
        c: CostParams,
        allow_weak: bool,
    ) -> std::result::Result<Self, AlgorithmChoice> {
        let given = [
            ("t", c.t.is_some()),
            ("m", c.m.is_some()),
            ("p", c.p.is_some()),
            ("iterations", c.iterations.is_some()),
            ("n", c.n.is_some()),
            ("r", c.r.is_some()),
        ];
        let takes: &[&str] = match name {
            "hmac-sha256" => &[],
            "argon2id" | "argon2i" => &["t", "m", "p"],
            "pbkdf2-sha256" => &["iterations"],
            "scrypt" => &["n", "r", "p"],
            _ => return Err(AlgorithmChoice::Unknown),
        };
        if let Some((param, _)) = given.iter().find(|(p, g)| *g && !takes.contains(p)) {
            return Err(AlgorithmChoice::NotApplicable(param));
        }
        let argon2 = |variant, (m, t): (u32, u32)| Algorithm::Argon2 {
            variant,
            t: c.t.unwrap_or(t),
            m: c.m.unwrap_or(m),
            p: c.p.unwrap_or(1),
        };
        let algorithm = match name {
            "argon2id" => argon2(Argon2Variant::Argon2id, (19_456, 2)),
            "argon2i" => argon2(Argon2Variant::Argon2i, (12_288, 3)),
            "pbkdf2-sha256" => Algorithm::Pbkdf2Sha256 {
                iterations: c.iterations.unwrap_or(owasp::PBKDF2_SHA256_ITERATIONS),
            },
            "scrypt" => Algorithm::Scrypt {
                log_n: scrypt_log_n(c.n.unwrap_or(1 << 17)).map_err(AlgorithmChoice::Invalid)?,
                r: c.r.unwrap_or(owasp::SCRYPT_R),
                p: c.p.unwrap_or(1),
            },
            _ => Algorithm::HmacSha256,
        };
        algorithm.validate().map_err(AlgorithmChoice::Invalid)?;
        match algorithm.weakness() {
            Some(why) if !allow_weak => Err(AlgorithmChoice::Invalid(Error::Invalid(format!(
                "{why}; pass allow_weak=True to accept it (to reproduce an existing index, or in tests)"
            )))),
            _ => Ok(algorithm),
        }
    }

    /// Refuse parameters the algorithm cannot run with.
    fn validate(&self) -> Result<()> {
        match *self {
            Algorithm::HmacSha256 => Ok(()),
            Algorithm::Argon2 { t, m, p, .. } => {
                if t < 1 {
                    return Err(invalid("argon2 t (passes) must be at least 1"));
                }
                if !(1..=argon2::Params::MAX_P_COST).contains(&p) {
                    return Err(invalid(format!(
                        "argon2 p (lanes) must be between 1 and {}, got {p}",
                        argon2::Params::MAX_P_COST
                    )));
                }
                if m < 8 * p || m > MAX_ARGON2_KIB {
                    return Err(invalid(format!(
                        "argon2 m (memory in KiB) must be between 8 * p and {MAX_ARGON2_KIB}, got {m}"
                    )));
                }
                Ok(())
            }
            Algorithm::Pbkdf2Sha256 { iterations } => {
                if iterations < 1 {
                    return Err(invalid("pbkdf2 iterations must be at least 1"));
                }
                Ok(())
            }
            Algorithm::Scrypt { log_n, r, p } => scrypt_params(log_n, r, p).map(|_| ()),
        }
    }

    /// Why this cost is below every OWASP minimum configuration, or None.
    pub fn weakness(&self) -> Option<String> {
        match *self {
            Algorithm::HmacSha256 => None,
            Algorithm::Argon2 { variant, t, m, .. } => {
                let rows: &[(u32, u32)] = match variant {
                    Argon2Variant::Argon2id => &owasp::ARGON2ID,
                    Argon2Variant::Argon2i => &owasp::ARGON2I,
                };
                if rows.iter().any(|&(min_m, min_t)| m >= min_m && t >= min_t) {
                    return None;
                }
                let options: Vec<String> = rows
                    .iter()
                    .map(|(min_m, min_t)| format!("m >= {min_m} with t >= {min_t}"))
                    .collect();
                Some(format!(
                    "{} with t={t}, m={m} KiB is below OWASP's minimums ({})",
                    self.name(),
                    options.join(", or ")
                ))
            }
            Algorithm::Pbkdf2Sha256 { iterations } => {
                (iterations < owasp::PBKDF2_SHA256_ITERATIONS).then(|| {
                    format!(
                        "pbkdf2-sha256 with {iterations} iterations is below OWASP's minimum of {}",
                        owasp::PBKDF2_SHA256_ITERATIONS
                    )
                })
            }
            Algorithm::Scrypt { log_n, r, p } => {
                let strong = r >= owasp::SCRYPT_R
                    && owasp::SCRYPT
                        .iter()
                        .any(|&(min_log_n, min_p)| log_n >= min_log_n && p >= min_p);
                if strong {
                    return None;
                }
                let options: Vec<String> = owasp::SCRYPT
                    .iter()
                    .map(|(min_log_n, min_p)| format!("n >= 2**{min_log_n} with p >= {min_p}"))
                    .collect();
                Some(format!(
                    "scrypt with n=2**{log_n}, r={r}, p={p} is below OWASP's minimums (r >= {} and {})",
                    owasp::SCRYPT_R,
                    options.join(", or ")
                ))
            }
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::Argon2 {
                variant: Argon2Variant::Argon2id,
                ..
            } => "argon2id",
            Algorithm::Argon2 {
                variant: Argon2Variant::Argon2i,
                ..
            } => "argon2i",
            Algorithm::Pbkdf2Sha256 { .. } => "pbkdf2-sha256",
            Algorithm::Scrypt { .. } => "scrypt",
        }
    }

    /// Slow algorithms take milliseconds per value: they run with the GIL
    /// released and in small parallel batches.
    pub fn is_slow(&self) -> bool {
        !matches!(self, Algorithm::HmacSha256)
    }

    /// The shortest hash the algorithm can produce.
    fn min_length(&self) -> usize {
        match self {
            Algorithm::Argon2 { .. } => argon2::Params::MIN_OUTPUT_LEN,
            _ => 1,
        }
    }

    fn max_length(&self) -> usize {
        match self {
            Algorithm::HmacSha256 => 32,
            _ => MAX_LENGTH,
        }
    }
}

/// How index values are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputEncoding {
    /// The bytes themselves.
    Raw,
    /// Standard base64 with padding (as the gem's `strict_encode64`).
    Base64,
    /// Lower-case hex.
    Hex,
}

impl OutputEncoding {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "raw" => Some(Self::Raw),
            "base64" => Some(Self::Base64),
            "hex" => Some(Self::Hex),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Base64 => "base64",
            Self::Hex => "hex",
        }
    }

    fn encoded_len(&self, raw: usize) -> usize {
        match self {
            Self::Raw => raw,
            Self::Base64 => raw.div_ceil(3) * 4,
            Self::Hex => raw * 2,
        }
    }

    fn encode_into(&self, raw: &[u8], out: &mut [u8]) -> Result<()> {
        let wrong = || Error::Invalid("index output buffer has the wrong length".into());
        if out.len() != self.encoded_len(raw.len()) {
            return Err(wrong());
        }
        match self {
            Self::Raw => out.copy_from_slice(raw),
            Self::Base64 => {
                STANDARD.encode_slice(raw, out).map_err(|_| wrong())?;
            }
            Self::Hex => {
                let digit = |n: u8| if n < 10 { b'0' + n } else { b'a' + n - 10 };
                for (pair, b) in out.chunks_exact_mut(2).zip(raw) {
                    if let [hi, lo] = pair {
                        *hi = digit(b >> 4);
                        *lo = digit(b & 0x0f);
                    }
                }
            }
        }
        Ok(())
    }
}

/// `LE32(count) || for each piece: LE64(len) || piece`: an encoding of a list
/// of byte strings that no other list shares (the gem's and CipherSweet's `pack`).
pub fn pack(pieces: &[&[u8]]) -> Vec<u8> {
    let len = 4 + pieces.iter().map(|p| 8 + p.len()).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&(pieces.len() as u32).to_le_bytes());
    for p in pieces {
        out.extend_from_slice(&(p.len() as u64).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

pub(crate) fn require_name(what: &str, value: &[u8]) -> Result<()> {
    if value.is_empty() {
        return Err(Error::Invalid(format!("{what} must not be empty")));
    }
    Ok(())
}

/// sealbox's index key for one (table, column, index):
/// `HKDF-SHA256(ikm = master, salt = "sealbox/v1/blind-index", info = pack([table, column, index]), 32)`.
/// The index then hashes under `hash_key` of it, like any index key given as is.
pub fn derive_index_key(
    master: &SecretKey,
    table: &[u8],
    column: &[u8],
    index: &[u8],
) -> Result<SecretKey> {
    require_name("table", table)?;
    require_name("column", column)?;
    require_name("index", index)?;
    let info = pack(&[table, column, index]);
    let hk = hkdf::Hkdf::<Sha256>::new(Some(MASTER_KEY_SALT), master.expose());
    let mut okm = Zeroizing::new([0u8; KEY_LEN]);
    hk.expand(&info, okm.as_mut())
        .map_err(|_| Error::Invalid("HKDF output too long".into()))?;
    SecretKey::from_slice(okm.as_ref())
}

/// The key an index hashes with, derived from the index key `K` it is given:
/// `PRF(K, "sealbox/v1/blind-index/key", algorithm name)` (docs/search.md). No
/// Box input starts with that label, so index values, even of chosen values
/// under the bytes of a Box key, reveal no key a Box derives; the name keeps one
/// key's indexes under different algorithms apart.
pub fn hash_key(key: &SecretKey, algorithm: Algorithm) -> Result<SecretKey> {
    prf_key(
        key,
        keys::label::BLIND_INDEX_KEY,
        &[algorithm.name().as_bytes()],
    )
}

/// How an index turns the keys it is given into the keys it hashes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keying {
    /// sealbox's own indexes: `hash_key` of each key.
    Separated,
    /// Keys another library derived for this one index, used as they are so
    /// that its stored values match (the blind_index gem's, `compat`).
    AsDerived,
}

type HmacSha256Reset = hmac::HmacReset<Sha256>;

/// One index-key version, expanded once.
struct VersionKey {
    version: u32,
    /// The hash key: HMAC's key, the slow algorithms' salt.
    key: SecretKey,
    mac: HmacSha256Reset,
}

/// Per-worker state, reused across the values one worker hashes: a keyed HMAC
/// (reset after each value rather than cloned) and Argon2's memory, wiped when
/// dropped.
pub struct Scratch {
    blocks: Vec<argon2::Block>,
    mac: Option<(usize, HmacSha256Reset)>,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Wipe, then hand the memory back to this thread for its next values:
        // a fresh 4 MiB costs page faults on every call, as much as 15 % of a hash.
        let mut blocks = std::mem::take(&mut self.blocks);
        blocks.iter_mut().for_each(Zeroize::zeroize);
        if !blocks.is_empty() && blocks.len() <= KEEP_BLOCKS {
            ARGON2_MEMORY.with(|cell| {
                if let Ok(mut kept) = cell.try_borrow_mut() {
                    if kept.len() < blocks.len() {
                        *kept = blocks;
                    }
                }
            });
        }
    }
}

/// Argon2 memory kept per thread between calls (wiped), at most 64 MiB.
const KEEP_BLOCKS: usize = 64 * 1024;

thread_local! {
    static ARGON2_MEMORY: std::cell::RefCell<Vec<argon2::Block>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// A blind index: algorithm, output shape, and its key versions.
pub struct BlindIndexer {
    algorithm: Algorithm,
    argon2: Option<argon2::Argon2<'static>>,
    scrypt: Option<scrypt::Params>,
    length: usize,
    bits: u32,
    encoding: OutputEncoding,
    /// Ascending by version.
    versions: Vec<VersionKey>,
    active: usize,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

impl BlindIndexer {
    /// `keys` are (version, key) pairs, hashed with as `keying` says; `length`
    /// is the hash length in bytes before truncation (default 32), `bits` the
    /// bits kept (default all).
    pub fn new(
        algorithm: Algorithm,
        keys: Vec<(u32, SecretKey)>,
        keying: Keying,
        active: u32,
        length: Option<usize>,
        bits: Option<u32>,
        encoding: OutputEncoding,
    ) -> Result<Self> {
        let length = length.unwrap_or(32);
        let (lo, hi) = (algorithm.min_length(), algorithm.max_length());
        if !(lo..=hi).contains(&length) {
            return Err(invalid(format!(
                "length must be between {lo} and {hi} bytes for {}, got {length}",
                algorithm.name()
            )));
        }
        let max_bits = (length * 8) as u32;
        let bits = bits.unwrap_or(max_bits);
        if !(1..=max_bits).contains(&bits) {
            return Err(invalid(format!(
                "bits must be between 1 and {max_bits} (the hash length in bits), got {bits}"
            )));
        }
        let (argon2, scrypt) = Self::check_cost(algorithm, length)?;
        if keys.is_empty() {
            return Err(invalid("a blind index needs at least one key"));
        }
        let mut versions = Vec::with_capacity(keys.len());
        for (version, key) in keys {
            let key = match keying {
                Keying::Separated => hash_key(&key, algorithm)?,
                Keying::AsDerived => key,
            };
            let mac = <HmacSha256Reset as hmac::KeyInit>::new_from_slice(key.expose())
                .map_err(|_| invalid("invalid key"))?;
            versions.push(VersionKey { version, key, mac });
        }
        versions.sort_by_key(|v| v.version);
        if versions
            .windows(2)
            .any(|w| matches!(w, [a, b] if a.version == b.version))
        {
            return Err(invalid("a key version appears twice"));
        }
        let active = versions
            .iter()
            .position(|v| v.version == active)
            .ok_or_else(|| invalid(format!("active version {active} has no key")))?;
        Ok(Self {
            algorithm,
            argon2,
            scrypt,
            length,
            bits,
            encoding,
            versions,
            active,
        })
    }

    fn check_cost(
        algorithm: Algorithm,
        length: usize,
    ) -> Result<(Option<argon2::Argon2<'static>>, Option<scrypt::Params>)> {
        algorithm.validate()?;
        match algorithm {
            Algorithm::HmacSha256 | Algorithm::Pbkdf2Sha256 { .. } => Ok((None, None)),
            Algorithm::Argon2 { variant, t, m, p } => {
                let params = argon2::Params::new(m, t, p, Some(length))
                    .map_err(|e| invalid(format!("invalid argon2 parameters: {e}")))?;
                let alg = match variant {
                    Argon2Variant::Argon2id => argon2::Algorithm::Argon2id,
                    Argon2Variant::Argon2i => argon2::Algorithm::Argon2i,
                };
                Ok((
                    Some(argon2::Argon2::new(alg, argon2::Version::V0x13, params)),
                    None,
                ))
            }
            Algorithm::Scrypt { log_n, r, p } => Ok((None, Some(scrypt_params(log_n, r, p)?))),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn bits(&self) -> u32 {
        self.bits
    }

    pub fn length(&self) -> usize {
        self.length
    }

    pub fn encoding(&self) -> OutputEncoding {
        self.encoding
    }

    /// Bytes of one truncated hash, before encoding.
    pub fn raw_len(&self) -> usize {
        (self.bits as usize).div_ceil(8)
    }

    /// Bytes of one index value as written (raw, base64 or hex).
    pub fn out_len(&self) -> usize {
        self.encoding.encoded_len(self.raw_len())
    }

    /// Every version, ascending.
    pub fn versions(&self) -> impl Iterator<Item = u32> + '_ {
        self.versions.iter().map(|v| v.version)
    }

    pub fn active_version(&self) -> u32 {
        self.versions
            .get(self.active)
            .map(|v| v.version)
            .unwrap_or_default()
    }

    /// The position of `version` (None: the active one).
    pub fn slot(&self, version: Option<u32>) -> Result<usize> {
        match version {
            None => Ok(self.active),
            Some(want) => self
                .versions
                .iter()
                .position(|v| v.version == want)
                .ok_or_else(|| invalid(format!("this index has no key version {want}"))),
        }
    }

    /// Memory one worker needs (Argon2's blocks; nothing for the others).
    pub fn scratch(&self) -> Result<Scratch> {
        let count = match &self.argon2 {
            Some(a) => a.params().block_count(),
            None => 0,
        };
        if count == 0 {
            return Ok(Scratch {
                blocks: Vec::new(),
                mac: None,
            });
        }
        let mut blocks = ARGON2_MEMORY
            .with(|cell| {
                cell.try_borrow_mut()
                    .map(|mut kept| std::mem::take(&mut *kept))
            })
            .unwrap_or_default();
        if blocks.len() < count {
            blocks.clear();
            blocks
                .try_reserve_exact(count)
                .map_err(|_| invalid("not enough memory for the argon2 parameters"))?;
            blocks.resize(count, argon2::Block::default());
        }
        Ok(Scratch { blocks, mac: None })
    }

    /// Hash `value` under the key at `slot` into `out` (`out_len()` bytes).
    pub fn compute_into(
        &self,
        slot: usize,
        value: &[u8],
        out: &mut [u8],
        scratch: &mut Scratch,
    ) -> Result<()> {
        let vk = self
            .versions
            .get(slot)
            .ok_or_else(|| invalid("no such key version"))?;
        if self.algorithm == Algorithm::HmacSha256
            && self.encoding == OutputEncoding::Raw
            && self.bits == 256
            && out.len() == 32
        {
            // The common case, straight into the output.
            let mac = match &mut scratch.mac {
                Some((s, mac)) if *s == slot => mac,
                other => &mut other.insert((slot, vk.mac.clone())).1,
            };
            mac.update(value);
            let tag = mac.finalize_reset().into_bytes();
            out.copy_from_slice(&tag);
            return Ok(());
        }
        // The hash is the index value itself, stored in the clear: no need to wipe it.
        let mut full = [0u8; MAX_LENGTH];
        let hash = full
            .get_mut(..self.length)
            .ok_or_else(|| invalid("length out of range"))?;
        match self.algorithm {
            Algorithm::HmacSha256 => {
                let mac = match &mut scratch.mac {
                    Some((s, mac)) if *s == slot => mac,
                    other => &mut other.insert((slot, vk.mac.clone())).1,
                };
                mac.update(value);
                let tag = mac.finalize_reset().into_bytes();
                let src = tag
                    .get(..hash.len())
                    .ok_or_else(|| invalid("length out of range"))?;
                hash.copy_from_slice(src);
            }
            Algorithm::Argon2 { .. } => {
                let a = self
                    .argon2
                    .as_ref()
                    .ok_or_else(|| invalid("argon2 parameters missing"))?;
                a.hash_password_into_with_memory(
                    value,
                    vk.key.expose(),
                    hash,
                    scratch.blocks.as_mut_slice(),
                )
                .map_err(|e| invalid(format!("argon2 failed: {e}")))?;
            }
            Algorithm::Pbkdf2Sha256 { iterations } => {
                pbkdf2::pbkdf2_hmac::<Sha256>(value, vk.key.expose(), iterations, hash);
            }
            Algorithm::Scrypt { .. } => {
                let params = self
                    .scrypt
                    .as_ref()
                    .ok_or_else(|| invalid("scrypt parameters missing"))?;
                scrypt::scrypt(value, vk.key.expose(), params, hash)
                    .map_err(|_| invalid("invalid scrypt output length"))?;
            }
        }
        let raw = hash
            .get_mut(..self.raw_len())
            .ok_or_else(|| invalid("bits out of range"))?;
        let partial = self.bits % 8;
        if partial != 0 {
            if let Some(last) = raw.last_mut() {
                *last &= 0xffu8 << (8 - partial);
            }
        }
        self.encoding.encode_into(raw, out)
    }

    /// One index value under `version` (None: the active version).
    pub fn compute(&self, version: Option<u32>, value: &[u8]) -> Result<Vec<u8>> {
        let slot = self.slot(version)?;
        let mut out = vec![0u8; self.out_len()];
        self.compute_into(slot, value, &mut out, &mut self.scratch()?)?;
        Ok(out)
    }

    /// The index value under every version, the active one first, then the
    /// others by ascending version: the `IN (...)` list of a lookup.
    pub fn lookup_values(&self, value: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mut scratch = self.scratch()?;
        let order = std::iter::once(self.active)
            .chain((0..self.versions.len()).filter(|&i| i != self.active));
        order
            .map(|slot| {
                let mut out = vec![0u8; self.out_len()];
                self.compute_into(slot, value, &mut out, &mut scratch)?;
                Ok(out)
            })
            .collect()
    }

    /// Hash items `range` under the key at `slot`, in parallel, into one buffer
    /// of `range.len() * out_len()` bytes. Items marked in `nulls` are skipped
    /// (their slots stay zero).
    pub fn compute_batch(
        &self,
        slot: usize,
        items: &dyn Items,
        nulls: Option<&[bool]>,
        range: Range<usize>,
        threads: Option<usize>,
    ) -> Result<Vec<u8>> {
        let width = self.out_len();
        let n = range.len();
        let total = n
            .checked_mul(width)
            .ok_or_else(|| invalid("batch output is too large"))?;
        let mut out = zeroed(total, threads)?;
        let start = range.start;
        let work = |scratch: &mut Scratch, (k, slot_out): (usize, &mut [u8])| -> Result<()> {
            let i = start + k;
            if nulls.and_then(|m| m.get(i).copied()).unwrap_or(false) {
                return Ok(());
            }
            self.compute_into(slot, items.get(i), slot_out, scratch)
        };
        let (min_parallel, min_len) = if self.algorithm.is_slow() {
            (2, 1)
        } else {
            (PARALLEL_MIN_FAST, 1024)
        };
        if n < min_parallel {
            let mut scratch = self.scratch()?;
            for pair in out.chunks_exact_mut(width).enumerate() {
                work(&mut scratch, pair)?;
            }
        } else {
            pool(threads)?.install(|| {
                out.par_chunks_exact_mut(width)
                    .enumerate()
                    .with_min_len(min_len)
                    .try_for_each_init(
                        || self.scratch(),
                        |scratch, pair| {
                            let scratch = scratch.as_mut().map_err(|e| e.clone())?;
                            work(scratch, pair)
                        },
                    )
            })?;
        }
        Ok(out)
    }
}

/// Below this many items a fast (HMAC) batch runs on the calling thread.
const PARALLEL_MIN_FAST: usize = 4096;

/// Items per chunk of a batch: ~65k HMACs, or enough slow hashes to keep every
/// core busy for a moment while staying responsive to Ctrl-C.
pub fn chunk_items(algorithm: Algorithm) -> usize {
    if algorithm.is_slow() {
        64
    } else {
        65_536
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::core::primitives::hmac_sha256;

    fn key(b: u8) -> SecretKey {
        SecretKey::from_slice(&[b; 32]).unwrap()
    }

    /// docs/search.md's hash key, written out.
    fn hash_key_of(b: u8, algorithm: &str) -> [u8; 32] {
        let mut input = b"sealbox/v1/blind-index/key\0".to_vec();
        input.extend_from_slice(algorithm.as_bytes());
        hmac_sha256(&[b; 32], &input)
    }

    fn hmac_index(bits: Option<u32>, enc: OutputEncoding) -> BlindIndexer {
        BlindIndexer::new(
            Algorithm::HmacSha256,
            vec![(1, key(7))],
            Keying::Separated,
            1,
            None,
            bits,
            enc,
        )
        .unwrap()
    }

    #[test]
    fn hmac_is_keyed_with_the_hash_key_and_truncates() {
        let full = hmac_index(None, OutputEncoding::Raw);
        let want = hmac_sha256(&hash_key_of(7, "hmac-sha256"), b"alice");
        assert_eq!(full.compute(None, b"alice").unwrap(), want.to_vec());
        let t = hmac_index(Some(12), OutputEncoding::Raw);
        let got = t.compute(None, b"alice").unwrap();
        assert_eq!(got, vec![want[0], want[1] & 0xf0]);
        let hex = hmac_index(Some(16), OutputEncoding::Hex);
        assert_eq!(
            hex.compute(None, b"alice").unwrap(),
            hex::encode(&want[..2]).into_bytes()
        );
        let b64 = hmac_index(None, OutputEncoding::Base64);
        assert_eq!(
            b64.compute(None, b"alice").unwrap(),
            STANDARD.encode(want).into_bytes()
        );
    }

    #[test]
    fn shapes_are_checked() {
        let mk = |alg, len, bits| {
            BlindIndexer::new(
                alg,
                vec![(1, key(1))],
                Keying::Separated,
                1,
                len,
                bits,
                OutputEncoding::Raw,
            )
        };
        assert!(mk(Algorithm::HmacSha256, Some(33), None).is_err());
        assert!(mk(Algorithm::HmacSha256, None, Some(0)).is_err());
        assert!(mk(Algorithm::HmacSha256, None, Some(257)).is_err());
        let argon = Algorithm::Argon2 {
            variant: Argon2Variant::Argon2id,
            t: 1,
            m: 8,
            p: 1,
        };
        assert!(mk(argon, Some(3), None).is_err());
        assert!(mk(argon, Some(4), None).is_ok());
        assert!(mk(
            Algorithm::Scrypt {
                log_n: 0,
                r: 8,
                p: 1
            },
            None,
            None
        )
        .is_err());
        assert!(mk(
            Algorithm::Scrypt {
                log_n: 30,
                r: 8,
                p: 1
            },
            None,
            None
        )
        .is_err());
        assert!(mk(Algorithm::Pbkdf2Sha256 { iterations: 0 }, None, None).is_err());
        assert!(BlindIndexer::new(
            Algorithm::HmacSha256,
            vec![(1, key(1)), (1, key(2))],
            Keying::Separated,
            1,
            None,
            None,
            OutputEncoding::Raw
        )
        .is_err());
    }

    #[test]
    fn versions_and_lookup_values() {
        let idx = BlindIndexer::new(
            Algorithm::HmacSha256,
            vec![(2, key(2)), (1, key(1)), (3, key(3))],
            Keying::Separated,
            2,
            None,
            None,
            OutputEncoding::Raw,
        )
        .unwrap();
        assert_eq!(idx.versions().collect::<Vec<_>>(), vec![1, 2, 3]);
        let all = idx.lookup_values(b"v").unwrap();
        let under = |b: u8| hmac_sha256(&hash_key_of(b, "hmac-sha256"), b"v").to_vec();
        assert_eq!(all, vec![under(2), under(1), under(3)]);
        assert_eq!(idx.compute(Some(3), b"v").unwrap(), under(3));
        assert!(idx.compute(Some(9), b"v").is_err());
    }

    #[test]
    fn batch_equals_one_at_a_time() {
        let idx = hmac_index(Some(100), OutputEncoding::Base64);
        let values: Vec<Vec<u8>> = (0..10_000u32).map(|i| i.to_le_bytes().to_vec()).collect();
        let nulls: Vec<bool> = (0..10_000).map(|i| i % 7 == 0).collect();
        let out = idx
            .compute_batch(0, &values, Some(&nulls), 100..10_000, Some(2))
            .unwrap();
        let w = idx.out_len();
        for (k, chunk) in out.chunks(w).enumerate() {
            let i = 100 + k;
            if nulls[i] {
                assert!(chunk.iter().all(|b| *b == 0));
            } else {
                assert_eq!(chunk, idx.compute(None, &values[i]).unwrap().as_slice());
            }
        }
    }

    #[test]
    fn slow_batch_equals_one_at_a_time() {
        let idx = BlindIndexer::new(
            Algorithm::Argon2 {
                variant: Argon2Variant::Argon2id,
                t: 1,
                m: 64,
                p: 1,
            },
            vec![(1, key(9))],
            Keying::Separated,
            1,
            None,
            None,
            OutputEncoding::Raw,
        )
        .unwrap();
        let values: Vec<Vec<u8>> = (0..40u32).map(|i| i.to_le_bytes().to_vec()).collect();
        let out = idx.compute_batch(0, &values, None, 0..40, Some(2)).unwrap();
        for (k, chunk) in out.chunks(32).enumerate() {
            assert_eq!(chunk, idx.compute(None, &values[k]).unwrap().as_slice());
        }
    }

    #[test]
    fn algorithm_choice_defaults_and_refusals() {
        let none = CostParams::default();
        let strong = |name, c| Algorithm::choose(name, c, false);
        assert_eq!(
            strong("argon2id", none),
            Ok(Algorithm::Argon2 {
                variant: Argon2Variant::Argon2id,
                t: 2,
                m: 19_456,
                p: 1
            })
        );
        assert_eq!(
            strong("argon2i", none),
            Ok(Algorithm::Argon2 {
                variant: Argon2Variant::Argon2i,
                t: 3,
                m: 12_288,
                p: 1
            })
        );
        assert_eq!(
            strong("scrypt", none),
            Ok(Algorithm::Scrypt {
                log_n: 17,
                r: 8,
                p: 1
            })
        );
        assert_eq!(
            Algorithm::choose(
                "scrypt",
                CostParams {
                    n: Some(1024),
                    ..none
                },
                true
            ),
            Ok(Algorithm::Scrypt {
                log_n: 10,
                r: 8,
                p: 1
            })
        );
        assert_eq!(
            strong("pbkdf2-sha256", none),
            Ok(Algorithm::Pbkdf2Sha256 {
                iterations: 600_000
            })
        );
        assert_eq!(
            strong("hmac-sha256", CostParams { t: Some(1), ..none }),
            Err(AlgorithmChoice::NotApplicable("t"))
        );
        assert_eq!(
            strong("pbkdf2-sha256", CostParams { r: Some(1), ..none }),
            Err(AlgorithmChoice::NotApplicable("r"))
        );
        assert_eq!(strong("md5", none), Err(AlgorithmChoice::Unknown));
        assert!(matches!(
            strong(
                "scrypt",
                CostParams {
                    n: Some(1000),
                    ..none
                }
            ),
            Err(AlgorithmChoice::Invalid(_))
        ));
        // A parameter that cannot run is refused as such, even with allow_weak.
        let t0 = CostParams { t: Some(0), ..none };
        for allow_weak in [false, true] {
            match Algorithm::choose("argon2id", t0, allow_weak) {
                Err(AlgorithmChoice::Invalid(Error::Invalid(why))) => {
                    assert!(why.contains("at least 1"), "{why}")
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn costs_below_owasp_need_allow_weak() {
        let c = |t, m, p, iterations, n, r| CostParams {
            t,
            m,
            p,
            iterations,
            n,
            r,
        };
        let weak = [
            ("argon2id", c(Some(3), Some(4096), None, None, None, None)),
            ("argon2id", c(Some(1), Some(47_103), None, None, None, None)),
            ("argon2id", c(Some(2), Some(19_455), None, None, None, None)),
            (
                "argon2id",
                c(Some(4), Some(9_215), Some(4), None, None, None),
            ),
            ("argon2i", c(Some(2), Some(1 << 20), None, None, None, None)),
            ("argon2i", c(Some(3), Some(12_287), None, None, None, None)),
            (
                "pbkdf2-sha256",
                c(None, None, None, Some(599_999), None, None),
            ),
            ("scrypt", c(None, None, None, None, Some(1 << 16), None)),
            ("scrypt", c(None, None, None, None, Some(1 << 17), Some(4))),
            ("scrypt", c(None, None, Some(9), None, Some(1 << 13), None)),
        ];
        for (name, cost) in weak {
            match Algorithm::choose(name, cost, false) {
                Err(AlgorithmChoice::Invalid(Error::Invalid(why))) => {
                    assert!(why.contains("OWASP") && why.contains("allow_weak"), "{why}")
                }
                other => panic!("{name} {cost:?}: {other:?}"),
            }
            let alg = Algorithm::choose(name, cost, true).unwrap();
            assert!(alg.weakness().is_some());
        }
        let strong = [
            ("argon2id", c(Some(1), Some(47_104), None, None, None, None)),
            ("argon2id", c(Some(3), Some(12_288), None, None, None, None)),
            (
                "argon2id",
                c(Some(5), Some(7_168), Some(2), None, None, None),
            ),
            ("argon2i", c(Some(4), Some(9_216), None, None, None, None)),
            (
                "pbkdf2-sha256",
                c(None, None, None, Some(600_000), None, None),
            ),
            ("scrypt", c(None, None, Some(2), None, Some(1 << 16), None)),
            (
                "scrypt",
                c(None, None, Some(10), None, Some(1 << 13), Some(8)),
            ),
            ("hmac-sha256", CostParams::default()),
        ];
        for (name, cost) in strong {
            let alg = Algorithm::choose(name, cost, false).unwrap();
            assert_eq!(alg.weakness(), None, "{name} {cost:?}");
        }
    }

    #[test]
    fn each_algorithm_hashes_under_its_own_key_and_compat_keys_as_given() {
        let argon = Algorithm::Argon2 {
            variant: Argon2Variant::Argon2id,
            t: 1,
            m: 64,
            p: 1,
        };
        let algorithms = [
            Algorithm::HmacSha256,
            argon,
            Algorithm::Argon2 {
                variant: Argon2Variant::Argon2i,
                t: 1,
                m: 64,
                p: 1,
            },
            Algorithm::Pbkdf2Sha256 { iterations: 2 },
            Algorithm::Scrypt {
                log_n: 2,
                r: 1,
                p: 1,
            },
        ];
        let keys: Vec<[u8; 32]> = algorithms
            .iter()
            .map(|a| {
                let k = hash_key(&key(4), *a).unwrap();
                assert_eq!(k.expose(), &hash_key_of(4, a.name()));
                *k.expose()
            })
            .collect();
        for (i, a) in keys.iter().enumerate() {
            assert!(keys.iter().skip(i + 1).all(|b| a != b));
        }
        let index = |keying| {
            BlindIndexer::new(
                argon,
                vec![(1, key(4))],
                keying,
                1,
                None,
                None,
                OutputEncoding::Raw,
            )
            .unwrap()
            .compute(None, b"v")
            .unwrap()
        };
        let with = |salt: &[u8]| {
            crate::core::primitives::argon2(
                Argon2Variant::Argon2id,
                b"v",
                salt,
                b"",
                b"",
                1,
                64,
                1,
                32,
            )
            .unwrap()
            .to_vec()
        };
        assert_eq!(index(Keying::Separated), with(&hash_key_of(4, "argon2id")));
        assert_eq!(index(Keying::AsDerived), with(&[4u8; 32]));
    }

    #[test]
    fn sealbox_index_keys_separate_every_name() {
        let m = key(5);
        let a = derive_index_key(&m, b"users", b"email", b"exact").unwrap();
        let b = derive_index_key(&m, b"users", b"email", b"exact2").unwrap();
        let c = derive_index_key(&m, b"users", b"emailexact", b"").map(|_| ());
        assert_ne!(a.expose(), b.expose());
        assert!(c.is_err());
        assert_eq!(
            pack(&[b"ab", b"c"]),
            [
                &2u32.to_le_bytes()[..],
                &2u64.to_le_bytes(),
                b"ab",
                &1u64.to_le_bytes(),
                b"c"
            ]
            .concat()
        );
    }
}
