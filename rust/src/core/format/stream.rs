//! The segmented stream format (files): the header's layout and the segment
//! arithmetic. docs/format.md ("Files: the stream format") is the specification.
//!
//! ```text
//! header  = version (1) = 0x01 | suite (1) = 0x05 | key id (4) | mode (1) | segment log (1)
//!         | n (2) | wrapped (n) | salt (32) | commitment (24)
//! body    = segment 0 | segment 1 | ... | last segment      (each: ciphertext | tag (16))
//! ```
//!
//! Every segment but the last holds `2^segment_log` plaintext bytes; the last
//! holds 1 to `2^segment_log` (0 only when it is the only one: an empty file).

use super::header::{COMMIT_LEN, TAG_LEN, VERSION};
use crate::core::error::{Error, Result};

pub const SUITE_ID: u8 = 5;
pub const NAME: &str = "stream";
/// The segments' key derives from a keyring key (the header's key id).
pub const MODE_DIRECT: u8 = 0;
/// The segments' key derives from a data key wrapped in the header.
pub const MODE_WRAPPED: u8 = 1;
/// version, suite, key id, mode, segment log, wrapped length.
pub const FIXED_LEN: usize = 10;
pub const SALT_LEN: usize = 32;
pub const MAX_WRAPPED_LEN: usize = 4096;
pub const MIN_SEGMENT_LOG: u8 = 12;
pub const MAX_SEGMENT_LOG: u8 = 24;
pub const DEFAULT_SEGMENT_LOG: u8 = 16;
/// The longest header: what a reader needs to read before it knows the length.
pub const MAX_HEADER_LEN: usize = FIXED_LEN + MAX_WRAPPED_LEN + SALT_LEN + COMMIT_LEN;
/// The payload header's length: the bytes every derivation of a file's keys covers.
pub const PAYLOAD_HEADER_LEN: usize = 8;

/// A parsed stream header (borrowing the bytes it was parsed from).
#[derive(Clone, Copy, Debug)]
pub struct StreamHeader<'a> {
    pub key_id: u32,
    pub mode: u8,
    pub segment_log: u8,
    pub wrapped: &'a [u8],
    pub salt: &'a [u8],
    pub commit: &'a [u8],
}

fn check_segment_log(log: u8) -> Result<()> {
    if (MIN_SEGMENT_LOG..=MAX_SEGMENT_LOG).contains(&log) {
        Ok(())
    } else {
        Err(Error::Decrypt)
    }
}

/// The exponent of a segment size: a power of two from 4 KiB to 16 MiB.
pub fn segment_log(segment_size: usize) -> Result<u8> {
    let ok = segment_size.is_power_of_two()
        && (1usize << MIN_SEGMENT_LOG..=1usize << MAX_SEGMENT_LOG).contains(&segment_size);
    if !ok {
        return Err(Error::Invalid(format!(
            "segment_size must be a power of two from 4096 to 16777216, not {segment_size}"
        )));
    }
    u8::try_from(segment_size.trailing_zeros()).map_err(|_| Error::Internal("segment log"))
}

/// The header's length, from its first [`FIXED_LEN`] bytes (fails on anything
/// that is not a stream header, and when `prefix` is shorter).
pub fn header_len(prefix: &[u8]) -> Result<usize> {
    let fixed: &[u8; FIXED_LEN] = prefix
        .get(..FIXED_LEN)
        .and_then(|p| p.try_into().ok())
        .ok_or(Error::Decrypt)?;
    let [version, suite, _, _, _, _, mode, log, n0, n1] = *fixed;
    if version != VERSION || suite != SUITE_ID {
        return Err(Error::Decrypt);
    }
    check_segment_log(log)?;
    let n = usize::from(u16::from_be_bytes([n0, n1]));
    let ok = match mode {
        MODE_DIRECT => n == 0,
        MODE_WRAPPED => (1..=MAX_WRAPPED_LEN).contains(&n),
        _ => false,
    };
    if !ok {
        return Err(Error::Decrypt);
    }
    Ok(FIXED_LEN + n + SALT_LEN + COMMIT_LEN)
}

