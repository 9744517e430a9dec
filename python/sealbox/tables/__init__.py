"""Jobs over tables in real databases: rotate a column's messages to the active key,
encrypt a plaintext column (or move one off another library's format), decrypt one, and
count where a column stands.

    import sealbox
    from sealbox import tables

    keys = sealbox.Keyring.from_env("SEALBOX_KEYS")          # the highest id encrypts
    report = tables.rotate("app.sqlite3", "users", ["email", "phone"], keys, context="row")
    report.rotated, report.failed                            # rows written; (key, column, reason)
    tables.status("app.sqlite3", "users", "email").by_key    # {1: 0, 2: 1_000_000}

A job reads only rows still to do (a SQL predicate on the message header: no trial
decryption), a batch at a time in key order; each batch is one transaction and each
row's write a compare-and-swap, so a job killed at any moment loses nothing and a
second run finishes it. ``db`` is a SQLite path, ``sqlite:///...``,
``postgresql://...`` (psycopg 3, with COPY), any other SQLAlchemy URL, or an open
``sqlite3``/psycopg connection or SQLAlchemy engine. See docs/tables.md.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from sealbox._errors import SealboxError
from sealbox.tables._backend import Backend, Layout
from sealbox.tables._headers import parse_prefix
from sealbox.tables._job import Boxes as _Boxes
from sealbox.tables._job import (
    ContextMode,
    Failure,
    Job,
    Keys,
    Progress,
    Report,
    TableJobError,
    run,
)

__all__ = [
    "ColumnStatus",
    "ContextMode",
    "DatabaseError",
    "Failure",
    "Report",
    "TableJobError",
    "decrypt",
    "encrypt",
    "rotate",
    "status",
]

DEFAULT_BATCH = 10_000


def rotate(
    db: Any,
    table: str,
    columns: str | Sequence[str],
    keys: Keys,
    *,
    key_column: str | None = None,
    context: ContextMode | Mapping[str, ContextMode] = "column",
    batch_size: int = DEFAULT_BATCH,
    dry_run: bool = False,
    verify: bool = False,
    strict: bool = False,
    progress: Progress | None = None,
    row_key: Callable[[Any], Any] | None = None,
) -> Report:
    """Re-encrypt every message of ``columns`` not under the active key of ``keys``.

    ``keys`` is a ``Keyring`` (each message keeps its suite: deterministic stays
    deterministic, envelope messages are re-wrapped, text stays text), an
    ``EnvelopeKeyProvider`` (envelope messages are re-wrapped) or a ``Box`` (its own
    kind of message only). ``context``: ``"column"`` is ``column_context(table,
    column)``, ``"row"`` adds the row's key, ``"none"`` is no context; or a mapping
    that gives each column its own.

    A value that does not decrypt is reported in ``Report.failed`` with its row's key
    and the reason, and the job goes on (``strict=True`` stops at the first, raising
    ``TableJobError``). ``dry_run`` writes nothing; ``verify`` re-reads every row
    written, in its transaction, and decrypts it. ``progress(done, total)`` is called
    after each batch. ``row_key`` turns a key as the database returns it into the key the
    application binds row contexts to (a UUID stored as text, say). ``Report.remaining`` is
    what is still pending when the job ends: retire an old key only when it is 0.
    """
    with _backend(db) as backend:
        names = _columns(columns)
        layout = backend.layout(_table(table), names, key_column, writing=False)
        job = Job("rotate", _Boxes(keys), layout, context, row_key=row_key)
        return run(
            backend,
            job,
            batch_size=batch_size,
            dry_run=dry_run,
            verify=verify,
            strict=strict,
            progress=progress,
        )


def encrypt(
    db: Any,
    table: str,
    columns: str | Sequence[str],
    keys: Keys,
    *,
    key_column: str | None = None,
    context: ContextMode | Mapping[str, ContextMode] = "column",
    deterministic: bool = False,
    algorithm: str | None = None,
    codec: bool = True,
    convert: Mapping[str, Callable[..., Any]] | None = None,
    row_columns: Sequence[str] = (),
    row_key: Callable[[Any], Any] | None = None,
    batch_size: int = DEFAULT_BATCH,
    dry_run: bool = False,
    verify: bool = False,
    strict: bool = False,
    progress: Progress | None = None,
) -> Report:
    """Encrypt the plaintext values of ``columns`` in place, under the active key.

    A value is encoded with ``sealbox.codecs`` (what the ORM integrations read;
    ``codec=False`` takes text as UTF-8 and bytes as they are) and written as a
    message in the column's form (text for text columns, binary for BLOB/bytea).
    Values that already look like messages are left alone, so a job killed and run
    again never encrypts a value twice. ``convert`` maps a column to a function that turns
    a stored value into the value to encode (legacy text kept as bytes, say), called with
    the stored value and then the values of ``row_columns`` in the same row (another
    library's IV column, say). A column with ``convert`` is moved off another format:
    each value not under the active key is read with ``convert``, except messages, which
    are rotated to the active key (a value of the other format that happens to start like
    a message is told apart by not opening). ``convert`` raises ``ValueError``, ``TypeError``
    or ``DecryptionError`` for a value it cannot read: the row is reported and left as it is. The
    other options are ``rotate``'s.
    """
    with _backend(db) as backend:
        names = _columns(columns)
        layout = _layout(backend, table, names, key_column, row_columns, writing=True)
        job = Job(
            "encrypt",
            _Boxes(keys),
            layout,
            context,
            codec=codec,
            convert=dict(convert or {}),
            row_key=row_key,
            deterministic=deterministic,
            algorithm=algorithm,
        )
        return run(
            backend,
            job,
            batch_size=batch_size,
            dry_run=dry_run,
            verify=verify,
            strict=strict,
            progress=progress,
        )


@dataclass(frozen=True)
class ColumnStatus:
    """Where a column stands, from its messages' headers alone (nothing is decrypted)."""

    table: str
    column: str
    rows: int
    null: int
    by_key: dict[int, int] = field(default_factory=dict)
    by_suite: dict[str, int] = field(default_factory=dict)
    not_encrypted: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "column": self.column,
            "rows": self.rows,
            "null": self.null,
            "by_key": {str(k): n for k, n in sorted(self.by_key.items())},
            "by_suite": dict(sorted(self.by_suite.items())),
            "not_encrypted": self.not_encrypted,
        }


