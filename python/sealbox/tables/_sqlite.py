"""SQLite, the embedded default, through the standard library's sqlite3."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from sealbox.tables._backend import (
    Check,
    Kind,
    Layout,
    Pending,
    Writes,
    missing,
    no_key,
    not_unique,
    quote,
    unsupported,
)
from sealbox.tables._headers import MIN_BYTES, MIN_CHARS, SUITES, TEXT_START, TEXT_THIRD

# A value's storage class decides its form: a BLOB holds binary messages, TEXT text ones.
_SUITE_BYTES = ", ".join(f"X'{s:02x}'" for s in SUITES)
_THIRD_CHARS = ", ".join(f"'{t}'" for t in TEXT_THIRD)
_BINARY_LOOKS = (
    f"(typeof({{c}}) = 'blob' AND length({{c}}) >= {MIN_BYTES} AND substr({{c}}, 1, 1) = X'01'"
    f" AND substr({{c}}, 2, 1) IN ({_SUITE_BYTES}))"
)
_TEXT_LOOKS = (
    f"(typeof({{c}}) = 'text' AND length({{c}}) >= {MIN_CHARS} AND substr({{c}}, 1, 2) = '{TEXT_START}'"
    f" AND substr({{c}}, 3, 1) IN ({_THIRD_CHARS}))"
)


class SqliteBackend:
    name = "sqlite"

    def __init__(self, target: str | sqlite3.Connection) -> None:
        if isinstance(target, sqlite3.Connection):
            self.conn, self._owned = target, False
        else:
            self.conn, self._owned = sqlite3.connect(target, isolation_level=None), True
        # Wait for the application's writers instead of failing on a locked database.
        self.conn.execute("PRAGMA busy_timeout = 30000")

    def close(self) -> None:
        if self._owned:
            self.conn.close()

    def layout(self, table: str, columns: Sequence[str], key: str | None, *, writing: bool) -> Layout:
        info = self.conn.execute(f"PRAGMA table_info({quote(table)})").fetchall()
        if not info:
            raise ValueError(f"there is no table {table} in this database")
        declared = {row[1]: row[2] or "" for row in info}
        absent = [c for c in columns if c not in declared]
        if absent:
            raise missing("column" if len(absent) == 1 else "columns", absent, table, list(declared))
        primary = [row[1] for row in sorted(info, key=lambda r: r[5]) if row[5]]
        if key is None:
            if len(primary) != 1:
                raise no_key(table, primary)
            key = primary[0]
        elif key not in declared:
            raise missing("key column", [key], table, list(declared))
        elif primary != [key] and not self._unique(table, key):
            raise not_unique(table, key)
        if key in columns:
            raise ValueError(f"{table}.{key} is the key the job pages by; it cannot be encrypted")
        kinds: list[Kind] = []
        for column in columns:
            kind = _kind(declared[column])
            if kind is None:
                raise unsupported(table, column, declared[column], writing=writing)
            kinds.append(kind)
        return Layout(table, key, tuple(columns), tuple(kinds))

    def _unique(self, table: str, key: str) -> bool:
        for index in self.conn.execute(f"PRAGMA index_list({quote(table)})").fetchall():
            partial = len(index) > 4 and index[4]
            if index[2] and not partial:
                cols = self.conn.execute(f"PRAGMA index_info({quote(index[1])})").fetchall()
                if [c[2] for c in cols] == [key]:
                    return True
        return False

    def prefixes(self, layout: Layout, column: str) -> list[tuple[bytes | str | None, int]]:
        c = quote(column)
        sql = (
            f"SELECT CASE WHEN typeof({c}) = 'blob' THEN substr({c}, 1, 6)"
            f" WHEN typeof({c}) = 'text' THEN substr({c}, 1, 8) ELSE NULL END AS p,"
            f" typeof({c}) = 'null', count(*) FROM {quote(layout.table)} GROUP BY 1, 2"
        )
        out: list[tuple[bytes | str | None, int]] = []
        for prefix, null, n in self.conn.execute(sql):
            # A number is not a message: counted with the values that are not encrypted.
            out.append((None if null else (prefix if prefix is not None else b""), int(n)))
        return out

    def page(
        self, layout: Layout, pending: Sequence[Pending], after: Any, first: bool, limit: int
    ) -> list[tuple[Any, ...]]:
        where, params = _where(pending)
        k = quote(layout.key)
        cols = ", ".join(quote(c) for c in layout.columns)
        if not first:
            where = f"{k} > ? AND ({where})"
            params = [after, *params]
        sql = f"SELECT {k}, {cols} FROM {quote(layout.table)} WHERE {where} ORDER BY {k} LIMIT ?"
        return self.conn.execute(sql, [*params, limit]).fetchall()

    def write(self, layout: Layout, writes: Sequence[Writes], check: Check | None) -> int:
        table, k = quote(layout.table), quote(layout.key)
        written = 0
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for w in writes:
                sets = ", ".join(f"{quote(n)} = ?" for n in w.names)
                cas = " AND ".join(f"{quote(n)} = ? COLLATE BINARY" for n in w.names)
                sql = f"UPDATE {table} SET {sets} WHERE {k} = ? AND {cas}"
                written += self.conn.executemany(sql, w.params()).rowcount
            if check is not None:
                check(self._reread(layout, [key for w in writes for key in w.keys]))
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return written

    def _reread(self, layout: Layout, keys: list[Any]) -> list[tuple[Any, ...]]:
        if not keys:
            return []
        k = quote(layout.key)
        cols = ", ".join(quote(c) for c in layout.columns)
        wanted = set(keys)
        rows = self.conn.execute(
            f"SELECT {k}, {cols} FROM {quote(layout.table)} WHERE {k} >= ? AND {k} <= ? ORDER BY {k}",
            (min(wanted), max(wanted)),
        )
        return [r for r in rows if r[0] in wanted]


def _kind(declared: str) -> Kind | None:
    """The form of messages a column holds, from SQLite's type affinity rules."""
    t = declared.upper()
    if "BINARY" in t or "BYTEA" in t or "BLOB" in t or not t:
        return "binary"
    if "INT" in t:
        return None
    if "CHAR" in t or "CLOB" in t or "TEXT" in t:
        return "text"
    return None  # REAL and NUMERIC affinity


def _where(pending: Sequence[Pending]) -> tuple[str, list[Any]]:
    parts, params = [], []
    for p in pending:
        c = quote(p.column)
        if p.done is None:
            looks = f"{_BINARY_LOOKS.format(c=c)} OR {_TEXT_LOOKS.format(c=c)}"
            parts.append(f"({c} IS NOT NULL AND NOT ({looks}))")
        else:
            binary = ", ".join("?" * len(p.done.binary))
            text = ", ".join("?" * len(p.done.text))
            parts.append(
                f"({c} IS NOT NULL AND NOT (substr({c}, 1, 6) IN ({binary})"
                f" OR substr({c}, 1, 8) IN ({text})))"
            )
            params += [*p.done.binary, *p.done.text]
    return " OR ".join(parts), params
