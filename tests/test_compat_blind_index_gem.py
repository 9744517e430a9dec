"""The rest of the blind_index gem's options in sealbox.compat.blind_index_gem: legacy
indexes, insecure keys, encoder callables and explicit keys, against hashlib and
argon2-cffi (the gem's index key is checked in tests/test_blind.py)."""

from __future__ import annotations

import base64
import hashlib

import argon2.low_level as argon2
import pytest
from sealbox.compat import blind_index_gem, gem_index_key
from sealbox.compat.blind_index_gem import GemIndex

MASTER = "0" * 64
V = "test@example.org"


def ruby_pack_m(b: bytes) -> str:
    text = base64.b64encode(b).decode()
    return "".join(text[i : i + 60] + "\n" for i in range(0, len(text), 60))


def test_legacy_index() -> None:
    key = bytes.fromhex(gem_index_key(MASTER, table="users", bidx_attribute="encrypted_email_bidx"))
    legacy = blind_index_gem(MASTER, table="users", bidx_attribute="encrypted_email_bidx", legacy=True)
    raw = hashlib.pbkdf2_hmac("sha256", V.encode(), key, 10_000, 32)
    assert legacy.compute(V) == ruby_pack_m(raw) and legacy.compute(V).endswith("\n")
    assert legacy.compute(None) is None
    assert legacy.compute_batch([V, None]) == [ruby_pack_m(raw), None]
    # legacy with another algorithm keeps the newline encoding
    argon = blind_index_gem(
        MASTER, table="users", bidx_attribute="encrypted_email_bidx", legacy=True, algorithm="argon2id"
    )
    want = argon2.hash_secret_raw(V.encode(), key, 3, 4096, 1, 32, argon2.Type.ID)
    assert argon.compute(V) == ruby_pack_m(want)
    assert (
        blind_index_gem(
            MASTER, table="users", bidx_attribute="encrypted_email_bidx", legacy=True, encode=False
        ).compute(V)
        == raw
    )


def test_insecure_key() -> None:
    # insecure_key: the key's text itself is PBKDF2's salt, not decoded from hex
    text_key = "a" * 64
    idx = blind_index_gem(key=text_key, insecure_key=True, legacy=True)
    assert isinstance(idx, GemIndex)
    raw = hashlib.pbkdf2_hmac("sha256", V.encode(), text_key.encode(), 10_000, 32)
    assert idx.compute(V) == ruby_pack_m(raw)
    short = blind_index_gem(
        key="short secret", insecure_key=True, algorithm="pbkdf2_sha256", expression=str.lower
    )
    assert (
        short.compute(V.upper())
        == base64.b64encode(hashlib.pbkdf2_hmac("sha256", V.encode(), b"short secret", 10_000, 32)).decode()
    )
    assert short.compute_batch([V, None]) == [short.compute(V), None]
    # without insecure_key (or with another algorithm) a hex key is decoded
    decoded = blind_index_gem(key=text_key, algorithm="pbkdf2_sha256")
    assert (
        decoded.compute(V)
        == base64.b64encode(
            hashlib.pbkdf2_hmac("sha256", V.encode(), bytes.fromhex(text_key), 10_000, 32)
        ).decode()
    )
    argon = blind_index_gem(key=text_key, insecure_key=True)
    assert (
        argon.compute(V)
        == base64.b64encode(
            argon2.hash_secret_raw(V.encode(), bytes.fromhex(text_key), 3, 4096, 1, 32, argon2.Type.ID)
        ).decode()
    )


def test_encode_callable_and_explicit_key() -> None:
    key = gem_index_key(MASTER, table="users", bidx_attribute="email_bidx")
    hexed = blind_index_gem(MASTER, table="users", bidx_attribute="email_bidx", encode=bytes.hex)
    raw = argon2.hash_secret_raw(V.encode(), bytes.fromhex(key), 3, 4096, 1, 32, argon2.Type.ID)
    assert hexed.compute(V) == raw.hex()
    assert hexed.compute_batch([V]) == [raw.hex()]
    explicit = blind_index_gem(key=key)
    assert explicit.compute(V) == base64.b64encode(raw).decode()
    assert blind_index_gem(key=bytes.fromhex(key), encode=False).compute(V) == raw
    with pytest.raises(ValueError, match="not both"):
        blind_index_gem(MASTER, key=key, table="users", bidx_attribute="email_bidx")
    with pytest.raises(ValueError, match="table"):
        blind_index_gem(MASTER)
    with pytest.raises(TypeError):
        blind_index_gem(key=key, encode="hex")  # type: ignore[arg-type]
