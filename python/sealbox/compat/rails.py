"""Rails Active Record Encryption (Rails 7.0 to 8.1), byte for byte.

`Encryptor` reads and writes what ``encrypts :attribute`` stores: the same
key derivation (PBKDF2 over the credentials' passwords and
``key_derivation_salt``), the same AES-256-GCM messages (JSON, or MessagePack
for binary columns), deterministic messages equal to Rails' byte for byte,
compression past 140 bytes, key references, the envelope key provider and
previous schemes. The format and what it leaks are in docs/compat.md.

    from sealbox.compat.rails import Encryptor

    rails = Encryptor(
        primary_key=credentials["active_record_encryption"]["primary_key"],
        deterministic_key=credentials["active_record_encryption"]["deterministic_key"],
        key_derivation_salt=credentials["active_record_encryption"]["key_derivation_salt"],
    )
    rails.decrypt(row["email"])                       # 'alice@example.org'
    rails.encrypt("alice@example.org", deterministic=True)   # what Rails stores
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from sealbox import _native

__all__ = ["DEFAULT_MAX_INFLATED_SIZE", "Encryptor"]

#: The default bound on a compressed message's inflated plaintext. A message
#: that inflates past it (a zip bomb) raises DecryptionError; Rails itself sets
#: no bound. Raise it with ``max_inflated_size=`` for larger values.
DEFAULT_MAX_INFLATED_SIZE = 64 * 1024 * 1024

Password = str | bytes
Passwords = Password | Sequence[Password]
Digest = Literal["SHA1", "SHA256"]
Errors = Literal["raise", "return"]

_UTF8 = frozenset({"utf-8", "utf8", "cp65001"})
_BINARY = frozenset({"ascii-8bit", "binary"})
_SCHEME_OPTIONS = frozenset(
    {
        "primary_key",
        "deterministic_key",
        "key",
        "keys",
        "key_derivation_salt",
        "hash_digest_class",
        "key_provider",
    }
)


def _text(value: Password, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


def _passwords(value: Passwords | None, what: str) -> list[bytes]:
    if value is None:
        return []
    items: list[Any]
    if isinstance(value, str | bytes | bytearray | memoryview):
        items = [value]
    elif isinstance(value, Sequence):
        items = list(value)
    else:
        raise TypeError(f"{what} must be a str or a list of str, not {type(value).__name__}")
    out = [_text(v, what) for v in items]
    if any(not v for v in out):
        raise ValueError(f"{what} must not be empty")
    return out


def _digest(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError("hash_digest_class must be 'SHA1' or 'SHA256'")
    short = name.upper().removeprefix("OPENSSL::DIGEST::")
    if short not in ("SHA1", "SHA256"):
        raise ValueError(f"hash_digest_class must be 'SHA1' or 'SHA256', not {name!r}")
    return short


def _raw_keys(keys: Any) -> list[bytes]:
    if isinstance(keys, bytes | bytearray | memoryview):
        keys = [keys]
    out = []
    for k in keys:
        if not isinstance(k, bytes | bytearray | memoryview) or len(k) != 32:
            raise ValueError("keys must be 32-byte raw keys")
        out.append(bytes(k))
    return out


def _codec(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None


class Encryptor:
    """Rails' ``ActiveRecord::Encryption::Encryptor`` with its key providers.

    ``primary_key``, ``deterministic_key`` and ``key_derivation_salt`` are the
    values of the app's ``active_record_encryption`` credentials (passwords, not
    raw keys); a key may be a list, as in the credentials: the last one
    encrypts and all of them decrypt. ``hash_digest_class`` is the PBKDF2
    digest (``"SHA256"`` with ``load_defaults 7.1`` or later, ``"SHA1"``
    before); ``support_sha1_for_non_deterministic_encryption=True`` also
    decrypts non-deterministic messages made under SHA-1, as Rails' option of
    that name. ``key_provider="envelope"`` is ``EnvelopeEncryptionKeyProvider``
    (a random data key per message, wrapped by the primary key).
    ``store_key_references`` writes the ``i`` header; ``compress=False`` is
    ``Encryptor.new(compress: false)``; ``serializer="message_pack"`` is
    ``MessagePackMessageSerializer`` (messages are bytes, for binary columns).

    ``previous`` lists earlier schemes that decryption also tries, each a dict
    of ``primary_key``, ``deterministic_key``, ``key`` (a per-attribute
    password), ``keys`` (raw 32-byte keys, Rails' ``KeyProvider``),
    ``key_derivation_salt``, ``hash_digest_class`` and ``key_provider``; what
    one leaves out is this encryptor's. Decryption tries the current scheme's
    keys, then each previous scheme's, in order; a message with a key
    reference only the keys it names. ``max_inflated_size`` bounds a
    compressed plaintext (`DEFAULT_MAX_INFLATED_SIZE`).
    """

    __slots__ = ("_native", "_serializer")

    def __init__(
        self,
        primary_key: Passwords | None = None,
        deterministic_key: Passwords | None = None,
        key_derivation_salt: Password | None = None,
        *,
        hash_digest_class: Digest | str = "SHA256",
        support_sha1_for_non_deterministic_encryption: bool = False,
        key_provider: Literal["derived", "envelope"] = "derived",
        store_key_references: bool = False,
        compress: bool = True,
        serializer: Literal["json", "message_pack"] = "json",
        previous: Iterable[Mapping[str, Any]] = (),
        max_inflated_size: int = DEFAULT_MAX_INFLATED_SIZE,
    ) -> None:
        for name, flag in (
            ("support_sha1_for_non_deterministic_encryption", support_sha1_for_non_deterministic_encryption),
            ("store_key_references", store_key_references),
            ("compress", compress),
        ):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False")
        if serializer not in ("json", "message_pack"):
            raise ValueError(f"serializer must be 'json' or 'message_pack', not {serializer!r}")
        if (
            not isinstance(max_inflated_size, int)
            or isinstance(max_inflated_size, bool)
            or max_inflated_size < 0
        ):
            raise ValueError("max_inflated_size must be a non-negative int")
        providers: list[tuple[bool, list[Any]]] = []
        digest = _digest(hash_digest_class)
        salt = None if key_derivation_salt is None else _text(key_derivation_salt, "key_derivation_salt")

        def derived(passwords: list[bytes], salt: bytes | None, digest: str, what: str) -> list[Any]:
            if passwords and not salt:
                raise ValueError(f"{what} needs key_derivation_salt")
            return [(p, salt, digest) for p in passwords]

        def provider_kind(kind: str) -> bool:
            if kind not in ("derived", "envelope"):
                raise ValueError(f"key_provider must be 'derived' or 'envelope', not {kind!r}")
            return kind == "envelope"

        primary = _passwords(primary_key, "primary_key")
        deterministic = _passwords(deterministic_key, "deterministic_key")
        if not primary and not deterministic:
            raise ValueError("give primary_key, deterministic_key or both")
        primary_index = det_index = None
        if primary:
            primary_index = len(providers)
            providers.append((provider_kind(key_provider), derived(primary, salt, digest, "primary_key")))
        if deterministic:
            det_index = len(providers)
            providers.append((False, derived(deterministic, salt, digest, "deterministic_key")))
        if support_sha1_for_non_deterministic_encryption and primary:
            providers.append((False, derived(primary, salt, "SHA1", "primary_key")))
        for i, scheme in enumerate(previous):
            providers.extend(self._previous(i, scheme, salt, digest, key_provider, derived, provider_kind))
        self._serializer = serializer
        self._native = _native.RailsEncryptor(
            providers,
            primary_index,
            det_index,
            store_key_references=store_key_references,
            compress=compress,
            serializer=serializer,
            max_inflated=max_inflated_size,
        )

    @staticmethod
    def _previous(
        i: int,
        scheme: Mapping[str, Any],
        salt: bytes | None,
        digest: str,
        key_provider: str,
        derived: Any,
        provider_kind: Any,
    ) -> list[tuple[bool, list[Any]]]:
        if not isinstance(scheme, Mapping):
            raise TypeError(f"previous[{i}] must be a dict of options")
        unknown = set(scheme) - _SCHEME_OPTIONS
        if unknown:
            raise ValueError(f"previous[{i}] has unknown options {sorted(unknown)}")
        if "key_derivation_salt" in scheme:
            salt = _text(scheme["key_derivation_salt"], "key_derivation_salt")
        if "hash_digest_class" in scheme:
            digest = _digest(scheme["hash_digest_class"])
        out: list[tuple[bool, list[Any]]] = []
        primary = _passwords(scheme.get("primary_key"), f"previous[{i}]['primary_key']")
        if primary:
            envelope = provider_kind(scheme.get("key_provider", key_provider))
            out.append((envelope, derived(primary, salt, digest, f"previous[{i}]")))
        for name in ("deterministic_key", "key"):
            passwords = _passwords(scheme.get(name), f"previous[{i}][{name!r}]")
            if passwords:
                out.append((False, derived(passwords, salt, digest, f"previous[{i}]")))
        if scheme.get("keys") is not None:
            out.append((False, _raw_keys(scheme["keys"])))
        if not out:
            raise ValueError(f"previous[{i}] names no key")
        return out

    @property
    def serializer(self) -> str:
        """``"json"`` (messages are str) or ``"message_pack"`` (bytes)."""
        return self._serializer

    @staticmethod
    def _prepare(value: Any, encoding: str | None, deterministic: bool) -> tuple[bytes | str, str | None]:
        if isinstance(value, str):
            if encoding is None or encoding.lower() in _UTF8:
                return value, None
            data = value.encode(_codec(encoding), "surrogateescape")
        elif isinstance(value, bytes | bytearray | memoryview):
            data = bytes(value)
            if encoding is None:
                return data, None
        else:
            raise TypeError(f"value must be str or bytes, not {type(value).__name__}")
        lowered = encoding.lower()
        if deterministic and lowered not in _UTF8 | _BINARY | {"us-ascii"}:
            # Rails forces deterministic values to UTF-8 (invalid and undefined
            # characters become U+FFFD).
            return data.decode(_codec(encoding), "replace"), None
        return data, encoding

    def encrypt(
        self, value: str | bytes, *, deterministic: bool = False, encoding: str | None = None
    ) -> str | bytes:
        """Encrypt a value as Rails does: a ``str`` as UTF-8, ``bytes`` as a
        binary (ASCII-8BIT) string, or as the Ruby encoding ``encoding``
        names (the ``e`` header Rails writes for a value that is not UTF-8,
        such as ``"US-ASCII"`` for a cast Integer). ``deterministic=True`` is
        ``encrypts ..., deterministic: true``: the same value always gives the
        same message. Returns ``str`` (JSON) or ``bytes`` (MessagePack)."""
        if not isinstance(deterministic, bool):
            raise TypeError("deterministic must be True or False")
        data, enc = self._prepare(value, encoding, deterministic)
        out: str | bytes = self._native.encrypt(data, deterministic=deterministic, encoding=enc)
        return out

    def decrypt(self, message: str | bytes) -> str | bytes:
        """Decrypt a Rails message (JSON or MessagePack): ``str`` for text (UTF-8,
        or the encoding its ``e`` header names, bytes that do not decode kept
        with ``surrogateescape``), ``bytes`` for a binary value. Every failure
        raises `DecryptionError`."""
        out: str | bytes = self._native.decrypt(message)
        return out

    def decrypt_raw(self, message: str | bytes) -> tuple[bytes, str | None]:
        """Decrypt into ``(plaintext bytes, Ruby encoding name or None for UTF-8)``."""
        out: tuple[bytes, str | None] = self._native.decrypt_raw(message)
        return out

    def is_encrypted(self, message: object) -> bool:
        """Whether ``message`` parses as a Rails message (``Encryptor#encrypted?``);
        no key is tried."""
        if not isinstance(message, str | bytes):
            return False
        ok: bool = self._native.is_message(message)
        return ok

    def encrypt_batch(
        self,
        values: Iterable[str | bytes | None],
        *,
        deterministic: bool = False,
        threads: int | None = None,
    ) -> list[Any]:
        """`encrypt` over many values in one native call, in parallel with the GIL
        released (``threads``: None for all cores). ``None`` stays ``None``."""
        if not isinstance(deterministic, bool):
            raise TypeError("deterministic must be True or False")
        out: list[Any] = self._native.encrypt_batch(values, deterministic=deterministic, threads=threads)
        return out

    def decrypt_batch(
        self,
        messages: Iterable[str | bytes | None],
        *,
        errors: Errors = "raise",
        threads: int | None = None,
    ) -> list[Any]:
        """`decrypt` over many messages in one native call, in parallel with the GIL
        released. ``None`` stays ``None``; with ``errors="return"`` a message that
        fails gives ``None`` instead of raising `DecryptionError`."""
        out: list[Any] = self._native.decrypt_batch(messages, errors=errors, threads=threads)
        return out

    def key_references(self) -> list[list[str]]:
        """The ``i`` header value (4 hex digits) of every key, per provider, in the
        order decryption tries them."""
        refs: list[list[str]] = self._native.key_references()
        return refs

    def __repr__(self) -> str:
        return f"<sealbox.compat.rails.Encryptor {self._serializer}>"

    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle 'Encryptor' object: it holds key material")
