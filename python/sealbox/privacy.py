"""Keeping personal data out of logs and analytics: IP masking and pseudonyms, PII scrubbing.

    from sealbox.privacy import mask_ip, hash_ip, scrub, PiiFilter

    mask_ip("8.8.4.4")                       # "8.8.4.0" (IP Anonymizer's mask_ip)
    hash_ip("8.8.4.4", key)                  # a keyed pseudonym, itself an IPv4 address
    scrub("mail alice@example.org")          # "mail [FILTERED]" (Logstop's filters)
    logging.getLogger().addFilter(PiiFilter())

See docs/privacy.md for what each one protects against, and what it does not.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
from collections.abc import Iterable, MutableMapping, Sequence
from typing import Any, Literal

from sealbox import _arrow, _native
from sealbox._blind import BlindIndex

__all__ = ["PiiFilter", "Scrubber", "hash_ip", "hash_ip_batch", "mask_ip", "scrub"]

_IP = ipaddress.IPv4Address | ipaddress.IPv6Address
_Key = bytes | bytearray | memoryview | str

# ---------------------------------------------------------------------------
# IP addresses


def _parse(ip: object) -> _IP:
    if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
        address: _IP = ip
    elif isinstance(ip, str):
        try:
            address = ipaddress.ip_address(ip.strip())
        except ValueError:
            raise ValueError("ip must be an IPv4 or IPv6 address") from None
    else:
        raise TypeError(f"ip must be str or an ipaddress address, not {type(ip).__name__}")
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        # The zone id names an interface of the host that logged the address,
        # not the peer: dropped.
        address = ipaddress.IPv6Address(int(address))
    return address


def _carried_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 address carries, and the prefix it is written after."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "::ffff:"
    value = int(address)
    # IPv4-compatible (deprecated, RFC 4291): ::w.x.y.z, except :: and ::1.
    if value >> 32 == 0 and value > 1:
        return ipaddress.IPv4Address(value), "::"
    return None


def _prefix(value: object, name: str, bits: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= bits:
        raise ValueError(f"{name} must be an int from 0 to {bits}")
    return value


def mask_ip(ip: str | _IP, *, ipv4_prefix: int = 24, ipv6_prefix: int = 48) -> str:
    """The address with all but its first bits zeroed, as IP Anonymizer and
    Google Analytics do: ``"8.8.4.4"`` -> ``"8.8.4.0"``,
    ``"2001:4860:4860::8844"`` -> ``"2001:4860:4860::"``.

    IPv4 keeps ``ipv4_prefix`` bits (24: the last octet zeroed), IPv6
    ``ipv6_prefix`` (48: the last 80 bits). An IPv6 address that carries an IPv4
    one (IPv4-mapped ``::ffff:w.x.y.z`` or IPv4-compatible ``::w.x.y.z``) is
    masked as that IPv4 address and written in the same form
    (``"::ffff:8.8.4.4"`` -> ``"::ffff:8.8.4.0"``; IP Anonymizer gives ``"::"``).
    A zone id (``fe80::1%eth0``) is dropped. IPv6 results are in RFC 5952's
    compressed form. Anything else raises ``ValueError``.
    """
    v4 = _prefix(ipv4_prefix, "ipv4_prefix", 32)
    v6 = _prefix(ipv6_prefix, "ipv6_prefix", 128)
    address = _parse(ip)
    if isinstance(address, ipaddress.IPv6Address):
        carried = _carried_ipv4(address)
        if carried is None:
            return str(ipaddress.IPv6Network((address, v6), strict=False).network_address)
        inner, form = carried
        return form + str(ipaddress.IPv4Network((inner, v4), strict=False).network_address)
    return str(ipaddress.IPv4Network((address, v4), strict=False).network_address)


def _hasher(key: _Key, prefix_preserving: bool, mode: str, iterations: int) -> Any:
    """The native hasher of a mode (arguments checked)."""
    if mode == "ip_anonymizer":
        if prefix_preserving:
            raise ValueError("ip_anonymizer mode is not prefix-preserving")
        if not isinstance(iterations, int) or isinstance(iterations, bool) or not 1 <= iterations < 2**32:
            raise ValueError("iterations must be a positive int")
        if not isinstance(key, str | bytes):
            raise TypeError("key must be str or bytes (IP Anonymizer's key: string)")
        return _native.IpHasher.ip_anonymizer(key.encode() if isinstance(key, str) else key, iterations)
    if mode != "prf":
        raise ValueError("mode must be 'prf' or 'ip_anonymizer'")
    return _native.IpHasher(key, prefix_preserving=prefix_preserving)


def hash_ip(
    ip: str | _IP,
    key: _Key,
    *,
    prefix_preserving: bool = False,
    mode: Literal["prf", "ip_anonymizer"] = "prf",
    iterations: int = 1,
) -> str:
    """A keyed pseudonym of ``ip``, itself an address of the same family: the
    same address and key always give the same pseudonym, and without the key
    the pseudonym tells nothing about the address.

    ``key`` is a 32-byte key (or its hex/base64), from which a key for this use
    alone is derived (HKDF, label ``sealbox/v1/ip-pseudonym``; docs/privacy.md
    gives the construction). With ``prefix_preserving=True`` two addresses that
    share their first *n* bits have pseudonyms that share their first *n* bits
    (a shared /24 stays shared), which keeps network-level analysis but also
    shows which addresses are neighbours.

    ``mode="ip_anonymizer"`` gives IP Anonymizer's ``hash_ip`` output instead
    (PBKDF2-HMAC-SHA256 of the address text, salt ``key``, ``iterations`` = 1 by
    default), for joining with data it already produced; its ``key`` is the
    same string. One PBKDF2 iteration is a keyed hash, not a slow one: the key
    must be long and random.

    An IPv4 address carried in IPv6 (``::ffff:w.x.y.z``) is pseudonymized as
    IPv4 and written in the same form; a zone id is dropped (refused with
    ``mode="ip_anonymizer"``, whose text has none). ``iterations`` is at most
    2**32 - 1. A bad address
    raises ``ValueError``.
    """
    pseudonym: str = _hasher(key, prefix_preserving, mode, iterations).hash(_ip_text(ip))
    return pseudonym


def _ip_text(ip: object) -> str:
    if isinstance(ip, str):
        return ip.strip()
    if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(ip)
    raise TypeError(f"ip must be str or an ipaddress address, not {type(ip).__name__}")


def hash_ip_batch(
    ips: Iterable[str | _IP] | Any,
    key: _Key,
    *,
    prefix_preserving: bool = False,
    mode: Literal["prf", "ip_anonymizer"] = "prf",
    iterations: int = 1,
    threads: int | None = None,
) -> Any:
    """`hash_ip` of every address, in one native call with the GIL released,
    in either mode. A bad address raises ``ValueError`` naming its position.

    A list (or any iterable) gives a list. A pyarrow ``string`` array or
    ChunkedArray (or any Arrow column with the PyCapsule interface: polars,
    DuckDB) gives a pyarrow ``string`` array (``large_string`` for a large
    one), nulls kept null, with no Python object per row, on all cores
    (``threads`` caps them).
    """
    hasher = _hasher(key, prefix_preserving, mode, iterations)
    array = _arrow.as_arrow(ips)
    if array is None:
        return hasher.hash_batch([_ip_text(ip) for ip in ips])
    return _hash_arrow(hasher, array, threads)


def _hash_arrow(hasher: Any, array: Any, threads: int | None) -> Any:
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        large = array.type in (pa.large_binary(), pa.large_string())
        return pa.chunked_array(
            [_hash_arrow(hasher, chunk, threads) for chunk in array.chunks],
            type=pa.large_string() if large else pa.string(),
        )
    out_type = pa.large_string() if _arrow.is_large(array.type) else pa.string()
    offsets, data, validity = _arrow.buffers(array)
    out, out_offsets, out_validity, nulls = hasher._column(offsets, data, validity, threads)
    return _arrow.column(out_type, len(array), out_offsets, out, out_validity, nulls)


# ---------------------------------------------------------------------------
# Text

_FLAGS = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"), (re.VERBOSE, "x"))


def _pattern(p: object) -> str:
    if isinstance(p, str):
        return p
    if isinstance(p, re.Pattern) and isinstance(p.pattern, str):
        flags = "".join(f for flag, f in _FLAGS if p.flags & flag)
        return f"(?{flags}){p.pattern}" if flags else p.pattern
    raise TypeError("patterns must be str or compiled str patterns")


class Scrubber:
    """Compiled PII filters, to scrub many texts (see :func:`scrub` for the options).

    With ``key`` each value becomes ``[FILTERED:<token>]``, the token being what
    ``BlindIndex(key, bits=bits, encoding="hex").compute(value)`` gives (the
    same native computation), or, when ``key`` is a :class:`~sealbox.BlindIndex`,
    its own ``compute(value)`` (hex for raw indexes). Immutable, thread-safe,
    never pickled.
    """

    __slots__ = ("_native",)

    def __init__(
        self,
        *,
        url_password: bool = True,
        email: bool = True,
        credit_card: bool = True,
        phone: bool = True,
        ssn: bool = True,
        ip: bool = False,
        mac: bool = False,
        patterns: Sequence[str | re.Pattern[str]] = (),
        key: _Key | BlindIndex[Any] | None = None,
        bits: int = 64,
        replacement: str = "[FILTERED]",
    ) -> None:
        if isinstance(patterns, str | re.Pattern):
            patterns = [patterns]
        index: BlindIndex[Any] | None
        if key is None:
            index = None
        elif isinstance(key, BlindIndex):
            index = key
        else:
            index = BlindIndex(key if isinstance(key, bytes | str) else bytes(key), bits=bits, encoding="hex")
        if not isinstance(replacement, str):
            raise TypeError("replacement must be str")
        self._native = _native.Scrubber(
            url_password=url_password,
            email=email,
            credit_card=credit_card,
            phone=phone,
            ssn=ssn,
            ip=ip,
            mac=mac,
            patterns=[_pattern(p) for p in patterns],
            replacement=replacement,
            index=index,
        )

    def scrub(self, text: str) -> str:
        """``text`` with every value found replaced."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        return self._native.scrub(text)

    def scrub_batch(self, texts: Iterable[str]) -> list[str]:
        """Every text scrubbed, in one native call."""
        return self._native.scrub_batch(list(texts))

    @property
    def keyed(self) -> bool:
        return self._native.keyed

    def __repr__(self) -> str:
        return f"Scrubber(keyed={self.keyed})"

    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle 'Scrubber' object: it may hold key material")


