"""What the SQL of a table job knows of a message: its header.

Every message starts with a 6-byte header (version ``0x01``, suite, key id; see
docs/format.md), and a text message with the same 6 bytes in base64url, exactly
its first 8 characters. A job selects rows by comparing these prefixes in SQL,
so rows already under the active key are never read, and no value is decrypted
to find out where it stands.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

VERSION = 1
SUITES = {1: "aes-256-gcm", 2: "xchacha20-poly1305", 3: "aes-256-siv", 4: "envelope"}
HEADER_BYTES = 6
HEADER_CHARS = 8
# The shortest message of any suite (aes-256-siv with an empty plaintext), and as text.
MIN_BYTES = 46
MIN_CHARS = 62
# In base64url every header starts "AQ"; its third character carries the suite (and two
# bits of the key id): "E" to "T" for suites 1 to 4.
TEXT_START = "AQ"
TEXT_THIRD = tuple("EFGHIJKLMNOPQRST")
# The first bytes (characters) of anything that looks like a message.
BINARY_STARTS = tuple(bytes((VERSION, s)) for s in (1, 2, 3, 4))
TEXT_STARTS = tuple(TEXT_START + t for t in TEXT_THIRD)


def header(suite: int, key_id: int) -> bytes:
    return bytes((VERSION, suite)) + key_id.to_bytes(4, "big")


def text_header(suite: int, key_id: int) -> str:
    return base64.urlsafe_b64encode(header(suite, key_id)).decode("ascii")


@dataclass(frozen=True)
class Headers:
    """The headers of every suite under some key ids, in both forms."""

    binary: tuple[bytes, ...]
    text: tuple[str, ...]

    @classmethod
    def under(cls, key_ids: Iterable[int]) -> Headers:
        ids = sorted(set(key_ids))
        return cls(
            binary=tuple(header(s, k) for k in ids for s in SUITES),
            text=tuple(text_header(s, k) for k in ids for s in SUITES),
        )


def parse_prefix(prefix: bytes | str | None) -> tuple[int, int] | None:
    """(suite, key id) of a message's first 6 bytes or 8 characters; None when they
    are not a sealbox header."""
    if isinstance(prefix, str):
        if len(prefix) != HEADER_CHARS:
            return None
        try:
            raw = base64.urlsafe_b64decode(prefix.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            return None
    elif isinstance(prefix, bytes | bytearray | memoryview):
        raw = bytes(prefix)
    else:
        return None
    if len(raw) != HEADER_BYTES or raw[0] != VERSION or raw[1] not in SUITES:
        return None
    return raw[1], int.from_bytes(raw[2:6], "big")


def suite_of(message: bytes | str) -> int | None:
    """The suite byte of a message (either form), or None when it has no header."""
    if isinstance(message, str):
        found = parse_prefix(message[:HEADER_CHARS])
        return None if found is None else found[0]
    if len(message) >= 2 and message[0] == VERSION and message[1] in SUITES:
        return message[1]
    return None


def looks_encrypted(value: object) -> bool:
    """Whether a value has a sealbox header and at least the shortest message's length:
    what ``encrypt`` takes as already encrypted (it never encrypts such a value again)."""
    if isinstance(value, str):
        return len(value) >= MIN_CHARS and value[:2] == TEXT_START and value[2:3] in TEXT_THIRD
    if isinstance(value, bytes | bytearray | memoryview):
        return len(value) >= MIN_BYTES and value[0] == VERSION and value[1] in SUITES
    return False
