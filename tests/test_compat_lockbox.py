"""sealbox.compat.lockbox against Lockbox's own test vectors (ruby-anchors.md §3) and
independent implementations: cryptography's AESGCM, PyNaCl's SecretBox, Box and
XChaCha20-Poly1305, and HKDF-SHA384 from cryptography."""

from __future__ import annotations

import base64
import datetime as dt
import io
import os
import struct
from decimal import Decimal

import nacl.bindings
import nacl.public
import nacl.secret
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sealbox import DecryptionError
from sealbox.compat.lockbox import (
    Lockbox,
    attribute_box,
    attribute_key,
    decode_value,
    encode_value,
    pad,
    unpad,
)

KEY = "61e6ba4a3a2498e3a8fdcd047eff0cd9864016f2c83c34599a3257a57ce6f7fb"


# --- §3: the gem's vectors ------------------------------------------------------------------------


def test_attribute_key_vector() -> None:
    # test/lockbox_test.rb test_attribute_key
    want = "d96ffa3fe916b3a9b57d084f5781e95748333b877e32e6399e387d3d75b238a1"
    assert attribute_key("0" * 64, table="users", attribute="license") == want
    assert attribute_key(bytes(32), table="users", attribute="license") == want
    ref = HKDF(hashes.SHA384(), 32, b"users", b"\xb4" * 32 + b"email_ciphertext").derive(bytes(32))
    assert attribute_key("0" * 64, table="users", attribute="email_ciphertext") == ref.hex()
    with pytest.raises(ValueError):
        attribute_key("0" * 63, table="users", attribute="x")
    with pytest.raises(ValueError):
        attribute_key("0" * 64, table="", attribute="x")


def test_low_level_aes_gcm_vectors() -> None:
    # test_encrypt_empty_string_aes_gcm_low_level and ..._different_nonce
    box = Lockbox(bytes(32), encode=False)
    for nonce, want in (
        (bytes(12), "530f8afbc74536b9a963b4f1c4cb738b"),
        (b"\xff" * 12, "51d37f94ccb639299b7ac25fe0bfd765"),
    ):
        assert AESGCM(bytes(32)).encrypt(nonce, b"", None).hex() == want
        assert box.decrypt(nonce + bytes.fromhex(want)) == b""
    assert len(box.encrypt(b"")) == 28


def test_pad_vectors() -> None:
    # test_pad
    assert pad(b"").hex() == "80000000000000000000000000000000"
    assert pad(b"abcdefghijklmno").hex() == "6162636465666768696a6b6c6d6e6f80"
    assert (
        pad(b"abcdefghijklmnop").hex() == "6162636465666768696a6b6c6d6e6f7080000000000000000000000000000000"
    )
    for size in (1, 16, 32):
        for n in range(40):
            assert unpad(pad(b"x" * n, size), size) == b"x" * n
    for bad in (b"", b"abc", b"\x80" + b"\x00" * 16, b"\x01" * 16):
        with pytest.raises(DecryptionError):
            unpad(bad, 16)
    with pytest.raises(ValueError):
        pad(b"", 0)


def test_compatibility_doc_vector() -> None:
    # docs/Compatibility.md
    box = Lockbox(KEY)
    assert box.decrypt("Uv/+Sgar0kM216AvVlBH5Gt8vIwtQGfPysl539WY2DER62AoJg==") == b"it works!"
    assert box.decrypt_str("Uv/+Sgar0kM216AvVlBH5Gt8vIwtQGfPysl539WY2DER62AoJg==") == "it works!"
    # Ruby's unpack1("m") is lenient: newlines (pack("m")) and a missing pad are read
    assert box.decrypt("Uv/+Sgar0kM216AvVlBH5Gt8vIwt\nQGfPysl539WY2DER62AoJg\n") == b"it works!"
    assert box.decrypt("Uv/+Sgar0kM216AvVlBH5Gt8vIwtQGfPysl539WY2DER62AoJg") == b"it works!"
    assert (
        Lockbox(KEY.upper()).decrypt("Uv/+Sgar0kM216AvVlBH5Gt8vIwtQGfPysl539WY2DER62AoJg==") == b"it works!"
    )


# --- each algorithm against an independent implementation ----------------------------------------


def test_aes_gcm_layout_and_aad() -> None:
    key = bytes.fromhex(KEY)
    box = Lockbox(KEY, encode=False)
    ct = box.encrypt("hello", associated_data="ad")
    assert isinstance(ct, bytes) and len(ct) == 12 + 5 + 16
    assert AESGCM(key).decrypt(ct[:12], ct[12:], b"ad") == b"hello"
    nonce = os.urandom(12)
    assert box.decrypt(nonce + AESGCM(key).encrypt(nonce, b"x", b"ad"), associated_data=b"ad") == b"x"
    with pytest.raises(DecryptionError):
        box.decrypt(ct)
    with pytest.raises(DecryptionError):
        box.decrypt(ct, associated_data="other")
    text = Lockbox(KEY).encrypt("hello")
    assert isinstance(text, str) and base64.b64decode(text, validate=True)


