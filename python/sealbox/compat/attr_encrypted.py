"""attr_encrypted 3.x with the encryptor 3.x gem, byte for byte.

``attr_encrypted :email, key: ...`` stores ``encrypted_email`` and, by mode,
``encrypted_email_iv`` and ``encrypted_email_salt``. `AttrEncrypted` reads
and writes all three, in every mode the gem has, with AES-256-GCM (its
default) or AES-256-CBC:

- ``per_attribute_iv`` (the default): a random IV per value; the key is used
  as given (32 bytes).
- ``per_attribute_iv_and_salt``: a random IV and a random 16-byte salt per
  value; the key is ``PBKDF2-HMAC-SHA1(key, salt, 2000, 32)``. The salt
  column holds ``"_"`` and the salt's base64.
- ``single_iv_and_salt``: no IV or salt columns: the key and IV come from
  OpenSSL's ``EVP_BytesToKey`` (MD5, 2048 rounds) over the key
  (``insecure_mode: true``), so equal values give equal ciphertexts.

Text columns hold ``[bytes].pack("m")``: base64 with a newline every 60
characters and at the end (``encode``, ``encode_iv``, ``encode_salt``).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Literal

from sealbox import _native
from sealbox._errors import DecryptionError
from sealbox.compat._ruby import pack_m, pack_m0, unpack_m

__all__ = ["AttrEncrypted"]

Mode = Literal["per_attribute_iv", "per_attribute_iv_and_salt", "single_iv_and_salt"]
Algorithm = Literal["aes-256-gcm", "aes-256-cbc"]
Encoding = bool | Literal["m", "m0"]

_IV_LEN = {"aes-256-gcm": 12, "aes-256-cbc": 16}
_HMAC_ITERATIONS = 2000  # Encryptor.default_options[:hmac_iterations]


def _bytes(value: Any, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


def _directive(encode: Encoding, what: str) -> str | None:
    if encode is True or encode == "m":
        return "m"
    if encode == "m0":
        return "m0"
    if encode is False or encode is None:
        return None
    raise ValueError(f"{what} must be True ('m'), 'm0' or False, not {encode!r}")


def _pack(data: bytes, directive: str | None) -> str | bytes:
    if directive is None:
        return data
    return pack_m(data) if directive == "m" else pack_m0(data)


def _unpack(text: Any, directive: str | None, what: str) -> bytes:
    raw = _bytes(text, what)
    if directive is None:
        return raw
    # Ruby's unpack("m") and unpack("m0") read this text alike here (the
    # strict form only refuses more).
    return unpack_m(raw)


def evp_bytes_to_key(password: bytes, key_len: int, iv_len: int, count: int = 2048) -> tuple[bytes, bytes]:
    """OpenSSL's ``EVP_BytesToKey`` with MD5 and no salt, as Ruby's
    ``Cipher#pkcs5_keyivgen(password)`` runs it (2048 rounds)."""
    out = b""
    block = b""
    while len(out) < key_len + iv_len:
        block = hashlib.md5(block + password).digest()
        for _ in range(count - 1):
            block = hashlib.md5(block).digest()
        out += block
    return out[:key_len], out[key_len : key_len + iv_len]


