//! The wrapped data keys of a batch of envelope messages, told apart so that
//! each distinct key is unwrapped once per batch (by a KMS or HSM, in the
//! caller's language) however many messages share it.

use std::collections::HashMap;

use crate::core::batch::{Contexts, Items};
use crate::core::format::{self, EnvelopeMessage, Parsed};

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

    pub fn context_bound(&self) -> bool {
        self.flags & format::envelope::FLAG_CONTEXT_BOUND != 0
    }
}

/// The distinct wraps seen so far, numbered in the order first seen.
#[derive(Default)]
pub struct Wraps {
    slots: HashMap<Wrap, usize>,
    /// Each wrap and the first item that named it.
    pub list: Vec<(Wrap, usize)>,
}

impl Wraps {
    /// The slot of `msg`'s wrap (item `index`, under `context`), numbering it
    /// if new.
    pub fn slot(&mut self, msg: &EnvelopeMessage<'_>, context: &[u8], index: usize) -> usize {
        let wrap = Wrap::of(msg, context);
        let next = self.list.len();
        *self.slots.entry(wrap).or_insert_with_key(|w| {
            self.list.push((w.clone(), index));
            next
        })
    }
}

/// Each item's wrap slot (None for an item that is not an envelope message)
/// and the distinct wraps, for items `0..items.len()`.
pub fn scan(items: &dyn Items, contexts: &Contexts<'_>) -> (Vec<Option<usize>>, Wraps) {
    let mut wraps = Wraps::default();
    let slots = (0..items.len())
        .map(|i| {
            let binary = format::decode(items.get(i)).ok()?;
            match Parsed::parse(&binary).ok()? {
                Parsed::Envelope(msg) => Some(wraps.slot(&msg, contexts.get(i), i)),
                Parsed::Sealed(_) => None,
            }
        })
        .collect();
    (slots, wraps)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::core::keys::{Keyring, SecretKey};
    use crate::core::seal::Sealer;

    #[test]
    fn scan_tells_wraps_apart_by_key_and_bound_context() {
        let ring =
            Arc::new(Keyring::new([(1, SecretKey::from_slice(&[1; 32]).unwrap())], 1).unwrap());
        let env = Sealer::envelope(Arc::clone(&ring));
        let direct = Sealer::new(ring, crate::core::format::Suite::Aes256Gcm);
        // Each envelope message has its own data key, bound to its context.
        let a = env.seal(b"a", b"ctx-a").unwrap();
        let b = env.seal(b"b", b"ctx-b").unwrap();
        let items = vec![
            a.clone(),
            b,
            a.clone(),
            a,
            direct.seal(b"d", b"").unwrap(),
            b"junk".to_vec(),
        ];
        let contexts: Vec<&[u8]> = vec![b"ctx-a", b"ctx-b", b"ctx-a", b"other", b"", b""];
        let (slots, wraps) = scan(&items, &Contexts::Each(&contexts));
        // The same message under the same context shares a slot; under another
        // context it is another unwrap.
        assert_eq!(slots, vec![Some(0), Some(1), Some(0), Some(2), None, None]);
        assert_eq!(
            wraps
                .list
                .iter()
                .map(|(_, first)| *first)
                .collect::<Vec<_>>(),
            vec![0, 1, 3]
        );
        assert!(wraps
            .list
            .iter()
            .all(|(w, _)| w.context_bound() && w.kek_id == 1));
        assert_eq!(wraps.list[2].0.context, b"other");
    }
}
