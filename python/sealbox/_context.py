"""The canonical context of a column, and of one row's value in it (docs/codecs.md)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sealbox import codecs

__all__ = ["column_context"]

_PREFIX = b"sealbox/v1/column\x00"
_ROW_TYPES = (int, str, bytes, uuid.UUID)


def _field(part: bytes, what: str) -> bytes:
    if len(part) > 0xFFFFFFFF:
        raise ValueError(f"{what} is longer than 2**32 - 1 bytes")
    return len(part).to_bytes(4, "big") + part


def _name(name: object, what: str) -> bytes:
    if type(name) is not str:
        raise TypeError(f"{what} must be a str, not {type(name).__name__}")
    if not name:
        raise ValueError(f"{what} must not be empty")
    try:
        return _field(name.encode("utf-8"), what)
    except UnicodeEncodeError:
        pass
    raise ValueError(f"{what} has a lone surrogate: it is not text UTF-8 can encode")


def column_context(table: str, column: str, row: int | str | bytes | uuid.UUID | None = None) -> bytes:
    """The context that binds a value to ``table``'s ``column`` and, with ``row``, to that row.

    Pass it as ``context=``: a value sealed for one column (or one row) fails to
    decrypt in another::

        context = sealbox.column_context("users", "email", row=42)
        message = box.encrypt(codecs.encode("alice@example.org"), context=context)

    ``b"sealbox/v1/column\\x00"``, then the UTF-8 names of the table and the
    column, then ``codecs.encode(row)`` when ``row`` is given, each after its
    length in 4 bytes, big-endian: no two argument lists give the same bytes.
    Names are used exactly as given (no case folding, no quoting). ``row`` is
    the primary key as an int (not bool), str, bytes or uuid.UUID, typed as the
    database returns it: ``42`` and ``"42"`` are different rows.
    """
    context = _PREFIX + _name(table, "table") + _name(column, "column")
    if row is None:
        return context
    if type(row) not in _ROW_TYPES:
        raise TypeError(
            f"row must be the primary key as an int, str, bytes or uuid.UUID, not {type(row).__name__}"
        )
    return context + _field(codecs.encode(row), "row")


def row_parts(rows: Sequence[int | str | bytes | uuid.UUID]) -> list[bytes]:
    """The part each row adds to its column's context: ``column_context(t, c, row=r)`` is
    ``column_context(t, c) + part``. Integer keys (the common case) are encoded inline."""
    out: list[bytes] = []
    append = out.append
    heads: dict[int, bytes] = {}
    for row in rows:
        if type(row) is int:
            size = (row if row >= 0 else ~row).bit_length() // 8 + 1
            head = heads.get(size)
            if head is None:
                head = heads[size] = (size + 1).to_bytes(4, "big") + b"\x04"
            append(head + row.to_bytes(size, "big", signed=True))
        else:
            if type(row) not in _ROW_TYPES:
                raise TypeError(
                    "row must be the primary key as an int, str, bytes or uuid.UUID, "
                    f"not {type(row).__name__}"
                )
            append(_field(codecs.encode(row), "row"))
    return out


def row_contexts(table: str, column: str, rows: Sequence[int | str | bytes | uuid.UUID]) -> list[bytes]:
    """``[column_context(table, column, row=r) for r in rows]``, the names encoded once."""
    base = column_context(table, column)
    return [base + part for part in row_parts(rows)]