class AttrEncrypted:
    """One ``attr_encrypted`` attribute's options.

    ``key`` is the attribute's ``key:`` (32 bytes, or a longer password with
    ``per_attribute_iv_and_salt``; with kms_encrypted, the record's data key).
    ``encode``/``encode_iv``/``encode_salt``: ``True`` (``pack("m")``, the
    gem's and its Active Record adapter's default), ``"m0"`` (strict base64)
    or ``False`` (raw bytes). ``allow_empty_value`` is the gem's option: without
    it ``""`` and ``None`` are stored as they are, unencrypted.
    """

    __slots__ = ("_algorithm", "_allow_empty", "_enc", "_enc_iv", "_enc_salt", "_key", "_mode")

    def __init__(
        self,
        key: str | bytes,
        *,
        mode: Mode = "per_attribute_iv",
        algorithm: Algorithm = "aes-256-gcm",
        encode: Encoding = True,
        encode_iv: Encoding = True,
        encode_salt: Encoding = True,
        allow_empty_value: bool = False,
    ) -> None:
        if mode not in ("per_attribute_iv", "per_attribute_iv_and_salt", "single_iv_and_salt"):
            raise ValueError(f"unknown mode {mode!r}")
        if algorithm not in _IV_LEN:
            raise ValueError(f"algorithm must be 'aes-256-gcm' or 'aes-256-cbc', not {algorithm!r}")
        raw = _bytes(key, "key")
        if not raw:
            raise ValueError("must specify a key")
        if mode != "single_iv_and_salt" and len(raw) < 32:
            raise ValueError("key must be 32 bytes or longer")
        if mode == "per_attribute_iv" and len(raw) != 32:
            # OpenSSL takes exactly the cipher's key length.
            raise ValueError("key must be 32 bytes")
        self._key = raw
        self._mode = mode
        self._algorithm = algorithm
        self._enc = _directive(encode, "encode")
        self._enc_iv = _directive(encode_iv, "encode_iv")
        self._enc_salt = _directive(encode_salt, "encode_salt")
        self._allow_empty = bool(allow_empty_value)

    def _cipher_key_iv(self, iv: bytes | None, salt: bytes | None) -> tuple[bytes, bytes]:
        if iv is None:
            return evp_bytes_to_key(self._key, 32, _IV_LEN[self._algorithm])
        key = self._key
        if salt is not None:
            key = hashlib.pbkdf2_hmac("sha1", self._key, salt, _HMAC_ITERATIONS, 32)
        return key, iv

    def _seal(self, key: bytes, iv: bytes, data: bytes) -> bytes:
        if self._algorithm == "aes-256-gcm":
            return _native.AESGCM(key).encrypt(iv, data, b"")
        return _native.aes256_cbc_encrypt(key, iv, data)

    def _open(self, key: bytes, iv: bytes, data: bytes) -> bytes:
        if len(iv) != _IV_LEN[self._algorithm]:
            raise DecryptionError("decryption failed")
        if self._algorithm == "aes-256-gcm":
            if len(data) < 16:
                raise DecryptionError("decryption failed")
            return _native.AESGCM(key).decrypt(iv, data, b"")
        return _native.aes256_cbc_decrypt(key, iv, data)

    def encrypt(self, value: str | bytes | None) -> dict[str, str | bytes | None]:
        """The values of ``encrypted_<attr>``, ``encrypted_<attr>_iv`` and
        ``encrypted_<attr>_salt`` (None where the mode has no such column, and
        for a value the gem leaves unencrypted)."""
        if value is None or (value in ("", b"") and not self._allow_empty):
            return {"encrypted": value, "iv": None, "salt": None}
        data = _bytes(value, "value")
        iv = salt = None
        if self._mode != "single_iv_and_salt":
            iv = os.urandom(_IV_LEN[self._algorithm])
        if self._mode == "per_attribute_iv_and_salt":
            salt = os.urandom(16)  # SecureRandom.random_bytes
        key, cipher_iv = self._cipher_key_iv(iv, salt)
        encrypted = self._seal(key, cipher_iv, data)
        return {
            "encrypted": _pack(encrypted, self._enc),
            "iv": None if iv is None else _pack(iv, self._enc_iv),
            "salt": None
            if salt is None
            else ("_" + str(_pack(salt, self._enc_salt)) if self._enc_salt else salt),
        }

    def decrypt_bytes(
        self, encrypted: str | bytes | None, *, iv: str | bytes | None = None, salt: str | bytes | None = None
    ) -> bytes | None:
        """The plaintext bytes (``None`` stays ``None``); every failure raises
        `DecryptionError`."""
        if encrypted is None:
            return None
        if encrypted in ("", b"") and not self._allow_empty:
            return b""
        data = _unpack(encrypted, self._enc, "encrypted")
        raw_iv = None
        if self._mode != "single_iv_and_salt" or iv is not None:
            if iv is None or iv in ("", b""):
                raise DecryptionError("decryption failed")
            raw_iv = _unpack(iv, self._enc_iv, "iv")
        raw_salt = None
        if self._mode == "per_attribute_iv_and_salt":
            if salt is None or salt in ("", b""):
                raise DecryptionError("decryption failed")
            s = _bytes(salt, "salt")
            # decode_salt_if_encoded: "_" then the packed salt; anything else is raw
            raw_salt = unpack_m(s[1:]) if self._enc_salt and s[:1] == b"_" else s
        key, cipher_iv = self._cipher_key_iv(raw_iv, raw_salt)
        return self._open(key, cipher_iv, data)

    def decrypt(
        self, encrypted: str | bytes | None, *, iv: str | bytes | None = None, salt: str | bytes | None = None
    ) -> str | None:
        """The plaintext as text (the gem forces the default encoding, UTF-8;
        bytes that do not decode are kept with ``surrogateescape``)."""
        out = self.decrypt_bytes(encrypted, iv=iv, salt=salt)
        return None if out is None else out.decode("utf-8", "surrogateescape")

    def __repr__(self) -> str:
        return f"<sealbox.compat.attr_encrypted.AttrEncrypted {self._mode} {self._algorithm}>"

    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle 'AttrEncrypted' object: it holds key material")
