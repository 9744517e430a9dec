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

:class:`SealedBox` is libsodium's ``crypto_box_seal`` with PyNaCl's call shapes,
byte-compatible in both directions (docs/public-keys.md, "libsodium sealed boxes").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sealbox import _native
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
from sealbox._public import PrivateKey, PublicKey

if TYPE_CHECKING:
    from sealbox._native import _Buffer

__all__ = [
    "AESGCM",
    "AESSIV",
    "ChaCha20Poly1305",
    "SealedBox",
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


class SealedBox:
    """libsodium's sealed boxes (``crypto_box_seal``): anonymous encryption to an X25519
    public key, as PyNaCl's ``nacl.public.SealedBox``.

    ``SealedBox(public_key).encrypt(message)`` returns ``ephemeral public key (32) ‖ tag
    (16) ‖ ciphertext``; ``SealedBox(private_key)`` also decrypts (``decrypt`` of a Box over
    a public key raises ``TypeError``). Keys are :class:`sealbox.PublicKey` and
    :class:`sealbox.PrivateKey` (``PublicKey(bytes(nacl_public_key))`` takes PyNaCl's).
    The sender is not authenticated: anyone with the public key can make a box.
    """

    __slots__ = ("_private", "_public")

    def __init__(self, key: PublicKey | PrivateKey) -> None:
        if isinstance(key, PrivateKey):
            self._private: PrivateKey | None = key
            self._public = key.public_key.public_bytes()
        elif isinstance(key, PublicKey):
            self._private = None
            self._public = key.public_bytes()
        else:
            raise TypeError(f"SealedBox takes a sealbox.PublicKey or PrivateKey, not {type(key).__name__}")

    def encrypt(self, plaintext: _Buffer) -> bytes:
        return _native.sealed_box_seal(self._public, plaintext)

    def decrypt(self, ciphertext: _Buffer) -> bytes:
        if self._private is None:
            raise TypeError("decrypting a sealed box needs the private key: SealedBox(private_key)")
        return self._private._key.unseal(bytes(ciphertext))

    def __repr__(self) -> str:
        return f"SealedBox({'private' if self._private is not None else 'public'} key)"

    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle 'SealedBox' object: it may hold key material")
