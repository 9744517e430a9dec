//! Sealing and opening messages with a keyring: the logic behind `sealbox.Box`.

use std::sync::Arc;

use zeroize::Zeroizing;

use crate::core::error::{Error, Result};
use crate::core::format::envelope::{self as wire, EnvelopeMessage};
use crate::core::format::{self, header, Message, Parsed, Suite, COMMIT_LEN, HEADER_LEN};
use crate::core::keys::{label, prf_out, KeyMaterial, Keyring};
use crate::core::primitives::{
    equal, one_time_gcm_open as gcm_open, one_time_gcm_seal as gcm_seal, with_aad, AesSiv,
};
use crate::core::rng;

pub mod envelope;
pub mod stream;

use envelope::RunMemo;

/// Seals under the active key of a keyring with one suite; opens messages of
/// every suite under any key of the ring.
///
/// In envelope mode the ring's keys are key-encryption keys: every message gets
/// a fresh data key wrapped by the active one (docs/format.md, suite 4).
/// Either mode opens both kinds of message under the ring's keys, so that
/// `rotate` can move data into or out of envelope encryption.
#[derive(Clone)]
pub struct Sealer {
    ring: Arc<Keyring>,
    suite: Suite,
    envelope: bool,
}

/// What the header of a message says, for planning a batch.
pub struct Inspection {
    pub plaintext_len: usize,
    /// Already under the active key and this sealer's mode and suite.
    pub current: bool,
    /// An envelope message, wrapped by a key of this ring.
    pub envelope: bool,
    /// For envelope messages: the length of the message re-wrapped by the active key.
    pub rewrapped_len: usize,
}

impl Sealer {
    pub fn new(ring: Arc<Keyring>, suite: Suite) -> Self {
        Self {
            ring,
            suite,
            envelope: false,
        }
    }

    /// A sealer whose keys wrap a fresh data key per message.
    pub fn envelope(ring: Arc<Keyring>) -> Self {
        Self {
            ring,
            suite: Suite::Aes256Gcm,
            envelope: true,
        }
    }

    pub fn suite(&self) -> Suite {
        self.suite
    }

    pub fn is_envelope(&self) -> bool {
        self.envelope
    }

    /// What a parsed message's header says to this sealer; fails (opaquely)
    /// when its key is not in the ring.
    #[inline]
    pub fn inspect(&self, msg: &Parsed<'_>) -> Result<Inspection> {
        let active = self.ring.active_id();
        self.ring.get(msg.key_id()).ok_or(Error::Decrypt)?;
        Ok(match msg {
            Parsed::Envelope(m) => Inspection {
                plaintext_len: m.ciphertext.len(),
                current: self.envelope && m.kek_id == active,
                envelope: true,
                rewrapped_len: wire::FIXED_HEADER_LEN + wire::LOCAL_WRAPPED_LEN + m.payload.len(),
            },
            Parsed::Sealed(m) => Inspection {
                plaintext_len: m.ciphertext.len(),
                current: !self.envelope && m.key_id == active && m.suite == self.suite,
                envelope: false,
                rewrapped_len: 0,
            },
        })
    }

    /// Open a parsed message of either kind into `out` (exactly its plaintext
    /// length); `memo` carries a data key shared with the previous envelope
    /// message of a run ([`RunMemo`]).
    #[inline]
    pub fn open_parsed(
        &self,
        msg: &Parsed<'_>,
        context: &[u8],
        out: &mut [u8],
        memo: &mut RunMemo,
    ) -> Result<()> {
        match msg {
            Parsed::Envelope(m) => envelope::open_local(&self.ring, m, context, out, memo),
            Parsed::Sealed(m) => {
                let key = self.ring.get(m.key_id).ok_or(Error::Decrypt)?;
                open_with(key, m, context, out)
            }
        }
    }

    /// Re-wrap an envelope message's data key under the active key (payload
    /// copied); `memo` carries a data key shared with the previous message
    /// ([`RunMemo`]).
    #[inline]
    pub fn rewrap_into(
        &self,
        msg: &EnvelopeMessage<'_>,
        context: &[u8],
        out: &mut [u8],
        memo: &mut RunMemo,
    ) -> Result<()> {
        envelope::rewrap_local(&self.ring, msg, context, out, memo)
    }

    pub fn keyring(&self) -> &Arc<Keyring> {
        &self.ring
    }

