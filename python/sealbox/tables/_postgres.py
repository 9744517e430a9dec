"""PostgreSQL through psycopg 3: pages read in binary, each batch written by COPY into a
temporary table and one ``UPDATE ... FROM`` that compares every changed column."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from itertools import chain
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
    unsupported,
)
from sealbox.tables._headers import BINARY_STARTS, MIN_BYTES, MIN_CHARS, TEXT_STARTS, Headers

_KINDS: dict[str, Kind] = {"bytea": "binary", "text": "text", "varchar": "text"}
_STAGE = "pg_temp.sealbox_stage"  # the session's own temporary schema, never a table of the app


class PostgresBackend:
    name = "postgresql"

    def __init__(self, target: Any) -> None:
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise ValueError('PostgreSQL needs psycopg 3: pip install "psycopg[binary]"') from exc
        self.reader: Any = None
        if isinstance(target, str):
            self.conn = psycopg.connect(target, autocommit=True)
            self._owned = True
            # Pages are read on a second connection while the first one writes.
            self.reader = psycopg.connect(target, autocommit=True)
        else:
            if not target.autocommit:
                raise ValueError(
                    "pass a psycopg connection with autocommit=True: the job commits each batch itself"
                )
            self.conn, self._owned = target, False
        self._types: dict[str, str] = {}
        self._staged: tuple[str, ...] | None = None

    @property
    def concurrent_reads(self) -> bool:
        return self.reader is not None

    def close(self) -> None:
        if self._owned:
            self.conn.close()
            self.reader.close()

    def layout(self, table: str, columns: Sequence[str], key: str | None, *, writing: bool) -> Layout:
        regclass = self.conn.execute("SELECT to_regclass(%s)::oid", (_qualified(table),)).fetchone()
        if regclass is None or regclass[0] is None:
            raise ValueError(f"there is no table {table} in this database")
        oid = regclass[0]
        attrs = self.conn.execute(
            "SELECT a.attname, t.typname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
            " JOIN pg_type t ON t.oid = a.atttypid"
            " WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (oid,),
        ).fetchall()
        types = {name: typname for name, typname, _ in attrs}
        declared = {name: shown for name, _, shown in attrs}
        absent = [c for c in columns if c not in types]
        if absent:
            raise missing("column" if len(absent) == 1 else "columns", absent, table, list(types))
        indexes = self.conn.execute(
            "SELECT i.indisprimary, i.indisunique, i.indpred IS NULL,"
            " array(SELECT a.attname FROM unnest(i.indkey) k JOIN pg_attribute a"
            "       ON a.attrelid = i.indrelid AND a.attnum = k)"
            " FROM pg_index i WHERE i.indrelid = %s",
            (oid,),
        ).fetchall()
        primary = next((list(cols) for is_pk, _, _, cols in indexes if is_pk), [])
        if key is None:
            if len(primary) != 1:
                raise no_key(table, primary)
            key = primary[0]
        elif key not in types:
            raise missing("key column", [key], table, list(types))
        elif not any(unique and whole and list(cols) == [key] for _, unique, whole, cols in indexes):
            raise not_unique(table, key)
        else:
            notnull = self.conn.execute(
                "SELECT attnotnull FROM pg_attribute WHERE attrelid = %s AND attname = %s", (oid, key)
            ).fetchone()
            if notnull is None or not notnull[0]:
                raise ValueError(f"{table}.{key} may be NULL: a job pages by a unique, NOT NULL key")
        if key in columns:
            raise ValueError(f"{table}.{key} is the key the job pages by; it cannot be encrypted")
        kinds: list[Kind] = []
        for column in columns:
            kind = _KINDS.get(types[column])
            if kind is None:
                raise unsupported(table, column, declared[column], writing=writing)
            kinds.append(kind)
        self._types = {name: types[name] for name in (key, *columns)}
        return Layout(table, key, tuple(columns), tuple(kinds))

    def survey(
        self, layout: Layout, pending: Pending, known: Headers | None, *, count: bool
    ) -> tuple[int, int, bool]:
        todo, param = _pending(pending)
        params: list[Any] = [param]
        unknown = "false"
        if known is not None:
            c = _quote(pending.column)
            if pending.kind == "binary":
                unknown = f"substr({c}, 1, 2) = ANY(%s) AND substr({c}, 3, 4) <> ALL(%s)"
                params += [list(BINARY_STARTS), sorted({h[2:6] for h in known.binary})]
            else:
                unknown = f"substr({c}, 1, 3) = ANY(%s) AND substr({c}, 1, 8) <> ALL(%s)"
                params += [list(TEXT_STARTS), list(known.text)]
        found = self.conn.execute(
            f"SELECT count(*), count(*) FILTER (WHERE {todo}), count(*) FILTER (WHERE {unknown})"
            f" FROM {_qualified(layout.table)}",
            params,
        ).fetchone()
        assert found is not None
        return int(found[0]), int(found[1]), bool(found[2])

    def prefixes(self, layout: Layout, column: str) -> list[tuple[bytes | str | None, int]]:
        c = _quote(column)
        width = 6 if _kind(layout, column) == "binary" else 8
        rows = self.conn.execute(
            f"SELECT substr({c}, 1, {width}), count(*) FROM {_qualified(layout.table)} GROUP BY 1"
        ).fetchall()
        return [(p, int(n)) for p, n in rows]

    def page(
        self, layout: Layout, pending: Sequence[Pending], after: Any, first: bool, limit: int
    ) -> tuple[list[tuple[Any, ...]], Any]:
        parts, params = [], []
        for p in pending:
            sql, param = _pending(p)
            parts.append(sql)
            params.append(param)
        where = " OR ".join(parts)
        k = _quote(layout.key)
        if not first:
            where = f"{k} > %s AND ({where})"
            params.insert(0, after)
        cols = ", ".join(_quote(c) for c in layout.read)
        sql = f"SELECT {k}, {cols} FROM {_qualified(layout.table)} WHERE {where} ORDER BY {k} LIMIT %s"
        with self._binary(self.reader or self.conn) as cur:
            cur.execute(sql, [*params, limit])
            return cur.fetchall(), None

    def write(self, layout: Layout, writes: Sequence[Writes], check: Check | None, read: Any) -> int:
        import psycopg

        try:
            return self._write(layout, writes, check)
        except psycopg.errors.IntegrityError as exc:
            raise RowRefused(type(exc).__name__) from exc

    def _write(self, layout: Layout, writes: Sequence[Writes], check: Check | None) -> int:
        names = layout.columns
        stage = self._stage(layout)
        k = _quote(layout.key)
        sets = ", ".join(f"{_quote(c)} = COALESCE(s.n{j}, t.{_quote(c)})" for j, c in enumerate(names))
        cas = " AND ".join(f"(s.n{j} IS NULL OR t.{_quote(c)} = s.o{j})" for j, c in enumerate(names))
        with self.conn.transaction(), self.conn.cursor() as cur:
            # The stage has no statistics: join through the key's index, never by scanning the table.
            cur.execute("SET LOCAL enable_hashjoin = off")
            cur.execute("SET LOCAL enable_mergejoin = off")
            columns = ", ".join(["k", *(f"o{j}, n{j}" for j in range(len(names)))])
            with cur.copy(f"COPY {stage} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(_copy_data(self._types[layout.key], names, writes))
            cur.execute(
                f"UPDATE {_qualified(layout.table)} AS t SET {sets}"
                f" FROM {stage} AS s WHERE t.{k} = s.k AND {cas}"
            )
            written = cur.rowcount
            if check is not None:
                cols = ", ".join(f"t.{_quote(c)}" for c in names)
                with self._binary(self.conn) as read:
                    read.execute(
                        f"SELECT t.{k}, {cols} FROM {_qualified(layout.table)} AS t"
                        f" JOIN {stage} AS s ON t.{k} = s.k"
                    )
                    check(read.fetchall())
        return written

    def _binary(self, conn: Any) -> Any:
        """A cursor with server-side binding and binary results, whatever the connection's
        cursor factory (Django's is client-side)."""
        import psycopg

        cursor = psycopg.Cursor(conn)
        cursor.format = psycopg.pq.Format.BINARY
        return cursor

    def _stage(self, layout: Layout) -> str:
        """A temporary table for a batch's rows (emptied at each commit)."""
        shape = (layout.key, *layout.columns)
        if self._staged != shape:
            columns = ", ".join(
                [f"k {self._types[layout.key]}"]
                + [f"o{j} {self._types[c]}, n{j} {self._types[c]}" for j, c in enumerate(layout.columns)]
            )
            self.conn.execute(f"DROP TABLE IF EXISTS {_STAGE}")
            self.conn.execute(f"CREATE TEMPORARY TABLE {_STAGE} ({columns}) ON COMMIT DELETE ROWS")
            self._staged = shape
        return _STAGE


# COPY's binary format (PostgreSQL docs, "COPY", "Binary Format"): a signature, flags and
# header extension length; per row the field count, then each field's length (-1: NULL)
# and bytes; a field count of -1 at the end.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_NULL = struct.pack(">i", -1)
_INT_KEYS = {"int8": ">q", "int4": ">i", "int2": ">h"}


def _copy_data(key_type: str, names: Sequence[str], writes: Sequence[Writes]) -> bytes:
    """A batch as binary COPY data for the stage ``(k, o0, n0, o1, n1, ...)``, built a
    column at a time."""
    out = [_COPY_HEADER]
    length = struct.Struct(">i").pack
    fields = 1 + 2 * len(names)
    key_format = _INT_KEYS.get(key_type)
    for w in writes:
        slots = {names.index(n): s for s, n in enumerate(w.names)}
        if key_format is not None:
            key_pack = struct.Struct(">hi" + key_format[1:]).pack
            size = struct.calcsize(key_format)
            columns = [[key_pack(fields, size, k) for k in w.keys]]
        else:
            raw = [_key_bytes(key_type, k) for k in w.keys]
            columns = [[struct.pack(">hi", fields, len(r)) + r for r in raw]]
        for j in range(len(names)):
            s = slots.get(j)
            if s is None:
                columns.append([_NULL + _NULL] * len(w.keys))
                continue
            for values in (w.old[s], w.new[s]):
                data = [v.encode() if isinstance(v, str) else v for v in values]
                columns.append([length(len(v)) + v for v in data])
        out.extend(chain.from_iterable(zip(*columns, strict=True)))
    out.append(_COPY_TRAILER)
    return b"".join(out)


def _key_bytes(key_type: str, key: Any) -> bytes:
    if key_type == "uuid":
        return bytes(key.bytes)
    if key_type in ("text", "varchar"):
        return str(key).encode()
    if key_type == "bytea":
        return bytes(key)
    raise ValueError(f"a table job pages by an integer, uuid, text or bytea key, not {key_type}")


def _pending(p: Pending) -> tuple[str, Any]:
    """A column's pending values in SQL, and its one parameter."""
    c = _quote(p.column)
    if p.done is None or p.messages:
        starts, least, width = (
            (list(BINARY_STARTS), MIN_BYTES, 2) if p.kind == "binary" else (list(TEXT_STARTS), MIN_CHARS, 3)
        )
        negate = "" if p.messages else "NOT "
        return (
            f"({c} IS NOT NULL AND {negate}(length({c}) >= {least} AND substr({c}, 1, {width}) = ANY(%s)))",
            starts,
        )
    if p.kind == "binary":
        return f"({c} IS NOT NULL AND substr({c}, 1, 6) <> ALL(%s))", list(p.done.binary)
    return f"({c} IS NOT NULL AND substr({c}, 1, 8) <> ALL(%s))", list(p.done.text)


def _kind(layout: Layout, column: str) -> Kind:
    return layout.kinds[layout.columns.index(column)]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _qualified(table: str) -> str:
    """``schema.table`` or ``table``, each part quoted as given."""
    return ".".join(_quote(part) for part in table.split(".", 1))
