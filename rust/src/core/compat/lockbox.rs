//! Lockbox (the Ruby gem, 2.x): its boxes, padding and attribute keys.
//!
//! | algorithm | layout | primitive |
//! |---|---|---|
//! | `aes-gcm` | nonce(12) ‖ ct ‖ tag(16) | AES-256-GCM, AAD = associated data or "" |
//! | `xchacha20` | nonce(24) ‖ ct ‖ tag(16) | XChaCha20-Poly1305 (IETF), AAD as above |
//! | `xsalsa20` | nonce(24) ‖ tag(16) ‖ ct | NaCl `crypto_secretbox` |
//! | `hybrid` | nonce(24) ‖ tag(16) ‖ ct | NaCl `crypto_box` (X25519, XSalsa20-Poly1305) |

use crypto_box::aead::generic_array::GenericArray;
use crypto_box::aead::{Aead, KeyInit};
use zeroize::Zeroizing;

use crate::core::error::{Error, Result};
use crate::core::primitives::{LcAead, XChaCha};
use crate::core::rng;

const TAG_LEN: usize = 16;

/// `Lockbox.attribute_key`: HKDF-SHA384(ikm = master key, salt = table,
/// info = 0xB4 * 32 || attribute, 32 bytes).
pub fn attribute_key(
    master: &[u8; 32],
    table: &[u8],
    attribute: &[u8],
) -> Result<Zeroizing<[u8; 32]>> {
    if table.is_empty() || attribute.is_empty() {
        return Err(Error::Invalid(
            "table and attribute must not be empty".into(),
        ));
    }
    let mut info = Vec::with_capacity(32 + attribute.len());
    info.extend_from_slice(&[0xb4; 32]);
    info.extend_from_slice(attribute);
    let hk = hkdf::Hkdf::<sha2::Sha384>::new(Some(table), master);
    let mut out = Zeroizing::new([0u8; 32]);
    hk.expand(&info, out.as_mut())
        .map_err(|_| Error::Internal("HKDF length"))?;
    Ok(out)
}

/// ISO/IEC 7816-4 padding to a multiple of `size` (always at least one byte).
pub fn pad(data: &[u8], size: usize) -> Result<Vec<u8>> {
    if size < 1 {
        return Err(Error::Invalid("padding size must be at least 1".into()));
    }
    let total = (data.len() / size + 1)
        .checked_mul(size)
        .ok_or_else(|| Error::Invalid("value too large to pad".into()))?;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(data);
    out.push(0x80);
    out.resize(total, 0);
    Ok(out)
}

/// Undo [`pad`]: scan at most `size` bytes back from the end for the 0x80.
pub fn unpad(data: &mut Vec<u8>, size: usize) -> Result<()> {
    if size < 1 {
        return Err(Error::Invalid("padding size must be at least 1".into()));
    }
    for i in 1..=size.min(data.len()) {
        match data.get(data.len() - i) {
            Some(0x00) => continue,
            Some(0x80) => {
                data.truncate(data.len() - i);
                return Ok(());
            }
            _ => break,
        }
    }
    Err(Error::Decrypt)
}

/// One Lockbox box.
pub enum LockboxBox {
    AesGcm(LcAead),
    XChaCha20(XChaCha),
    XSalsa20(crypto_secretbox::XSalsa20Poly1305),
    /// `crypto_box` for encryption (encryption key: recipient public ‖ sender
    /// secret) and for decryption (decryption key: recipient secret ‖ sender
    /// public); either may be absent.
    Hybrid {
        encrypt: Option<crypto_box::SalsaBox>,
        decrypt: Option<crypto_box::SalsaBox>,
    },
}

fn split64(key: &[u8]) -> Result<([u8; 32], [u8; 32])> {
    let (a, b) = key.split_at_checked(32).ok_or(Error::KeyLength {
        expected: "64 bytes",
        got: key.len(),
    })?;
    let a: [u8; 32] = a.try_into().map_err(|_| Error::KeyLength {
        expected: "64 bytes",
        got: key.len(),
    })?;
    let b: [u8; 32] = b.try_into().map_err(|_| Error::KeyLength {
        expected: "64 bytes",
        got: key.len(),
    })?;
    Ok((a, b))
}

