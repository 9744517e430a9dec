"""Normalizers for blind indexes: what a value is reduced to before it is hashed.

A blind index finds a row only if the value searched for hashes exactly like
the value stored, so both go through the same normalizer::

    from sealbox import BlindIndex, normalizers as nz

    email = BlindIndex(key, normalize=[nz.strip, nz.nfkc, nz.casefold])
    ssn_last4 = BlindIndex(key, normalize=[nz.digits, nz.last(4)])

``normalize=`` takes one normalizer or a list of them (applied left to right);
each may be a function below, a name (``"strip"``, ``"lower"``, ``"casefold"``,
``"nfkc"``, ``"digits"``, ``"last4"``), or any callable. The text normalizers
read ``bytes`` as UTF-8 and ``int`` as its decimal digits, and return ``str``.
A callable may return ``None``: the value then has no index (``None``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "Normalizer",
    "casefold",
    "compose",
    "digits",
    "last",
    "lower",
    "nfkc",
    "resolve",
    "strip",
]

Normalizer = Callable[[Any], Any]


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("text normalizers read bytes as UTF-8, and this value is not UTF-8") from None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"a text normalizer takes str, bytes or int, not {type(value).__name__}")


def lower(value: object) -> str:
    """Lower-case (``str.lower``)."""
    return _text(value).lower()


def casefold(value: object) -> str:
    """Unicode case folding (``str.casefold``): like lower-case, and ``"ß"`` matches ``"ss"``."""
    return _text(value).casefold()


def strip(value: object) -> str:
    """Remove leading and trailing white space."""
    return _text(value).strip()


def nfkc(value: object) -> str:
    """Unicode NFKC: one form for look-alike compositions, full-width forms, ligatures."""
    return unicodedata.normalize("NFKC", _text(value))


def digits(value: object) -> str:
    """Keep only the decimal digits, as ASCII (``"١٢٣-45"`` gives ``"12345"``)."""
    return "".join(str(unicodedata.decimal(c)) for c in _text(value) if c.isdecimal())


def last(n: int) -> Normalizer:
    """Keep the last ``n`` characters (all of them if the value is shorter)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"last(n) needs a positive int, not {n!r}")

    def last_n(value: object) -> str:
        return _text(value)[-n:]

    last_n.__name__ = last_n.__qualname__ = f"last({n})"
    return last_n


def compose(*steps: Normalizer | str) -> Normalizer:
    """One normalizer that applies ``steps`` left to right; a ``None`` result stops the chain."""
    fns = [resolve(step) for step in steps]

    def composed(value: Any) -> Any:
        for fn in fns:
            if value is None:
                return None
            value = fn(value)
        return value

    return composed


_NAMED: dict[str, Normalizer] = {
    "lower": lower,
    "casefold": casefold,
    "strip": strip,
    "nfkc": nfkc,
    "digits": digits,
}


def resolve(spec: Normalizer | str | Sequence[Normalizer | str]) -> Normalizer:
    """Turn a ``normalize=`` value (a callable, a name, or a list of them) into one callable."""
    if isinstance(spec, str):
        if spec in _NAMED:
            return _NAMED[spec]
        match = re.fullmatch(r"last(\d+)", spec)
        if match:
            return last(int(match.group(1)))
        names = ", ".join(repr(n) for n in [*_NAMED, "last4"])
        raise ValueError(f"unknown normalizer {spec!r}: expected a callable or one of {names}")
    if callable(spec):
        return spec
    if isinstance(spec, Sequence) and not isinstance(spec, bytes | bytearray):
        return compose(*spec)
    raise TypeError(f"normalize must be a callable, a name or a list of them, not {type(spec).__name__}")
