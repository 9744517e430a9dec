"""Lockbox (the Ruby gem, 2.x), byte for byte.

`Lockbox` is ``Lockbox.new``: AES-256-GCM (default), XChaCha20-Poly1305,
XSalsa20-Poly1305 (``crypto_secretbox``) or ``hybrid`` (``crypto_box``), the
gem's padding, rotation through ``previous_versions``, and base64 text
(``encode=True``) or raw bytes. `attribute_key` derives the per-column key
``has_encrypted`` uses from the master key; `attribute_box` builds the box a
model attribute uses, as ``Lockbox::Utils.build_box`` does. `encode_value` and
`decode_value` are ``has_encrypted``'s type encodings, and `encrypt_io` /
`decrypt_io` its files. See docs/compat.md.

    from sealbox.compat.lockbox import attribute_box

    box = attribute_box(os.environ["LOCKBOX_MASTER_KEY"], table="users", attribute="email_ciphertext")
    box.decrypt_str(row["email_ciphertext"])
"""

from __future__ import annotations

import binascii
import datetime as _dt
import decimal
import json
import re
import struct
from collections.abc import Iterable, Mapping
from typing import IO, Any, Literal

from sealbox import _native
from sealbox._errors import DecryptionError
from sealbox.compat._ruby import unpack_m as _ruby_unpack_m

__all__ = [
    "Lockbox",
    "attribute_box",
    "attribute_key",
    "decode_value",
    "encode_value",
    "pad",
    "unpad",
]

Algorithm = Literal["aes-gcm", "xchacha20", "xsalsa20", "hybrid"]
ValueType = Literal[
    "string", "boolean", "date", "datetime", "time", "integer", "float", "decimal", "json", "binary"
]

_ALGORITHMS = ("aes-gcm", "xchacha20", "xsalsa20", "hybrid")
_VERSION_OPTIONS = frozenset(
    {
        "key",
        "algorithm",
        "padding",
        "encryption_key",
        "decryption_key",
        "master_key",
        "key_table",
        "key_attribute",
    }
)


def _decode_key(key: str | bytes, size: int = 32, name: str = "Key") -> bytes:
    """``Lockbox::Utils.decode_key``: hex text (either case) or raw bytes."""
    if isinstance(key, str):
        if re.fullmatch(f"[0-9a-fA-F]{{{size * 2}}}", key):
            return bytes.fromhex(key)
        raise ValueError(f"{name} must be {size} bytes ({size * 2} hex digits)")
    if isinstance(key, bytes | bytearray | memoryview):
        raw = bytes(key)
        if len(raw) != size:
            raise ValueError(f"{name} must be {size} bytes ({size * 2} hex digits)")
        return raw
    raise TypeError(f"{name} must be a hex str or bytes, not {type(key).__name__}")


def pad(data: bytes, size: int = 16) -> bytes:
    """``Lockbox.pad``: 0x80 then zeros up to a multiple of ``size`` (always at least one byte)."""
    return _native.lockbox_pad(data, _size(size))


def unpad(data: bytes, size: int = 16) -> bytes:
    """``Lockbox.unpad``; bad padding raises `DecryptionError`."""
    return _native.lockbox_unpad(data, _size(size))


def _size(size: Any) -> int:
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError("padding size must be a positive int")
    return size


def attribute_key(master_key: str | bytes, *, table: str, attribute: str) -> str:
    """``Lockbox.attribute_key(table:, attribute:, master_key:)``: the key of one
    column, as 64 hex digits. ``attribute`` is the ciphertext column (for
    example ``"email_ciphertext"``), the attachment name for Active Storage, or
    the mounted name for CarrierWave."""
    if not table or not attribute:
        raise ValueError("table and attribute must not be empty")
    raw = _native.lockbox_attribute_key(_decode_key(master_key, name="Master key"), table, attribute)
    return raw.hex()