def status(db: Any, table: str, column: str) -> ColumnStatus:
    """Count a column's rows: NULL, by key id and suite, and values that are not messages."""
    from sealbox.tables._headers import SUITES

    with _backend(db) as backend:
        layout = backend.layout(_table(table), _columns(column), None, writing=False)
        rows = null = other = 0
        by_key: dict[int, int] = {}
        by_suite: dict[str, int] = {}
        for prefix, n in backend.prefixes(layout, column):
            rows += n
            if prefix is None:
                null += n
                continue
            found = parse_prefix(prefix)
            if found is None:
                other += n
                continue
            by_key[found[1]] = by_key.get(found[1], 0) + n
            by_suite[SUITES[found[0]]] = by_suite.get(SUITES[found[0]], 0) + n
        return ColumnStatus(table, column, rows, null, by_key, by_suite, other)


def decrypt(
    db: Any,
    table: str,
    columns: str | Sequence[str],
    keys: Keys,
    *,
    key_column: str | None = None,
    context: ContextMode | Mapping[str, ContextMode] = "column",
    codec: bool = True,
    convert: Mapping[str, Callable[[Any], Any]] | None = None,
    row_key: Callable[[Any], Any] | None = None,
    batch_size: int = DEFAULT_BATCH,
    dry_run: bool = False,
    strict: bool = False,
    progress: Progress | None = None,
) -> Report:
    """Replace every message of ``columns`` by what it holds: ``encrypt`` backwards.

    Each message is decrypted (and decoded with ``sealbox.codecs``; ``codec=False`` keeps
    the plaintext bytes) and written as the column stores plaintext: text in text
    columns, bytes in binary ones. ``convert`` maps a column to a function that turns the
    decrypted value into the value to store instead, for a column that must go back to
    another library's format (``sealbox.compat.rails.Encryptor.encrypt``, say). Values that
    are not messages are left alone, so a job killed and run again finishes the column.
    The other options are ``rotate``'s.
    """
    with _backend(db) as backend:
        names = _columns(columns)
        layout = _layout(backend, table, names, key_column, (), writing=True)
        job = Job(
            "decrypt",
            _Boxes(keys),
            layout,
            context,
            codec=codec,
            convert=dict(convert or {}),
            row_key=row_key,
        )
        return run(
            backend,
            job,
            batch_size=batch_size,
            dry_run=dry_run,
            verify=False,
            strict=strict,
            progress=progress,
        )