def test_xchacha20_against_libsodium() -> None:
    key = os.urandom(32)
    box = Lockbox(key, algorithm="xchacha20", encode=False)
    ct = box.encrypt(b"value", associated_data=b"ad")
    assert isinstance(ct, bytes) and len(ct) == 24 + 5 + 16
    assert nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(ct[24:], b"ad", ct[:24], key) == b"value"
    nonce = os.urandom(24)
    theirs = nonce + nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(b"v2", None, nonce, key)
    assert box.decrypt(theirs) == b"v2"
    assert len(box.encrypt(b"")) == 40


def test_xsalsa20_against_libsodium() -> None:
    key = os.urandom(32)
    box = Lockbox(key, algorithm="xsalsa20", encode=False)
    ct = box.encrypt(b"value")
    assert isinstance(ct, bytes) and len(ct) == 24 + 16 + 5
    assert nacl.secret.SecretBox(key).decrypt(ct) == b"value"  # nonce || tag || ct
    assert box.decrypt(bytes(nacl.secret.SecretBox(key).encrypt(b"theirs"))) == b"theirs"
    with pytest.raises(ValueError, match="Associated data"):
        box.encrypt(b"x", associated_data=b"ad")


def test_hybrid_against_libsodium() -> None:
    alice, bob = nacl.public.PrivateKey.generate(), nacl.public.PrivateKey.generate()
    # Lockbox.generate_key_pair: encryption_key = bob_pub || alice_priv,
    # decryption_key = bob_priv || alice_pub
    ek = bytes(bob.public_key) + bytes(alice)
    dk = bytes(bob) + bytes(alice.public_key)
    writer = Lockbox(algorithm="hybrid", encryption_key=ek.hex(), encode=False)
    reader = Lockbox(algorithm="hybrid", decryption_key=dk.hex(), encode=False)
    ct = writer.encrypt(b"secret")
    assert isinstance(ct, bytes) and len(ct) == 24 + 16 + 6
    assert nacl.public.Box(bob, alice.public_key).decrypt(ct) == b"secret"
    assert reader.decrypt(ct) == b"secret"
    assert reader.decrypt(bytes(nacl.public.Box(alice, bob.public_key).encrypt(b"theirs"))) == b"theirs"
    with pytest.raises(ValueError, match="No decryption key"):
        writer.decrypt(ct)
    with pytest.raises(ValueError, match="No encryption key"):
        reader.encrypt(b"x")
    with pytest.raises(ValueError, match="Missing key"):
        Lockbox(algorithm="hybrid")
    with pytest.raises(ValueError, match="both"):
        Lockbox(KEY, algorithm="hybrid", encryption_key=ek)
    both = Lockbox(algorithm="hybrid", encryption_key=ek, decryption_key=dk)
    assert both.decrypt(both.encrypt(b"rt")) == b"rt"


# --- options ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["aes-gcm", "xchacha20", "xsalsa20"])
@pytest.mark.parametrize("padding", [False, True, 32])
@pytest.mark.parametrize("encode", [True, False])
def test_round_trips_every_option(algorithm: str, padding: bool | int, encode: bool) -> None:
    box = Lockbox(KEY, algorithm=algorithm, padding=padding, encode=encode)  # type: ignore[arg-type]
    for value in ("", "a", "ünïcødé", "x" * 15, "x" * 16, "x" * 1000, b"\x00\xff"):
        ct = box.encrypt(value)
        assert isinstance(ct, str if encode else bytes)
        raw = value.encode() if isinstance(value, str) else value
        assert box.decrypt(ct) == raw
        if padding:
            size = 16 if padding is True else padding
            overhead = 28 if algorithm == "aes-gcm" else 40
            raw_ct = base64.b64decode(ct) if encode else ct
            assert isinstance(raw_ct, bytes)
            assert (len(raw_ct) - overhead) % size == 0 and len(raw_ct) - overhead > len(raw)


def test_padding_hides_length_and_is_checked() -> None:
    box = Lockbox(KEY, padding=True, encode=False)
    lengths = {len(box.encrypt("x" * n)) for n in range(16)}
    assert lengths == {28 + 16}
    # a value encrypted without padding does not unpad
    plain = Lockbox(KEY, encode=False).encrypt(b"abc")
    with pytest.raises(DecryptionError):
        box.decrypt(plain)


def test_previous_versions() -> None:
    old = Lockbox("1" * 64)
    old_xsalsa = Lockbox("2" * 64, algorithm="xsalsa20", padding=True)
    new = Lockbox(
        KEY,
        previous_versions=[{"key": "1" * 64}, {"key": "2" * 64, "algorithm": "xsalsa20", "padding": True}],
    )
    assert new.decrypt(old.encrypt("v1")) == b"v1"
    assert new.decrypt(old_xsalsa.encrypt("v2")) == b"v2"
    assert new.decrypt(new.encrypt("v3")) == b"v3"
    with pytest.raises(DecryptionError):
        old.decrypt(new.encrypt("v3"))
    # a version without a key uses the current one (another algorithm, the same key)
    same_key = Lockbox(KEY, algorithm="xchacha20", previous_versions=[{"algorithm": "aes-gcm"}])
    assert same_key.decrypt(Lockbox(KEY).encrypt("gcm")) == b"gcm"
    with pytest.raises(ValueError, match="unknown options"):
        Lockbox(KEY, previous_versions=[{"keys": "x"}])


