"""An AES key inside a PKCS#11 token (an HSM, a smart card, SoftHSM) as the key-encryption key."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sealbox._errors import (
    AccessDeniedError,
    DecryptionError,
    KeyDisabledError,
    ProviderError,
    ProviderUnavailableError,
)
from sealbox._provider import encode_context
from sealbox.providers._common import (
    DATA_KEY_BYTES,
    ProviderBase,
    check_batch,
    check_context,
    check_data_key,
    check_wrapped,
    kek_id_for,
)

if TYPE_CHECKING:
    from pkcs11.types import Session, Token

__all__ = ["Pkcs11"]

_T = TypeVar("_T")

IV_BYTES = 12
TAG_BYTES = 16
WRAPPED_BYTES = IV_BYTES + DATA_KEY_BYTES + TAG_BYTES  # 60


class SecretKey(Protocol):
    """What this module uses of a python-pkcs11 AES key object (its runtime class mixes these in)."""

    def encrypt(self, data: bytes, buffer_size: int = ..., **kwargs: Any) -> bytes | Iterator[bytes]: ...

    def decrypt(self, data: bytes, buffer_size: int = ..., **kwargs: Any) -> bytes | Iterator[bytes]: ...


def _pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("Pkcs11 needs python-pkcs11: pip install 'sealbox[pkcs11]'") from exc
    return pkcs11


class Pkcs11(ProviderBase):
    """An AES-256 key in a PKCS#11 token wraps data keys with AES-GCM inside the token.

    ::

        kek = Pkcs11("/usr/lib/softhsm/libsofthsm2.so", "app", pin, "sealbox-kek")

    ``module`` is the path of the token's PKCS#11 library, ``token_label`` names
    the token, ``pin`` is the user PIN and ``key_label`` the label of the key
    (create one with `Pkcs11.create_kek`). The key must be a 256-bit AES key that
    is sensitive and never extractable, so its value never leaves the token; a key
    that could be read out is refused. ``kek_id`` is the id messages carry to
    name this KEK; without it, ``derive_kek_id("pkcs11", token_label, key_label)``
    (the module path is not part of it, so every host that reaches the token
    agrees).

    ``wrap`` is AES-256-GCM in the token with a 12-byte IV from the token's random
    generator and `encode_context` of the context as associated data; the wrapped
    form is ``iv || ciphertext || tag``, 60 bytes. Random IVs limit one KEK to
    about 2**32 wraps (NIST SP 800-38D); with a data-key cache that is far away.
    Data keys also come from the token's generator. PKCS#11 has no re-encrypt, so
    `rewrap` unwraps and wraps again (the data keys pass through this process),
    and `needs_rewrap` is always False: the token holds one version of the key.

    One session is kept open per provider and used under a lock, so a provider is
    safe to share between threads (its calls are serialised). If the session is
    lost (token removed and reinserted, the HSM restarted, a logout by other code
    in the process), it is reopened once and the call repeated. PKCS#11 logins
    belong to the process, not the session: when the token is already logged in
    by other code in this process, the session opens without checking ``pin``.
    Call `close` (or use ``with``) to end the session.

    Errors: a wrapped key that fails authentication raises `DecryptionError`.
    SoftHSM reports a wrong tag as ``CKR_GENERAL_ERROR``, which is also how a
    token reports a fault: on that code the token must seal and open a probe,
    else the failure is the token's, `ProviderError`. A wrong or locked
    PIN `AccessDeniedError`; a missing module or token `ProviderUnavailableError`;
    no key with that label `KeyDisabledError`. The python-pkcs11 exception is
    chained.
    """

    def __init__(
        self, module: str, token_label: str, pin: str, key_label: str, *, kek_id: int | None = None
    ) -> None:
        for arg, value in (("module", module), ("token_label", token_label), ("key_label", key_label)):
            if not isinstance(value, str) or not value:
                raise TypeError(f"{arg} must be a non-empty str")
        if not isinstance(pin, str):
            raise TypeError("pin must be a str")
        self._module = module
        self._token_label = token_label
        self._pin = pin
        self._key_label = key_label
        self._kek_id = kek_id_for(kek_id, "pkcs11", token_label, key_label)
        self._lock = threading.Lock()
        self._session: Session | None = None
        self._key: SecretKey | None = None
        self._closed = False
        with self._lock:
            self._open()

    @classmethod
    def create_kek(cls, module: str, token_label: str, pin: str, key_label: str) -> None:
        """Create a key-encryption key in the token: AES-256, sensitive, never extractable,
        stored on the token and usable only to encrypt and decrypt.

        Raises ``ValueError`` if the token already holds a secret key with that label.
        """
        pkcs11 = _pkcs11()
        from pkcs11 import Attribute, KeyType, MechanismFlag, ObjectClass

        token = _token(module, token_label)
        with _mapped(f"create the key {key_label!r} in token {token_label!r}"):
            session = _login(token, pin, rw=True)
            try:
                existing = list(
                    session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: key_label})
                )
                if existing:
                    raise ValueError(f"token {token_label!r} already holds a key labelled {key_label!r}")
                session.generate_key(
                    KeyType.AES,
                    256,
                    label=key_label,
                    store=True,
                    capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
                    template={
                        Attribute.TOKEN: True,
                        Attribute.PRIVATE: True,
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                        Attribute.WRAP: False,
                        Attribute.UNWRAP: False,
                        Attribute.SIGN: False,
                        Attribute.VERIFY: False,
                        Attribute.DERIVE: False,
                    },
                )
            finally:
                _close_quietly(session, pkcs11)

    @property
    def name(self) -> str:
        return "pkcs11"

    def __repr__(self) -> str:
        return (
            f"Pkcs11(module={self._module!r}, token_label={self._token_label!r}, "
            f"key_label={self._key_label!r}, kek_id={self._kek_id})"
        )

    def close(self) -> None:
        """End the session. The provider cannot be used afterwards."""
        with self._lock:
            self._closed = True
            self._drop_session()

    def generate_data_key(self, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        aad = encode_context(check_context(context))

        def run(session: Session, key: SecretKey) -> tuple[bytes, bytes]:
            random = session.generate_random((DATA_KEY_BYTES + IV_BYTES) * 8)
            data_key, iv = random[:DATA_KEY_BYTES], random[DATA_KEY_BYTES:]
            return data_key, _seal(key, iv, data_key, aad)

        return self._run("generate a data key", run)

    def wrap(self, data_key: bytes, context: Mapping[str, str]) -> bytes:
        data_key = check_data_key(data_key)
        aad = encode_context(check_context(context))
        return self._run(
            "wrap", lambda session, key: _seal(key, session.generate_random(IV_BYTES * 8), data_key, aad)
        )

    def unwrap(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        blob = _check_blob(check_wrapped(wrapped))
        aad = encode_context(check_context(context))
        return self._run("unwrap", lambda session, key: _unseal(key, blob, aad))

    def rewrap(self, wrapped: Sequence[bytes], contexts: Sequence[Mapping[str, str]]) -> list[bytes]:
        """Unwrap and wrap again with a fresh IV: PKCS#11 has no re-encrypt."""
        items = [
            (_check_blob(w, index=i), encode_context(c))
            for i, (w, c) in enumerate(check_batch(wrapped, contexts))
        ]

        def run(session: Session, key: SecretKey) -> list[bytes]:
            out: list[bytes] = []
            for index, (blob, aad) in enumerate(items):
                try:
                    data_key = _unseal(key, blob, aad)
                except DecryptionError as exc:
                    raise DecryptionError(f"wrapped key {index} did not unwrap") from exc.__cause__
                out.append(_seal(key, session.generate_random(IV_BYTES * 8), data_key, aad))
            return out

        return self._run("rewrap", run)

    def needs_rewrap(self, wrapped: bytes) -> bool:
        """Always False: a token key has one version."""
        check_wrapped(wrapped)
        return False

    # -- internals

    def _run(self, operation: str, fn: Callable[[Session, SecretKey], _T]) -> _T:
        x = _pkcs11().exceptions
        lost = (
            x.SessionHandleInvalid,
            x.SessionClosed,
            x.ObjectHandleInvalid,
            x.KeyHandleInvalid,
            x.UserNotLoggedIn,
            x.DeviceRemoved,
            x.TokenNotPresent,
        )
        with self._lock:
            try:
                return self._attempt(operation, fn)
            except ProviderUnavailableError as exc:
                if not isinstance(exc.__cause__, lost):
                    raise
            # The session was lost (logout elsewhere, token reinserted, HSM restart): reopen once.
            self._drop_session()
            return self._attempt(operation, fn)

    def _attempt(self, operation: str, fn: Callable[[Session, SecretKey], _T]) -> _T:
        if self._session is None or self._key is None:
            self._open()
        assert self._session is not None and self._key is not None
        with _mapped(f"{operation} with key {self._key_label!r}"):
            return fn(self._session, self._key)

    def _open(self) -> None:
        if self._closed:
            raise ProviderError("this Pkcs11 provider is closed")
        pkcs11 = _pkcs11()
        from pkcs11 import Attribute, KeyType, ObjectClass
        from pkcs11.types import DecryptMixin, EncryptMixin

        token = _token(self._module, self._token_label)
        where = f"open key {self._key_label!r} in token {self._token_label!r}"
        with _mapped(where):
            session = _login(token, self._pin, rw=False)
            try:
                key = session.get_key(
                    object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, label=self._key_label
                )
                if not isinstance(key, EncryptMixin) or not isinstance(key, DecryptMixin):
                    raise ProviderError(f"{where}: the key cannot encrypt and decrypt")
                if key.key_length != 256:
                    raise ProviderError(f"{where}: the key is AES-{key.key_length}, not AES-256")
                if key[Attribute.EXTRACTABLE] or not key[Attribute.SENSITIVE]:
                    raise ProviderError(
                        f"{where}: the key can be read out of the token (extractable or not sensitive); "
                        "use a key made by Pkcs11.create_kek"
                    )
            except BaseException:
                _close_quietly(session, pkcs11)
                raise
        self._session, self._key = session, key

    def _drop_session(self) -> None:
        session, self._session, self._key = self._session, None, None
        if session is not None:
            _close_quietly(session, _pkcs11())


