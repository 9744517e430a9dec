//! Primitive AEADs and KDFs with explicit nonces: the engine of `sealbox.hazmat`
//! and the building blocks of the message format. All cryptography comes from
//! aws-lc-rs (AES-GCM, ChaCha20-Poly1305) and RustCrypto (AES-SIV, HChaCha20,
//! HMAC, HKDF, PBKDF2); nothing here implements a primitive.

use aes_siv::aead::array::Array;
use aes_siv::aead::inout::InOutBuf;
use aes_siv::aead::KeyInit;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, NONCE_LEN};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::core::error::{Error, Result};

pub mod hpke;
mod kdf;
pub mod sealed_box;

pub use kdf::{
    argon2, hkdf_sha256, pbkdf2_hmac_sha256, scrypt, scrypt_log_n, scrypt_params, Argon2Variant,
    MAX_ARGON2_KIB, MAX_SCRYPT_BYTES,
};

pub const TAG_LEN: usize = 16;
pub const GCM_NONCE_LEN: usize = NONCE_LEN;
pub const XCHACHA_NONCE_LEN: usize = 24;
/// GCM's per-invocation plaintext limit (NIST SP 800-38D): 2^39 - 256 bits.
pub const GCM_MAX_PLAINTEXT: u64 = (1 << 36) - 32;

fn too_large() -> Error {
    Error::Invalid("data is too large for one AEAD message (at most 2**36 - 32 bytes)".into())
}

fn check_len(len: usize) -> Result<()> {
    if len as u64 > GCM_MAX_PLAINTEXT {
        return Err(too_large());
    }
    Ok(())
}

/// Split `out` into `(ciphertext, tag)` of the expected sizes.
fn split_ct_tag(out: &mut [u8], pt_len: usize) -> Result<(&mut [u8], &mut [u8])> {
    if out.len() != pt_len + TAG_LEN {
        return Err(Error::Invalid("output buffer has the wrong length".into()));
    }
    Ok(out.split_at_mut(pt_len))
}

/// Split a `ciphertext || tag` input.
fn split_input_tag(input: &[u8]) -> Result<(&[u8], &[u8])> {
    let ct_len = input.len().checked_sub(TAG_LEN).ok_or(Error::Decrypt)?;
    Ok(input.split_at(ct_len))
}

fn gcm_nonce(nonce: &[u8]) -> Result<Nonce> {
    Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::NonceLength {
        expected: "12 bytes",
        got: nonce.len(),
    })
}

/// An aws-lc-rs AEAD key (AES-GCM, AES-GCM-SIV or ChaCha20-Poly1305), 12-byte nonces.
pub struct LcAead {
    key: LessSafeKey,
}

impl LcAead {
    /// AES-GCM with a 16, 24 or 32-byte key.
    pub fn aes_gcm(key: &[u8]) -> Result<Self> {
        let alg = match key.len() {
            16 => &aws_lc_rs::aead::AES_128_GCM,
            24 => &aws_lc_rs::aead::AES_192_GCM,
            32 => &aws_lc_rs::aead::AES_256_GCM,
            got => {
                return Err(Error::KeyLength {
                    expected: "16, 24 or 32 bytes",
                    got,
                })
            }
        };
        Self::new(alg, key)
    }

    /// AES-256-GCM-SIV (RFC 8452) with a 32-byte key: nonce-misuse resistant.
    pub fn aes_256_gcm_siv(key: &[u8]) -> Result<Self> {
        if key.len() != 32 {
            return Err(Error::KeyLength {
                expected: "32 bytes",
                got: key.len(),
            });
        }
        Self::new(&aws_lc_rs::aead::AES_256_GCM_SIV, key)
    }

    /// ChaCha20-Poly1305 (RFC 8439) with a 32-byte key.
    pub fn chacha20_poly1305(key: &[u8]) -> Result<Self> {
        if key.len() != 32 {
            return Err(Error::KeyLength {
                expected: "32 bytes",
                got: key.len(),
            });
        }
        Self::new(&aws_lc_rs::aead::CHACHA20_POLY1305, key)
    }

