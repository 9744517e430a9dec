//! Runs of consecutive file segments, sealed or opened in parallel on the
//! batch pool (a file is read and written a few megabytes at a time).

use rayon::prelude::*;

use crate::core::error::{Error, Result};
use crate::core::format::TAG_LEN;
use crate::core::seal::stream::SegmentKey;

/// Runs shorter than this are sealed and opened on the calling thread: the
/// pool's wake-ups cost more than they save while a file is read and written a
/// few hundred KiB at a time (measured in benches/files.py).
const PARALLEL_FROM_BYTES: usize = 2 << 20;

/// The sealed length of a run of `len` plaintext bytes: whole segments, or
/// (`last`) ending with the file's last segment.
pub fn sealed_len(key: &SegmentKey, len: usize, last: bool) -> Result<usize> {
    let seg = key.segment_size();
    if !last && (len == 0 || len % seg != 0) {
        return Err(Error::Invalid(
            "only the last run of a file may end with a partial segment".into(),
        ));
    }
    let segments = len.div_ceil(seg).max(1);
    segments
        .checked_mul(TAG_LEN)
        .and_then(|t| t.checked_add(len))
        .ok_or_else(|| Error::Invalid("data is too large".into()))
}

/// The plaintext length of a sealed run (fails opaquely on a length no writer produces).
pub fn opened_len(key: &SegmentKey, len: usize, last: bool) -> Result<usize> {
    let sealed = key.segment_size() + TAG_LEN;
    let (full, rem) = (len / sealed, len % sealed);
    match rem {
        0 if full > 0 => Ok(full * key.segment_size()),
        r if last && r >= TAG_LEN && (r > TAG_LEN || full == 0) => {
            Ok(full * key.segment_size() + r - TAG_LEN)
        }
        _ => Err(Error::Decrypt),
    }
}

fn index(first: u64, i: usize) -> Result<u64> {
    u64::try_from(i)
        .ok()
        .and_then(|i| first.checked_add(i))
        .ok_or_else(|| Error::Invalid("segment index overflow".into()))
}

/// Seal the segments `first, first + 1, ...` of `plaintext` into `out`
/// (`sealed_len` bytes); with `last`, the final one is the file's last segment.
pub fn seal_run(
    key: &SegmentKey,
    first: u64,
    plaintext: &[u8],
    last: bool,
    out: &mut [u8],
) -> Result<()> {
    if out.len() != sealed_len(key, plaintext.len(), last)? {
        return Err(Error::Invalid("output buffer has the wrong length".into()));
    }
    if plaintext.is_empty() {
        // Only an empty file has an empty (last) segment.
        if first != 0 {
            return Err(Error::Invalid(
                "an empty last segment is only for an empty file".into(),
            ));
        }
        return key.seal_segment(0, true, &[], out);
    }
    let seg = key.segment_size();
    let n = plaintext.len().div_ceil(seg);
    let one = |(i, (pt, ct)): (usize, (&[u8], &mut [u8]))| {
        key.seal_segment(index(first, i)?, last && i + 1 == n, pt, ct)
    };
    let chunks = plaintext.chunks(seg).zip(out.chunks_mut(seg + TAG_LEN));
    if plaintext.len() < PARALLEL_FROM_BYTES || n < 2 {
        return chunks.enumerate().try_for_each(one);
    }
    super::pool(None)?.install(|| {
        plaintext
            .par_chunks(seg)
            .zip(out.par_chunks_mut(seg + TAG_LEN))
            .enumerate()
            .try_for_each(one)
    })
}

