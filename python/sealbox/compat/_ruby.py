"""Ruby's base64 packings, as the gems write and read them."""

from __future__ import annotations

import binascii

__all__ = ["pack_m", "pack_m0", "unpack_m"]

_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_INDEX = {c: i for i, c in enumerate(_B64)}


def pack_m0(data: bytes) -> str:
    """``[data].pack("m0")`` (``Base64.strict_encode64``): one line, padded."""
    return binascii.b2a_base64(data, newline=False).decode()


def pack_m(data: bytes) -> str:
    """``[data].pack("m")`` (``Base64.encode64``): a newline after every 60
    characters and at the end (nothing at all for empty data)."""
    text = pack_m0(data)
    return "".join(text[i : i + 60] + "\n" for i in range(0, len(text), 60))


def unpack_m(text: bytes) -> bytes:
    """Ruby's ``unpack1("m")`` (RFC 2045 base64, lenient): characters outside the
    alphabet are skipped, ``=`` ends the data, a partial last group is kept."""
    out = bytearray()
    group: list[int] = []
    for c in text:
        if c == 0x3D and len(group) >= 2:  # "=" after two characters ends it
            break
        v = _B64_INDEX.get(c)
        if v is None:
            continue
        group.append(v)
        if len(group) == 4:
            a, b, cc, d = group
            out += bytes([(a << 2 | b >> 4) & 0xFF, (b << 4 | cc >> 2) & 0xFF, (cc << 6 | d) & 0xFF])
            group = []
    if len(group) >= 2:
        a, b = group[0], group[1]
        out.append((a << 2 | b >> 4) & 0xFF)
        if len(group) == 3:
            out.append((b << 4 | group[2] >> 2) & 0xFF)
    return bytes(out)
