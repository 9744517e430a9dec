//! HPKE (RFC 9180), base mode, with DHKEM(X25519, HKDF-SHA256) and HKDF-SHA256:
//! a composition of aws-lc-rs's X25519 and AEADs with RustCrypto's HKDF, step
//! for step as RFC 9180 §4 and §5 write it (docs/public-keys.md says why not a
//! crate of its own). Checked against RFC 9180's vectors and Wycheproof's X25519
//! cases (tests/test_public_keys.py).

use aws_lc_rs::agreement::{self, UnparsedPublicKey, X25519};
use aws_lc_rs::encoding::AsBigEndian;
use hkdf::{Hkdf, HkdfExtract};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{LcAead, TAG_LEN};
use crate::core::error::{Error, Result};

pub const KEY_LEN: usize = 32;
/// `Nenc`, `Npk`: an X25519 public key.
pub const ENC_LEN: usize = 32;
const KEM_ID: u16 = 0x0020;
const KDF_ID: u16 = 0x0001;
const MODE_BASE: u8 = 0;

/// The AEADs of RFC 9180 §7.3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aead {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
}

impl Aead {
    pub fn from_id(id: u16) -> Option<Self> {
        match id {
            1 => Some(Self::Aes128Gcm),
            2 => Some(Self::Aes256Gcm),
            3 => Some(Self::ChaCha20Poly1305),
            _ => None,
        }
    }

    const fn id(self) -> u16 {
        match self {
            Self::Aes128Gcm => 1,
            Self::Aes256Gcm => 2,
            Self::ChaCha20Poly1305 => 3,
        }
    }

    const fn key_len(self) -> usize {
        match self {
            Self::Aes128Gcm => 16,
            _ => 32,
        }
    }

    fn key(self, key: &[u8]) -> Result<LcAead> {
        match self {
            Self::ChaCha20Poly1305 => LcAead::chacha20_poly1305(key),
            _ => LcAead::aes_gcm(key),
        }
    }
}

fn x25519_error() -> Error {
    Error::Invalid("not an X25519 key".into())
}

/// The public key of an X25519 private key (RFC 7748 scalar, clamped by X25519 itself).
pub fn public_key(private: &[u8]) -> Result<[u8; ENC_LEN]> {
    let sk = agreement::PrivateKey::from_private_key(&X25519, private).map_err(|_| {
        Error::KeyLength {
            expected: "32 bytes",
            got: private.len(),
        }
    })?;
    let pk = sk.compute_public_key().map_err(|_| x25519_error())?;
    pk.as_ref().try_into().map_err(|_| x25519_error())
}

/// A fresh X25519 key pair: (private, public).
pub fn generate() -> Result<(Zeroizing<[u8; KEY_LEN]>, [u8; ENC_LEN])> {
    let sk = agreement::PrivateKey::generate(&X25519).map_err(|_| Error::Random)?;
    let seed: aws_lc_rs::encoding::Curve25519SeedBin<'_> =
        sk.as_be_bytes().map_err(|_| x25519_error())?;
    let mut private = Zeroizing::new([0u8; KEY_LEN]);
    if seed.as_ref().len() != KEY_LEN {
        return Err(x25519_error());
    }
    private.copy_from_slice(seed.as_ref());
    let pk = sk.compute_public_key().map_err(|_| x25519_error())?;
    let public = pk.as_ref().try_into().map_err(|_| x25519_error())?;
    Ok((private, public))
}

/// X25519(private, public) (RFC 7748); fails on a public key of small order,
/// whose shared secret is all zeros (RFC 9180 §7.1.4), and on a wrong length.
pub fn x25519(private: &[u8], public: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
    let sk = agreement::PrivateKey::from_private_key(&X25519, private).map_err(|_| {
        Error::KeyLength {
            expected: "32 bytes",
            got: private.len(),
        }
    })?;
    agreement::agree(
        &sk,
        UnparsedPublicKey::new(&X25519, public),
        Error::Decrypt,
        |secret| {
            let mut out = Zeroizing::new([0u8; 32]);
            if secret.len() != 32 || secret.iter().all(|&b| b == 0) {
                return Err(Error::Decrypt);
            }
            out.copy_from_slice(secret);
            Ok(out)
        },
    )
}

