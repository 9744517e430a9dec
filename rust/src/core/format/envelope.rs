//! Envelope messages (suite 4): every message, or every few messages with a
//! data-key cache, is sealed under a random data key, and the data key is
//! stored in the message wrapped by a key-encryption key (KEK). docs/format.md
//! is the specification.
//!
//! ```text
//! header   = 0x01 | 0x04 | KEK id (4, BE) | flags (1) | wrapped length (2, BE) | wrapped data key
//! payload  = salt (16) | commitment (24) | ciphertext | tag (16)
//! ```
//!
//! The payload is the default suite's construction under the data key, with
//! the fixed payload header `01 04 00 00 00 00`: it authenticates the salt,
//! the commitment and the caller's context but not the KEK id, flags or
//! wrapped key, so re-wrapping a data key under another KEK rewrites the
//! header and copies the payload untouched. Those header fields are
//! authenticated by the wrap instead (a local KEK's AES-GCM-SIV associated data,
//! a KMS's encryption context), and the commitment to the data key makes the
//! whole message open under at most one data key.
//!
//! Flags: bit 0 set means the data key serves this one message and its wrap
//! is bound to the message's context as well; clear means a data key shared
//! by several messages (a data-key cache). Other bits must be zero.

use crate::core::error::{Error, Result};
use crate::core::format::header::{COMMIT_LEN, SALT_LEN, TAG_LEN, VERSION};

pub const SUITE_ID: u8 = 4;
pub const NAME: &str = "envelope";
/// Bit 0 of the flags: the data key is bound to this message's context.
pub const FLAG_CONTEXT_BOUND: u8 = 1;
/// Version, suite, KEK id, flags, wrapped length.
pub const FIXED_HEADER_LEN: usize = 9;
/// The part of the header a local wrap authenticates: version, suite, KEK id, flags.
pub const WRAP_AD_LEN: usize = 7;
/// Wrapped data keys longer than this are refused (a KMS blob is a few hundred bytes).
pub const MAX_WRAPPED_LEN: usize = 4096;
/// A data key: 256 bits.
pub const DATA_KEY_LEN: usize = 32;
/// The nonce of a local wrap (AES-256-GCM-SIV).
pub const WRAP_NONCE_LEN: usize = 12;
/// A data key wrapped by a local KEK: nonce, encrypted key, tag.
pub const LOCAL_WRAPPED_LEN: usize = WRAP_NONCE_LEN + DATA_KEY_LEN + TAG_LEN;
/// Salt, commitment and tag.
pub const PAYLOAD_OVERHEAD: usize = SALT_LEN + COMMIT_LEN + TAG_LEN;
/// The payload's own header, fixed so that re-wrapping leaves the payload valid.
pub const PAYLOAD_HEADER: [u8; 6] = [VERSION, SUITE_ID, 0, 0, 0, 0];

/// The header an envelope KEK id derives its wrap key from.
pub fn kek_header(kek_id: u32) -> [u8; 6] {
    let id = kek_id.to_be_bytes();
    [VERSION, SUITE_ID, id[0], id[1], id[2], id[3]]
}

/// Bytes a message adds to its plaintext when its wrapped data key is `wrapped_len` bytes.
pub const fn overhead(wrapped_len: usize) -> usize {
    FIXED_HEADER_LEN + wrapped_len + PAYLOAD_OVERHEAD
}

/// A parsed envelope message (binary form): borrowed views of its fields.
#[derive(Clone, Copy, Debug)]
pub struct EnvelopeMessage<'a> {
    pub kek_id: u32,
    pub flags: u8,
    pub wrapped: &'a [u8],
    /// Version, suite, KEK id and flags: the associated data of a local wrap.
    pub wrap_ad: &'a [u8],
    /// Everything from the salt on: what re-wrapping copies.
    pub payload: &'a [u8],
    pub salt: &'a [u8],
    pub commitment: &'a [u8],
    pub ciphertext: &'a [u8],
    pub tag: &'a [u8],
}

