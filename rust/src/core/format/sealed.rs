//! Messages of the three direct suites (1 to 3): parsing into borrowed fields.

use crate::core::error::{Error, Result};
use crate::core::format::header::{Suite, COMMIT_LEN, HEADER_LEN, TAG_LEN, VERSION};

/// A parsed binary message: borrowed views of its fields. No decryption.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    pub suite: Suite,
    pub key_id: u32,
    pub header: [u8; HEADER_LEN],
    /// Everything before the ciphertext: authenticated as associated data.
    pub prefix: &'a [u8],
    pub nonce: &'a [u8],
    pub commitment: &'a [u8],
    pub ciphertext: &'a [u8],
    /// The GCM/Poly1305 tag, or the SIV for the deterministic suite.
    pub tag: &'a [u8],
    /// The whole binary message.
    pub raw: &'a [u8],
}

impl<'a> Message<'a> {
    pub const VERSION: u8 = VERSION;

    /// Parse a binary message. Fails with `Error::Decrypt` on anything malformed.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let (head, _) = bytes
            .split_first_chunk::<HEADER_LEN>()
            .ok_or(Error::Decrypt)?;
        let [version, suite_id, a, b, c, d] = *head;
        if version != VERSION {
            return Err(Error::Decrypt);
        }
        let suite = Suite::from_id(suite_id).ok_or(Error::Decrypt)?;
        let key_id = u32::from_be_bytes([a, b, c, d]);
        if bytes.len() < suite.overhead() {
            return Err(Error::Decrypt);
        }
        let shape = Shape {
            suite,
            key_id,
            len: bytes.len(),
        };
        Self::fields(bytes, shape).ok_or(Error::Decrypt)
    }

    /// Where this parse found the message's fields (see [`Shape`]).
    pub fn shape(&self) -> Shape {
        Shape {
            suite: self.suite,
            key_id: self.key_id,
            len: self.raw.len(),
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

    /// The fields of `bytes`, placed by `shape`'s suite; None when they do not fit.
    fn fields(bytes: &'a [u8], shape: Shape) -> Option<Self> {
        let suite = shape.suite;
        let (head, rest) = bytes.split_first_chunk::<HEADER_LEN>()?;
        let (prefix, body) = bytes.split_at_checked(suite.prefix_len())?;
        let (nonce, rest_prefix) = rest.split_at_checked(suite.nonce_len())?;
        let commitment = rest_prefix.get(..COMMIT_LEN)?;
        let (ciphertext, tag) = match suite {
            Suite::Aes256Siv => (body, rest_prefix.get(COMMIT_LEN..COMMIT_LEN + TAG_LEN)?),
            _ => body.split_at_checked(body.len().checked_sub(TAG_LEN)?)?,
        };
        Some(Self {
            suite,
            key_id: shape.key_id,
            header: *head,
            prefix,
            nonce,
            commitment,
            ciphertext,
            tag,
            raw: bytes,
        })
    }
}

/// Where a parse found a direct message's fields: its suite and key id (as
/// checked) and its length. What a batch keeps of the parse that named a
/// message's key (with the GIL held) to open the same bytes later, on a
/// worker, without parsing them again ([`Message::at`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    suite: Suite,
    key_id: u32,
    len: usize,
}
