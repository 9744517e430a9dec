//! Key derivation and password hashing: HKDF, PBKDF2, Argon2 and scrypt from
//! RustCrypto, with the parameter limits every caller shares.

use sha2::Sha256;
use zeroize::Zeroizing;

use crate::core::error::{Error, Result};

/// Argon2 memory above this (4 GiB, the gem's `m = 22`) is refused.
pub const MAX_ARGON2_KIB: u32 = 1 << 22;
/// scrypt memory (128 · N · r bytes) above this is refused.
pub const MAX_SCRYPT_BYTES: u64 = 1 << 30;

/// Check scrypt's cost (N = 2^`log_n`) and bound its memory.
pub fn scrypt_params(log_n: u8, r: u32, p: u32) -> Result<scrypt::Params> {
    let bad = || {
        Error::Invalid(format!(
            "invalid scrypt parameters: N must be a power of two of at least 2, r and p at least 1, and 128 * N * r and 128 * p * r at most {MAX_SCRYPT_BYTES} bytes (got N = 2**{log_n}, r = {r}, p = {p})"
        ))
    };
    if !(1..=40).contains(&log_n) || r < 1 || p < 1 {
        return Err(bad());
    }
    let mem = 128u64
        .checked_mul(1u64 << log_n)
        .and_then(|x| x.checked_mul(u64::from(r)))
        .ok_or_else(bad)?;
    let pr = 128u64
        .checked_mul(u64::from(p))
        .and_then(|x| x.checked_mul(u64::from(r)))
        .ok_or_else(bad)?;
    if mem > MAX_SCRYPT_BYTES || pr > MAX_SCRYPT_BYTES {
        return Err(bad());
    }
    scrypt::Params::new(log_n, r, p).map_err(|_| bad())
}

/// scrypt's cost N as its base-2 logarithm; N must be a power of two of at least 2.
pub fn scrypt_log_n(n: u64) -> Result<u8> {
    if n < 2 || !n.is_power_of_two() {
        return Err(Error::Invalid(format!(
            "scrypt n must be a power of two of at least 2, got {n}"
        )));
    }
    u8::try_from(n.trailing_zeros()).map_err(|_| Error::Internal("log2 of a u64"))
}

/// The Argon2 variants a blind index may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Argon2Variant {
    Argon2id,
    Argon2i,
}

/// HKDF-SHA256 (RFC 5869). An empty salt means HashLen zero bytes.
pub fn hkdf_sha256(
    ikm: &[u8],
    salt: &[u8],
    info: &[u8],
    length: usize,
) -> Result<Zeroizing<Vec<u8>>> {
    if length == 0 || length > 255 * 32 {
        return Err(Error::Invalid(format!(
            "HKDF-SHA256 length must be between 1 and 8160 bytes, got {length}"
        )));
    }
    let hk = hkdf::Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut okm = Zeroizing::new(vec![0u8; length]);
    hk.expand(info, &mut okm)
        .map_err(|_| Error::Invalid("HKDF output too long".into()))?;
    Ok(okm)
}

/// PBKDF2-HMAC-SHA256 (RFC 8018).
pub fn pbkdf2_hmac_sha256(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    length: usize,
) -> Result<Zeroizing<Vec<u8>>> {
    if iterations == 0 {
        return Err(Error::Invalid(
            "PBKDF2 iterations must be at least 1".into(),
        ));
    }
    if length == 0 || length > (1 << 20) {
        return Err(Error::Invalid(format!(
            "PBKDF2 length must be between 1 and 1048576 bytes, got {length}"
        )));
    }
    let mut out = Zeroizing::new(vec![0u8; length]);
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
    Ok(out)
}

/// Argon2 (RFC 9106, version 0x13) of `password` and `salt`, with the optional
/// secret `K` and associated data `X`, into `length` bytes. `m` is in KiB.
#[allow(clippy::too_many_arguments)]
pub fn argon2(
    variant: Argon2Variant,
    password: &[u8],
    salt: &[u8],
    secret: &[u8],
    associated_data: &[u8],
    t: u32,
    m: u32,
    p: u32,
    length: usize,
) -> Result<Zeroizing<Vec<u8>>> {
    if m > MAX_ARGON2_KIB {
        return Err(Error::Invalid(format!(
            "argon2 m (memory in KiB) must be at most {MAX_ARGON2_KIB}, got {m}"
        )));
    }
    let bad = |e: argon2::Error| Error::Invalid(format!("invalid argon2 input: {e}"));
    let mut builder = argon2::ParamsBuilder::new();
    builder.m_cost(m).t_cost(t).p_cost(p).output_len(length);
    if !associated_data.is_empty() {
        builder.data(argon2::AssociatedData::new(associated_data).map_err(bad)?);
    }
    let params = builder.build().map_err(bad)?;
    let alg = match variant {
        Argon2Variant::Argon2id => argon2::Algorithm::Argon2id,
        Argon2Variant::Argon2i => argon2::Algorithm::Argon2i,
    };
    let ctx = if secret.is_empty() {
        argon2::Argon2::new(alg, argon2::Version::V0x13, params)
    } else {
        argon2::Argon2::new_with_secret(secret, alg, argon2::Version::V0x13, params).map_err(bad)?
    };
    let mut out = Zeroizing::new(vec![0u8; length]);
    ctx.hash_password_into(password, salt, &mut out)
        .map_err(bad)?;
    Ok(out)
}

/// scrypt (RFC 7914) with N = 2^`log_n`, into `length` bytes.
pub fn scrypt(
    password: &[u8],
    salt: &[u8],
    log_n: u8,
    r: u32,
    p: u32,
    length: usize,
) -> Result<Zeroizing<Vec<u8>>> {
    let params = scrypt_params(log_n, r, p)?;
    if length == 0 || length > (1 << 20) {
        return Err(Error::Invalid(format!(
            "scrypt length must be between 1 and 1048576 bytes, got {length}"
        )));
    }
    let mut out = Zeroizing::new(vec![0u8; length]);
    ::scrypt::scrypt(password, salt, &params, &mut out)
        .map_err(|_| Error::Invalid("invalid scrypt output length".into()))?;
    Ok(out)
}
