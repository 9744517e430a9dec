//! The wrapped data keys of a batch of envelope messages, told apart so that
//! each distinct key is unwrapped once per batch (by a KMS or HSM, in the
//! caller's language) however many messages share it.

use std::collections::HashMap;

use crate::core::format::EnvelopeMessage;

/// One wrapped data key as a batch names it. A key bound to its message's
/// context is told apart by that context too: the same wrapped bytes under
/// two contexts are two unwraps, either of which may fail.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Wrap {
    pub kek_id: u32,
    pub flags: u8,
    pub wrapped: Vec<u8>,
    /// The context the wrap is bound to; empty when it is not bound.
    pub context: Vec<u8>,
}

impl Wrap {
    pub fn of(msg: &EnvelopeMessage<'_>, context: &[u8]) -> Self {
        Self {
            kek_id: msg.kek_id,
            flags: msg.flags,
            wrapped: msg.wrapped.to_vec(),
            context: if msg.context_bound() {
                context.to_vec()
            } else {
                Vec::new()
            },
        }
    }
}

/// The distinct wraps seen so far, numbered in the order first seen.
#[derive(Default)]
pub struct Wraps {
    slots: HashMap<Wrap, usize>,
}

impl Wraps {
    /// The slot of `msg`'s wrap under `context`, numbering it if new; and
    /// whether it is new (then its slot is the number of wraps seen before).
    pub fn slot(&mut self, msg: &EnvelopeMessage<'_>, context: &[u8]) -> (usize, bool) {
        let next = self.slots.len();
        let slot = *self.slots.entry(Wrap::of(msg, context)).or_insert(next);
        (slot, slot == next)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::core::format::Parsed;
    use crate::core::keys::{Keyring, SecretKey};
    use crate::core::seal::Sealer;

    #[test]
    fn wraps_are_told_apart_by_key_and_bound_context() {
        let ring =
            Arc::new(Keyring::new([(1, SecretKey::from_slice(&[1; 32]).unwrap())], 1).unwrap());
        let env = Sealer::envelope(ring);
        // Each envelope message has its own data key, bound to its context.
        let a = env.seal(b"a", b"ctx-a").unwrap();
        let b = env.seal(b"b", b"ctx-b").unwrap();
        let mut wraps = Wraps::default();
        let mut slot = |m: &[u8], c: &[u8]| match Parsed::parse(m).unwrap() {
            Parsed::Envelope(msg) => wraps.slot(&msg, c),
            Parsed::Sealed(_) => unreachable!(),
        };
        // The same message under the same context shares a slot; under another
        // context it is another unwrap.
        assert_eq!(slot(&a, b"ctx-a"), (0, true));
        assert_eq!(slot(&b, b"ctx-b"), (1, true));
        assert_eq!(slot(&a, b"ctx-a"), (0, false));
        assert_eq!(slot(&a, b"other"), (2, true));
        let msg = EnvelopeMessage::parse(&a).unwrap();
        assert_eq!(Wrap::of(&msg, b"x").context, b"x");
    }
}
