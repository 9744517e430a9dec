//! Envelope crypto (suite 4): data keys, their payloads and local wraps under a
//! keyring's key-encryption keys. The wire format is `format::envelope`;
//! docs/format.md is the specification.

use hmac::Mac;
use zeroize::Zeroizing;

use crate::core::error::{Error, Result};
use crate::core::format::envelope::*;
use crate::core::format::{COMMIT_LEN, SALT_LEN};
use crate::core::keys::{label, prf_out, KeyMaterial, Keyring, KEY_LEN};
use crate::core::primitives::{
    equal, one_time_gcm_open as gcm_open, one_time_gcm_seal as gcm_seal, with_aad, HmacSha256,
};
use crate::core::rng;

/// A data key, expanded once: its keyed HMAC state and its commitment.
pub struct DataKey {
    prf: HmacSha256,
    commit: [u8; COMMIT_LEN],
}

impl DataKey {
    pub fn new(key: &[u8]) -> Result<Self> {
        if key.len() != KEY_LEN {
            return Err(Error::KeyLength {
                expected: "32 bytes",
                got: key.len(),
            });
        }
        let prf = <HmacSha256 as hmac::KeyInit>::new_from_slice(key)
            .map_err(|_| Error::Invalid("invalid data key".into()))?;
        let full = prf_out(&prf, label::DATA_KEY_COMMIT, &[&PAYLOAD_HEADER]);
        let mut commit = [0u8; COMMIT_LEN];
        commit.copy_from_slice(
            full.get(..COMMIT_LEN)
                .ok_or(Error::Internal("commitment length"))?,
        );
        Ok(Self { prf, commit })
    }

    /// A fresh random data key and its bytes (to be wrapped).
    pub fn generate() -> Result<(Self, Zeroizing<[u8; KEY_LEN]>)> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng::fill_data_key(bytes.as_mut())?;
        Ok((Self::new(bytes.as_ref())?, bytes))
    }

    fn subkey(&self, salt: &[u8]) -> Zeroizing<[u8; 32]> {
        let mut mac = self.prf.clone();
        mac.update(label::DATA_KEY_SUBKEY);
        mac.update(&PAYLOAD_HEADER);
        mac.update(salt);
        Zeroizing::new(mac.finalize().into_bytes().into())
    }
}

/// Seal `plaintext` under a data key into `payload` (exactly `plaintext.len() + PAYLOAD_OVERHEAD`).
pub fn seal_payload(
    dk: &DataKey,
    plaintext: &[u8],
    context: &[u8],
    payload: &mut [u8],
) -> Result<()> {
    if payload.len() != plaintext.len() + PAYLOAD_OVERHEAD {
        return Err(Error::Invalid("output buffer has the wrong length".into()));
    }
    let (prefix, body) = payload.split_at_mut(SALT_LEN + COMMIT_LEN);
    let (salt, commit) = prefix.split_at_mut(SALT_LEN);
    rng::fill_public(salt)?;
    commit.copy_from_slice(&dk.commit);
    let subkey = dk.subkey(salt);
    let head = payload_prefix(prefix)?;
    let (ct, tag) = body.split_at_mut(plaintext.len());
    with_aad(&head, context, |aad| {
        gcm_seal(&subkey, aad, plaintext, ct, tag)
    })
}

/// The payload's associated data before the context: `P || salt || commitment`.
fn payload_prefix(salt_and_commit: &[u8]) -> Result<[u8; 6 + SALT_LEN + COMMIT_LEN]> {
    let mut out = [0u8; 6 + SALT_LEN + COMMIT_LEN];
    let (head, rest) = out.split_at_mut(PAYLOAD_HEADER.len());
    head.copy_from_slice(&PAYLOAD_HEADER);
    if rest.len() != salt_and_commit.len() {
        return Err(Error::Internal("payload prefix length"));
    }
    rest.copy_from_slice(salt_and_commit);
    Ok(out)
}

/// Open the payload of `msg` under a data key into `out` (`msg.ciphertext.len()` bytes).
pub fn open_payload(
    dk: &DataKey,
    msg: &EnvelopeMessage<'_>,
    context: &[u8],
    out: &mut [u8],
) -> Result<()> {
    if out.len() != msg.ciphertext.len() || !equal(msg.commitment, &dk.commit) {
        return Err(Error::Decrypt);
    }
    let subkey = dk.subkey(msg.salt);
    let prefix = msg
        .payload
        .get(..SALT_LEN + COMMIT_LEN)
        .ok_or(Error::Decrypt)?;
    let head = payload_prefix(prefix)?;
    with_aad(&head, context, |aad| {
        gcm_open(&subkey, aad, msg.ciphertext, msg.tag, out)
    })
}