/// Whether `bytes` start like a stream header (version 1, suite 5).
pub fn is_stream(bytes: &[u8]) -> bool {
    bytes.get(..2) == Some(&[VERSION, SUITE_ID][..])
}

impl<'a> StreamHeader<'a> {
    /// Parse exactly one header (no trailing bytes).
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        if header_len(bytes)? != bytes.len() {
            return Err(Error::Decrypt);
        }
        let (fixed, rest) = bytes.split_at(FIXED_LEN);
        let n = rest.len() - SALT_LEN - COMMIT_LEN;
        let (wrapped, rest) = rest.split_at(n);
        let (salt, commit) = rest.split_at(SALT_LEN);
        let id = fixed.get(2..6).ok_or(Error::Decrypt)?;
        Ok(Self {
            key_id: u32::from_be_bytes(id.try_into().map_err(|_| Error::Decrypt)?),
            mode: *fixed.get(6).ok_or(Error::Decrypt)?,
            segment_log: *fixed.get(7).ok_or(Error::Decrypt)?,
            wrapped,
            salt,
            commit,
        })
    }

    pub fn segment_size(&self) -> usize {
        1 << self.segment_log
    }

    pub fn len(&self) -> usize {
        FIXED_LEN + self.wrapped.len() + SALT_LEN + COMMIT_LEN
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The bytes every derivation of this file's keys covers.
    pub fn payload_header(&self) -> [u8; PAYLOAD_HEADER_LEN] {
        payload_header(self.key_id, self.mode, self.segment_log)
    }
}

/// version, suite, key id (zero in wrapped mode, so that a new wrap leaves the
/// segments as they are), mode and segment log.
pub fn payload_header(key_id: u32, mode: u8, segment_log: u8) -> [u8; PAYLOAD_HEADER_LEN] {
    let id = if mode == MODE_DIRECT {
        key_id.to_be_bytes()
    } else {
        [0; 4]
    };
    [
        VERSION,
        SUITE_ID,
        id[0],
        id[1],
        id[2],
        id[3],
        mode,
        segment_log,
    ]
}

/// Write a header.
pub fn write(
    key_id: u32,
    mode: u8,
    segment_log: u8,
    wrapped: &[u8],
    salt: &[u8],
    commit: &[u8],
) -> Result<Vec<u8>> {
    let n = u16::try_from(wrapped.len())
        .ok()
        .filter(|&n| usize::from(n) <= MAX_WRAPPED_LEN)
        .ok_or_else(|| Error::Invalid("a wrapped data key is at most 4096 bytes".into()))?;
    if salt.len() != SALT_LEN || commit.len() != COMMIT_LEN {
        return Err(Error::Internal("stream header field lengths"));
    }
    let mut out = Vec::with_capacity(FIXED_LEN + wrapped.len() + SALT_LEN + COMMIT_LEN);
    out.extend_from_slice(&[VERSION, SUITE_ID]);
    out.extend_from_slice(&key_id.to_be_bytes());
    out.extend_from_slice(&[mode, segment_log]);
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(wrapped);
    out.extend_from_slice(salt);
    out.extend_from_slice(commit);
    // What was written must parse back (mode and length agree).
    header_len(&out)?;
    Ok(out)
}

/// A wrapped-mode header with a new key-encryption key id and wrapped data
/// key; salt and commitment (hence every segment) unchanged.
pub fn rewrap(header: &StreamHeader<'_>, kek_id: u32, wrapped: &[u8]) -> Result<Vec<u8>> {
    if header.mode != MODE_WRAPPED || wrapped.is_empty() {
        return Err(Error::Invalid(
            "only a file with a wrapped data key can be re-wrapped".into(),
        ));
    }
    write(
        kek_id,
        MODE_WRAPPED,
        header.segment_log,
        wrapped,
        header.salt,
        header.commit,
    )
}

/// Where the segments of a body of some length are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The number of segments, at least 1.
    pub segments: u64,
    /// The plaintext length of the whole file.
    pub plaintext_len: u64,
}

