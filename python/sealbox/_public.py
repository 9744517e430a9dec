"""Public-key boxes: X25519 key pairs and the HPKE key-encryption key (docs/public-keys.md).

``Box(public_key)`` is an envelope Box whose key-encryption key is an X25519
public key: every data key is wrapped with HPKE (RFC 9180, DHKEM(X25519,
HKDF-SHA256), HKDF-SHA256, AES-256-GCM), which only the private key unwraps.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from sealbox import _native
from sealbox._errors import DecryptionError
from sealbox._provider import derive_kek_id, encode_context

__all__ = ["PrivateKey", "PublicKey"]

_PUBLIC_PREFIX = "sealbox-x25519-public-v1"
_PRIVATE_PREFIX = "sealbox-x25519-private-v1"

NEEDS_PRIVATE_KEY = (
    "this Box was made from a public key, which encrypts but cannot decrypt: decrypting "
    "needs the private key (sealbox.Box(private_key))"
)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(f"{what}: not base64url") from None
    if len(raw) != 32 or _b64(raw) != text:
        raise ValueError(f"{what}: not the base64url of 32 bytes")
    return raw


def _key_id(key_id: Any, public: bytes) -> int:
    if key_id is None:
        return derive_kek_id("x25519", _b64(public))
    if isinstance(key_id, bool) or not isinstance(key_id, int):
        raise TypeError("key_id must be an int")
    if not 0 <= key_id <= 0xFFFFFFFF:
        raise ValueError(f"key id {key_id} is out of range 0..=4294967295")
    return key_id


def _parse_text(text: Any, prefix: str, what: str) -> tuple[int, bytes]:
    if not isinstance(text, str):
        raise TypeError(f"{what} text must be str, not {type(text).__name__}")
    parts = text.strip().split(":")
    if len(parts) != 3 or parts[0] != prefix or not parts[1].isdigit():
        raise ValueError(f"{what} text must look like '{prefix}:<key id>:<base64url of 32 bytes>'")
    return _key_id(int(parts[1]), b"\0" * 32), _unb64(parts[2], what)


class PublicKey:
    """An X25519 public key with a key id: ``Box(public_key)`` encrypts, and cannot decrypt.

    ``key_id`` defaults to one derived from the key (``derive_kek_id("x25519", ...)``).
    Export with :meth:`public_bytes` or :meth:`to_text`; load with :meth:`from_bytes`
    or :meth:`from_text`. Keys of small order are refused.
    """

    __slots__ = ("_key_id", "_raw")

    _raw: bytes
    _key_id: int

    def __init__(self, raw: Any, *, key_id: int | None = None) -> None:
        if not isinstance(raw, (bytes, bytearray, memoryview)):
            raise TypeError(f"a public key must be 32 bytes, not {type(raw).__name__}")
        raw = bytes(raw)
        _native.x25519_check_public(raw)
        object.__setattr__(self, "_raw", raw)
        object.__setattr__(self, "_key_id", _key_id(key_id, raw))

    @classmethod
    def from_bytes(cls, raw: bytes, *, key_id: int | None = None) -> PublicKey:
        return cls(raw, key_id=key_id)

    @classmethod
    def from_text(cls, text: str) -> PublicKey:
        """Load ``'sealbox-x25519-public-v1:<key id>:<base64url>'`` (:meth:`to_text`)."""
        key_id, raw = _parse_text(text, _PUBLIC_PREFIX, "a public key")
        return cls(raw, key_id=key_id)

    def public_bytes(self) -> bytes:
        return self._raw

    def to_text(self) -> str:
        return f"{_PUBLIC_PREFIX}:{self._key_id}:{_b64(self._raw)}"

    @property
    def key_id(self) -> int:
        return self._key_id

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a PublicKey is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and (self._raw, self._key_id) == (other._raw, other._key_id)

    def __hash__(self) -> int:
        return hash((self._raw, self._key_id))

    def __repr__(self) -> str:
        return f"PublicKey({self.to_text()!r})"


class PrivateKey:
    """An X25519 private key with a key id (that of its public key). ``Box(private_key)``
    encrypts and decrypts. The key bytes live in native memory, wiped when dropped;
    never in a repr, and a PrivateKey cannot be pickled."""

    __slots__ = ("_key", "_public")

    _key: _native.X25519PrivateKey
    _public: PublicKey

    def __init__(self, raw: Any, *, key_id: int | None = None) -> None:
        if isinstance(raw, str):
            raise TypeError("a private key must be bytes; use PrivateKey.from_text for text")
        key = _native.X25519PrivateKey(raw)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_public", PublicKey(key.public_bytes(), key_id=key_id))

    @classmethod
    def generate(cls, *, key_id: int | None = None) -> PrivateKey:
        """A new random key pair."""
        self = object.__new__(cls)
        key = _native.X25519PrivateKey.generate()
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_public", PublicKey(key.public_bytes(), key_id=key_id))
        return self

    @classmethod
    def from_bytes(cls, raw: bytes, *, key_id: int | None = None) -> PrivateKey:
        return cls(raw, key_id=key_id)

    @classmethod
    def from_text(cls, text: str) -> PrivateKey:
        """Load ``'sealbox-x25519-private-v1:<key id>:<base64url>'`` (:meth:`to_text`)."""
        key_id, raw = _parse_text(text, _PRIVATE_PREFIX, "a private key")
        return cls(raw, key_id=key_id)

    def private_bytes(self) -> bytes:
        return self._key.private_bytes()

    def to_text(self) -> str:
        return f"{_PRIVATE_PREFIX}:{self.key_id}:{_b64(self._key.private_bytes())}"

    @property
    def public_key(self) -> PublicKey:
        return self._public

    @property
    def key_id(self) -> int:
        return self._public.key_id

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a PrivateKey is immutable")

    def __repr__(self) -> str:
        return f"PrivateKey(key_id={self.key_id})"

    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle 'PrivateKey' object: it holds key material")


class HpkeKek:
    """A :class:`~sealbox.KeyProvider` over an X25519 key pair: HPKE wraps each data key
    to the public key (``info``: the envelope header's version, suite and KEK id;
    associated data: the encryption context, the message's context included when
    bound); only the private key unwraps."""

    name = "x25519"

    def __init__(self, key: PublicKey | PrivateKey) -> None:
        self.public = key.public_key if isinstance(key, PrivateKey) else key
        self.private = key if isinstance(key, PrivateKey) else None
        self._pk = self.public.public_bytes()
        self._info = bytes([1, 4]) + self.public.key_id.to_bytes(4, "big")

    @property
    def kek_id(self) -> int:
        return self.public.key_id

    def generate_data_key(self, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        data_key = _native.generate_key()
        return data_key, self.wrap(data_key, context)

    def wrap(self, data_key: bytes, context: Mapping[str, str]) -> bytes:
        return _native.hpke_seal(self._pk, self._info, encode_context(context), data_key)

    def unwrap(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        if self.private is None:
            raise TypeError(NEEDS_PRIVATE_KEY)
        try:
            return self.private._key.open(self._info, encode_context(context), wrapped)
        except DecryptionError:
            raise DecryptionError("the wrapped data key did not unwrap") from None

    def rewrap(self, wrapped: Sequence[bytes], contexts: Sequence[Mapping[str, str]]) -> list[bytes]:
        return [self.wrap(self.unwrap(w, c), c) for w, c in zip(wrapped, contexts, strict=True)]

    def needs_rewrap(self, wrapped: bytes) -> bool:
        return False

    def __repr__(self) -> str:
        kind = "private" if self.private is not None else "public"
        return f"<x25519 {kind} key, key id {self.kek_id}>"


def as_kek(key: Any) -> Any:
    """A PublicKey or PrivateKey as a key-encryption key; anything else as it is."""
    return HpkeKek(key) if isinstance(key, (PublicKey, PrivateKey)) else key


def encrypt_only(keks: Sequence[Any]) -> bool:
    """Whether none of these KEKs can decrypt (public keys only)."""
    return all(isinstance(k, HpkeKek) and k.private is None for k in keks)