    /// Length of the binary message for a plaintext of `len` bytes.
    pub fn sealed_len(&self, len: usize) -> Result<usize> {
        if self.envelope {
            return envelope::local_sealed_len(len);
        }
        len.checked_add(self.suite.overhead())
            .ok_or_else(|| Error::Invalid("data is too large".into()))
    }

    /// Seal `plaintext` under the active key into `out` (exactly `sealed_len` bytes).
    pub fn seal_into(&self, plaintext: &[u8], context: &[u8], out: &mut [u8]) -> Result<()> {
        self.seal_into_with(plaintext, context, Nonce::Random, out)
    }

    /// `seal_into` with the nonce (or salt) from `nonce`. An envelope sealer draws a
    /// fresh data key either way.
    pub fn seal_into_with(
        &self,
        plaintext: &[u8],
        context: &[u8],
        nonce: Nonce<'_>,
        out: &mut [u8],
    ) -> Result<()> {
        if self.envelope {
            return envelope::seal_local(self.ring.active(), plaintext, context, out);
        }
        seal_with(
            self.ring.active(),
            self.suite,
            plaintext,
            context,
            nonce,
            out,
        )
    }

    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>> {
        let mut out = vec![0u8; self.sealed_len(plaintext.len())?];
        self.seal_into(plaintext, context, &mut out)?;
        Ok(out)
    }

    /// Whether equal plaintexts give equal messages (AES-SIV, not envelope).
    pub fn is_deterministic(&self) -> bool {
        !self.envelope && self.suite.is_deterministic()
    }

