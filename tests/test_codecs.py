"""sealbox.codecs and sealbox.column_context: round trips for every type, known-answer
bytes written from docs/codecs.md, canonical decoding, every refusal, and errors that
never quote the data."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import math
import struct
import uuid
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
import sealbox
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sealbox import codecs, column_context

# --- strategies ----------------------------------------------------------------------------------

offsets = st.timedeltas(
    min_value=dt.timedelta(hours=-23, minutes=-59), max_value=dt.timedelta(hours=23, minutes=59)
)
fixed_zones = st.just(dt.UTC) | st.builds(dt.timezone, offsets)
# A day inside the edges, so that every offset converts to UTC in range.
aware_datetimes = st.datetimes(
    min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=fixed_zones
)
integers = (
    st.integers()
    | st.integers(min_value=-(2**2000), max_value=2**2000)
    | st.builds(
        lambda n, sign, step: sign * 2**n + step,
        st.integers(0, 600),
        st.sampled_from([1, -1]),
        st.integers(-1, 1),
    )
)
floats = st.floats() | st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, 1e16, 1e-5])
scaled_decimals = st.builds(
    lambda sign, digits, exponent: Decimal((sign, digits, exponent)),
    st.integers(0, 1),
    st.lists(st.integers(0, 9), min_size=1, max_size=40).map(tuple),
    st.integers(-40, 40),
)
decimals = st.decimals(allow_nan=False) | scaled_decimals | st.sampled_from([Decimal("-0"), Decimal("1.10")])
json_scalars = (
    st.none() | st.booleans() | integers | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5)
)
json_documents = st.lists(json_values, max_size=5) | st.dictionaries(st.text(), json_values, max_size=5)

STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "bytes": st.binary(),
    "str": st.text(),
    "bool": st.booleans(),
    "int": integers,
    "float": floats,
    "decimal": decimals,
    "date": st.dates(),
    "naive datetime": st.datetimes(),
    "aware datetime": aware_datetimes,
    "time": st.times(),
    "uuid": st.uuids(),
    "json": json_documents,
}


def same(a: object, b: object) -> bool:
    """``a`` and ``b`` are the same value of the same type (NaN is NaN, -0.0 is not 0.0,
    Decimal("1.10") is not Decimal("1.1"))."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        assert isinstance(b, float)
        return struct.pack(">d", a) == struct.pack(">d", b) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, Decimal):
        assert isinstance(b, Decimal)
        return a.as_tuple() == b.as_tuple()
    if isinstance(a, list):
        assert isinstance(b, list)
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


# --- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", STRATEGIES)
@settings(deadline=None)
@given(data=st.data())
def test_round_trip_keeps_type_and_value(kind: str, data: st.DataObject) -> None:
    value = data.draw(STRATEGIES[kind])
    encoded = codecs.encode(value)
    decoded = codecs.decode(encoded)
    if kind == "aware datetime":
        # The instant comes back, in UTC: the offset is not kept.
        assert type(decoded) is dt.datetime and decoded == value and decoded.tzinfo is dt.UTC
    else:
        assert same(decoded, value)
    assert codecs.encode(decoded) == encoded
    assert same(codecs.decode(bytearray(encoded)), decoded) and same(
        codecs.decode(memoryview(encoded)), decoded
    )


EDGES: list[object] = [
    0,
    False,
    "",
    b"",
    0.0,
    -0.0,
    Decimal("0"),
    Decimal("-0"),
    Decimal("0.0"),
    Decimal("1.1"),
    Decimal("1.10"),
    [],
    {},
    1,
    True,
    "1",
    b"1",
    1.0,
    Decimal("1"),
    [1],
    ["1"],
    [1.0],
    [True],
    [None],
]


def test_edge_values_are_distinct_and_come_back_as_themselves() -> None:
    encodings = [codecs.encode(v) for v in EDGES]  # type: ignore[arg-type]
    assert len(set(encodings)) == len(EDGES)
    for value, encoded in zip(EDGES, encodings, strict=True):
        assert same(codecs.decode(encoded), value), value
        assert encoded  # never empty: nothing encodes to what a NULL might be mistaken for


