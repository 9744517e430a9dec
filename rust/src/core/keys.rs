//! Secret keys and keyrings.
//!
//! A `Keyring` maps integer key ids to 32-byte keys, one of them active. It never
//! keeps the raw keys: on construction each key is expanded once into the
//! material every suite needs (a keyed HMAC state, the per-suite commitments and
//! the derived XChaCha20-Poly1305 and AES-SIV keys), all zeroized on drop.

use std::collections::BTreeMap;
use std::sync::Arc;

use hmac::Mac;
use zeroize::{Zeroize, Zeroizing};

use crate::core::error::{Error, Result};
use crate::core::format::{header, Suite, COMMIT_LEN, HEADER_LEN};
use crate::core::primitives::{HmacSha256, LcAead, XChaCha};
use crate::core::rng;

pub const KEY_LEN: usize = 32;

/// A 32-byte key. No `Debug`, no `Clone`; zeroized on drop.
pub struct SecretKey(Zeroizing<[u8; KEY_LEN]>);

impl SecretKey {
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; KEY_LEN] = bytes.try_into().map_err(|_| Error::KeyLength {
            expected: "32 bytes",
            got: bytes.len(),
        })?;
        Ok(Self(Zeroizing::new(arr)))
    }

    /// 32 bytes from the operating system's CSPRNG.
    pub fn generate() -> Result<Self> {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        rng::fill_secret(k.as_mut())?;
        Ok(Self(k))
    }

    /// A key written as 64 hex digits or as base64 (standard or URL-safe, padded or not).
    /// Errors never echo the text.
    pub fn from_text(text: &str) -> Result<Self> {
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        use base64::Engine as _;
        let text = text.trim();
        let bad = || {
            Error::Invalid(format!(
                "a key given as text must be 64 hex digits or the base64 of 32 bytes (got {} characters)",
                text.len()
            ))
        };
        // Every attempt decodes into this one buffer, wiped when dropped: a
        // failed attempt leaves no key bytes behind in freed memory. Base64 of
        // 32 bytes may decode to up to 33 (then it is refused).
        let mut bytes = Zeroizing::new([0u8; KEY_LEN + 3]);
        let len = if text.len() == 2 * KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            for (i, out) in bytes.iter_mut().take(KEY_LEN).enumerate() {
                *out = text
                    .get(2 * i..2 * i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(bad)?;
            }
            KEY_LEN
        } else {
            [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode_slice(text, &mut *bytes).ok())
                .ok_or_else(bad)?
        };
        let key = bytes
            .get(..len)
            .filter(|k| k.len() == KEY_LEN)
            .ok_or_else(bad)?;
        Self::from_slice(key)
    }

    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

/// Domain-separation labels of the v1 key schedule (docs/format.md) and of a
/// blind index's hash key (docs/search.md), each with its 0x00: no two uses of
/// one key ever feed the PRF the same input.
pub(crate) mod label {
    pub const COMMIT: &[u8] = b"sealbox/v1/commit\0";
    pub const GCM_SUBKEY: &[u8] = b"sealbox/v1/aes-256-gcm\0";
    pub const XCHACHA_KEY: &[u8] = b"sealbox/v1/xchacha20-poly1305\0";
    pub const SIV_MAC_KEY: &[u8] = b"sealbox/v1/aes-256-siv/mac\0";
    pub const SIV_ENC_KEY: &[u8] = b"sealbox/v1/aes-256-siv/enc\0";
    pub const WRAP_KEY: &[u8] = b"sealbox/v1/envelope/wrap\0";
    pub const DATA_KEY_COMMIT: &[u8] = b"sealbox/v1/envelope/commit\0";
    pub const DATA_KEY_SUBKEY: &[u8] = b"sealbox/v1/envelope/aes-256-gcm\0";
    pub const STREAM_COMMIT: &[u8] = b"sealbox/v1/stream/commit\0";
    pub const STREAM_KEY: &[u8] = b"sealbox/v1/stream/aes-256-gcm\0";
    /// The nonce (or salt) of a repeatable rotation, from the message rotated.
    pub const ROTATE_NONCE: &[u8] = b"sealbox/v1/rotate/nonce\0";
    /// A blind index's hash key (docs/search.md), so that no index value is a
    /// function a Box computes under the same key bytes.
    pub const BLIND_INDEX_KEY: &[u8] = b"sealbox/v1/blind-index/key\0";
}

