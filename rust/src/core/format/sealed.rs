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
        let (head, rest) = bytes
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
        let (prefix, body) = bytes
            .split_at_checked(suite.prefix_len())
            .ok_or(Error::Decrypt)?;
        let (nonce, rest_prefix) = rest
            .split_at_checked(suite.nonce_len())
            .ok_or(Error::Decrypt)?;
        let commitment = rest_prefix.get(..COMMIT_LEN).ok_or(Error::Decrypt)?;
        let (ciphertext, tag) = match suite {
            Suite::Aes256Siv => (
                body,
                rest_prefix
                    .get(COMMIT_LEN..COMMIT_LEN + TAG_LEN)
                    .ok_or(Error::Decrypt)?,
            ),
            _ => body
                .split_at_checked(body.len().checked_sub(TAG_LEN).ok_or(Error::Decrypt)?)
                .ok_or(Error::Decrypt)?,
        };
        Ok(Self {
            suite,
            key_id,
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