/// `LabeledExtract(salt, label, ikm)` of RFC 9180 §4.
fn labeled_extract(suite: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> Hkdf<Sha256> {
    let mut ext = HkdfExtract::<Sha256>::new(Some(salt));
    for part in [b"HPKE-v1".as_slice(), suite, label, ikm] {
        ext.input_ikm(part);
    }
    ext.finalize().1
}

/// The PRK bytes of `LabeledExtract` (for a `secret` that is itself expanded).
fn labeled_extract_bytes(
    suite: &[u8],
    salt: &[u8],
    label: &[u8],
    ikm: &[u8],
) -> Zeroizing<Vec<u8>> {
    let mut ext = HkdfExtract::<Sha256>::new(Some(salt));
    for part in [b"HPKE-v1".as_slice(), suite, label, ikm] {
        ext.input_ikm(part);
    }
    Zeroizing::new(ext.finalize().0.to_vec())
}

/// `LabeledExpand(prk, label, info, L)` of RFC 9180 §4.
fn labeled_expand(
    prk: &Hkdf<Sha256>,
    suite: &[u8],
    label: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<()> {
    let len = u16::try_from(out.len())
        .map_err(|_| Error::Invalid("HPKE output too long".into()))?
        .to_be_bytes();
    prk.expand_multi_info(&[&len, b"HPKE-v1", suite, label, info], out)
        .map_err(|_| Error::Invalid("HPKE output too long".into()))
}

fn kem_suite() -> [u8; 5] {
    let id = KEM_ID.to_be_bytes();
    [b'K', b'E', b'M', id[0], id[1]]
}

/// `ExtractAndExpand(dh, kem_context)` of DHKEM (RFC 9180 §4.1).
fn shared_secret(dh: &[u8], enc: &[u8], pk_r: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
    let suite = kem_suite();
    let prk = labeled_extract(&suite, b"", b"eae_prk", dh);
    let mut out = Zeroizing::new([0u8; 32]);
    let mut context = [0u8; 2 * ENC_LEN];
    let (a, b) = context.split_at_mut(ENC_LEN);
    a.copy_from_slice(enc);
    b.copy_from_slice(pk_r);
    labeled_expand(&prk, &suite, b"shared_secret", &context, out.as_mut())?;
    Ok(out)
}

/// `DeriveKeyPair(ikm)` of DHKEM(X25519) (RFC 9180 §7.1.3): (private, public).
pub fn derive_key_pair(ikm: &[u8]) -> Result<(Zeroizing<[u8; KEY_LEN]>, [u8; ENC_LEN])> {
    let suite = kem_suite();
    let prk = labeled_extract(&suite, b"", b"dkp_prk", ikm);
    let mut sk = Zeroizing::new([0u8; KEY_LEN]);
    labeled_expand(&prk, &suite, b"sk", b"", sk.as_mut())?;
    let pk = public_key(sk.as_ref())?;
    Ok((sk, pk))
}

/// An HPKE context after `SetupBaseS` or `SetupBaseR` (RFC 9180 §5.1, §5.2).
pub struct Context {
    aead: LcAead,
    base_nonce: [u8; 12],
    exporter: Hkdf<Sha256>,
    suite: [u8; 10],
    seq: u64,
}

fn key_schedule(shared: &[u8], info: &[u8], aead: Aead) -> Result<Context> {
    let mut suite = [0u8; 10];
    suite[..4].copy_from_slice(b"HPKE");
    suite[4..6].copy_from_slice(&KEM_ID.to_be_bytes());
    suite[6..8].copy_from_slice(&KDF_ID.to_be_bytes());
    suite[8..10].copy_from_slice(&aead.id().to_be_bytes());
    let psk_id_hash = labeled_extract_bytes(&suite, b"", b"psk_id_hash", b"");
    let info_hash = labeled_extract_bytes(&suite, b"", b"info_hash", info);
    let mut ks_context = Zeroizing::new(Vec::with_capacity(65));
    ks_context.push(MODE_BASE);
    ks_context.extend_from_slice(&psk_id_hash);
    ks_context.extend_from_slice(&info_hash);
    let secret = labeled_extract(&suite, shared, b"secret", b"");
    let mut key = Zeroizing::new(vec![0u8; aead.key_len()]);
    labeled_expand(&secret, &suite, b"key", &ks_context, &mut key)?;
    let mut base_nonce = [0u8; 12];
    labeled_expand(&secret, &suite, b"base_nonce", &ks_context, &mut base_nonce)?;
    let mut exporter_secret = Zeroizing::new([0u8; 32]);
    labeled_expand(
        &secret,
        &suite,
        b"exp",
        &ks_context,
        exporter_secret.as_mut(),
    )?;
    let exporter = Hkdf::<Sha256>::from_prk(exporter_secret.as_ref())
        .map_err(|_| Error::Internal("exporter secret length"))?;
    Ok(Context {
        aead: aead.key(&key)?,
        base_nonce,
        exporter,
        suite,
        seq: 0,
    })
}

/// `SetupBaseS(pkR, info)`: `(enc, context)`; `ephemeral` fixes the sender's
/// key pair (tests only; `None` draws a fresh one).
pub fn setup_sender(
    pk_r: &[u8],
    info: &[u8],
    aead: Aead,
    ephemeral: Option<&[u8]>,
) -> Result<([u8; ENC_LEN], Context)> {
    if pk_r.len() != ENC_LEN {
        return Err(Error::KeyLength {
            expected: "32 bytes",
            got: pk_r.len(),
        });
    }
    let (sk_e, pk_e) = match ephemeral {
        Some(sk) => {
            let mut own = Zeroizing::new([0u8; KEY_LEN]);
            if sk.len() != KEY_LEN {
                return Err(x25519_error());
            }
            own.copy_from_slice(sk);
            let pk = public_key(sk)?;
            (own, pk)
        }
        None => generate()?,
    };
    // A low-order recipient key gives an all-zero secret: refused (a misuse, not a decryption).
    let dh = x25519(sk_e.as_ref(), pk_r)
        .map_err(|_| Error::Invalid("the public key is not a valid X25519 key".into()))?;
    let shared = shared_secret(dh.as_ref(), &pk_e, pk_r)?;
    Ok((pk_e, key_schedule(shared.as_ref(), info, aead)?))
}

/// `SetupBaseR(enc, skR, info)`.
pub fn setup_receiver(enc: &[u8], sk_r: &[u8], info: &[u8], aead: Aead) -> Result<Context> {
    if enc.len() != ENC_LEN {
        return Err(Error::Decrypt);
    }
    let dh = x25519(sk_r, enc)?;
    let pk_r = public_key(sk_r)?;
    let shared = shared_secret(dh.as_ref(), enc, &pk_r)?;
    key_schedule(shared.as_ref(), info, aead)
}

impl Context {
    fn nonce(&self) -> [u8; 12] {
        let mut nonce = self.base_nonce;
        for (n, s) in nonce.iter_mut().skip(4).zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        nonce
    }

    /// Skip to sequence number `seq` (tests against RFC 9180's encryptions).
    pub fn set_sequence(&mut self, seq: u64) {
        self.seq = seq;
    }

    /// `Seal(aad, pt)`: `ciphertext || tag`.
    pub fn seal(&mut self, aad: &[u8], plaintext: &[u8], out: &mut [u8]) -> Result<()> {
        self.aead.seal_into(&self.nonce(), aad, plaintext, out)?;
        self.seq = self
            .seq
            .checked_add(1)
            .ok_or(Error::Internal("HPKE sequence"))?;
        Ok(())
    }

    /// `Open(aad, ct)` into `out` (`ct.len() - 16` bytes).
    pub fn open(&mut self, aad: &[u8], ciphertext: &[u8], out: &mut [u8]) -> Result<()> {
        if ciphertext.len() < TAG_LEN {
            return Err(Error::Decrypt);
        }
        self.aead.open_into(&self.nonce(), aad, ciphertext, out)?;
        self.seq = self
            .seq
            .checked_add(1)
            .ok_or(Error::Internal("HPKE sequence"))?;
        Ok(())
    }

    /// `Export(exporter_context, L)`.
    pub fn export(&self, exporter_context: &[u8], out: &mut [u8]) -> Result<()> {
        labeled_expand(&self.exporter, &self.suite, b"sec", exporter_context, out)
    }
}

/// Single-shot `Seal` (RFC 9180 §6.1) with AES-256-GCM: `enc || ciphertext || tag` into `out`.
pub fn seal_base(
    pk_r: &[u8],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    out: &mut [u8],
) -> Result<()> {
    if out.len() != ENC_LEN + plaintext.len() + TAG_LEN {
        return Err(Error::Invalid("output buffer has the wrong length".into()));
    }
    let (enc_out, ct) = out.split_at_mut(ENC_LEN);
    let (enc, mut ctx) = setup_sender(pk_r, info, Aead::Aes256Gcm, None)?;
    enc_out.copy_from_slice(&enc);
    ctx.seal(aad, plaintext, ct)
}

/// Single-shot `Open` of `enc || ciphertext || tag` with AES-256-GCM.
pub fn open_base(
    sk_r: &[u8],
    info: &[u8],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let len = sealed
        .len()
        .checked_sub(ENC_LEN + TAG_LEN)
        .ok_or(Error::Decrypt)?;
    let (enc, ct) = sealed.split_at(ENC_LEN);
    let mut ctx = setup_receiver(enc, sk_r, info, Aead::Aes256Gcm)?;
    let mut out = Zeroizing::new(vec![0u8; len]);
    ctx.open(aad, ct, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    type Entry = BTreeMap<String, String>;

    /// The `~~~` blocks of one section of RFC 9180's vector text, each a list of entries.
    fn blocks(section: &str) -> Vec<Vec<Entry>> {
        let mut out = Vec::new();
        for (i, block) in section.split("~~~").enumerate() {
            if i % 2 == 0 {
                continue;
            }
            let mut entries = vec![];
            for para in block.split("\n\n") {
                let mut entry = Entry::new();
                let mut last = String::new();
                for line in para.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    match line.split_once(':') {
                        Some((k, v))
                            if k.chars()
                                .all(|c| c.is_ascii_alphabetic() || c == '_' || c == ' ') =>
                        {
                            last = k.to_string();
                            entry.insert(last.clone(), v.trim().to_string());
                        }
                        _ => entry.get_mut(&last).unwrap().push_str(line),
                    }
                }
                if !entry.is_empty() {
                    entries.push(entry);
                }
            }
            out.push(entries);
        }
        out
    }

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn rfc9180_base_mode_vectors() {
        let text = include_str!("../../../../tests/vectors/hpke_rfc9180_x25519.txt");
        let mut checked = 0;
        for section in text.split("\n### ").filter(|s| s.starts_with("Base Setup")) {
            let b = blocks(section);
            let setup = &b[0][0];
            assert_eq!(setup["mode"], "0");
            let aead = Aead::from_id(setup["aead_id"].parse().unwrap()).unwrap();
            let info = h(&setup["info"]);
            // DeriveKeyPair gives the vectors' key pairs.
            let (sk_e, pk_e) = derive_key_pair(&h(&setup["ikmE"])).unwrap();
            assert_eq!(sk_e.to_vec(), h(&setup["skEm"]));
            assert_eq!(pk_e.to_vec(), h(&setup["pkEm"]));
            let (sk_r, pk_r) = derive_key_pair(&h(&setup["ikmR"])).unwrap();
            assert_eq!(sk_r.to_vec(), h(&setup["skRm"]));
            assert_eq!(pk_r.to_vec(), h(&setup["pkRm"]));
            let dh = x25519(&sk_e[..], &pk_r).unwrap();
            assert_eq!(
                shared_secret(&dh[..], &pk_e, &pk_r).unwrap().to_vec(),
                h(&setup["shared_secret"])
            );
            let (enc, mut sender) = setup_sender(&pk_r, &info, aead, Some(&sk_e[..])).unwrap();
            assert_eq!(enc.to_vec(), h(&setup["enc"]));
            let mut receiver = setup_receiver(&enc, &sk_r[..], &info, aead).unwrap();
            for e in &b[1] {
                let seq: u64 = e["sequence number"].parse().unwrap();
                let (pt, aad, ct) = (h(&e["pt"]), h(&e["aad"]), h(&e["ct"]));
                sender.set_sequence(seq);
                assert_eq!(sender.nonce().to_vec(), h(&e["nonce"]));
                let mut out = vec![0u8; pt.len() + TAG_LEN];
                sender.seal(&aad, &pt, &mut out).unwrap();
                assert_eq!(out, ct, "seq {seq}");
                receiver.set_sequence(seq);
                let mut back = vec![0u8; pt.len()];
                receiver.open(&aad, &ct, &mut back).unwrap();
                assert_eq!(back, pt);
                receiver.set_sequence(seq);
                assert!(receiver.open(b"other", &ct, &mut back).is_err());
                checked += 1;
            }
            for e in &b[2] {
                let mut out = vec![0u8; e["L"].parse().unwrap()];
                receiver
                    .export(&h(&e["exporter_context"]), &mut out)
                    .unwrap();
                assert_eq!(out, h(&e["exported_value"]));
                sender.export(&h(&e["exporter_context"]), &mut out).unwrap();
                assert_eq!(out, h(&e["exported_value"]));
                checked += 1;
            }
        }
        // Two AEADs, each 6 encryptions (the text lists 0, 1, 2, 4, 255, 256) and 3 exports.
        assert_eq!(checked, 2 * (6 + 3));
    }

    #[test]
    fn wycheproof_x25519() {
        let text = include_str!("../../../../tests/vectors/wycheproof/x25519_test.json");
        let json: serde_json::Value = serde_json::from_str(text).unwrap();
        let (mut computed, mut refused) = (0, 0);
        for group in json["testGroups"].as_array().unwrap() {
            for t in group["tests"].as_array().unwrap() {
                let (private, public, shared) = (
                    h(t["private"].as_str().unwrap()),
                    h(t["public"].as_str().unwrap()),
                    h(t["shared"].as_str().unwrap()),
                );
                let zero = shared.iter().all(|&b| b == 0);
                match x25519(&private, &public) {
                    Ok(got) => {
                        assert_eq!(got.to_vec(), shared, "tcId {}", t["tcId"]);
                        assert!(!zero);
                        computed += 1;
                    }
                    Err(_) => {
                        // Only the low-order points (an all-zero shared secret) are refused.
                        assert!(zero, "tcId {} refused", t["tcId"]);
                        refused += 1;
                    }
                }
            }
        }
        assert_eq!(computed + refused, 518);
        assert!(refused > 0 && computed > 400);
    }

    #[test]
    fn single_shot_round_trip_and_refusals() {
        let (sk, pk) = generate().unwrap();
        assert_eq!(public_key(&sk[..]).unwrap(), pk);
        let mut sealed = vec![0u8; ENC_LEN + 5 + TAG_LEN];
        seal_base(&pk, b"info", b"aad", b"hello", &mut sealed).unwrap();
        assert_eq!(
            &open_base(&sk[..], b"info", b"aad", &sealed).unwrap()[..],
            b"hello"
        );
        for (info, aad) in [(&b"other"[..], &b"aad"[..]), (b"info", b"other")] {
            assert_eq!(
                open_base(&sk[..], info, aad, &sealed).map(|_| ()),
                Err(Error::Decrypt)
            );
        }
        let (other, _) = generate().unwrap();
        assert!(open_base(&other[..], b"info", b"aad", &sealed).is_err());
        for i in [0, 31, 32, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(open_base(&sk[..], b"info", b"aad", &bad).is_err(), "{i}");
        }
        assert!(open_base(&sk[..], b"info", b"aad", &sealed[..40]).is_err());
        // A low-order recipient key (all zeros) is refused when sealing.
        let mut out = vec![0u8; ENC_LEN + TAG_LEN];
        assert!(matches!(
            seal_base(&[0u8; 32], b"", b"", b"", &mut out),
            Err(Error::Invalid(_))
        ));
        assert!(seal_base(&[1u8; 31], b"", b"", b"", &mut out[..47]).is_err());
    }
}