    /// The deterministic message under every key of the ring (for `IN (...)` lookups),
    /// active key first.
    pub fn lookup_values(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<Vec<u8>>> {
        if !self.is_deterministic() {
            return Err(Error::Invalid(
                "lookup values need the deterministic suite (aes-256-siv)".into(),
            ));
        }
        let active = self.ring.active_id();
        let ids = std::iter::once(active).chain(self.ring.ids().filter(|&id| id != active));
        ids.map(|id| {
            let key = self
                .ring
                .get(id)
                .ok_or(Error::Internal("a ring id without a key"))?;
            let mut out = vec![0u8; self.sealed_len(plaintext.len())?];
            seal_with(key, self.suite, plaintext, context, Nonce::Random, &mut out)?;
            Ok(out)
        })
        .collect()
    }

    /// Open a message in either encoding.
    pub fn open(&self, message: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let binary = format::decode(message)?;
        self.open_message(&Parsed::parse(&binary)?, context)
    }

    /// Open a parsed message of either kind into a new buffer.
    pub fn open_message(&self, msg: &Parsed<'_>, context: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let mut out = Zeroizing::new(vec![0u8; self.inspect(msg)?.plaintext_len]);
        self.open_parsed(msg, context, &mut out, &mut RunMemo::default())?;
        Ok(out)
    }

    /// Whether a message is under another key or suite than this sealer's,
    /// judged from the header alone.
    pub fn needs_rotation(&self, message: &[u8]) -> Result<bool> {
        let binary = format::decode(message)?;
        let active = self.ring.active_id();
        Ok(match Parsed::parse(&binary)? {
            Parsed::Envelope(m) => !self.envelope || m.kek_id != active,
            Parsed::Sealed(m) => self.envelope || m.key_id != active || m.suite != self.suite,
        })
    }
}

/// Where a seal's nonce (the GCM suite's salt) comes from.
#[derive(Clone, Copy, Debug)]
pub enum Nonce<'a> {
    /// Drawn from the RNG.
    Random,
    /// Derived from the binary message being rotated and the context
    /// (docs/format.md, "Repeatable rotation"): `PRF(key, "sealbox/v1/rotate/nonce\0",
    /// header || u64be(len(context)) || context || message)`, truncated. The same
    /// message and context always give the same new message.
    From(&'a [u8]),
}

fn seal_with(
    key: &KeyMaterial,
    suite: Suite,
    plaintext: &[u8],
    context: &[u8],
    source: Nonce<'_>,
    out: &mut [u8],
) -> Result<()> {
    if out.len() != plaintext.len() + suite.overhead() {
        return Err(Error::Invalid("output buffer has the wrong length".into()));
    }
    let head = header(suite, key.id());
    let (prefix, body) = out.split_at_mut(suite.prefix_len());
    let (h, rest) = prefix.split_at_mut(HEADER_LEN);
    h.copy_from_slice(&head);
    let (nonce, rest) = rest.split_at_mut(suite.nonce_len());
    let (commit, _) = rest.split_at_mut(COMMIT_LEN);
    commit.copy_from_slice(key.commitment(suite));
    match source {
        Nonce::Random => rng::fill_public(nonce)?,
        Nonce::From(message) => {
            let len = (context.len() as u64).to_be_bytes();
            let derived = prf_out(
                key.prf(),
                label::ROTATE_NONCE,
                &[&head, &len, context, message],
            );
            let take = derived
                .get(..nonce.len())
                .ok_or(Error::Internal("nonce longer than the PRF's output"))?;
            nonce.copy_from_slice(take);
        }
    }
    match suite {
        Suite::Aes256Gcm => {
            let subkey = key.gcm_subkey(&head, nonce);
            let (ct, tag) = body.split_at_mut(plaintext.len());
            with_aad(prefix, context, |aad| {
                gcm_seal(&subkey, aad, plaintext, ct, tag)
            })
        }
        Suite::XChaCha20Poly1305 => {
            let (ct, tag) = body.split_at_mut(plaintext.len());
            // `prefix` holds the nonce just drawn.
            let nonce = prefix
                .get(HEADER_LEN..HEADER_LEN + suite.nonce_len())
                .ok_or(Error::Internal("message prefix length"))?;
            with_aad(prefix, context, |aad| {
                key.xchacha().seal_detached(nonce, aad, plaintext, ct, tag)
            })
        }
        Suite::Aes256Siv => {
            // Header and commitment form the first AD component; SIV || ciphertext
            // fill the rest of the message, exactly AesSiv's output layout.
            let mut ad = [0u8; HEADER_LEN + COMMIT_LEN];
            let short = || Error::Internal("message prefix length");
            ad.copy_from_slice(out.get(..HEADER_LEN + COMMIT_LEN).ok_or_else(short)?);
            let tail = out.get_mut(HEADER_LEN + COMMIT_LEN..).ok_or_else(short)?;
            AesSiv::new(key.siv_key())?.encrypt_into(&[&ad, context], plaintext, tail)
        }
    }
}

fn open_with(key: &KeyMaterial, msg: &Message<'_>, context: &[u8], out: &mut [u8]) -> Result<()> {
    let suite = msg.suite;
    if out.len() != msg.ciphertext.len() {
        return Err(Error::Decrypt);
    }
    if !equal(msg.commitment, key.commitment(suite)) {
        return Err(Error::Decrypt);
    }
    match suite {
        Suite::Aes256Gcm => {
            let subkey = key.gcm_subkey(&msg.header, msg.nonce);
            with_aad(msg.prefix, context, |aad| {
                gcm_open(&subkey, aad, msg.ciphertext, msg.tag, out)
            })
        }
        Suite::XChaCha20Poly1305 => with_aad(msg.prefix, context, |aad| {
            key.xchacha()
                .open_detached(msg.nonce, aad, msg.ciphertext, msg.tag, out)
        }),
        Suite::Aes256Siv => {
            let ad = msg
                .prefix
                .get(..HEADER_LEN + COMMIT_LEN)
                .ok_or(Error::Decrypt)?;
            let tail = msg
                .raw
                .get(HEADER_LEN + COMMIT_LEN..)
                .ok_or(Error::Decrypt)?;
            AesSiv::new(key.siv_key())?.decrypt_into(&[ad, context], tail, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::keys::SecretKey;

    fn ring(ids: &[u32], active: u32) -> Arc<Keyring> {
        let keys = ids
            .iter()
            .map(|&id| (id, SecretKey::from_slice(&[id as u8 + 1; 32]).unwrap()));
        Arc::new(Keyring::new(keys, active).unwrap())
    }

    #[test]
    fn round_trip_every_suite_and_bit_flip() {
        for suite in Suite::ALL {
            let s = Sealer::new(ring(&[1, 2], 2), suite);
            let ct = s.seal(b"alice@example.org", b"users/1/email").unwrap();
            assert_eq!(ct.len(), 17 + suite.overhead());
            assert_eq!(
                s.open(&ct, b"users/1/email").unwrap().as_slice(),
                b"alice@example.org"
            );
            assert_eq!(s.open(&ct, b"users/2/email"), Err(Error::Decrypt));
            for i in 0..ct.len() * 8 {
                let mut bad = ct.clone();
                bad[i / 8] ^= 1 << (i % 8);
                assert!(s.open(&bad, b"users/1/email").is_err(), "{suite:?} bit {i}");
            }
            let text = format::encode_text(&ct);
            assert_eq!(
                s.open(text.as_bytes(), b"users/1/email")
                    .unwrap()
                    .as_slice(),
                b"alice@example.org"
            );
        }
    }

    #[test]
    fn a_derived_nonce_repeats_for_one_source_and_context_only() {
        for suite in [Suite::Aes256Gcm, Suite::XChaCha20Poly1305] {
            let s = Sealer::new(ring(&[1, 2], 2), suite);
            let seal = |source: &[u8], ctx: &[u8]| {
                let mut out = vec![0u8; s.sealed_len(5).unwrap()];
                s.seal_into_with(b"hello", ctx, Nonce::From(source), &mut out)
                    .unwrap();
                out
            };
            let first = seal(b"old message", b"ctx");
            assert_eq!(first, seal(b"old message", b"ctx"));
            assert_eq!(s.open(&first, b"ctx").unwrap().as_slice(), b"hello");
            let nonce = HEADER_LEN..HEADER_LEN + suite.nonce_len();
            // Another source or context: another nonce (and so another message).
            for other in [
                seal(b"old messagf", b"ctx"),
                seal(b"old message", b"ctw"),
                // The context's length is bound: moving a byte between the two differs.
                seal(b"xold message", b"ct"),
            ] {
                assert_ne!(first[nonce.clone()], other[nonce.clone()]);
            }
            assert_ne!(first, s.seal(b"hello", b"ctx").unwrap());
            // The derivation is the one docs/format.md states.
            let key = s.keyring().active();
            let want = prf_out(
                key.prf(),
                label::ROTATE_NONCE,
                &[
                    &header(suite, 2),
                    &3u64.to_be_bytes(),
                    b"ctx",
                    b"old message",
                ],
            );
            assert_eq!(&first[nonce.clone()], &want[..suite.nonce_len()]);
        }
    }

    #[test]
    fn a_message_viewed_from_its_shape_opens_as_it_does_parsed() {
        let mut sealers: Vec<Sealer> = Suite::ALL
            .into_iter()
            .map(|suite| Sealer::new(ring(&[1, 2], 2), suite))
            .collect();
        sealers.push(Sealer::envelope(ring(&[1, 2], 2)));
        for s in &sealers {
            let ct = s.seal(b"alice@example.org", b"users/1/email").unwrap();
            let mut tampered = vec![ct.clone()];
            for i in 0..ct.len() * 8 {
                let mut bad = ct.clone();
                bad[i / 8] ^= 1 << (i % 8);
                tampered.push(bad);
            }
            for (i, m) in tampered.iter().enumerate() {
                // A message that does not parse never has a shape to open.
                let Ok(parsed) = Parsed::parse(m) else {
                    continue;
                };
                let viewed = Parsed::at(m, parsed.shape()).unwrap();
                for ctx in [&b"users/1/email"[..], b"users/2/email"] {
                    assert_eq!(
                        s.open_message(&viewed, ctx),
                        s.open(m, ctx),
                        "{:?} bit {i}",
                        s.suite()
                    );
                }
            }
            let parsed = Parsed::parse(&ct).unwrap();
            let viewed = Parsed::at(&ct, parsed.shape()).unwrap();
            assert_eq!(
                s.open_message(&viewed, b"users/1/email")
                    .unwrap()
                    .as_slice(),
                b"alice@example.org"
            );
        }
    }

    #[test]
    fn deterministic_and_lookup() {
        let s = Sealer::new(ring(&[1, 2], 2), Suite::Aes256Siv);
        assert_eq!(s.seal(b"x", b"").unwrap(), s.seal(b"x", b"").unwrap());
        let old = Sealer::new(ring(&[1], 1), Suite::Aes256Siv);
        let lv = s.lookup_values(b"x", b"").unwrap();
        assert_eq!(lv.len(), 2);
        assert_eq!(lv[0], s.seal(b"x", b"").unwrap());
        assert_eq!(lv[1], old.seal(b"x", b"").unwrap());
    }

    #[test]
    fn key_id_edit_fails() {
        let s = Sealer::new(ring(&[1, 2], 2), Suite::Aes256Gcm);
        let mut ct = s.seal(b"v", b"").unwrap();
        ct[5] = 1;
        assert_eq!(s.open(&ct, b""), Err(Error::Decrypt));
        assert!(s.needs_rotation(&ct).unwrap());
    }
}