def test_attribute_box_and_master_key_rotation() -> None:
    master, new_master = "0" * 64, "1" * 64
    old = attribute_box(master, table="users", attribute="email_ciphertext")
    assert (
        old.decrypt(Lockbox(attribute_key(master, table="users", attribute="email_ciphertext")).encrypt("a"))
        == b"a"
    )
    rotated = attribute_box(
        new_master, table="users", attribute="email_ciphertext", previous_versions=[{"master_key": master}]
    )
    assert rotated.decrypt(old.encrypt("old")) == b"old"
    renamed = attribute_box(
        master,
        table="people",
        attribute="mail_ciphertext",
        key_table="users",
        key_attribute="email_ciphertext",
    )
    assert renamed.decrypt(old.encrypt("renamed")) == b"renamed"
    # a plain Lockbox skips master_key versions, as Lockbox::Encryptor does
    assert len(Lockbox(KEY, previous_versions=[{"master_key": master}])._boxes) == 1


def test_bad_input() -> None:
    for algorithm in ("aes-gcm", "xchacha20", "xsalsa20"):
        box = Lockbox(KEY, algorithm=algorithm, encode=False)  # type: ignore[arg-type]
        ct = box.encrypt(b"value")
        assert isinstance(ct, bytes)
        for i in range(len(ct)):
            with pytest.raises(DecryptionError):
                box.decrypt(ct[:i])
            flipped = bytearray(ct)
            flipped[i] ^= 1
            with pytest.raises(DecryptionError):
                box.decrypt(bytes(flipped))
        with pytest.raises(DecryptionError):
            box.decrypt(ct + b"\x00")
    with pytest.raises(DecryptionError):
        Lockbox(KEY).decrypt("not base64 at all!!")
    with pytest.raises(ValueError):
        Lockbox("short")
    with pytest.raises(ValueError, match="Unknown algorithm"):
        Lockbox(KEY, algorithm="des")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Lockbox(KEY).encrypt(42)  # type: ignore[arg-type]


def test_files() -> None:
    box = Lockbox(KEY, encode=False)
    data = os.urandom(100_000)
    out = io.BytesIO()
    ct = box.encrypt_io(io.BytesIO(data), out)
    assert out.getvalue() == ct and len(ct) == len(data) + 28
    back = io.BytesIO()
    assert box.decrypt_io(io.BytesIO(ct), back) == data and back.getvalue() == data


# --- has_encrypted's type encodings ---------------------------------------------------------------


def test_type_encodings() -> None:
    cases = [
        ("string", "ünï", "ünï".encode()),
        ("boolean", True, b"t"),
        ("boolean", False, b"f"),
        ("date", dt.date(2024, 5, 6), b"2024-05-06"),
        (
            "datetime",
            dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC),
            b"2024-05-06T07:08:09.123456000Z",
        ),
        ("time", dt.time(7, 8, 9, 123456), b"07:08:09.123456000"),
        ("integer", 42, struct.pack(">q", 42)),
        ("integer", -1, b"\xff" * 8),
        ("float", 1.5, struct.pack(">d", 1.5)),
        ("decimal", Decimal("1.50"), b"1.5"),
        ("decimal", Decimal("10"), b"10.0"),
        ("decimal", Decimal("-0.001"), b"-0.001"),
        ("json", {"a": [1, "<b>"]}, b'{"a":[1,"\\u003cb\\u003e"]}'),
        ("binary", b"\x00\xff", b"\x00\xff"),
    ]
    for type_, value, raw in cases:
        assert encode_value(value, type_) == raw, (type_, value)  # type: ignore[arg-type]
        assert decode_value(raw, type_) == value, (type_, value)  # type: ignore[arg-type]
    assert encode_value(None, "integer") is None and decode_value(None, "json") is None
    # a datetime in another zone is written in UTC; a naive one is taken as UTC
    local = dt.datetime(2024, 5, 6, 9, 8, 9, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert encode_value(local, "datetime") == b"2024-05-06T07:08:09.000000000Z"
    assert encode_value(dt.datetime(2024, 5, 6, 7, 8, 9), "datetime") == b"2024-05-06T07:08:09.000000000Z"
    # through a box, as a model attribute stores them
    box = attribute_box("0" * 64, table="users", attribute="born_on_ciphertext")
    stored = box.encrypt(encode_value(dt.date(1990, 1, 2), "date"))  # type: ignore[arg-type]
    assert decode_value(box.decrypt(stored), "date") == dt.date(1990, 1, 2)
    with pytest.raises(ValueError):
        encode_value(1, "inet")  # type: ignore[arg-type]
