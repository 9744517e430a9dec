"""Secrets stay secret; objects are immutable, thread-safe and fork-safe."""

from __future__ import annotations

import base64
import copy
import os
import pickle
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sealbox
from sealbox import Box, Keyring, Message, hazmat

KEY = bytes(range(32))
KEY_FORMS = [
    KEY.hex(),
    KEY.hex().upper(),
    base64.b64encode(KEY).decode(),
    base64.urlsafe_b64encode(KEY).decode(),
]


def holders() -> list[object]:
    ring = Keyring({1: KEY, 2: KEY.hex()}, active=2)
    return [
        ring,
        Box(KEY),
        Box(ring, encoding="text"),
        Box(ring, deterministic=True),
        hazmat.AESGCM(KEY),
        hazmat.AESSIV(KEY * 2),
        hazmat.ChaCha20Poly1305(KEY),
        hazmat.XChaCha20Poly1305(KEY),
    ]


@pytest.mark.parametrize("obj", holders(), ids=lambda o: type(o).__name__)
def test_no_key_material_in_repr_or_str(obj: object) -> None:
    for text in (repr(obj), str(obj), format(obj)):
        assert not any(form.lower() in text.lower() for form in KEY_FORMS)
        assert str(list(KEY)) not in text and repr(KEY) not in text


@pytest.mark.parametrize("obj", holders(), ids=lambda o: type(o).__name__)
def test_key_holders_refuse_pickling(obj: object) -> None:
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match="pickle"):
            pickle.dumps(obj, protocol=protocol)


def test_copy_of_an_immutable_box_is_itself() -> None:
    box = Box(KEY)
    assert copy.copy(box) is box and copy.deepcopy(box) is box


def test_boxes_are_immutable() -> None:
    box = Box(KEY)
    with pytest.raises(AttributeError):
        box.algorithm = "xchacha20-poly1305"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        box.anything = 1  # type: ignore[attr-defined]


def test_errors_carry_no_secrets() -> None:
    box = Box(KEY)
    m = box.encrypt(b"the plaintext", context=b"ctx")
    try:
        box.decrypt(m, context=b"other")
    except sealbox.DecryptionError as e:
        assert str(e) == "decryption failed"
        assert e.__cause__ is None and e.__context__ is None
    with pytest.raises(ValueError) as info:
        Keyring({1: KEY.hex()[:-2]})
    assert KEY.hex()[:-2] not in str(info.value)


def test_one_box_shared_by_many_threads() -> None:
    box = Box(Keyring({1: os.urandom(32), 2: os.urandom(32)}, active=2))
    barrier = threading.Barrier(8)

    def work(i: int) -> list[bytes]:
        barrier.wait()
        out = []
        for j in range(500):
            data = f"{i}:{j}".encode() * (1 + j % 50)
            m = box.encrypt(data, context=str(i))
            assert box.decrypt(m, context=str(i)) == data
            out.append(Message.parse(m).nonce)
        big = os.urandom(100_000)  # released-GIL path
        assert box.decrypt(box.encrypt(big)) == big
        return out

    with ThreadPoolExecutor(8) as pool:
        nonces = [n for chunk in pool.map(work, range(8)) for n in chunk]
    assert len(set(nonces)) == len(nonces)


def _child_nonces(count: int) -> list[bytes]:
    box = Box(KEY)
    return [Message.parse(box.encrypt(b"x")).nonce for _ in range(count)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_nonces_never_repeat_across_fork() -> None:
    # Draw once so the calling thread's randomness pool is partly used: without
    # the at-fork hook the child would continue from the same pool position
    # and repeat the parent's next nonces exactly.
    _child_nonces(1)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.write(w, b"".join(_child_nonces(64)))
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    child = {data[i : i + 16] for i in range(0, len(data), 16)}
    parent = set(_child_nonces(64))
    assert len(child) == 64 and len(parent) == 64
    assert not child & parent


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_nonces_never_repeat_across_a_fork_from_c() -> None:
    """C code that forks must call PyOS_AfterFork_Child (CPython's contract), which
    runs sealbox's at-fork hook: the child then never repeats the parent's nonces."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    box = Box(KEY)
    box.encrypt(b"x")  # leave the pool partly used
    r, w = os.pipe()
    pid = libc.fork()
    if pid == 0:  # child
        ctypes.pythonapi.PyOS_AfterFork_Child()
        os.write(w, b"".join(Message.parse(box.encrypt(b"x")).nonce for _ in range(8)))
        os._exit(0)
    os.close(w)
    data = os.read(r, 4096)
    os.close(r)
    os.waitpid(pid, 0)
    parent = {Message.parse(box.encrypt(b"x")).nonce for _ in range(8)}
    child = {data[i : i + 16] for i in range(0, len(data), 16)}
    assert len(child) == 8 and not child & parent


_SKIPPED_HOOK = """
import ctypes, os, sys
from sealbox import Box, EnvelopeKeyProvider, Keyring, generate_key
box = Box(bytes(range(32)))
envelope = Box(EnvelopeKeyProvider(Keyring({1: generate_key()}, active=1)))
box.encrypt(b"x")  # leave both pools partly used
envelope.encrypt(b"x")
libc = ctypes.CDLL(None, use_errno=True)
r, w = os.pipe()
pid = libc.fork()  # no PyOS_AfterFork_Child: sealbox's Python hook does not run
def draws():
    return [box.encrypt(b"x") for _ in range(4)] + [envelope.encrypt(b"x") for _ in range(4)]
if pid == 0:
    os.write(w, b"".join(draws()))
    os._exit(0)
os.close(w)
data = b""
while chunk := os.read(r, 65536):
    data += chunk
os.waitpid(pid, 0)
mine = b"".join(draws())
sys.stdout.write("same" if data == mine else ("differ" if len(data) == len(mine) else "short"))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs glibc fork")
def test_a_fork_from_c_that_skips_the_hook_never_repeats_randomness() -> None:
    """A C fork() that breaks CPython's contract (no PyOS_AfterFork_Child, so no
    Python at-fork hook) still gives the child fresh nonces and data keys, even
    from a half-used pool. Run in a fresh single-threaded interpreter, so no
    other thread holds a lock across the raw fork."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", _SKIPPED_HOOK], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "differ"
