//! Arbitrary bytes as a message, in either encoding, against a fixed keyring.
//!
//! Checked on every input:
//! - `Message::parse`, `decode`, `Sealer::open` (a sealer per suite) and
//!   `Sealer::needs_rotation` never panic;
//! - a parsed message's fields are exactly the slices the format defines, and
//!   parsing rejects only inputs that are too short or have an unknown
//!   version or suite;
//! - `decode` accepts only the canonical text form (one text per message);
//! - an envelope message (suite 4) parses into the slices its header gives;
//! - `needs_rotation` agrees with the parsed header (envelope messages always
//!   need rotation for these direct sealers) and fails exactly when parsing does;
//! - every failure to open is the opaque `Error::Decrypt`;
//! - nothing opens under a context no message was sealed under;
//! - under the seeds' context only genuine seeds open, to their own plaintext,
//!   and the binary and text forms of a message open alike.

#![no_main]

mod common;

use std::borrow::Cow;

use _native::core::format::envelope::{self, EnvelopeMessage};
use _native::core::format::{
    decode, encode_text, Message, Suite, COMMIT_LEN, HEADER_LEN, TAG_LEN, VERSION,
};
use _native::core::Error;
use libfuzzer_sys::fuzz_target;

use common::{sealers, seed_plaintext, wrong_contexts, ACTIVE_ID, RIGHT_CONTEXT};

fuzz_target!(init: common::write_seeds_from_env(), |data: &[u8]| {
    check_parse(data);
    let binary = check_decode(data);
    let parsed = binary.as_deref().and_then(|b| Message::parse(b).ok());
    let enveloped = binary.as_deref().and_then(check_envelope);

    let mut opened: Option<Vec<u8>> = None;
    for (i, sealer) in sealers().iter().enumerate() {
        match (sealer.needs_rotation(data), &parsed) {
            (Ok(rotate), Some(m)) => assert_eq!(
                rotate,
                m.key_id != ACTIVE_ID || m.suite != sealer.suite(),
                "needs_rotation disagrees with the header"
            ),
            (Ok(rotate), None) if enveloped.is_some() => assert!(rotate),
            (Err(e), None) if enveloped.is_none() => assert_eq!(e, Error::Decrypt),
            (got, m) => panic!("needs_rotation gave {got:?} but parsing gave {m:?}"),
        }

        for ctx in wrong_contexts() {
            match sealer.open(data, ctx) {
                Ok(pt) => panic!(
                    "{:?} sealer opened a message under a context it was not sealed under ({ctx:?}): {:?}",
                    sealer.suite(),
                    &pt[..]
                ),
                Err(e) => assert_eq!(e, Error::Decrypt, "open failed with a non-opaque error"),
            }
        }

        let result = sealer.open(data, RIGHT_CONTEXT);
        match &result {
            Ok(pt) => {
                let m = parsed.as_ref().expect("a message that does not parse was opened");
                assert_eq!(pt.len(), m.ciphertext.len());
                assert_eq!(
                    &pt[..],
                    &seed_plaintext(m.suite, m.key_id)[..],
                    "opened to a plaintext no seed carries: a forged message"
                );
            }
            Err(e) => assert_eq!(*e, Error::Decrypt, "open failed with a non-opaque error"),
        }
        // The sealer's own suite does not matter when opening.
        let result = result.ok().map(|pt| pt.to_vec());
        if i == 0 {
            opened = result;
        } else {
            assert_eq!(result, opened, "sealers of different suites disagree on a message");
        }
    }

    // The text form of a binary input opens exactly as the binary form does.
    if data.first() == Some(&VERSION) {
        let text = encode_text(data);
        let again = sealers()[0].open(text.as_bytes(), RIGHT_CONTEXT).ok().map(|pt| pt.to_vec());
        assert_eq!(again, opened, "binary and text forms open differently");
    }
});

/// Parse an envelope message and check its fields against the header's lengths.
fn check_envelope(data: &[u8]) -> Option<()> {
    let m = EnvelopeMessage::parse(data).ok()?;
    let n = usize::from(u16::from_be_bytes([data[7], data[8]]));
    assert!(envelope::is_envelope(data));
    assert_eq!(
        m.kek_id,
        u32::from_be_bytes([data[2], data[3], data[4], data[5]])
    );
    assert_eq!(m.flags, data[6]);
    assert_eq!(m.wrapped, &data[9..9 + n]);
    assert_eq!(m.payload, &data[9 + n..]);
    assert_eq!(m.tag, &data[data.len() - TAG_LEN..]);
    assert_eq!(
        m.ciphertext.len() + envelope::overhead(n),
        data.len(),
        "envelope lengths do not add up"
    );
    Some(())
}

/// Parse and compare every field with the slice of the input the format defines.
fn check_parse(data: &[u8]) {
    let m = match Message::parse(data) {
        Ok(m) => m,
        Err(e) => {
            assert_eq!(e, Error::Decrypt);
            let justified = data.len() < HEADER_LEN
                || data[0] != VERSION
                || Suite::from_id(data[1]).is_none_or(|s| data.len() < s.overhead());
            assert!(justified, "parse rejected a well-formed message");
            return;
        }
    };
    let suite = m.suite;
    assert!(
        data.len() >= suite.overhead(),
        "parse accepted a short message"
    );
    assert_eq!(data[0], VERSION);
    assert_eq!(data[1], suite.id());
    assert_eq!(
        m.key_id,
        u32::from_be_bytes([data[2], data[3], data[4], data[5]])
    );
    assert_eq!(m.header[..], data[..HEADER_LEN]);
    assert_eq!(m.raw, data);
    assert_eq!(m.prefix, &data[..suite.prefix_len()]);
    let n = suite.nonce_len();
    assert_eq!(m.nonce, &data[HEADER_LEN..HEADER_LEN + n]);
    assert_eq!(
        m.commitment,
        &data[HEADER_LEN + n..HEADER_LEN + n + COMMIT_LEN]
    );
    assert_eq!(m.tag.len(), TAG_LEN);
    match suite {
        Suite::Aes256Siv => {
            assert_eq!(m.tag, &data[HEADER_LEN + COMMIT_LEN..suite.prefix_len()]);
            assert_eq!(m.ciphertext, &data[suite.prefix_len()..]);
        }
        _ => {
            assert_eq!(
                m.ciphertext,
                &data[suite.prefix_len()..data.len() - TAG_LEN]
            );
            assert_eq!(m.tag, &data[data.len() - TAG_LEN..]);
        }
    }
    assert_eq!(m.ciphertext.len() + suite.overhead(), data.len());
}

/// Decode either encoding. A binary input is returned as is; a text input must
/// be the canonical text of what it decodes to.
fn check_decode(data: &[u8]) -> Option<Cow<'_, [u8]>> {
    match decode(data) {
        Ok(binary) => {
            if data[0] == VERSION {
                assert!(matches!(binary, Cow::Borrowed(b) if b == data));
            } else {
                assert_eq!(
                    encode_text(&binary).as_bytes(),
                    data,
                    "a non-canonical text form was accepted"
                );
            }
            Some(binary)
        }
        Err(e) => {
            assert_eq!(e, Error::Decrypt);
            assert!(
                data.first() != Some(&VERSION),
                "a binary message failed to decode"
            );
            None
        }
    }
}
