//! The v1 wire format: parsing and layout. docs/format.md is the specification.
//!
//! ```text
//! header  = version (1) = 0x01 | suite (1) | key id (4, big-endian)
//! suite 1 AES-256-GCM, committing:   header | salt (16)  | commitment (24) | ciphertext | tag (16)
//! suite 2 XChaCha20-Poly1305:        header | nonce (24) | commitment (24) | ciphertext | tag (16)
//! suite 3 AES-256-SIV, deterministic: header | commitment (24) | SIV (16) | ciphertext
//! ```
//!
//! Parsing never allocates from a length read out of the message (there is
//! none: every field but the ciphertext has a fixed size) and rejects any
//! message too short for its suite; trailing bytes are part of the ciphertext
//! and fail authentication.

use std::borrow::Cow;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::core::error::{Error, Result};

pub mod envelope;

pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 6;
pub const COMMIT_LEN: usize = 24;
pub const SALT_LEN: usize = 16;
pub const XNONCE_LEN: usize = 24;
pub const TAG_LEN: usize = 16;

/// The algorithm suites of message format v1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Suite {
    /// AES-256-GCM with a per-message subkey and a key commitment (the default).
    Aes256Gcm,
    /// XChaCha20-Poly1305 with a random 192-bit nonce and a key commitment.
    XChaCha20Poly1305,
    /// AES-256-SIV (RFC 5297): deterministic, with a key commitment.
    Aes256Siv,
}

impl Suite {
    pub const COUNT: usize = 3;
    pub const ALL: [Suite; Suite::COUNT] =
        [Suite::Aes256Gcm, Suite::XChaCha20Poly1305, Suite::Aes256Siv];

    pub const fn id(self) -> u8 {
        match self {
            Suite::Aes256Gcm => 1,
            Suite::XChaCha20Poly1305 => 2,
            Suite::Aes256Siv => 3,
        }
    }

    pub fn from_id(id: u8) -> Option<Self> {
        match id {
            1 => Some(Suite::Aes256Gcm),
            2 => Some(Suite::XChaCha20Poly1305),
            3 => Some(Suite::Aes256Siv),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Suite::Aes256Gcm => "aes-256-gcm",
            Suite::XChaCha20Poly1305 => "xchacha20-poly1305",
            Suite::Aes256Siv => "aes-256-siv",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Suite::ALL.into_iter().find(|s| s.name() == name)
    }

    pub const fn is_deterministic(self) -> bool {
        matches!(self, Suite::Aes256Siv)
    }

    /// The suite for an algorithm name (None: the default) and a wish for
    /// deterministic encryption: AES-256-GCM by default, AES-256-SIV when
    /// deterministic.
    pub fn choose(
        name: Option<&str>,
        deterministic: bool,
    ) -> std::result::Result<Self, SuiteChoice> {
        match (name.map(|n| (n, Suite::from_name(n))), deterministic) {
            (None, false) => Ok(Suite::Aes256Gcm),
            (None, true) | (Some((_, Some(Suite::Aes256Siv))), true) => Ok(Suite::Aes256Siv),
            (Some((_, Some(Suite::Aes256Siv))), false) => Err(SuiteChoice::SivIsDeterministic),
            (Some((_, Some(suite))), false) => Ok(suite),
            (Some((_, Some(_))), true) => Err(SuiteChoice::NotDeterministic),
            (Some((_, None)), _) => Err(SuiteChoice::Unknown),
        }
    }
}

/// Why `Suite::choose` refused a choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuiteChoice {
    /// AES-256-SIV named without asking for deterministic encryption.
    SivIsDeterministic,
    /// A randomized suite named together with deterministic encryption.
    NotDeterministic,
    /// No suite has this name.
    Unknown,
}

impl Suite {
    /// Bytes of nonce or salt after the header.
    pub const fn nonce_len(self) -> usize {
        match self {
            Suite::Aes256Gcm => SALT_LEN,
            Suite::XChaCha20Poly1305 => XNONCE_LEN,
            Suite::Aes256Siv => 0,
        }
    }

    /// Bytes before the ciphertext: header, nonce, commitment (and SIV).
    pub const fn prefix_len(self) -> usize {
        match self {
            Suite::Aes256Siv => HEADER_LEN + COMMIT_LEN + TAG_LEN,
            _ => HEADER_LEN + self.nonce_len() + COMMIT_LEN,
        }
    }

