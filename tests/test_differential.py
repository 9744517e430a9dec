"""sealbox.hazmat against independent implementations, on random inputs."""

from __future__ import annotations

import nacl.bindings as sodium
import pytest
import sealbox
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import aead as pyca
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from hypothesis import given, settings
from hypothesis import strategies as st
from miscreant.aes.siv import SIV
from sealbox import hazmat

data = st.binary(max_size=1024)
ad = st.binary(max_size=64)
SETTINGS = settings(max_examples=150, deadline=None)


@SETTINGS
@given(
    key=st.sampled_from([16, 24, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    nonce=st.binary(min_size=12, max_size=12),
    msg=data,
    aad=st.one_of(st.none(), ad),
)
def test_aesgcm_matches_cryptography(key: bytes, nonce: bytes, msg: bytes, aad: bytes | None) -> None:
    ours, theirs = hazmat.AESGCM(key), pyca.AESGCM(key)
    sealed = ours.encrypt(nonce, msg, aad)
    assert sealed == theirs.encrypt(nonce, msg, aad)
    assert ours.decrypt(nonce, sealed, aad) == msg
    bad = bytes([sealed[0] ^ 1]) + sealed[1:]
    with pytest.raises(sealbox.DecryptionError):
        ours.decrypt(nonce, bad, aad)


@SETTINGS
@given(
    key=st.binary(min_size=32, max_size=32),
    nonce=st.binary(min_size=12, max_size=12),
    msg=data,
    aad=ad,
)
def test_chacha20poly1305_matches_cryptography(key: bytes, nonce: bytes, msg: bytes, aad: bytes) -> None:
    sealed = hazmat.ChaCha20Poly1305(key).encrypt(nonce, msg, aad)
    assert sealed == pyca.ChaCha20Poly1305(key).encrypt(nonce, msg, aad)
    assert hazmat.ChaCha20Poly1305(key).decrypt(nonce, sealed, aad) == msg


@SETTINGS
@given(
    key=st.binary(min_size=32, max_size=32),
    nonce=st.binary(min_size=24, max_size=24),
    msg=data,
    aad=ad,
)
def test_xchacha20poly1305_matches_libsodium(key: bytes, nonce: bytes, msg: bytes, aad: bytes) -> None:
    sealed = hazmat.XChaCha20Poly1305(key).encrypt(nonce, msg, aad)
    assert sealed == sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(msg, aad, nonce, key)
    assert hazmat.XChaCha20Poly1305(key).decrypt(nonce, sealed, aad) == msg


@SETTINGS
@given(
    key=st.sampled_from([32, 48, 64]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    msg=data,
    ads=st.lists(ad, max_size=4),
)
def test_aessiv_matches_cryptography(key: bytes, msg: bytes, ads: list[bytes]) -> None:
    sealed = hazmat.AESSIV(key).encrypt(msg, ads)
    assert sealed == pyca.AESSIV(key).encrypt(msg, ads or None)
    assert hazmat.AESSIV(key).decrypt(sealed, ads) == msg


@SETTINGS
@given(
    key=st.sampled_from([32, 64]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    msg=data,
    ads=st.lists(ad, max_size=4),
)
def test_aessiv_matches_miscreant(key: bytes, msg: bytes, ads: list[bytes]) -> None:
    sealed = hazmat.AESSIV(key).encrypt(msg, ads)
    assert sealed == SIV(key).seal(msg, ads)
    assert SIV(key).open(sealed, ads) == msg


@SETTINGS
@given(
    ikm=st.binary(max_size=100),
    salt=st.binary(max_size=100),
    info=st.binary(max_size=100),
    length=st.integers(1, 255 * 32),
)
def test_hkdf_matches_cryptography(ikm: bytes, salt: bytes, info: bytes, length: int) -> None:
    ref = HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info).derive(ikm)
    assert hazmat.hkdf_sha256(ikm, salt=salt, info=info, length=length) == ref
    assert hazmat.hkdf_sha256(ikm, salt=salt or None, info=info, length=length) == ref


@settings(max_examples=40, deadline=None)
@given(
    password=st.binary(max_size=80),
    salt=st.binary(max_size=40),
    iterations=st.integers(1, 3000),
    length=st.integers(1, 100),
)
def test_pbkdf2_matches_cryptography(password: bytes, salt: bytes, iterations: int, length: int) -> None:
    ref = PBKDF2HMAC(algorithm=hashes.SHA256(), length=length, salt=salt, iterations=iterations).derive(
        password
    )
    assert hazmat.pbkdf2_hmac_sha256(password, salt, iterations, length) == ref


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: hazmat.AESGCM(bytes(20)), "16, 24 or 32 bytes"),
        (lambda: hazmat.AESGCM(bytes(32)).encrypt(bytes(8), b"", None), "12 bytes"),
        (lambda: hazmat.XChaCha20Poly1305(bytes(32)).encrypt(bytes(12), b"", None), "24 bytes"),
        (lambda: hazmat.AESSIV(bytes(16)), "32, 48 or 64 bytes"),
        (lambda: hazmat.hkdf_sha256(b"k", salt=None, info=None, length=8161), "8160"),
        (lambda: hazmat.pbkdf2_hmac_sha256(b"p", b"s", 0, 32), "iterations"),
    ],
)
def test_hazmat_misuse(make: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()  # type: ignore[operator]
