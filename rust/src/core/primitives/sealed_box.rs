//! libsodium's sealed boxes (`crypto_box_seal`, `crypto_box_seal_open`), from
//! RustCrypto's `crypto_box` crate: X25519, XSalsa20-Poly1305, and a nonce of
//! BLAKE2b(ephemeral public key ‖ recipient public key). For interoperability
//! with libsodium and PyNaCl (`sealbox.hazmat.SealedBox`); sealbox's own
//! public-key messages are HPKE (`hpke`).

use crypto_box::aead::rand_core::{CryptoRng, RngCore};
use crypto_box::{PublicKey, SecretKey, KEY_SIZE};
use zeroize::Zeroizing;

use super::hpke;
use crate::core::error::{Error, Result};
use crate::core::rng;

/// `crypto_box_SEALBYTES`: the ephemeral public key and the Poly1305 tag.
pub const OVERHEAD: usize = 48;

/// The ephemeral key's randomness: the same generator as sealbox's data keys.
struct SecretRng;

impl RngCore for SecretRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // The trait cannot fail here; a failed generator leaves a pattern the
        // caller notices (`try_fill_bytes` is what `seal` below uses first).
        if rng::fill_secret(dest).is_err() {
            dest.fill(0);
        }
    }

    fn try_fill_bytes(
        &mut self,
        dest: &mut [u8],
    ) -> std::result::Result<(), crypto_box::aead::rand_core::Error> {
        rng::fill_secret(dest)
            .map_err(|_| crypto_box::aead::rand_core::Error::from(std::num::NonZeroU32::MAX))
    }
}

impl CryptoRng for SecretRng {}

fn recipient(public: &[u8]) -> Result<PublicKey> {
    let key: [u8; KEY_SIZE] = public.try_into().map_err(|_| Error::KeyLength {
        expected: "32 bytes",
        got: public.len(),
    })?;
    // As libsodium: a recipient key of small order (an all-zero shared secret) is refused.
    hpke::x25519(&[0x55u8; KEY_SIZE], &key).map_err(|_| {
        Error::Invalid("not a usable X25519 public key (a point of small order)".into())
    })?;
    Ok(PublicKey::from(key))
}

/// `crypto_box_seal(message, public)`: `ephemeral public key ‖ tag ‖ ciphertext`.
pub fn seal(public: &[u8], message: &[u8]) -> Result<Vec<u8>> {
    let pk = recipient(public)?;
    let mut probe = [0u8; 1];
    SecretRng
        .try_fill_bytes(&mut probe)
        .map_err(|_| Error::Random)?;
    pk.seal(&mut SecretRng, message)
        .map_err(|_| Error::Invalid("message too large for a sealed box".into()))
}

/// `crypto_box_seal_open(sealed, public, secret)`.
pub fn open(secret: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let key: [u8; KEY_SIZE] = secret.try_into().map_err(|_| Error::KeyLength {
        expected: "32 bytes",
        got: secret.len(),
    })?;
    let sk = SecretKey::from(key);
    let ephemeral = sealed.get(..KEY_SIZE).ok_or(Error::Decrypt)?;
    if sealed.len() < OVERHEAD {
        return Err(Error::Decrypt);
    }
    // An ephemeral key of small order is refused, as libsodium refuses it.
    hpke::x25519(&key, ephemeral)?;
    sk.unseal(sealed)
        .map(Zeroizing::new)
        .map_err(|_| Error::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Yields the given bytes: the KAT's fixed ephemeral secret key.
    struct Fixed(Vec<u8>);

    impl RngCore for Fixed {
        fn next_u32(&mut self) -> u32 {
            let mut b = [0u8; 4];
            self.fill_bytes(&mut b);
            u32::from_le_bytes(b)
        }
        fn next_u64(&mut self) -> u64 {
            let mut b = [0u8; 8];
            self.fill_bytes(&mut b);
            u64::from_le_bytes(b)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            let n = dest.len();
            dest.copy_from_slice(&self.0[..n]);
            self.0.drain(..n);
        }
        fn try_fill_bytes(
            &mut self,
            dest: &mut [u8],
        ) -> std::result::Result<(), crypto_box::aead::rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    impl CryptoRng for Fixed {}

    fn h(s: &serde_json::Value) -> Vec<u8> {
        hex::decode(s.as_str().unwrap()).unwrap()
    }

    #[test]
    fn libsodium_known_answers() {
        let text = include_str!("../../../../tests/vectors/sealed_box_kat.json");
        let kat: serde_json::Value = serde_json::from_str(text).unwrap();
        let (sk, pk, esk) = (
            h(&kat["recipient_private"]),
            h(&kat["recipient_public"]),
            h(&kat["ephemeral_private"]),
        );
        let mut n = 0;
        for v in kat["vectors"].as_array().unwrap() {
            let (msg, sealed) = (h(&v["msg"]), h(&v["sealed"]));
            let pk_arr: [u8; 32] = pk.clone().try_into().unwrap();
            let ours = PublicKey::from(pk_arr)
                .seal(&mut Fixed(esk.clone()), &msg)
                .unwrap();
            assert_eq!(ours, sealed, "{}", v["id"]);
            assert_eq!(&open(&sk, &sealed).unwrap()[..], &msg[..]);
            n += 1;
        }
        assert_eq!(n, 4);
        let negatives = kat["negative"]
            .as_array()
            .or(kat["negative_vectors"].as_array())
            .unwrap();
        for v in negatives {
            let sealed = h(&v["sealed"]);
            assert_eq!(open(&sk, &sealed).map(|_| ()), Err(Error::Decrypt), "{}", v);
        }
        assert_eq!(negatives.len(), 4);
    }

    #[test]
    fn round_trip_and_refusals() {
        let (sk, pk) = hpke::generate().unwrap();
        let sealed = seal(&pk, b"hello").unwrap();
        assert_eq!(sealed.len(), 5 + OVERHEAD);
        assert_eq!(&open(&sk[..], &sealed).unwrap()[..], b"hello");
        let (other, _) = hpke::generate().unwrap();
        assert!(open(&other[..], &sealed).is_err());
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(open(&sk[..], &bad).is_err(), "{i}");
        }
        assert!(open(&sk[..], &sealed[..47]).is_err());
        assert!(matches!(seal(&[0u8; 32], b""), Err(Error::Invalid(_))));
        let mut low = sealed.clone();
        low[..32].fill(0);
        assert!(open(&sk[..], &low).is_err());
    }
}
