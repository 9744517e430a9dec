"""Encrypt, decrypt and rotate columns of Arrow tables: the kernel the engine adapters share.

    import sealbox
    from sealbox import arrow

    box = sealbox.Box(sealbox.Keyring.from_env())
    table = arrow.encrypt_table(table, ["email", "phone"], box,
                                contexts=arrow.ColumnContexts("users", key_column="id"))
    table = arrow.rotate_table(table, ["email", "phone"], box,
                               contexts=arrow.ColumnContexts("users", key_column="id"))

Each column goes through the Box's Arrow batch path (``Box.encrypt_batch`` and
the others with an Arrow column): one native call per chunk, no Python object
per value, nulls kept. A ``pyarrow.Table`` gives a Table, a ``RecordBatch`` a
RecordBatch; polars and DuckDB frames (anything with ``__arrow_c_stream__``)
come in through the Arrow C interface and give a pyarrow Table. The other
columns are passed through untouched. ``sealbox.dask`` and ``sealbox.spark``
run these functions on each partition (docs/scaling.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from sealbox._box import Box
from sealbox._context import column_context, row_contexts
from sealbox._errors import DecryptionError
from sealbox._spec import BoxSpec

if TYPE_CHECKING:
    from sealbox._native import _Buffer as Buffer

__all__ = ["ColumnContexts", "FromColumn", "decrypt_table", "encrypt_table", "rotate_table"]

Errors = Literal["raise", "return"]
Mode = Literal["auto", "reencrypt"]


@dataclass(frozen=True)
class ColumnContexts:
    """Bind each value to its column: ``column_context(table, column)``; with
    ``key_column``, to its row too: ``column_context(table, column, row=<key>)``, the
    key read from that column (int, str, bytes or UUID), as the table jobs and the
    ORM columns bind them."""

    table: str
    key_column: str | None = None


@dataclass(frozen=True)
class FromColumn:
    """Each row's context is the value of column ``name`` (binary or string) in that row."""

    name: str


#: One context for all values, one per row (a sequence or Arrow column), a rule
#: (`ColumnContexts`, `FromColumn`), or a mapping of each encrypted column to one of those.
ContextRule: TypeAlias = "Buffer | str | ColumnContexts | FromColumn | Sequence[Any] | None"
Contexts: TypeAlias = "ContextRule | Mapping[str, ContextRule]"


def encrypt_table(
    table: Any,
    columns: str | Sequence[str],
    box: Box[Any] | BoxSpec,
    *,
    contexts: Contexts = None,
    errors: Errors = "raise",
    threads: int | None = None,
) -> Any:
    """``table`` with each of ``columns`` encrypted (binary or string values; nulls stay null)."""
    return apply("encrypt", table, columns, box, contexts, "auto", errors, threads)


def decrypt_table(
    table: Any,
    columns: str | Sequence[str],
    box: Box[Any] | BoxSpec,
    *,
    contexts: Contexts = None,
    errors: Errors = "raise",
    threads: int | None = None,
) -> Any:
    """``table`` with each of ``columns`` decrypted to binary. A message that fails raises
    `DecryptionError` naming its column and row (``errors="raise"``), or becomes a null
    (``errors="return"``)."""
    return apply("decrypt", table, columns, box, contexts, "auto", errors, threads)


def rotate_table(
    table: Any,
    columns: str | Sequence[str],
    box: Box[Any] | BoxSpec,
    *,
    contexts: Contexts = None,
    mode: Mode = "auto",
    errors: Errors = "raise",
    threads: int | None = None,
) -> Any:
    """``table`` with each of ``columns`` re-encrypted (or re-wrapped) to the active key,
    as ``Box.rotate_batch`` does it: ``mode="auto"`` leaves current messages as they are.
    A Box of a direct suite rotates repeatably (``rotate_batch(repeatable=True)``): the
    same table gives the same bytes, so an engine's retried task writes what the first
    attempt wrote. An envelope Box draws fresh data keys."""
    return apply("rotate", table, columns, box, contexts, mode, errors, threads)


