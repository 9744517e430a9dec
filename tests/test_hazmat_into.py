"""`encrypt_into` / `decrypt_into` of the hazmat AEADs: each check, and that it can fail."""

from __future__ import annotations

import array
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sealbox import DecryptionError
from sealbox.hazmat import AESGCM, AESSIV, ChaCha20Poly1305, XChaCha20Poly1305

AD = b"header"


@dataclass(frozen=True)
class Aead:
    """One AEAD behind one call shape: `encrypt(data, buf=None)` and `decrypt(data, buf=None)`
    with a fixed key, nonce and associated data."""

    name: str
    make: Callable[[], Any]
    nonce_len: int  # 0: no nonce (AES-SIV)

    def bind(self) -> Bound:
        return Bound(self, self.make(), os.urandom(self.nonce_len))


@dataclass(frozen=True)
class Bound:
    aead: Aead
    obj: Any
    nonce: bytes

    def _args(self, data: Any, ad: Any = AD, nonce: Any = None) -> tuple[Any, ...]:
        if self.aead.nonce_len == 0:
            return (data, ad if ad is None or isinstance(ad, list) else [ad])
        return (self.nonce if nonce is None else nonce, data, ad)

    def encrypt(self, data: Any, ad: Any = AD) -> bytes:
        return bytes(self.obj.encrypt(*self._args(data, ad)))

    def decrypt(self, data: Any, ad: Any = AD) -> bytes:
        return bytes(self.obj.decrypt(*self._args(data, ad)))

    def encrypt_into(self, data: Any, buf: Any, ad: Any = AD, nonce: Any = None) -> int:
        return int(self.obj.encrypt_into(*self._args(data, ad, nonce), buf))

    def decrypt_into(self, data: Any, buf: Any, ad: Any = AD, nonce: Any = None) -> int:
        return int(self.obj.decrypt_into(*self._args(data, ad, nonce), buf))


AEADS = [
    Aead("AESGCM-128", lambda: AESGCM(AESGCM.generate_key(128)), 12),
    Aead("AESGCM-256", lambda: AESGCM(AESGCM.generate_key(256)), 12),
    Aead("ChaCha20Poly1305", lambda: ChaCha20Poly1305(ChaCha20Poly1305.generate_key()), 12),
    Aead("XChaCha20Poly1305", lambda: XChaCha20Poly1305(XChaCha20Poly1305.generate_key()), 24),
    Aead("AESSIV-256", lambda: AESSIV(AESSIV.generate_key(256)), 0),
    Aead("AESSIV-512", lambda: AESSIV(AESSIV.generate_key(512)), 0),
]
NONCE_AEADS = [a for a in AEADS if a.nonce_len]


@pytest.fixture(params=AEADS, ids=lambda a: a.name)
def aead(request: pytest.FixtureRequest) -> Bound:
    bound: Bound = request.param.bind()
    return bound


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1000])
def test_round_trip_equals_encrypt(aead: Bound, size: int) -> None:
    pt = os.urandom(size)
    buf = bytearray(b"\xaa" * (size + 16))
    assert aead.encrypt_into(pt, buf) == size + 16
    # Same key and nonce: the same bytes (AES-SIV is deterministic anyway).
    assert bytes(buf) == aead.encrypt(pt)
    out = bytearray(b"\xaa" * size)
    assert aead.decrypt_into(bytes(buf), out) == size
    assert out == pt


def test_every_input_type(aead: Bound) -> None:
    pt = os.urandom(100)
    ct = aead.encrypt(pt)
    for kind in (bytes, bytearray, memoryview):
        buf = bytearray(len(ct))
        aead.encrypt_into(kind(pt), buf, ad=kind(AD))
        assert buf == ct
        out = bytearray(len(pt))
        aead.decrypt_into(kind(ct), out, ad=kind(AD))
        assert out == pt


def test_writable_targets(aead: Bound) -> None:
    pt = os.urandom(64)
    ct = aead.encrypt(pt)
    # A window of a larger buffer: only the window is written.
    big = bytearray(b"\x55" * (len(ct) + 8))
    assert aead.encrypt_into(pt, memoryview(big)[4 : 4 + len(ct)]) == len(ct)
    assert big == b"\x55" * 4 + ct + b"\x55" * 4
    # Any writable byte buffer, e.g. array('B').
    out = array.array("B", bytes(len(pt)))
    aead.decrypt_into(ct, out)
    assert out.tobytes() == pt


