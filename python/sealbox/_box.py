"""Box: encrypt and decrypt values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

from sealbox import _native

if TYPE_CHECKING:
    from sealbox._keyring import Keyring
    from sealbox._native import _Buffer as Buffer

__all__ = ["Box"]

_M = TypeVar("_M", bytes, str)

Algorithm = Literal["aes-256-gcm", "xchacha20-poly1305", "aes-256-siv"]
Errors = Literal["raise", "return"]


def _is_arrow(obj: object) -> bool:
    return type(obj).__module__.startswith("pyarrow")


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

    # Batches: one native call, all cores, the GIL released. A pyarrow binary or
    # large_binary array (or a ChunkedArray) in gives the same kind out, with no
    # Python object per row; nulls stay null.

    def encrypt_batch(
        self,
        values: Sequence[bytes] | Any,
        contexts: Sequence[bytes | str] | bytes | str | None = None,
        *,
        errors: Errors = "raise",
        threads: int | None = None,
    ) -> Any:
        """Encrypt every value; ``contexts`` is None, one for all, or one per value."""
        if _is_arrow(values):
            return self._arrow("encrypt", values, contexts, "auto", errors, threads)
        return super().encrypt_batch(values, contexts, errors=errors, threads=threads)

    def decrypt_batch(
        self,
        messages: Sequence[bytes | str] | Any,
        contexts: Sequence[bytes | str] | bytes | str | None = None,
        *,
        errors: Errors = "raise",
        threads: int | None = None,
    ) -> Any:
        """Decrypt every message. With ``errors="return"`` failed items are None (null)."""
        if _is_arrow(messages):
            return self._arrow("decrypt", messages, contexts, "auto", errors, threads)
        return super().decrypt_batch(messages, contexts, errors=errors, threads=threads)

    def rotate_batch(
        self,
        messages: Sequence[bytes | str] | Any,
        contexts: Sequence[bytes | str] | bytes | str | None = None,
        mode: Literal["auto", "reencrypt"] = "auto",
        *,
        errors: Errors = "raise",
        threads: int | None = None,
    ) -> Any:
        """Re-encrypt every message under the active key and this Box's algorithm.

        ``mode="auto"`` returns messages that are already there unchanged;
        ``"reencrypt"`` encrypts every message again.
        """
        if _is_arrow(messages):
            return self._arrow("rotate", messages, contexts, mode, errors, threads)
        return super().rotate_batch(messages, contexts, mode, errors=errors, threads=threads)

    def _arrow(self, op: str, array: Any, contexts: Any, mode: str, errors: str, threads: int | None) -> Any:
        import pyarrow as pa

        if isinstance(array, pa.ChunkedArray):
            return pa.chunked_array(
                [self._arrow(op, chunk, contexts, mode, errors, threads) for chunk in array.chunks],
                type=self._arrow_type(op, array.type),
            )
        if _is_arrow(contexts):
            contexts = contexts.to_pylist()
        large = array.type in (pa.large_binary(), pa.large_string())
        if not large and array.type not in (pa.binary(), pa.string()):
            raise TypeError(f"expected a binary or large_binary array, not {array.type}")
        if array.offset and array.null_count:
            array = pa.concat_arrays([array])  # re-base the validity bitmap at bit 0
        width = 8 if large else 4
        validity, offsets, data = array.buffers()
        offsets = offsets.to_pybytes()[array.offset * width : (array.offset + len(array) + 1) * width]
        out_offsets, out_data, out_validity, nulls = self._column(
            op,
            offsets,
            data.to_pybytes() if data is not None else b"",
            validity.to_pybytes() if array.null_count else None,
            large,
            contexts,
            mode,
            errors,
            threads,
        )
        return pa.Array.from_buffers(
            self._arrow_type(op, array.type),
            len(array),
            [
                pa.py_buffer(out_validity) if out_validity is not None else None,
                pa.py_buffer(out_offsets),
                pa.py_buffer(out_data),
            ],
            null_count=nulls,
        )

    def _arrow_type(self, op: str, in_type: Any) -> Any:
        import pyarrow as pa

        large = in_type in (pa.large_binary(), pa.large_string())
        if op != "decrypt" and self.encoding == "text":
            return pa.large_string() if large else pa.string()
        return pa.large_binary() if large else pa.binary()
