"""Envelope encryption: data keys wrapped by a key-encryption key (KEK).

``Box(EnvelopeKeyProvider(kek))`` seals every message under a fresh random data
key and stores that key in the message, wrapped by ``kek``: a local
:class:`~sealbox.Keyring` (wrapped in Rust with AES-256-GCM-SIV, 125 bytes of
overhead) or a :class:`~sealbox.KeyProvider` such as ``sealbox.providers.AwsKms`` whose
key never leaves the KMS or HSM. With a :class:`DataKeyCache`, one data key
serves up to ``max_messages`` messages for up to ``max_age`` seconds, so a KMS
is called once per many messages; decryption caches unwrapped keys under the
same bounds. docs/envelope.md is the guide, docs/format.md the wire format.
"""

from __future__ import annotations

import asyncio
import base64
import math
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeVar

from sealbox import _native, _public, audit
from sealbox._errors import DecryptionError, KeyVersionDisabledError, SealboxError
from sealbox._keyring import Keyring
from sealbox._provider import AsyncKeyProvider, KeyProvider

__all__ = ["DataKeyCache", "EnvelopeKeyProvider"]

FLAG_CONTEXT_BOUND = 1
_T = TypeVar("_T")

Kek = Keyring | KeyProvider | AsyncKeyProvider

# What a provider raises about one wrapped key (from that key's own bytes): that
# message's failure, never the batch's. Anything else (unavailable, access denied,
# a disabled key) is about the provider and stops the call.
ITEM_ERRORS = (DecryptionError, KeyVersionDisabledError)


class DataKeyCache:
    """Bounds on data-key reuse: at most ``max_messages`` messages and ``max_age`` seconds per key.

    Encryption takes a new data key (one provider call) when the current one
    has sealed ``max_messages`` messages or is older than ``max_age``.
    Decryption keeps up to ``max_entries`` unwrapped keys, each for at most
    ``max_age`` seconds. ``stats`` counts provider calls saved and made.

    A shared data key cannot be bound to each message's context at the KMS
    (the key exists before the messages), so its wrap binds only the provider's
    ``encryption_context``; each message's context is still authenticated by
    the message itself.

    A cache serves one ``EnvelopeKeyProvider``: its keys were made and unwrapped
    by that provider's KEKs under its ``encryption_context``, and a second
    provider would be handed them without asking its own KMS. Giving a cache
    that serves another provider to ``EnvelopeKeyProvider`` raises
    ``ValueError``; once that provider is gone, the cache is emptied and may
    serve a new one.
    """

    __slots__ = (
        "_current",
        "_lock",
        "_opened",
        "_owner",
        "hits",
        "max_age",
        "max_entries",
        "max_messages",
        "misses",
    )

    def __init__(self, max_messages: int = 10_000, max_age: float = 300.0, *, max_entries: int = 1_000):
        if not isinstance(max_messages, int) or max_messages < 1:
            raise ValueError("max_messages must be a positive integer")
        if not max_age > 0 or math.isinf(max_age):
            raise ValueError("max_age must be a positive, finite number of seconds")
        if not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError("max_entries must be a positive integer")
        self.max_messages = max_messages
        self.max_age = float(max_age)
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        # (data key, kek id, wrapped, created, uses)
        self._current: list[Any] | None = None
        self._opened: OrderedDict[tuple[int, bytes], tuple[bytes, float]] = OrderedDict()
        self._owner: weakref.ref[EnvelopeKeyProvider] | None = None

    def _bind(self, env: EnvelopeKeyProvider) -> None:
        """Serve ``env`` alone; refuse if another live provider holds this cache."""
        with self._lock:
            owner = None if self._owner is None else self._owner()
            if owner is not None and owner is not env:
                raise ValueError(
                    "this DataKeyCache already serves another EnvelopeKeyProvider: its data keys "
                    "were wrapped by that provider's KEK under its encryption_context, and this "
                    "provider would be handed them without its own KMS being asked. Give each "
                    "EnvelopeKeyProvider its own DataKeyCache, or share the EnvelopeKeyProvider "
                    "(and its Box) instead: both are safe to use from many threads"
                )
            if owner is None:
                # A provider that is gone leaves nothing for the next one.
                self._current = None
                self._opened.clear()
                self._owner = weakref.ref(env)

    def __repr__(self) -> str:
        return (
            f"DataKeyCache(max_messages={self.max_messages}, max_age={self.max_age}, "
            f"max_entries={self.max_entries}, hits={self.hits}, misses={self.misses})"
        )

    def __reduce__(self) -> Any:
        raise TypeError("a DataKeyCache holds data keys and cannot be pickled")

    @property
    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses}

    def clear(self) -> None:
        with self._lock:
            self._current = None
            self._opened.clear()

    def _take(self, kek_id: int) -> tuple[bytes, bytes] | None:
        now = time.monotonic()
        with self._lock:
            cur = self._current
            if (
                cur is not None
                and cur[1] == kek_id
                and cur[4] < self.max_messages
                and now - cur[3] < self.max_age
            ):
                cur[4] += 1
                self.hits += 1
                return cur[0], cur[2]
            self.misses += 1
            return None

    def _offer(self, data_key: bytes, kek_id: int, wrapped: bytes, used: int) -> None:
        with self._lock:
            self._current = [data_key, kek_id, wrapped, time.monotonic(), used]

    def _lookup(self, kek_id: int, wrapped: bytes) -> bytes | None:
        now = time.monotonic()
        with self._lock:
            hit = self._opened.get((kek_id, wrapped))
            if hit is not None and now - hit[1] < self.max_age:
                self._opened.move_to_end((kek_id, wrapped))
                self.hits += 1
                return hit[0]
            if hit is not None:
                del self._opened[(kek_id, wrapped)]
            self.misses += 1
            return None

    def _store(self, kek_id: int, wrapped: bytes, data_key: bytes) -> None:
        with self._lock:
            self._opened[(kek_id, wrapped)] = (data_key, time.monotonic())
            while len(self._opened) > self.max_entries:
                self._opened.popitem(last=False)


