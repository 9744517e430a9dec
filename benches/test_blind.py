"""Blind-index workloads (T6) against what a Python user would write instead.

- HMAC-SHA256 ``compute_batch`` over 32-byte values (a list, and a pyarrow
  array) against a Python loop of ``hmac.digest(key, v, "sha256")``;
- Argon2id, one value per call, against argon2-cffi's ``hash_secret_raw`` with
  the same parameters (t=3, m=4096 KiB, p=1, 32 bytes; the blind_index gem's
  defaults, below OWASP's minimums, so built with ``allow_weak=True`` to keep
  the rows comparable across versions): sealbox may take at most 1.15x its
  time, so the target on the speedup is 1 / 1.15;
- Argon2id ``compute_batch`` (all cores) against ``compute`` one value at a time;
- informative rows: PBKDF2 and scrypt against hashlib, Argon2id batches
  against argon2-cffi on two Python threads.

Times are per row (``rows`` in extra_info). Full mode hashes 1,000,000 values
per HMAC batch (the Python loop 100,000); short mode 100,000 (20,000), in 3 passes as well.

An index hashes under a key derived from the one it is given (docs/search.md,
"Index keys"); the anchors use that derived key, so both sides compute the
same values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import threading
from collections.abc import Callable
from typing import Any

import pytest
import sealbox
from _cases import Case, run

try:
    from argon2.low_level import Type, hash_secret_raw
except ImportError:  # pragma: no cover - the anchor rows are skipped
    hash_secret_raw = None

try:
    import pyarrow as pa
except ImportError:  # pragma: no cover
    pa = None

KEY = b"\x07" * 32
VALUE = 32
T, M, P = 3, 4096, 1


def hash_key(algorithm: str) -> bytes:
    """The key a BlindIndex over KEY hashes with (docs/search.md)."""
    return hmac.digest(KEY, b"sealbox/v1/blind-index/key\x00" + algorithm.encode(), "sha256")


HMAC_KEY = hash_key("hmac-sha256")


@dataclasses.dataclass(frozen=True)
class Sizes:
    hmac_batch: int
    hmac_loop: int
    slow: int  # values per slow-hash round
    passes: int
    rounds: int


SIZES = {"full": Sizes(1_000_000, 100_000, 32, 3, 3), "short": Sizes(100_000, 20_000, 4, 3, 3)}


def _sizes(config: pytest.Config) -> Sizes:
    return SIZES[config.getoption("bench_mode")]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "batch_pass" in metafunc.fixturenames:
        passes = _sizes(metafunc.config).passes
        metafunc.parametrize("batch_pass", range(passes), ids=[f"pass{p}" for p in range(passes)])


def _values(n: int) -> list[bytes]:
    return [os.urandom(VALUE) for _ in range(n)]


FAST = sealbox.BlindIndex(KEY)
ARGON = sealbox.BlindIndex(KEY, "argon2id", t=T, m=M, p=P, allow_weak=True)
ARGON_SALT = hash_key("argon2id")
Build = Callable[[Sizes], tuple[Callable[[], Any], int]]


def cffi(v: bytes) -> bytes:
    assert hash_secret_raw is not None
    return hash_secret_raw(
        v, ARGON_SALT, time_cost=T, memory_cost=M, parallelism=P, hash_len=32, type=Type.ID
    )


def sb_hmac(arrow: bool) -> Build:
    def build(s: Sizes) -> tuple[Callable[[], Any], int]:
        values = _values(s.hmac_batch)
        data: Any = pa.array(values, type=pa.binary()) if arrow else values
        out = FAST.compute_batch(data)
        out = out.to_pylist() if arrow else out
        assert out[-1] == hmac.digest(HMAC_KEY, values[-1], "sha256")
        return (lambda: FAST.compute_batch(data)), s.hmac_batch

    return build


def loop_hmac(s: Sizes) -> tuple[Callable[[], Any], int]:
    values = _values(s.hmac_loop)
    return (lambda: [hmac.digest(HMAC_KEY, v, "sha256") for v in values]), s.hmac_loop


def sb_argon_one(s: Sizes) -> tuple[Callable[[], Any], int]:
    values = _values(s.slow)
    if hash_secret_raw is not None:
        assert ARGON.compute(values[0]) == cffi(values[0])
    return (lambda: [ARGON.compute(v) for v in values]), s.slow


def cffi_argon_one(s: Sizes) -> tuple[Callable[[], Any], int]:
    values = _values(s.slow)
    return (lambda: [cffi(v) for v in values]), s.slow


def sb_argon_batch(threads: int | None = None) -> Build:
    def build(s: Sizes) -> tuple[Callable[[], Any], int]:
        values = _values(s.slow * 2)
        assert ARGON.compute_batch(values[:2], threads=threads) == [ARGON.compute(v) for v in values[:2]]
        return (lambda: ARGON.compute_batch(values, threads=threads)), len(values)

    return build


def cffi_argon_threads(s: Sizes) -> tuple[Callable[[], Any], int]:
    values = _values(s.slow * 2)
    halves = [values[: s.slow], values[s.slow :]]

    def run() -> None:
        workers = [threading.Thread(target=lambda part=part: [cffi(v) for v in part]) for part in halves]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    return run, len(values)


PBKDF2 = sealbox.BlindIndex(KEY, "pbkdf2-sha256", iterations=10_000, allow_weak=True)
SCRYPT = sealbox.BlindIndex(KEY, "scrypt", n=4096, r=8, p=1, allow_weak=True)


def sb_kdf(index: sealbox.BlindIndex[bytes]) -> Build:
    def build(s: Sizes) -> tuple[Callable[[], Any], int]:
        values = _values(s.slow)
        return (lambda: [index.compute(v) for v in values]), s.slow

    return build


def hashlib_pbkdf2(s: Sizes) -> tuple[Callable[[], Any], int]:
    values = _values(s.slow)
    salt = hash_key("pbkdf2-sha256")
    assert PBKDF2.compute(values[0]) == hashlib.pbkdf2_hmac("sha256", values[0], salt, 10_000)
    return (lambda: [hashlib.pbkdf2_hmac("sha256", v, salt, 10_000) for v in values]), s.slow


def hashlib_scrypt(s: Sizes) -> tuple[Callable[[], Any], int]:
    values = _values(s.slow)
    salt = hash_key("scrypt")
    run = lambda v: hashlib.scrypt(v, salt=salt, n=4096, r=8, p=1, dklen=32)  # noqa: E731
    assert SCRYPT.compute(values[0]) == run(values[0])
    return (lambda: [run(v) for v in values]), s.slow


G_LIST = "T6 HMAC-SHA256 compute_batch, 32 B values, list"
G_ARROW = "T6 HMAC-SHA256 compute_batch, 32 B values, Arrow"
G_ONE = "T6 Argon2id t=3 m=4 MiB p=1, one value per call"
G_BATCH = "T6 Argon2id compute_batch vs one at a time"
G_CFFI2 = "Argon2id compute_batch vs argon2-cffi on 2 threads"
G_PBKDF2 = "PBKDF2-HMAC-SHA256 10,000 iterations, one value per call"
G_SCRYPT = "scrypt N=4096 r=8 p=1, one value per call"
SB, AN = "sealbox", "anchor"
LOOP = 'user loop: hmac.digest(key, v, "sha256") per value'

CASES = [
    Case(G_LIST, "sealbox compute_batch(list)", SB, sb_hmac(arrow=False)),
    Case(G_LIST, LOOP, AN, loop_hmac, 10.0, "T6"),
    Case(G_ARROW, "sealbox compute_batch(pyarrow)", SB, sb_hmac(arrow=True), needs="pyarrow"),
    Case(G_ARROW, LOOP, AN, loop_hmac, 10.0, "T6"),
    Case(G_ONE, "sealbox compute", SB, sb_argon_one),
    Case(G_ONE, "argon2-cffi hash_secret_raw", AN, cffi_argon_one, round(1 / 1.15, 3), "T6", "argon2"),
    Case(G_BATCH, "sealbox compute_batch", SB, sb_argon_batch()),
    Case(G_BATCH, "sealbox compute, one at a time", AN, sb_argon_one, 1.8, "T6"),
    Case(G_CFFI2, "sealbox compute_batch", SB, sb_argon_batch()),
    Case(G_CFFI2, "argon2-cffi, 2 Python threads", AN, cffi_argon_threads, needs="argon2"),
    Case(G_PBKDF2, "sealbox compute", SB, sb_kdf(PBKDF2)),
    Case(G_PBKDF2, "hashlib.pbkdf2_hmac", AN, hashlib_pbkdf2),
    Case(G_SCRYPT, "sealbox compute", SB, sb_kdf(SCRYPT)),
    Case(G_SCRYPT, "hashlib.scrypt", AN, hashlib_scrypt),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.group}--{c.impl}" for c in CASES])
def test_blind(
    benchmark: Any,
    case: Case,
    batch_pass: int,
    pytestconfig: pytest.Config,
    record_skip: Callable[..., None],
) -> None:
    run(
        benchmark,
        case,
        _sizes(pytestconfig),
        batch_pass,
        record_skip,
        available={"argon2": hash_secret_raw is not None, "pyarrow": pa is not None},
        value_size=VALUE,
        warmup_rounds=1,
    )
