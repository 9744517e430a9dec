"""Encrypted columns for SQLAlchemy: ``Encrypted(type_, box)``.

    from sqlalchemy import String, Integer
    from sqlalchemy.orm import Mapped, mapped_column
    from sealbox.sqlalchemy import Encrypted

    class User(Base):
        __tablename__ = "users"
        id: Mapped[int] = mapped_column(primary_key=True)
        email: Mapped[str] = mapped_column(Encrypted(String, lookup_box))    # deterministic Box
        age: Mapped[int | None] = mapped_column(Encrypted(Integer, box))

    session.scalars(select(User).where(User.email == "alice@example.org"))   # IN (every key's message)

Values go through ``sealbox.codecs`` (``0``, ``False`` and ``""`` come back as
themselves; ``None`` is NULL) and are bound to their table and column with
``sealbox.column_context``. A value that does not decrypt raises ``DecryptionError``.
With a deterministic Box, ``==``, ``!=``, ``in_`` and ``is_(None)`` compile to ``IN``
over ``box.lookup_values`` (every key of the ring, so lookups keep working during a
rotation); with a randomized Box every comparison but ``IS NULL`` raises when the query
is built. ``rotate(session, Model)`` re-encrypts a model's columns with
``sealbox.tables.rotate``. See docs/sqlalchemy.md.
"""

from __future__ import annotations

import contextvars
import datetime
import decimal
import threading
import uuid
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm
from sqlalchemy import event
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

from sealbox import _undecryptable as undecryptable
from sealbox import codecs, tables
from sealbox._box import Box
from sealbox._context import column_context
from sealbox._errors import DecryptionError, SealboxError
from sealbox._plaintext import PlaintextReads
from sealbox.tables._headers import looks_encrypted

__all__ = ["BlindIndexed", "Encrypted", "PlaintextReads", "Sealed", "plaintext_reads", "rotate"]

# The Python values each SQLAlchemy type takes (checked on the way in, so a wrong type fails
# at the bind, not as a surprise on the way out).
_PYTHON: list[tuple[type[Any], tuple[type[Any], ...]]] = [
    (sa.Boolean, (bool,)),
    (sa.Integer, (int,)),
    (sa.Numeric, (decimal.Decimal, float, int)),
    (sa.DateTime, (datetime.datetime,)),
    (sa.Date, (datetime.date,)),
    (sa.Time, (datetime.time,)),
    (sa.Uuid, (uuid.UUID,)),
    (sa.JSON, (dict, list, str, int, float, bool)),
    (sa.LargeBinary, (bytes,)),
    (sa.String, (str,)),
]
_EQUALITY = {operators.eq, operators.ne, operators.in_op, operators.not_in_op}
_NULL_TESTS = {operators.is_, operators.is_not}


plaintext_reads = PlaintextReads()