# --- equal values, equal bytes -------------------------------------------------------------------


@given(value=aware_datetimes, zone=fixed_zones)
def test_one_instant_in_any_offset_gives_the_same_bytes(value: dt.datetime, zone: dt.tzinfo) -> None:
    try:
        moved = value.astimezone(zone)
    except OverflowError:
        assume(False)
    assert moved == value
    assert codecs.encode(moved) == codecs.encode(value)


def test_equal_values_give_equal_bytes() -> None:
    plus2 = dt.timezone(dt.timedelta(hours=2))
    minus5 = dt.timezone(dt.timedelta(hours=-5))
    a = dt.datetime(2024, 6, 1, 14, 0, tzinfo=plus2)
    b = dt.datetime(2024, 6, 1, 7, 0, tzinfo=minus5)
    assert a == b and codecs.encode(a) == codecs.encode(b) == codecs.encode(a.astimezone(dt.UTC))
    # fold is not kept: the two are equal and encode alike.
    naive = dt.datetime(2024, 11, 3, 1, 30)
    assert naive == naive.replace(fold=1) and codecs.encode(naive) == codecs.encode(naive.replace(fold=1))
    assert codecs.encode(dt.time(1, 30)) == codecs.encode(dt.time(1, 30, fold=1))
    # A dict's insertion order does not matter.
    assert codecs.encode({"b": 1, "a": {"d": 2, "c": 3}}) == codecs.encode({"a": {"c": 3, "d": 2}, "b": 1})
    # Every NaN is one NaN.
    other_nan = struct.unpack(">d", bytes.fromhex("fff0000000000001"))[0]
    assert math.isnan(other_nan) and codecs.encode(other_nan) == codecs.encode(math.nan)
    # str(Decimal) follows the context's capitals; the encoding does not.
    with decimal.localcontext() as context:
        context.capitals = 0
        assert codecs.encode(Decimal("1E+5")) == bytes.fromhex("06 31 45 2b 35")
    # The same UUID from another spelling.
    assert codecs.encode(uuid.UUID("{12345678-1234-5678-1234-567812345678}")) == codecs.encode(
        uuid.UUID(int=0x12345678123456781234567812345678)
    )


# --- known answers (written from docs/codecs.md) -------------------------------------------------