@pytest.mark.parametrize("delta", [-1, 1, 16, -16])
def test_wrong_buffer_size(aead: Bound, delta: int) -> None:
    pt = os.urandom(40)
    ct = aead.encrypt(pt)
    buf = bytearray(b"\xaa" * (len(ct) + delta))
    with pytest.raises(ValueError, match=f"buffer must be {len(ct)} bytes, got {len(ct) + delta}"):
        aead.encrypt_into(pt, buf)
    assert buf == b"\xaa" * len(buf)
    out = bytearray(b"\xaa" * (len(pt) + delta))
    with pytest.raises(ValueError, match=f"buffer must be {len(pt)} bytes"):
        aead.decrypt_into(ct, out)
    assert out == b"\xaa" * len(out)


@pytest.mark.parametrize(
    "make",
    [bytes, lambda n: memoryview(bytes(n)), lambda n: memoryview(bytearray(n)).toreadonly()],
    ids=["bytes", "memoryview-of-bytes", "readonly-memoryview"],
)
def test_read_only_buffer(aead: Bound, make: Callable[[int], Any]) -> None:
    pt = os.urandom(20)
    ct = aead.encrypt(pt)
    with pytest.raises(TypeError, match="buf must be writable"):
        aead.encrypt_into(pt, make(len(ct)))
    with pytest.raises(TypeError, match="buf must be writable"):
        aead.decrypt_into(ct, make(len(pt)))


@pytest.mark.parametrize("target", [None, 36, "x" * 36, [0] * 36, array.array("I", [0] * 9)])
def test_not_a_byte_buffer(aead: Bound, target: Any) -> None:
    with pytest.raises(TypeError, match="buf must be a writable bytes-like object"):
        aead.encrypt_into(bytes(20), target)


def test_non_contiguous_buffer(aead: Bound) -> None:
    pt = os.urandom(20)
    strided = memoryview(bytearray(2 * (len(pt) + 16)))[::2]
    with pytest.raises(BufferError, match="buf must be C-contiguous"):
        aead.encrypt_into(pt, strided)


@pytest.mark.parametrize("offset", [0, 1, 16, 999])
def test_overlapping_buffers(aead: Bound, offset: int) -> None:
    pt = os.urandom(1000)
    ct = aead.encrypt(pt)
    shared = bytearray(offset + len(ct))
    shared[: len(pt)] = pt
    view = memoryview(shared)
    with pytest.raises(ValueError, match="data and buf must not overlap"):
        aead.encrypt_into(view[: len(pt)], view[offset : offset + len(ct)])
    shared = bytearray(ct + bytes(offset))
    view = memoryview(shared)
    with pytest.raises(ValueError, match="data and buf must not overlap"):
        aead.decrypt_into(view[: len(ct)], view[offset : offset + len(pt)])
    assert shared[: len(ct)] == ct


def test_same_bytearray_disjoint_parts(aead: Bound) -> None:
    # Input and output in one bytearray, side by side: not an overlap.
    pt = os.urandom(300)
    ct = aead.encrypt(pt)
    shared = bytearray(len(pt) + len(ct))
    shared[: len(pt)] = pt
    view = memoryview(shared)
    aead.encrypt_into(view[: len(pt)], view[len(pt) :])
    assert shared[len(pt) :] == ct
    shared = bytearray(ct + bytes(len(pt)))
    view = memoryview(shared)
    aead.decrypt_into(view[: len(ct)], view[len(ct) :])
    assert shared[len(ct) :] == pt


def test_strided_input_overlapping_buffer(aead: Bound) -> None:
    # Every other byte of the region the output would cover.
    shared = bytearray(2 * 100 + 16)
    view = memoryview(shared)
    with pytest.raises(ValueError, match="data and buf must not overlap"):
        aead.encrypt_into(view[: 2 * 100 : 2], view[: 100 + 16])
    ok = bytearray(100 + 16)
    aead.encrypt_into(view[: 2 * 100 : 2], ok)
    assert ok == aead.encrypt(bytes(100))