/// Seal a whole message under a data key wrapped elsewhere (a KMS): `out` is
/// exactly `plaintext.len() + overhead(wrapped.len())` bytes.
pub fn seal_with_data_key(
    dk: &DataKey,
    kek_id: u32,
    flags: u8,
    wrapped: &[u8],
    plaintext: &[u8],
    context: &[u8],
    out: &mut [u8],
) -> Result<()> {
    if out.len() != plaintext.len() + overhead(wrapped.len()) {
        return Err(Error::Invalid("output buffer has the wrong length".into()));
    }
    let payload = write_header(out, kek_id, flags, wrapped)?;
    seal_payload(dk, plaintext, context, payload)
}

/// Wrap a data key under a local KEK: AES-256-GCM-SIV (RFC 8452) under a key
/// derived from the KEK, a random 96-bit nonce, and associated data the
/// header's version, suite, KEK id and flags, then the context when bound.
/// `out` is `nonce (12) | encrypted key (32) | tag (16)`.
pub fn local_wrap(
    kek: &KeyMaterial,
    flags: u8,
    context: &[u8],
    data_key: &[u8],
    out: &mut [u8],
) -> Result<()> {
    if out.len() != LOCAL_WRAPPED_LEN || data_key.len() != KEY_LEN {
        return Err(Error::Invalid("a data key is 32 bytes, wrapped 60".into()));
    }
    let (nonce, sealed) = out.split_at_mut(WRAP_NONCE_LEN);
    rng::fill_public(nonce)?;
    with_wrap_aad(kek.id(), flags, context, |aad| {
        kek.wrapper().seal_into(nonce, aad, data_key, sealed)
    })
}

/// Unwrap a data key wrapped by a local KEK.
pub fn local_unwrap(
    kek: &KeyMaterial,
    flags: u8,
    context: &[u8],
    wrapped: &[u8],
) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    if wrapped.len() != LOCAL_WRAPPED_LEN {
        return Err(Error::Decrypt);
    }
    let (nonce, sealed) = wrapped.split_at(WRAP_NONCE_LEN);
    #[cfg(test)]
    tests::UNWRAPS.with(|n| n.set(n.get() + 1));
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    with_wrap_aad(kek.id(), flags, context, |aad| {
        kek.wrapper().open_into(nonce, aad, sealed, key.as_mut())
    })?;
    Ok(key)
}

/// Run `f` on the wrap's associated data: the header's first fields, then the
/// context when the message is bound to it.
fn with_wrap_aad<R>(kek_id: u32, flags: u8, context: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    let bound: &[u8] = if flags & FLAG_CONTEXT_BOUND != 0 {
        context
    } else {
        &[]
    };
    with_aad(&wrap_ad(kek_id, flags), bound, f)
}

fn wrap_ad(kek_id: u32, flags: u8) -> [u8; WRAP_AD_LEN] {
    let h = kek_header(kek_id);
    [h[0], h[1], h[2], h[3], h[4], h[5], flags]
}

/// The binary length of a message sealed with a fresh data key under a local KEK.
pub fn local_sealed_len(plaintext_len: usize) -> Result<usize> {
    plaintext_len
        .checked_add(overhead(LOCAL_WRAPPED_LEN))
        .ok_or_else(|| Error::Invalid("data is too large".into()))
}

/// Seal under a fresh data key wrapped by a local KEK and bound to `context`.
pub fn seal_local(
    kek: &KeyMaterial,
    plaintext: &[u8],
    context: &[u8],
    out: &mut [u8],
) -> Result<()> {
    if out.len() != local_sealed_len(plaintext.len())? {
        return Err(Error::Invalid("output buffer has the wrong length".into()));
    }
    let (dk, bytes) = DataKey::generate()?;
    let mut wrapped = [0u8; LOCAL_WRAPPED_LEN];
    local_wrap(
        kek,
        FLAG_CONTEXT_BOUND,
        context,
        bytes.as_ref(),
        &mut wrapped,
    )?;
    let payload = write_header(out, kek.id(), FLAG_CONTEXT_BOUND, &wrapped)?;
    seal_payload(&dk, plaintext, context, payload)
}