/// The layout of a body of `body_len` bytes (all after the header); fails
/// (opaquely) on a length no writer produces: nothing, a partial tag, or an
/// empty last segment after full ones.
pub fn layout(body_len: u64, segment_log: u8) -> Result<Layout> {
    check_segment_log(segment_log)?;
    let seg = 1u64 << segment_log;
    let sealed = seg + TAG_LEN as u64;
    let (full, rem) = (body_len / sealed, body_len % sealed);
    let tag = TAG_LEN as u64;
    let (segments, last) = match rem {
        0 if full == 0 => return Err(Error::Decrypt),
        0 => (full, seg),
        r if r < tag || (r == tag && full > 0) => return Err(Error::Decrypt),
        r => (full + 1, r - tag),
    };
    Ok(Layout {
        segments,
        plaintext_len: (segments - 1) * seg + last,
    })
}

/// The body length of a file of `plaintext_len` bytes.
pub fn body_len(plaintext_len: u64, segment_log: u8) -> Result<u64> {
    check_segment_log(segment_log).map_err(|_| Error::Invalid("segment log".into()))?;
    let seg = 1u64 << segment_log;
    let segments = plaintext_len.div_ceil(seg).max(1);
    segments
        .checked_mul(TAG_LEN as u64)
        .and_then(|t| t.checked_add(plaintext_len))
        .ok_or_else(|| Error::Invalid("data is too large".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_inverts_body_len_and_refuses_what_no_writer_writes() {
        let log = 12;
        let seg = 4096u64;
        for len in [0, 1, seg - 1, seg, seg + 1, 3 * seg, 3 * seg + 7] {
            let body = body_len(len, log).unwrap();
            let l = layout(body, log).unwrap();
            assert_eq!(l.plaintext_len, len, "{len}");
            assert_eq!(l.segments, len.div_ceil(seg).max(1));
        }
        for bad in [0, 1, 15, seg + 16 + 15, seg + 16 + 16, 2 * (seg + 16) + 3] {
            assert_eq!(layout(bad, log), Err(Error::Decrypt), "{bad}");
        }
        assert!(layout(16, 11).is_err());
        assert!(layout(16, 25).is_err());
    }

    #[test]
    fn header_round_trip_and_refusals() {
        let h = write(7, MODE_WRAPPED, 16, &[9; 60], &[1; 32], &[2; 24]).unwrap();
        assert_eq!(header_len(&h).unwrap(), h.len());
        let p = StreamHeader::parse(&h).unwrap();
        assert_eq!((p.key_id, p.mode, p.segment_log), (7, MODE_WRAPPED, 16));
        assert_eq!(p.wrapped, &[9; 60]);
        assert_eq!(p.len(), h.len());
        // Key id not in the payload header of a wrapped file; in a direct one.
        assert_eq!(p.payload_header(), [1, 5, 0, 0, 0, 0, 1, 16]);
        assert_eq!(
            payload_header(7, MODE_DIRECT, 16),
            [1, 5, 0, 0, 0, 7, 0, 16]
        );
        let r = rewrap(&p, 8, &[3; 70]).unwrap();
        let q = StreamHeader::parse(&r).unwrap();
        assert_eq!((q.key_id, q.wrapped.len()), (8, 70));
        assert_eq!((q.salt, q.commit), (p.salt, p.commit));
        // Trailing or missing bytes, bad version/suite/mode/log/length.
        let mut long = h.clone();
        long.push(0);
        assert!(StreamHeader::parse(&long).is_err());
        assert!(StreamHeader::parse(&h[..h.len() - 1]).is_err());
        for (i, v) in [(0, 2), (1, 1), (6, 2), (7, 11), (7, 25), (8, 0x10)] {
            let mut b = h.clone();
            b[i] = v;
            assert!(header_len(&b).is_err(), "{i}");
        }
        let mut zero = h.clone();
        zero[8] = 0;
        zero[9] = 0;
        assert!(header_len(&zero).is_err());
        assert!(write(1, MODE_DIRECT, 16, &[1], &[1; 32], &[2; 24]).is_err());
        assert!(header_len(&h[..9]).is_err());
        assert!(segment_log(4096).is_ok());
        for bad in [0, 1000, 2048, 1 << 25, 65535] {
            assert!(segment_log(bad).is_err());
        }
    }
}
