//! Fuzzed cost parameters through the key-derivation functions that take them
//! from Python (`sealbox.hazmat.scrypt`, `argon2id`, `argon2i`,
//! `pbkdf2_hmac_sha256`, `hkdf_sha256`) and through a blind index's choice of
//! algorithm.
//!
//! Input layout (big-endian): `n (8) | r (4) | p (4) | t (4) | m (4) |
//! iterations (4) | length (2) | given (1) | algorithm (1) | value`. Bits 0..5
//! of `given` say which of t, m, p, iterations, n, r a blind index is given
//! (the others take their defaults), bit 6 makes the hazmat Argon2 call Argon2i;
//! `algorithm` picks the blind index's algorithm (modulo 5).
//!
//! Checked on every input:
//! - nothing panics: parameter checks use checked arithmetic, so a memory
//!   product such as `128 * p * r` that overflows (n = 2, r = 2^28, p = 2^29,
//!   a seed) is an error, never an overflow panic (which reaches Python as
//!   `PanicException`, a `BaseException`);
//! - `scrypt_log_n` accepts exactly the powers of two from 2; scrypt parameters
//!   that are accepted need at most `MAX_SCRYPT_BYTES` for `128 * N * r` and for
//!   `128 * p * r`; a refused scrypt call fails before hashing;
//! - HKDF accepts exactly the lengths 1..=8160;
//! - a blind index's algorithm choice never accepts a cost below OWASP's
//!   minimums without `allow_weak`, and with it accepts whatever it accepted
//!   without; a choice it accepts builds an index;
//! - when the cost is small enough to run here, the hazmat function and the
//!   blind index (keyed with the key as given) compute the same bytes.

#![no_main]

use std::path::Path;

use _native::core::primitives::{
    self, scrypt_log_n, scrypt_params, Argon2Variant, MAX_SCRYPT_BYTES,
};
use _native::core::search::{
    Algorithm, AlgorithmChoice, BlindIndexer, CostParams, Keying, OutputEncoding,
};
use _native::core::SecretKey;
use libfuzzer_sys::fuzz_target;

const HEADER: usize = 32;
const ALGORITHMS: [&str; 5] = [
    "hmac-sha256",
    "argon2id",
    "argon2i",
    "pbkdf2-sha256",
    "scrypt",
];
const SALT: [u8; 32] = [0x5a; 32];

/// Work the target does per input at most, so that it keeps its pace.
const MAX_ARGON2_WORK_KIB: u64 = 1024;
const MAX_PBKDF2_ITERATIONS: u32 = 2048;
const MAX_SCRYPT_WORK: u64 = 1 << 16; // 128 * N * r * p bytes, over 128
const MAX_LENGTH: usize = 256;

#[derive(Clone, Copy, Debug)]
struct Input {
    n: u64,
    r: u32,
    p: u32,
    t: u32,
    m: u32,
    iterations: u32,
    length: u16,
    given: u8,
    algorithm: u8,
}

impl Input {
    fn parse(data: &[u8]) -> Option<(Self, &[u8])> {
        let (head, value) = data.split_at_checked(HEADER)?;
        let u32_at = |i: usize| u32::from_be_bytes(head[i..i + 4].try_into().unwrap());
        Some((
            Self {
                n: u64::from_be_bytes(head[0..8].try_into().unwrap()),
                r: u32_at(8),
                p: u32_at(12),
                t: u32_at(16),
                m: u32_at(20),
                iterations: u32_at(24),
                length: u16::from_be_bytes([head[28], head[29]]),
                given: head[30],
                algorithm: head[31],
            },
            value,
        ))
    }

    fn to_bytes(self, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + value.len());
        out.extend_from_slice(&self.n.to_be_bytes());
        for x in [self.r, self.p, self.t, self.m, self.iterations] {
            out.extend_from_slice(&x.to_be_bytes());
        }
        out.extend_from_slice(&self.length.to_be_bytes());
        out.push(self.given);
        out.push(self.algorithm);
        out.extend_from_slice(value);
        out
    }

    fn bit(&self, bit: u8) -> bool {
        self.given & (1 << bit) != 0
    }

    fn variant(&self) -> Argon2Variant {
        if self.bit(6) {
            Argon2Variant::Argon2i
        } else {
            Argon2Variant::Argon2id
        }
    }
}