def _token(module: str, token_label: str) -> Token:
    pkcs11 = _pkcs11()
    try:
        lib = pkcs11.lib(module)
    except pkcs11.exceptions.PKCS11Error as exc:
        raise ProviderUnavailableError(f"cannot load the PKCS#11 module {module!r}") from exc
    with _mapped(f"find token {token_label!r}"):
        token: Token = lib.get_token(token_label=token_label)
        return token


def _login(token: Token, pin: str, *, rw: bool) -> Session:
    pkcs11 = _pkcs11()
    try:
        return token.open(rw=rw, user_pin=pin)
    except pkcs11.exceptions.UserAlreadyLoggedIn:
        # The login belongs to the process: another session already holds it.
        return token.open(rw=rw)


def _close_quietly(session: Session, pkcs11: Any) -> None:
    with contextlib.suppress(pkcs11.exceptions.PKCS11Error):
        session.close()


def _seal(key: SecretKey, iv: bytes, data_key: bytes, aad: bytes) -> bytes:
    from pkcs11 import Mechanism
    from pkcs11.mechanisms import GCMParams

    sealed = key.encrypt(
        data_key, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(iv, aad, TAG_BYTES * 8)
    )
    if not isinstance(sealed, bytes) or len(sealed) != DATA_KEY_BYTES + TAG_BYTES:
        raise ProviderError("the token returned an AES-GCM result of the wrong size")
    return iv + sealed