    fn new(alg: &'static aws_lc_rs::aead::Algorithm, key: &[u8]) -> Result<Self> {
        let unbound = UnboundKey::new(alg, key).map_err(|_| Error::KeyLength {
            expected: "a valid key",
            got: key.len(),
        })?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
        })
    }

    /// Fail unless `nonce` has this algorithm's size.
    pub fn check_nonce(&self, nonce: &[u8]) -> Result<()> {
        gcm_nonce(nonce).map(|_| ())
    }

    /// Seal `plaintext` into `out` (`ciphertext || tag`, `plaintext.len() + 16` bytes).
    pub fn seal_into(
        &self,
        nonce: &[u8],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        let nonce = gcm_nonce(nonce)?;
        let (ct, tag) = split_ct_tag(out, plaintext.len())?;
        self.seal_detached(nonce, aad, plaintext, ct, tag)
    }

    /// Open `ciphertext || tag` into `out` (`input.len() - 16` bytes).
    pub fn open_into(&self, nonce: &[u8], aad: &[u8], input: &[u8], out: &mut [u8]) -> Result<()> {
        let nonce = gcm_nonce(nonce)?;
        let (ct, tag) = split_input_tag(input)?;
        self.open_detached(nonce, aad, ct, tag, out)
    }

    /// Open `in_out` (the ciphertext) in place under a separate tag; on
    /// failure `in_out` is wiped.
    pub(crate) fn open_in_place_detached(
        &self,
        nonce: Nonce,
        aad: &[u8],
        tag: &[u8],
        in_out: &mut [u8],
    ) -> Result<()> {
        let opened = self
            .key
            .open_in_place_separate_tag(nonce, Aad::from(aad), tag, &mut *in_out)
            .map(|_| ())
            .map_err(|_| Error::Decrypt);
        if opened.is_err() {
            in_out.zeroize();
        }
        opened
    }

    pub(crate) fn open_detached(
        &self,
        nonce: Nonce,
        aad: &[u8],
        ct: &[u8],
        tag: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        if out.len() != ct.len() {
            return Err(Error::Decrypt);
        }
        let opened = self
            .key
            .open_separate_gather(nonce, Aad::from(aad), ct, tag, &mut *out)
            .map_err(|_| Error::Decrypt);
        // What a failed open leaves in `out` is not part of aws-lc-rs's contract
        // (GCM decrypts before it can compare tags): wipe it either way.
        if opened.is_err() {
            out.zeroize();
        }
        opened
    }

    pub(crate) fn seal_detached(
        &self,
        nonce: Nonce,
        aad: &[u8],
        plaintext: &[u8],
        ct: &mut [u8],
        tag: &mut [u8],
    ) -> Result<()> {
        check_len(plaintext.len())?;
        self.key
            .seal_out_of_place_scatter(nonce, Aad::from(aad), plaintext, ct, &[], tag)
            .map_err(|_| Error::Invalid("encryption failed".into()))
    }
}

/// Below this many bytes a one-message AES-256-GCM key is cheaper with
/// RustCrypto's `aes-gcm` (a stack key schedule, ~90 ns to set up) than with
/// aws-lc-rs (a heap context and an AVX-512 GHASH table, ~200 ns more), which
/// wins on throughput above it. Both compute the same AES-GCM. See docs/backends.md.
pub const SMALL_GCM_MAX: usize = 1024;

/// RustCrypto AES-256-GCM over the encryption-only key schedule: GCM never
/// runs AES backwards, so the decryption round keys would be computed (and
/// wiped) for nothing.
type SmallGcm = aes_gcm::AesGcm<aes::Aes256Enc, aes_gcm::aead::consts::U12>;

/// AES-256-GCM with RustCrypto, for one small message under a one-time key.
pub fn gcm256_seal_small(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    plaintext: &[u8],
    ct: &mut [u8],
    tag: &mut [u8],
) -> Result<()> {
    use aes_gcm::aead::AeadInOut as _;
    let cipher = <SmallGcm as aes_gcm::aead::KeyInit>::new(&Array::from(*key));
    let buf = InOutBuf::new(plaintext, ct).map_err(|_| Error::Invalid("length mismatch".into()))?;
    let t = cipher
        .encrypt_inout_detached(&Array::from(*nonce), aad, buf)
        .map_err(|_| too_large())?;
    if tag.len() != t.len() {
        return Err(Error::Invalid("length mismatch".into()));
    }
    tag.copy_from_slice(&t);
    Ok(())
}

/// Open one small AES-256-GCM message with RustCrypto.
pub fn gcm256_open_small(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    ct: &[u8],
    tag: &[u8],
    out: &mut [u8],
) -> Result<()> {
    use aes_gcm::aead::AeadInOut as _;
    let cipher = <SmallGcm as aes_gcm::aead::KeyInit>::new(&Array::from(*key));
    let tag = aes_gcm::Tag::try_from(tag).map_err(|_| Error::Decrypt)?;
    let buf = InOutBuf::new(ct, out).map_err(|_| Error::Decrypt)?;
    cipher
        .decrypt_inout_detached(&Array::from(*nonce), aad, buf, &tag)
        .map_err(|_| Error::Decrypt)
}

/// XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03) with a 32-byte key and 24-byte nonces,
/// built as the draft defines it: HChaCha20 (RustCrypto `chacha20`) derives a subkey
/// from the key and the first 16 nonce bytes, then ChaCha20-Poly1305 (aws-lc-rs)
/// runs under that subkey with the nonce `0x00000000 || nonce[16..24]`.
pub struct XChaCha {
    key: Zeroizing<[u8; 32]>,
}

impl XChaCha {
    pub fn new(key: &[u8]) -> Result<Self> {
        let key: [u8; 32] = key.try_into().map_err(|_| Error::KeyLength {
            expected: "32 bytes",
            got: key.len(),
        })?;
        Ok(Self {
            key: Zeroizing::new(key),
        })
    }

    /// Fail unless `nonce` is 24 bytes.
    pub fn check_nonce(&self, nonce: &[u8]) -> Result<()> {
        if nonce.len() != XCHACHA_NONCE_LEN {
            return Err(Error::NonceLength {
                expected: "24 bytes",
                got: nonce.len(),
            });
        }
        Ok(())
    }

    fn inner(&self, nonce: &[u8]) -> Result<(LcAead, Nonce)> {
        let (head, tail) = nonce
            .split_first_chunk::<16>()
            .filter(|(_, tail)| tail.len() == 8)
            .ok_or(Error::NonceLength {
                expected: "24 bytes",
                got: nonce.len(),
            })?;
        let mut sub =
            chacha20::hchacha::<chacha20::R20>(&Array::from(*self.key), &Array::from(*head));
        let subkey = Zeroizing::new(<[u8; 32]>::from(sub));
        sub.as_mut_slice().zeroize();
        let mut n = [0u8; 12];
        let (_, low) = n.split_at_mut(4);
        low.copy_from_slice(tail);
        Ok((
            LcAead::chacha20_poly1305(subkey.as_ref())?,
            Nonce::assume_unique_for_key(n),
        ))
    }

    pub fn seal_into(
        &self,
        nonce: &[u8],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        let (ct, tag) = split_ct_tag(out, plaintext.len())?;
        self.seal_detached(nonce, aad, plaintext, ct, tag)
    }

    pub(crate) fn seal_detached(
        &self,
        nonce: &[u8],
        aad: &[u8],
        plaintext: &[u8],
        ct: &mut [u8],
        tag: &mut [u8],
    ) -> Result<()> {
        let (aead, n) = self.inner(nonce)?;
        aead.seal_detached(n, aad, plaintext, ct, tag)
    }

    pub fn open_into(&self, nonce: &[u8], aad: &[u8], input: &[u8], out: &mut [u8]) -> Result<()> {
        let (ct, tag) = split_input_tag(input)?;
        self.open_detached(nonce, aad, ct, tag, out)
    }

    pub(crate) fn open_detached(
        &self,
        nonce: &[u8],
        aad: &[u8],
        ct: &[u8],
        tag: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        let (aead, n) = self.inner(nonce)?;
        aead.open_detached(n, aad, ct, tag, out)
    }
}

/// AES-SIV (RFC 5297) over a vector of associated-data components.
///
/// The RustCrypto `Siv` type needs `&mut self`, so an instance is built per
/// call from the stored key; the key bytes are zeroized on drop.
pub struct AesSiv {
    key: Zeroizing<Vec<u8>>,
}

type Aes192Siv = aes_siv::siv::Siv<aes::Aes192, cmac::Cmac<aes::Aes192>>;

/// RFC 5297 allows at most 126 associated-data components.
pub const SIV_MAX_HEADERS: usize = 126;
pub const SIV_LEN: usize = 16;

macro_rules! with_siv {
    ($key:expr, |$siv:ident| $body:expr) => {{
        let key: &[u8] = $key;
        match key.len() {
            32 => {
                let mut $siv = aes_siv::siv::Aes128Siv::new(
                    &Array::try_from(key).map_err(|_| Error::Internal("AES-SIV key length"))?,
                );
                $body
            }
            48 => {
                let mut $siv = Aes192Siv::new(
                    &Array::try_from(key).map_err(|_| Error::Internal("AES-SIV key length"))?,
                );
                $body
            }
            64 => {
                let mut $siv = aes_siv::siv::Aes256Siv::new(
                    &Array::try_from(key).map_err(|_| Error::Internal("AES-SIV key length"))?,
                );
                $body
            }
            got => Err(Error::KeyLength {
                expected: "32, 48 or 64 bytes",
                got,
            }),
        }
    }};
}