/// `PRF(key, label, parts...)` of docs/format.md for a one-off derivation, as a key.
pub(crate) fn prf_key(key: &SecretKey, label: &[u8], parts: &[&[u8]]) -> Result<SecretKey> {
    let prf = <HmacSha256 as hmac::KeyInit>::new_from_slice(key.expose())
        .map_err(|_| Error::Invalid("invalid key".into()))?;
    SecretKey::from_slice(prf_out(&prf, label, parts).as_ref())
}

/// HMAC-SHA256 under a pre-keyed state of `label || parts...`.
pub(crate) fn prf_out(prf: &HmacSha256, label: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let mut mac = prf.clone();
    mac.update(label);
    for p in parts {
        mac.update(p);
    }
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// Everything one key id needs, derived once.
pub struct KeyMaterial {
    id: u32,
    prf: HmacSha256,
    commits: [[u8; COMMIT_LEN]; Suite::COUNT],
    xchacha: XChaCha,
    siv_key: Zeroizing<[u8; 64]>,
    wrapper: LcAead,
}

impl Drop for KeyMaterial {
    fn drop(&mut self) {
        self.commits.zeroize();
    }
}

impl KeyMaterial {
    fn new(id: u32, key: &SecretKey) -> Result<Self> {
        let prf = <HmacSha256 as hmac::KeyInit>::new_from_slice(key.expose())
            .map_err(|_| Error::Invalid("invalid key".into()))?;
        let derive = |label: &[u8], suite: Suite| prf_out(&prf, label, &[&header(suite, id)]);
        let mut commits = [[0u8; COMMIT_LEN]; Suite::COUNT];
        for (commit, suite) in commits.iter_mut().zip(Suite::ALL) {
            let out = derive(label::COMMIT, suite);
            commit.copy_from_slice(
                out.get(..COMMIT_LEN)
                    .ok_or(Error::Internal("commitment length"))?,
            );
        }
        let xchacha = XChaCha::new(derive(label::XCHACHA_KEY, Suite::XChaCha20Poly1305).as_ref())?;
        let mut siv_key = Zeroizing::new([0u8; 64]);
        let (mac, enc) = siv_key.split_at_mut(32);
        mac.copy_from_slice(derive(label::SIV_MAC_KEY, Suite::Aes256Siv).as_ref());
        enc.copy_from_slice(derive(label::SIV_ENC_KEY, Suite::Aes256Siv).as_ref());
        // The key as a key-encryption key: AES-256-GCM-SIV over data keys (docs/format.md).
        let kek_header = crate::core::format::envelope::kek_header(id);
        let wrapper =
            LcAead::aes_256_gcm_siv(prf_out(&prf, label::WRAP_KEY, &[&kek_header]).as_ref())?;
        Ok(Self {
            id,
            prf,
            commits,
            xchacha,
            siv_key,
            wrapper,
        })
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    pub(crate) fn commitment(&self, suite: Suite) -> &[u8; COMMIT_LEN] {
        match suite {
            Suite::Aes256Gcm => &self.commits[0],
            Suite::XChaCha20Poly1305 => &self.commits[1],
            Suite::Aes256Siv => &self.commits[2],
        }
    }

    /// The key's keyed HMAC state, for derivations of other layers (files).
    pub(crate) fn prf(&self) -> &HmacSha256 {
        &self.prf
    }

    pub(crate) fn xchacha(&self) -> &XChaCha {
        &self.xchacha
    }

    pub(crate) fn siv_key(&self) -> &[u8; 64] {
        &self.siv_key
    }

    /// The AES-256-GCM-SIV key that wraps envelope data keys under this key.
    pub(crate) fn wrapper(&self) -> &LcAead {
        &self.wrapper
    }

    /// The per-message AES-256-GCM key of the default suite.
    pub(crate) fn gcm_subkey(&self, header: &[u8; HEADER_LEN], salt: &[u8]) -> Zeroizing<[u8; 32]> {
        prf_out(&self.prf, label::GCM_SUBKEY, &[header, salt])
    }
}

/// Keys by id, one of them active. Immutable once built.
pub struct Keyring {
    keys: BTreeMap<u32, Arc<KeyMaterial>>,
    active: Arc<KeyMaterial>,
}

impl Keyring {
    /// Build a keyring; `active` must be one of the ids.
    pub fn new<I>(keys: I, active: u32) -> Result<Self>
    where
        I: IntoIterator<Item = (u32, SecretKey)>,
    {
        let mut map = BTreeMap::new();
        for (id, key) in keys {
            if map
                .insert(id, Arc::new(KeyMaterial::new(id, &key)?))
                .is_some()
            {
                return Err(Error::Invalid(format!("key id {id} appears twice")));
            }
        }
        let active = map.get(&active).cloned().ok_or_else(|| {
            Error::Invalid(format!("active key id {active} is not in the keyring"))
        })?;
        Ok(Self { keys: map, active })
    }

    /// A keyring of one key with id 0... or any id the caller picks.
    pub fn single(id: u32, key: &SecretKey) -> Result<Self> {
        let material = Arc::new(KeyMaterial::new(id, key)?);
        let mut keys = BTreeMap::new();
        keys.insert(id, Arc::clone(&material));
        Ok(Self {
            keys,
            active: material,
        })
    }

    pub fn active(&self) -> &KeyMaterial {
        &self.active
    }

    pub fn active_id(&self) -> u32 {
        self.active.id
    }

    pub fn get(&self, id: u32) -> Option<&KeyMaterial> {
        self.keys.get(&id).map(|k| k.as_ref())
    }

    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.keys().copied()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyring_checks() {
        let k = || SecretKey::from_slice(&[1u8; 32]).unwrap();
        assert!(Keyring::new([(1, k()), (2, k())], 3).is_err());
        let ring = Keyring::new([(1, k()), (2, k())], 2).unwrap();
        assert_eq!(ring.active_id(), 2);
        assert_eq!(ring.ids().collect::<Vec<_>>(), vec![1, 2]);
        // Same key bytes under two ids still commit differently (the id is in the header).
        assert_ne!(
            ring.get(1).unwrap().commitment(Suite::Aes256Gcm),
            ring.get(2).unwrap().commitment(Suite::Aes256Gcm)
        );
        assert!(SecretKey::from_slice(&[0u8; 31]).is_err());
        let hex = "01".repeat(32);
        assert_eq!(SecretKey::from_text(&hex).unwrap().expose(), &[1u8; 32]);
        let b64 = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
        assert_eq!(SecretKey::from_text(b64).unwrap().expose(), &[1u8; 32]);
        assert_eq!(
            SecretKey::from_text(b64.trim_end_matches('='))
                .unwrap()
                .expose(),
            &[1u8; 32]
        );
        assert!(SecretKey::from_text("AQEB").is_err());
        // URL-safe base64 (0xfb gives '-' and '_'): 32 bytes accepted, 31 and 33 refused.
        use base64::Engine as _;
        let url =
            |n: usize| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(vec![0xfbu8; n]);
        assert!(url(32).contains('-') || url(32).contains('_'));
        assert_eq!(
            SecretKey::from_text(&url(32)).unwrap().expose(),
            &[0xfbu8; 32]
        );
        assert!(SecretKey::from_text(&url(31)).is_err());
        assert!(SecretKey::from_text(&url(33)).is_err());
        assert!(SecretKey::from_text(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn labels_are_distinct_and_none_is_a_prefix_of_another() {
        let all = [
            label::COMMIT,
            label::GCM_SUBKEY,
            label::XCHACHA_KEY,
            label::SIV_MAC_KEY,
            label::SIV_ENC_KEY,
            label::WRAP_KEY,
            label::DATA_KEY_COMMIT,
            label::DATA_KEY_SUBKEY,
            label::STREAM_COMMIT,
            label::STREAM_KEY,
            label::ROTATE_NONCE,
            label::BLIND_INDEX_KEY,
        ];
        for (i, a) in all.iter().enumerate() {
            assert_eq!(a.iter().position(|b| *b == 0), Some(a.len() - 1));
            assert!(a.starts_with(b"sealbox/v1/"));
            for (j, b) in all.iter().enumerate() {
                // Without the 0x00 too: the rule docs/format.md states.
                let bare = &b[..b.len() - 1];
                assert!(i == j || !a.starts_with(bare), "{a:?} starts with {bare:?}");
            }
        }
    }
}
