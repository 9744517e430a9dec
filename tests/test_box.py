"""Box, Keyring and Message: round trips, tampering, rotation, misuse."""

from __future__ import annotations

import base64
import os

import pytest
import sealbox
from hypothesis import given, settings
from hypothesis import strategies as st
from sealbox import Box, DecryptionError, Keyring, Message

K1, K2, K3 = (bytes([i]) * 32 for i in (1, 2, 3))

RANDOMIZED = ["aes-256-gcm", "xchacha20-poly1305"]


def boxes(key: bytes | Keyring = K1) -> list[Box[bytes]]:
    return [Box(key), Box(key, algorithm="xchacha20-poly1305"), Box(key, deterministic=True)]


@pytest.fixture(params=["aes-256-gcm", "xchacha20-poly1305", "aes-256-siv"])
def box(request: pytest.FixtureRequest) -> Box[bytes]:
    ring = Keyring({1: K1, 2: K2}, active=2)
    if request.param == "aes-256-siv":
        return Box(ring, deterministic=True)
    return Box(ring, algorithm=request.param)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=2048), context=st.binary(max_size=300), suite=st.sampled_from([0, 1, 2]))
def test_round_trip_binary_and_text(data: bytes, context: bytes, suite: int) -> None:
    binary = boxes()[suite]
    text = [
        Box(K1, encoding="text"),
        Box(K1, algorithm="xchacha20-poly1305", encoding="text"),
        Box(K1, deterministic=True, encoding="text"),
    ][suite]
    m = binary.encrypt(data, context=context)
    t = text.encrypt(data, context=context)
    assert isinstance(m, bytes) and isinstance(t, str)
    for b in (binary, text):
        assert b.decrypt(m, context=context) == data
        assert b.decrypt(t, context=context) == data
        assert b.decrypt(t.encode(), context=context) == data
    assert t.isascii() and set(t) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_default_overhead_and_layout() -> None:
    m = Box(K1).encrypt(bytes(16))
    assert len(m) - 16 == 62 <= 64
    assert len(Box(K1, algorithm="xchacha20-poly1305").encrypt(bytes(16))) - 16 == 70
    assert len(Box(K1, deterministic=True).encrypt(bytes(16))) - 16 == 46
    assert m[:2] == b"\x01\x01" and m[2:6] == bytes(4)  # version, suite, key id 0


def test_randomized_messages_differ_deterministic_ones_repeat(box: Box[bytes]) -> None:
    a, b = box.encrypt(b"same", context=b"c"), box.encrypt(b"same", context=b"c")
    assert (a == b) == box.deterministic