/// Open the segments `first, first + 1, ...` of `sealed` into `out`
/// (`opened_len` bytes); with `last`, the final one must be the file's last
/// segment. On failure `out` is left zeroed: no byte of an unauthenticated
/// segment, nor of the run's others, is returned.
pub fn open_run(
    key: &SegmentKey,
    first: u64,
    sealed: &[u8],
    last: bool,
    out: &mut [u8],
) -> Result<()> {
    if out.len() != opened_len(key, sealed.len(), last)? {
        return Err(Error::Invalid("output buffer has the wrong length".into()));
    }
    if out.is_empty() {
        // An empty file's one segment (`chunks_mut` of nothing yields no chunk).
        return key.open_segment(first, last, sealed, out);
    }
    let seg = key.segment_size();
    let n = sealed.len().div_ceil(seg + TAG_LEN);
    let one = |(i, (ct, pt)): (usize, (&[u8], &mut [u8]))| {
        key.open_segment(index(first, i)?, last && i + 1 == n, ct, pt)
    };
    let done = if sealed.len() < PARALLEL_FROM_BYTES || n < 2 {
        sealed
            .chunks(seg + TAG_LEN)
            .zip(out.chunks_mut(seg))
            .enumerate()
            .try_for_each(one)
    } else {
        super::pool(None)?.install(|| {
            sealed
                .par_chunks(seg + TAG_LEN)
                .zip(out.par_chunks_mut(seg))
                .enumerate()
                .try_for_each(one)
        })
    };
    if done.is_err() {
        out.fill(0);
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::keys::{Keyring, SecretKey};

    fn key() -> SegmentKey {
        let ring = Keyring::single(0, &SecretKey::from_slice(&[4; 32]).unwrap()).unwrap();
        SegmentKey::create_direct(ring.active(), 12, b"c")
            .unwrap()
            .1
    }

    fn seal(k: &SegmentKey, first: u64, pt: &[u8], last: bool) -> Vec<u8> {
        let mut out = vec![0u8; sealed_len(k, pt.len(), last).unwrap()];
        seal_run(k, first, pt, last, &mut out).unwrap();
        out
    }

    #[test]
    fn runs_match_segment_by_segment_sealing_and_open_back() {
        let k = key();
        let pt: Vec<u8> = (0..4096 * 9 + 5).map(|i| i as u8).collect();
        let whole = seal(&k, 0, &pt, true);
        // The same bytes as sealing in two runs (ciphertext depends only on index/flag).
        let mut split = seal(&k, 0, &pt[..4096 * 4], false);
        split.extend(seal(&k, 4, &pt[4096 * 4..], true));
        assert_eq!(whole, split);
        let mut out = vec![0u8; opened_len(&k, whole.len(), true).unwrap()];
        open_run(&k, 0, &whole, true, &mut out).unwrap();
        assert_eq!(out, pt);
        // A middle run opens on its own (random access).
        let mid = &whole[(4096 + 16) * 2..(4096 + 16) * 7];
        let mut out = vec![0u8; 4096 * 5];
        open_run(&k, 2, mid, false, &mut out).unwrap();
        assert_eq!(out, &pt[4096 * 2..4096 * 7]);
        // At the wrong index, or as the last run: fails, output zeroed.
        assert!(open_run(&k, 3, mid, false, &mut out).is_err());
        assert!(out.iter().all(|&b| b == 0));
        assert!(open_run(&k, 2, mid, true, &mut out).is_err());
        // Truncated to a segment boundary: the new final segment is not the last.
        let cut = &whole[..(4096 + 16) * 5];
        let mut out = vec![0u8; 4096 * 5];
        assert!(open_run(&k, 0, cut, true, &mut out).is_err());
        // One flipped bit in any segment.
        for seg in [0usize, 5, 9] {
            let mut bad = whole.clone();
            bad[seg * (4096 + 16) + 3] ^= 1;
            let mut out = vec![0u8; pt.len()];
            assert!(open_run(&k, 0, &bad, true, &mut out).is_err());
        }
    }

    #[test]
    fn a_long_run_is_sealed_in_parallel_to_the_same_bytes() {
        let k = key();
        let pt: Vec<u8> = (0..4096 * 600 + 9).map(|i| (i * 7) as u8).collect();
        assert!(pt.len() >= PARALLEL_FROM_BYTES);
        let whole = seal(&k, 0, &pt, true);
        let mut pieces = Vec::new();
        for (i, chunk) in pt.chunks(4096 * 100).enumerate() {
            pieces.extend(seal(&k, 100 * i as u64, chunk, i == 6));
        }
        assert_eq!(whole, pieces);
        let mut out = vec![0u8; pt.len()];
        open_run(&k, 0, &whole, true, &mut out).unwrap();
        assert_eq!(out, pt);
        let mut bad = whole.clone();
        bad[300 * (4096 + 16) + 5] ^= 1;
        assert!(open_run(&k, 0, &bad, true, &mut out).is_err());
        assert!(out.iter().all(|&b| b == 0));
    }

    #[test]
    fn empty_file_and_length_rules() {
        let k = key();
        let empty = seal(&k, 0, &[], true);
        assert_eq!(empty.len(), 16);
        open_run(&k, 0, &empty, true, &mut []).unwrap();
        let mut bad = empty.clone();
        bad[15] ^= 1;
        assert_eq!(open_run(&k, 0, &bad, true, &mut []), Err(Error::Decrypt));
        assert!(open_run(&k, 0, &empty, false, &mut []).is_err());
        assert!(seal_run(&k, 3, &[], true, &mut [0u8; 16]).is_err());
        assert!(sealed_len(&k, 100, false).is_err());
        assert!(sealed_len(&k, 0, false).is_err());
        assert!(opened_len(&k, 4096 + 16 + 16, true).is_err());
        assert!(opened_len(&k, 15, true).is_err());
        assert!(opened_len(&k, 100, false).is_err());
    }
}
