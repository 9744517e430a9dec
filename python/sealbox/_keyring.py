"""Keyrings: keys by integer id, one of them active."""

from __future__ import annotations

import os
from collections.abc import Mapping

from sealbox import _native

__all__ = ["Keyring", "generate_key"]


def generate_key() -> bytes:
    """Return a new random 32-byte key from the operating system's CSPRNG."""
    return _native.generate_key()


class Keyring(_native.Keyring):
    """Keys by integer id; the active one encrypts, all of them decrypt.

    Keys are 32 bytes, or text: 64 hex digits or base64 (standard or URL-safe).
    The id is stored in every message, so decryption picks the key from the
    header, and ``Box.needs_rotation`` reads it without decrypting::

        ring = Keyring({1: old_key, 2: new_key}, active=2)

    The raw keys are not kept: each is expanded once into the material the
    algorithms need, held in Rust and zeroized when the keyring is dropped.
    """

    __slots__ = ()

    def __new__(cls, keys: Mapping[int, bytes | str], *, active: int | None = None) -> Keyring:
        if not isinstance(keys, Mapping):
            raise TypeError(f"keys must be a dict of {{key_id: key}}, not {type(keys).__name__}")
        return super().__new__(cls, dict(keys), active=active)

    @classmethod
    def from_env(cls, name: str = "SEALBOX_KEYS", *, active: int | None = None) -> Keyring:
        """Load a keyring from an environment variable.

        The value is ``id:key`` entries separated by commas or whitespace, each key
        in hex or base64, for example ``SEALBOX_KEYS="1:3q2+7w...,2:q83vEj..."``.
        The active key is ``active`` if given, else the highest id.
        """
        value = os.environ.get(name)
        if value is None:
            raise ValueError(f"environment variable {name} is not set")
        return cls.from_string(value, active=active, name=name)

    @classmethod
    def from_string(cls, value: str, *, active: int | None = None, name: str = "the keyring") -> Keyring:
        """A keyring from ``from_env``'s format (``"1:<key>,2:<key>"``), given as a string
        (a setting, a secret store's value); the highest id is active unless ``active``."""
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str of 'id:key' entries, not {type(value).__name__}")
        keys: dict[int, str] = {}
        for entry in value.replace(",", " ").split():
            ident, sep, key = entry.partition(":")
            if not sep or not ident.strip().isdigit():
                raise ValueError(
                    f"{name} must hold 'id:key' entries separated by commas (entry {len(keys) + 1} is not)"
                )
            key_id = int(ident)
            if key_id in keys:
                raise ValueError(f"{name} lists key id {key_id} twice")
            keys[key_id] = key
        if not keys:
            raise ValueError(f"{name} holds no keys")
        return cls(keys, active=max(keys) if active is None else active)