impl LockboxBox {
    pub fn symmetric(algorithm: &str, key: &[u8]) -> Result<Self> {
        if key.len() != 32 {
            return Err(Error::KeyLength {
                expected: "32 bytes",
                got: key.len(),
            });
        }
        Ok(match algorithm {
            "aes-gcm" => Self::AesGcm(LcAead::aes_gcm(key)?),
            "xchacha20" => Self::XChaCha20(XChaCha::new(key)?),
            "xsalsa20" => Self::XSalsa20(
                crypto_secretbox::XSalsa20Poly1305::new_from_slice(key)
                    .map_err(|_| Error::Internal("secretbox key"))?,
            ),
            other => return Err(Error::Invalid(format!("unknown algorithm {other:?}"))),
        })
    }

    /// `encryption_key` = recipient public ‖ sender secret; `decryption_key` =
    /// recipient secret ‖ sender public (64 bytes each).
    pub fn hybrid(encryption_key: Option<&[u8]>, decryption_key: Option<&[u8]>) -> Result<Self> {
        let encrypt = encryption_key
            .map(|k| {
                let (public, secret) = split64(k)?;
                let secret = Zeroizing::new(secret);
                Ok::<_, Error>(crypto_box::SalsaBox::new(
                    &crypto_box::PublicKey::from(public),
                    &crypto_box::SecretKey::from(*secret),
                ))
            })
            .transpose()?;
        let decrypt = decryption_key
            .map(|k| {
                let (secret, public) = split64(k)?;
                let secret = Zeroizing::new(secret);
                Ok::<_, Error>(crypto_box::SalsaBox::new(
                    &crypto_box::PublicKey::from(public),
                    &crypto_box::SecretKey::from(*secret),
                ))
            })
            .transpose()?;
        if encrypt.is_none() && decrypt.is_none() {
            return Err(Error::Invalid(
                "a hybrid box needs an encryption or a decryption key".into(),
            ));
        }
        Ok(Self::Hybrid { encrypt, decrypt })
    }

    fn nonce_len(&self) -> usize {
        match self {
            Self::AesGcm(_) => 12,
            _ => 24,
        }
    }

    /// Whether the algorithm takes associated data.
    pub fn takes_aad(&self) -> bool {
        matches!(self, Self::AesGcm(_) | Self::XChaCha20(_))
    }

    pub fn can_encrypt(&self) -> bool {
        !matches!(self, Self::Hybrid { encrypt: None, .. })
    }

    pub fn can_decrypt(&self) -> bool {
        !matches!(self, Self::Hybrid { decrypt: None, .. })
    }