class Encrypted(TypeDecorator[Any]):
    """A column whose values are sealbox messages; the application sees ``type_``.

    ``type_`` is a SQLAlchemy type (``String``, ``Text``, ``Integer``, ``Boolean``,
    ``Numeric``, ``Date``, ``DateTime``, ``Time``, ``Uuid``, ``JSON``, ``LargeBinary``),
    the class or an instance. The column stores ``LargeBinary`` (BLOB, bytea), or text
    when ``box`` has ``encoding="text"``. ``context="column"`` binds each value to its
    table and column (``column_context``); ``None`` binds nothing. With
    ``allow_plaintext=True``, values that are not messages are read as plaintext (and
    counted in ``sealbox.sqlalchemy.plaintext_reads``) while a column is being migrated;
    writes are always encrypted.
    """

    impl = sa.LargeBinary
    cache_ok = True

    def __init__(
        self,
        type_: Any,
        box: Box[Any],
        *,
        context: str | None = "column",
        allow_plaintext: bool = False,
    ) -> None:
        if not isinstance(box, Box):
            raise TypeError(f"box must be a sealbox.Box, not {type(box).__name__}")
        if context not in ("column", "row", None):
            raise ValueError(f"context must be 'column', 'row' or None, not {context!r}")
        self.type_ = type_() if isinstance(type_, type) else type_
        if not isinstance(self.type_, sa.types.TypeEngine):
            raise TypeError(f"type_ must be a SQLAlchemy type, not {type(type_).__name__}")
        accepted = next((py for base, py in _PYTHON if isinstance(self.type_, base)), None)
        if accepted is None:
            raise TypeError(f"Encrypted does not take {type(self.type_).__name__} columns")
        self.box = box
        self.context = context
        self.allow_plaintext = allow_plaintext
        self._accepted = accepted
        self._where: tuple[str, str] | None = None
        self._table: weakref.ref[sa.Table] | None = None
        self._context: bytes | None = None
        # The blind-index companions computed from this column (set when their mapper is
        # configured), shared by the copies SQLAlchemy makes of the type.
        self._indexed: list[str] = []
        super().__init__()

    # -- the column it is attached to

    def _bind_to(self, table: str, column: str, owner: sa.Table | None = None) -> None:
        if self._where != (table, column):
            self._indexed = []  # a copy given to another column (a mixin's, a reused type) has its own
        self._where = (table, column)
        self._table = weakref.ref(owner) if owner is not None else None
        self._context = column_context(table, column) if self.context == "column" else None

    def _name(self) -> str:
        return ".".join(self._where) if self._where else "an unattached Encrypted column"

    def _ctx(self) -> bytes | None:
        if self.context == "column" and self._context is None:
            raise SealboxError(
                "an Encrypted column with context='column' must belong to a Table (mapped_column or "
                "Column in a Table) before it encrypts or decrypts"
            )
        return self._context

    # -- the database side

    def load_dialect_impl(self, dialect: Any) -> Any:
        storage = sa.Text() if self.box.encoding == "text" else sa.LargeBinary()
        return dialect.type_descriptor(storage)

    def _row_ctx(self, row: Any) -> bytes:
        if self._where is None:
            self._ctx()  # raises: not attached
        assert self._where is not None
        return column_context(*self._where, row=row)

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, _Bound):
            return value.message
        if type(value) is _Sourced:  # written by the unit of work, with its blind indexes
            value = value.plaintext
            if value is None:
                return None
        elif self._indexed:
            raise SealboxError(
                f"{self._name()} has a blind index ({', '.join(self._indexed)}) that the unit of "
                "work computes with it: write it through the ORM (session.add, attribute changes), "
                "not a Core or bulk statement, which would leave the index stale"
            )
        if self.context == "row":
            raise SealboxError(
                f"{self._name()} is bound to its row (context='row'): write it through the ORM "
                "(session.add, attribute changes), where the row's key is known, not a Core or bulk statement"
            )
        return self.box.encrypt(self._encode(value), context=self._ctx())

    # Per-statement processors: the generic TypeDecorator path (process_bind_param,
    # process_result_value) for every case, with the common one (a str column bound to its
    # column) first, without the per-value dispatch.

    def bind_processor(self, dialect: Any) -> Any:
        generic = super().bind_processor(dialect)
        if generic is None:
            return None
        impl: Callable[[Any], Any] = self.impl_instance.bind_processor(dialect) or _same
        if self.context != "column" or self._accepted != (str,) or self._where is None:

            def sealed(value: Any) -> Any:
                if type(value) is _Bound:  # encrypted in the flush
                    return impl(value.message)
                return generic(value)

            return sealed
        encrypt, ctx, encode_str, indexed = self.box.encrypt, self._ctx(), codecs._encode_str, self._indexed

        def process(value: Any) -> Any:
            kind = type(value)
            if kind is _Bound:
                return impl(value.message)
            if kind is str and not indexed:
                return impl(encrypt(encode_str(value), context=ctx))
            return generic(value)

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        generic = super().result_processor(dialect, coltype)
        if self.context != "column" or self.allow_plaintext or generic is None or self._where is None:
            return generic
        if self.impl_instance.result_processor(dialect, coltype) is not None:
            return generic
        decrypt, ctx, decode, failed = self.box.decrypt, self._ctx(), codecs.decode, self._failed

        def process(value: Any) -> Any:
            if type(value) is not bytes:
                return generic(value)
            try:
                return decode(decrypt(value, context=ctx))
            except DecryptionError:
                raise failed(value, dialect) from None

        return process

    def _encode(self, value: Any) -> bytes:
        if not isinstance(value, self._accepted) or (isinstance(value, bool) and bool not in self._accepted):
            raise TypeError(
                f"{self._name()} holds {type(self.type_).__name__} values, not {type(value).__name__}"
            )
        if isinstance(self.type_, sa.Numeric) and not isinstance(value, decimal.Decimal):
            value = decimal.Decimal(str(value)) if self.type_.asdecimal else value
        scale = self.type_.scale if isinstance(self.type_, sa.Numeric) else None
        if isinstance(value, decimal.Decimal) and scale is not None and value.is_finite():
            # One value, one message: 1.1 and 1.10 are the same NUMERIC(…, 2).
            value = value.quantize(decimal.Decimal(1).scaleb(-scale))
        return codecs.encode(value)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, memoryview):
            value = bytes(value)
        if self.context == "row":
            return Sealed(value, self)  # the ORM opens it with the row's key on load
        if self.allow_plaintext and not looks_encrypted(value):
            plaintext_reads.add(self._name())
            return self._plaintext(value)
        try:
            return codecs.decode(self.box.decrypt(value, context=self._ctx()))
        except DecryptionError:
            raise self._failed(value, dialect) from None

    def _failed(self, message: bytes | str, dialect: Any) -> DecryptionError:
        """The error for a stored value that did not decrypt, naming the rows that hold it
        (``_rows_holding``); where none is found, the column only."""
        return undecryptable.error(self._name(), _rows_holding(self, message, dialect))

    def _open_row(self, message: Any, row: Any) -> Any:
        if self.allow_plaintext and not looks_encrypted(message):
            plaintext_reads.add(self._name())
            return self._plaintext(message)
        try:
            return codecs.decode(self.box.decrypt(message, context=self._row_ctx(row)))
        except DecryptionError:
            if not name_keys_in_errors:
                raise DecryptionError(f"{self._name()}: a value did not decrypt") from None
            raise DecryptionError(f"{self._name()} of the row with key {row!r} did not decrypt") from None

    def _plaintext(self, value: Any) -> Any:
        """A value stored before the column was encrypted, as the application sees it."""
        if isinstance(value, bytes) and str in self._accepted:
            return value.decode("utf-8")
        if isinstance(value, str) and bytes in self._accepted:
            return value.encode("utf-8")
        return value

    def copy(self, **kw: Any) -> Encrypted:
        """A copy bound to the same column (SQLAlchemy copies a type for each dialect)."""
        new = Encrypted(self.type_, self.box, context=self.context, allow_plaintext=self.allow_plaintext)
        new._where, new._context, new._table = self._where, self._context, self._table
        new._indexed = self._indexed
        return new

    # -- queries

    class comparator_factory(TypeDecorator.Comparator[Any]):
        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            kind = self.expr.type
            assert isinstance(kind, Encrypted)
            if op in _NULL_TESTS or (op in (operators.eq, operators.ne) and other and other[0] is None):
                return super().operate(op, *other, **kwargs)
            column = other and isinstance(other[0], sa.sql.expression.ColumnClause)
            if op in (operators.eq, operators.ne) and column:
                # A column against a column: SQLAlchemy's own lookups of a column (an ORM
                # UPDATE's synchronization hashes and compares columns) build these.
                return super().operate(op, *other, **kwargs)
            if op not in _EQUALITY:
                raise SealboxError(
                    f"{kind._name()} is encrypted: it can only be compared for equality "
                    "(with a deterministic Box) or tested for NULL"
                )
            if kind.context == "row":
                raise SealboxError(
                    f"{kind._name()} is bound to its row (context='row'): equal values in two rows are "
                    "different messages, so == and IN cannot find them"
                )
            if not kind.box.deterministic:
                raise SealboxError(
                    f"{kind._name()} is encrypted with a randomized Box: equal values give different "
                    "messages, so == and IN cannot find them. Use Box(keys, deterministic=True) for "
                    "columns you search, or a blind index"
                )
            values = other[0] if op in (operators.in_op, operators.not_in_op) else [other[0]]
            messages = kind._lookups(values)
            raw = sa.type_coerce(self.expr, kind.load_dialect_impl(_Generic()))
            negate = op in (operators.ne, operators.not_in_op)
            return raw.not_in(messages) if negate else raw.in_(messages)

    def _lookups(self, values: Iterable[Any]) -> list[Any]:
        out: list[Any] = []
        for value in values:
            if value is None:
                raise SealboxError(f"{self._name()}: compare with None through is_(None)")
            out += self.box.lookup_values(self._encode(value), context=self._ctx())
        return out


