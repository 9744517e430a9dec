"""docs/format.md, implemented again in Python from the text, against the Rust core.

Messages sealed by sealbox open here and messages sealed here open in sealbox,
for every suite; so the specification and the code say the same thing.
"""

from __future__ import annotations

import hmac
import os
from hashlib import sha256

import nacl.bindings as sodium
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV
from hypothesis import given, settings
from hypothesis import strategies as st
from sealbox import Box, DecryptionError, Keyring

SUITES = {1: "aes-256-gcm", 2: "xchacha20-poly1305", 3: "aes-256-siv"}


def prf(key: bytes, label: str, *parts: bytes) -> bytes:
    return hmac.new(key, label.encode() + b"\0" + b"".join(parts), sha256).digest()


def header(suite: int, key_id: int) -> bytes:
    return bytes([1, suite]) + key_id.to_bytes(4, "big")


def spec_open(key: bytes, key_id: int, message: bytes, context: bytes) -> bytes:
    version, suite, kid = message[0], message[1], int.from_bytes(message[2:6], "big")
    assert version == 1 and kid == key_id
    h = message[:6]
    commitment = prf(key, "sealbox/v1/commit", h)[:24]
    if suite == 1:
        salt, commit, body = message[6:22], message[22:46], message[46:]
        assert hmac.compare_digest(commit, commitment)
        subkey = prf(key, "sealbox/v1/aes-256-gcm", h, salt)
        return AESGCM(subkey).decrypt(bytes(12), body, message[:46] + context)
    if suite == 2:
        nonce, commit, body = message[6:30], message[30:54], message[54:]
        assert hmac.compare_digest(commit, commitment)
        xkey = prf(key, "sealbox/v1/xchacha20-poly1305", h)
        return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(body, message[:54] + context, nonce, xkey)
    assert suite == 3
    commit, body = message[6:30], message[30:]
    assert hmac.compare_digest(commit, commitment)
    sivkey = prf(key, "sealbox/v1/aes-256-siv/mac", h) + prf(key, "sealbox/v1/aes-256-siv/enc", h)
    return AESSIV(sivkey).decrypt(body, [message[:30], context])


def spec_seal(key: bytes, key_id: int, suite: int, data: bytes, context: bytes) -> bytes:
    h = header(suite, key_id)
    commitment = prf(key, "sealbox/v1/commit", h)[:24]
    if suite == 1:
        salt = os.urandom(16)
        prefix = h + salt + commitment
        subkey = prf(key, "sealbox/v1/aes-256-gcm", h, salt)
        return prefix + AESGCM(subkey).encrypt(bytes(12), data, prefix + context)
    if suite == 2:
        nonce = os.urandom(24)
        prefix = h + nonce + commitment
        xkey = prf(key, "sealbox/v1/xchacha20-poly1305", h)
        return prefix + sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(data, prefix + context, nonce, xkey)
    sivkey = prf(key, "sealbox/v1/aes-256-siv/mac", h) + prf(key, "sealbox/v1/aes-256-siv/enc", h)
    prefix = h + commitment
    return prefix + AESSIV(sivkey).encrypt(data, [prefix, context])


def box_for(key: bytes, key_id: int, suite: int) -> Box[bytes]:
    ring = Keyring({key_id: key})
    if suite == 3:
        return Box(ring, deterministic=True)
    return Box(ring, algorithm=SUITES[suite])


@settings(max_examples=100, deadline=None)
@given(
    suite=st.sampled_from([1, 2, 3]),
    key=st.binary(min_size=32, max_size=32),
    key_id=st.integers(0, 2**32 - 1),
    data=st.binary(max_size=500),
    context=st.binary(max_size=80),
)
def test_spec_and_core_agree(suite: int, key: bytes, key_id: int, data: bytes, context: bytes) -> None:
    box = box_for(key, key_id, suite)
    assert spec_open(key, key_id, box.encrypt(data, context=context), context) == data
    ours = spec_seal(key, key_id, suite, data, context)
    assert box.decrypt(ours, context=context) == data
    if suite == 3:
        assert ours == box.encrypt(data, context=context)


def test_spec_sealed_message_with_wrong_commitment_is_rejected() -> None:
    key = os.urandom(32)
    m = bytearray(spec_seal(key, 1, 1, b"data", b""))
    m[30] ^= 1  # inside the commitment
    with pytest.raises(DecryptionError):
        box_for(key, 1, 1).decrypt(bytes(m))


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 4096, 70_000])
def test_both_gcm_backends_follow_the_spec(size: int) -> None:
    """Values up to 1 KiB and above it take different AES-GCM implementations."""
    key, data = os.urandom(32), os.urandom(size)
    box = box_for(key, 5, 1)
    assert spec_open(key, 5, box.encrypt(data, context=b"c"), b"c") == data
    assert box.decrypt(spec_seal(key, 5, 1, data, b"c"), context=b"c") == data
