"""Any other database, through SQLAlchemy Core (MariaDB and MySQL are the tested ones):
reflected tables, keyset pages, ``executemany`` UPDATEs with a compare-and-swap."""

from __future__ import annotations

import contextlib
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
    unsupported,
)
from sealbox.tables._headers import BINARY_STARTS, MIN_BYTES, MIN_CHARS, TEXT_STARTS, Headers


class _Savepoint:
    """A batch inside the caller's transaction: a savepoint, released or rolled back."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def __enter__(self) -> Any:
        self.nested = self.connection.begin_nested()
        return self.connection

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if kind is None:
            self.nested.commit()
        else:
            self.nested.rollback()


class AlchemyBackend:
    name = "sqlalchemy"

    def __init__(self, target: Any) -> None:
        try:
            import sqlalchemy as sa
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise ValueError('this database URL needs SQLAlchemy: pip install "sqlalchemy>=2"') from exc
        self.sa = sa
        if isinstance(target, str):
            self.engine = sa.create_engine(target, hide_parameters=True)
            self._owned = True
        elif isinstance(target, sa.engine.Engine):
            self.engine, self._owned = target, False
        elif isinstance(target, sa.engine.Connection):
            # Inside the caller's transaction (an Alembic migration, say): each batch is a
            # savepoint, committed with the caller's transaction.
            self.engine, self._owned = target.engine, False
            self.connection = target
        else:
            raise TypeError(f"pass a SQLAlchemy Engine, Connection or URL, not {type(target).__name__}")
        # MySQL and MariaDB compare text case-insensitively by default: compare bytes.
        self._bytewise = self.engine.dialect.name in ("mysql", "mariadb")
        self.table: Any = None

    connection: Any = None

    @property
    def concurrent_reads(self) -> bool:
        return self.connection is None  # then each call takes its own connection from the pool

    def _reading(self) -> Any:
        return (
            contextlib.nullcontext(self.connection) if self.connection is not None else self.engine.connect()
        )

    def _writing(self) -> Any:
        if self.connection is None:
            return self.engine.begin()
        return _Savepoint(self.connection)

    def close(self) -> None:
        if self._owned:
            self.engine.dispose()

    def layout(self, table: str, columns: Sequence[str], key: str | None, *, writing: bool) -> Layout:
        sa = self.sa
        inspector = sa.inspect(self.connection if self.connection is not None else self.engine)
        schema, _, name = table.rpartition(".")
        if not inspector.has_table(name, schema=schema or None):
            raise ValueError(f"there is no table {table} in this database")
        self.table = sa.Table(
            name,
            sa.MetaData(),
            autoload_with=self.connection if self.connection is not None else self.engine,
            schema=schema or None,
        )
        have = [c.name for c in self.table.columns]
        absent = [c for c in columns if c not in have]
        if absent:
            raise missing("column" if len(absent) == 1 else "columns", absent, table, have)
        primary = [c.name for c in self.table.primary_key.columns]
        if key is None:
            if len(primary) != 1:
                raise no_key(table, primary)
            key = primary[0]
        elif key not in have:
            raise missing("key column", [key], table, have)
        elif primary != [key] and not any(
            idx.unique and [c.name for c in idx.columns] == [key] for idx in self.table.indexes
        ):
            raise not_unique(table, key)
        elif primary != [key] and self.table.c[key].nullable:
            raise ValueError(f"{table}.{key} may be NULL: a job pages by a unique, NOT NULL key")
        if key in columns:
            raise ValueError(f"{table}.{key} is the key the job pages by; it cannot be encrypted")
        kinds: list[Kind] = []
        for column in columns:
            kind = self._kind(self.table.c[column].type)
            if kind is None:
                raise unsupported(table, column, str(self.table.c[column].type), writing=writing)
            kinds.append(kind)
        return Layout(table, key, tuple(columns), tuple(kinds))

    def _kind(self, type_: Any) -> Kind | None:
        sa = self.sa
        if isinstance(type_, sa.LargeBinary | sa.types._Binary):
            return "binary"
        if isinstance(type_, sa.String):
            return "text"
        return None

    def _head(self, column: Any, kind: Kind, width: int) -> Any:
        """The first ``width`` bytes or characters of a column, compared bytewise."""
        head = self.sa.func.substr(column, 1, width)
        if kind == "text" and self._bytewise:
            return self.sa.cast(head, self.sa.LargeBinary)
        return head

    def _text_values(self, kind: Kind, values: Sequence[str]) -> list[Any]:
        return [v.encode() for v in values] if kind == "text" and self._bytewise else list(values)

    def prefixes(self, layout: Layout, column: str) -> list[tuple[bytes | str | None, int]]:
        sa = self.sa
        kind = layout.kinds[layout.columns.index(column)]
        head = self._head(self.table.c[column], kind, 6 if kind == "binary" else 8).label("p")
        with self._reading() as conn:
            rows = conn.execute(sa.select(head, sa.func.count()).group_by(head)).all()
        out: list[tuple[bytes | str | None, int]] = []
        for prefix, n in rows:
            if kind == "text" and isinstance(prefix, bytes | bytearray):
                prefix = bytes(prefix).decode("utf-8", "replace")
            out.append((prefix, int(n)))
        return out

    def _pending(self, p: Pending) -> Any:
        sa = self.sa
        c = self.table.c[p.column]
        if p.done is None or p.messages:
            if p.kind == "binary":
                looks = sa.and_(
                    sa.func.length(c) >= MIN_BYTES, self._head(c, p.kind, 2).in_(list(BINARY_STARTS))
                )
            else:
                looks = sa.and_(
                    sa.func.length(c) >= MIN_CHARS,
                    self._head(c, p.kind, 3).in_(self._text_values(p.kind, TEXT_STARTS)),
                )
            return sa.and_(c.is_not(None), looks if p.messages else sa.not_(looks))
        if p.kind == "binary":
            return sa.and_(c.is_not(None), self._head(c, p.kind, 6).not_in(list(p.done.binary)))
        return sa.and_(
            c.is_not(None), self._head(c, p.kind, 8).not_in(self._text_values(p.kind, p.done.text))
        )

    def survey(
        self, layout: Layout, pending: Pending, known: Headers | None, *, count: bool
    ) -> tuple[int, int, bool]:
        sa = self.sa
        c = self.table.c[pending.column]
        unknown: Any = sa.false()
        if known is not None:
            if pending.kind == "binary":
                ids = sorted({h[2:6] for h in known.binary})
                unknown = sa.and_(
                    self._head(c, pending.kind, 2).in_(list(BINARY_STARTS)),
                    sa.func.substr(c, 3, 4).not_in(ids),
                )
            else:
                unknown = sa.and_(
                    self._head(c, pending.kind, 3).in_(self._text_values(pending.kind, TEXT_STARTS)),
                    self._head(c, pending.kind, 8).not_in(self._text_values(pending.kind, known.text)),
                )
        query = sa.select(
            sa.func.count(),
            sa.func.sum(sa.case((self._pending(pending), 1), else_=0)),
            sa.func.sum(sa.case((unknown, 1), else_=0)),
        ).select_from(self.table)
        with self._reading() as conn:
            rows, todo, absent = conn.execute(query).one()
        return int(rows), int(todo or 0), bool(absent)

    def page(
        self, layout: Layout, pending: Sequence[Pending], after: Any, first: bool, limit: int
    ) -> tuple[list[tuple[Any, ...]], Any]:
        sa = self.sa
        k = self.table.c[layout.key]
        where = sa.or_(*(self._pending(p) for p in pending))
        if not first:
            where = sa.and_(k > after, where)
        query = sa.select(k, *(self.table.c[c] for c in layout.read)).where(where).order_by(k).limit(limit)
        with self._reading() as conn:
            return [tuple(r) for r in conn.execute(query)], None

    def write(self, layout: Layout, writes: Sequence[Writes], check: Check | None, read: Any) -> int:
        try:
            return self._write(layout, writes, check)
        except self.sa.exc.IntegrityError as exc:
            raise RowRefused(type(exc.orig).__name__) from exc

    def _write(self, layout: Layout, writes: Sequence[Writes], check: Check | None) -> int:
        sa = self.sa
        k = self.table.c[layout.key]
        written = 0
        with self._writing() as conn:
            if self._bytewise:
                # MySQL outside strict mode truncates a value too long for its column with a
                # warning: a message cut short, and the plaintext gone. Strict makes it an error.
                conn.execute(
                    sa.text("SET SESSION sql_mode = CONCAT_WS(',', @@SESSION.sql_mode, 'STRICT_ALL_TABLES')")
                )
            for w in writes:
                cas = [self._equal(layout, n, sa.bindparam(f"o_{j}")) for j, n in enumerate(w.names)]
                statement = (
                    sa.update(self.table)
                    .where(k == sa.bindparam("k_"), *cas)
                    .values({n: sa.bindparam(f"n_{j}") for j, n in enumerate(w.names)})
                )
                params = [
                    {
                        "k_": key,
                        **{f"o_{j}": w.old[j][r] for j in range(len(w.names))},
                        **{f"n_{j}": w.new[j][r] for j in range(len(w.names))},
                    }
                    for r, key in enumerate(w.keys)
                ]
                result = conn.execute(statement, params)
                if self.engine.dialect.supports_sane_multi_rowcount:
                    written += result.rowcount
                else:
                    written += self._count_written(conn, layout, w)
            if check is not None:
                keys = [key for w in writes for key in w.keys]
                query = sa.select(k, *(self.table.c[c] for c in layout.columns)).where(k.in_(keys))
                check([tuple(r) for r in conn.execute(query)])
        return written

    def _equal(self, layout: Layout, column: str, value: Any) -> Any:
        c = self.table.c[column]
        if self._bytewise and layout.kinds[layout.columns.index(column)] == "text":
            return self.sa.cast(c, self.sa.LargeBinary) == self.sa.cast(value, self.sa.LargeBinary)
        return c == value

    def _count_written(self, conn: Any, layout: Layout, w: Writes) -> int:
        """Rows of ``w`` that now hold the new values (where the driver cannot count an executemany)."""
        sa = self.sa
        k = self.table.c[layout.key]
        query = sa.select(k, *(self.table.c[n] for n in w.names)).where(k.in_(w.keys))
        now = {r[0]: tuple(r[1:]) for r in conn.execute(query)}
        return sum(
            1
            for r, key in enumerate(w.keys)
            if now.get(key) == tuple(w.new[j][r] for j in range(len(w.names)))
        )
