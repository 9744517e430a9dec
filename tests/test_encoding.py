"""A Box's encoding: what rotation returns, and what a strict Box accepts."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import sealbox
from sealbox import EnvelopeKeyProvider, Keyring

from .test_envelope import CountingKek

KEY = sealbox.generate_key()
VALUES = [b"alice", b"", b"bob" * 40]
CONTEXTS = [b"users/1", b"users/2", b"users/3"]


def _boxes(encoding: str) -> dict[str, Any]:
    return {
        "local": sealbox.Box(Keyring({1: KEY}), encoding=encoding),
        "deterministic": sealbox.Box(Keyring({1: KEY}), deterministic=True, encoding=encoding),
        "envelope-local": sealbox.Box(EnvelopeKeyProvider(Keyring({1: KEY})), encoding=encoding),
        "envelope-provider": sealbox.Box(EnvelopeKeyProvider(CountingKek()), encoding=encoding),
    }


def _binary(message: bytes | str) -> bytes:
    if isinstance(message, bytes):
        return message
    return base64.urlsafe_b64decode(message + "=" * (-len(message) % 4))


def _text(message: bytes | str) -> str:
    return base64.urlsafe_b64encode(_binary(message)).rstrip(b"=").decode()


def _other(box: Any, encoding: str) -> list[Any]:
    """Current messages of ``box``, in ``encoding``."""
    msgs = box.encrypt_batch(VALUES, CONTEXTS)
    return [_binary(m) if encoding == "binary" else _text(m) for m in msgs]


@pytest.mark.parametrize("kind", ["local", "deterministic", "envelope-local", "envelope-provider"])
@pytest.mark.parametrize(("box_encoding", "given"), [("text", "binary"), ("binary", "text")])
def test_rotation_returns_current_messages_in_the_boxes_encoding(
    kind: str, box_encoding: str, given: str
) -> None:
    box = _boxes(box_encoding)[kind]
    want = str if box_encoding == "text" else bytes
    msgs = _other(box, given)
    out = box.rotate_batch(msgs, CONTEXTS)
    assert all(type(m) is want for m in out)
    assert box.decrypt_batch(out, CONTEXTS) == VALUES
    # Re-encoded, not re-encrypted: the same message in the other encoding.
    assert [_binary(m) for m in out] == [_binary(m) for m in msgs]
    # Already in the Box's encoding: returned as they are.
    again = box.rotate_batch(out, CONTEXTS)
    assert all(a is o for a, o in zip(again, out, strict=True))


@pytest.mark.parametrize("kind", ["local", "deterministic", "envelope-local", "envelope-provider"])
@pytest.mark.parametrize(("box_encoding", "given"), [("text", "binary"), ("binary", "text")])
def test_arrow_rotation_returns_the_boxes_encoding(kind: str, box_encoding: str, given: str) -> None:
    pa = pytest.importorskip("pyarrow")
    box = _boxes(box_encoding)[kind]
    msgs = _other(box, given)
    column = pa.array([*msgs, None], type=pa.string() if given == "text" else pa.binary())
    out = box.rotate_batch(column, [*CONTEXTS, b""])
    assert out.type == (pa.string() if box_encoding == "text" else pa.binary())
    assert out.null_count == 1
    got = out.to_pylist()  # a string array of invalid UTF-8 fails here
    assert box.decrypt_batch(got[:-1], CONTEXTS) == VALUES
    if box_encoding == "text":
        assert all(isinstance(m, str) for m in got[:-1])
    else:  # binary messages, not text held in a binary array
        assert all(m[:1] == b"\x01" for m in got[:-1])