def _same(value: Any) -> Any:
    return value


# Whether a value that does not decrypt is looked up by its stored bytes, so that the error
# names the primary keys of the rows holding it (set False where keys are themselves personal
# data that must stay out of logs).
name_keys_in_errors = True

# The connection of the last statement run in this thread or task, and the thread: where a
# value that does not decrypt is looked up (the error path above).
_LAST: contextvars.ContextVar[tuple[weakref.ref[Any], int] | None] = contextvars.ContextVar(
    "sealbox_sa_last", default=None
)


@event.listens_for(sa.engine.Engine, "before_cursor_execute")
def _remember(
    conn: Any, cursor: Any, statement: Any, parameters: Any, context: Any, executemany: Any
) -> None:
    _LAST.set((weakref.ref(conn), threading.get_ident()))


_SET_TIMEOUT = sa.text("SELECT set_config('statement_timeout', :t, true)")  # for this transaction


def _rows_holding(kind: Encrypted, message: bytes | str, dialect: Any) -> list[Any]:
    """The primary keys of the rows (at most a few, in key order) whose column holds
    ``message``, looked up on the connection of the thread's (or task's) last statement:
    only when it belongs to the engine that read the value (its dialect object), runs in
    this thread and has an active transaction; in a savepoint, under a statement timeout,
    on PostgreSQL. Anything else, or any failure, gives no keys."""
    table = kind._table() if kind._table is not None else None
    last = _LAST.get()
    conn = last[0]() if last is not None and last[1] == threading.get_ident() else None
    if not name_keys_in_errors or table is None or conn is None or kind._where is None:
        return []
    keys = list(table.primary_key.columns)
    storage = kind.load_dialect_impl(_Generic())
    query = (
        sa.select(*keys)
        .where(sa.type_coerce(table.c[kind._where[1]], storage) == sa.bindparam("m", message, type_=storage))
        .order_by(*keys)
        .limit(undecryptable.LIMIT + 1)
    )

    def found() -> list[Any]:
        return [row[0] if len(row) == 1 else tuple(row) for row in conn.execute(query)]

    try:
        if conn.dialect is not dialect or not keys or conn.closed or not conn.in_transaction():
            return []
        if not conn.get_transaction().is_active:
            return []
        if conn.dialect.name != "postgresql":
            return found()
        with conn.begin_nested():  # a failed statement would end the caller's transaction
            before = conn.execute(sa.text("SELECT current_setting('statement_timeout')")).scalar()
            conn.execute(_SET_TIMEOUT, {"t": undecryptable.POSTGRES_TIMEOUT})
            rows = found()
            conn.execute(_SET_TIMEOUT, {"t": before})
            return rows
    except Exception:  # the lookup is best effort; the error stays a DecryptionError
        return []