_cache: dict[tuple[Any, ...], Scrubber] = {}
_cache_lock = threading.Lock()


def scrub(
    text: str,
    *,
    url_password: bool = True,
    email: bool = True,
    credit_card: bool = True,
    phone: bool = True,
    ssn: bool = True,
    ip: bool = False,
    mac: bool = False,
    patterns: Sequence[str | re.Pattern[str]] = (),
    key: _Key | BlindIndex[Any] | None = None,
    bits: int = 64,
    replacement: str = "[FILTERED]",
) -> str:
    """``text`` with personal data replaced by ``[FILTERED]``, as Logstop does.

    Filters, in Logstop's order: URL passwords (``//user:[FILTERED]@host``),
    emails (also ``%40`` and ``%2B`` percent-encoded), card numbers (13 to 19
    digits, spaces, ``+`` or ``-`` between groups, Luhn-checked: Amex included,
    a number failing the check kept), phone numbers (E.164 ``+15555555555`` and
    NANP ``(555) 555-5555``), US SSNs; ``ip=True`` adds IPv4 and IPv6 addresses
    (IPv6 checked by parsing), ``mac=True`` MAC addresses; ``patterns`` are more
    regexes (Rust ``regex`` syntax, which simple Python patterns share),
    replaced whole. The scan is the Rust ``regex`` crate's: linear in the text,
    whatever it holds.

    With ``key``, values are replaced by ``[FILTERED:<token>]`` where the token
    is ``BlindIndex(key, bits=bits, encoding="hex").compute(value)`` (for an
    email written ``%40``, of the decoded email), so an operator can find the
    rows a log line is about; ``key`` may also be a ``BlindIndex`` without
    normalizers. Repeated calls with the same options reuse compiled filters;
    keyed calls compile each time: keep a :class:`Scrubber` instead.
    """
    if key is not None:
        return Scrubber(
            url_password=url_password,
            email=email,
            credit_card=credit_card,
            phone=phone,
            ssn=ssn,
            ip=ip,
            mac=mac,
            patterns=patterns,
            key=key,
            bits=bits,
            replacement=replacement,
        ).scrub(text)
    spec = (
        url_password,
        email,
        credit_card,
        phone,
        ssn,
        ip,
        mac,
        tuple(_pattern(p) for p in ([patterns] if isinstance(patterns, str | re.Pattern) else patterns)),
        replacement,
    )
    scrubber = _cache.get(spec)
    if scrubber is None:
        scrubber = Scrubber(
            url_password=url_password,
            email=email,
            credit_card=credit_card,
            phone=phone,
            ssn=ssn,
            ip=ip,
            mac=mac,
            patterns=list(spec[7]),
            replacement=replacement,
        )
        with _cache_lock:
            if len(_cache) >= 64:
                _cache.clear()
            _cache[spec] = scrubber
    return scrubber.scrub(text)


