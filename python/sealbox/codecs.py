"""Typed values as canonical bytes, to encrypt: one tag byte, then the payload.

A ``Box`` encrypts bytes; a column holds a str, an int, a date, a JSON
document. ``encode`` turns such a value into bytes that say what it was, and
``decode`` gives back the same value of the same type::

    from sealbox import codecs

    message = box.encrypt(codecs.encode(date(1990, 5, 17)), context=b"users/42/birth_date")
    codecs.decode(box.decrypt(message, context=b"users/42/birth_date"))   # date(1990, 5, 17)

The encoding is canonical: equal values of one type give equal bytes (so a
deterministic ``Box`` finds them), and ``decode`` accepts only the bytes
``encode`` writes. ``0``, ``False``, ``""``, ``b""`` and ``0.0``
encode to five different byte strings, none of them NULL: ``None`` is refused
(a NULL column stays NULL, unencrypted). Exactly these types are accepted, never
their subclasses:

==========  ==================  ===================================================
tag         type                payload
==========  ==================  ===================================================
``0x01``    bytes               the bytes
``0x02``    str                 UTF-8
``0x03``    bool                ``0x00`` or ``0x01``
``0x04``    int                 shortest signed two's complement, big-endian
``0x05``    float               IEEE 754 binary64, big-endian; one NaN
``0x06``    decimal.Decimal     ``str(value)``, ASCII; no NaN
``0x07``    datetime.date       ``isoformat()``
``0x08``    datetime.datetime   naive: ``isoformat()``
``0x09``    datetime.datetime   aware: ``isoformat()`` of its UTC value
``0x0A``    datetime.time       naive only: ``isoformat()``
``0x0B``    uuid.UUID           its 16 bytes
``0x0C``    dict or list        canonical JSON, UTF-8
==========  ==================  ===================================================

An aware datetime comes back in UTC: its offset or zone is not kept (as with
PostgreSQL's ``timestamptz``). docs/codecs.md gives every rule byte by byte.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import struct
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeAlias

__all__ = ["decode", "encode"]

# What encode takes and decode returns (bool is an int and datetime a date to
# a type checker; at run time each is its own tag).
_Value: TypeAlias = (
    bytes
    | str
    | bool
    | int
    | float
    | Decimal
    | _dt.date
    | _dt.datetime
    | _dt.time
    | uuid.UUID
    | dict[str, Any]
    | list[Any]
)

_FLOAT = struct.Struct(">Bd")
_NAN = bytes.fromhex("05 7ff8000000000000")  # every NaN is this quiet NaN
_ACCEPTED = (
    "bytes, str, bool, int, float, decimal.Decimal, datetime.date, datetime.datetime, "
    "datetime.time, uuid.UUID, or a JSON dict or list"
)


# --- encode -------------------------------------------------------------------


def _encode_bytes(value: bytes) -> bytes:
    return b"\x01" + value


def _encode_str(value: str) -> bytes:
    try:
        return b"\x02" + value.encode("utf-8")
    except UnicodeEncodeError as error:
        position = error.start
    raise ValueError(f"the str has a lone surrogate at index {position}: it is not text UTF-8 can encode")


def _encode_bool(value: bool) -> bytes:
    return b"\x03\x01" if value else b"\x03\x00"


def _encode_int(value: int) -> bytes:
    # The shortest two's complement: n magnitude bits and a sign bit.
    length = (value if value >= 0 else ~value).bit_length() // 8 + 1
    return b"\x04" + value.to_bytes(length, "big", signed=True)


def _encode_float(value: float) -> bytes:
    return _FLOAT.pack(0x05, value) if value == value else _NAN


def _encode_decimal(value: Decimal) -> bytes:
    if value.is_nan():
        raise ValueError("a Decimal NaN (or sNaN) has no encoding: it equals nothing, not even itself")
    # str() writes "e" instead of "E" when the current context has capitals=0.
    return b"\x06" + str(value).replace("e", "E").encode("ascii")


def _encode_date(value: _dt.date) -> bytes:
    return b"\x07" + value.isoformat().encode("ascii")


def _encode_datetime(value: _dt.datetime) -> bytes:
    if value.tzinfo is None:
        return b"\x08" + value.isoformat().encode("ascii")
    if value.utcoffset() is None:
        raise ValueError(
            "the datetime has a tzinfo that gives no UTC offset: pass a naive datetime, "
            "or one whose tzinfo gives its offset"
        )
    try:
        utc = value.astimezone(_dt.UTC)
    except OverflowError:
        utc = None
    if utc is None:
        raise ValueError("the aware datetime is out of datetime's range once converted to UTC")
    return b"\x09" + utc.isoformat().encode("ascii")


def _encode_time(value: _dt.time) -> bytes:
    if value.tzinfo is not None:
        raise ValueError(
            "a time with a tzinfo has no encoding: store a naive time, or an aware datetime "
            "(a UTC offset means little without a date)"
        )
    return b"\x0a" + value.isoformat().encode("ascii")


def _encode_uuid(value: uuid.UUID) -> bytes:
    return b"\x0b" + value.bytes


class _NotJson(Exception):
    """A value inside a JSON structure that has no JSON form; ``path`` grows as it unwinds."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []


def _check_text(text: str) -> bool:
    """True if UTF-8 can encode ``text`` (no lone surrogate)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_json(node: object) -> None:
    """Refuse (``_NotJson``) anything but exact dict (str keys), list, str, int, finite float, bool, None."""
    if type(node) is str:
        if not _check_text(node):
            raise _NotJson("is a str with a lone surrogate (not text UTF-8 can encode)")
    elif type(node) is float:
        if not math.isfinite(node):
            raise _NotJson("is a float NaN or infinity, which JSON does not have")
    elif type(node) is dict:
        for key, item in node.items():
            if type(key) is not str:
                raise _NotJson(f"has a key of type {_type_name(type(key))} (JSON object keys are str)")
            if not _check_text(key):
                raise _NotJson("has a key with a lone surrogate (not text UTF-8 can encode)")
            try:
                _check_json(item)
            except _NotJson as refusal:
                refusal.path.append(f"[{key!r}]")
                raise
    elif type(node) is list:
        for index, item in enumerate(node):
            try:
                _check_json(item)
            except _NotJson as refusal:
                refusal.path.append(f"[{index}]")
                raise
    elif not (type(node) is int or type(node) is bool or node is None):
        raise _NotJson(f"is {_a(_type_name(type(node)))}{_json_hint(type(node))}")


def _json_hint(kind: type) -> str:
    if issubclass(kind, tuple):
        return " (a JSON array is a list)"
    if issubclass(kind, dict | list | str | int | float):
        return ", a subclass: JSON values are exact dict, list, str, int, float, bool or None"
    return " (JSON values are dict, list, str, int, float, bool or None)"


def _encode_json(value: dict[str, Any] | list[Any]) -> bytes:
    problem = None
    try:
        _check_json(value)
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except _NotJson as refusal:
        problem = "value" + "".join(reversed(refusal.path)) + " " + refusal.problem
    except RecursionError:
        problem = "the JSON value is nested too deeply (or contains itself)"
    except ValueError:  # an int longer than sys.get_int_max_str_digits() digits
        problem = "the JSON value holds an int with more digits than Python writes as text"
    if problem is not None:
        raise ValueError(problem)
    return b"\x0c" + text.encode("utf-8")


_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    bytes: _encode_bytes,
    str: _encode_str,
    bool: _encode_bool,
    int: _encode_int,
    float: _encode_float,
    Decimal: _encode_decimal,
    _dt.date: _encode_date,
    _dt.datetime: _encode_datetime,
    _dt.time: _encode_time,
    uuid.UUID: _encode_uuid,
    dict: _encode_json,
    list: _encode_json,
}


def _type_name(kind: type) -> str:
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def _a(name: str) -> str:
    return f"an {name}" if name[:1].lower() in ("a", "e", "i", "o", "u") else f"a {name}"


def _refusal(value: object) -> str:
    kind = type(value)
    if value is None:
        return "None is stored as NULL, not encoded: leave the column NULL"
    name = _type_name(kind)
    if kind is bytearray or kind is memoryview:
        return f"encode() takes exact bytes, not {_a(name)}: pass bytes(value)"
    base = next((b for b in kind.__mro__[1:] if b in _ENCODERS), None)
    if base is not None:
        return (
            f"encode() refuses {_a(name)}, a subclass of {_type_name(base)}: convert it "
            f"(e.g. {base.__name__}(value)) first; it takes exactly {_ACCEPTED}"
        )
    return f"encode() cannot encode {_a(name)}; it takes exactly {_ACCEPTED}"


def encode(value: _Value) -> bytes:
    """``value`` as its tag byte and canonical payload (docs/codecs.md).

    Raises ValueError for None, for any other type than those in the module's
    table (subclasses included), and for the values of those types that have no
    encoding: a str with a lone surrogate, a Decimal NaN, a time with a tzinfo,
    a JSON structure holding anything but exact dict (str keys), list, str,
    int, finite float, bool and None. The message names types and positions,
    never the value.
    """
    encoder = _ENCODERS.get(type(value))
    if encoder is None:
        raise ValueError(_refusal(value))
    return encoder(value)


# --- decode -------------------------------------------------------------------


class _Malformed(Exception):
    """A payload that is not one ``encode`` writes; the message holds no byte of it."""


def _decode_text(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as error:
        position = error.start
    raise _Malformed(f"is not UTF-8 (at byte {position} of the payload)")


def _decode_ascii(payload: bytes) -> str:
    if not payload.isascii():
        raise _Malformed("is not ASCII")
    return payload.decode("ascii")


def _decode_bool(payload: bytes) -> bool:
    if payload == b"\x01":
        return True
    if payload == b"\x00":
        return False
    raise _Malformed("is not the one byte 0x00 or 0x01")


def _decode_int(payload: bytes) -> int:
    if not payload:
        raise _Malformed("is empty (zero is 0x00)")
    return int.from_bytes(payload, "big", signed=True)


def _decode_float(payload: bytes) -> float:
    if len(payload) != 8:
        raise _Malformed("is not 8 bytes")
    value: float = struct.unpack(">d", payload)[0]
    return value


def _decode_decimal(payload: bytes) -> Decimal:
    value = Decimal(_decode_ascii(payload))
    if value.is_nan():
        raise _Malformed("is a NaN, which has no encoding")
    return value


def _decode_uuid(payload: bytes) -> uuid.UUID:
    if len(payload) != 16:
        raise _Malformed("is not 16 bytes")
    return uuid.UUID(bytes=payload)


def _no_constant(name: str) -> object:
    raise _Malformed("holds NaN or Infinity, which JSON does not have")


def _decode_json(payload: bytes) -> dict[str, Any] | list[Any]:
    value = json.loads(_decode_text(payload), parse_constant=_no_constant)
    if type(value) is not dict and type(value) is not list:
        raise _Malformed("is JSON but not an object or an array")
    return value


_DECODERS: dict[int, tuple[str, Callable[[bytes], _Value]]] = {
    0x01: ("bytes", bytes),
    0x02: ("str", _decode_text),
    0x03: ("bool", _decode_bool),
    0x04: ("int", _decode_int),
    0x05: ("float", _decode_float),
    0x06: ("decimal.Decimal", _decode_decimal),
    0x07: ("datetime.date", lambda p: _dt.date.fromisoformat(_decode_ascii(p))),
    0x08: ("naive datetime.datetime", lambda p: _dt.datetime.fromisoformat(_decode_ascii(p))),
    0x09: ("aware datetime.datetime", lambda p: _dt.datetime.fromisoformat(_decode_ascii(p))),
    0x0A: ("datetime.time", lambda p: _dt.time.fromisoformat(_decode_ascii(p))),
    0x0B: ("uuid.UUID", _decode_uuid),
    0x0C: ("JSON", _decode_json),
}


def decode(data: bytes | bytearray | memoryview) -> _Value:
    """The value ``encode`` wrote as ``data``, of the same type.

    Raises TypeError if ``data`` is not bytes, bytearray or memoryview, and
    ValueError if it is empty, has an unknown tag, or is anything but the exact
    bytes ``encode`` gives for the value it decodes to (every payload is
    decoded, encoded again and compared). Nothing else is raised for any input,
    and no message holds a byte of it. An aware datetime comes back in UTC
    (``tzinfo=datetime.timezone.utc``).
    """
    if type(data) is not bytes:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"decode() takes bytes, bytearray or memoryview, not {_type_name(type(data))}")
        data = bytes(data)
    if not data:
        raise ValueError("decode() needs a tag byte: the input is empty")
    tag = data[0]
    if tag == 0x02:  # text, the common case: every valid UTF-8 payload is canonical
        try:  # (a try, not contextlib.suppress: this is the hot path)
            return data[1:].decode("utf-8")
        except UnicodeDecodeError:
            pass  # the general path below says where
    elif tag == 0x01:  # bytes: every payload is canonical
        return data[1:]
    entry = _DECODERS.get(tag)
    if entry is None:
        raise ValueError(f"decode(): unknown tag 0x{tag:02x} (tags are 0x01 to 0x0c)")
    name, decoder = entry
    problem = None
    try:
        value = decoder(data[1:])
    except _Malformed as malformed:
        problem = str(malformed)
    except Exception:  # a parser's own error may quote the input: none escapes
        problem = "is malformed"
    else:
        try:
            again = encode(value)
        except ValueError:
            problem = "decodes to a value encode() refuses"
        else:
            if again != data:
                problem = "is not canonical: encode() writes the value it decodes to as other bytes"
    if problem is not None:
        size = len(data) - 1
        raise ValueError(
            f"decode(): the {name} payload (tag 0x{tag:02x}, {size} byte{'' if size == 1 else 's'}) {problem}"
        )
    return value
