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


@pytest.mark.parametrize("kind", ["local", "deterministic", "envelope-local", "envelope-provider"])
@pytest.mark.parametrize("encoding", ["binary", "text"])
def test_a_strict_box_decrypts_only_its_own_encoding(kind: str, encoding: str) -> None:
    kek = CountingKek()
    loose = _box(kind, encoding, False, kek)
    box = _box(kind, encoding, True, kek)
    assert box.strict_encoding and not loose.strict_encoding
    mine = box.encrypt_batch(VALUES, CONTEXTS)
    other = [_text(m) if encoding == "binary" else _binary(m) for m in mine]
    # Both forms decrypt in a Box that is not strict ...
    assert loose.decrypt_batch(other, CONTEXTS) == VALUES
    # ... only the Box's own in a strict one.
    assert box.decrypt_batch(mine, CONTEXTS) == VALUES
    assert box.decrypt(mine[0], context=CONTEXTS[0]) == VALUES[0]
    with pytest.raises(sealbox.DecryptionError):
        box.decrypt(other[0], context=CONTEXTS[0])
    with pytest.raises(sealbox.DecryptionError, match="item 0"):
        box.decrypt_batch(other, CONTEXTS)
    assert box.decrypt_batch([*mine, *other], CONTEXTS * 2, errors="return") == [*VALUES, None, None, None]
    # Given as bytes, the text form is still text.
    if encoding == "binary":
        with pytest.raises(sealbox.DecryptionError):
            box.decrypt(other[0].encode(), context=CONTEXTS[0])
    # Rotation takes only the Box's encoding too (it does not repair the other form).
    assert box.rotate_batch(other, CONTEXTS, errors="return") == [None, None, None]
    pa = pytest.importorskip("pyarrow")
    column = pa.array(other, type=pa.string() if encoding == "binary" else pa.binary())
    assert box.decrypt_batch(column, CONTEXTS, errors="return").to_pylist() == [None, None, None]
    own = pa.array(mine, type=pa.binary() if encoding == "binary" else pa.string())
    assert box.decrypt_batch(own, CONTEXTS).to_pylist() == VALUES


def _box(kind: str, encoding: str, strict: bool, provider: CountingKek) -> Any:
    if kind == "local":
        return sealbox.Box(Keyring({1: KEY}), encoding=encoding, strict_encoding=strict)
    if kind == "deterministic":
        return sealbox.Box(Keyring({1: KEY}), deterministic=True, encoding=encoding, strict_encoding=strict)
    kek = Keyring({1: KEY}) if kind == "envelope-local" else provider
    return sealbox.Box(EnvelopeKeyProvider(kek), encoding=encoding, strict_encoding=strict)


def test_a_unique_column_of_strict_deterministic_messages_holds_one_form() -> None:
    box = sealbox.Box(KEY, deterministic=True, strict_encoding=True)
    stored = box.encrypt(b"alice@example.org", context="users.email")
    assert box.lookup_values(b"alice@example.org", context="users.email") == [stored]
    # The text form of a stored value would be a second, distinct row: it does not decrypt.
    with pytest.raises(sealbox.DecryptionError):
        box.decrypt(_text(stored), context="users.email")
