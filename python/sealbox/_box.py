"""Box: encrypt and decrypt values."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

from sealbox import _native

if TYPE_CHECKING:
    from sealbox._native import _Buffer as Buffer
    from sealbox._keyring import Keyring

__all__ = ["Box"]

_M = TypeVar("_M", bytes, str)

Algorithm = Literal["aes-256-gcm", "xchacha20-poly1305", "aes-256-siv"]


class Box(_native.Box, Generic[_M]):
    """Encrypts and decrypts values with a key or a :class:`Keyring`.

    ``Box(key)`` uses the default suite, AES-256-GCM with a per-message subkey
    and a key commitment; ``algorithm="xchacha20-poly1305"`` selects
    XChaCha20-Poly1305, and ``deterministic=True`` AES-256-SIV, whose equal
    inputs give equal messages (for lookups). ``encoding="text"`` returns
    URL-safe text (``str``) instead of ``bytes``; ``decrypt`` accepts both forms.

    A bare 32-byte key has key id 0. A Box is immutable and safe to share
    between threads; it cannot be pickled.
    """

    __slots__ = ()

    if TYPE_CHECKING:

        @overload
        def __new__(
            cls,
            key: bytes | Keyring,
            *,
            algorithm: Algorithm | None = None,
            deterministic: bool = False,
            encoding: Literal["binary"] = "binary",
        ) -> Box[bytes]: ...

        @overload
        def __new__(
            cls,
            key: bytes | Keyring,
            *,
            algorithm: Algorithm | None = None,
            deterministic: bool = False,
            encoding: Literal["text"],
        ) -> Box[str]: ...

        def __new__(
            cls,
            key: bytes | Keyring,
            *,
            algorithm: Algorithm | None = None,
            deterministic: bool = False,
            encoding: Literal["binary", "text"] = "binary",
        ) -> Box[Any]: ...

        def encrypt(self, data: Buffer, *, context: Buffer | str | None = None) -> _M:
            """Encrypt ``data``, binding ``context`` (authenticated, not stored)."""

        def decrypt(self, message: Buffer | str, *, context: Buffer | str | None = None) -> bytes:
            """Decrypt a message in either encoding; raise DecryptionError on any failure."""

        def lookup_values(self, data: Buffer, *, context: Buffer | str | None = None) -> list[_M]:
            """The deterministic message under every key of the ring, active first."""