    /// nonce ‖ sealed (random nonce).
    pub fn encrypt(&self, message: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; 24];
        let nonce = nonce
            .get_mut(..self.nonce_len())
            .ok_or(Error::Internal("nonce"))?;
        rng::fill_public(nonce)?;
        let mut out = nonce.to_vec();
        match self {
            Self::AesGcm(aead) => {
                let start = out.len();
                out.resize(start + message.len() + TAG_LEN, 0);
                aead.seal_into(
                    nonce,
                    aad,
                    message,
                    out.get_mut(start..).ok_or(Error::Internal("len"))?,
                )?;
            }
            Self::XChaCha20(aead) => {
                let start = out.len();
                out.resize(start + message.len() + TAG_LEN, 0);
                aead.seal_into(
                    nonce,
                    aad,
                    message,
                    out.get_mut(start..).ok_or(Error::Internal("len"))?,
                )?;
            }
            Self::XSalsa20(b) => {
                let sealed = b
                    .encrypt(GenericArray::from_slice(nonce), message)
                    .map_err(|_| Error::Internal("secretbox"))?;
                out.extend_from_slice(&sealed);
            }
            Self::Hybrid { encrypt, .. } => {
                let b = encrypt
                    .as_ref()
                    .ok_or_else(|| Error::Invalid("no encryption key set".into()))?;
                let sealed = b
                    .encrypt(GenericArray::from_slice(nonce), message)
                    .map_err(|_| Error::Internal("crypto_box"))?;
                out.extend_from_slice(&sealed);
            }
        }
        Ok(out)
    }

    /// Open nonce ‖ sealed. Any failure is [`Error::Decrypt`].
    pub fn decrypt(&self, ciphertext: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let (nonce, sealed) = ciphertext
            .split_at_checked(self.nonce_len())
            .ok_or(Error::Decrypt)?;
        if sealed.len() < TAG_LEN {
            return Err(Error::Decrypt);
        }
        let mut out = Zeroizing::new(vec![0u8; sealed.len() - TAG_LEN]);
        match self {
            Self::AesGcm(aead) => aead.open_into(nonce, aad, sealed, &mut out)?,
            Self::XChaCha20(aead) => aead.open_into(nonce, aad, sealed, &mut out)?,
            Self::XSalsa20(b) => {
                *out = b
                    .decrypt(GenericArray::from_slice(nonce), sealed)
                    .map_err(|_| Error::Decrypt)?;
            }
            Self::Hybrid { decrypt, .. } => {
                let b = decrypt
                    .as_ref()
                    .ok_or_else(|| Error::Invalid("no decryption key set".into()))?;
                *out = b
                    .decrypt(GenericArray::from_slice(nonce), sealed)
                    .map_err(|_| Error::Decrypt)?;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_vectors() {
        // lockbox test_attribute_key
        let k = attribute_key(&[0u8; 32], b"users", b"license").unwrap();
        assert_eq!(
            hex::encode(k.as_ref()),
            "d96ffa3fe916b3a9b57d084f5781e95748333b877e32e6399e387d3d75b238a1"
        );
        // test_pad
        assert_eq!(
            hex::encode(pad(b"", 16).unwrap()),
            "80000000000000000000000000000000"
        );
        assert_eq!(
            hex::encode(pad(b"abcdefghijklmno", 16).unwrap()),
            "6162636465666768696a6b6c6d6e6f80"
        );
        assert_eq!(
            hex::encode(pad(b"abcdefghijklmnop", 16).unwrap()),
            "6162636465666768696a6b6c6d6e6f7080000000000000000000000000000000"
        );
        let mut v = pad(b"abc", 16).unwrap();
        unpad(&mut v, 16).unwrap();
        assert_eq!(v, b"abc");
        let mut bad = vec![1u8; 16];
        assert!(unpad(&mut bad, 16).is_err());
        // Compatibility.md: AES-GCM under a hex key
        use base64::Engine as _;
        let key = hex::decode("61e6ba4a3a2498e3a8fdcd047eff0cd9864016f2c83c34599a3257a57ce6f7fb")
            .unwrap();
        let ct = base64::engine::general_purpose::STANDARD
            .decode("Uv/+Sgar0kM216AvVlBH5Gt8vIwtQGfPysl539WY2DER62AoJg==")
            .unwrap();
        let b = LockboxBox::symmetric("aes-gcm", &key).unwrap();
        assert_eq!(b.decrypt(&ct, b"").unwrap().as_slice(), b"it works!");
    }

    #[test]
    fn round_trips_each_algorithm() {
        for alg in ["aes-gcm", "xchacha20", "xsalsa20"] {
            let b = LockboxBox::symmetric(alg, &[7u8; 32]).unwrap();
            let aad: &[u8] = if b.takes_aad() { b"ad" } else { b"" };
            let ct = b.encrypt(b"hello", aad).unwrap();
            assert_eq!(b.decrypt(&ct, aad).unwrap().as_slice(), b"hello");
            for i in 0..ct.len() {
                assert!(b.decrypt(&ct[..i], aad).is_err());
            }
        }
    }
}