# ---------------------------------------------------------------------------
# Logging

# The attributes every LogRecord has; anything else came from ``extra=``.
_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}

_DEPTH = 8


class PiiFilter(logging.Filter):
    """A ``logging.Filter`` that scrubs each record before any handler sees it:
    its message with its arguments merged in (``record.msg`` becomes the
    scrubbed text and ``record.args`` empty), the ``extra=`` fields (strings,
    and strings inside dicts, lists and tuples), the exception text and the
    stack text. Options are :func:`scrub`'s::

        handler.addFilter(PiiFilter())            # or logger.addFilter(...)
        PiiFilter(key=index_key, ip=True)         # keyed tokens, IPs too

    ``processor`` is the same filter as a structlog processor (put it after
    ``format_exc_info``): it scrubs every string in the event dict.

    A filter is a second line of defence: values it has no pattern for pass
    (names, addresses, tokens); handlers that read ``record.exc_info``
    themselves (not ``exc_text``) see the raw exception.
    """

    def __init__(self, name: str = "", **options: Any) -> None:
        super().__init__(name)
        self._scrubber = Scrubber(**options)

    def _value(self, value: Any, depth: int = 0) -> Any:
        if isinstance(value, str):
            return self._scrubber._native.scrub(value)
        if depth >= _DEPTH:
            return value
        if isinstance(value, dict):
            return {k: self._value(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(v, depth + 1) for v in value]
        if isinstance(value, tuple) and type(value) is tuple:
            return tuple(self._value(v, depth + 1) for v in value)
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        if self.nlen and not super().filter(record):
            return False
        native = self._scrubber._native
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what can be kept, scrubbed
            message = f"{record.msg} {record.args!r}"
        record.msg = native.scrub(message)
        record.args = None
        fields = record.__dict__
        for name in fields.keys() - _RECORD_FIELDS:
            fields[name] = self._value(fields[name])
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = native.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = native.scrub(record.stack_info)
        return True

    def processor(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """A structlog processor: every string of the event dict scrubbed."""
        for name, value in list(event_dict.items()):
            event_dict[name] = self._value(value)
        return event_dict

    def __repr__(self) -> str:
        return f"PiiFilter(name={self.name!r}, keyed={self._scrubber.keyed})"

    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle 'PiiFilter' object: it may hold key material")