def apply(
    op: str,
    table: Any,
    columns: str | Sequence[str],
    box: Box[Any] | BoxSpec,
    contexts: Contexts,
    mode: str,
    errors: str,
    threads: int | None,
    *,
    where: str = "",
    first_row: int = 0,
) -> Any:
    """Run ``op`` over ``columns`` of ``table``. A failure is reported as ``f"{where}row
    {first_row + i}, column {c!r}"``: the adapters say which partition, and where in it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', not {errors!r}")
    names = column_names(columns)
    if isinstance(box, BoxSpec):
        box = box.build()
    elif not isinstance(box, Box):
        raise TypeError(f"box must be a sealbox.Box or a sealbox.BoxSpec, not {type(box).__name__}")
    data = as_table(table)
    fields = list(data.schema)
    arrays = list(data.columns)
    for name in names:
        index = data.schema.get_field_index(name)
        if index < 0:
            raise KeyError(f"no column {name!r} in the table (it has {data.schema.names})")
        values = arrays[index]
        ctx = _contexts(data, name, contexts)
        method = getattr(box, f"{op}_batch")
        extra: dict[str, Any] = {}
        if op == "rotate":
            extra = {"mode": mode, "repeatable": box.algorithm != "envelope"}
        try:
            out = method(values, ctx, errors="return", threads=threads, **extra)
        except TypeError as exc:
            raise TypeError(f"column {name!r}: {exc}") from None
        if errors == "raise" and out.null_count > values.null_count:
            failed = pc.and_(pc.is_null(out), pc.is_valid(values))
            row = pc.index(failed, True).as_py()
            raise DecryptionError(f"{where}row {first_row + row}, column {name!r}: failed to decrypt")
        fields[index] = pa.field(name, out.type, nullable=True, metadata=fields[index].metadata)
        arrays[index] = out
    schema = pa.schema(fields, metadata=data.schema.metadata)
    if isinstance(data, pa.RecordBatch):
        return pa.RecordBatch.from_arrays(arrays, schema=schema)
    return pa.Table.from_arrays(arrays, schema=schema)


def job_columns(
    spec: Any,
    columns: str | Sequence[str],
    contexts: Contexts,
    errors: str,
    have: Sequence[str],
    *,
    workers: str,
) -> list[str]:
    """What an engine adapter checks before it builds its (lazy) job: a spec, not a Box;
    the ``errors`` mode; ``columns`` and the context columns among the frame's ``have``.
    Returns the column names."""
    if not isinstance(spec, BoxSpec):
        raise TypeError(
            f"spec must be a sealbox.BoxSpec, not {type(spec).__name__}: a Box holds keys and is never "
            f"shipped to {workers}; a spec says where each one finds them"
        )
    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', not {errors!r}")
    names = column_names(columns)
    for name in [*names, *context_columns(contexts)]:
        if name not in have:
            raise KeyError(f"no column {name!r} in the DataFrame (it has {list(have)})")
    return names


def column_names(columns: str | Sequence[str]) -> list[str]:
    names = [columns] if isinstance(columns, str) else list(columns)
    if not names or not all(isinstance(c, str) for c in names):
        raise TypeError("columns must be a column name or a non-empty list of them")
    if len(set(names)) != len(names):
        raise ValueError(f"columns names a column twice: {names}")
    return names


def context_columns(contexts: Contexts) -> set[str]:
    """The columns that contexts are read from (besides those encrypted)."""
    rules = contexts.values() if isinstance(contexts, Mapping) else [contexts]
    out: set[str] = set()
    for rule in rules:
        if isinstance(rule, FromColumn):
            out.add(rule.name)
        elif isinstance(rule, ColumnContexts) and rule.key_column is not None:
            out.add(rule.key_column)
    return out


def as_table(obj: Any) -> Any:
    """``obj`` as a pyarrow Table or RecordBatch: those as they are, an Arrow stream
    (polars, DuckDB: ``__arrow_c_stream__``) as a Table, an Arrow struct array export
    (``__arrow_c_array__``) as a RecordBatch."""
    try:
        import pyarrow as pa
    except ImportError as e:
        raise ImportError("sealbox.arrow reads tables through pyarrow: pip install 'sealbox[arrow]'") from e
    if isinstance(obj, pa.Table | pa.RecordBatch):
        return obj
    kind = type(obj)
    if hasattr(kind, "__arrow_c_stream__"):
        return pa.table(obj)
    if hasattr(kind, "__arrow_c_array__"):
        return pa.record_batch(obj)
    raise TypeError(
        "expected a pyarrow Table or RecordBatch, or a frame with the Arrow C stream interface "
        f"(polars, DuckDB), not {kind.__module__}.{kind.__qualname__}"
    )


def _contexts(data: Any, column: str, contexts: Contexts) -> Any:
    """The contexts of ``column``'s values, as a batch call takes them."""
    rule: Any = contexts
    if isinstance(contexts, Mapping):
        if column not in contexts:
            raise KeyError(f"contexts is a mapping without column {column!r}: name every column")
        rule = contexts[column]
    if isinstance(rule, FromColumn):
        if data.schema.get_field_index(rule.name) < 0:
            raise KeyError(f"no context column {rule.name!r} in the table (it has {data.schema.names})")
        return data.column(rule.name)
    if isinstance(rule, ColumnContexts):
        if rule.key_column is None:
            return column_context(rule.table, column)
        if data.schema.get_field_index(rule.key_column) < 0:
            raise KeyError(f"no key column {rule.key_column!r} in the table (it has {data.schema.names})")
        keys = data.column(rule.key_column)
        if keys.null_count:
            import pyarrow.compute as pc

            row = pc.index(pc.is_null(keys), True).as_py()
            raise ValueError(f"key column {rule.key_column!r} is null in row {row}: it cannot bind a row")
        return row_contexts(rule.table, column, keys.to_pylist())
    return rule