fuzz_target!(init: write_seeds_from_env(), |data: &[u8]| {
    let Some((input, value)) = Input::parse(data) else {
        return;
    };
    let length = usize::from(input.length);
    check_scrypt(&input, value, length);
    check_argon2(&input, value, length);
    check_pbkdf2(&input, value, length);
    let hkdf = primitives::hkdf_sha256(value, &SALT, b"info", length);
    assert_eq!(hkdf.is_ok(), (1..=8160).contains(&length), "hkdf length {length}");
    if let Ok(okm) = hkdf {
        assert_eq!(okm.len(), length);
    }
    check_blind_index(&input, value);
});

fn check_scrypt(input: &Input, value: &[u8], length: usize) {
    let log_n = scrypt_log_n(input.n);
    assert_eq!(
        log_n.is_ok(),
        input.n >= 2 && input.n.is_power_of_two(),
        "scrypt_log_n({})",
        input.n
    );
    let Ok(log_n) = log_n else { return };
    let accepted = scrypt_params(log_n, input.r, input.p).is_ok();
    if accepted {
        let (n, r, p) = (1u128 << log_n, u128::from(input.r), u128::from(input.p));
        let max = u128::from(MAX_SCRYPT_BYTES);
        assert!(128 * n * r <= max && 128 * p * r <= max, "{input:?}");
    }
    // hazmat.scrypt: refused parameters fail before any hashing, so every
    // refusal runs; accepted ones only when small.
    let work = u64::try_from((1u128 << log_n) * u128::from(input.r) * u128::from(input.p));
    if !accepted || work.is_ok_and(|w| w <= MAX_SCRYPT_WORK) && length <= MAX_LENGTH {
        let out = primitives::scrypt(value, &SALT, log_n, input.r, input.p, length);
        if !accepted {
            assert!(out.is_err(), "scrypt ran with refused parameters {input:?}");
        } else if (1..=MAX_LENGTH).contains(&length) {
            assert_eq!(out.expect("accepted scrypt").len(), length);
        }
    }
}

fn check_argon2(input: &Input, value: &[u8], length: usize) {
    // t = 0 is refused before any memory is taken, whatever m is.
    let work = u64::from(input.m) * u64::from(input.t.max(1));
    if work > MAX_ARGON2_WORK_KIB || length > MAX_LENGTH {
        return;
    }
    let (t, m, p) = (input.t, input.m, input.p);
    let out = primitives::argon2(input.variant(), value, &SALT, b"", b"", t, m, p, length);
    if let Ok(out) = out {
        assert_eq!(out.len(), length);
    }
}

fn check_pbkdf2(input: &Input, value: &[u8], length: usize) {
    if input.iterations > MAX_PBKDF2_ITERATIONS || length > MAX_LENGTH {
        return;
    }
    let out = primitives::pbkdf2_hmac_sha256(value, &SALT, input.iterations, length);
    assert_eq!(
        out.is_ok(),
        input.iterations >= 1 && length >= 1,
        "pbkdf2 {input:?}"
    );
}

/// A blind index's algorithm, chosen by name from the fuzzed parameters.
fn check_blind_index(input: &Input, value: &[u8]) {
    let name = ALGORITHMS[usize::from(input.algorithm) % ALGORITHMS.len()];
    let cost = CostParams {
        t: input.bit(0).then_some(input.t),
        m: input.bit(1).then_some(input.m),
        p: input.bit(2).then_some(input.p),
        iterations: input.bit(3).then_some(input.iterations),
        n: input.bit(4).then_some(input.n),
        r: input.bit(5).then_some(input.r),
    };
    let strict = Algorithm::choose(name, cost, false);
    let lenient = Algorithm::choose(name, cost, true);
    match (&strict, &lenient) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b);
            assert_eq!(a.weakness(), None, "{name} {cost:?} accepted below OWASP");
        }
        (Err(AlgorithmChoice::Invalid(_)), Ok(b)) => {
            assert!(
                b.weakness().is_some(),
                "{name} {cost:?} refused but not weak"
            )
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (Ok(_), Err(e)) => panic!("{name} {cost:?}: accepted only without allow_weak: {e:?}"),
        (Err(e), Ok(_)) => panic!("{name} {cost:?}: refused as {e:?}"),
    }
    let Ok(algorithm) = lenient else { return };
    let cheap = match algorithm {
        Algorithm::HmacSha256 => true,
        Algorithm::Argon2 { t, m, .. } => u64::from(m) * u64::from(t) <= MAX_ARGON2_WORK_KIB,
        Algorithm::Pbkdf2Sha256 { iterations } => iterations <= MAX_PBKDF2_ITERATIONS,
        Algorithm::Scrypt { log_n, r, p } => {
            (1u128 << log_n) * u128::from(r) * u128::from(p) <= u128::from(MAX_SCRYPT_WORK)
        }
    };
    let key = SecretKey::from_slice(&SALT).expect("32-byte key");
    let Ok(index) = BlindIndexer::new(
        algorithm,
        vec![(1, key)],
        Keying::AsDerived,
        1,
        None,
        None,
        OutputEncoding::Raw,
    ) else {
        panic!("{name} {cost:?}: chosen, but no index builds with it");
    };
    if !cheap {
        return;
    }
    let got = index.compute(None, value).expect("compute");
    let want = match algorithm {
        Algorithm::HmacSha256 => primitives::hmac_sha256(&SALT, value).to_vec(),
        Algorithm::Argon2 { variant, t, m, p } => {
            primitives::argon2(variant, value, &SALT, b"", b"", t, m, p, 32)
                .expect("argon2")
                .to_vec()
        }
        Algorithm::Pbkdf2Sha256 { iterations } => {
            primitives::pbkdf2_hmac_sha256(value, &SALT, iterations, 32)
                .expect("pbkdf2")
                .to_vec()
        }
        Algorithm::Scrypt { log_n, r, p } => primitives::scrypt(value, &SALT, log_n, r, p, 32)
            .expect("scrypt")
            .to_vec(),
    };
    assert_eq!(got, want, "{name} {cost:?}: the index and hazmat disagree");
}

