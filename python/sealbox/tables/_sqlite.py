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
    RowRefused,
    Writes,
    missing,
    no_key,
    not_unique,
    quote,
    unsupported,
)
from sealbox.tables._headers import MIN_BYTES, MIN_CHARS, TEXT_START, TEXT_THIRD, Headers

# Predicates are ranges, which SQLite checks with a comparison of the first bytes and no
# copy: every message under key k of suite s sorts in [01 s k, 01 s k+1) as a BLOB, and in
# [H, H + "~") as TEXT, H its 8-character header ("~" sorts after every base64url character).
# A value's storage class decides its form: a BLOB holds a binary message, TEXT a text one.
_TEXT_END = "~"


def _ranges(c: str, headers: Headers) -> tuple[str, list[Any]]:
    """``c`` starts with one of ``headers`` (in either form)."""
    parts: list[str] = []
    params: list[Any] = []
    for h in headers.binary:
        parts.append(f"({c} >= ? AND {c} < ?)")
        params += [h, (int.from_bytes(h, "big") + 1).to_bytes(6, "big")]
    for t in headers.text:
        parts.append(f"({c} COLLATE BINARY >= ? AND {c} COLLATE BINARY < ?)")
        params += [t, t + _TEXT_END]
    return " OR ".join(parts) or "0", params


def _looks(c: str) -> str:
    """``c`` looks like a message (``_headers.looks_encrypted``)."""
    return (
        f"(({c} >= X'0101' AND {c} < X'0105' AND length({c}) >= {MIN_BYTES}) OR"
        f" ({c} COLLATE BINARY >= '{TEXT_START}{TEXT_THIRD[0]}' AND {c} COLLATE BINARY < '{TEXT_START}U'"
        f" AND length({c}) >= {MIN_CHARS}))"
    )


class SqliteBackend:
    name = "sqlite"
    # One connection: a reader beside the writer makes them wait on each other's locks.
    concurrent_reads = False

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
        notnull = {row[1]: bool(row[3]) for row in info}
        if primary != [key] and not notnull[key]:
            raise ValueError(f"{table}.{key} may be NULL: a job pages by a unique, NOT NULL key")
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

    def survey(
        self, layout: Layout, pending: Pending, known: Headers | None, *, count: bool
    ) -> tuple[int, int, bool]:
        table = quote(layout.table)
        total = int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        todo = 0
        if count:
            where, params = _where([pending])
            todo = int(self.conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", params).fetchone()[0])
        unknown = False
        if known is not None:
            c = quote(pending.column)
            under, params = _ranges(c, known)
            found = self.conn.execute(
                f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {_looks(c)} AND NOT ({under}))", params
            ).fetchone()
            unknown = bool(found[0])
        return total, todo, unknown

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
    ) -> tuple[list[tuple[Any, ...]], Any]:
        where, params = _where(pending)
        k = quote(layout.key)
        cols = ", ".join(quote(c) for c in layout.read)
        # The key in byte order whatever its collation, so paging and the write's WHERE see the
        # rows its unique index sees.
        kb = f"{k} COLLATE BINARY"
        if not first:
            where = f"{kb} > ? AND ({where})"
            params = [after, *params]
        sql = f"SELECT {k}, {cols} FROM {quote(layout.table)} WHERE {where} ORDER BY {kb} LIMIT ?"
        version = self._version()
        return self.conn.execute(sql, [*params, limit]).fetchall(), version

    def _version(self) -> int:
        """SQLite's count of commits by other connections, as this one sees it."""
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def write(self, layout: Layout, writes: Sequence[Writes], check: Check | None, read: Any) -> int:
        table, k = quote(layout.table), quote(layout.key)
        written = 0
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            # Holding the write lock, nobody else can commit now. When nobody has since the
            # page was read, its rows still hold the values read: the compare is skipped. Only
            # on the job's own connection: writes through a caller's do not move data_version.
            unchanged = self._owned and self._version() == read
            for w in writes:
                sets = ", ".join(f"{quote(n)} = ?" for n in w.names)
                if unchanged:
                    sql = f"UPDATE {table} SET {sets} WHERE {k} = ? COLLATE BINARY"
                    written += self.conn.executemany(sql, w.params(compare=False)).rowcount
                    continue
                # Compared byte for byte (BLOBs always are; TEXT by the column's collation otherwise).
                cas = " AND ".join(
                    f"{quote(n)} = ?"
                    + (" COLLATE BINARY" if layout.kinds[layout.columns.index(n)] == "text" else "")
                    for n in w.names
                )
                sql = f"UPDATE {table} SET {sets} WHERE {k} = ? COLLATE BINARY AND {cas}"
                written += self.conn.executemany(sql, w.params()).rowcount
            if written > sum(len(w.keys) for w in writes):
                raise RuntimeError(
                    "an UPDATE by key changed more rows than it was given: nothing was written"
                )
            if check is not None:
                check(self._reread(layout, [key for w in writes for key in w.keys]))
        except sqlite3.IntegrityError as exc:
            self.conn.execute("ROLLBACK")
            raise RowRefused(str(exc)) from exc
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
        if p.messages:
            parts.append(f"({c} IS NOT NULL AND {_looks(c)})")
        elif p.done is None:
            parts.append(f"({c} IS NOT NULL AND NOT {_looks(c)})")
        else:
            done, more = _ranges(c, p.done)
            parts.append(f"({c} IS NOT NULL AND NOT ({done}))")
            params += more
    return " OR ".join(parts), params