/// The data key of a message whose KEK is in `ring`.
pub fn unwrap_local(ring: &Keyring, msg: &EnvelopeMessage<'_>, context: &[u8]) -> Result<DataKey> {
    let kek = ring.get(msg.kek_id).ok_or(Error::Decrypt)?;
    let bound: &[u8] = if msg.context_bound() { context } else { &[] };
    let key = local_unwrap(kek, msg.flags, bound, msg.wrapped)?;
    DataKey::new(key.as_ref())
}

/// Open a message whose KEK is in `ring` into `out` (`msg.ciphertext.len()`
/// bytes). A message that shares its data key with the previous one of a run
/// (see [`RunMemo`]) is opened with that key, not unwrapped again.
pub fn open_local(
    ring: &Keyring,
    msg: &EnvelopeMessage<'_>,
    context: &[u8],
    out: &mut [u8],
    memo: &mut RunMemo,
) -> Result<()> {
    if msg.context_bound() {
        let dk = unwrap_local(ring, msg, context)?;
        return open_payload(&dk, msg, context, out);
    }
    let dk = match memo.opened(msg) {
        Some(dk) => dk,
        None => memo.set_opened(msg, unwrap_local(ring, msg, context)?),
    };
    open_payload(dk, msg, context, out)
}

/// Re-wrap a message's data key under the ring's active KEK into `out` (binary,
/// as long as the input), copying the payload. The payload is not opened:
/// its tag is checked when it is next decrypted, as the data key's wrap is now.
/// A message that shares its data key with the previous one of a run (see
/// [`RunMemo`]) takes that message's new wrap.
pub fn rewrap_local(
    ring: &Keyring,
    msg: &EnvelopeMessage<'_>,
    context: &[u8],
    out: &mut [u8],
    memo: &mut RunMemo,
) -> Result<()> {
    let shared = !msg.context_bound();
    if shared {
        if let Some(wrapped) = memo.rewrapped(msg) {
            return rewrite(msg, ring.active_id(), wrapped, out);
        }
    }
    let old = ring.get(msg.kek_id).ok_or(Error::Decrypt)?;
    let bound: &[u8] = if shared { &[] } else { context };
    let key = local_unwrap(old, msg.flags, bound, msg.wrapped)?;
    let mut wrapped = [0u8; LOCAL_WRAPPED_LEN];
    local_wrap(ring.active(), msg.flags, bound, key.as_ref(), &mut wrapped)?;
    if shared {
        memo.set_rewrapped(msg, wrapped);
    }
    rewrite(msg, ring.active_id(), &wrapped, out)
}

/// The header fields and wrapped key that name one data key's wrap.
type WrapId = ([u8; WRAP_AD_LEN], [u8; LOCAL_WRAPPED_LEN]);

fn wrap_id(msg: &EnvelopeMessage<'_>) -> Option<WrapId> {
    Some((msg.wrap_ad.try_into().ok()?, msg.wrapped.try_into().ok()?))
}

fn same_wrap(id: &WrapId, msg: &EnvelopeMessage<'_>) -> bool {
    id.0[..] == *msg.wrap_ad && id.1[..] == *msg.wrapped
}

/// What one worker carries from a message to the next over a run of messages
/// that share a data key. Messages sealed through a data-key cache carry the
/// same header fields and wrapped key, byte for byte, and are not bound to
/// their contexts; so a message whose wrap equals the previous one's unwraps
/// to the same key, and is opened with that key, or takes the same new wrap,
/// without unwrapping again. Context-bound messages (a data key each) never
/// use it. The opened key is kept until the next key replaces it or the run
/// ends, and wiped when dropped.
#[derive(Default)]
pub struct RunMemo {
    rewrapped: Option<(WrapId, [u8; LOCAL_WRAPPED_LEN])>,
    opened: Option<(Option<WrapId>, DataKey)>,
}

impl RunMemo {
    fn rewrapped(&self, msg: &EnvelopeMessage<'_>) -> Option<&[u8; LOCAL_WRAPPED_LEN]> {
        match &self.rewrapped {
            Some((id, new)) if same_wrap(id, msg) => Some(new),
            _ => None,
        }
    }

    fn set_rewrapped(&mut self, msg: &EnvelopeMessage<'_>, new: [u8; LOCAL_WRAPPED_LEN]) {
        self.rewrapped = wrap_id(msg).map(|id| (id, new));
    }

