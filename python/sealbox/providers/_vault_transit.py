"""HashiCorp Vault's (or OpenBao's) transit engine as the key-encryption key, through hvac."""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sealbox._errors import (
    AccessDeniedError,
    DecryptionError,
    KeyDisabledError,
    KeyVersionDisabledError,
    ProviderError,
    ProviderUnavailableError,
)
from sealbox._provider import encode_context
from sealbox.providers._common import (
    DATA_KEY_BYTES,
    ProviderBase,
    backoff_delays,
    check_batch,
    check_context,
    check_data_key,
    check_wrapped,
    kek_id_for,
    unwrapped_key,
)

__all__ = ["VaultTransit"]

# Prefixed to the encoded context so that an empty context still derives a key
# (transit refuses an empty derivation context) and keys of this library stay
# apart from other users of the same transit key.
CONTEXT_LABEL = b"sealbox\x00"

_CIPHERTEXT = re.compile(rb"\Avault:v([1-9][0-9]{0,9}):[A-Za-z0-9+/]+={0,2}\Z")

# Transit's answers that mean "this ciphertext does not open here".
_NOT_UNWRAPPED = (
    "message authentication failed",
    "invalid ciphertext",
    "could not decode",
    "version is too new",
    "missing ciphertext",
    "invalid key version",
)
_DISABLED = ("encryption key not found", "key not found", "no existing key")
# A ciphertext version below the key's min_decryption_version: about that ciphertext.
_TOO_OLD = "disallowed by policy"
_TOO_LARGE = ("high complexity", "request body too large", "too large")


def vault_context(context: Mapping[str, str]) -> str:
    """The base64 derivation context sent to transit for an encryption context."""
    return base64.b64encode(CONTEXT_LABEL + encode_context(check_context(context))).decode("ascii")


def classify_vault_message(message: str, *, unwrapping: bool) -> type[Exception]:
    """The sealbox error for a transit error message (HTTP 400, or one item of a batch)."""
    text = message.lower()
    if any(s in text for s in _DISABLED):
        return KeyDisabledError
    if "permission denied" in text:
        return AccessDeniedError
    if _TOO_OLD in text:
        return KeyVersionDisabledError if unwrapping else KeyDisabledError
    if unwrapping and any(s in text for s in _NOT_UNWRAPPED):
        return DecryptionError
    return ProviderError