def _unseal(key: SecretKey, blob: bytes, aad: bytes) -> bytes:
    pkcs11 = _pkcs11()
    from pkcs11 import Mechanism
    from pkcs11.mechanisms import GCMParams

    iv, sealed = blob[:IV_BYTES], blob[IV_BYTES:]
    try:
        plaintext = key.decrypt(
            sealed, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(iv, aad, TAG_BYTES * 8)
        )
    except pkcs11.exceptions.GeneralError as exc:
        # CKR_GENERAL_ERROR is a token fault, and also SoftHSM's answer to a wrong
        # tag: the blob is at fault only if the token still seals and opens a probe.
        if not _token_works(key):
            raise ProviderError("PKCS#11: the token failed (CKR_GENERAL_ERROR)") from exc
        raise DecryptionError("the wrapped data key did not unwrap") from exc
    except (
        pkcs11.exceptions.EncryptedDataInvalid,
        pkcs11.exceptions.EncryptedDataLenRange,
        pkcs11.exceptions.DataInvalid,
        pkcs11.exceptions.DataLenRange,
    ) as exc:
        raise DecryptionError("the wrapped data key did not unwrap") from exc
    if not isinstance(plaintext, bytes) or len(plaintext) != DATA_KEY_BYTES:
        raise DecryptionError("the wrapped data key did not unwrap")
    return plaintext


