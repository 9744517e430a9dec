//! Randomness for nonces, salts and data keys, drawn in bulk.
//!
//! A call into a random generator costs about as much as sealing a small
//! value, so randomness is drawn 4 KiB at a time into per-thread pools: one for
//! public values (salts, nonces) and one for envelope data keys, kept apart so
//! that no byte near a key is ever written into a message. Bytes are wiped from
//! a pool as they are handed out, and the pools are zeroized on drop. Pools are
//! filled from aws-lc's CTR-DRBG, which the OS seeds and reseeds; long-lived
//! keys come from the OS directly (`fill_secret`).
//!
//! After `fork()` the child would inherit the parent's pool and repeat its
//! nonces, so a pool is refilled before the child's first draw. Two signals
//! say a fork happened, both read per draw as one atomic load:
//! - [`note_fork`], which the Python package registers with
//!   `os.register_at_fork` (C code that forks and goes on running Python must
//!   call `PyOS_AfterFork_Child`, which runs it: CPython's contract);
//! - a `pthread_atfork` child handler (the `forkguard` crate), which libc runs
//!   on every `fork()`, so a C fork that breaks CPython's contract is caught
//!   too, even from a half-used pool. Where the handler cannot be registered,
//!   a pool compares the process id on every draw instead (a system call, so
//!   slower, but never wrong).
//!
//! A raw `clone` system call that bypasses libc runs neither; aws-lc's own
//! generator, which refills the pools, detects even that (it keeps its state
//! in `MADV_WIPEONFORK` memory), but bytes already pooled would repeat.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::core::error::{Error, Result};

const POOL_LEN: usize = 4096;
/// Requests larger than this bypass the pool.
const POOL_MAX_DRAW: usize = 64;

static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Invalidate every thread's pool; call in the child after `fork()`.
pub fn note_fork() {
    FORK_GENERATION.fetch_add(1, Ordering::SeqCst);
}

struct Pool {
    buf: [u8; POOL_LEN],
    pos: usize,
    generation: u64,
    /// Notices a fork that skipped [`note_fork`]; set at the first refill.
    forks: Option<ForkWatch>,
}

/// A fork detector that does not depend on the Python hook.
#[cfg(unix)]
enum ForkWatch {
    Atfork(forkguard::atfork::Guard),
    Pid(forkguard::pid::Guard),
}

#[cfg(unix)]
impl ForkWatch {
    fn new() -> Self {
        match forkguard::atfork::Guard::try_new() {
            Ok(guard) => Self::Atfork(guard),
            Err(_) => Self::Pid(forkguard::pid::Guard::default()),
        }
    }

    /// Whether the process forked since the last call (true in the child only).
    #[inline]
    fn forked(&mut self) -> bool {
        match self {
            Self::Atfork(guard) => guard.detected_fork(),
            Self::Pid(guard) => guard.detected_fork(),
        }
    }
}

/// Without `fork()` there is nothing to detect.
#[cfg(not(unix))]
struct ForkWatch;

#[cfg(not(unix))]
impl ForkWatch {
    fn new() -> Self {
        Self
    }

    #[inline]
    fn forked(&mut self) -> bool {
        false
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.buf);
    }
}

thread_local! {
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool { buf: [0; POOL_LEN], pos: POOL_LEN, generation: u64::MAX, forks: None })
    };
    static KEY_POOL: RefCell<Pool> = const {
        RefCell::new(Pool { buf: [0; POOL_LEN], pos: POOL_LEN, generation: u64::MAX, forks: None })
    };
}

/// Refill a pool from aws-lc's CTR-DRBG (AES-256, seeded and reseeded from the
/// OS, fork-safe): about 4 µs per 4 KiB, against 11 µs for `getrandom`, which
/// is most of the cost of a nonce when sealing a small value.
fn refill(buf: &mut [u8]) -> Result<()> {
    aws_lc_rs::rand::fill(buf).map_err(|_| Error::Random)
}

/// Fill `out` with random bytes from the OS, without pooling. Use for keys.
pub fn fill_secret(out: &mut [u8]) -> Result<()> {
    getrandom::fill(out).map_err(|_| Error::Random)
}

/// Fill `out` with random bytes for public values (nonces, salts).
pub fn fill_public(out: &mut [u8]) -> Result<()> {
    draw(&POOL, out)
}

/// Fill `out` with a random data key (envelope encryption: one per message).
pub fn fill_data_key(out: &mut [u8]) -> Result<()> {
    draw(&KEY_POOL, out)
}

fn draw(pool: &'static std::thread::LocalKey<RefCell<Pool>>, out: &mut [u8]) -> Result<()> {
    if out.len() > POOL_MAX_DRAW {
        return fill_secret(out);
    }
    pool.with(|cell| {
        let mut pool = cell.borrow_mut();
        let generation = FORK_GENERATION.load(Ordering::Relaxed);
        let need = out.len();
        // Every check runs on every draw: a fork must never be missed because
        // another condition short-circuited it.
        let forked = pool.forks.as_mut().is_some_and(ForkWatch::forked);
        if forked || pool.generation != generation || pool.pos + need > POOL_LEN {
            if pool.forks.is_none() {
                pool.forks = Some(ForkWatch::new());
            }
            // Empty first: a refill that fails must not leave the old bytes to be
            // handed out (the fork it was for is no longer signalled).
            zeroize::Zeroize::zeroize(&mut pool.buf);
            pool.pos = POOL_LEN;
            refill(&mut pool.buf)?;
            pool.pos = 0;
            pool.generation = generation;
        }
        let start = pool.pos;
        let chunk = pool.buf.get(start..start + need).ok_or(Error::Random)?;
        out.copy_from_slice(chunk);
        // Never hand out the same bytes twice, even within one process.
        if let Some(used) = pool.buf.get_mut(start..start + need) {
            used.fill(0);
        }
        pool.pos = start + need;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_differ_and_fork_generation_refills() {
        let mut a = [0u8; 16];
        let mut b = [0u8; 16];
        fill_public(&mut a).unwrap();
        fill_public(&mut b).unwrap();
        assert_ne!(a, b);
        note_fork();
        let mut c = [0u8; 16];
        fill_public(&mut c).unwrap();
        assert_ne!(c, [0u8; 16]);
        // Many draws cross refills without ever returning all zeros.
        for _ in 0..1000 {
            let mut d = [0u8; 24];
            fill_public(&mut d).unwrap();
            assert_ne!(d, [0u8; 24]);
        }
    }
}
