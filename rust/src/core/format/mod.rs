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

pub mod encoding;
pub mod envelope;
pub mod header;
pub mod sealed;

pub use encoding::{binary_len, decode, encode_text, encode_text_into, text_len, Encoding};
pub use envelope::EnvelopeMessage;
pub use header::{
    header, Suite, SuiteChoice, COMMIT_LEN, HEADER_LEN, SALT_LEN, TAG_LEN, VERSION, XNONCE_LEN,
};
pub use sealed::Message;

use crate::core::error::Result;

/// Any binary message, parsed once: a direct message (suites 1 to 3) or an
/// envelope message (suite 4). Every path that opens, rotates or inspects a
/// message parses it into this and passes it on.
#[derive(Clone, Copy, Debug)]
pub enum Parsed<'a> {
    Sealed(Message<'a>),
    Envelope(EnvelopeMessage<'a>),
}

impl<'a> Parsed<'a> {
    /// Parse a binary message of any suite; anything malformed is `Error::Decrypt`.
    #[inline]
    pub fn parse(binary: &'a [u8]) -> Result<Self> {
        #[cfg(test)]
        PARSES.with(|n| n.set(n.get() + 1));
        if envelope::is_envelope(binary) {
            EnvelopeMessage::parse(binary).map(Parsed::Envelope)
        } else {
            Message::parse(binary).map(Parsed::Sealed)
        }
    }

    /// The key id of a direct message, the KEK id of an envelope message.
    #[inline]
    pub fn key_id(&self) -> u32 {
        match self {
            Parsed::Sealed(m) => m.key_id,
            Parsed::Envelope(m) => m.kek_id,
        }
    }

    /// The length of the plaintext inside.
    #[inline]
    pub fn plaintext_len(&self) -> usize {
        match self {
            Parsed::Sealed(m) => m.ciphertext.len(),
            Parsed::Envelope(m) => m.ciphertext.len(),
        }
    }
}

/// The plaintext length of a message in either encoding, read from its length
/// and its first bytes alone (for text, the first 12 characters decoded): what
/// a batch lays out before it parses each message, and checks as it does.
/// None when those bytes name no suite or the message is too short for it.
pub fn plaintext_len_hint(raw: &[u8]) -> Option<usize> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let mut head = [0u8; envelope::FIXED_HEADER_LEN];
    let binary = if raw.first() == Some(&VERSION) {
        head.copy_from_slice(raw.get(..envelope::FIXED_HEADER_LEN)?);
        raw.len()
    } else {
        // 12 base64url characters are exactly the first 9 bytes.
        let n = URL_SAFE_NO_PAD
            .decode_slice(raw.get(..12)?, &mut head)
            .ok()?;
        if n != head.len() {
            return None;
        }
        binary_len(raw.len())?
    };
    let [_, suite, _, _, _, _, _, l0, l1] = head;
    if suite == envelope::SUITE_ID {
        let wrapped = usize::from(u16::from_be_bytes([l0, l1]));
        return binary.checked_sub(envelope::overhead(wrapped));
    }
    binary.checked_sub(Suite::from_id(suite)?.overhead())
}

#[cfg(test)]
thread_local! {
    /// Messages parsed on this thread, counted for the tests of the paths
    /// that must parse each message once.
    pub(crate) static PARSES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_len_hint_reads_the_header_of_either_encoding() {
        let mut sealed = vec![1u8, 1, 0, 0, 0, 7];
        sealed.resize(62 + 20, 0);
        assert_eq!(plaintext_len_hint(&sealed), Some(20));
        assert_eq!(
            plaintext_len_hint(encode_text(&sealed).as_bytes()),
            Some(20)
        );
        let mut env = vec![1u8, 4, 0, 0, 0, 1, 1, 0, 60];
        env.resize(envelope::overhead(60) + 5, 0);
        assert_eq!(plaintext_len_hint(&env), Some(5));
        assert_eq!(plaintext_len_hint(encode_text(&env).as_bytes()), Some(5));
        // Unknown suite, too short, not base64: no hint.
        assert_eq!(plaintext_len_hint(&[1, 9, 0, 0, 0, 1, 0, 0, 0, 0]), None);
        assert_eq!(plaintext_len_hint(&sealed[..30]), None);
        assert_eq!(plaintext_len_hint(b"!!!!!!!!!!!!!!!!"), None);
        assert_eq!(plaintext_len_hint(b""), None);
    }

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