def _context_entry(context: bytes) -> tuple[str, str]:
    try:
        return "sealbox:context", context.decode("utf-8")
    except UnicodeDecodeError:
        return "sealbox:context-b64", base64.urlsafe_b64encode(context).decode("ascii")


class EnvelopeKeyProvider:
    """Per-message data keys wrapped by a key-encryption key; give it to :class:`~sealbox.Box`.

    ``kek`` is a local :class:`~sealbox.Keyring` (its active key wraps) or a
    key provider (``sealbox.providers.AwsKms``, ``VaultTransit``, ``Pkcs11`` or
    your own :class:`~sealbox.KeyProvider` / :class:`~sealbox.AsyncKeyProvider`).
    ``previous`` lists older KEKs whose messages must still open and which
    ``rotate_batch`` re-wraps under ``kek``. ``encryption_context`` is sent to
    the provider with every wrap and unwrap (AWS ``EncryptionContext``, Vault's
    derivation context, HSM associated data), as is, without a cache, each message's own context, so
    that the provider's audit log shows exactly what was decrypted.

    A message names its KEK by id alone, so every id must name one KEK: a
    provider's ``kek_id``, and every id of a local keyring, are distinct across
    ``kek`` and ``previous`` (``ValueError`` otherwise). At most one local
    :class:`~sealbox.Keyring` is given (put all local keys in one ring, its
    active key wrapping). ``cache`` serves this provider only. Immutable.
    """

    __slots__ = ("__weakref__", "cache", "encryption_context", "kek", "previous")

    cache: DataKeyCache | None
    encryption_context: Mapping[str, str]
    kek: Kek
    previous: tuple[Kek, ...]

    def __init__(
        self,
        kek: Kek | _public.PublicKey | _public.PrivateKey,
        cache: DataKeyCache | None = None,
        *,
        previous: Sequence[Kek | _public.PublicKey | _public.PrivateKey] = (),
        encryption_context: Mapping[str, str] | None = None,
    ):
        # An X25519 PublicKey or PrivateKey is a KEK too: HPKE wraps the data keys.
        main: Kek = _public.as_kek(kek)
        older: tuple[Kek, ...] = tuple(_public.as_kek(k) for k in previous)
        for k in (main, *older):
            if not isinstance(k, (Keyring, KeyProvider, AsyncKeyProvider)):
                raise TypeError(
                    f"a key-encryption key must be a sealbox.Keyring or a KeyProvider, not {type(k).__name__}"
                )
        if cache is not None and not isinstance(cache, DataKeyCache):
            raise TypeError(f"cache must be a DataKeyCache or None, not {type(cache).__name__}")
        context = dict(encryption_context or {})
        if any(not isinstance(k, str) or not isinstance(v, str) for k, v in context.items()):
            raise TypeError("encryption_context must map str to str")
        if any(k.startswith("sealbox:") for k in context):
            raise ValueError("encryption_context keys starting with 'sealbox:' are reserved")
        _check_kek_ids(main, older)
        if cache is not None:
            cache._bind(self)
        for name, value in (
            ("kek", main),
            ("previous", older),
            ("cache", cache),
            ("encryption_context", MappingProxyType(context)),
        ):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"an EnvelopeKeyProvider is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"an EnvelopeKeyProvider is immutable: cannot delete {name!r}")

    def __repr__(self) -> str:
        return f"EnvelopeKeyProvider(kek={self.kek!r}, cache={self.cache!r}, previous={len(self.previous)})"

    def __reduce__(self) -> Any:
        raise TypeError("an EnvelopeKeyProvider holds keys and cannot be pickled")

    def wrap_context(self, context: bytes, bound: bool) -> dict[str, str]:
        """The encryption context a provider binds to a data key."""
        out = {"sealbox:format": "v1", **self.encryption_context}
        if bound:
            key, value = _context_entry(context)
            out[key] = value
        return out

    @property
    def kek_id(self) -> int:
        return _kek_id(self.kek)

    def find(self, kek_id: int) -> Kek | None:
        """The KEK (current or previous) that wrapped keys with id ``kek_id``."""
        for k in (self.kek, *self.previous):
            if isinstance(k, Keyring):
                if kek_id in k:
                    return k
            elif k.kek_id == kek_id:
                return k
        return None

    def local_ring(self) -> Keyring | None:
        return next((k for k in (self.kek, *self.previous) if isinstance(k, Keyring)), None)