/// Seeds: OWASP's configurations, the gem's, the edges of every bound, and the
/// shapes that once overflowed (`hazmat.scrypt(n=2, r=2**28, p=2**29)`).
fn write_seeds_from_env() {
    let Some(dir) = std::env::var_os("SEALBOX_FUZZ_SEEDS") else {
        return;
    };
    let dir = Path::new(&dir);
    if dir.join("kdf-seed-0").exists() || std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let base = Input {
        n: 16,
        r: 1,
        p: 1,
        t: 1,
        m: 8,
        iterations: 1,
        length: 32,
        given: 0,
        algorithm: 0,
    };
    let (t, m, p, iterations, n, r) = (1, 2, 4, 8, 16, 32); // bits of `given`
    let (argon2id, pbkdf2, scrypt) = (1, 3, 4); // indexes into ALGORITHMS
    let seeds = [
        // The overflow of 128 * p * r (hazmat and blind index), and its neighbours.
        Input {
            n: 2,
            r: 1 << 28,
            p: 1 << 29,
            ..base
        },
        Input {
            n: 2,
            r: 1 << 28,
            p: 1 << 29,
            given: n | r | p,
            algorithm: scrypt,
            ..base
        },
        Input {
            n: 2,
            r: u32::MAX,
            p: u32::MAX,
            ..base
        },
        Input {
            n: 1 << 40,
            r: 1 << 30,
            p: 1,
            ..base
        },
        // 128 * N * r exactly at the bound, and one block over.
        Input {
            n: 2,
            r: 1 << 22,
            p: 1,
            ..base
        },
        Input {
            n: 4,
            r: 1 << 22,
            p: 1,
            ..base
        },
        // OWASP's minimums and the gem's parameters, as blind-index choices.
        Input {
            n: 1 << 17,
            r: 8,
            p: 1,
            given: n | r | p,
            algorithm: scrypt,
            ..base
        },
        Input {
            n: 4096,
            r: 8,
            p: 1,
            given: n | r | p,
            algorithm: scrypt,
            ..base
        },
        Input {
            t: 2,
            m: 19_456,
            p: 1,
            given: t | m | p,
            algorithm: argon2id,
            ..base
        },
        Input {
            t: 3,
            m: 4096,
            p: 1,
            given: t | m | p,
            algorithm: argon2id,
            ..base
        },
        Input {
            t: 1,
            m: 64,
            p: 1,
            given: t | m | p | 64,
            algorithm: argon2id + 1,
            ..base
        },
        Input {
            iterations: 10_000,
            given: iterations,
            algorithm: pbkdf2,
            ..base
        },
        // Zeros and maxima everywhere.
        Input {
            n: 0,
            r: 0,
            p: 0,
            t: 0,
            m: u32::MAX,
            iterations: 0,
            length: 0,
            given: 0x3f,
            algorithm: argon2id,
        },
        Input {
            n: u64::MAX,
            r: u32::MAX,
            p: u32::MAX,
            t: u32::MAX,
            m: u32::MAX,
            iterations: u32::MAX,
            length: u16::MAX,
            given: 0x7f,
            algorithm: scrypt,
        },
        Input {
            length: 8161,
            ..base
        },
    ];
    for (i, seed) in seeds.iter().enumerate() {
        let _ = std::fs::write(dir.join(format!("kdf-seed-{i}")), seed.to_bytes(b"value"));
    }
}
