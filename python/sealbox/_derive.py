"""Key derivation: per-column keys from one master key, and Rails-compatible password keys."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal

from sealbox import _native
from sealbox._keyring import Keyring

__all__ = ["derive_key", "key_from_password", "keyring_from_passwords"]

RAILS_ITERATIONS = 2**16


def _text(value: str | bytes, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


def derive_key(
    master: bytes, *, table: str | bytes, column: str | bytes, purpose: str = "encryption"
) -> bytes:
    """A 32-byte key for one table and column, derived from a 32-byte master key.

    HKDF-SHA256 (RFC 5869), salt ``"sealbox/v1/derive"``, info ``purpose``,
    ``table`` and ``column`` each length-prefixed (4 bytes, big-endian), so no
    two (purpose, table, column) triples share a key and no derived key
    reveals the master or another column's key::

        users_email = sealbox.Box(sealbox.derive_key(master, table="users", column="email"))
    """
    if not isinstance(master, bytes) or len(master) != 32:
        raise ValueError("master must be a 32-byte key (see sealbox.generate_key())")
    info = b"".join(
        len(part).to_bytes(4, "big") + part
        for part in (_text(purpose, "purpose"), _text(table, "table"), _text(column, "column"))
    )
    return _native.hkdf_sha256(master, salt=b"sealbox/v1/derive", info=info, length=32)


def key_from_password(
    password: str | bytes,
    *,
    salt: str | bytes,
    digest: Literal["sha256", "sha1"] = "sha256",
    iterations: int = RAILS_ITERATIONS,
) -> bytes:
    """The 32-byte key Rails Active Record Encryption derives from a password.

    PBKDF2-HMAC (``digest`` SHA-256, or SHA-1 for Rails 7.0 and apps without
    ``load_defaults 7.1``) over the password and ``key_derivation_salt`` with
    65,536 iterations, as ``ActiveSupport::KeyGenerator`` does.
    """
    pw, s = _text(password, "password"), _text(salt, "salt")
    if not isinstance(iterations, int) or iterations < 1:
        raise ValueError("iterations must be a positive integer")
    if digest == "sha256":
        return _native.pbkdf2_hmac_sha256(pw, s, iterations, 32)
    if digest == "sha1":
        # SHA-1 only for compatibility with existing Rails data; hashlib (OpenSSL).
        return hashlib.pbkdf2_hmac("sha1", pw, s, iterations, 32)
    raise ValueError(f"digest must be 'sha256' or 'sha1', not {digest!r}")


def keyring_from_passwords(
    passwords: str | Sequence[str],
    *,
    salt: str | bytes,
    digest: Literal["sha256", "sha1"] = "sha256",
    iterations: int = RAILS_ITERATIONS,
) -> Keyring:
    """A keyring from Rails-style passwords (``primary_key``): ids 1..n, the last active.

    As in Rails, the last password encrypts and every one decrypts.
    """
    if isinstance(passwords, str):
        passwords = [passwords]
    if not passwords:
        raise ValueError("passwords must not be empty")
    keys = {
        i + 1: key_from_password(p, salt=salt, digest=digest, iterations=iterations)
        for i, p in enumerate(passwords)
    }
    return Keyring(keys, active=len(keys))