VECTORS: list[tuple[object, str]] = [
    (b"", "01"),
    (b"\x00\xff", "01 00ff"),
    ("", "02"),
    ("é", "02 c3a9"),
    ("A€", "02 41e282ac"),
    (False, "03 00"),
    (True, "03 01"),
    (0, "04 00"),
    (1, "04 01"),
    (-1, "04 ff"),
    (127, "04 7f"),
    (128, "04 0080"),
    (255, "04 00ff"),
    (256, "04 0100"),
    (-128, "04 80"),
    (-129, "04 ff7f"),
    (2**64, "04 010000000000000000"),
    (-(2**63), "04 8000000000000000"),
    (-(2**63) - 1, "04 ff7fffffffffffffff"),
    (0.0, "05 0000000000000000"),
    (-0.0, "05 8000000000000000"),
    (1.0, "05 3ff0000000000000"),
    (-2.5, "05 c004000000000000"),
    (0.1, "05 3fb999999999999a"),
    (5e-324, "05 0000000000000001"),
    (math.inf, "05 7ff0000000000000"),
    (-math.inf, "05 fff0000000000000"),
    (math.nan, "05 7ff8000000000000"),
    (-math.nan, "05 7ff8000000000000"),
    (Decimal("1.10"), "06 312e3130"),
    (Decimal("1.1"), "06 312e31"),
    (Decimal("-0"), "06 2d30"),
    (Decimal("0.00"), "06 302e3030"),
    (Decimal("123.4500"), "06 3132332e34353030"),
    (Decimal("-1e3"), "06 2d31452b33"),
    (Decimal("0.000001"), "06 302e303030303031"),
    (Decimal("0.0000001"), "06 31452d37"),
    (Decimal("Infinity"), "06 496e66696e697479"),
    (Decimal("-Infinity"), "06 2d496e66696e697479"),
    (dt.date(2024, 2, 29), "07 323032342d30322d3239"),
    (dt.date(1, 1, 1), "07 303030312d30312d3031"),
    (dt.datetime(2024, 1, 2, 3, 4, 5), "08 323032342d30312d30325430333a30343a3035"),
    (dt.datetime(2024, 1, 2, 3, 4, 5, 6), "08 323032342d30312d30325430333a30343a30352e303030303036"),
    (
        dt.datetime(2024, 3, 10, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        "09 323032342d30332d31305430363a33303a30302b30303a3030",
    ),
    (
        dt.datetime(2024, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        "09 323032332d31322d33315432333a33303a30302b30303a3030",
    ),
    (dt.time(0, 0), "0a 30303a30303a3030"),
    (dt.time(13, 5, 0, 250000), "0a 31333a30353a30302e323530303030"),
    (uuid.UUID("12345678-1234-5678-1234-567812345678"), "0b 12345678123456781234567812345678"),
    ([], "0c 5b5d"),
    ({}, "0c 7b7d"),
    (
        {"b": [1, 2.5, None, True], "a": "é"},
        "0c 7b2261223a22c3a9222c2262223a5b312c322e352c6e756c6c2c747275655d7d",
    ),
    ([1e16, 1e-05, 0.0001, -0.0, 100.0], "0c 5b31652b31362c31652d30352c302e303030312c2d302e302c3130302e305d"),
    (['\x00\x1f"\\\n\x7f\u2028'], "0c 5b225c75303030305c75303031665c225c5c5c6e7fe280a8225d"),
    # Keys sorted by code point (UTF-8 byte order), not by UTF-16 code unit.
    (
        {"é": 1, "z": 2, "\U0001f600": 3, "\uff5e": 4},
        "0c 7b227a223a322c22c3a9223a312c22efbd9e223a342c22f09f9880223a337d",
    ),
]


@pytest.mark.parametrize(
    ("value", "expected"), VECTORS, ids=[f"{i}-{type(v).__name__}" for i, (v, _) in enumerate(VECTORS)]
)
def test_known_answers(value: object, expected: str) -> None:
    encoded = bytes.fromhex(expected)
    assert codecs.encode(value) == encoded  # type: ignore[arg-type]
    decoded = codecs.decode(encoded)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        assert decoded == value and decoded.tzinfo is dt.UTC  # type: ignore[union-attr]
    else:
        assert same(decoded, value)


# --- docs/codecs.md's rules, implemented again from the text -------------------------------------


def spec_int(x: int) -> bytes:
    """The smallest L >= 1 with -2**(8L-1) <= x < 2**(8L-1), two's complement."""
    length = 1
    while not -(1 << (8 * length - 1)) <= x < 1 << (8 * length - 1):
        length += 1
    return bytes([0x04]) + (x % (1 << (8 * length))).to_bytes(length, "big")


def spec_decimal(value: Decimal) -> str:
    sign, digit_tuple, exponent = value.as_tuple()
    text = "-" if sign else ""
    if exponent == "F":
        return text + "Infinity"
    assert isinstance(exponent, int)
    c = "".join(map(str, digit_tuple)).lstrip("0") or "0"
    adjusted = exponent + len(c) - 1
    if exponent <= 0 and adjusted >= -6:
        if exponent == 0:
            return text + c
        c = c.rjust(-exponent + 1, "0")
        return text + c[:exponent] + "." + c[exponent:]
    mantissa = c[0] + ("." + c[1:] if len(c) > 1 else "")
    return text + mantissa + "E" + ("+" if adjusted >= 0 else "-") + str(abs(adjusted))


def shortest_digits(x: float) -> tuple[str, int]:
    """The fewest decimal digits d1...dn that read back as ``x`` > 0 (the nearest such if
    several, the even one of two equally near), and E with ``x`` ~ d1.d2...dn * 10**E."""
    for n in range(1, 18):
        mantissa, _, exponent = f"{x:.{n - 1}e}".partition("e")
        rounded, scale = int(mantissa.replace(".", "")), int(exponent) - (n - 1)
        # The correctly rounded n digits may miss where the spacing of doubles changes
        # (at a power of two); a neighbour of them may read back.
        fits = [m for m in (rounded - 1, rounded, rounded + 1) if float(f"{m}e{scale}") == x]
        if fits:
            # Of two equally near, the even last digit.
            best = min(fits, key=lambda m: (abs(Fraction(m) * Fraction(10) ** scale - Fraction(x)), m % 2))
            return str(best).rstrip("0"), scale + len(str(best)) - 1
    raise AssertionError("17 digits always read back")


def spec_float(x: float) -> str:
    """The JSON text of a finite float: shortest round-trip digits, then the layout rule."""
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    if x == 0:
        return sign + "0.0"
    digits, exponent = shortest_digits(abs(x))
    if -4 <= exponent < 16:
        if exponent >= 0:
            whole, fraction = digits[: exponent + 1].ljust(exponent + 1, "0"), digits[exponent + 1 :]
        else:
            whole, fraction = "0", "0" * (-exponent - 1) + digits
        return f"{sign}{whole}.{fraction or '0'}"
    tail = "." + digits[1:] if len(digits) > 1 else ""
    return f"{sign}{digits[0]}{tail}e{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"


@given(integers)
def test_ints_follow_the_written_rule(x: int) -> None:
    assert codecs.encode(x) == spec_int(x)


@given(decimals)
def test_decimals_follow_the_written_rule(value: Decimal) -> None:
    assert codecs.encode(value) == b"\x06" + spec_decimal(value).encode("ascii")


@settings(max_examples=1000)
@given(
    st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-(10**20), 10**20).map(lambda i: i / 1000)
    | st.builds(math.ldexp, st.sampled_from([1.0, -1.0, 1.5, 1.75]), st.integers(-1074, 1023))
    # Halves and quarters of large integers: two candidates equally near, both reading back.
    | st.builds(lambda i, k: i / 2**k, st.integers(-(10**17), 10**17), st.integers(0, 12))
)
def test_json_floats_follow_the_written_rule(x: float) -> None:
    assert codecs.encode([x]) == b"\x0c[" + spec_float(x).encode("ascii") + b"]"


# --- refused values ------------------------------------------------------------------------------


class Color(enum.IntEnum):
    RED = 1


class Name(str):
    pass


class Moment(dt.datetime):
    pass


REFUSED: list[tuple[object, str]] = [
    (None, r"^None is stored as NULL, not encoded"),
    ((1, 2), r"cannot encode a tuple; it takes exactly bytes, str, bool, int, float, decimal\.Decimal"),
    ({1, 2}, r"cannot encode a set"),
    (frozenset(), r"cannot encode a frozenset"),
    (bytearray(b"secret"), r"takes exact bytes, not a bytearray: pass bytes\(value\)"),
    (memoryview(b"secret"), r"not a memoryview: pass bytes\(value\)"),
    (Color.RED, r"refuses a [\w.]*Color, a subclass of int"),
    (Name("alice@example.org"), r"refuses a [\w.]*Name, a subclass of str"),
    (Moment(2024, 1, 1), r"a subclass of datetime\.datetime"),
    (object(), r"cannot encode an object"),
    (1 + 2j, r"cannot encode a complex"),
    (Decimal("NaN"), r"Decimal NaN"),
    (Decimal("-sNaN"), r"Decimal NaN"),
    ("ab\ud800cd", r"lone surrogate at index 2"),
    (dt.time(1, 2, tzinfo=dt.UTC), r"store a naive time, or an aware datetime"),
    (dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))), r"out of datetime's range"),
    ({"a": [1, 2, (3,)]}, r"^value\['a'\]\[2\] is a tuple \(a JSON array is a list\)$"),
    ([{"x": {1, 2}}], r"^value\[0\]\['x'\] is a set"),
    ({"a": {1: "x"}}, r"^value\['a'\] has a key of type int \(JSON object keys are str\)$"),
    ({None: 1}, r"^value has a key of type NoneType"),
    ([0, math.nan], r"^value\[1\] is a float NaN or infinity"),
    ({"a": -math.inf}, r"^value\['a'\] is a float NaN or infinity"),
    ([Decimal("1")], r"^value\[0\] is a decimal\.Decimal"),
    ([b"x"], r"^value\[0\] is a bytes"),
    ([Color.RED], r"^value\[0\] is a [\w.]*Color, a subclass"),
    ([Name("x")], r"^value\[0\] is a [\w.]*Name, a subclass"),
    ({"k": ["ok", "\udfff"]}, r"^value\['k'\]\[1\] is a str with a lone surrogate"),
    ({"\ud800": 1}, r"^value has a key with a lone surrogate"),
    ([10**5000], r"more digits than Python writes as text"),
]