def _layout(
    backend: Backend, table: str, names: list[str], key: str | None, extra: Sequence[str], *, writing: bool
) -> Layout:
    """The table's layout for the job's columns, with ``extra`` columns read along."""
    extra = [extra] if isinstance(extra, str) else list(extra)
    if not all(isinstance(c, str) and c for c in extra):
        raise ValueError("row_columns must name columns")
    both = set(names) & set(extra)
    if both:
        raise ValueError(f"{', '.join(sorted(both))}: a column the job writes cannot be a row column too")
    found = backend.layout(_table(table), names + extra, key, writing=writing)
    n = len(names)
    return replace(found, columns=found.columns[:n], kinds=found.kinds[:n], extra=found.columns[n:])


def _table(table: str) -> str:
    if not isinstance(table, str) or not table:
        raise ValueError("table must name a table")
    return str(table)  # a str subclass (SQLAlchemy's quoted_name) as a plain str


def _columns(columns: str | Sequence[str]) -> list[str]:
    names = (
        [str(columns)] if isinstance(columns, str) else [str(c) if isinstance(c, str) else c for c in columns]
    )
    if not names or not all(isinstance(c, str) and c for c in names):
        raise ValueError("columns must name at least one column")
    if len(set(names)) != len(names):
        raise ValueError("a column is named twice")
    return names


class DatabaseError(SealboxError):
    """The database refused a job's statement. The message names the error's class (and
    SQL state or code), never the statement's parameters, which hold values."""


@contextmanager
def _backend(db: Any) -> Iterator[Backend]:
    backend = _open(db)
    try:
        yield backend
    except Exception as exc:
        described = _driver_error(exc)
        if described is None:
            raise
        raise DatabaseError(f"the database refused a statement of the job: {described}") from None
    finally:
        backend.close()


def _driver_error(exc: BaseException) -> str | None:
    """A database driver's error, described without its parameters; None for anything else."""
    module = type(exc).__module__
    if isinstance(exc, sqlite3.Error):
        return f"{type(exc).__name__}: {exc}"  # SQLite's texts name tables and columns, not values
    if module.startswith("psycopg"):
        state = getattr(exc, "sqlstate", None)
        return f"{type(exc).__name__}" + (f" (SQLSTATE {state})" if state else "")
    if module.startswith("sqlalchemy"):
        orig = getattr(exc, "orig", None)
        if orig is not None and isinstance(orig, sqlite3.Error):
            return f"{type(orig).__name__}: {orig}"
        code = getattr(orig, "args", (None,))[0] if orig is not None else None
        name = type(orig).__name__ if orig is not None else type(exc).__name__
        return name + (f" (code {code})" if isinstance(code, int) else "")
    return None


def _open(db: Any) -> Backend:
    """The backend for a database given as a path, a URL or an open connection."""
    from sealbox.tables._sqlite import SqliteBackend

    if isinstance(db, sqlite3.Connection):
        return SqliteBackend(db)
    if isinstance(db, os.PathLike):
        db = os.fspath(db)
    if isinstance(db, str):
        if db.startswith("sqlite:///"):
            return SqliteBackend(_existing(db[len("sqlite:///") :]))
        if db.startswith(("postgresql://", "postgres://")):
            from sealbox.tables._postgres import PostgresBackend

            return PostgresBackend(db)
        if "://" in db:
            from sealbox.tables._alchemy import AlchemyBackend

            return AlchemyBackend(db)
        return SqliteBackend(_existing(db))
    module = type(db).__module__
    if module.startswith("psycopg2"):
        raise TypeError(
            "a psycopg2 connection: sealbox.tables speaks psycopg 3 (pip install 'psycopg[binary]')"
        )
    if module.startswith("psycopg"):
        from sealbox.tables._postgres import PostgresBackend

        return PostgresBackend(db)
    if module.startswith("sqlalchemy"):
        from sealbox.tables._alchemy import AlchemyBackend

        return AlchemyBackend(db)
    raise TypeError(
        "db must be a SQLite path, a database URL, a sqlite3 or psycopg connection or a SQLAlchemy "
        f"engine, not {type(db).__name__}"
    )


def _existing(path: str) -> str:
    if path != ":memory:" and not os.path.exists(path):
        raise ValueError(f"no SQLite database at {path}")
    return path