    /// Bytes a binary message adds to the plaintext.
    pub const fn overhead(self) -> usize {
        match self {
            Suite::Aes256Siv => self.prefix_len(),
            _ => self.prefix_len() + TAG_LEN,
        }
    }
}

/// The 6-byte header of a message under `suite` and `key_id`.
pub fn header(suite: Suite, key_id: u32) -> [u8; HEADER_LEN] {
    let id = key_id.to_be_bytes();
    [VERSION, suite.id(), id[0], id[1], id[2], id[3]]
}

/// Binary or URL-safe text (unpadded base64url of the binary form).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Binary,
    Text,
}

impl Encoding {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "binary" => Some(Encoding::Binary),
            "text" => Some(Encoding::Text),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Encoding::Binary => "binary",
            Encoding::Text => "text",
        }
    }
}

/// Text form of a binary message.
pub fn encode_text(binary: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(binary)
}

/// Length of the text form of a binary message of `len` bytes.
pub fn text_len(len: usize) -> usize {
    len / 3 * 4
        + match len % 3 {
            0 => 0,
            1 => 2,
            _ => 3,
        }
}

/// Length of the binary message whose text form is `len` bytes (the inverse of
/// [`text_len`]); `None` for a length no text form has.
pub fn binary_len(len: usize) -> Option<usize> {
    (len % 4 != 1).then_some(len / 4 * 3 + (len % 4).saturating_sub(1))
}

/// Write the text form of `binary` into `out` (exactly `text_len(binary.len())` bytes).
pub fn encode_text_into(binary: &[u8], out: &mut [u8]) -> Result<()> {
    let n = URL_SAFE_NO_PAD
        .encode_slice(binary, out)
        .map_err(|_| Error::Invalid("output buffer has the wrong length".into()))?;
    if n != out.len() {
        return Err(Error::Invalid("output buffer has the wrong length".into()));
    }
    Ok(())
}

/// The binary form of a message in either encoding. A binary message starts
/// with the version byte 0x01, which is never a base64url character.
pub fn decode(input: &[u8]) -> Result<Cow<'_, [u8]>> {
    match input.first() {
        Some(&VERSION) => Ok(Cow::Borrowed(input)),
        Some(_) => URL_SAFE_NO_PAD
            .decode(input)
            .map(Cow::Owned)
            .map_err(|_| Error::Decrypt),
        None => Err(Error::Decrypt),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_len_inverts_text_len() {
        for n in 0..1000 {
            assert_eq!(binary_len(text_len(n)), Some(n));
            assert_eq!(text_len(n), encode_text(&vec![0u8; n]).len());
        }
        assert_eq!(binary_len(5), None);
    }

    #[test]
    fn overheads() {
        assert_eq!(Suite::Aes256Gcm.overhead(), 62);
        assert_eq!(Suite::XChaCha20Poly1305.overhead(), 70);
        assert_eq!(Suite::Aes256Siv.overhead(), 46);
    }

    #[test]
    fn parse_rejects_short_and_unknown() {
        assert!(Message::parse(&[]).is_err());
        assert!(Message::parse(&[1, 1, 0, 0, 0, 1]).is_err());
        let mut m = vec![1u8, 1, 0, 0, 0, 7];
        m.resize(62, 0);
        let p = Message::parse(&m).unwrap();
        assert_eq!((p.key_id, p.ciphertext.len(), p.tag.len()), (7, 0, 16));
        m[0] = 2;
        assert!(Message::parse(&m).is_err());
        m[0] = 1;
        m[1] = 9;
        assert!(Message::parse(&m).is_err());
        m[1] = 3;
        let p = Message::parse(&m).unwrap();
        assert_eq!(p.ciphertext.len(), 16);
    }

    #[test]
    fn text_round_trip() {
        for n in 0..10 {
            let bin: Vec<u8> = std::iter::once(1u8).chain(0..n).collect();
            let t = encode_text(&bin);
            assert_eq!(t.len(), text_len(bin.len()));
            let mut buf = vec![0u8; t.len()];
            encode_text_into(&bin, &mut buf).unwrap();
            assert_eq!(buf, t.as_bytes());
            assert_eq!(decode(t.as_bytes()).unwrap().as_ref(), bin.as_slice());
        }
        assert!(decode(b"!!!").is_err());
    }
}
