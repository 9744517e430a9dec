//! The segments of a file (the stream format, docs/format.md "Files"): one
//! AES-256-GCM key per file, a STREAM nonce per segment (its index and a
//! last-segment flag), the caller's context as associated data.

use aws_lc_rs::aead::Nonce;
use zeroize::Zeroizing;

use crate::core::error::{Error, Result};
use crate::core::format::stream::{self as wire, StreamHeader, SALT_LEN};
use crate::core::format::{COMMIT_LEN, TAG_LEN};
use crate::core::keys::{label, prf_out, KeyMaterial, Keyring, KEY_LEN};
use crate::core::primitives::{equal, HmacSha256, LcAead};
use crate::core::rng;

/// A file's segment key and context: seals and opens its segments.
pub struct SegmentKey {
    aead: LcAead,
    segment_log: u8,
    context: Zeroizing<Vec<u8>>,
}

/// The STREAM nonce of a segment: 3 zero bytes, the index (8, big-endian),
/// and 1 for the last segment, 0 for the others.
fn nonce(index: u64, last: bool) -> [u8; 12] {
    let i = index.to_be_bytes();
    [
        0,
        0,
        0,
        i[0],
        i[1],
        i[2],
        i[3],
        i[4],
        i[5],
        i[6],
        i[7],
        u8::from(last),
    ]
}

/// The segment key and commitment of a file under a root key's PRF.
fn derive(
    prf: &HmacSha256,
    payload_header: &[u8],
    salt: &[u8],
) -> Result<(Zeroizing<[u8; 32]>, [u8; COMMIT_LEN])> {
    let key = prf_out(prf, label::STREAM_KEY, &[payload_header, salt]);
    let full = prf_out(prf, label::STREAM_COMMIT, &[payload_header, salt]);
    let mut commit = [0u8; COMMIT_LEN];
    commit.copy_from_slice(
        full.get(..COMMIT_LEN)
            .ok_or(Error::Internal("commitment length"))?,
    );
    Ok((key, commit))
}

fn data_key_prf(data_key: &[u8]) -> Result<HmacSha256> {
    if data_key.len() != KEY_LEN {
        return Err(Error::KeyLength {
            expected: "32 bytes",
            got: data_key.len(),
        });
    }
    <HmacSha256 as hmac::KeyInit>::new_from_slice(data_key)
        .map_err(|_| Error::Invalid("invalid data key".into()))
}

impl SegmentKey {
    fn new(key: &[u8; 32], segment_log: u8, context: &[u8]) -> Result<Self> {
        Ok(Self {
            aead: LcAead::aes_gcm(key)?,
            segment_log,
            context: Zeroizing::new(context.to_vec()),
        })
    }

    /// A new file's header and segment key under `prf` (a keyring key's or a data key's).
    fn create(
        prf: &HmacSha256,
        key_id: u32,
        mode: u8,
        wrapped: &[u8],
        segment_log: u8,
        context: &[u8],
    ) -> Result<(Vec<u8>, Self)> {
        let mut salt = [0u8; SALT_LEN];
        rng::fill_public(&mut salt)?;
        let (key, commit) = derive(prf, &wire::payload_header(key_id, mode, segment_log), &salt)?;
        let header = wire::write(key_id, mode, segment_log, wrapped, &salt, &commit)?;
        Ok((header, Self::new(&key, segment_log, context)?))
    }

    /// Check the header's commitment under `prf`, then derive the segment key.
    fn open(prf: &HmacSha256, header: &StreamHeader<'_>, context: &[u8]) -> Result<Self> {
        let (key, commit) = derive(prf, &header.payload_header(), header.salt)?;
        if !equal(&commit, header.commit) {
            return Err(Error::Decrypt);
        }
        Self::new(&key, header.segment_log, context)
    }

    /// A new file under a keyring key (direct mode).
    pub fn create_direct(
        key: &KeyMaterial,
        segment_log: u8,
        context: &[u8],
    ) -> Result<(Vec<u8>, Self)> {
        Self::create(
            key.prf(),
            key.id(),
            wire::MODE_DIRECT,
            &[],
            segment_log,
            context,
        )
    }

    /// Open a direct-mode file with the keyring key its header names.
    pub fn open_direct(ring: &Keyring, header: &StreamHeader<'_>, context: &[u8]) -> Result<Self> {
        if header.mode != wire::MODE_DIRECT {
            return Err(Error::Decrypt);
        }
        let key = ring.get(header.key_id).ok_or(Error::Decrypt)?;
        Self::open(key.prf(), header, context)
    }

    /// A new file under a data key, wrapped (by the caller) as `wrapped` under `kek_id`.
    pub fn create_wrapped(
        data_key: &[u8],
        kek_id: u32,
        wrapped: &[u8],
        segment_log: u8,
        context: &[u8],
    ) -> Result<(Vec<u8>, Self)> {
        if wrapped.is_empty() {
            return Err(Error::Invalid("a wrapped data key cannot be empty".into()));
        }
        let prf = data_key_prf(data_key)?;
        Self::create(
            &prf,
            kek_id,
            wire::MODE_WRAPPED,
            wrapped,
            segment_log,
            context,
        )
    }