def test_every_bit_flip_truncation_and_extension_fails(box: Box[bytes]) -> None:
    m = box.encrypt(b"alice@example.org", context=b"users/42/email")
    for i in range(len(m) * 8):
        bad = bytearray(m)
        bad[i // 8] ^= 1 << (i % 8)
        with pytest.raises(DecryptionError):
            box.decrypt(bytes(bad), context=b"users/42/email")
    for n in range(len(m)):
        with pytest.raises(DecryptionError):
            box.decrypt(m[:n], context=b"users/42/email")
    for extra in (b"\x00", b"A", os.urandom(16)):
        with pytest.raises(DecryptionError):
            box.decrypt(m + extra, context=b"users/42/email")
    assert box.decrypt(m, context=b"users/42/email") == b"alice@example.org"


def test_text_tampering_fails(box: Box[bytes]) -> None:
    t = base64.urlsafe_b64encode(box.encrypt(b"v")).rstrip(b"=").decode()
    assert box.decrypt(t) == b"v"
    for i in range(len(t)):
        for c in "AQ_-":
            if t[i] != c:
                bad = t[:i] + c + t[i + 1 :]
                with pytest.raises(DecryptionError):
                    box.decrypt(bad)
    for bad in (t + "=", t + "A", " " + t, t[:-1], t + "\n"):
        with pytest.raises(DecryptionError):
            box.decrypt(bad)


def test_wrong_context_fails(box: Box[bytes]) -> None:
    m = box.encrypt(b"secret", context=b"users/42/email")
    for ctx in (b"users/43/email", b"users/42/emai", b"", None, b"users/42/email\x00"):
        with pytest.raises(DecryptionError):
            box.decrypt(m, context=ctx)
    assert box.decrypt(m, context="users/42/email") == b"secret"  # str contexts are UTF-8


def test_wrong_key_fails() -> None:
    for enc, dec in zip(boxes(K1), boxes(K2), strict=True):
        with pytest.raises(DecryptionError):
            dec.decrypt(enc.encrypt(b"x"))


def test_key_id_edited_to_another_key_of_the_ring_fails(box: Box[bytes]) -> None:
    m = box.encrypt(b"x")
    assert Message.parse(m).key_id == 2
    edited = m[:2] + (1).to_bytes(4, "big") + m[6:]
    assert Message.parse(edited).key_id == 1
    with pytest.raises(DecryptionError):
        box.decrypt(edited)


def test_same_key_bytes_under_two_ids_do_not_open_each_others_messages() -> None:
    ring = Keyring({1: K1, 2: K1}, active=2)
    m = Box(ring).encrypt(b"x")
    edited = m[:2] + (1).to_bytes(4, "big") + m[6:]
    with pytest.raises(DecryptionError):
        Box(ring).decrypt(edited)


def test_unknown_key_id_and_non_messages_fail() -> None:
    box = Box(Keyring({1: K1}))
    other = Box(Keyring({7: K1}))
    with pytest.raises(DecryptionError):
        box.decrypt(other.encrypt(b"x"))
    for junk in (
        b"",
        b"\x01",
        b"\x00" * 100,
        os.urandom(80),
        b"hello world",
        "",
        "not a message",
        "\u00e9t\u00e9",
        b"\x02" + bytes(70),
        b"\x01\x09" + bytes(70),
    ):
        with pytest.raises(DecryptionError):
            box.decrypt(junk)
        with pytest.raises(DecryptionError):
            Message.parse(junk)


def test_suite_byte_edit_fails() -> None:
    ring = Keyring({1: K1})
    m = Box(ring).encrypt(bytes(40))
    for suite in (2, 3):
        with pytest.raises(DecryptionError):
            Box(ring).decrypt(m[:1] + bytes([suite]) + m[2:])


def test_keyring_rotation_and_needs_rotation() -> None:
    old = Box(Keyring({1: K1}))
    m1 = old.encrypt(b"v")
    new = Box(Keyring({1: K1, 2: K2}, active=2))
    assert new.needs_rotation(m1) and not old.needs_rotation(m1)
    assert new.decrypt(m1) == b"v"
    m2 = new.encrypt(new.decrypt(m1))
    assert not new.needs_rotation(m2)
    assert Message.parse(m2).key_id == 2
    # Another algorithm under the active key also needs rotation.
    x = Box(Keyring({1: K1, 2: K2}, active=2), algorithm="xchacha20-poly1305")
    assert new.needs_rotation(x.encrypt(b"v")) and new.decrypt(x.encrypt(b"v")) == b"v"
    with pytest.raises(DecryptionError):
        new.needs_rotation(b"garbage")


def test_lookup_values_find_rows_across_rotation() -> None:
    before = Box(Keyring({1: K1}), deterministic=True)
    stored = before.encrypt(b"alice@example.org", context=b"users.email")
    after = Box(Keyring({1: K1, 2: K2}, active=2), deterministic=True)
    values = after.lookup_values(b"alice@example.org", context=b"users.email")
    assert len(values) == 2 and values[0] == after.encrypt(b"alice@example.org", context=b"users.email")
    assert stored in values
    assert Box(K1, deterministic=True, encoding="text").lookup_values(b"a")[0].startswith("AQM")
    with pytest.raises(ValueError, match="deterministic"):
        Box(K1).lookup_values(b"x")


def test_message_parse_fields() -> None:
    ring = Keyring({7: K1})
    for box, suite, nonce in (
        (Box(ring), "aes-256-gcm", 16),
        (Box(ring, algorithm="xchacha20-poly1305"), "xchacha20-poly1305", 24),
        (Box(ring, deterministic=True), "aes-256-siv", 0),
    ):
        m = box.encrypt(b"hello")
        p = Message.parse(m)
        assert (p.version, p.suite, p.key_id, p.plaintext_length, len(p)) == (
            1,
            suite,
            7,
            5,
            len(m),
        )
        assert len(p.nonce) == nonce and len(p.commitment) == 24 and p.encoding == "binary"
        assert p.deterministic == (suite == "aes-256-siv")
        t = Message.parse(base64.urlsafe_b64encode(m).rstrip(b"=").decode())
        assert (t.suite, t.key_id, t.encoding) == (suite, 7, "text")
        assert "suite" in repr(p)


def test_keyring_loading() -> None:
    raw = os.urandom(32)
    forms: list[bytes | str] = [
        raw,
        raw.hex(),
        raw.hex().upper(),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        bytearray(raw),
    ]
    m = Box(raw).encrypt(b"x")
    for form in forms:
        assert Box(Keyring({0: form})).decrypt(m) == b"x"
    ring = Keyring({3: raw, 9: os.urandom(32)}, active=3)
    assert (ring.active_id, ring.ids, len(ring), 3 in ring, 4 in ring) == (
        3,
        [3, 9],
        2,
        True,
        False,
    )


def test_keyring_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    k1, k2 = os.urandom(32), os.urandom(32)
    monkeypatch.setenv("SEALBOX_KEYS", f"1:{base64.b64encode(k1).decode()}, 2:{k2.hex()}")
    ring = Keyring.from_env()
    assert ring.active_id == 2 and ring.ids == [1, 2]
    assert Keyring.from_env(active=1).active_id == 1
    assert Box(ring).decrypt(Box(Keyring({2: k2})).encrypt(b"x")) == b"x"
    monkeypatch.setenv("SEALBOX_KEYS", "1-abc")
    with pytest.raises(ValueError, match="id:key"):
        Keyring.from_env()
    monkeypatch.delenv("SEALBOX_KEYS")
    with pytest.raises(ValueError, match="not set"):
        Keyring.from_env()


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: Box(bytes(31)), ValueError, "32 bytes, got 31"),
        (lambda: Box(bytes(33)), ValueError, "32 bytes, got 33"),
        (lambda: Box("00" * 32), TypeError, "not str"),
        (lambda: Box(12345), TypeError, "32 bytes or a sealbox.Keyring"),
        (lambda: Box(K1, algorithm="aes-128-cbc"), ValueError, "unknown algorithm"),
        (lambda: Box(K1, algorithm="aes-256-siv"), ValueError, "deterministic=True"),
        (
            lambda: Box(K1, deterministic=True, algorithm="xchacha20-poly1305"),
            ValueError,
            "aes-256-siv",
        ),
        (lambda: Box(K1, encoding="hex"), ValueError, "'binary' or 'text'"),
        (lambda: Box(K1).encrypt("text"), TypeError, "not str"),
        (lambda: Box(K1).encrypt(42), TypeError, "must be bytes"),
        (lambda: Box(K1).encrypt(b"x", context=3.5), TypeError, "context"),
        (lambda: Box(K1).decrypt(42), TypeError, "message must be bytes or str"),
        (lambda: Keyring({}), ValueError, "at least one key"),
        (lambda: Keyring({1: K1, 2: K2}), ValueError, "active="),
        (lambda: Keyring({1: K1}, active=2), ValueError, "not in the keyring"),
        (lambda: Keyring({-1: K1}), ValueError, "out of range"),
        (lambda: Keyring({2**32: K1}), ValueError, "out of range"),
        (lambda: Keyring({"a": K1}), TypeError, "key ids must be int"),
        (lambda: Keyring({1: "zz"}), ValueError, "64 hex digits or the base64"),
        (lambda: Keyring({1: b"short"}), ValueError, "32 bytes, got 5"),
        (lambda: Keyring([(1, K1)]), TypeError, "dict"),
    ],
)
def test_misuse_gets_clear_errors(make: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make()  # type: ignore[operator]


def test_error_hierarchy() -> None:
    assert issubclass(DecryptionError, sealbox.SealboxError)
    assert issubclass(sealbox.SealboxError, Exception)
    assert not issubclass(DecryptionError, ValueError)


def test_buffers_and_large_values() -> None:
    box = Box(K1)
    big = os.urandom(3 * 1024 * 1024 + 5)  # above the GIL-release threshold
    assert box.decrypt(box.encrypt(big)) == big
    assert box.decrypt(box.encrypt(memoryview(big)[:100])) == big[:100]
    assert box.decrypt(bytearray(box.encrypt(b"x"))) == b"x"
    assert box.decrypt(box.encrypt(b"")) == b""
    t = Box(K1, encoding="text")
    assert t.decrypt(t.encrypt(big)) == big
