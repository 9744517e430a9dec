"""The asyncio forms of the providers: each blocking call runs in ``asyncio.to_thread``."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Generic, NoReturn, Self, TypeVar

from sealbox._provider import KeyProvider
from sealbox.providers._aws_kms import AwsKms
from sealbox.providers._pkcs11 import Pkcs11
from sealbox.providers._vault_transit import VaultTransit

__all__ = ["AsyncAwsKms", "AsyncPkcs11", "AsyncProvider", "AsyncVaultTransit"]

P = TypeVar("P", bound=KeyProvider)


class AsyncProvider(Generic[P]):
    """Any blocking `KeyProvider` as an `AsyncKeyProvider`: every call runs in a worker
    thread (``asyncio.to_thread``), so the event loop keeps running while the KMS answers.

    ::

        kek = AsyncProvider(my_provider)          # or AsyncAwsKms(...), AsyncVaultTransit(...), ...
        plaintext, wrapped = await kek.generate_data_key({"table": "users"})

    `needs_rewrap` stays synchronous (the protocol says so); for `AsyncVaultTransit`
    it may read the key's latest version, at most once per ``version_ttl``. The
    blocking provider is ``.sync``; ``await aclose()`` or ``async with`` closes it.
    """

    def __init__(self, provider: P) -> None:
        if not isinstance(provider, KeyProvider):
            raise TypeError(f"AsyncProvider needs a KeyProvider, not {type(provider).__name__}")
        self._sync = provider

    @property
    def sync(self) -> P:
        """The blocking provider that does the work."""
        return self._sync

    @property
    def name(self) -> str:
        return self._sync.name

    @property
    def kek_id(self) -> int:
        return self._sync.kek_id

    async def generate_data_key(self, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        return await asyncio.to_thread(self._sync.generate_data_key, context)

    async def wrap(self, data_key: bytes, context: Mapping[str, str]) -> bytes:
        return await asyncio.to_thread(self._sync.wrap, data_key, context)

    async def unwrap(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        return await asyncio.to_thread(self._sync.unwrap, wrapped, context)

    async def rewrap(self, wrapped: Sequence[bytes], contexts: Sequence[Mapping[str, str]]) -> list[bytes]:
        return await asyncio.to_thread(self._sync.rewrap, list(wrapped), list(contexts))

    async def rewrap_from(
        self, source: object, wrapped: Sequence[bytes], contexts: Sequence[Mapping[str, str]]
    ) -> list[bytes] | None:
        """The blocking provider's `rewrap_from`, if it has one (else None)."""
        move = getattr(self._sync, "rewrap_from", None)
        if move is None:
            return None
        if isinstance(source, AsyncProvider):
            source = source.sync
        result: list[bytes] | None = await asyncio.to_thread(move, source, list(wrapped), list(contexts))
        return result

    def needs_rewrap(self, wrapped: bytes) -> bool:
        return self._sync.needs_rewrap(wrapped)

    async def aclose(self) -> None:
        close = getattr(self._sync, "close", None)
        if close is not None:
            await asyncio.to_thread(close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._sync!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"{type(self).__name__} cannot be pickled or copied")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        self.__reduce__()


class AsyncAwsKms(AsyncProvider[AwsKms]):
    """`AwsKms` for asyncio; the same arguments."""

    def __init__(
        self,
        key_id: str,
        client: Any = None,
        *,
        kek_id: int | None = None,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        max_attempts: int | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> None:
        super().__init__(
            AwsKms(
                key_id,
                client,
                kek_id=kek_id,
                region_name=region_name,
                endpoint_url=endpoint_url,
                max_attempts=max_attempts,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
            )
        )


class AsyncVaultTransit(AsyncProvider[VaultTransit]):
    """`VaultTransit` for asyncio; the same arguments."""

    def __init__(
        self,
        key_name: str,
        client: Any,
        *,
        kek_id: int | None = None,
        mount_point: str = "transit",
        batch_size: int = 200,
        max_attempts: int = 4,
        backoff: float = 0.1,
        max_backoff: float = 2.0,
        version_ttl: float = 30.0,
    ) -> None:
        super().__init__(
            VaultTransit(
                key_name,
                client,
                kek_id=kek_id,
                mount_point=mount_point,
                batch_size=batch_size,
                max_attempts=max_attempts,
                backoff=backoff,
                max_backoff=max_backoff,
                version_ttl=version_ttl,
            )
        )


class AsyncPkcs11(AsyncProvider[Pkcs11]):
    """`Pkcs11` for asyncio; the same arguments. The session is opened here, in the caller's
    thread; calls are serialised on it, as in `Pkcs11`."""

    def __init__(
        self, module: str, token_label: str, pin: str, key_label: str, *, kek_id: int | None = None
    ) -> None:
        super().__init__(Pkcs11(module, token_label, pin, key_label, kek_id=kek_id))