impl<'a> EnvelopeMessage<'a> {
    /// Parse a binary envelope message; anything malformed is `Error::Decrypt`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let (fixed, _) = bytes
            .split_first_chunk::<FIXED_HEADER_LEN>()
            .ok_or(Error::Decrypt)?;
        let [version, suite, a, b, c, d, flags, l0, l1] = *fixed;
        if version != VERSION || suite != SUITE_ID || flags & !FLAG_CONTEXT_BOUND != 0 {
            return Err(Error::Decrypt);
        }
        let wrapped_len = usize::from(u16::from_be_bytes([l0, l1]));
        if wrapped_len == 0 || wrapped_len > MAX_WRAPPED_LEN {
            return Err(Error::Decrypt);
        }
        let shape = Shape {
            kek_id: u32::from_be_bytes([a, b, c, d]),
            flags,
            wrapped_len,
            len: bytes.len(),
        };
        Self::fields(bytes, shape).ok_or(Error::Decrypt)
    }

    /// Where this parse found the message's fields (see [`Shape`]).
    pub fn shape(&self) -> Shape {
        Shape {
            kek_id: self.kek_id,
            flags: self.flags,
            wrapped_len: self.wrapped.len(),
            len: FIXED_HEADER_LEN + self.wrapped.len() + self.payload.len(),
        }
    }

    /// The message whose parse gave `shape`, viewed again in `bytes` (the same
    /// bytes): its fields sliced where that parse found them, its header not
    /// checked again. Bytes of another length are `Error::Internal`; every
    /// slice is checked, so no input makes this panic.
    pub fn at(bytes: &'a [u8], shape: Shape) -> Result<Self> {
        if bytes.len() != shape.len {
            return Err(Error::Internal(
                "a message is not the one its shape came from",
            ));
        }
        Self::fields(bytes, shape).ok_or(Error::Internal("a message does not fit its shape"))
    }

    /// The fields of `bytes`, placed by `shape`'s wrapped-key length; None
    /// when they do not fit.
    fn fields(bytes: &'a [u8], shape: Shape) -> Option<Self> {
        let (fixed, rest) = bytes.split_first_chunk::<FIXED_HEADER_LEN>()?;
        let (wrapped, payload) = rest.split_at_checked(shape.wrapped_len)?;
        let (salt, rest) = payload.split_at_checked(SALT_LEN)?;
        let (commitment, rest) = rest.split_at_checked(COMMIT_LEN)?;
        let (ciphertext, tag) = rest.split_at_checked(rest.len().checked_sub(TAG_LEN)?)?;
        Some(Self {
            kek_id: shape.kek_id,
            flags: shape.flags,
            wrapped,
            wrap_ad: fixed.get(..WRAP_AD_LEN)?,
            payload,
            salt,
            commitment,
            ciphertext,
            tag,
        })
    }

    pub fn context_bound(&self) -> bool {
        self.flags & FLAG_CONTEXT_BOUND != 0
    }
}

/// Where a parse found an envelope message's fields: its KEK id and flags (as
/// checked) and the lengths that place the rest. What a batch keeps of the
/// parse that named a message's data key (with the GIL held) to open or
/// rewrite the same bytes later, on a worker, without parsing them again
/// ([`EnvelopeMessage::at`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    kek_id: u32,
    flags: u8,
    wrapped_len: usize,
    len: usize,
}

/// Whether a binary message is an envelope message (from its suite byte).
pub fn is_envelope(binary: &[u8]) -> bool {
    binary.get(1) == Some(&SUITE_ID)
}

/// Write the header into the start of `out`; returns the rest of `out` (the payload).
pub fn write_header<'o>(
    out: &'o mut [u8],
    kek_id: u32,
    flags: u8,
    wrapped: &[u8],
) -> Result<&'o mut [u8]> {
    if flags & !FLAG_CONTEXT_BOUND != 0 {
        return Err(Error::Invalid(format!(
            "unknown envelope flags {flags:#04x}"
        )));
    }
    let len = u16::try_from(wrapped.len())
        .ok()
        .filter(|&l| l > 0 && usize::from(l) <= MAX_WRAPPED_LEN)
        .ok_or_else(|| {
            Error::Invalid(format!(
                "a wrapped data key must be 1 to {MAX_WRAPPED_LEN} bytes, got {}",
                wrapped.len()
            ))
        })?;
    let (fixed, rest) = out
        .split_first_chunk_mut::<FIXED_HEADER_LEN>()
        .ok_or_else(|| Error::Invalid("output buffer is too short".into()))?;
    let id = kek_id.to_be_bytes();
    let l = len.to_be_bytes();
    *fixed = [
        VERSION, SUITE_ID, id[0], id[1], id[2], id[3], flags, l[0], l[1],
    ];
    let (w, payload) = rest
        .split_at_mut_checked(wrapped.len())
        .ok_or_else(|| Error::Invalid("output buffer is too short".into()))?;
    w.copy_from_slice(wrapped);
    Ok(payload)
}

/// Write `msg` with a new KEK id and wrapped key, the payload copied.
pub fn rewrite(
    msg: &EnvelopeMessage<'_>,
    kek_id: u32,
    wrapped: &[u8],
    out: &mut [u8],
) -> Result<()> {
    if out.len() != msg.payload.len() + FIXED_HEADER_LEN + wrapped.len() {
        return Err(Error::Invalid("output buffer has the wrong length".into()));
    }
    let payload = write_header(out, kek_id, msg.flags, wrapped)?;
    payload.copy_from_slice(msg.payload);
    Ok(())
}