def _check_kek_ids(kek: Kek, previous: tuple[Kek, ...]) -> None:
    """One local keyring at most, and every KEK id naming one KEK."""
    named = [("kek", kek), *((f"previous[{i}]", k) for i, k in enumerate(previous))]
    rings = [where for where, k in named if isinstance(k, Keyring)]
    if len(rings) > 1:
        raise ValueError(
            f"an EnvelopeKeyProvider takes one local Keyring, and {' and '.join(rings)} are two: "
            "merge their keys into one, e.g. Keyring({1: old_key, 2: new_key}, active=2); its active "
            "key wraps new data keys and every key of it unwraps, so old messages keep opening and "
            "rotate_batch moves them to the active key"
        )
    seen: dict[int, str] = {}
    for where, k in named:
        ids = k.ids if isinstance(k, Keyring) else [k.kek_id]
        for kek_id in ids:
            first = seen.setdefault(kek_id, where)
            if first != where:
                raise ValueError(
                    f"KEK id {kek_id} names two key-encryption keys, {_described(first, named)} and "
                    f"{_described(where, named)}: a message names its KEK by this id alone, so one "
                    "of them would be asked for the other's data keys. Give each KEK its own id: "
                    "pass kek_id= to one of the providers (the built-in providers derive a "
                    "distinct one from the key's name when kek_id is not given), or use other "
                    "keyring ids"
                )


def _described(where: str, named: list[tuple[str, Kek]]) -> str:
    kek = dict(named)[where]
    return f"{where} (a Keyring)" if isinstance(kek, Keyring) else f"{where} ({kek!r})"


def _kek_id(kek: Kek) -> int:
    return kek.active_id if isinstance(kek, Keyring) else kek.kek_id


def _name(kek: Kek) -> str:
    return "local" if isinstance(kek, Keyring) else kek.name


def _audited(op: str, kek: Kek, kek_id: int, context: bytes | None, count: int, call: Callable[[], _T]) -> _T:
    try:
        result = call()
    except BaseException as e:
        audit.emit(op, _name(kek), kek_id, context, audit.outcome_of(e), count, audit.detail_of(e))
        raise
    audit.emit(op, _name(kek), kek_id, context, "ok", count)
    return result


def _check_key(data_key: object) -> bytes:
    if not isinstance(data_key, bytes) or len(data_key) != 32:
        raise SealboxError("the key provider returned a data key that is not 32 bytes")
    return data_key


