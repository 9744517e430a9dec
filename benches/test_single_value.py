"""One value at a time: a sealbox call next to what a user would call instead.

Each benchmark group is one workload: a sealbox row and its anchors, all fed
the same key and the same bytes in the same session. Times are per call
(pytest-benchmark divides each round by the number of inner iterations), so a
32-byte row runs 1000 calls per round and the timer's own cost disappears.

Design targets (docs: DESIGN.md, "Performance targets"), checked by ratios.py:

    T1  Box.encrypt + decrypt, 32 B, default suite:
        >= 1.25x faster than cryptography AESGCM (prebuilt key, os.urandom(12)
        nonce, no framing), >= 2x faster than Tink AEAD AES256_GCM
    T5  one Box.encrypt of 1 MiB: >= 0.8x cryptography AESGCM's throughput

All other rows are informative. Anchors (cryptography, Tink, PyNaCl) are
optional: a missing one skips its row and is listed by ratios.py.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import os
from collections.abc import Callable
from typing import Any

import pytest
import sealbox

SEALBOX = "sealbox"
ANCHOR = "anchor"

Inputs = dict[str, bytes]
Call = Callable[[], object]


class Unavailable(Exception):
    """An optional anchor is not installed."""


def _need(module: str, dist: str) -> object:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise Unavailable(f"{dist} not installed ({exc})") from None


def _check(got: object, want: bytes) -> None:
    if got != want:
        raise AssertionError("round trip returned different bytes")


# --------------------------------------------------------------------------
# sealbox rows
# --------------------------------------------------------------------------


def box_encdec(size: str, **box_options: object) -> Callable[[Inputs], Call]:
    def build(inp: Inputs) -> Call:
        box = sealbox.Box(inp["key"], **box_options)
        data = inp[size]
        _check(box.decrypt(box.encrypt(data)), data)

        def run() -> object:
            return box.decrypt(box.encrypt(data))

        return run

    return build


def box_encdec_context(inp: Inputs) -> Call:
    box = sealbox.Box(inp["key"])
    data, ctx = inp["small"], inp["context"]
    _check(box.decrypt(box.encrypt(data, context=ctx), context=ctx), data)

    def run() -> object:
        return box.decrypt(box.encrypt(data, context=ctx), context=ctx)

    return run


def box_encrypt(size: str) -> Callable[[Inputs], Call]:
    def build(inp: Inputs) -> Call:
        box = sealbox.Box(inp["key"])
        data = inp[size]
        _check(box.decrypt(box.encrypt(data)), data)

        def run() -> object:
            return box.encrypt(data)

        return run

    return build


def box_decrypt(size: str) -> Callable[[Inputs], Call]:
    def build(inp: Inputs) -> Call:
        box = sealbox.Box(inp["key"])
        data = inp[size]
        message = box.encrypt(data)
        _check(box.decrypt(message), data)

        def run() -> object:
            return box.decrypt(message)

        return run

    return build


def _cryptography_aead() -> object:
    return _need("cryptography.hazmat.primitives.ciphers.aead", "cryptography")


def _cryptography_aesgcm() -> Any:
    return _cryptography_aead().AESGCM


def _sealbox_aesgcm() -> Any:
    return sealbox.hazmat.AESGCM


def aesgcm_encdec(
    size: str, aad: str | None = None, impl: Callable[[], Any] = _cryptography_aesgcm
) -> Callable[[Inputs], Call]:
    def build(inp: Inputs) -> Call:
        aes = impl()(inp["key"])
        data = inp[size]
        ad = inp[aad] if aad else None
        urandom = os.urandom

        def run() -> object:
            nonce = urandom(12)
            return aes.decrypt(nonce, aes.encrypt(nonce, data, ad), ad)

        _check(run(), data)
        return run

    return build


def aesgcm_encrypt(size: str, impl: Callable[[], Any] = _cryptography_aesgcm) -> Callable[[Inputs], Call]:
    def build(inp: Inputs) -> Call:
        aes = impl()(inp["key"])
        data = inp[size]
        urandom = os.urandom
        nonce = urandom(12)
        _check(aes.decrypt(nonce, aes.encrypt(nonce, data, None), None), data)

        def run() -> object:
            return aes.encrypt(urandom(12), data, None)

        return run

    return build


def aesgcm_decrypt(size: str) -> Callable[[Inputs], Call]:
    def build(inp: Inputs) -> Call:
        aes = _cryptography_aead().AESGCM(inp["key"])
        data = inp[size]
        nonce = os.urandom(12)
        ct = aes.encrypt(nonce, data, None)
        _check(aes.decrypt(nonce, ct, None), data)

        def run() -> object:
            return aes.decrypt(nonce, ct, None)

        return run

    return build


def chacha20poly1305_encdec(inp: Inputs) -> Call:
    chacha = _cryptography_aead().ChaCha20Poly1305(inp["key"])
    data = inp["small"]
    urandom = os.urandom

    def run() -> object:
        nonce = urandom(12)
        return chacha.decrypt(nonce, chacha.encrypt(nonce, data, None), None)

    _check(run(), data)
    return run


def aessiv_encdec(inp: Inputs) -> Call:
    siv = _cryptography_aead().AESSIV(inp["key64"])
    data = inp["small"]

    def run() -> object:
        return siv.decrypt(siv.encrypt(data, None), None)

    _check(run(), data)
    return run


def fernet_encdec(inp: Inputs) -> Call:
    fernet = _need("cryptography.fernet", "cryptography").Fernet(base64.urlsafe_b64encode(inp["key"]))
    data = inp["small"]

    def run() -> object:
        return fernet.decrypt(fernet.encrypt(data))

    _check(run(), data)
    return run


def pynacl_xchacha_encdec(inp: Inputs) -> Call:
    nacl_secret = _need("nacl.secret", "pynacl")
    if not hasattr(nacl_secret, "Aead"):
        raise Unavailable("pynacl < 1.6 has no nacl.secret.Aead")
    box = nacl_secret.Aead(inp["key"])
    data = inp["small"]

    def run() -> object:
        return box.decrypt(box.encrypt(data))

    _check(run(), data)
    return run


def _tink_primitive(kind: str, template: str) -> object:
    tink = _need("tink", "tink")
    if kind == "aead":
        mod = _need("tink.aead", "tink")
        mod.register()
        handle = tink.new_keyset_handle(getattr(mod.aead_key_templates, template))
        return handle.primitive(mod.Aead)
    mod = _need("tink.daead", "tink")
    mod.register()
    handle = tink.new_keyset_handle(getattr(mod.deterministic_aead_key_templates, template))
    return handle.primitive(mod.DeterministicAead)


def tink_aead_encdec(template: str) -> Callable[[Inputs], Call]:
    def build(inp: Inputs) -> Call:
        prim = _tink_primitive("aead", template)
        data = inp["small"]

        def run() -> object:
            return prim.decrypt(prim.encrypt(data, b""), b"")

        _check(run(), data)
        return run

    return build


def tink_aead_encrypt(inp: Inputs) -> Call:
    prim = _tink_primitive("aead", "AES256_GCM")
    data = inp["small"]
    _check(prim.decrypt(prim.encrypt(data, b""), b""), data)

    def run() -> object:
        return prim.encrypt(data, b"")

    return run


def tink_aead_decrypt(inp: Inputs) -> Call:
    prim = _tink_primitive("aead", "AES256_GCM")
    data = inp["small"]
    ct = prim.encrypt(data, b"")
    _check(prim.decrypt(ct, b""), data)

    def run() -> object:
        return prim.decrypt(ct, b"")

    return run


def tink_daead_encdec(inp: Inputs) -> Call:
    prim = _tink_primitive("daead", "AES256_SIV")
    data = inp["small"]

    def run() -> object:
        return prim.decrypt_deterministically(prim.encrypt_deterministically(data, b""), b"")

    _check(run(), data)
    return run


# --------------------------------------------------------------------------
# the table of cases
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    group: str  # workload: one sealbox row and its anchors
    impl: str  # what runs in this row
    role: str  # SEALBOX or ANCHOR
    build: Callable[[Inputs], Call]
    size: int  # payload bytes per call
    inner: int  # calls per timed round
    target: float | None = None  # anchors only: minimum (anchor time / sealbox time)
    target_id: str | None = None

    @property
    def id(self) -> str:
        def slug(s: str) -> str:
            return "".join(c if c.isalnum() else "_" for c in s).strip("_")

        return f"{slug(self.group)}--{slug(self.impl)}"


B32, MIB = 32, 1 << 20
SMALL_INNER, FERNET_INNER, LARGE_INNER = 1000, 250, 10

G_T1 = "T1 enc+dec 32 B, default suite"
G_ENC32 = "enc 32 B, default suite"
G_DEC32 = "dec 32 B, default suite"
G_CTX = "enc+dec 32 B, default suite, context as AAD"
G_HAZMAT = "hazmat AESGCM enc+dec 32 B"
G_XCHACHA = "enc+dec 32 B, xchacha20-poly1305 suite"
G_DET = "enc+dec 32 B, deterministic suite (AES-SIV)"
G_T5 = "T5 enc 1 MiB, default suite"
G_DEC1M = "dec 1 MiB, default suite"
G_HAZMAT1M = "hazmat AESGCM enc 1 MiB"

CASES: list[Case] = [
    # T1
    Case(G_T1, "sealbox Box", SEALBOX, box_encdec("small"), B32, SMALL_INNER),
    Case(G_T1, "cryptography AESGCM", ANCHOR, aesgcm_encdec("small"), B32, SMALL_INNER, 1.25, "T1"),
    Case(
        G_T1,
        "Tink AEAD AES256_GCM",
        ANCHOR,
        tink_aead_encdec("AES256_GCM"),
        B32,
        SMALL_INNER,
        2.0,
        "T1",
    ),
    Case(G_T1, "Fernet", ANCHOR, fernet_encdec, B32, FERNET_INNER),
    # T1 split into its halves, to see which half carries the cost
    Case(G_ENC32, "sealbox Box.encrypt", SEALBOX, box_encrypt("small"), B32, SMALL_INNER),
    Case(G_ENC32, "cryptography AESGCM.encrypt", ANCHOR, aesgcm_encrypt("small"), B32, SMALL_INNER),
    Case(G_ENC32, "Tink AEAD AES256_GCM encrypt", ANCHOR, tink_aead_encrypt, B32, SMALL_INNER),
    Case(G_DEC32, "sealbox Box.decrypt", SEALBOX, box_decrypt("small"), B32, SMALL_INNER),
    Case(G_DEC32, "cryptography AESGCM.decrypt", ANCHOR, aesgcm_decrypt("small"), B32, SMALL_INNER),
    Case(G_DEC32, "Tink AEAD AES256_GCM decrypt", ANCHOR, tink_aead_decrypt, B32, SMALL_INNER),
    # the same with a context, as an application would call it
    Case(G_CTX, "sealbox Box, context=", SEALBOX, box_encdec_context, B32, SMALL_INNER),
    Case(
        G_CTX,
        "cryptography AESGCM, aad=",
        ANCHOR,
        aesgcm_encdec("small", "context"),
        B32,
        SMALL_INNER,
    ),
    # the raw primitive behind the default suite: binding cost without the message format
    Case(
        G_HAZMAT,
        "sealbox hazmat.AESGCM",
        SEALBOX,
        aesgcm_encdec("small", impl=_sealbox_aesgcm),
        B32,
        SMALL_INNER,
    ),
    Case(G_HAZMAT, "cryptography AESGCM", ANCHOR, aesgcm_encdec("small"), B32, SMALL_INNER),
    # other suites
    Case(
        G_XCHACHA,
        "sealbox Box(xchacha20-poly1305)",
        SEALBOX,
        box_encdec("small", algorithm="xchacha20-poly1305"),
        B32,
        SMALL_INNER,
    ),
    Case(
        G_XCHACHA,
        "cryptography ChaCha20Poly1305",
        ANCHOR,
        chacha20poly1305_encdec,
        B32,
        SMALL_INNER,
    ),
    Case(
        G_XCHACHA,
        "PyNaCl Aead (XChaCha20-Poly1305)",
        ANCHOR,
        pynacl_xchacha_encdec,
        B32,
        SMALL_INNER,
    ),
    Case(
        G_XCHACHA,
        "Tink AEAD XCHACHA20_POLY1305",
        ANCHOR,
        tink_aead_encdec("XCHACHA20_POLY1305"),
        B32,
        SMALL_INNER,
    ),
    Case(
        G_DET,
        "sealbox Box(deterministic=True)",
        SEALBOX,
        box_encdec("small", deterministic=True),
        B32,
        SMALL_INNER,
    ),
    Case(G_DET, "cryptography AESSIV (512-bit key)", ANCHOR, aessiv_encdec, B32, SMALL_INNER),
    Case(G_DET, "Tink DAEAD AES256_SIV", ANCHOR, tink_daead_encdec, B32, SMALL_INNER),
    # T5 and large values
    Case(G_T5, "sealbox Box.encrypt", SEALBOX, box_encrypt("large"), MIB, LARGE_INNER),
    Case(
        G_T5,
        "cryptography AESGCM.encrypt",
        ANCHOR,
        aesgcm_encrypt("large"),
        MIB,
        LARGE_INNER,
        0.8,
        "T5",
    ),
    Case(G_DEC1M, "sealbox Box.decrypt", SEALBOX, box_decrypt("large"), MIB, LARGE_INNER),
    Case(G_DEC1M, "cryptography AESGCM.decrypt", ANCHOR, aesgcm_decrypt("large"), MIB, LARGE_INNER),
    Case(
        G_HAZMAT1M,
        "sealbox hazmat.AESGCM.encrypt",
        SEALBOX,
        aesgcm_encrypt("large", impl=_sealbox_aesgcm),
        MIB,
        LARGE_INNER,
    ),
    Case(G_HAZMAT1M, "cryptography AESGCM.encrypt", ANCHOR, aesgcm_encrypt("large"), MIB, LARGE_INNER),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_single_value(
    benchmark: object,
    case: Case,
    bench_pass: int,
    bench_mode: object,
    inputs: Inputs,
    record_skip: Callable[..., None],
) -> None:
    benchmark.group = case.group
    benchmark.extra_info.update(
        group=case.group,
        impl=case.impl,
        role=case.role,
        size=case.size,
        inner=case.inner,
        bench_pass=bench_pass,
        target=case.target,
        target_id=case.target_id,
    )
    try:
        run = case.build(inputs)
    except Unavailable as exc:
        record_skip(
            case.group,
            case.impl,
            str(exc),
            role=case.role,
            target=case.target,
            target_id=case.target_id,
        )
        pytest.skip(str(exc))

    benchmark.pedantic(
        run,
        rounds=bench_mode.rounds,
        warmup_rounds=bench_mode.warmup_rounds,
        iterations=case.inner,
    )
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["median_us"] = round(stats.stats.median * 1e6, 4)
