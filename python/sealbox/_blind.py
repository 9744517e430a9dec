"""BlindIndex: keyed hashes of values, for equality search over encrypted columns."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

from sealbox import _arrow, _native
from sealbox.normalizers import Normalizer, resolve

if TYPE_CHECKING:
    from typing import TypedDict

    from typing_extensions import Unpack

    from sealbox._box import Box

__all__ = ["BitsPlan", "BlindIndex", "plan_bits"]

_O = TypeVar("_O", bytes, str)

Algorithm = Literal["hmac-sha256", "argon2id", "argon2i", "pbkdf2-sha256", "scrypt"]
Key = bytes | str
NormalizeSpec = Normalizer | str | Sequence[Normalizer | str]
Errors = Literal["raise", "return"]

if TYPE_CHECKING:

    class IndexOptions(TypedDict, total=False):
        """The keyword options of BlindIndex (see its docstring)."""

        bits: int | None
        normalize: NormalizeSpec | Mapping[str, NormalizeSpec | None] | None
        fields: int | Sequence[str] | None
        active: int | None
        length: int | None
        t: int | None
        m: int | None
        p: int | None
        iterations: int | None
        n: int | None
        r: int | None
        allow_weak: bool


def _versions(key: Any, active: int | None) -> tuple[dict[int, Key], int]:
    if isinstance(key, _native.Keyring):
        raise TypeError(
            "a Keyring does not keep its raw keys: give BlindIndex a key, or a dict of {version: key}"
        )
    if isinstance(key, Mapping):
        keys = dict(key)
        if not keys:
            raise ValueError("a blind index needs at least one key")
        if active is None:
            if len(keys) > 1:
                raise ValueError("active= is required when the index has more than one key version")
            active = next(iter(keys))
        return keys, active
    if isinstance(key, bytes | bytearray | memoryview | str):
        version = 1 if active is None else active
        return {version: key if isinstance(key, bytes | str) else bytes(key)}, version
    raise TypeError(
        f"key must be 32 bytes, a hex/base64 str or a dict of {{version: key}}, not {type(key).__name__}"
    )


def _compound(names: Sequence[str] | None, count: int, spec: Any) -> Callable[[Any], tuple[Any, ...] | None]:
    """Pick the fields of a compound value (by name from a mapping, by position
    from a sequence) and normalize each one."""
    if isinstance(spec, Mapping):
        if names is None:
            raise TypeError("normalize= as a mapping needs fields= given as names")
        unknown = set(spec) - set(names)
        if unknown:
            raise ValueError(f"normalize= names fields that are not in fields=: {sorted(unknown)}")
        per_field = [resolve(spec[name]) if spec.get(name) is not None else None for name in names]
    else:
        one = resolve(spec) if spec is not None else None
        per_field = [one] * count

    def prepare(value: Any) -> tuple[Any, ...] | None:
        if isinstance(value, Mapping):
            if names is None:
                raise TypeError("a mapping value needs fields= given as names")
            missing = [name for name in names if name not in value]
            if missing:
                raise ValueError(f"value is missing the fields {missing}")
            parts = [value[name] for name in names]
        elif isinstance(value, str | bytes | bytearray) or not isinstance(value, Sequence):
            raise TypeError(
                f"a compound index takes a tuple or a mapping of {count} fields, not {type(value).__name__}"
            )
        else:
            parts = list(value)
            if len(parts) != count:
                raise ValueError(f"value has {len(parts)} fields; this compound index takes {count}")
        out = []
        for part, fn in zip(parts, per_field, strict=True):
            if part is None:
                return None
            if fn is not None:
                part = fn(part)
                if part is None:
                    return None
            out.append(part)
        return tuple(out)

    return prepare


def _preparer(
    normalize: Any, fields: int | Sequence[str] | None
) -> tuple[Callable[[Any], Any] | None, int | None]:
    if fields is None:
        if isinstance(normalize, Mapping):
            raise TypeError("normalize= as a mapping of fields needs fields=")
        return (resolve(normalize) if normalize is not None else None), None
    if isinstance(fields, int) and not isinstance(fields, bool):
        names, count = None, fields
    elif isinstance(fields, Sequence) and not isinstance(fields, str | bytes) and fields:
        names = [str(f) for f in fields]
        if len(set(names)) != len(names):
            raise ValueError("fields= names a field twice")
        count = len(names)
    else:
        raise TypeError("fields= must be a list of field names or a number of fields")
    if count < 1:
        raise ValueError("a compound index needs at least one field")
    return _compound(names, count, normalize), count


class BlindIndex(_native.BlindIndex, Generic[_O]):
    """A blind index: a keyed hash of a value, kept in its own column, to find
    rows by an encrypted value without decrypting the table::

        email_bidx = BlindIndex(index_key, normalize=["strip", "casefold"])
        row.email_bidx = email_bidx.compute(email)
        ... WHERE email_bidx IN (email_bidx.lookup_values(searched))

    ``algorithm`` is ``"hmac-sha256"`` (fast, the default) or a slow one
    salted with the hash key: ``"argon2id"`` (``t`` passes, ``m`` KiB, ``p``
    lanes; default 2, 19456, 1), ``"argon2i"`` (default 3, 12288, 1),
    ``"pbkdf2-sha256"`` (``iterations``, default 600,000) or ``"scrypt"``
    (``n``, ``r``, ``p``; default 2**17, 8, 1). The defaults are OWASP's
    minimums; a cost below all of OWASP's configurations raises ``ValueError``
    unless ``allow_weak=True`` (see docs/search.md). The hash is ``length``
    bytes (default 32), keeps its first ``bits`` bits (default all; see
    :func:`plan_bits`), and is written as ``bytes`` (``encoding="raw"``) or as
    ``"base64"`` or ``"hex"`` text.

    ``key`` is 32 bytes (or 64 hex digits / base64), or a dict
    ``{version: key}`` with ``active=``. The index never hashes with the key
    itself but with ``HMAC-SHA256(key, "sealbox/v1/blind-index/key" || 0x00 ||
    algorithm)``, so its values reveal nothing a Box computes under the same
    bytes; still, never give a Box key to an index. ``compute`` uses the
    active version, ``lookup_values`` gives the hash under every version so
    that lookups match rows not yet re-indexed. ``fields=`` makes a compound
    index over several fields; ``normalize=`` is applied to every value (see
    :mod:`sealbox.normalizers`). ``None`` in gives ``None`` out.

    Immutable, thread-safe, never pickled; the keys stay in Rust.
    """

    __slots__ = ()

    if TYPE_CHECKING:

        @overload
        def __new__(
            cls,
            key: Key | Mapping[int, Key],
            algorithm: Algorithm = "hmac-sha256",
            *,
            encoding: Literal["raw"] = "raw",
            **options: Unpack[IndexOptions],
        ) -> BlindIndex[bytes]: ...

        @overload
        def __new__(
            cls,
            key: Key | Mapping[int, Key],
            algorithm: Algorithm = "hmac-sha256",
            *,
            encoding: Literal["base64", "hex"],
            **options: Unpack[IndexOptions],
        ) -> BlindIndex[str]: ...

    def __new__(
        cls,
        key: Key | Mapping[int, Key],
        algorithm: Algorithm = "hmac-sha256",
        *,
        encoding: Literal["raw", "base64", "hex"] = "raw",
        **options: Unpack[IndexOptions],
    ) -> BlindIndex[Any]:
        return cls._make(key, algorithm, None, encoding=encoding, **options)

    @classmethod
    def _make(
        cls,
        key: Any,
        algorithm: str,
        derive: tuple[str, ...] | None,
        *,
        active: int | None = None,
        normalize: Any = None,
        fields: int | Sequence[str] | None = None,
        **options: Any,
    ) -> BlindIndex[Any]:
        keys, active = _versions(key, active)
        prepare, count = _preparer(normalize, fields)
        return _native.BlindIndex.__new__(
            cls, keys, algorithm, active=active, prepare=prepare, fields=count, derive=derive, **options
        )

    @classmethod
    def from_master_key(
        cls,
        master_key: Key | Mapping[int, Key],
        algorithm: Algorithm = "hmac-sha256",
        *,
        table: str,
        column: str,
        index: str,
        active: int | None = None,
        **options: Any,
    ) -> BlindIndex[Any]:
        """The index of one (table, column, index), its key derived from a master key.

        Each version's index key is HKDF-SHA256 of that version's master key
        (see docs/search.md), so one master key serves every index, and no two
        indexes share a key; the index then hashes under its own label, as
        every index does. The derived keys never leave Rust. Use a master key
        that serves no Box.
        """
        for what, name in (("table", table), ("column", column), ("index", index)):
            if not isinstance(name, str) or not name:
                raise ValueError(f"{what} must be a non-empty str")
        return cls._make(master_key, algorithm, ("sealbox", table, column, index), active=active, **options)

    if TYPE_CHECKING:

        @overload
        def compute(self, value: None, *, version: int | None = None) -> None: ...

        @overload
        def compute(self, value: object, *, version: int | None = None) -> _O: ...

        def compute(self, value: object, *, version: int | None = None) -> _O | None:
            """The index value under the active key version (or ``version``)."""

        def lookup_values(self, value: object) -> list[_O]:
            """The index value under every key version, active first: for ``IN (...)``."""

    @overload
    def compute_batch(
        self, values: list[Any] | tuple[Any, ...], *, version: int | None = None, threads: int | None = None
    ) -> list[_O | None]: ...

    @overload
    def compute_batch(
        self, values: Iterable[object] | Any, *, version: int | None = None, threads: int | None = None
    ) -> Any: ...

    def compute_batch(
        self, values: Iterable[object] | Any, *, version: int | None = None, threads: int | None = None
    ) -> Any:
        """The index values of many values: one native call, all cores, GIL released.

        A list (or any iterable) in gives a list out, ``None`` for ``None``. A
        pyarrow ``binary``/``string`` array (or ChunkedArray), or any Arrow column
        with the PyCapsule interface (polars, DuckDB, nanoarrow), in gives a pyarrow
        array out, with no Python object per row: ``fixed_size_binary`` for raw
        output, ``string`` for base64 and hex; nulls stay null.
        """
        array = _arrow.as_arrow(values)
        if array is not None:
            return self._arrow(array, version, threads)
        return super().compute_batch(values, version=version, threads=threads)

    def _arrow_type(self, large: bool) -> Any:
        import pyarrow as pa

        if self.encoding == "raw":
            return pa.binary((self.bits + 7) // 8)
        return pa.large_string() if large else pa.string()

    def _arrow(self, array: Any, version: int | None, threads: int | None) -> Any:
        import pyarrow as pa

        if isinstance(array, pa.ChunkedArray):
            large = array.type in (pa.large_binary(), pa.large_string())
            return pa.chunked_array(
                [self._arrow(chunk, version, threads) for chunk in array.chunks], type=self._arrow_type(large)
            )
        out_type = self._arrow_type(_arrow.is_large(array.type))
        if self._prepares:
            # Normalizers and compound fields take Python values.
            return pa.array(
                super().compute_batch(array.to_pylist(), version=version, threads=threads), out_type
            )
        offsets, data, validity = _arrow.buffers(array)
        out, out_offsets, out_validity, nulls = self._column(offsets, data, validity, version, threads)
        return _arrow.column(out_type, len(array), out_offsets, out, out_validity, nulls)

    @overload
    def reindex_batch(
        self,
        box: Box[Any],
        messages: list[Any] | tuple[Any, ...],
        contexts: Sequence[bytes | str] | bytes | str | None = None,
        *,
        errors: Errors = "raise",
        threads: int | None = None,
    ) -> list[_O | None]: ...

    @overload
    def reindex_batch(
        self,
        box: Box[Any],
        messages: Sequence[bytes | str] | Any,
        contexts: Sequence[bytes | str] | bytes | str | None = None,
        *,
        errors: Errors = "raise",
        threads: int | None = None,
    ) -> Any: ...

    def reindex_batch(
        self,
        box: Box[Any],
        messages: Sequence[bytes | str] | Any,
        contexts: Sequence[bytes | str] | bytes | str | None = None,
        *,
        errors: Errors = "raise",
        threads: int | None = None,
    ) -> Any:
        """The index values, under the active key version, of the values that
        ``box`` decrypts from ``messages``: the batch step of a re-index job.

        Both steps are native batches over all cores. With ``errors="return"``
        a message that fails to decrypt gives ``None``. A list of messages gives a
        list; an Arrow column (as for `compute_batch`) gives a pyarrow column. Listed
        plaintexts pass through Python ``bytes``, which cannot be wiped: see docs/search.md.
        """
        if self.fields is not None:
            raise TypeError("reindex_batch takes one encrypted column; a compound index needs compute_batch")
        values = box.decrypt_batch(messages, contexts, errors=errors, threads=threads)
        return self.compute_batch(values, threads=threads)


@dataclasses.dataclass(frozen=True)
class BitsPlan:
    """What :func:`plan_bits` recommends, and why."""

    bits: int
    """The fewest bits whose expected false positives per lookup are at most the wanted number."""
    false_positives: float
    """Expected false positives per lookup with ``bits``: about rows / 2**bits."""
    min_bits: int
    """Fewer bits than this make lookups return more than √rows rows (CipherSweet's lower bound)."""
    max_bits: int
    """More bits than this leave fewer than 2 rows per index value, with every index of the field
    combined: the index then singles out rows (CipherSweet's upper bound)."""
    coincidences: float
    """Rows per index value with ``bits``, all indexes of the field combined."""

    @property
    def safe(self) -> bool:
        """Whether ``bits`` is within CipherSweet's range [min_bits, max_bits]."""
        return self.min_bits <= self.bits <= self.max_bits


def plan_bits(
    rows: int,
    false_positives: float,
    *,
    other_bits: Sequence[int] = (),
    input_bits: int | None = None,
) -> BitsPlan:
    """Recommend how many bits a blind index should keep.

    ``rows`` is the expected number of rows, ``false_positives`` how many rows
    with another value a lookup may return (they are filtered out after
    decryption). ``other_bits`` are the sizes of the other blind indexes on the
    same field, ``input_bits`` the entropy of the field's values (for instance
    1 for a boolean, about 20 for a birth date): both limit what an index can
    distinguish. The range ``min_bits..max_bits`` is CipherSweet's planner's:
    at least 2 rows per index value (k-anonymity) and at most √rows.
    """
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
        raise ValueError("rows must be a positive int")
    if not (isinstance(false_positives, int | float) and false_positives > 0):
        raise ValueError("false_positives must be a positive number")
    if input_bits is not None and input_bits < 1:
        raise ValueError("input_bits must be at least 1")
    if any(b < 1 for b in other_bits):
        raise ValueError("other_bits must all be at least 1")
    k = input_bits if input_bits is not None else 1 << 30
    spent = sum(min(b, k) for b in other_bits)

    def coincidences(bits: int) -> float:
        return math.ldexp(float(rows), -(spent + min(bits, k)))

    wanted = rows / false_positives
    bits = 1 if wanted <= 2 else math.ceil(math.log2(wanted))
    bits = min(max(bits, 1), 256)
    # CipherSweet's FieldIndexPlanner::recommend, ported.
    sqrt_rows = math.sqrt(rows)
    boundary = max(2.0, coincidences(257))
    low: int | None = None
    high: int | None = None
    for candidate in range(256, 0, -1):
        c = coincidences(candidate)
        if high is None and c > boundary:
            high = candidate + 1
        if 2 <= c <= sqrt_rows:
            low = candidate
    high = high if high is not None else min(256, k)
    low = min(low if low is not None else 1, high)
    return BitsPlan(
        bits=bits,
        false_positives=math.ldexp(float(rows), -min(bits, k)),
        min_bits=low,
        max_bits=high,
        coincidences=coincidences(bits),
    )