class _Generic:
    """Stands for a dialect where only the storage type is wanted."""

    @staticmethod
    def type_descriptor(type_: Any) -> Any:
        return type_


@event.listens_for(sa.Column, "after_parent_attach")
def _attached(column: sa.Column[Any], table: Any) -> None:
    """Each Encrypted column learns its table and column name (its context)."""
    kind = column.type
    if isinstance(kind, Encrypted) and isinstance(table, sa.Table):
        where = (str(table.name), str(column.name))
        if kind._where is not None and kind._where != where:
            kind = kind.copy()  # one type object given to two columns
            column.type = kind
        kind._bind_to(*where, table)


class BlindIndexed(TypeDecorator[Any]):
    """A blind-index companion column: the ``sealbox.BlindIndex`` of the attribute
    ``source`` of the same model, filled by the unit of work on insert and update.

        email: Mapped[str] = mapped_column(Encrypted(sa.String, box))          # randomized
        email_bidx: Mapped[bytes] = mapped_column(BlindIndexed("email", bidx), index=True)

        select(User).where(User.email_bidx == "alice@example.org")   # IN over lookup_values

    ``==`` and ``in_`` compile to ``IN`` over ``index.lookup_values`` (every index key
    version); other comparisons raise. The application never writes it itself.
    """

    impl = sa.LargeBinary
    cache_ok = True

    def __init__(self, source: str, index: Any) -> None:
        from sealbox._blind import BlindIndex

        if not isinstance(index, BlindIndex):
            raise TypeError(f"index must be a sealbox.BlindIndex, not {type(index).__name__}")
        if not isinstance(source, str) or not source:
            raise TypeError("source must name the attribute the index is computed from")
        self.source = source
        self.index = index
        super().__init__()

    def load_dialect_impl(self, dialect: Any) -> Any:
        storage = sa.LargeBinary() if self.index.encoding == "raw" else sa.String()
        return dialect.type_descriptor(storage)

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None or isinstance(value, _Indexed):
            return None if value is None else value.value
        raise SealboxError(
            f"a BlindIndexed column is computed from {self.source!r} by the unit of work: set {self.source!r}"
        )

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return bytes(value) if isinstance(value, memoryview) else value

    class comparator_factory(TypeDecorator.Comparator[Any]):
        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            kind = self.expr.type
            assert isinstance(kind, BlindIndexed)
            if op in _NULL_TESTS or (op in (operators.eq, operators.ne) and other and other[0] is None):
                return super().operate(op, *other, **kwargs)
            if op not in _EQUALITY:
                raise SealboxError(f"a blind index answers equality only, not {getattr(op, '__name__', op)}")
            values = other[0] if op in (operators.in_op, operators.not_in_op) else [other[0]]
            found = [v for value in values for v in kind.index.lookup_values(value)]
            raw = sa.type_coerce(self.expr, kind.load_dialect_impl(_Generic()))
            return raw.not_in(found) if op in (operators.ne, operators.not_in_op) else raw.in_(found)