@pytest.mark.parametrize("tamper", ["ciphertext", "tag", "associated_data", "key"])
def test_bad_tag_leaves_buffer_zeroed(aead: Bound, tamper: str) -> None:
    pt = os.urandom(50)
    ct = bytearray(aead.encrypt(pt))
    ad = AD
    target = aead
    if tamper == "ciphertext":
        ct[-17 if aead.aead.nonce_len else 20] ^= 1
    elif tamper == "tag":
        ct[-1 if aead.aead.nonce_len else 0] ^= 0x80
    elif tamper == "associated_data":
        ad = b"another header"
    else:
        target = Bound(aead.aead, aead.aead.make(), aead.nonce)
    buf = bytearray(b"\xaa" * len(pt))
    with pytest.raises(DecryptionError):
        target.decrypt_into(bytes(ct), buf, ad=ad)
    assert buf == bytes(len(pt))


def test_too_short_to_hold_a_tag(aead: Bound) -> None:
    for data in (b"", b"x" * 15):
        with pytest.raises(DecryptionError):
            aead.decrypt_into(data, bytearray(16))


@pytest.mark.parametrize("aead_type", NONCE_AEADS, ids=lambda a: a.name)
def test_wrong_nonce_size(aead_type: Aead) -> None:
    bound = aead_type.bind()
    for nonce in (b"", b"00", os.urandom(aead_type.nonce_len + 1)):
        with pytest.raises(ValueError, match="nonce"):
            bound.encrypt_into(b"hello", bytearray(5 + 16), nonce=nonce)
        # The nonce is checked before the length: ValueError, not DecryptionError.
        with pytest.raises(ValueError, match="nonce"):
            bound.decrypt_into(b"hello", bytearray(1), nonce=nonce)


def test_associated_data_none_is_empty(aead: Bound) -> None:
    pt = os.urandom(10)
    a, b = bytearray(26), bytearray(26)
    aead.encrypt_into(pt, a, ad=None)
    # AES-SIV's associated data is a list of items: none is [], while [b""] is one empty item.
    aead.encrypt_into(pt, b, ad=[] if aead.aead.nonce_len == 0 else b"")
    assert a == b == aead.encrypt(pt, ad=None)


def test_large_data(aead: Bound) -> None:
    # Above the size from which the work runs with the GIL released.
    pt = os.urandom(3 * 1024 * 1024 + 5)
    buf = bytearray(len(pt) + 16)
    assert aead.encrypt_into(pt, buf) == len(buf)
    assert buf == aead.encrypt(pt)
    out = bytearray(len(pt))
    assert aead.decrypt_into(memoryview(buf), out) == len(pt)
    assert out == pt
    buf[len(buf) // 2] ^= 1
    out[:] = b"\xaa" * len(out)
    with pytest.raises(DecryptionError):
        aead.decrypt_into(buf, out)
    assert out.count(0) == len(out)


@settings(max_examples=50, deadline=None)
@given(pt=st.binary(max_size=300), ad=st.binary(max_size=40), which=st.sampled_from(AEADS))
def test_into_matches_allocating_calls(pt: bytes, ad: bytes, which: Aead) -> None:
    bound = which.bind()
    buf = bytearray(len(pt) + 16)
    bound.encrypt_into(pt, buf, ad=ad)
    assert buf == bound.encrypt(pt, ad=ad)
    out = bytearray(len(pt))
    bound.decrypt_into(buf, out, ad=ad)
    assert out == pt


def test_into_matches_cryptography() -> None:
    aead = pytest.importorskip("cryptography.hazmat.primitives.ciphers.aead")
    key, nonce, pt = os.urandom(32), os.urandom(12), os.urandom(333)
    for ours, theirs in (
        (AESGCM(key), aead.AESGCM(key)),
        (ChaCha20Poly1305(key), aead.ChaCha20Poly1305(key)),
    ):
        buf = bytearray(len(pt) + 16)
        ours.encrypt_into(nonce, pt, AD, buf)
        assert buf == theirs.encrypt(nonce, pt, AD)
    siv_key = os.urandom(64)
    buf = bytearray(len(pt) + 16)
    AESSIV(siv_key).encrypt_into(pt, [AD, b"second"], buf)
    assert buf == aead.AESSIV(siv_key).encrypt(pt, [AD, b"second"])