impl AesSiv {
    pub fn new(key: &[u8]) -> Result<Self> {
        if !matches!(key.len(), 32 | 48 | 64) {
            return Err(Error::KeyLength {
                expected: "32, 48 or 64 bytes",
                got: key.len(),
            });
        }
        Ok(Self {
            key: Zeroizing::new(key.to_vec()),
        })
    }

    fn check_headers(headers: &[&[u8]]) -> Result<()> {
        if headers.len() > SIV_MAX_HEADERS {
            return Err(Error::Invalid(format!(
                "AES-SIV accepts at most {SIV_MAX_HEADERS} associated data items, got {}",
                headers.len()
            )));
        }
        Ok(())
    }

    /// Encrypt into `out` = `SIV (16) || ciphertext`.
    pub fn encrypt_into(&self, headers: &[&[u8]], plaintext: &[u8], out: &mut [u8]) -> Result<()> {
        Self::check_headers(headers)?;
        check_len(plaintext.len())?;
        if out.len() != plaintext.len() + SIV_LEN {
            return Err(Error::Invalid("output buffer has the wrong length".into()));
        }
        let (siv_out, ct) = out.split_at_mut(SIV_LEN);
        let buf =
            InOutBuf::new(plaintext, ct).map_err(|_| Error::Invalid("length mismatch".into()))?;
        let tag = with_siv!(&self.key, |siv| siv
            .encrypt_inout_detached(headers.iter(), buf)
            .map_err(|_| too_large()))?;
        siv_out.copy_from_slice(&tag);
        Ok(())
    }

    /// Decrypt `SIV || ciphertext` into `out` (`input.len() - 16` bytes). On
    /// failure `out` is zeroed: SIV decrypts before it can verify, so `out`
    /// would otherwise hold the unauthenticated plaintext.
    pub fn decrypt_into(&self, headers: &[&[u8]], input: &[u8], out: &mut [u8]) -> Result<()> {
        Self::check_headers(headers)?;
        if input.len() < SIV_LEN {
            return Err(Error::Decrypt);
        }
        let (tag, ct) = input.split_at(SIV_LEN);
        let tag = aes_siv::Tag::try_from(tag).map_err(|_| Error::Decrypt)?;
        let opened = match InOutBuf::new(ct, &mut *out) {
            Ok(buf) => with_siv!(&self.key, |siv| siv
                .decrypt_inout_detached(headers.iter(), buf, &tag)
                .map_err(|_| Error::Decrypt)),
            Err(_) => Err(Error::Decrypt),
        };
        if opened.is_err() {
            out.zeroize();
        }
        opened
    }
}

pub type HmacSha256 = Hmac<Sha256>;

/// Whether `a` and `b` are equal, in time independent of their contents
/// (aws-lc's `CRYPTO_memcmp`: about 6 ns for 24 bytes, where `subtle`'s
/// byte-at-a-time `ct_eq` takes about 40 ns).
pub fn equal(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// HMAC-SHA256 (RFC 2104) of `data` under `key` (any length).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac =
        <HmacSha256 as hmac::KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable_hmac());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

// HMAC accepts keys of every length; this branch cannot be taken.
#[cold]
fn unreachable_hmac() -> HmacSha256 {
    <HmacSha256 as hmac::KeyInit>::new(&Default::default())
}

/// A one-time key's GCM nonce: each such key seals exactly one message.
const ZERO_NONCE: [u8; 12] = [0u8; 12];

/// AES-256-GCM under a one-time subkey (zero nonce): RustCrypto for small
/// values, whose key setup is cheaper, aws-lc-rs above (docs/backends.md).
pub fn one_time_gcm_seal(
    subkey: &[u8; 32],
    aad: &[u8],
    plaintext: &[u8],
    ct: &mut [u8],
    tag: &mut [u8],
) -> Result<()> {
    if plaintext.len() <= SMALL_GCM_MAX {
        return gcm256_seal_small(subkey, &ZERO_NONCE, aad, plaintext, ct, tag);
    }
    LcAead::aes_gcm(subkey)?.seal_detached(
        Nonce::assume_unique_for_key(ZERO_NONCE),
        aad,
        plaintext,
        ct,
        tag,
    )
}

