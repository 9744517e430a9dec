"""What a table job needs from a database, and the parts every database shares.

A backend describes a table (its key and the kinds of its columns), counts, reads
pages of pending rows in key order (keyset pagination: ``key > last`` and
``LIMIT``), and writes a batch of rows in one transaction as a compare-and-swap.
The job (``_job``) holds all the policy; a backend only speaks its database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sealbox.tables._headers import Headers

Kind = Literal["binary", "text"]


@dataclass(frozen=True)
class Layout:
    """A table as a job sees it: its single-column key and the columns it works on."""

    table: str
    key: str
    columns: tuple[str, ...]
    # What each column stores: "binary" (BLOB, bytea, VARBINARY) or "text".
    kinds: tuple[Kind, ...]
    # Columns read with each row and never written (another library's IV column, say).
    extra: tuple[str, ...] = ()

    @property
    def read(self) -> tuple[str, ...]:
        """The columns a page reads after the key: the job's, then the extra ones."""
        return self.columns + self.extra


@dataclass(frozen=True)
class Pending:
    """Which values of one column still need the job: rotation (a value not under one
    of ``done``'s headers), encryption (``done`` is None: a value that does not look
    like a message) or decryption (``messages``: a value that looks like one). NULL
    never needs anything."""

    column: str
    kind: Kind
    done: Headers | None
    messages: bool = False


@dataclass
class Writes:
    """Rows whose write changes the same columns: for each row its key, and for each
    changed column (``names``) the value read and the new value, column by column."""

    names: tuple[str, ...]
    keys: list[Any]
    old: list[list[Any]]
    new: list[list[Any]]

    def params(self, *, compare: bool = True) -> list[tuple[Any, ...]]:
        """``(*new, key, *old)`` per row: an UPDATE's SET values, key and compare-and-swap
        (``(*new, key)`` without the compare)."""
        if not compare:
            return list(zip(*self.new, self.keys, strict=True))
        return list(zip(*self.new, self.keys, *self.old, strict=True))


class RowRefused(Exception):
    """A batch's write broke a constraint of the table (unique, check, a trigger's refusal:
    the driver's IntegrityError, translated, its text free of values); the batch was rolled
    back."""


# Called inside the write's transaction with the rows written, re-read; raises to roll back.
Check = Callable[[list[tuple[Any, ...]]], None]


class Backend(Protocol):
    name: str

    @property
    def concurrent_reads(self) -> bool:
        """Whether ``page`` may run on another thread while ``write`` runs (it reads on a
        connection of its own)."""
        ...

    def layout(self, table: str, columns: Sequence[str], key: str | None, *, writing: bool) -> Layout: ...

    def survey(
        self, layout: Layout, pending: Pending, known: Headers | None, *, count: bool
    ) -> tuple[int, int, bool]:
        """The table's rows; with ``count``, the rows with a pending value (else 0); and,
        with ``known``, whether a value has a header under none of ``known``'s key ids."""
        ...

    def prefixes(self, layout: Layout, column: str) -> list[tuple[bytes | str | None, int]]:
        """Rows per header prefix of one column: the first 6 bytes of a binary value,
        the first 8 characters of a text one, None for NULL."""
        ...

    def page(
        self, layout: Layout, pending: Sequence[Pending], after: Any, first: bool, limit: int
    ) -> tuple[list[tuple[Any, ...]], Any]:
        """Up to ``limit`` rows ``(key, *columns)`` with a pending value, after ``after``
        (from the start when ``first``), in key order; and a token for ``write``."""
        ...

    def write(self, layout: Layout, writes: Sequence[Writes], check: Check | None, read: Any) -> int:
        """Write every row in one transaction; a row is written only where every changed
        column still holds the value read (``read``: the token of the page the rows came
        from). Returns the rows written."""
        ...

    def close(self) -> None: ...


def quote(name: str, mark: str = '"') -> str:
    """An SQL identifier, quoted (names come from the database's own catalog)."""
    return mark + name.replace(mark, mark * 2) + mark


def missing(what: str, names: Sequence[str], table: str, have: Sequence[str]) -> ValueError:
    listed = ", ".join(have) or "none"
    return ValueError(f"table {table} has no {what} {', '.join(names)} (its columns: {listed})")


def no_key(table: str, primary: Sequence[str]) -> ValueError:
    if not primary:
        return ValueError(
            f"table {table} has no primary key: pass key_column (--key-column) naming a unique, "
            "non-null column to page by"
        )
    return ValueError(
        f"table {table}'s primary key has {len(primary)} columns ({', '.join(primary)}); a table job "
        "pages by one: pass key_column (--key-column) naming a unique, non-null column"
    )


def not_unique(table: str, key: str) -> ValueError:
    return ValueError(
        f"{table}.{key} is neither the primary key nor under a unique index: a job pages by a unique "
        "key (add a unique index, or name the primary key)"
    )


def unsupported(table: str, column: str, declared: str, *, writing: bool) -> ValueError:
    how = (
        "add a BLOB/bytea (or text) column beside it, copy the values into it, and encrypt that"
        if writing
        else "encrypted values live in a binary (BLOB, bytea, VARBINARY) or text column"
    )
    return ValueError(f"{table}.{column} is {declared or 'untyped'}, which cannot hold messages: {how}")