class _Keys:
    """Data-key operations of one EnvelopeKeyProvider.

    With ``loop`` (the asyncio methods run this code in a worker thread), an
    asynchronous provider's coroutines are run on that loop; without it, an
    asynchronous provider is refused with a hint.
    """

    def __init__(self, env: EnvelopeKeyProvider, loop: asyncio.AbstractEventLoop | None = None):
        self.env = env
        self.loop = loop

    def call(self, kek: KeyProvider | AsyncKeyProvider, method: str, *args: Any) -> Any:
        fn = getattr(kek, method)
        if not asyncio.iscoroutinefunction(fn):
            return fn(*args)
        if self.loop is None:
            raise TypeError(f"the key provider {kek.name!r} is asynchronous: use the Box's *_async methods")
        return asyncio.run_coroutine_threadsafe(fn(*args), self.loop).result()

    def new_key(self, context: bytes, bound: bool) -> tuple[bytes, int, int, bytes]:
        """A fresh data key: (data key, kek id, flags, wrapped)."""
        kek = self.env.kek
        flags = FLAG_CONTEXT_BOUND if bound else 0
        if isinstance(kek, Keyring):
            dk = _native.generate_key()
            kek_id, wrapped = _native.envelope_local_wrap(kek, dk, flags, context if bound else b"")
            return dk, kek_id, flags, wrapped
        ctx = self.env.wrap_context(context, bound)
        provider = kek
        dk, wrapped = _audited(
            "generate", kek, kek.kek_id, None, 1, lambda: self.call(provider, "generate_data_key", ctx)
        )
        return _check_key(dk), kek.kek_id, flags, bytes(wrapped)

    def data_key(self, context: bytes) -> tuple[bytes, int, int, bytes]:
        """The data key for one message: from the cache, else a new one."""
        cache = self.env.cache
        if cache is None:
            return self.new_key(context, True)
        kek_id = self.env.kek_id
        got = cache._take(kek_id)
        if got is not None:
            return got[0], kek_id, 0, got[1]
        dk, kek_id, flags, wrapped = self.new_key(b"", False)
        cache._offer(dk, kek_id, wrapped, 1)
        return dk, kek_id, flags, wrapped

    def unwrap(self, kek_id: int, bound: bool, wrapped: bytes, context: bytes) -> bytes:
        cache = self.env.cache
        if cache is not None and not bound:
            hit = cache._lookup(kek_id, wrapped)
            if hit is not None:
                return hit
        kek = self.env.find(kek_id)
        if kek is None:
            raise DecryptionError("no key-encryption key with this id")
        flags = FLAG_CONTEXT_BOUND if bound else 0
        shown = context if bound else None
        if isinstance(kek, Keyring):
            ring = kek
            dk: bytes = _audited(
                "unwrap",
                kek,
                kek_id,
                shown,
                1,
                lambda: _native.envelope_local_unwrap(ring, kek_id, flags, wrapped, context),
            )
        else:
            ctx = self.env.wrap_context(context, bound)
            provider = kek
            try:
                got = _audited(
                    "unwrap", kek, kek_id, shown, 1, lambda: self.call(provider, "unwrap", wrapped, ctx)
                )
            except KeyVersionDisabledError as e:
                # The version came from the message: this message fails, not the provider.
                raise DecryptionError("the wrapped data key did not unwrap") from e
            dk = _check_key(got)
        if cache is not None and not bound:
            cache._store(kek_id, wrapped, dk)
        return dk

    def wrap_active(self, data_key: bytes, bound: bool, context: bytes) -> tuple[int, bytes]:
        """Wrap an existing data key under the active KEK: (kek id, wrapped)."""
        kek = self.env.kek
        flags = FLAG_CONTEXT_BOUND if bound else 0
        if isinstance(kek, Keyring):
            kek_id, wrapped = _native.envelope_local_wrap(kek, data_key, flags, context if bound else b"")
            return kek_id, wrapped
        ctx = self.env.wrap_context(context, bound)
        return kek.kek_id, bytes(self.call(kek, "wrap", data_key, ctx))

    def rewrap(self, wrapped: list[bytes], contexts: list[Mapping[str, str]]) -> list[bytes]:
        kek = self.env.kek
        assert not isinstance(kek, Keyring)
        out = _audited(
            "rewrap", kek, kek.kek_id, None, len(wrapped), lambda: self.call(kek, "rewrap", wrapped, contexts)
        )
        if len(out) != len(wrapped):
            raise SealboxError("the key provider's rewrap returned the wrong number of keys")
        return [bytes(w) for w in out]

    def rewrap_from(
        self, kek_id: int, wrapped: list[bytes], contexts: list[Mapping[str, str]]
    ) -> list[bytes] | None:
        """Keys wrapped by the previous KEK ``kek_id``, moved to the active KEK inside
        the provider (its optional ``rewrap_from``); None when it cannot."""
        kek, source = self.env.kek, self.env.find(kek_id)
        if isinstance(kek, Keyring) or source is None or isinstance(source, Keyring):
            return None
        if getattr(kek, "rewrap_from", None) is None:
            return None
        try:
            out = self.call(kek, "rewrap_from", source, wrapped, contexts)
        except BaseException as e:
            audit.emit("rewrap", kek.name, kek_id, None, audit.outcome_of(e), len(wrapped))
            raise
        if out is None:
            return None
        audit.emit("rewrap", kek.name, kek_id, None, "ok", len(wrapped))
        if len(out) != len(wrapped):
            raise SealboxError("the key provider's rewrap_from returned the wrong number of keys")
        return [bytes(w) for w in out]

    def needs_rewrap(self, kek_id: int, wrapped: bytes) -> bool:
        kek = self.env.kek
        if kek_id != _kek_id(kek):
            return True
        if isinstance(kek, Keyring):
            return False
        return bool(kek.needs_rewrap(wrapped))