    fn opened(&self, msg: &EnvelopeMessage<'_>) -> Option<&DataKey> {
        match &self.opened {
            Some((Some(id), dk)) if same_wrap(id, msg) => Some(dk),
            _ => None,
        }
    }

    /// Remember `dk` as the key of `msg`'s wrap; returns it.
    fn set_opened(&mut self, msg: &EnvelopeMessage<'_>, dk: DataKey) -> &DataKey {
        &self.opened.insert((wrap_id(msg), dk)).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::keys::SecretKey;

    thread_local! {
        /// Unwraps under a local KEK on this thread, counted for the tests.
        pub(super) static UNWRAPS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    fn unwraps() -> usize {
        UNWRAPS.with(|n| n.get())
    }

    fn ring(ids: &[u32], active: u32) -> Keyring {
        let keys = ids
            .iter()
            .map(|&id| (id, SecretKey::from_slice(&[id as u8 + 1; 32]).unwrap()));
        Keyring::new(keys, active).unwrap()
    }

    fn seal(ring: &Keyring, pt: &[u8], ctx: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; local_sealed_len(pt.len()).unwrap()];
        seal_local(ring.active(), pt, ctx, &mut out).unwrap();
        out
    }

    fn open(ring: &Keyring, m: &[u8], ctx: &[u8]) -> Result<Vec<u8>> {
        let msg = EnvelopeMessage::parse(m)?;
        let mut out = vec![0u8; msg.ciphertext.len()];
        open_local(ring, &msg, ctx, &mut out, &mut RunMemo::default())?;
        Ok(out)
    }

    #[test]
    fn local_round_trip_overhead_and_every_bit() {
        let r = ring(&[1, 2], 2);
        let m = seal(&r, b"alice@example.org", b"users/1/email");
        assert_eq!(m.len(), 17 + 125);
        assert!(overhead(LOCAL_WRAPPED_LEN) <= 128);
        assert_eq!(
            open(&r, &m, b"users/1/email").unwrap(),
            b"alice@example.org"
        );
        assert_eq!(open(&r, &m, b"users/2/email"), Err(Error::Decrypt));
        for i in 0..m.len() * 8 {
            let mut bad = m.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(open(&r, &bad, b"users/1/email").is_err(), "bit {i}");
        }
        assert!(open(&r, &m[..m.len() - 1], b"users/1/email").is_err());
        let mut longer = m.clone();
        longer.push(0);
        assert!(open(&r, &longer, b"users/1/email").is_err());
    }

    #[test]
    fn rewrap_keeps_payload_and_opens_under_new_kek_only() {
        let old = ring(&[1], 1);
        let both = ring(&[1, 2], 2);
        let only_new = ring(&[2], 2);
        let m = seal(&old, b"v", b"ctx");
        let msg = EnvelopeMessage::parse(&m).unwrap();
        let mut out = vec![0u8; m.len()];
        rewrap_local(&both, &msg, b"ctx", &mut out, &mut RunMemo::default()).unwrap();
        let new = EnvelopeMessage::parse(&out).unwrap();
        assert_eq!(new.kek_id, 2);
        assert_eq!(new.payload, msg.payload);
        assert_eq!(open(&only_new, &out, b"ctx").unwrap(), b"v");
        assert!(open(&old, &out, b"ctx").is_err());
        // The wrong context fails the re-wrap itself (the wrap is bound to it).
        assert!(rewrap_local(&both, &msg, b"other", &mut out, &mut RunMemo::default()).is_err());
    }

    /// Messages sealed under one data key wrapped by KEK `kek` (as a data-key cache does).
    fn shared(r: &Keyring, n: usize) -> Vec<Vec<u8>> {
        let (dk, bytes) = DataKey::generate().unwrap();
        let mut wrapped = [0u8; LOCAL_WRAPPED_LEN];
        local_wrap(r.active(), 0, b"", bytes.as_ref(), &mut wrapped).unwrap();
        (0..n)
            .map(|i| {
                let pt = [i as u8; 5];
                let mut m = vec![0u8; pt.len() + overhead(wrapped.len())];
                let ctx = format!("row/{i}");
                seal_with_data_key(&dk, r.active_id(), 0, &wrapped, &pt, ctx.as_bytes(), &mut m)
                    .unwrap();
                m
            })
            .collect()
    }

    #[test]
    fn a_run_of_shared_data_keys_is_rewrapped_once() {
        let old = ring(&[1], 1);
        let both = ring(&[1, 2], 2);
        let only_new = ring(&[2], 2);
        let mut messages = shared(&old, 4);
        messages.extend(shared(&old, 3));
        // A wrapped key changed in the middle of a run: it fails alone, and the
        // run's next message still takes the run's new wrap.
        messages[2][FIXED_HEADER_LEN + 20] ^= 1;
        // A context-bound message between two runs is re-wrapped on its own.
        messages.insert(4, seal(&old, b"bound", b"row/bound"));
        let mut memo = RunMemo::default();
        let mut outs = Vec::new();
        let before = unwraps();
        for (i, m) in messages.iter().enumerate() {
            let msg = EnvelopeMessage::parse(m).unwrap();
            let ctx = if i == 4 {
                "row/bound".to_string()
            } else {
                format!("row/{}", if i < 4 { i } else { i - 5 })
            };
            let mut out = vec![0u8; m.len()];
            let done = rewrap_local(&both, &msg, ctx.as_bytes(), &mut out, &mut memo);
            assert_eq!(done.is_ok(), i != 2, "message {i}");
            outs.push((done.is_ok().then_some(out), ctx));
        }
        // Unwrapped: the first run's first message and its changed one, the
        // bound one, the second run's first message.
        assert_eq!(unwraps() - before, 4);
        let wrapped = |m: &[u8]| EnvelopeMessage::parse(m).unwrap().wrapped.to_vec();
        let out = |i: usize| outs[i].0.clone().unwrap();
        // One new wrap per run, different between runs.
        assert_eq!(wrapped(&out(0)), wrapped(&out(1)));
        assert_eq!(wrapped(&out(0)), wrapped(&out(3)));
        assert_eq!(wrapped(&out(5)), wrapped(&out(7)));
        assert_ne!(wrapped(&out(0)), wrapped(&out(5)));
        assert_ne!(wrapped(&out(0)), wrapped(&messages[0]));
        for (i, (o, ctx)) in outs.iter().enumerate() {
            let Some(o) = o else { continue };
            let pt = open(&only_new, o, ctx.as_bytes()).unwrap();
            let want = if i == 4 {
                b"bound".to_vec()
            } else {
                vec![(if i < 4 { i } else { i - 5 }) as u8; 5]
            };
            assert_eq!(pt, want, "message {i}");
        }
        // The same wrapped key under another KEK id in the header is not the
        // same data key's wrap: no reuse, and it fails.
        let mut other = messages[1].clone();
        other[2..6].copy_from_slice(&2u32.to_be_bytes());
        let mut memo = RunMemo::default();
        let mut o = vec![0u8; other.len()];
        let first = EnvelopeMessage::parse(&messages[0]).unwrap();
        rewrap_local(&both, &first, b"row/0", &mut o, &mut memo).unwrap();
        let msg = EnvelopeMessage::parse(&other).unwrap();
        assert!(rewrap_local(&both, &msg, b"row/1", &mut o, &mut memo).is_err());
    }

    #[test]
    fn a_run_opens_as_each_message_alone_would() {
        let r = ring(&[1, 2], 1);
        let mut messages: Vec<(Vec<u8>, Vec<u8>)> = shared(&r, 6)
            .into_iter()
            .enumerate()
            .map(|(i, m)| (m, format!("row/{i}").into_bytes()))
            .collect();
        // Every kind of change, each in the middle of a run.
        messages[1].1 = b"row/elsewhere".to_vec(); // moved to another row
        messages[2].0[FIXED_HEADER_LEN + 30] ^= 1; // wrapped key changed
        let last = messages[3].0.len() - 1;
        messages[3].0[last] ^= 1; // tag changed
        messages[4].0[5] = 2; // KEK id 1 -> 2, same wrapped key
        let bound = seal(&r, b"bound", b"row/b");
        messages.insert(5, (bound.clone(), b"row/b".to_vec()));
        messages.insert(6, (bound, b"row/c".to_vec()));
        messages.extend(
            shared(&r, 3)
                .into_iter()
                .enumerate()
                .map(|(i, m)| (m, format!("row/{i}").into_bytes())),
        );
        let open_with = |m: &[u8], ctx: &[u8], memo: &mut RunMemo| -> Result<Vec<u8>> {
            let msg = EnvelopeMessage::parse(m)?;
            let mut out = vec![0u8; msg.ciphertext.len()];
            open_local(&r, &msg, ctx, &mut out, memo)?;
            Ok(out)
        };
        let mut memo = RunMemo::default();
        let mut opened = 0;
        for (i, (m, ctx)) in messages.iter().enumerate() {
            let alone = open_with(m, ctx, &mut RunMemo::default());
            assert_eq!(open_with(m, ctx, &mut memo), alone, "message {i}");
            opened += usize::from(alone.is_ok());
        }
        assert_eq!(
            opened,
            2 + 1 + 3,
            "rows 0 and 5 of the first run, the bound one, the second run"
        );
    }

    #[test]
    fn a_bound_message_never_takes_the_previous_ones_key() {
        // Two copies of one row's message side by side, the second given
        // another row's context: it fails, as it would alone, and every
        // bound message is unwrapped.
        let old = ring(&[1], 1);
        let both = ring(&[1, 2], 2);
        let m = seal(&old, b"v", b"row/a");
        let msg = EnvelopeMessage::parse(&m).unwrap();
        let mut out = vec![0u8; m.len()];
        let mut memo = RunMemo::default();
        let before = unwraps();
        rewrap_local(&both, &msg, b"row/a", &mut out, &mut memo).unwrap();
        assert!(rewrap_local(&both, &msg, b"row/b", &mut out, &mut memo).is_err());
        let mut plain = [0u8; 1];
        open_local(&old, &msg, b"row/a", &mut plain, &mut memo).unwrap();
        assert!(open_local(&old, &msg, b"row/b", &mut plain, &mut memo).is_err());
        assert_eq!(unwraps() - before, 4);
    }

    #[test]
    fn a_run_is_opened_with_one_unwrap() {
        let r = ring(&[1], 1);
        let messages = shared(&r, 6);
        let mut memo = RunMemo::default();
        let before = unwraps();
        for (i, m) in messages.iter().enumerate() {
            let msg = EnvelopeMessage::parse(m).unwrap();
            let mut out = [0u8; 5];
            open_local(&r, &msg, format!("row/{i}").as_bytes(), &mut out, &mut memo).unwrap();
            assert_eq!(out, [i as u8; 5]);
        }
        assert_eq!(unwraps() - before, 1);
    }

    #[test]
    fn shared_data_key_messages() {
        let r = ring(&[7], 7);
        let (dk, bytes) = DataKey::generate().unwrap();
        let mut wrapped = [0u8; LOCAL_WRAPPED_LEN];
        local_wrap(r.active(), 0, b"", bytes.as_ref(), &mut wrapped).unwrap();
        let mut again = [0u8; LOCAL_WRAPPED_LEN];
        local_wrap(r.active(), 0, b"", bytes.as_ref(), &mut again).unwrap();
        assert_ne!(wrapped, again, "a fresh nonce per wrap");
        let mut a = vec![0u8; 1 + overhead(wrapped.len())];
        let mut b = a.clone();
        seal_with_data_key(&dk, 7, 0, &wrapped, b"a", b"row/1", &mut a).unwrap();
        seal_with_data_key(&dk, 7, 0, &wrapped, b"b", b"row/2", &mut b).unwrap();
        assert_eq!(open(&r, &a, b"row/1").unwrap(), b"a");
        assert_eq!(open(&r, &b, b"row/2").unwrap(), b"b");
        assert!(open(&r, &a, b"row/2").is_err());
        // Claiming the key is context-bound breaks its wrap.
        let mut flagged = a.clone();
        flagged[6] = FLAG_CONTEXT_BOUND;
        assert!(open(&r, &flagged, b"row/1").is_err());
        flagged[6] = 2;
        assert!(EnvelopeMessage::parse(&flagged).is_err());
    }

    #[test]
    fn parse_bounds() {
        assert!(EnvelopeMessage::parse(&[1, 4, 0, 0, 0, 1, 0, 0]).is_err());
        let mut m = vec![1u8, 4, 0, 0, 0, 1, 0, 0, 0];
        m.resize(200, 0);
        assert!(
            EnvelopeMessage::parse(&m).is_err(),
            "zero-length wrapped key"
        );
        m[8] = 1;
        let p = EnvelopeMessage::parse(&m).unwrap();
        assert_eq!(p.wrapped.len(), 1);
        m[7] = 0xff;
        assert!(
            EnvelopeMessage::parse(&m).is_err(),
            "wrapped key past the end"
        );
    }
}
