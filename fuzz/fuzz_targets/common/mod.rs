//! Fixtures shared by the fuzz targets: one fixed two-key keyring, a sealer
//! per suite, the contexts the targets open with, and the seed messages.

#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, OnceLock};

use _native::core::format::{encode_text, Suite};
use _native::core::{Keyring, Sealer, SecretKey};

/// Key ids of the fixed keyring. Messages are sealed under `ACTIVE_ID`.
pub const OLD_ID: u32 = 1;
pub const ACTIVE_ID: u32 = 2;

/// The context every seed message was sealed under.
pub const RIGHT_CONTEXT: &[u8] = b"users/42/email";

/// Fixed test keys; they only ever protect fuzz inputs.
fn key(id: u32) -> SecretKey {
    let mut k = [0u8; 32];
    for (i, b) in k.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37) ^ (id as u8).wrapping_mul(0x5b);
    }
    SecretKey::from_slice(&k).expect("32-byte key")
}

fn ring(active: u32) -> Arc<Keyring> {
    Arc::new(
        Keyring::new([(OLD_ID, key(OLD_ID)), (ACTIVE_ID, key(ACTIVE_ID))], active)
            .expect("keyring"),
    )
}

/// A ring holding only `id` (for messages under a key the ring lacks).
pub fn single_ring(id: u32) -> Arc<Keyring> {
    Arc::new(Keyring::single(id, &key(id)).expect("keyring"))
}

/// One sealer per suite, in `Suite::ALL` order, over the two-key ring with
/// `ACTIVE_ID` active.
pub fn sealers() -> &'static [Sealer; Suite::COUNT] {
    static SEALERS: OnceLock<[Sealer; Suite::COUNT]> = OnceLock::new();
    SEALERS.get_or_init(|| {
        let ring = ring(ACTIVE_ID);
        Suite::ALL.map(|suite| Sealer::new(Arc::clone(&ring), suite))
    })
}

/// The same ring with the old key active: its messages need rotation.
pub fn old_sealers() -> &'static [Sealer; Suite::COUNT] {
    static SEALERS: OnceLock<[Sealer; Suite::COUNT]> = OnceLock::new();
    SEALERS.get_or_init(|| {
        let ring = ring(OLD_ID);
        Suite::ALL.map(|suite| Sealer::new(Arc::clone(&ring), suite))
    })
}

/// An envelope sealer (data keys wrapped by the ring's keys) over the same
/// ring, `ACTIVE_ID` active.
pub fn envelope_sealer() -> &'static Sealer {
    static SEALER: OnceLock<Sealer> = OnceLock::new();
    SEALER.get_or_init(|| Sealer::envelope(ring(ACTIVE_ID)))
}

/// The same with the old key active.
pub fn old_envelope_sealer() -> &'static Sealer {
    static SEALER: OnceLock<Sealer> = OnceLock::new();
    SEALER.get_or_init(|| Sealer::envelope(ring(OLD_ID)))
}

/// Contexts no seed was sealed under: near misses of `RIGHT_CONTEXT`, the
/// empty context, and one long enough for the associated data to leave the
/// stack buffer.
pub fn wrong_contexts() -> &'static [Vec<u8>] {
    static WRONG: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    WRONG.get_or_init(|| {
        let mut extended = RIGHT_CONTEXT.to_vec();
        extended.push(0);
        let mut changed = RIGHT_CONTEXT.to_vec();
        changed[6] ^= 1;
        vec![
            Vec::new(),
            RIGHT_CONTEXT[..RIGHT_CONTEXT.len() - 1].to_vec(),
            extended,
            changed,
            vec![b'x'; 300],
        ]
    })
}

/// The plaintext of the seed message under `suite` and `key_id`. A message
/// that opens under `RIGHT_CONTEXT` must carry exactly this.
pub fn seed_plaintext(suite: Suite, key_id: u32) -> Vec<u8> {
    format!("sealbox seed: {} under key {key_id}", suite.name()).into_bytes()
}

/// Write genuine messages (every suite, both keys, binary and text) into the
/// directory named by `SEALBOX_FUZZ_SEEDS`, unless they are there already.
/// Called once at start-up; the fuzzer then reads them with the corpus.
pub fn write_seeds_from_env() {
    let Some(dir) = std::env::var_os("SEALBOX_FUZZ_SEEDS") else {
        return;
    };
    let dir = Path::new(&dir);
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    for (id, sealers) in [(ACTIVE_ID, sealers()), (OLD_ID, old_sealers())] {
        for sealer in sealers {
            let suite = sealer.suite();
            let binary = path_for(dir, suite, id, "bin");
            let text = path_for(dir, suite, id, "txt");
            if binary.exists() && text.exists() {
                continue;
            }
            let msg = sealer
                .seal(&seed_plaintext(suite, id), RIGHT_CONTEXT)
                .expect("seal seed");
            let _ = std::fs::write(&binary, &msg);
            let _ = std::fs::write(&text, encode_text(&msg));
        }
    }
}

/// Write batches of genuine messages (every suite and envelope messages, both
/// keys, both encodings; some null, some damaged) in `batch_rotate`'s input
/// form into the directory named by `SEALBOX_FUZZ_SEEDS`, unless they are
/// there already.
pub fn write_batch_seeds_from_env() {
    let Some(dir) = std::env::var_os("SEALBOX_FUZZ_SEEDS") else {
        return;
    };
    let dir = Path::new(&dir);
    if dir.join("batch-seed-0").exists() || std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let mut messages = Vec::new();
    for (id, direct, envelope) in [
        (ACTIVE_ID, sealers(), envelope_sealer()),
        (OLD_ID, old_sealers(), old_envelope_sealer()),
    ] {
        for sealer in direct.iter().chain(std::iter::once(envelope)) {
            let msg = sealer
                .seal(
                    format!("batch seed under key {id}").as_bytes(),
                    RIGHT_CONTEXT,
                )
                .expect("seal seed");
            messages.push(encode_text(&msg).into_bytes());
            messages.push(msg);
        }
    }
    let item = |out: &mut Vec<u8>, bytes: &[u8], null: bool| {
        let len = u16::try_from(bytes.len()).expect("a short seed") | if null { 0x8000 } else { 0 };
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(bytes);
    };
    let mut all = Vec::new();
    let mut mixed = Vec::new();
    for (k, m) in messages.iter().enumerate() {
        item(&mut all, m, false);
        let mut damaged = m.clone();
        if let Some(b) = damaged.get_mut(k % m.len().max(1)) {
            *b ^= 1;
        }
        item(
            &mut mixed,
            if k % 3 == 0 { &damaged } else { m },
            k % 5 == 4,
        );
    }
    let _ = std::fs::write(dir.join("batch-seed-0"), &all);
    let _ = std::fs::write(dir.join("batch-seed-1"), &mixed);
}

fn path_for(dir: &Path, suite: Suite, id: u32, ext: &str) -> std::path::PathBuf {
    dir.join(format!("seed-{}-key{id}.{ext}", suite.name()))
}
