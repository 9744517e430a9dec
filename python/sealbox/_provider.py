"""The key-provider protocol: what a key-encryption key (KEK) must do.

A provider holds a KEK that never leaves it (a KMS, an HSM, Vault's transit
engine, or a local keyring) and wraps, unwraps and re-wraps 32-byte data keys.
`sealbox.EnvelopeKeyProvider` uses one to give every message (or every batch,
with a `DataKeyCache`) its own data key.

Every call carries an *encryption context*: a small ``str -> str`` mapping
that the provider must bind to the wrapped key (AWS KMS ``EncryptionContext``,
Vault ``associated_data``, AES-GCM associated data in an HSM), so that a
wrapped key only unwraps under the same context, and the provider's own audit
log shows what was decrypted.

Two forms: `KeyProvider` (blocking) and `AsyncKeyProvider` (coroutines).

A provider may also have an optional method for moving keys from another
provider's KEK without the data keys leaving the KMS (`AwsKms` does, with
ReEncrypt)::

    def rewrap_from(self, source, wrapped, contexts) -> list[bytes] | None: ...

``source`` is the provider that wrapped the keys; the method returns them
re-wrapped under this provider (same contexts), or None when it cannot move
keys from that provider, and `rotate_batch` then unwraps with ``source`` and
wraps here. (An `AsyncKeyProvider`'s is a coroutine.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

__all__ = ["AsyncKeyProvider", "KeyProvider", "derive_kek_id", "encode_context"]

DATA_KEY_BYTES = 32


@runtime_checkable
class KeyProvider(Protocol):
    """A key-encryption key that wraps and unwraps data keys (blocking form).

    ``unwrap`` must refuse every blob but one this provider produced, byte for byte: the
    envelope payload does not cover the wrapped key (a re-wrap leaves the payload
    untouched), so bytes a provider ignored could change without the message failing
    (docs/providers.md, "Writing a provider").

    Errors: a wrapped key that does not unwrap (wrong context, tampered, another
    KEK's) or is not of this provider's shape raises `sealbox.DecryptionError`, and
    one that names a key version the provider's policy refuses
    `sealbox.KeyVersionDisabledError`: an envelope Box fails that message alone. A
    provider that cannot answer raises another `sealbox.ProviderError` subclass,
    which stops the Box's call (a batch too).
    """

    @property
    def name(self) -> str:
        """A short, stable name for audit events, such as ``"aws-kms"``."""
        ...

    @property
    def kek_id(self) -> int:
        """The 32-bit id written in message headers for keys this provider wraps.

        A message names its KEK by this id alone, so it must be the same in every
        process that reads the messages, and no two KEKs of one
        `sealbox.EnvelopeKeyProvider` may share it (`derive_kek_id` makes one from
        what names the key).
        """
        ...

    def generate_data_key(self, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        """A fresh random 32-byte data key and its wrapped form: ``(plaintext, wrapped)``."""
        ...

    def wrap(self, data_key: bytes, context: Mapping[str, str]) -> bytes:
        """Wrap a data key obtained elsewhere (used when migrating between KEKs)."""
        ...

    def unwrap(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        """The 32-byte data key inside ``wrapped``."""
        ...

    def rewrap(self, wrapped: Sequence[bytes], contexts: Sequence[Mapping[str, str]]) -> list[bytes]:
        """Re-wrap under the newest version of this KEK, the data keys never leaving the provider
        where it allows (KMS ReEncrypt, Vault rewrap); batched where the provider allows."""
        ...

    def needs_rewrap(self, wrapped: bytes) -> bool:
        """Whether ``wrapped`` is under an older version of this KEK, from its bytes alone."""
        ...


@runtime_checkable
class AsyncKeyProvider(Protocol):
    """The asyncio form of `KeyProvider`: the same calls, as coroutines."""

    @property
    def name(self) -> str: ...

    @property
    def kek_id(self) -> int: ...

    async def generate_data_key(self, context: Mapping[str, str]) -> tuple[bytes, bytes]: ...

    async def wrap(self, data_key: bytes, context: Mapping[str, str]) -> bytes: ...

    async def unwrap(self, wrapped: bytes, context: Mapping[str, str]) -> bytes: ...

    async def rewrap(
        self, wrapped: Sequence[bytes], contexts: Sequence[Mapping[str, str]]
    ) -> list[bytes]: ...

    def needs_rewrap(self, wrapped: bytes) -> bool: ...


def encode_context(context: Mapping[str, str]) -> bytes:
    """The canonical bytes of an encryption context, for providers that bind bytes (AAD).

    Keys sorted by their UTF-8 bytes; each key and value as a 4-byte big-endian
    length then its UTF-8 bytes. Injective: two different mappings never encode
    alike.
    """
    out = bytearray()
    items = sorted((k.encode(), v.encode()) for k, v in context.items())
    for key, value in items:
        out += len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value
    return bytes(out)


def derive_kek_id(provider: str, *names: str) -> int:
    """A KEK id derived from what names the key: the first 4 bytes (big-endian) of
    SHA-256 of ``"sealbox/v1/kek-id"`` followed by the provider's name and each of
    ``names``, each as a 4-byte big-endian length then its UTF-8 bytes.

    The built-in providers use it when no ``kek_id=`` is given (``AwsKms``: the
    key id; ``VaultTransit``: the mount and the key name; ``Pkcs11``: the token
    label and the key label). It is fixed: the same names give the same id in
    every process and every release. Two different keys share an id with
    probability 2**-32; an `EnvelopeKeyProvider` refuses two KEKs with one id, so
    a collision is an error when the KEKs are put together, never a silent mix-up.
    """
    out = bytearray(b"sealbox/v1/kek-id")
    for part in (provider, *names):
        if not isinstance(part, str):
            raise TypeError(f"derive_kek_id takes str names, not {type(part).__name__}")
        raw = part.encode("utf-8")
        out += len(raw).to_bytes(4, "big") + raw
    return int.from_bytes(hashlib.sha256(out).digest()[:4], "big")
