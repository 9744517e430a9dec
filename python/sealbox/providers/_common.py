"""What every provider shares: argument checks, the context manager, the backoff."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, NoReturn, Self

from sealbox._errors import DecryptionError
from sealbox._provider import derive_kek_id

DATA_KEY_BYTES = 32
_MAX_KEK_ID = 2**32 - 1


def check_kek_id(kek_id: int) -> int:
    if isinstance(kek_id, bool) or not isinstance(kek_id, int):
        raise TypeError(f"kek_id must be an int, not {type(kek_id).__name__}")
    if not 0 <= kek_id <= _MAX_KEK_ID:
        raise ValueError(f"kek_id must be between 0 and {_MAX_KEK_ID}, not {kek_id}")
    return kek_id


def kek_id_for(kek_id: int | None, provider: str, *names: str) -> int:
    """``kek_id`` if given, else the id `derive_kek_id` makes from what names the key."""
    return derive_kek_id(provider, *names) if kek_id is None else check_kek_id(kek_id)


def check_data_key(data_key: bytes) -> bytes:
    if not isinstance(data_key, bytes | bytearray | memoryview):
        raise TypeError(f"a data key must be bytes, not {type(data_key).__name__}")
    data_key = bytes(data_key)
    if len(data_key) != DATA_KEY_BYTES:
        raise ValueError(f"a data key must be {DATA_KEY_BYTES} bytes, not {len(data_key)}")
    return data_key


def check_wrapped(wrapped: bytes) -> bytes:
    """``wrapped`` as bytes; anything that is not bytes cannot be a wrapped key."""
    if not isinstance(wrapped, bytes | bytearray | memoryview):
        raise TypeError(f"a wrapped data key must be bytes, not {type(wrapped).__name__}")
    return bytes(wrapped)


def check_context(context: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(context, Mapping):
        raise TypeError(
            f"an encryption context must be a mapping of str to str, not {type(context).__name__}"
        )
    out = dict(context)
    for key, value in out.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError("an encryption context must map str to str")
    return out


def check_batch(
    wrapped: Sequence[bytes], contexts: Sequence[Mapping[str, str]]
) -> list[tuple[bytes, dict[str, str]]]:
    wrapped = list(wrapped)
    contexts = list(contexts)
    if len(wrapped) != len(contexts):
        raise ValueError(
            f"rewrap needs one context per wrapped key: {len(wrapped)} keys, {len(contexts)} contexts"
        )
    return [(check_wrapped(w), check_context(c)) for w, c in zip(wrapped, contexts, strict=True)]


def unwrapped_key(plaintext: bytes) -> bytes:
    """The provider's plaintext, which must be a 32-byte data key."""
    if len(plaintext) != DATA_KEY_BYTES:
        raise DecryptionError("the wrapped data key did not unwrap")
    return plaintext


def backoff_delays(attempts: int, base: float, cap: float) -> Iterator[float]:
    """Sleep times between ``attempts`` tries: exponential, capped, with full jitter."""
    for attempt in range(attempts - 1):
        yield random.uniform(0.0, min(cap, base * 2.0**attempt))


class ProviderBase:
    """The KEK id, context manager and pickling refusal shared by the providers."""

    _kek_id: int

    @property
    def kek_id(self) -> int:
        """The id that messages wrapped by this provider carry in their header."""
        return self._kek_id

    def close(self) -> None:
        """Release what the provider holds open; it cannot be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __reduce__(self) -> NoReturn:
        # A provider holds credentials (a PIN, a token, a client); copies of it do not travel.
        raise TypeError(f"{type(self).__name__} cannot be pickled or copied")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        self.__reduce__()