    /// Open a wrapped-mode file with its (unwrapped) data key.
    pub fn open_wrapped(
        data_key: &[u8],
        header: &StreamHeader<'_>,
        context: &[u8],
    ) -> Result<Self> {
        if header.mode != wire::MODE_WRAPPED {
            return Err(Error::Decrypt);
        }
        Self::open(&data_key_prf(data_key)?, header, context)
    }

    pub fn segment_log(&self) -> u8 {
        self.segment_log
    }

    pub fn segment_size(&self) -> usize {
        1 << self.segment_log
    }

    /// Seal one segment (at most a segment's worth; only the last may be
    /// shorter) into `out` (`plaintext.len() + 16` bytes).
    pub fn seal_segment(
        &self,
        index: u64,
        last: bool,
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        let full = plaintext.len() == self.segment_size();
        let fits = plaintext.len() <= self.segment_size();
        if !(full || (last && fits)) || out.len() != plaintext.len() + TAG_LEN {
            return Err(Error::Invalid(
                "only the last segment may be shorter than the segment size".into(),
            ));
        }
        let (ct, tag) = out.split_at_mut(plaintext.len());
        self.aead.seal_detached(
            Nonce::assume_unique_for_key(nonce(index, last)),
            &self.context,
            plaintext,
            ct,
            tag,
        )
    }

    /// Open one sealed segment into `out` (its plaintext length); on failure
    /// `out` is left zeroed.
    pub fn open_segment(
        &self,
        index: u64,
        last: bool,
        sealed: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        let len = sealed.len().checked_sub(TAG_LEN).ok_or(Error::Decrypt)?;
        if len > self.segment_size() || (!last && len != self.segment_size()) {
            return Err(Error::Decrypt);
        }
        if out.len() != len {
            return Err(Error::Invalid("output buffer has the wrong length".into()));
        }
        let (ct, tag) = sealed.split_at(len);
        self.aead.open_detached(
            Nonce::assume_unique_for_key(nonce(index, last)),
            &self.context,
            ct,
            tag,
            out,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::keys::SecretKey;

    fn ring() -> Keyring {
        Keyring::new(
            [
                (1, SecretKey::from_slice(&[1; 32]).unwrap()),
                (2, SecretKey::from_slice(&[2; 32]).unwrap()),
            ],
            2,
        )
        .unwrap()
    }

    #[test]
    fn direct_segments_round_trip_and_bind_index_flag_context_and_key() {
        let ring = ring();
        let (header, k) = SegmentKey::create_direct(ring.active(), 12, b"ctx").unwrap();
        let h = StreamHeader::parse(&header).unwrap();
        assert_eq!((h.key_id, h.mode), (2, wire::MODE_DIRECT));
        let pt = vec![7u8; 4096];
        let mut sealed = vec![0u8; 4096 + 16];
        k.seal_segment(3, false, &pt, &mut sealed).unwrap();
        let opened = SegmentKey::open_direct(&ring, &h, b"ctx").unwrap();
        let mut out = vec![0u8; 4096];
        opened.open_segment(3, false, &sealed, &mut out).unwrap();
        assert_eq!(out, pt);
        // Another index, the last flag, another context: each fails, output zeroed.
        for (i, last) in [(4, false), (3, true)] {
            out.fill(0xAA);
            assert_eq!(
                opened.open_segment(i, last, &sealed, &mut out),
                Err(Error::Decrypt)
            );
            assert!(out.iter().all(|&b| b == 0));
        }
        let other = SegmentKey::open_direct(&ring, &h, b"ctx2").unwrap();
        assert!(other.open_segment(3, false, &sealed, &mut out).is_err());
        // The key id edited to the ring's other key: the commitment refuses it.
        let mut edited = header.clone();
        edited[5] = 1;
        let e = StreamHeader::parse(&edited).unwrap();
        assert!(SegmentKey::open_direct(&ring, &e, b"ctx").is_err());
        // A short segment only as the last one.
        assert!(k.seal_segment(0, false, &pt[..10], &mut [0u8; 26]).is_err());
        k.seal_segment(0, true, &pt[..10], &mut [0u8; 26]).unwrap();
    }

    #[test]
    fn wrapped_segments_do_not_depend_on_the_kek_id_or_the_wrap() {
        let dk = [9u8; 32];
        let (header, k) = SegmentKey::create_wrapped(&dk, 5, &[1; 60], 12, b"").unwrap();
        let h = StreamHeader::parse(&header).unwrap();
        let mut sealed = vec![0u8; 1 + 16];
        k.seal_segment(0, true, b"x", &mut sealed).unwrap();
        let moved = wire::rewrap(&h, 6, &[2; 80]).unwrap();
        let m = StreamHeader::parse(&moved).unwrap();
        let opened = SegmentKey::open_wrapped(&dk, &m, b"").unwrap();
        let mut out = [0u8; 1];
        opened.open_segment(0, true, &sealed, &mut out).unwrap();
        assert_eq!(&out, b"x");
        assert!(SegmentKey::open_wrapped(&[8u8; 32], &m, b"").is_err());
        assert!(SegmentKey::open_direct(&ring(), &m, b"").is_err());
    }
}
