"""Primitives with the call shapes of ``cryptography.hazmat.primitives.ciphers.aead``.

These take explicit nonces: reusing a nonce under one key breaks AES-GCM and
ChaCha20-Poly1305. Prefer :class:`sealbox.Box`, which never asks for one.
Failed authentication raises :class:`sealbox.DecryptionError`.

AESGCM accepts 16, 24 and 32-byte keys and 12-byte nonces only; AESSIV accepts
32, 48 and 64-byte keys (AES-128/192/256-SIV). The KDFs (HKDF, PBKDF2, Argon2,
scrypt) take and return bytes; Argon2's ``m`` is in KiB, scrypt's ``n`` a power of two.

Every AEAD also has cryptography's (47 and later) ``encrypt_into`` and
``decrypt_into``, which take the same arguments plus ``buf``, a writable buffer
(``bytearray``, writable ``memoryview``) of exactly the output's size
(``len(data) + 16`` to encrypt, ``len(data) - 16`` to decrypt), and return the
number of bytes written. A buffer of another size, or one that shares memory with
``data``, raises ``ValueError``; a read-only one raises ``TypeError``. When the tag
does not verify, ``decrypt_into`` raises :class:`sealbox.DecryptionError` and
leaves ``buf`` zeroed: unauthenticated plaintext never reaches it.

Unlike cryptography, sealbox refuses GCM nonces of any size but 12 bytes, and does
not cap data and associated data at 2**31 - 1 bytes: every AEAD here takes up to
2**36 - 32 bytes of data per message (GCM's limit) and associated data of any
size. See docs/backends.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sealbox._native import (
    AESGCM,
    AESSIV,
    ChaCha20Poly1305,
    XChaCha20Poly1305,
    argon2,
    hkdf_sha256,
    hmac_sha256,
    pbkdf2_hmac_sha256,
    scrypt,
)

if TYPE_CHECKING:
    from sealbox._native import _Buffer

__all__ = [
    "AESGCM",
    "AESSIV",
    "ChaCha20Poly1305",
    "XChaCha20Poly1305",
    "argon2i",
    "argon2id",
    "hkdf_sha256",
    "hmac_sha256",
    "pbkdf2_hmac_sha256",
    "scrypt",
]


def argon2id(
    password: _Buffer,
    salt: _Buffer,
    *,
    t: int,
    m: int,
    p: int,
    length: int = 32,
    secret: _Buffer | None = None,
    associated_data: _Buffer | None = None,
) -> bytes:
    """Argon2id (RFC 9106, version 0x13): ``t`` passes over ``m`` KiB in ``p`` lanes."""
    return argon2(
        "argon2id",
        password,
        salt,
        t=t,
        m=m,
        p=p,
        length=length,
        secret=secret,
        associated_data=associated_data,
    )


def argon2i(
    password: _Buffer,
    salt: _Buffer,
    *,
    t: int,
    m: int,
    p: int,
    length: int = 32,
    secret: _Buffer | None = None,
    associated_data: _Buffer | None = None,
) -> bytes:
    """Argon2i (RFC 9106, version 0x13): ``t`` passes over ``m`` KiB in ``p`` lanes."""
    return argon2(
        "argon2i",
        password,
        salt,
        t=t,
        m=m,
        p=p,
        length=length,
        secret=secret,
        associated_data=associated_data,
    )