def _to_bytes(value: Any, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


class _Box:
    """``Lockbox::Box``: one algorithm, its key(s) and padding."""

    __slots__ = ("native", "padding")

    def __init__(
        self,
        key: str | bytes | None,
        algorithm: str,
        encryption_key: str | bytes | None,
        decryption_key: str | bytes | None,
        padding: bool | int,
    ) -> None:
        if key is not None and (encryption_key is not None or decryption_key is not None):
            raise ValueError("Cannot pass both key and encryption/decryption key")
        if algorithm not in _ALGORITHMS:
            raise ValueError(f"Unknown algorithm: {algorithm}")
        if algorithm == "hybrid":
            if encryption_key is None and decryption_key is None:
                raise ValueError("Missing key")
            self.native = _native.LockboxBox(
                "hybrid",
                encryption_key=None if encryption_key is None else _decode_key(encryption_key, 64),
                decryption_key=None if decryption_key is None else _decode_key(decryption_key, 64),
            )
        else:
            if key is None:
                raise ValueError("Missing key")
            self.native = _native.LockboxBox(algorithm, key=_decode_key(key))
        if padding is True:
            self.padding = 16
        elif padding is False or padding is None:
            self.padding = 0
        else:
            self.padding = _size(padding)

    def _aad(self, associated_data: Any) -> bytes:
        if associated_data is None:
            return b""
        if not self.native.takes_associated_data:
            raise ValueError("Associated data not supported with this algorithm")
        return _to_bytes(associated_data, "associated_data")

    def encrypt(self, message: bytes, associated_data: Any) -> bytes:
        if not self.native.can_encrypt:
            raise ValueError("No encryption key set")
        aad = self._aad(associated_data)
        if self.padding:
            message = pad(message, self.padding)
        return self.native.encrypt(message, aad)

    def decrypt(self, ciphertext: bytes, associated_data: Any) -> bytes:
        if not self.native.can_decrypt:
            raise ValueError("No decryption key set")
        message = self.native.decrypt(ciphertext, self._aad(associated_data))
        if self.padding:
            message = unpad(message, self.padding)
        return message


class Lockbox:
    """``Lockbox.new``: encrypt and decrypt values as the gem does.

    ``key`` is 32 bytes or 64 hex digits (``hybrid`` takes ``encryption_key``
    and/or ``decryption_key`` instead, 64 bytes or 128 hex digits each, as
    ``Lockbox.generate_key_pair`` gives them). ``encode=True`` writes strict
    base64 text and reads base64 as Ruby's ``unpack1("m")`` does; ``False``
    raw bytes (``Lockbox.new``'s own default, for binary columns).
    ``padding=True`` pads to 16 bytes, an int to that many. ``previous_versions``
    is a list of dicts of the same options (``key``, ``algorithm``,
    ``padding``, ``encryption_key``, ``decryption_key``), tried in order after
    this box when decrypting; what a version leaves out of ``key`` is this
    one's (a version with a ``master_key`` needs a table and attribute: use
    `attribute_box`). ``associated_data`` (aes-gcm and xchacha20 only) must be
    given again to decrypt.
    """

    __slots__ = ("_boxes", "_encode")

    def __init__(
        self,
        key: str | bytes | None = None,
        *,
        algorithm: Algorithm = "aes-gcm",
        encode: bool = True,
        padding: bool | int = False,
        previous_versions: Iterable[Mapping[str, Any]] | None = None,
        encryption_key: str | bytes | None = None,
        decryption_key: str | bytes | None = None,
    ) -> None:
        if not isinstance(encode, bool):
            raise TypeError("encode must be True or False")
        self._encode = encode
        boxes = [_Box(key, algorithm, encryption_key, decryption_key, padding)]
        for i, version in enumerate(previous_versions or ()):
            if not isinstance(version, Mapping):
                raise TypeError(f"previous_versions[{i}] must be a dict of options")
            unknown = set(version) - _VERSION_OPTIONS
            if unknown:
                raise ValueError(f"previous_versions[{i}] has unknown options {sorted(unknown)}")
            if "master_key" in version or "key_table" in version or "key_attribute" in version:
                # Lockbox::Encryptor skips these; attribute_box resolves them.
                continue
            v = dict(version)
            v_key = v.get("key", key)
            if v.get("encryption_key") is not None or v.get("decryption_key") is not None:
                v_key = v.get("key")
            boxes.append(
                _Box(
                    v_key,
                    v.get("algorithm", "aes-gcm"),
                    v.get("encryption_key"),
                    v.get("decryption_key"),
                    v.get("padding", False),
                )
            )
        self._boxes = boxes

    def encrypt(self, value: str | bytes, associated_data: str | bytes | None = None) -> str | bytes:
        """Encrypt with the current box: base64 ``str`` with ``encode=True``, else ``bytes``."""
        data = self._boxes[0].encrypt(_to_bytes(value, "value"), associated_data)
        return binascii.b2a_base64(data, newline=False).decode() if self._encode else data

    def decrypt(self, ciphertext: str | bytes, associated_data: str | bytes | None = None) -> bytes:
        """Decrypt with the current box, then each previous version; the plaintext
        bytes (``decrypt_str`` for text). Every failure raises `DecryptionError`."""
        raw = _to_bytes(ciphertext, "ciphertext")
        if self._encode:
            raw = _ruby_unpack_m(raw)
        for box in self._boxes:
            try:
                return box.decrypt(raw, associated_data)
            except DecryptionError:
                continue
        raise DecryptionError("decryption failed")

    def decrypt_str(self, ciphertext: str | bytes, associated_data: str | bytes | None = None) -> str:
        """``decrypt_str``: the plaintext as UTF-8 text (bytes that do not decode kept
        with ``surrogateescape``)."""
        return self.decrypt(ciphertext, associated_data).decode("utf-8", "surrogateescape")

    def encrypt_io(self, src: IO[bytes], dst: IO[Any] | None = None) -> bytes | str:
        """``Lockbox#encrypt_io``: the whole file, read into memory and encrypted as one
        value (Lockbox files are not streamed). Writes to ``dst`` when given."""
        out = self.encrypt(src.read())
        if dst is not None:
            dst.write(out)
        return out

    def decrypt_io(self, src: IO[Any], dst: IO[bytes] | None = None) -> bytes:
        """``Lockbox#decrypt_io``: a whole encrypted file's plaintext."""
        out = self.decrypt(src.read())
        if dst is not None:
            dst.write(out)
        return out

    def __repr__(self) -> str:
        return f"<sealbox.compat.lockbox.Lockbox {len(self._boxes)} box(es)>"

    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle 'Lockbox' object: it holds key material")


def attribute_box(
    master_key: str | bytes,
    *,
    table: str,
    attribute: str,
    algorithm: Algorithm = "aes-gcm",
    encode: bool = True,
    padding: bool | int = False,
    previous_versions: Iterable[Mapping[str, Any]] | None = None,
    key_table: str | None = None,
    key_attribute: str | None = None,
) -> Lockbox:
    """The box ``has_encrypted`` uses for one attribute (``Lockbox::Utils.build_box``):
    the key is ``attribute_key(master_key, key_table or table, key_attribute or
    attribute)``; a previous version with ``master_key``, ``key_table`` or
    ``key_attribute`` gets its own attribute key the same way (``Lockbox.rotate``
    from one master key to another)."""
    key = attribute_key(master_key, table=key_table or table, attribute=key_attribute or attribute)
    versions = []
    for version in previous_versions or ():
        v = dict(version)
        if not any(v.get(k) for k in ("key", "encryption_key", "decryption_key")) and any(
            k in v for k in ("master_key", "key_table", "key_attribute")
        ):
            v["key"] = attribute_key(
                v.pop("master_key", None) or master_key,
                table=v.pop("key_table", None) or table,
                attribute=v.pop("key_attribute", None) or attribute,
            )
        versions.append(v)
    return Lockbox(key, algorithm=algorithm, encode=encode, padding=padding, previous_versions=versions)


# --- has_encrypted's type encodings (lib/lockbox/model.rb) ---------------------------------------


def _json_dump(value: Any) -> str:
    # ActiveSupport::JSON.encode: compact, UTF-8, with <, > and & escaped (Rails'
    # escape_html_entities_in_json) and U+2028/U+2029 escaped.
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(ch, esc)
    return text


def _decimal_to_s(value: decimal.Decimal) -> str:
    # BigDecimal#to_s("F"): plain digits, at least one after the point.
    if not value.is_finite():
        return {"Infinity": "Infinity", "-Infinity": "-Infinity"}.get(str(value), "NaN")
    text = format(value.normalize(), "f")
    if "." not in text:
        text += ".0"
    return text


def encode_value(value: Any, type: ValueType = "string") -> bytes | None:
    """The plaintext bytes ``has_encrypted :x, type: ...`` encrypts (``None`` stays
    ``None``): string as UTF-8, boolean as ``t``/``f``, date ``%Y-%m-%d``,
    datetime ``iso8601(9)`` in UTC, time ``%H:%M:%S.%N``, integer as a signed
    64-bit big-endian (``q>``), float as a big-endian double (``G``), decimal
    as ``BigDecimal#to_s("F")``, json as Active Support's JSON, binary as is."""
    if value is None:
        return None
    if type == "string":
        return _to_bytes(value if isinstance(value, str | bytes) else str(value), "value")
    if type == "binary":
        return _to_bytes(value, "value")
    if type == "boolean":
        return b"t" if value else b"f"
    if type == "date":
        if isinstance(value, _dt.datetime):
            value = value.date()
        if not isinstance(value, _dt.date):
            raise TypeError("a date value must be a datetime.date")
        return value.strftime("%Y-%m-%d").encode()
    if type == "datetime":
        if not isinstance(value, _dt.datetime):
            raise TypeError("a datetime value must be a datetime.datetime")
        moment: _dt.datetime = value
        if moment.tzinfo is not None:
            moment = moment.astimezone(_dt.UTC).replace(tzinfo=None)
        return (moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}000Z").encode()
    if type == "time":
        if isinstance(value, _dt.datetime):
            value = value.time()
        if not isinstance(value, _dt.time):
            raise TypeError("a time value must be a datetime.time")
        return (value.strftime("%H:%M:%S.") + f"{value.microsecond:06d}000").encode()
    if type == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError("an integer value must be an int")
        return struct.pack(">q", value)
    if type == "float":
        return struct.pack(">d", float(value))
    if type == "decimal":
        return _decimal_to_s(decimal.Decimal(value)).encode()
    if type == "json":
        return _json_dump(value).encode()
    raise ValueError(f"unknown type {type!r}")


def decode_value(data: bytes | None, type: ValueType = "string") -> Any:
    """The value ``has_encrypted`` reads back from decrypted bytes (`encode_value`'s
    inverse): str, bool, date, datetime (UTC), time, int, float, Decimal, a JSON
    value, or bytes."""
    if data is None:
        return None
    if type == "binary":
        return bytes(data)
    if type == "string":
        return bytes(data).decode("utf-8", "surrogateescape")
    if type == "boolean":
        return data == b"t"
    text = bytes(data).decode("utf-8", "surrogateescape")
    if type == "date":
        return _dt.date.fromisoformat(text)
    if type == "datetime":
        m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?", text)
        if not m:
            return _dt.datetime.fromisoformat(text)
        frac = (m.group(2) or "").ljust(6, "0")[:6]
        tz = _dt.UTC if m.group(3) in (None, "Z") else _dt.datetime.strptime(m.group(3), "%z").tzinfo
        parsed = _dt.datetime.fromisoformat(m.group(1)).replace(microsecond=int(frac), tzinfo=tz)
        return parsed.astimezone(_dt.UTC)
    if type == "time":
        m = re.fullmatch(r"(\d\d:\d\d:\d\d)(?:\.(\d+))?", text)
        if not m:
            return _dt.time.fromisoformat(text)
        frac = (m.group(2) or "").ljust(6, "0")[:6]
        return _dt.time.fromisoformat(m.group(1)).replace(microsecond=int(frac))
    if type == "integer":
        if len(data) < 8:
            return None
        return struct.unpack(">q", bytes(data[:8]))[0]
    if type == "float":
        if len(data) < 8:
            return None
        return struct.unpack(">d", bytes(data[:8]))[0]
    if type == "decimal":
        return decimal.Decimal(text)
    if type == "json":
        return json.loads(text)
    raise ValueError(f"unknown type {type!r}")
