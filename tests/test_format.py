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


# Suite 4, envelope messages under a local key-encryption key (docs/format.md).

PAYLOAD_HEADER = bytes([1, 4, 0, 0, 0, 0])


def spec_envelope_seal(kek: bytes, kek_id: int, data: bytes, context: bytes, bound: bool = True) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV

    flags = 1 if bound else 0
    wrap_ad = bytes([1, 4]) + kek_id.to_bytes(4, "big") + bytes([flags])
    dk = os.urandom(32)
    nonce = os.urandom(12)
    wrap_key = prf(kek, "sealbox/v1/envelope/wrap", header(4, kek_id))
    wrapped = nonce + AESGCMSIV(wrap_key).encrypt(nonce, dk, wrap_ad + (context if bound else b""))
    salt = os.urandom(16)
    commit = prf(dk, "sealbox/v1/envelope/commit", PAYLOAD_HEADER)[:24]
    subkey = prf(dk, "sealbox/v1/envelope/aes-256-gcm", PAYLOAD_HEADER, salt)
    payload = AESGCM(subkey).encrypt(bytes(12), data, PAYLOAD_HEADER + salt + commit + context)
    return wrap_ad + len(wrapped).to_bytes(2, "big") + wrapped + salt + commit + payload


def spec_envelope_open(kek: bytes, kek_id: int, message: bytes, context: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV

    assert message[:2] == b"\x01\x04" and int.from_bytes(message[2:6], "big") == kek_id
    flags, n = message[6], int.from_bytes(message[7:9], "big")
    assert flags in (0, 1) and n == 60
    wrapped, rest = message[9 : 9 + n], message[9 + n :]
    wrap_key = prf(kek, "sealbox/v1/envelope/wrap", header(4, kek_id))
    dk = AESGCMSIV(wrap_key).decrypt(wrapped[:12], wrapped[12:], message[:7] + (context if flags else b""))
    salt, commit, body = rest[:16], rest[16:40], rest[40:]
    assert hmac.compare_digest(commit, prf(dk, "sealbox/v1/envelope/commit", PAYLOAD_HEADER)[:24])
    subkey = prf(dk, "sealbox/v1/envelope/aes-256-gcm", PAYLOAD_HEADER, salt)
    return AESGCM(subkey).decrypt(bytes(12), body, PAYLOAD_HEADER + salt + commit + context)


@settings(max_examples=40, deadline=None)
@given(
    key=st.binary(min_size=32, max_size=32),
    kek_id=st.integers(0, 2**32 - 1),
    data=st.binary(max_size=300),
    context=st.binary(max_size=40),
    bound=st.booleans(),
)
def test_envelope_spec_and_core_agree(
    key: bytes, kek_id: int, data: bytes, context: bytes, bound: bool
) -> None:
    from sealbox import EnvelopeKeyProvider, Message

    box = Box(EnvelopeKeyProvider(Keyring({kek_id: key})))
    ours = box.encrypt(data, context=context)
    assert len(ours) == len(data) + 125
    assert spec_envelope_open(key, kek_id, ours, context) == data
    theirs = spec_envelope_seal(key, kek_id, data, context, bound)
    assert Message.parse(theirs).context_bound is bound
    assert box.decrypt(theirs, context=context) == data
    with pytest.raises(DecryptionError):
        box.decrypt(theirs, context=context + b"x")
