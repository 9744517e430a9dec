"""Key derivation: per-column keys from one master key, and keys from passwords (OWASP's
minimum cost, or the exact keys Rails derives)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal

from sealbox import _native
from sealbox._keyring import Keyring

__all__ = ["derive_key", "key_from_password", "keyring_from_passwords"]

RAILS_ITERATIONS = 2**16
"""What ``ActiveSupport::KeyGenerator`` runs for Active Record Encryption: ``preset="rails"``."""

OWASP_ITERATIONS = {"sha256": 600_000, "sha1": 1_300_000}
"""OWASP's minimum PBKDF2 iterations (Password Storage Cheat Sheet), by digest."""

Preset = Literal["rails"]


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
    iterations: int | None = None,
    preset: Preset | None = None,
    allow_weak: bool = False,
) -> bytes:
    """A 32-byte key derived from a password with PBKDF2-HMAC (RFC 8018).

    By default PBKDF2-HMAC-SHA256 with 600,000 iterations, OWASP's minimum
    (``digest="sha1"``: 1,300,000). Fewer ``iterations`` raise ``ValueError``
    unless ``allow_weak=True``.

    ``preset="rails"`` is the key Rails Active Record Encryption derives from a
    password and ``key_derivation_salt``: 65,536 iterations, as
    ``ActiveSupport::KeyGenerator``, with ``digest="sha256"`` (Rails 7.1
    defaults) or ``"sha1"`` (Rails 7.0, and apps without ``load_defaults
    7.1``). The preset fixes the iterations: it takes no ``iterations=``.
    """
    pw, s = _text(password, "password"), _text(salt, "salt")
    if digest not in OWASP_ITERATIONS:
        raise ValueError(f"digest must be 'sha256' or 'sha1', not {digest!r}")
    if preset is not None:
        if preset != "rails":
            raise ValueError(f"preset must be 'rails' or None, not {preset!r}")
        if iterations is not None:
            raise TypeError(f"iterations= does not apply to preset='rails' ({RAILS_ITERATIONS} iterations)")
        iterations = RAILS_ITERATIONS
    elif iterations is None:
        iterations = OWASP_ITERATIONS[digest]
    else:
        if not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 1:
            raise ValueError("iterations must be a positive integer")
        if iterations < OWASP_ITERATIONS[digest] and not allow_weak:
            raise ValueError(
                f"{iterations} iterations of PBKDF2-HMAC-{digest.upper()} are below OWASP's minimum of "
                f"{OWASP_ITERATIONS[digest]}; pass allow_weak=True to accept them, or preset='rails' "
                "for Rails' keys"
            )
    if digest == "sha256":
        return _native.pbkdf2_hmac_sha256(pw, s, iterations, 32)
    # SHA-1 only for compatibility with existing Rails data; hashlib (OpenSSL).
    return hashlib.pbkdf2_hmac("sha1", pw, s, iterations, 32)


def keyring_from_passwords(
    passwords: str | Sequence[str],
    *,
    salt: str | bytes,
    digest: Literal["sha256", "sha1"] = "sha256",
    iterations: int | None = None,
    preset: Preset | None = None,
    allow_weak: bool = False,
) -> Keyring:
    """A keyring from passwords, each key as :func:`key_from_password` derives it: ids 1..n, the last active.

    With ``preset="rails"`` it is the keyring of a Rails ``primary_key`` list:
    as in Rails, the last password encrypts and every one decrypts.
    """
    if isinstance(passwords, str):
        passwords = [passwords]
    if not passwords:
        raise ValueError("passwords must not be empty")
    keys = {
        i + 1: key_from_password(
            p, salt=salt, digest=digest, iterations=iterations, preset=preset, allow_weak=allow_weak
        )
        for i, p in enumerate(passwords)
    }
    return Keyring(keys, active=len(keys))