class VaultTransit(ProviderBase):
    """A transit key in HashiCorp Vault or OpenBao wraps data keys; hvac does the HTTP.

    ::

        client = hvac.Client(url="https://vault.example:8200", token=...)
        kek = VaultTransit("app-data", client, kek_id=2)

    The key must be created with key derivation on, so that the encryption context
    binds every wrapped key: ``bao write transit/keys/app-data derived=true``
    (aes256-gcm96, the default, or another type that supports derivation). Each call
    sends the context as the transit ``context``: base64 of ``b"sealbox\\0"``
    followed by `encode_context`. Transit derives a key per context from it, so a
    wrapped key opens only under the context it was made with, and ``rewrap``
    works in Vault without the data keys leaving it. (Transit's other binding,
    ``associated_data``, cannot be used: the rewrap endpoint does not accept it.)
    On first use the key is read (``transit/keys/<name>``, capability ``read``)
    and refused unless ``derived`` is true.

    ``kek_id`` is the id messages carry to name this KEK; without it,
    ``derive_kek_id("vault-transit", mount_point, key_name)`` (the server's URL
    is not part of it: give a key of another Vault with the same mount and name
    its own ``kek_id``).

    A wrapped key is transit's ciphertext as ASCII bytes, ``vault:v<N>:<base64>``
    (89 bytes for a 32-byte data key). `needs_rewrap` compares its ``v<N>`` with
    the key's latest version, which is read at most once per ``version_ttl``
    seconds and updated from every answer that names a version. `rewrap` sends
    ``batch_input`` in requests of ``batch_size`` keys (200 by default: an
    OpenBao listener refuses JSON with more than 1,000 strings unless configured
    otherwise, and each key costs four).

    hvac does not retry, so this class does: connection errors, timeouts, 429 and
    5xx are tried ``max_attempts`` times in all, with exponential backoff and full
    jitter (``backoff`` seconds doubling up to ``max_backoff``), then raise
    `ProviderUnavailableError`. HTTP timeouts are the hvac client's (its
    ``timeout=``, 30 s by default).

    Errors: 401 and 403 raise `AccessDeniedError`; a ciphertext that fails
    authentication or does not parse, `DecryptionError`; a deleted key
    `KeyDisabledError`; a ciphertext whose version is below the key's
    ``min_decryption_version``, `KeyVersionDisabledError` (a `KeyDisabledError`
    about that ciphertext only: its version is read from the wrapped key, which
    whoever writes the message chooses, so an envelope Box fails that message
    alone); anything else `ProviderError`. The hvac exception is chained.
    """

    def __init__(
        self,
        key_name: str,
        client: Any,
        *,
        kek_id: int | None = None,
        mount_point: str = "transit",
        batch_size: int = 200,
        max_attempts: int = 4,
        backoff: float = 0.1,
        max_backoff: float = 2.0,
        version_ttl: float = 30.0,
    ) -> None:
        if not isinstance(key_name, str) or not key_name:
            raise TypeError("key_name must be a non-empty str")
        if client is None:
            raise TypeError("VaultTransit needs an hvac.Client (with its URL and token)")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._key_name = key_name
        self._client = client
        self._mount_point = mount_point.strip("/")
        self._kek_id = kek_id_for(kek_id, "vault-transit", self._mount_point, key_name)
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._version_ttl = version_ttl
        self._lock = threading.Lock()
        self._checked = False
        self._latest: tuple[int, float] | None = None  # (version, time.monotonic() when seen)

    @property
    def name(self) -> str:
        return "vault-transit"

    @property
    def key_name(self) -> str:
        return self._key_name

    @property
    def latest_version(self) -> int:
        """The key's latest version: cached for ``version_ttl`` seconds, read when stale."""
        latest = self._latest
        if latest is None or time.monotonic() - latest[1] > self._version_ttl:
            return self._read_key()
        return latest[0]

    def __repr__(self) -> str:
        url = getattr(self._client, "url", None)
        return (
            f"VaultTransit(key_name={self._key_name!r}, mount_point={self._mount_point!r}, "
            f"url={url!r}, kek_id={self._kek_id})"
        )

    def generate_data_key(self, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        self._check_key()
        response = self._call(
            "datakey",
            self._transit.generate_data_key,
            name=self._key_name,
            key_type="plaintext",
            context=vault_context(context),
            bits=DATA_KEY_BYTES * 8,
            mount_point=self._mount_point,
        )
        data = response["data"]
        plaintext = base64.b64decode(data["plaintext"])
        if len(plaintext) != DATA_KEY_BYTES:
            raise ProviderError(f"Vault transit datakey returned {len(plaintext)} bytes, not 32")
        return plaintext, self._wrapped(data)

    def wrap(self, data_key: bytes, context: Mapping[str, str]) -> bytes:
        plaintext = base64.b64encode(check_data_key(data_key)).decode("ascii")
        self._check_key()
        response = self._call(
            "encrypt",
            self._transit.encrypt_data,
            name=self._key_name,
            plaintext=plaintext,
            context=vault_context(context),
            mount_point=self._mount_point,
        )
        return self._wrapped(response["data"])

    def unwrap(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        ciphertext = _ciphertext(wrapped)
        self._check_key()
        response = self._call(
            "decrypt",
            self._transit.decrypt_data,
            unwrapping=True,
            name=self._key_name,
            ciphertext=ciphertext,
            context=vault_context(context),
            mount_point=self._mount_point,
        )
        try:
            plaintext = base64.b64decode(response["data"]["plaintext"], validate=True)
        except ValueError as exc:
            raise DecryptionError("the wrapped data key did not unwrap") from exc
        return unwrapped_key(plaintext)

    def rewrap(self, wrapped: Sequence[bytes], contexts: Sequence[Mapping[str, str]]) -> list[bytes]:
        """Re-encrypt under the key's latest version inside Vault, ``batch_size`` keys a request.

        The first key that transit refuses in its ``batch_results`` raises, naming its
        index: `KeyVersionDisabledError` for a version below ``min_decryption_version``,
        `DecryptionError` for anything else about that key (it does not authenticate
        or parse). A refusal of the request itself (permission, a missing key,
        unavailable) raises as for any call.
        """
        items = [
            {"ciphertext": _ciphertext(w, index=i), "context": vault_context(c)}
            for i, (w, c) in enumerate(check_batch(wrapped, contexts))
        ]
        self._check_key()
        out: list[bytes] = []
        for start in range(0, len(items), self._batch_size):
            chunk = items[start : start + self._batch_size]
            response = self._call(
                "rewrap",
                self._transit.rewrap_data,
                unwrapping=True,
                name=self._key_name,
                ciphertext=None,
                batch_input=chunk,
                mount_point=self._mount_point,
            )
            results = response["data"]["batch_results"]
            if len(results) != len(chunk):
                raise ProviderError(f"Vault transit rewrap answered {len(results)} items for {len(chunk)}")
            for offset, result in enumerate(results):
                error = result.get("error")
                if error:
                    index = start + offset
                    kind = classify_vault_message(str(error), unwrapping=True)
                    if kind is KeyVersionDisabledError:
                        raise kind(f"Vault transit rewrap of {self._key_name!r}, item {index}: {error}")
                    if kind in (DecryptionError, ProviderError):
                        # Transit answers an item's own error in its slot: it is about that key.
                        raise DecryptionError(f"wrapped key {index} did not unwrap")
                    raise kind(f"Vault transit rewrap of {self._key_name!r}, item {index}: {error}")
                out.append(self._wrapped(result))
        return out

    def needs_rewrap(self, wrapped: bytes) -> bool:
        """Whether ``wrapped`` names a version older than the key's latest."""
        match = _CIPHERTEXT.match(check_wrapped(wrapped))
        if match is None:
            raise DecryptionError("not a Vault transit wrapped key")
        return int(match.group(1)) < self.latest_version

    # -- internals

    @property
    def _transit(self) -> Any:
        return self._client.secrets.transit

    def _wrapped(self, data: Mapping[str, Any]) -> bytes:
        ciphertext = str(data["ciphertext"])
        match = _CIPHERTEXT.match(ciphertext.encode("ascii"))
        if match is None:
            raise ProviderError("Vault transit returned a ciphertext this provider does not recognise")
        self._saw_version(int(match.group(1)))
        return ciphertext.encode("ascii")

    def _saw_version(self, version: int) -> None:
        # A fresh encryption always uses the latest version, so this is as good as a read.
        with self._lock:
            if self._latest is None or version >= self._latest[0]:
                self._latest = (version, time.monotonic())

    def _check_key(self) -> None:
        if not self._checked:
            self._read_key()

    def _read_key(self) -> int:
        response = self._call(
            "read key", self._transit.read_key, name=self._key_name, mount_point=self._mount_point
        )
        data = response["data"]
        if not data.get("derived"):
            raise ProviderError(
                f"Vault transit key {self._key_name!r} was not created with derived=true, so it would "
                "ignore the encryption context; create a derived key for VaultTransit"
            )
        if not data.get("supports_encryption", True):
            raise ProviderError(f"Vault transit key {self._key_name!r} cannot encrypt")
        self._checked = True
        version = int(data["latest_version"])
        with self._lock:
            self._latest = (version, time.monotonic())
        return version

    def _call(
        self, operation: str, method: Callable[..., Any], *, unwrapping: bool = False, **kwargs: Any
    ) -> Any:
        import requests
        from hvac import exceptions as hx

        transient = (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
            hx.RateLimitExceeded,
            hx.InternalServerError,
            hx.BadGateway,
            hx.VaultDown,
        )
        where = f"Vault transit {operation} with key {self._key_name!r}"
        delays = backoff_delays(self._max_attempts, self._backoff, self._max_backoff)
        while True:
            try:
                return method(**kwargs)
            except transient as exc:
                delay = next(delays, None)
                if delay is None:
                    raise ProviderUnavailableError(
                        f"{where}: still failing after {self._max_attempts} attempts ({type(exc).__name__})"
                    ) from exc
                time.sleep(delay)
            except (hx.Forbidden, hx.Unauthorized) as exc:
                raise AccessDeniedError(f"{where}: permission denied") from exc
            except hx.VaultNotInitialized as exc:
                raise ProviderUnavailableError(f"{where}: Vault is not initialized") from exc
            except hx.InvalidRequest as exc:
                message = str(exc.args[0] if exc.args else "")
                kind = classify_vault_message(message, unwrapping=unwrapping)
                if kind is DecryptionError:
                    raise DecryptionError("the wrapped data key did not unwrap") from exc
                if kind is ProviderError and any(s in message.lower() for s in _TOO_LARGE):
                    message += " (lower batch_size, or raise the listener's max_request_json_strings)"
                raise kind(f"{where}: {message}") from exc
            except hx.InvalidPath as exc:
                raise ProviderError(
                    f"{where}: no such path (is transit mounted at {self._mount_point!r}?)"
                ) from exc
            except hx.VaultError as exc:
                raise ProviderError(f"{where}: {type(exc).__name__}") from exc
            except requests.RequestException as exc:
                raise ProviderError(f"{where}: {type(exc).__name__}") from exc


def _ciphertext(wrapped: bytes, *, index: int | None = None) -> str:
    blob = check_wrapped(wrapped)
    if _CIPHERTEXT.match(blob) is None or not _canonical_base64(blob.rpartition(b":")[2]):
        raise DecryptionError(
            "the wrapped data key did not unwrap" if index is None else f"wrapped key {index} did not unwrap"
        )
    return blob.decode("ascii")


def _canonical_base64(text: bytes) -> bool:
    """Whether ``text`` is the one standard base64 form of what it decodes to. Vault's decoder
    ignores the unused bits of the last character, so two forms of one ciphertext would both
    unwrap: only the form transit wrote is sent (docs/providers.md, "Writing a provider")."""
    try:
        return base64.b64encode(base64.b64decode(text, validate=True)) == text
    except ValueError:
        return False
