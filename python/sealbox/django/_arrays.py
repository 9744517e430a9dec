"""Arrays of messages for PostgreSQL's ``bulk_create`` (psycopg 3).

Django inserts many rows on PostgreSQL as ``UNNEST(%s::bytea[], ...)``, one array per column.
psycopg writes a ``bytea[]`` in text form by escaping every element through a regular
expression, which for arrays of messages costs more than encrypting them. The fields hand
psycopg their messages as :class:`Message` (``bytes`` itself, marked), and a dumper registered
for ``list`` on Django's psycopg 3 connections writes an array made only of such messages
directly: in binary with server-side binding, as hex text otherwise. Every other list goes to
psycopg's own list dumper, unchanged; where the application (or another library) registered a
list dumper of its own, sealbox leaves it in place and registers nothing.
"""

from __future__ import annotations

import struct
from typing import Any

from django.db.backends.signals import connection_created

try:
    from psycopg import postgres
    from psycopg.adapt import PyFormat
    from psycopg.types.array import ListBinaryDumper, ListDumper
except ImportError:  # psycopg 3 is not installed: nothing to register
    ListDumper = None  # type: ignore[assignment,misc]


class Message(bytes):
    """A message on its way to a psycopg 3 connection: only its type differs from ``bytes``."""

    __slots__ = ()


class _MessagesKey:
    """The dumper cache key of a flat list of messages: a type of its own, so that no key
    psycopg builds for another list (``(list, Message)`` for a nested list of messages, or a
    mixed one) finds the messages' dumper."""


def _messages(values: list[Any]) -> bool:
    """Whether ``values`` is a flat list of messages and NULLs with at least one message."""
    found = False
    for value in values:
        if type(value) is Message:
            found = True
        elif value is not None:
            return False
    return found


if ListDumper is not None:
    _bytea = postgres.types["bytea"]
    _head = struct.Struct("!IIIII")  # dimensions, has NULL, element oid, length, lower bound
    _length = struct.Struct("!i")
    _null = _length.pack(-1)

    class _TextMessages(ListDumper):
        """``{"\\\\x…",NULL,…}``: each element in bytea's hex form, quoted for the array."""

        oid = _bytea.array_oid

        def dump(self, obj: list[Any]) -> bytes:
            return b"{%s}" % b",".join(
                b"NULL" if value is None else b'"\\\\x%s"' % value.hex().encode() for value in obj
            )

    class _BinaryMessages(ListBinaryDumper):
        """PostgreSQL's binary array: a header, then each element's length and bytes."""

        oid = _bytea.array_oid

        def dump(self, obj: list[Any]) -> bytes:
            data = [b""]
            has_null = 0
            for value in obj:
                if value is None:
                    has_null = 1
                    data.append(_null)
                else:
                    data.append(_length.pack(len(value)))
                    data.append(value)
            data[0] = _head.pack(1, has_null, _bytea.oid, len(obj), 1)
            return b"".join(data)

    class _Lists(ListDumper):
        """psycopg's list dumper, except for lists of messages."""

        def get_key(self, obj: list[Any], format: PyFormat) -> Any:
            if _messages(obj):
                return (list, _MessagesKey)
            return super().get_key(obj, format)

        def upgrade(self, obj: list[Any], format: PyFormat) -> Any:
            if _messages(obj):
                kind = _TextMessages if format is PyFormat.TEXT else _BinaryMessages
                return kind(list, self._tx)
            return super().upgrade(obj, format)


def _register(sender: Any, connection: Any, **kwargs: Any) -> None:
    """On each new psycopg 3 connection Django opens: the list dumper, and the mark that tells
    the fields to hand over :class:`Message`."""
    if ListDumper is None or connection.vendor != "postgresql":
        return
    raw = connection.connection
    if not hasattr(raw, "adapters"):  # psycopg2
        return
    if raw.adapters.get_dumper(list, PyFormat.TEXT) not in (ListDumper, _Lists):
        # A list dumper of the application's or another library's: left in place.
        connection.sealbox_arrays = False
        return
    raw.adapters.register_dumper(list, _Lists)
    connection.sealbox_arrays = True


connection_created.connect(_register, dispatch_uid="sealbox.django.arrays")
