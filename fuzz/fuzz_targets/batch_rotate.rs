//! Arbitrary bytes as a batch of messages (some null), rotated by the batch
//! engine under every sealer of the fixed keyring, in both rotation modes.
//!
//! The input is a sequence of items, each a big-endian `u16` prefix and that
//! many bytes (the last item takes what is left); a prefix with its top bit set
//! makes the item null. A rotation takes the inputs' lengths as its layout and
//! lays out again from where an item does not fit (`Batch::guess`), so the
//! batches mix messages whose rotation keeps their length with messages of
//! other suites, forgeries and junk.
//!
//! Checked on every input, for each sealer and mode:
//! - the rotation never panics, and gives each item the status that item alone
//!   would get: null stays null; in `auto` mode a message already under the
//!   active key and suite (the header alone decides) is `Unchanged` and its
//!   output is its input when it is in the batch's (binary) encoding, and is
//!   `Done` with its binary form as output when it is text; otherwise an item that opens under the seeds'
//!   context is `Done`, and its output opens, under the sealer, to the same
//!   plaintext and needs no rotation. An envelope message re-wrapped by the
//!   envelope sealer may be `Done` without opening (a re-wrap opens the data
//!   key, not the payload): its output then opens exactly as its input does.
//!   Every other item fails and takes no output bytes;
//! - the result equals that of a first pass over every header followed by one
//!   fill (`Batch::layout`): the same statuses and offsets, and the same bytes
//!   for the deterministic suite and, when the input's first byte is odd, for
//!   every direct sealer (a repeatable rotation: nonces derived, not drawn).

#![no_main]

mod common;

use _native::core::batch::{compact, Batch, Contexts, Items, Op, RotateMode, Status};
use _native::core::format::envelope::EnvelopeMessage;
use _native::core::format::{decode, encoding_of, Suite};
use _native::core::{Encoding, Sealer};
use libfuzzer_sys::fuzz_target;

use common::{envelope_sealer, sealers, RIGHT_CONTEXT};

fuzz_target!(init: common::write_batch_seeds_from_env(), |data: &[u8]| {
    let (items, nulls) = split(data);
    let repeatable = data.first().is_some_and(|b| b & 1 == 1);
    let direct = sealers().iter();
    for sealer in direct.chain(std::iter::once(envelope_sealer())) {
        for mode in [RotateMode::Auto, RotateMode::Reencrypt] {
            check(sealer, mode, &items, &nulls, repeatable && !sealer.is_envelope());
        }
    }
});

/// Items and nulls of an input (see the module's documentation).
fn split(mut data: &[u8]) -> (Vec<&[u8]>, Vec<bool>) {
    let (mut items, mut nulls) = (Vec::new(), Vec::new());
    while let Some((prefix, rest)) = data.split_first_chunk::<2>() {
        let prefix = u16::from_be_bytes(*prefix);
        let len = usize::from(prefix & 0x7fff).min(rest.len());
        let (item, rest) = rest.split_at(len);
        items.push(item);
        nulls.push(prefix & 0x8000 != 0);
        data = rest;
    }
    (items, nulls)
}

fn check(sealer: &Sealer, mode: RotateMode, items: &dyn Items, nulls: &[bool], repeatable: bool) {
    let n = items.len();
    let batch = Batch {
        sealer,
        encoding: Encoding::Binary,
        threads: Some(2),
        nulls: Some(nulls),
        accept: None,
        repeatable,
    };
    let ctx = Contexts::One(RIGHT_CONTEXT);
    let op = Op::Rotate(mode);
    let out = batch
        .rotate(items, &ctx, mode, 0..n)
        .expect("a rotation fails only as a whole on misuse");
    assert_eq!(out.status.len(), n);

    for i in 0..n {
        let (item, got) = (items.get(i), out.item(i));
        let status = out.status[i];
        if nulls[i] {
            assert_eq!(status, Status::Null);
            assert!(got.is_empty());
            continue;
        }
        if mode == RotateMode::Auto && sealer.needs_rotation(item) == Ok(false) {
            if encoding_of(item) == Encoding::Binary {
                assert_eq!(status, Status::Unchanged, "a current message was rotated");
                assert_eq!(got, item);
            } else {
                // Current, but in the other encoding: re-encoded, not re-sealed.
                assert_eq!(
                    status,
                    Status::Done,
                    "a current text message was not re-encoded"
                );
                assert_eq!(Some(got), decode(item).ok().as_deref());
            }
            continue;
        }
        let rewrap = sealer.is_envelope() && mode == RotateMode::Auto && is_envelope(item);
        match sealer.open(item, RIGHT_CONTEXT) {
            Err(_) if rewrap && status == Status::Done => {
                assert!(
                    sealer.open(got, RIGHT_CONTEXT).is_err(),
                    "a re-wrap made a message open"
                );
                assert_eq!(sealer.needs_rotation(got), Ok(false));
            }
            Ok(plaintext) => {
                assert_eq!(status, Status::Done, "a message that opens was not rotated");
                let again = sealer
                    .open(got, RIGHT_CONTEXT)
                    .expect("a rotated message does not open");
                assert_eq!(&again[..], &plaintext[..], "rotation changed the plaintext");
                assert_eq!(sealer.needs_rotation(got), Ok(false));
            }
            Err(_) => {
                assert_eq!(
                    status,
                    Status::Failed,
                    "a message that does not open was rotated"
                );
                assert!(got.is_empty());
            }
        }
    }

    // The same batch through a first pass and one fill.
    let mut layout = batch.layout(op, items, 0..n).expect("layout");
    let mut data = vec![0u8; layout.total()];
    let status = batch
        .fill(op, items, &ctx, &layout, 0..n, &mut data)
        .expect("fill")
        .expect("a planned layout always fits");
    let used = compact(&mut data, &mut layout.offsets, &status);
    assert_eq!(status, out.status, "the guessed layout changed a status");
    assert_eq!(
        layout.offsets, out.offsets,
        "the guessed layout changed an offset"
    );
    if repeatable || !sealer.is_envelope() && sealer.suite() == Suite::Aes256Siv {
        assert_eq!(
            &data[..used],
            &out.data[..],
            "the guessed layout changed the bytes"
        );
    }
}

/// Whether an item, in either encoding, is an envelope message.
fn is_envelope(item: &[u8]) -> bool {
    decode(item).is_ok_and(|binary| EnvelopeMessage::parse(&binary).is_ok())
}