class _Indexed:
    """A blind index computed in the unit of work, on its way to the database."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _Sourced:
    """The value of a column with blind-index companions, on its way to the database through
    the unit of work, which computed the indexes from it."""

    __slots__ = ("plaintext",)

    def __init__(self, plaintext: Any) -> None:
        self.plaintext = plaintext


class Sealed:
    """A row-bound value read without its row (a Core query of a ``context="row"``
    column): ``open(key)`` decrypts it with the row's primary key. Its repr shows where it
    is from, never its bytes."""

    __slots__ = ("_column", "message")

    def __init__(self, message: bytes | str, column: Encrypted) -> None:
        self.message = message
        self._column = column

    def open(self, row: Any) -> Any:
        return self._column._open_row(self.message, row)

    def __repr__(self) -> str:
        return f"Sealed({self._column._name()})"


class _Bound:
    """A row-bound value encrypted in the unit of work, on its way to the database."""

    __slots__ = ("message", "plaintext")

    def __init__(self, message: Any, plaintext: Any) -> None:
        self.message, self.plaintext = message, plaintext


# For each mapper with context="row" columns: those columns (attribute, type) and its key.
_ROWS: weakref.WeakKeyDictionary[Any, tuple[list[tuple[str, Encrypted]], Any]] = weakref.WeakKeyDictionary()


def _row_columns(mapper: Any) -> list[tuple[str, Encrypted]]:
    found = _ROWS.get(mapper)
    return found[0] if found else []


def _row_key(mapper: Any) -> Any:
    return _ROWS[mapper][1]


# For each mapper with blind-index companions: (companion attribute, source attribute, type,
# whether the source's writes are marked: a column-bound Encrypted source, see _source_type).
_INDEXES: weakref.WeakKeyDictionary[Any, list[tuple[str, str, BlindIndexed, bool]]] = (
    weakref.WeakKeyDictionary()
)


@event.listens_for(sa.orm.Mapper, "mapper_configured")
def _configured_indexes(mapper: Any, class_: Any) -> None:
    found = [
        (prop.key, col.type.source, col.type)
        for prop in mapper.column_attrs
        for col in prop.columns
        if isinstance(col.type, BlindIndexed)
    ]
    for attr, source, _ in found:
        if source not in mapper.attrs:
            raise sa.exc.ArgumentError(
                f"{class_.__name__}.{attr} indexes {source!r}, which the model does not have"
            )
    if found:
        entries = []
        for attr, source, index in found:
            kind = _source_type(mapper, source)
            if kind is not None and attr not in kind._indexed:
                kind._indexed.append(attr)
            entries.append((attr, source, index, kind is not None))
        _INDEXES[mapper] = entries
        event.listen(mapper, "before_insert", _fill_indexes)
        event.listen(mapper, "before_update", _fill_indexes)
        # First among the after_* listeners, so that the application's see its values.
        event.listen(mapper, "after_insert", _unfill_indexes, insert=True)
        event.listen(mapper, "after_update", _unfill_indexes, insert=True)


def _source_type(mapper: Any, source: str) -> Encrypted | None:
    """The Encrypted type of a column-bound source attribute (a row-bound one is written
    through the unit of work only anyway), or None."""
    prop = mapper.attrs[source]
    kind = getattr(prop, "columns", [None])[0]
    kind = getattr(kind, "type", None)
    return kind if isinstance(kind, Encrypted) and kind.context != "row" else None


def _fill_indexes(mapper: Any, connection: Any, target: Any) -> None:
    found = _INDEXES.get(mapper)
    if not found:
        return
    state = instance_state(target)
    for attr, source, kind, guarded in found:
        if state.has_identity and not state.attrs[source].history.has_changes():
            continue
        value = state.dict.get(source)
        if isinstance(value, _Bound | _Sourced):
            value = value.plaintext
        # Set as a change, so that an UPDATE writes it (whatever the companion held before).
        sa.orm.attributes.set_attribute(
            target, attr, None if value is None else _Indexed(kind.index.compute(value))
        )
        if (
            guarded
            and source in state.dict  # an unset source is left to its column's default
            and type(state.dict[source]) is not _Sourced
        ):
            # Marks the source's value as written with its indexes (Core and bulk writes are not).
            state.dict[source] = _Sourced(value)
            session = sa.orm.object_session(target)
            if session is not None:
                _SEALED.setdefault(session, []).append((source, [(state.dict, value)]))


def _unfill_indexes(mapper: Any, connection: Any, target: Any) -> None:
    state = instance_state(target)
    for attr, source, _, _ in _INDEXES.get(mapper, ()):
        value = state.dict.get(attr)
        if isinstance(value, _Indexed):
            sa.orm.attributes.set_committed_value(target, attr, value.value)
        written = state.dict.get(source)
        if type(written) is _Sourced:
            state.dict[source] = written.plaintext


@event.listens_for(sa.orm.Mapper, "mapper_configured")
def _configured(mapper: Any, class_: Any) -> None:
    """A model with ``context="row"`` columns needs a primary key the client knows before the
    INSERT; where it cannot, the mapping is refused (never a value bound to the wrong key)."""
    rows = [
        (prop.key, col.type)
        for prop in mapper.column_attrs
        for col in prop.columns
        if isinstance(col.type, Encrypted) and col.type.context == "row"
    ]
    if not rows:
        return
    keys = list(mapper.primary_key)
    where = f"{class_.__name__}.{rows[0][0]}"
    if len(keys) != 1:
        raise sa.exc.ArgumentError(f"{where} uses context='row', which needs a single-column primary key")
    key = keys[0]
    default = key.default
    known = (
        isinstance(default, sa.Sequence)
        or (
            default is not None
            and (getattr(default, "is_scalar", False) or getattr(default, "is_callable", False))
        )
        or key.autoincrement is False
        or not isinstance(key.type, sa.Integer)  # a key the application must assign
    )
    if not known:
        raise sa.exc.ArgumentError(
            f"{where} uses context='row', but {key.table.name}.{key.name} is assigned by the database on "
            "INSERT, after the value must be encrypted: give the key a client-side default "
            "(default=uuid.uuid4), a Sequence (PostgreSQL), or autoincrement=False and assign it"
        )
    _ROWS[mapper] = (rows, key)
    event.listen(mapper, "before_insert", _seal_row)
    event.listen(mapper, "before_update", _seal_row)
    event.listen(mapper, "after_insert", _unseal_written, insert=True)
    event.listen(mapper, "after_update", _unseal_written, insert=True)
    event.listen(mapper, "load", _open_loaded)
    event.listen(mapper, "refresh", _open_loaded)


@event.listens_for(sa.orm.Session, "before_flush")
def _assign_keys(session: Any, flush_context: Any, instances: Any) -> None:
    """Give new rows with row-bound columns their primary key before the flush encrypts them."""
    for target in session.new:
        mapper = instance_state(target).mapper
        if not _row_columns(mapper):
            continue
        key = _row_key(mapper)
        attr = mapper.get_property_by_column(key).key
        if getattr(target, attr) is not None:
            continue
        default = key.default
        if isinstance(default, sa.Sequence):
            value = session.connection().scalar(default.next_value())
        elif default is not None and getattr(default, "is_scalar", False):
            value = default.arg
        elif default is not None and getattr(default, "is_callable", False):
            value = default.arg(None)
        else:
            raise SealboxError(
                f"{type(target).__name__}.{attr} must be set before a row with context='row' columns is added"
            )
        setattr(target, attr, value)


# What a flush replaced by messages (row-bound values) or marked (sources of blind indexes), per
# session: (attribute, [(instance dict, value)]), put back when the flush is over or has failed.
_SEALED: weakref.WeakKeyDictionary[Any, list[tuple[str, list[tuple[dict[str, Any], Any]]]]] = (
    weakref.WeakKeyDictionary()
)


@event.listens_for(sa.orm.Session, "after_flush")
def _flushed(session: Any, flush_context: Any) -> None:
    """The flush is over: every written row has its values back (``_unseal_written``)."""
    _SEALED.pop(session, None)


@event.listens_for(sa.orm.Session, "after_soft_rollback")
def _rolled_back(session: Any, previous_transaction: Any) -> None:
    """A flush that failed leaves no message where the application had its value."""
    for attr, items in _SEALED.pop(session, ()):
        for values, value in items:
            if type(values.get(attr)) in (_Bound, _Sourced):
                values[attr] = value


def _seal_row(mapper: Any, connection: Any, target: Any) -> None:
    columns = _row_columns(mapper)
    if not columns:
        return
    state = instance_state(target)
    key = _row_key(mapper)
    key_attr = mapper.get_property_by_column(key).key
    if state.has_identity and state.attrs[key_attr].history.has_changes():
        raise SealboxError(
            f"{type(target).__name__}.{key_attr} cannot change: "
            "the row's context='row' values are bound to it"
        )
    row = _as_key(key, state.identity[0] if state.identity else getattr(target, key_attr))
    for attr, kind in columns:
        value = state.dict.get(attr)
        if value is None or isinstance(value, _Bound | Sealed):
            continue
        if state.has_identity and not state.attrs[attr].history.has_changes():
            continue
        message = kind.box.encrypt(kind._encode(value), context=kind._row_ctx(row))
        state.dict[attr] = _Bound(message, value)
        session = sa.orm.object_session(target)
        if session is not None:
            _SEALED.setdefault(session, []).append((attr, [(state.dict, value)]))


def _unseal_written(mapper: Any, connection: Any, target: Any) -> None:
    """The row is written: its row-bound values are the application's again, for the
    listeners that follow (the flush then commits them as loaded)."""
    values = instance_state(target).dict
    for attr, _ in _row_columns(mapper):
        value = values.get(attr)
        if type(value) is _Bound:
            values[attr] = value.plaintext


def _as_key(column: Any, value: Any) -> Any:
    """A primary key as the database gives it back: the type its column reads as (an
    application that sets ``id="7"`` on an Integer key binds its row to 7)."""
    try:
        kind = column.type.python_type
    except NotImplementedError:
        return value
    if value is None or isinstance(value, kind):
        return value
    if kind is uuid.UUID:
        return uuid.UUID(str(value))
    return kind(value)


def _open_loaded(target: Any, *args: Any) -> None:
    state = instance_state(target)
    columns = _row_columns(state.mapper)
    if not columns:
        return
    row = state.identity[0] if state.identity else None
    for attr, _ in columns:
        value = state.dict.get(attr)
        if isinstance(value, Sealed):
            sa.orm.attributes.set_committed_value(target, attr, value.open(row))


def rotate(
    target: Any,
    model: Any,
    columns: Sequence[str] | None = None,
    **options: Any,
) -> list[tables.Report]:
    """Re-encrypt a model's (or a Table's) encrypted columns under their Boxes' active keys
    with ``sealbox.tables.rotate``: one job per Box, each column with its own context.
    ``target`` is a Session or an Engine (each batch commits on its own), or a Connection
    (each batch a savepoint of the caller's transaction); ``options`` go to
    ``tables.rotate`` (``batch_size``, ``dry_run``, ``verify``, ``strict``, ``progress``)."""
    table = model if isinstance(model, sa.Table) else sa.inspect(model).local_table
    found = {c.name: c.type for c in table.columns if isinstance(c.type, Encrypted)}
    names = list(found) if columns is None else list(columns)
    unknown = [n for n in names if n not in found]
    if unknown:
        raise ValueError(f"{table.name} has no encrypted column {', '.join(unknown)}")
    # A Session's engine (each batch its own transaction); a Connection as it is (each batch a
    # savepoint of the caller's transaction, as in a migration).
    engine = target.get_bind() if isinstance(target, sa.orm.Session) else target
    by_box: dict[int, list[str]] = {}
    for name in names:
        by_box.setdefault(id(found[name].box), []).append(name)
    reports = []
    for group in by_box.values():
        box = found[group[0]].box
        modes: dict[str | None, tables.ContextMode] = {None: "none", "column": "column", "row": "row"}
        context = {n: modes[found[n].context] for n in group}
        name = f"{table.schema}.{table.name}" if table.schema else str(table.name)
        keys = list(table.primary_key.columns)
        row_key = (lambda k, column=keys[0]: _as_key(column, k)) if len(keys) == 1 else None
        reports.append(tables.rotate(engine, name, group, box, context=context, row_key=row_key, **options))
    return reports
