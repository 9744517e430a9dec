"""The Ruby `blind_index` gem (2.x): its index keys and ``*_bidx`` values, so
a Python service can query the columns a Rails application maintains, or take
them over."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from typing import Any

from sealbox import _native
from sealbox._blind import BlindIndex
from sealbox.compat._ruby import pack_m, pack_m0

__all__ = ["GemIndex", "blind_index_gem", "gem_index_key"]

# The gem's names (and aliases) -> sealbox's algorithm. Note that the gem maps
# `argon2` to Argon2i, not Argon2id (blind_index.rb: `algorithm = :argon2i if
# algorithm == :argon2`).
_GEM_ALGORITHMS = {
    "argon2id": "argon2id",
    "argon2i": "argon2i",
    "argon2": "argon2i",
    "pbkdf2_sha256": "pbkdf2-sha256",
    "pbkdf2_hmac": "pbkdf2-sha256",
    "pbkdf2": "pbkdf2-sha256",
    "scrypt": "scrypt",
}

_COST_KEYS = {
    "argon2id": {"t", "m"},
    "argon2i": {"t", "m"},
    "pbkdf2-sha256": {"iterations"},
    "scrypt": {"n", "r", "p"},
}

# The gem's own parameters (blind_index.rb: its defaults, and `slow: true`), as
# sealbox's options. They are accepted below OWASP's minimums without
# allow_weak=True: an existing column needs exactly them.
_GEM_PRESETS: dict[str, list[dict[str, int]]] = {
    "argon2id": [{"t": 3, "m": 1 << 12, "p": 1}, {"t": 4, "m": 1 << 15, "p": 1}],
    "argon2i": [{"t": 3, "m": 1 << 12, "p": 1}],
    "pbkdf2-sha256": [{"iterations": 10_000}, {"iterations": 100_000}],
    "scrypt": [{"n": 4096, "r": 8, "p": 1}],
}


def _master_key(master_key: bytes | str) -> bytes | str:
    # The gem takes 64 hex digits, or 32 raw bytes.
    if isinstance(master_key, str):
        if not re.fullmatch(r"[0-9a-fA-F]{64}", master_key):
            raise ValueError("master key must be 32 bytes (64 hex digits)")
        return master_key
    if isinstance(master_key, bytes | bytearray | memoryview):
        if len(master_key) != 32:
            raise ValueError("master key must be 32 bytes (64 hex digits)")
        return bytes(master_key)
    raise TypeError(f"master key must be a hex str or 32 bytes, not {type(master_key).__name__}")


def _int_cost(cost: Mapping[str, Any], name: str, default: int) -> int:
    value = cost.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"cost[{name!r}] must be an int, not {type(value).__name__}")
    return value


def gem_index_key(master_key: bytes | str, *, table: str, bidx_attribute: str) -> str:
    """The index key the gem derives for one table and column, as 64 hex digits
    (``BlindIndex.index_key(table:, bidx_attribute:, master_key:)``)."""
    return _native.gem_index_key(_master_key(master_key), table, bidx_attribute).hex()


class GemIndex:
    """A blind_index gem index whose output is not plain base64 or raw bytes
    (``legacy=True``, an ``encode`` callable) or whose key is used as the gem's
    ``insecure_key`` does: ``compute`` equals ``BlindIndex.generate_bidx``."""

    __slots__ = ("_encode", "_expression", "_iterations", "_raw", "_salt", "_size")

    def __init__(
        self,
        raw: BlindIndex[Any] | None,
        encode: Callable[[bytes], Any] | None,
        *,
        expression: Callable[[Any], Any] | None = None,
        salt: bytes | None = None,
        iterations: int = 0,
        size: int = 32,
    ) -> None:
        self._raw, self._encode, self._expression = raw, encode, expression
        self._salt, self._iterations, self._size = salt, iterations, size

    def _hash(self, value: Any) -> bytes | None:
        if self._raw is not None:
            out: bytes | None = self._raw.compute(value)
            return out
        if value is None:
            return None
        if self._expression is not None:
            value = self._expression(value)
        text = value if isinstance(value, bytes) else str(value).encode()
        assert self._salt is not None
        return hashlib.pbkdf2_hmac("sha256", text, self._salt, self._iterations, self._size)

    def compute(self, value: Any) -> Any:
        """The index value of ``value`` (``None`` stays ``None``)."""
        raw = self._hash(value)
        if raw is None:
            return None
        return raw if self._encode is None else self._encode(raw)

    def compute_batch(self, values: Any) -> list[Any]:
        """``compute`` over many values (in Rust when the key is not insecure)."""
        if self._raw is not None:
            raws = self._raw.compute_batch(values)
            return [None if r is None else (r if self._encode is None else self._encode(r)) for r in raws]
        return [self.compute(v) for v in values]


def blind_index_gem(
    master_key: bytes | str | None = None,
    *,
    table: str | None = None,
    bidx_attribute: str | None = None,
    algorithm: str | None = None,
    cost: Mapping[str, int] | None = None,
    size: int = 32,
    encode: bool | Callable[[bytes], Any] = True,
    slow: bool = False,
    expression: Callable[[Any], Any] | None = None,
    legacy: bool = False,
    key: bytes | str | None = None,
    insecure_key: bool = False,
    allow_weak: bool = False,
) -> Any:
    """An index whose ``compute`` equals the gem's ``BlindIndex.generate_bidx``.

    ``master_key`` is the gem's ``BLIND_INDEX_MASTER_KEY`` (64 hex digits or 32
    bytes); the index key is derived per ``table`` and ``bidx_attribute`` (the
    column, e.g. ``"email_bidx"``; ``"encrypted_email_bidx"`` for a legacy
    index) as the gem does. Or give the gem's ``key:`` option as ``key`` (the
    index key itself, 64 hex digits or 32 bytes). ``algorithm`` is the gem's:
    ``argon2id`` (default), ``argon2i`` (alias ``argon2``), ``pbkdf2_sha256``
    (aliases ``pbkdf2_hmac``, ``pbkdf2``) or ``scrypt``; ``cost`` is in the gem's
    terms: ``{"t": 3, "m": 12}`` (m is log2 of KiB), ``{"iterations": 10000}``,
    ``{"n": 4096, "r": 8, "p": 1}``. ``slow=True`` is the gem's ``slow: true``.
    ``size`` is the output in bytes (1..32); ``encode=True`` gives base64 text
    (the gem's default), ``False`` raw bytes, a callable what it returns for
    the raw bytes (``bytes.hex`` for hex). ``expression`` is applied to the
    value first, as the gem's ``expression:`` option (e.g. ``str.lower``).

    ``legacy=True`` is the gem's ``legacy: true`` (blind_index 0.x indexes):
    PBKDF2-SHA256 unless ``algorithm`` says otherwise, and base64 with a
    newline every 60 characters and at the end (``pack("m")``).
    ``insecure_key=True`` with PBKDF2 uses ``key`` as the salt exactly as given
    (its text, not decoded from hex), as the gem's ``insecure_key: true``.

    The gem's own parameters (its defaults and ``slow``) are accepted as they
    are; any other ``cost`` below OWASP's minimums raises ``ValueError`` unless
    ``allow_weak=True`` (see docs/search.md). The index hashes with the gem's
    index key as the gem does, without sealbox's own key label: never use a
    Box key as the gem's master key. The result is a `BlindIndex` when the
    output is base64 or raw bytes and the key is not insecure, else a
    `GemIndex` with ``compute`` and ``compute_batch``.
    """
    if algorithm is None:
        algorithm = "pbkdf2_sha256" if legacy else "argon2id"
    name = _GEM_ALGORITHMS.get(algorithm.lstrip(":"))
    if name is None:
        raise ValueError(
            f"unknown blind_index algorithm {algorithm!r}: expected one of {sorted(_GEM_ALGORITHMS)}"
        )
    cost = dict(cost or {})
    unknown = set(cost) - _COST_KEYS[name]
    if unknown:
        raise ValueError(f"cost for {algorithm} takes {sorted(_COST_KEYS[name])}, not {sorted(unknown)}")
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 32:
        raise ValueError("size must be between 1 and 32")
    if not (isinstance(encode, bool) or callable(encode)):
        raise TypeError("encode must be True (base64), False (raw bytes) or a callable")
    if not isinstance(allow_weak, bool):
        raise TypeError("allow_weak must be True or False")
    if (key is None) == (master_key is None):
        raise ValueError("give master_key (with table and bidx_attribute) or key, not both")
    if key is None and not (table and bidx_attribute):
        raise ValueError("a master key needs table and bidx_attribute")
    options: dict[str, Any] = {}
    if name in ("argon2id", "argon2i"):
        # The gem's bounds (from rbnacl): 3 <= t <= 10, 3 <= m <= 22, p = 1.
        t = _int_cost(cost, "t", 4 if slow and name == "argon2id" else 3)
        m = _int_cost(cost, "m", 15 if slow and name == "argon2id" else 12)
        if not 3 <= t <= 10:
            raise ValueError("t must be between 3 and 10")
        if not 3 <= m <= 22:
            raise ValueError("m must be between 3 and 22")
        if size < 4:
            raise ValueError("argon2 needs a size of at least 4 bytes")
        options.update(t=t, m=1 << m, p=1)
    elif name == "pbkdf2-sha256":
        options["iterations"] = _int_cost(cost, "iterations", 100_000 if slow else 10_000)
    else:
        options.update(n=_int_cost(cost, "n", 4096), r=_int_cost(cost, "r", 8), p=_int_cost(cost, "p", 1))
    weak_ok = allow_weak or options in _GEM_PRESETS[name]
    wrap: Callable[[bytes], Any] | None
    if callable(encode) and not isinstance(encode, bool):
        wrap = encode
    elif encode and legacy:
        wrap = pack_m
    else:
        wrap = None
    if insecure_key and name == "pbkdf2-sha256" and key is not None:
        if options["iterations"] < 1:
            raise ValueError("iterations must be at least 1")
        if not weak_ok and options["iterations"] < 600_000:
            raise ValueError("iterations below OWASP's minimum need allow_weak=True")
        salt = key.encode() if isinstance(key, str) else bytes(key)
        return GemIndex(
            None,
            wrap if wrap is not None else (pack_m0 if encode else None),
            expression=expression,
            salt=salt,
            iterations=options["iterations"],
            size=size,
        )
    derive: tuple[str, ...]
    if key is not None:
        keying, derive = _master_key(key), ("gem-key",)
    else:
        assert master_key is not None and table is not None and bidx_attribute is not None
        keying, derive = _master_key(master_key), ("gem", table, bidx_attribute)
    index = BlindIndex._make(
        keying,
        name,
        derive,
        normalize=expression,
        length=size,
        encoding="base64" if encode is True and wrap is None else "raw",
        allow_weak=weak_ok,
        **options,
    )
    if wrap is None:
        return index
    return GemIndex(index, wrap)
