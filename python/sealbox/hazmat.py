"""Primitives with the call shapes of ``cryptography.hazmat.primitives.ciphers.aead``.

These take explicit nonces: reusing a nonce under one key breaks AES-GCM and
ChaCha20-Poly1305. Prefer :class:`sealbox.Box`, which never asks for one.
Failed authentication raises :class:`sealbox.DecryptionError`.

AESGCM accepts 16, 24 and 32-byte keys and 12-byte nonces only; AESSIV accepts
32, 48 and 64-byte keys (AES-128/192/256-SIV). The KDFs (HKDF, PBKDF2, Argon2,
scrypt) take and return bytes; Argon2's ``m`` is in KiB, scrypt's ``n`` a power of two.
"""

from sealbox._native import (
    AESGCM,
    AESSIV,
    ChaCha20Poly1305,
    XChaCha20Poly1305,
    argon2i,
    argon2id,
    hkdf_sha256,
    hmac_sha256,
    pbkdf2_hmac_sha256,
    scrypt,
)

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