def _token_works(key: SecretKey) -> bool:
    """Whether the token seals and opens a fresh AES-GCM probe under ``key``."""
    from pkcs11 import Mechanism
    from pkcs11.mechanisms import GCMParams

    probe, aad = bytes(DATA_KEY_BYTES), b"sealbox:pkcs11-probe"
    try:
        blob = _seal(key, os.urandom(IV_BYTES), probe, aad)
        opened = key.decrypt(
            blob[IV_BYTES:],
            mechanism=Mechanism.AES_GCM,
            mechanism_param=GCMParams(blob[:IV_BYTES], aad, TAG_BYTES * 8),
        )
    except Exception:
        return False
    return bool(opened == probe)


def _check_blob(blob: bytes, *, index: int | None = None) -> bytes:
    if len(blob) != WRAPPED_BYTES:
        raise DecryptionError(
            "the wrapped data key did not unwrap" if index is None else f"wrapped key {index} did not unwrap"
        )
    return blob


class _mapped:
    """Turns python-pkcs11 errors raised inside it into sealbox errors, chaining the original."""

    def __init__(self, where: str) -> None:
        self._where = where

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            return
        pkcs11 = _pkcs11()
        x = pkcs11.exceptions
        if not isinstance(exc, x.PKCS11Error):
            return
        kind: type[Exception]
        if isinstance(exc, x.PinIncorrect | x.PinLocked | x.PinExpired | x.PinInvalid | x.PinLenRange):
            kind, reason = AccessDeniedError, "the PIN was refused"
        elif isinstance(exc, x.NoSuchKey):
            kind, reason = KeyDisabledError, "no such AES key in the token"
        elif isinstance(exc, x.MultipleObjectsReturned):
            kind, reason = ProviderError, "more than one AES key has that label"
        elif isinstance(
            exc,
            x.NoSuchToken
            | x.TokenNotPresent
            | x.TokenNotRecognised
            | x.DeviceRemoved
            | x.DeviceError
            | x.DeviceMemory
            | x.SessionHandleInvalid
            | x.SessionClosed
            | x.ObjectHandleInvalid
            | x.KeyHandleInvalid
            | x.UserNotLoggedIn
            | x.SessionCount,
        ):
            kind, reason = ProviderUnavailableError, type(exc).__name__
        else:
            kind, reason = ProviderError, type(exc).__name__
        raise kind(f"PKCS#11: cannot {self._where}: {reason}") from exc
