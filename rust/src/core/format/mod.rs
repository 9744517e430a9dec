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
pub mod stream;

pub use encoding::{
    binary_len, decode, encode_text, encode_text_into, encoding_of, text_len, Encoding,
};
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

    /// Where this parse found the message's fields: what a batch carries from
    /// the step that parses a message to the one that opens it, instead of
    /// parsing it again.
    #[inline]
    pub fn shape(&self) -> Shape {
        match self {
            Parsed::Sealed(m) => Shape::Sealed(m.shape()),
            Parsed::Envelope(m) => Shape::Envelope(m.shape()),
        }
    }

    /// The message whose parse gave `shape`, viewed again in `binary` (the
    /// same bytes) without parsing it: its fields sliced where that parse
    /// found them. Bytes of another length are `Error::Internal`; no input
    /// makes this panic.
    #[inline]
    pub fn at(binary: &'a [u8], shape: Shape) -> Result<Self> {
        match shape {
            Shape::Sealed(s) => Message::at(binary, s).map(Parsed::Sealed),
            Shape::Envelope(s) => EnvelopeMessage::at(binary, s).map(Parsed::Envelope),
        }
    }
}

/// Where a parse found the fields of a message of either kind ([`Parsed::shape`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Sealed(sealed::Shape),
    Envelope(envelope::Shape),
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

    /// A message of each suite and envelope messages with short and long
    /// wrapped keys, of `pt` plaintext bytes, filled with a pattern.
    fn messages(pt: usize) -> Vec<Vec<u8>> {
        let fill = |m: &mut Vec<u8>, len: usize| {
            let start = m.len();
            m.extend((start..len).map(|i| (i * 7 + 3) as u8));
        };
        let mut out = Vec::new();
        for suite in [1u8, 2, 3] {
            let mut m = vec![1u8, suite, 0, 0, 1, 2];
            fill(&mut m, Suite::from_id(suite).unwrap().overhead() + pt);
            out.push(m);
        }
        for (flags, wrapped) in [(1u8, 60u16), (0, 1), (1, 4096)] {
            let l = wrapped.to_be_bytes();
            let mut m = vec![1u8, 4, 0, 0, 0, 9, flags, l[0], l[1]];
            fill(&mut m, envelope::overhead(usize::from(wrapped)) + pt);
            out.push(m);
        }
        out
    }

    #[test]
    fn a_shape_views_the_parsed_fields_again_without_a_parse() {
        for pt in [0, 1, 20] {
            for m in messages(pt) {
                let parsed = Parsed::parse(&m).unwrap();
                let shape = parsed.shape();
                let before = PARSES.with(|n| n.get());
                let again = Parsed::at(&m, shape).unwrap();
                assert_eq!(PARSES.with(|n| n.get()), before);
                // Every field, slice and value, as the parse found it.
                assert_eq!(format!("{again:?}"), format!("{parsed:?}"));
                assert_eq!(again.plaintext_len(), pt);
                assert_eq!(again.shape(), shape);
                // The same bytes in another buffer: the same view.
                let copy = m.clone();
                let there = Parsed::at(&copy, shape).unwrap();
                assert_eq!(format!("{there:?}"), format!("{parsed:?}"));
                // Bytes of another length do not take it, and nothing panics.
                for n in 0..m.len() {
                    assert_eq!(
                        Parsed::at(&m[..n], shape).unwrap_err(),
                        crate::core::error::Error::Internal(
                            "a message is not the one its shape came from"
                        )
                    );
                }
                let mut longer = m.clone();
                longer.push(0);
                assert!(Parsed::at(&longer, shape).is_err());
            }
        }
    }

    #[test]
    fn a_shape_is_its_own_kinds_and_lengths() {
        let all = messages(5);
        let shapes: Vec<Shape> = all
            .iter()
            .map(|m| Parsed::parse(m).unwrap().shape())
            .collect();
        for (i, a) in shapes.iter().enumerate() {
            for (j, b) in shapes.iter().enumerate() {
                assert_eq!(a == b, i == j, "{a:?} {b:?}");
            }
        }
        // A parse that fails gives no shape: the checks are the parse's.
        let mut bad = all[3].clone();
        bad[6] = 2; // unknown envelope flag
        assert!(Parsed::parse(&bad).is_err());
        // A shape taken from one envelope message, put on another message of
        // the same length, slices it where the first one's fields lay.
        let env = EnvelopeMessage::parse(&all[3]).unwrap();
        let other = vec![0xAAu8; all[3].len()];
        let view = EnvelopeMessage::at(&other, env.shape()).unwrap();
        assert_eq!(view.wrapped.len(), env.wrapped.len());
        assert_eq!(view.ciphertext.len(), env.ciphertext.len());
        assert_eq!((view.kek_id, view.flags), (env.kek_id, env.flags));
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
