"""The error the ORM integrations raise for a stored value that did not decrypt.

A column type (SQLAlchemy) or a converter (Django) sees a value, not its row. On the error
path, and only there, the integrations look the rows up by the stored bytes to name their
primary keys: a bounded query, under a statement timeout on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sealbox._errors import DecryptionError

__all__ = ["LIMIT", "POSTGRES_TIMEOUT", "error"]

LIMIT = 3  # keys named in an error; the lookup asks for one more, to say "and more"
POSTGRES_TIMEOUT = "5s"  # statement_timeout of the lookup on PostgreSQL


def error(name: str, keys: Sequence[Any]) -> DecryptionError:
    """``name`` is ``table.column`` or ``Model.field``; ``keys`` the primary keys of the
    rows holding the stored bytes, in key order, at most ``LIMIT + 1`` (never the value)."""
    if not keys:
        return DecryptionError(f"a value of {name} did not decrypt")
    if len(keys) == 1:
        return DecryptionError(f"{name} of the row with key {keys[0]!r} did not decrypt")
    shown = ", ".join(repr(k) for k in keys[:LIMIT])
    more = " and more" if len(keys) > LIMIT else ""
    return DecryptionError(f"a value of {name} did not decrypt; the rows holding it have keys {shown}{more}")