pub fn one_time_gcm_open(
    subkey: &[u8; 32],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
    out: &mut [u8],
) -> Result<()> {
    if ciphertext.len() <= SMALL_GCM_MAX {
        return gcm256_open_small(subkey, &ZERO_NONCE, aad, ciphertext, tag, out);
    }
    LcAead::aes_gcm(subkey)?.open_detached(
        Nonce::assume_unique_for_key(ZERO_NONCE),
        aad,
        ciphertext,
        tag,
        out,
    )
}

/// Run `f` on the associated data `prefix || context`: `prefix` itself when
/// there is no context, else a copy on the stack (or the heap when large).
pub fn with_aad<R>(prefix: &[u8], context: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    if context.is_empty() {
        return f(prefix);
    }
    let len = prefix.len() + context.len();
    let mut small = [0u8; 128];
    if let Some(buf) = small.get_mut(..len) {
        let (a, b) = buf.split_at_mut(prefix.len());
        a.copy_from_slice(prefix);
        b.copy_from_slice(context);
        return f(buf);
    }
    let mut heap = Vec::with_capacity(len);
    heap.extend_from_slice(prefix);
    heap.extend_from_slice(context);
    f(&heap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_compares_every_byte_and_the_length() {
        let a = [7u8; 24];
        assert!(equal(&a, &a.clone()));
        for i in 0..a.len() {
            let mut b = a;
            b[i] ^= 0x80;
            assert!(!equal(&a, &b));
        }
        assert!(!equal(&a, &a[..23]));
        assert!(equal(&[], &[]));
    }

    #[test]
    fn gcm_round_trip_and_tamper() {
        let k = LcAead::aes_gcm(&[7u8; 32]).unwrap();
        let mut out = vec![0u8; 5 + TAG_LEN];
        k.seal_into(&[1u8; 12], b"ad", b"hello", &mut out).unwrap();
        let mut pt = vec![0u8; 5];
        k.open_into(&[1u8; 12], b"ad", &out, &mut pt).unwrap();
        assert_eq!(&pt, b"hello");
        out[0] ^= 1;
        assert_eq!(
            k.open_into(&[1u8; 12], b"ad", &out, &mut pt),
            Err(Error::Decrypt)
        );
        // A failed open leaves no unauthenticated plaintext in the output, for
        // every AEAD and size.
        for aead in [
            LcAead::aes_gcm(&[7u8; 32]).unwrap(),
            LcAead::chacha20_poly1305(&[7u8; 32]).unwrap(),
        ] {
            for len in [5usize, 5000] {
                let msg = vec![0x42u8; len];
                let mut sealed = vec![0u8; len + TAG_LEN];
                aead.seal_into(&[1u8; 12], b"ad", &msg, &mut sealed)
                    .unwrap();
                sealed[len] ^= 1; // the tag
                let mut filled = vec![0xAAu8; len];
                assert!(aead
                    .open_into(&[1u8; 12], b"ad", &sealed, &mut filled)
                    .is_err());
                assert!(filled.iter().all(|&b| b == 0), "{len}");
            }
        }
        assert!(matches!(
            LcAead::aes_gcm(&[0u8; 31]),
            Err(Error::KeyLength { got: 31, .. })
        ));
        assert!(matches!(
            k.seal_into(&[1u8; 11], b"", b"", &mut [0u8; 16]),
            Err(Error::NonceLength { got: 11, .. })
        ));
    }

    #[test]
    fn siv_round_trip_all_sizes() {
        for len in [32, 48, 64] {
            let s = AesSiv::new(&vec![3u8; len]).unwrap();
            let mut out = vec![0u8; 3 + SIV_LEN];
            s.encrypt_into(&[b"a", b"b"], b"abc", &mut out).unwrap();
            let mut pt = [0u8; 3];
            s.decrypt_into(&[b"a", b"b"], &out, &mut pt).unwrap();
            assert_eq!(&pt, b"abc");
            assert_eq!(s.decrypt_into(&[b"a"], &out, &mut pt), Err(Error::Decrypt));
            // The output held the unauthenticated plaintext before it was wiped.
            let mut filled = vec![0xAAu8; pt.len()];
            assert!(s.decrypt_into(&[b"a"], &out, &mut filled).is_err());
            assert!(filled.iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn kdf_limits() {
        assert!(hkdf_sha256(b"k", b"", b"", 8161).is_err());
        assert_eq!(hkdf_sha256(b"k", b"", b"", 8160).unwrap().len(), 8160);
        assert!(pbkdf2_hmac_sha256(b"p", b"s", 0, 32).is_err());
    }
}