class NoOffset(dt.tzinfo):
    """A tzinfo that gives no offset: a datetime with it is naive by Python's rule."""

    def utcoffset(self, when: dt.datetime | None) -> None:
        return None

    def dst(self, when: dt.datetime | None) -> None:
        return None

    def tzname(self, when: dt.datetime | None) -> None:
        return None


@pytest.mark.parametrize(
    ("value", "message"), REFUSED, ids=[f"{i}-{type(v).__name__}" for i, (v, _) in enumerate(REFUSED)]
)
def test_refused_values_raise_value_error(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        codecs.encode(value)  # type: ignore[arg-type]
    assert "secret" not in str(info.value) and "alice" not in str(info.value)


def test_refusals_name_the_path_and_never_the_value() -> None:
    with pytest.raises(ValueError) as info:
        codecs.encode({"email": ["alice@example.org", math.nan]})
    assert str(info.value) == "value['email'][1] is a float NaN or infinity, which JSON does not have"
    with pytest.raises(ValueError) as info:
        codecs.encode(dt.datetime(2024, 1, 1, tzinfo=NoOffset()))
    assert "no UTC offset" in str(info.value)


def test_refused_structures() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested too deeply"):
        codecs.encode(deep)
    circle: list[Any] = []
    circle.append(circle)
    with pytest.raises(ValueError, match="nested too deeply"):
        codecs.encode(circle)


# --- decode: only canonical bytes ----------------------------------------------------------------

NOT_CANONICAL: list[tuple[str, bytes]] = [
    ("int with a leading zero byte", b"\x04\x00\x01"),
    ("int with a leading 0xff byte", b"\x04\xff\x80"),
    ("int zero in two bytes", b"\x04\x00\x00"),
    ("int with no payload", b"\x04"),
    ("str not UTF-8", b"\x02\xff"),
    ("str with an encoded surrogate", b"\x02\xed\xa0\x80"),
    ("str in overlong UTF-8", b"\x02\xc0\xaf"),
    ("bool 0x02", b"\x03\x02"),
    ("bool with trailing garbage", b"\x03\x01\x00"),
    ("bool empty", b"\x03"),
    ("float of 7 bytes", b"\x05" + bytes(7)),
    ("float with trailing garbage", b"\x05" + bytes(9)),
    ("float other NaN", b"\x05\xff\xf8" + bytes(6)),
    ("float signalling NaN", b"\x05\x7f\xf0" + bytes(5) + b"\x01"),
    ("decimal lower-case e", b"\x061e+5"),
    ("decimal with a plus sign", b"\x06+1"),
    ("decimal with spaces", b"\x06 1"),
    ("decimal with an underscore", b"\x061_0"),
    ("decimal inf", b"\x06inf"),
    ("decimal NaN", b"\x06NaN"),
    ("decimal sNaN", b"\x06sNaN"),
    ("decimal empty", b"\x06"),
    ("decimal not ASCII", b"\x06\xd9\xa3"),
    ("decimal exponent where str() writes digits", b"\x061E+0"),
    ("date compact", b"\x0720240101"),
    ("date week form", b"\x072024-W01-1"),
    ("date out of range", b"\x072024-13-01"),
    ("date with trailing garbage", b"\x072024-01-01x"),
    ("naive datetime with a space", b"\x082024-01-01 00:00:00"),
    ("naive datetime without seconds", b"\x082024-01-01T00:00"),
    ("naive datetime with zero microseconds", b"\x082024-01-01T00:00:00.000000"),
    ("naive datetime with an offset", b"\x082024-01-01T00:00:00+00:00"),
    ("aware datetime without an offset", b"\x092024-01-01T00:00:00"),
    ("aware datetime not in UTC", b"\x092024-01-01T01:00:00+01:00"),
    ("aware datetime with Z", b"\x092024-01-01T00:00:00Z"),
    ("aware datetime with seconds in the offset", b"\x092024-01-01T00:00:00+00:00:00"),
    ("time without seconds", b"\x0a13:05"),
    ("time with an offset", b"\x0a13:05:00+00:00"),
    ("time with milliseconds", b"\x0a13:05:00.250"),
    ("uuid of 15 bytes", b"\x0b" + bytes(15)),
    ("uuid of 17 bytes", b"\x0b" + bytes(17)),
    ("json unsorted keys", b'\x0c{"b":1,"a":2}'),
    ("json with a space", b'\x0c{"a": 1}'),
    ("json with a newline", b"\x0c[1]\n"),
    ("json duplicate keys", b'\x0c{"a":1,"a":1}'),
    ("json escaped non-ASCII", b'\x0c["\\u00e9"]'),
    ("json escaped slash", b'\x0c["\\/"]'),
    ("json upper-case escape", b'\x0c["\\u001F"]'),
    ("json float 1.00", b"\x0c[1.00]"),
    ("json float 1e5", b"\x0c[1e5]"),
    ("json -0 int", b"\x0c[-0]"),
    ("json NaN", b"\x0c[NaN]"),
    ("json Infinity", b"\x0c[-Infinity]"),
    ("json lone surrogate escape", b'\x0c["\\ud800"]'),
    ("json top-level string", b'\x0c"x"'),
    ("json top-level null", b"\x0cnull"),
    ("json trailing garbage", b"\x0c[]x"),
    ("json not UTF-8", b'\x0c["\xff"]'),
    ("json truncated", b"\x0c[1,"),
    ("json nested too deeply", b"\x0c" + b"[" * 100_000 + b"]" * 100_000),
    ("json int too long for Python's text conversion", b"\x0c[" + b"1" * 5000 + b"]"),
    ("empty", b""),
    ("tag 0x00", b"\x00"),
    ("tag 0x0d", b"\x0d\x00"),
    ("tag 0xff", b"\xff"),
]


@pytest.mark.parametrize(("case", "data"), NOT_CANONICAL, ids=[c for c, _ in NOT_CANONICAL])
def test_decode_refuses_what_encode_does_not_write(case: str, data: bytes) -> None:
    with pytest.raises(ValueError) as info:
        codecs.decode(data)
    error = info.value
    assert type(error) is ValueError
    assert error.__cause__ is None and error.__context__ is None  # no parser error, which may quote data
    assert str(error).startswith("decode")


def test_decode_errors_hold_no_byte_of_the_data() -> None:
    for data in (b"\x02secret\xff", b"\x07secret", b'\x0c{"secret":1, "a":2}', b"\x06secret", b"\x0asecret"):
        with pytest.raises(ValueError) as info:
            codecs.decode(data)
        assert "secret" not in str(info.value) and "\\x" not in str(info.value), str(info.value)


def test_decode_messages_say_where() -> None:
    with pytest.raises(ValueError, match=r"^decode\(\) needs a tag byte: the input is empty$"):
        codecs.decode(b"")
    with pytest.raises(ValueError, match=r"^decode\(\): unknown tag 0x0d \(tags are 0x01 to 0x0c\)$"):
        codecs.decode(b"\x0d")
    with pytest.raises(
        ValueError, match=r"^decode\(\): the int payload \(tag 0x04, 2 bytes\) is not canonical"
    ):
        codecs.decode(b"\x04\x00\x01")
    with pytest.raises(ValueError, match=r"the str payload \(tag 0x02, 3 bytes\) is not UTF-8 \(at byte 1"):
        codecs.decode(b"\x02a\xffb")
    with pytest.raises(ValueError, match=r"the bool payload \(tag 0x03, 1 byte\) is not the one byte"):
        codecs.decode(b"\x03\x02")


@pytest.mark.parametrize("data", ["\x01", 1, None, [1], bytearray, object()])
def test_decode_takes_only_bytes_like_input(data: object) -> None:
    with pytest.raises(TypeError, match="decode\\(\\) takes bytes, bytearray or memoryview"):
        codecs.decode(data)  # type: ignore[arg-type]


def test_decode_takes_bytearray_and_memoryview() -> None:
    assert codecs.decode(bytearray(b"\x02ab")) == "ab"
    assert codecs.decode(memoryview(b"xx\x04\x01")[2:]) == 1
    assert type(codecs.decode(memoryview(b"\x01ab"))) is bytes


@settings(max_examples=500)
@given(
    st.binary(max_size=64)
    | st.builds(lambda t, p: bytes([t]) + p, st.integers(0, 13), st.binary(max_size=40))
)
def test_decode_raises_only_value_error_on_random_bytes(data: bytes) -> None:
    try:
        value = codecs.decode(data)
    except ValueError as error:
        assert type(error) is ValueError and error.__context__ is None
    else:
        assert codecs.encode(value) == data


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_decode_of_a_changed_encoding_is_the_value_of_those_bytes_or_value_error(data: st.DataObject) -> None:
    value = data.draw(st.one_of(*STRATEGIES.values()))
    encoded = bytearray(codecs.encode(value))
    position = data.draw(st.integers(0, len(encoded)))
    change = data.draw(st.sampled_from(["flip", "insert", "delete"]))
    byte = data.draw(st.integers(0, 255))
    if change == "flip" and position < len(encoded):
        encoded[position] ^= byte or 1
    elif change == "insert":
        encoded.insert(position, byte)
    elif position < len(encoded):
        del encoded[position]
    try:
        decoded = codecs.decode(bytes(encoded))
    except ValueError as error:
        assert type(error) is ValueError and error.__context__ is None
    else:
        assert codecs.encode(decoded) == bytes(encoded)


# --- column_context ------------------------------------------------------------------------------

PREFIX = b"sealbox/v1/column\x00"


def test_column_context_known_answers() -> None:
    assert column_context("users", "email") == PREFIX + b"\x00\x00\x00\x05users\x00\x00\x00\x05email"
    table_column = PREFIX + b"\x00\x00\x00\x05users\x00\x00\x00\x05email"
    assert column_context("users", "email", row=42) == table_column + b"\x00\x00\x00\x02\x04\x2a"
    assert column_context("users", "email", 42) == column_context("users", "email", row=42)
    assert column_context("users", "email", row="42") == table_column + b"\x00\x00\x00\x03\x0242"
    assert column_context("users", "email", row=b"\x01") == table_column + b"\x00\x00\x00\x02\x01\x01"
    assert column_context("users", "email", row=b"") == table_column + b"\x00\x00\x00\x01\x01"
    assert column_context("users", "email", row=-1) == table_column + b"\x00\x00\x00\x02\x04\xff"
    assert column_context("users", "email", row=300) == table_column + b"\x00\x00\x00\x03\x04\x01\x2c"
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert column_context("users", "email", row=key) == table_column + b"\x00\x00\x00\x11\x0b" + key.bytes
    assert (
        column_context("Ünïcode", "é")
        == PREFIX + b"\x00\x00\x00\x09\xc3\x9cn\xc3\xafcode\x00\x00\x00\x02\xc3\xa9"
    )
    # Names are used as given: no case folding, no quoting.
    assert column_context("Users", "email") != column_context("users", "email")
    assert column_context('"users"', "email") != column_context("users", "email")


def test_column_context_is_injective_on_the_cases_that_matter() -> None:
    assert column_context("ab", "c") != column_context("a", "bc")
    assert column_context("t", "c", row=1) != column_context("t", "c", row="1")
    assert column_context("t", "c", row=1) != column_context("t", "c", row=b"\x01")
    assert column_context("t", "c", row="") != column_context("t", "c", row=b"")
    assert column_context("t", "c", row=0) != column_context("t", "c")
    assert column_context("t", "c", row=b"") != column_context("t", "c")
    # A column name that holds what looks like a row field.
    assert column_context("t", "c\x00\x00\x00\x02\x04\x2a") != column_context("t", "c", row=42)


names = st.text(alphabet="ab\x00\x01\x02é", min_size=1, max_size=4)
rows = (
    st.none()
    | st.integers(-300, 300)
    | st.text(alphabet="ab\x00\x01", max_size=3)
    | st.binary(max_size=3)
    | st.sampled_from([uuid.UUID(int=0), uuid.UUID(int=1)])
)
arguments = st.tuples(names, names, rows)


def typed(args: tuple[str, str, object]) -> tuple[object, ...]:
    return (args[0], args[1], type(args[2]), args[2])


@settings(max_examples=300)
@given(st.lists(arguments, min_size=2, max_size=40, unique_by=typed))
def test_distinct_arguments_give_distinct_contexts(argument_lists: list[tuple[str, str, Any]]) -> None:
    contexts = [column_context(*args) for args in argument_lists]
    assert len(set(contexts)) == len(contexts)


@given(arguments)
def test_a_context_is_the_concatenation_docs_codecs_md_gives(args: tuple[str, str, Any]) -> None:
    table, column, row = args
    expected = PREFIX
    for part in (table.encode(), column.encode(), *(() if row is None else (codecs.encode(row),))):
        expected += len(part).to_bytes(4, "big") + part
    assert column_context(table, column, row) == expected


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((b"users", "email"), TypeError, r"^table must be a str, not bytes$"),
        (("users", None), TypeError, r"^column must be a str, not NoneType$"),
        ((Name("users"), "email"), TypeError, r"^table must be a str, not Name$"),
        (("", "email"), ValueError, r"^table must not be empty$"),
        (("users", ""), ValueError, r"^column must not be empty$"),
        (("us\ud800ers", "email"), ValueError, r"^table has a lone surrogate"),
        (("users", "email", True), TypeError, r"not bool$"),
        (
            ("users", "email", 1.0),
            TypeError,
            r"^row must be the primary key as an int, str, bytes or uuid\.UUID, not float$",
        ),
        (("users", "email", Color.RED), TypeError, r"not Color$"),
        (("users", "email", bytearray(b"1")), TypeError, r"not bytearray$"),
        (("users", "email", Decimal(1)), TypeError, r"not Decimal$"),
        (("users", "email", (1, 2)), TypeError, r"not tuple$"),
        (("users", "email", "\ud800"), ValueError, r"lone surrogate"),
    ],
)
def test_column_context_refusals(args: tuple[Any, ...], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        column_context(*args)


# --- with a Box ----------------------------------------------------------------------------------


def test_a_typed_value_sealed_to_its_row() -> None:
    box = sealbox.Box(sealbox.generate_key())
    birth = dt.date(1990, 5, 17)
    message = box.encrypt(codecs.encode(birth), context=column_context("users", "birth_date", row=42))
    assert codecs.decode(box.decrypt(message, context=column_context("users", "birth_date", row=42))) == birth
    for elsewhere in (
        column_context("users", "birth_date", row=43),
        column_context("users", "birth_date", row="42"),
        column_context("users", "birth_date"),
        column_context("users", "created_on", row=42),
    ):
        with pytest.raises(sealbox.DecryptionError):
            box.decrypt(message, context=elsewhere)


def test_the_package_exposes_both() -> None:
    import importlib

    assert importlib.import_module("sealbox.codecs") is sealbox.codecs is codecs
    assert sorted(codecs.__all__) == ["decode", "encode"]
    assert "codecs" in sealbox.__all__ and "column_context" in sealbox.__all__
    assert sealbox.column_context is column_context
