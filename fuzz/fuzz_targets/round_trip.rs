//! Seal fuzzed plaintexts under fuzzed contexts with every suite and check the
//! message against its specification.
//!
//! Input layout: `context length (1) | bit to flip (2, little-endian) |
//! repetitions (1) | context | plaintext`; the plaintext is repeated
//! `1 + repetitions % 64` times.
//!
//! For every suite:
//! - the message has the suite's exact overhead and parses to the suite, the
//!   active key id and the plaintext's length;
//! - sealers of every suite open it, in binary and in text form, to the plaintext;
//! - it does not open under the context extended or truncated by a byte or
//!   with one bit flipped (a fuzzed bit and one of the last byte), nor with one
//!   bit of the message flipped (binary or text form), the message truncated or
//!   extended by a byte, or a keyring that lacks its key;
//! - `needs_rotation` is false for its own sealer only;
//! - the deterministic suite seals equal inputs to equal messages (and
//!   `lookup_values` lists them active key first); the others never repeat;
//! - a message under the old key of the ring opens and needs rotation.

#![no_main]

mod common;

use _native::core::format::{decode, encode_text, Message};
use _native::core::{Error, Sealer};
use libfuzzer_sys::fuzz_target;

use common::{old_sealers, sealers, single_ring, ACTIVE_ID, OLD_ID};

fuzz_target!(|data: &[u8]| {
    let [ctx_len, f0, f1, repeat, rest @ ..] = data else {
        return;
    };
    let flip = usize::from(u16::from_le_bytes([*f0, *f1]));
    let (context, plaintext) = rest.split_at(usize::from(*ctx_len).min(rest.len()));
    // Repetition reaches the large-message code paths with short inputs.
    let plaintext = plaintext.repeat(1 + usize::from(*repeat % 64));
    let plaintext = plaintext.as_slice();

    for (sealer, old) in sealers().iter().zip(old_sealers()) {
        check_suite(sealer, old, plaintext, context, flip);
    }
});

fn must_fail(sealer: &Sealer, message: &[u8], context: &[u8], what: &str) {
    match sealer.open(message, context) {
        Ok(pt) => panic!("{:?}: opened {what}: {:?}", sealer.suite(), &pt[..]),
        Err(e) => assert_eq!(
            e,
            Error::Decrypt,
            "{:?}: {what} failed with a non-opaque error",
            sealer.suite()
        ),
    }
}

fn check_suite(sealer: &Sealer, old: &Sealer, plaintext: &[u8], context: &[u8], flip: usize) {
    let suite = sealer.suite();
    let msg = sealer.seal(plaintext, context).expect("seal");
    assert_eq!(msg.len(), plaintext.len() + suite.overhead());
    assert_eq!(sealer.sealed_len(plaintext.len()), Ok(msg.len()));

    let m = Message::parse(&msg).expect("a sealed message parses");
    assert_eq!(
        (m.suite, m.key_id, m.ciphertext.len()),
        (suite, ACTIVE_ID, plaintext.len())
    );

    // Every sealer opens every suite; only the own sealer sees no need to rotate.
    for other in sealers() {
        let pt = other.open(&msg, context).expect("open a sealed message");
        assert_eq!(&pt[..], plaintext, "{suite:?} round trip");
        assert_eq!(other.needs_rotation(&msg), Ok(other.suite() != suite));
    }

    let text = encode_text(&msg);
    assert_eq!(
        decode(text.as_bytes()).expect("decode text").as_ref(),
        &msg[..]
    );
    let pt = sealer
        .open(text.as_bytes(), context)
        .expect("open the text form");
    assert_eq!(&pt[..], plaintext, "{suite:?} text round trip");
    assert_eq!(sealer.needs_rotation(text.as_bytes()), Ok(false));

    let mut longer = context.to_vec();
    longer.push(0);
    must_fail(sealer, &msg, &longer, "under an extended context");
    if let Some((_, shorter)) = context.split_last() {
        must_fail(sealer, &msg, shorter, "under a truncated context");
        let mut changed = context.to_vec();
        let bit = flip % (changed.len() * 8);
        changed[bit / 8] ^= 1 << (bit % 8);
        must_fail(
            sealer,
            &msg,
            &changed,
            &format!("under the context with bit {bit} flipped"),
        );
        let mut changed = context.to_vec();
        *changed.last_mut().expect("non-empty") ^= 0x80;
        must_fail(
            sealer,
            &msg,
            &changed,
            "under the context with its last byte changed",
        );
    }

    let bit = flip % (msg.len() * 8);
    let mut flipped = msg.clone();
    flipped[bit / 8] ^= 1 << (bit % 8);
    must_fail(
        sealer,
        &flipped,
        context,
        &format!("with bit {bit} flipped"),
    );
    let flipped_text = encode_text(&flipped);
    must_fail(
        sealer,
        flipped_text.as_bytes(),
        context,
        &format!("text form with bit {bit} flipped"),
    );

    must_fail(
        sealer,
        &msg[..msg.len() - 1],
        context,
        "truncated by one byte",
    );
    let mut extended = msg.clone();
    extended.push(flip as u8);
    must_fail(sealer, &extended, context, "extended by one byte");

    let lacking = Sealer::new(single_ring(OLD_ID), suite);
    must_fail(&lacking, &msg, context, "with a keyring that lacks its key");

    let again = sealer.seal(plaintext, context).expect("seal again");
    if suite.is_deterministic() {
        assert_eq!(
            again, msg,
            "the deterministic suite sealed equal inputs differently"
        );
        let values = sealer
            .lookup_values(plaintext, context)
            .expect("lookup_values");
        assert_eq!(values.len(), 2);
        assert_eq!(
            values[0], msg,
            "lookup_values does not start with the active key"
        );
        assert_eq!(
            values[1],
            old.seal(plaintext, context)
                .expect("seal under the old key")
        );
    } else {
        assert_ne!(again, msg, "{suite:?} sealed the same message twice");
        assert!(sealer.lookup_values(plaintext, context).is_err());
    }

    let rotated = old
        .seal(plaintext, context)
        .expect("seal under the old key");
    assert_eq!(Message::parse(&rotated).map(|m| m.key_id), Ok(OLD_ID));
    assert_eq!(
        &sealer
            .open(&rotated, context)
            .expect("open under the old key")[..],
        plaintext
    );
    assert_eq!(sealer.needs_rotation(&rotated), Ok(true));
    assert_eq!(old.needs_rotation(&rotated), Ok(false));
    let active_only = Sealer::new(single_ring(ACTIVE_ID), suite);
    must_fail(
        &active_only,
        &rotated,
        context,
        "an old-key message with the old key retired",
    );
}
