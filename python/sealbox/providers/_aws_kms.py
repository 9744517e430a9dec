"""AWS KMS as the key-encryption key, through boto3."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sealbox._errors import (
    AccessDeniedError,
    DecryptionError,
    KeyDisabledError,
    ProviderError,
    ProviderUnavailableError,
)
from sealbox._provider import derive_kek_id
from sealbox.providers._common import (
    DATA_KEY_BYTES,
    ProviderBase,
    check_batch,
    check_context,
    check_data_key,
    check_kek_id,
    check_wrapped,
    unwrapped_key,
)

__all__ = ["AwsKms"]

# KMS accepts ciphertext blobs of 1 to 6144 bytes; anything else is refused before a call.
_MAX_BLOB = 6144

_NOT_UNWRAPPED = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})
_DENIED = frozenset(
    {
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "ExpiredTokenException",
        "InvalidGrantTokenException",
    }
)
_DISABLED = frozenset({"DisabledException", "KMSInvalidStateException", "NotFoundException"})
_UNAVAILABLE = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "KMSInternalException",
        "KeyUnavailableException",
        "DependencyTimeoutException",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


def classify_client_error(code: str, status: int, *, unwrapping: bool) -> type[Exception]:
    """The sealbox error for a KMS error code (and HTTP status, when the code is not one KMS uses)."""
    if unwrapping and code in _NOT_UNWRAPPED:
        return DecryptionError
    if code in _DENIED or status in (401, 403):
        return AccessDeniedError
    if code in _DISABLED:
        return KeyDisabledError
    if code in _UNAVAILABLE or status == 429 or status >= 500:
        return ProviderUnavailableError
    return ProviderError


class AwsKms(ProviderBase):
    """A KMS key wraps data keys: GenerateDataKey, Decrypt, Encrypt and ReEncrypt, all with
    the encryption context as the KMS ``EncryptionContext``.

    ::

        kek = AwsKms("alias/app-data", kek_id=1)
        plaintext, wrapped = kek.generate_data_key({"table": "users"})

    ``key_id`` is a key id, key ARN, alias name (``alias/...``) or alias ARN of a
    symmetric encryption key. Every Decrypt names it, so a wrapped key made by
    another KMS key is refused rather than silently decrypted.

    ``kek_id`` is the id messages carry to name this KEK. Without it, a key id or
    key ARN gives ``derive_kek_id("aws-kms", <key id>)`` (the ARN's ``key/...``
    part, so both spellings of one key agree, and so do the replicas of a
    multi-Region key); an alias needs an explicit ``kek_id``, since it can be
    moved to another key and so does not name one key. The context is
    bound by KMS itself (it is authenticated data of the ciphertext) and appears
    in clear in the CloudTrail record of every call; do not put secrets in it.

    ``client`` is a boto3 KMS client. Without one, a client is made with
    botocore's *standard* retry mode (``max_attempts`` tries in all, exponential
    backoff with jitter on throttling, 5xx and connection errors) and the given
    ``region_name``, ``endpoint_url`` and timeouts; credentials come from boto3's
    usual chain. A client you pass is used as it is: give it
    ``Config(retries={"mode": "standard"})`` too.

    Rotation inside KMS (automatic or ``RotateKeyOnDemand``) is transparent: the
    key id stays the same, old wrapped keys still decrypt, and the wrapped bytes do
    not say which backing key made them. So `needs_rewrap` is always False, and
    `rewrap` (one ReEncrypt per key: KMS has no batch call) moves keys to the
    newest backing key without the data keys leaving KMS, and `rewrap_from`
    moves keys from another KMS key to this one the same way.

    Errors: InvalidCiphertextException and IncorrectKeyException raise
    `DecryptionError`; denied or unrecognised credentials `AccessDeniedError`;
    a disabled, pending-deletion or missing key `KeyDisabledError`; throttling,
    KMS internal errors and connection failures that remain after the retries
    `ProviderUnavailableError`. The botocore exception is chained.
    """

    def __init__(
        self,
        key_id: str,
        client: Any = None,
        *,
        kek_id: int | None = None,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        max_attempts: int | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> None:
        if not isinstance(key_id, str) or not key_id:
            raise TypeError("key_id must be a non-empty str: a key id, key ARN, alias name or alias ARN")
        settings = (region_name, endpoint_url, max_attempts, connect_timeout, read_timeout)
        if client is not None and any(s is not None for s in settings):
            raise TypeError(
                "region_name, endpoint_url, max_attempts and the timeouts configure the client AwsKms "
                "makes; when passing client=, configure that client instead"
            )
        self._key_id = key_id
        self._kek_id = (
            derive_kek_id("aws-kms", _named_key(key_id)) if kek_id is None else check_kek_id(kek_id)
        )
        self._settings = (region_name, endpoint_url)
        self._owns_client = client is None
        self._client = client
        if client is None:
            self._client = _make_client(
                region_name=region_name,
                endpoint_url=endpoint_url,
                max_attempts=5 if max_attempts is None else max_attempts,
                connect_timeout=5.0 if connect_timeout is None else connect_timeout,
                read_timeout=10.0 if read_timeout is None else read_timeout,
            )

    @property
    def name(self) -> str:
        return "aws-kms"

    @property
    def key_id(self) -> str:
        """The KMS key as given: key id, key ARN, alias name or alias ARN."""
        return self._key_id

    def __repr__(self) -> str:
        return f"AwsKms(key_id={self._key_id!r}, kek_id={self._kek_id})"

    def close(self) -> None:
        """Close the boto3 client if this provider made it."""
        if self._owns_client:
            self._client.close()

    def generate_data_key(self, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        response = self._call(
            "GenerateDataKey",
            self._client.generate_data_key,
            KeyId=self._key_id,
            KeySpec="AES_256",
            **_context_arg("EncryptionContext", context),
        )
        plaintext = bytes(response["Plaintext"])
        if len(plaintext) != DATA_KEY_BYTES:
            raise ProviderError(f"AWS KMS GenerateDataKey returned {len(plaintext)} bytes, not 32")
        return plaintext, bytes(response["CiphertextBlob"])

    def wrap(self, data_key: bytes, context: Mapping[str, str]) -> bytes:
        response = self._call(
            "Encrypt",
            self._client.encrypt,
            KeyId=self._key_id,
            Plaintext=check_data_key(data_key),
            **_context_arg("EncryptionContext", context),
        )
        return bytes(response["CiphertextBlob"])

    def unwrap(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        blob = _check_blob(wrapped)
        response = self._call(
            "Decrypt",
            self._client.decrypt,
            unwrapping=True,
            CiphertextBlob=blob,
            KeyId=self._key_id,
            **_context_arg("EncryptionContext", context),
        )
        return unwrapped_key(bytes(response["Plaintext"]))

    def rewrap(self, wrapped: Sequence[bytes], contexts: Sequence[Mapping[str, str]]) -> list[bytes]:
        """ReEncrypt each key to the newest backing key of ``key_id``, same context.

        One call per key; the data keys never leave KMS.
        """
        return self._reencrypt(self._key_id, wrapped, contexts)

    def rewrap_from(
        self, source: object, wrapped: Sequence[bytes], contexts: Sequence[Mapping[str, str]]
    ) -> list[bytes] | None:
        """Move keys wrapped by another `AwsKms` key to this one, same context: one
        ReEncrypt per key (``SourceKeyId`` the old key, ``DestinationKeyId`` this one),
        so the data keys never leave KMS.

        Only between two `AwsKms` that share one boto3 client, or that both made their
        own with the same region and endpoint (the same credentials, so the old key id
        names the same key for both). The caller needs ``kms:ReEncryptFrom`` on the old
        key and ``kms:ReEncryptTo`` on this one. Returns None, and the caller unwraps
        and wraps instead, for any other source, or when KMS refuses the first
        ReEncrypt (access denied, or a key these credentials cannot use).
        """
        source = source if isinstance(source, AwsKms) else getattr(source, "sync", None)
        if not isinstance(source, AwsKms) or not self._same_principal(source):
            return None
        pairs = check_batch(wrapped, contexts)
        if not pairs:
            return []
        (blob, context), rest = pairs[0], pairs[1:]
        try:
            first = self._reencrypt(source._key_id, [blob], [context])
        except (AccessDeniedError, KeyDisabledError):
            return None
        return first + self._reencrypt(source._key_id, [w for w, _ in rest], [c for _, c in rest], start=1)

    def _same_principal(self, other: AwsKms) -> bool:
        if other._client is self._client:
            return True
        return self._owns_client and other._owns_client and other._settings == self._settings

    def _reencrypt(
        self,
        source_key_id: str,
        wrapped: Sequence[bytes],
        contexts: Sequence[Mapping[str, str]],
        *,
        start: int = 0,
    ) -> list[bytes]:
        where = self._key_id if source_key_id == self._key_id else f"{source_key_id} to {self._key_id}"
        out: list[bytes] = []
        for index, (blob, context) in enumerate(check_batch(wrapped, contexts), start):
            try:
                response = self._call(
                    "ReEncrypt",
                    self._client.re_encrypt,
                    unwrapping=True,
                    where=where,
                    CiphertextBlob=_check_blob(blob),
                    SourceKeyId=source_key_id,
                    DestinationKeyId=self._key_id,
                    **_context_arg("SourceEncryptionContext", context),
                    **_context_arg("DestinationEncryptionContext", context),
                )
            except DecryptionError as exc:
                raise DecryptionError(f"wrapped key {index} did not unwrap") from exc.__cause__
            out.append(bytes(response["CiphertextBlob"]))
        return out

    def needs_rewrap(self, wrapped: bytes) -> bool:
        """Always False: KMS rotation keeps the key id, and old wrapped keys keep decrypting."""
        check_wrapped(wrapped)
        return False

    def _call(
        self,
        operation: str,
        method: Callable[..., Any],
        *,
        unwrapping: bool = False,
        where: str | None = None,
        **kwargs: Any,
    ) -> Any:
        from botocore import exceptions as bx

        where = where or self._key_id

        try:
            return method(**kwargs)
        except bx.ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            kind = classify_client_error(code, status, unwrapping=unwrapping)
            if kind is DecryptionError:
                raise DecryptionError("the wrapped data key did not unwrap") from exc
            raise kind(f"AWS KMS {operation} on {where}: {code or status}") from exc
        except (bx.NoCredentialsError, bx.PartialCredentialsError, bx.CredentialRetrievalError) as exc:
            raise AccessDeniedError(f"AWS KMS {operation}: no usable AWS credentials") from exc
        except (bx.ConnectionError, bx.HTTPClientError) as exc:
            raise ProviderUnavailableError(
                f"AWS KMS {operation} on {where}: cannot reach KMS ({type(exc).__name__})"
            ) from exc


def _named_key(key_id: str) -> str:
    """The key id that ``key_id`` (a key id or key ARN) names, for the derived KEK id.
    An alias names none: it can be moved to another key."""
    named = key_id
    if key_id.startswith("arn:"):
        parts = key_id.split(":", 5)  # arn:partition:kms:region:account:key/<key id>
        if len(parts) == 6 and parts[2] == "kms" and parts[5].startswith("key/"):
            named = parts[5][len("key/") :]
    if named and "/" not in named and ":" not in named:
        return named
    raise ValueError(
        f"AwsKms({key_id!r}) needs kek_id=: without one, the id that messages carry to name their "
        "KEK is derived from the key id, and an alias names no key for good (it can be moved to "
        "another). Pass kek_id=<a number given to this KMS key once and never reused>, or name the "
        "key by its key id or key ARN"
    )


def _context_arg(name: str, context: Mapping[str, str]) -> dict[str, Any]:
    ctx = check_context(context)
    return {name: ctx} if ctx else {}


def _check_blob(wrapped: bytes) -> bytes:
    blob = check_wrapped(wrapped)
    if not 1 <= len(blob) <= _MAX_BLOB:
        raise DecryptionError("the wrapped data key did not unwrap")
    return blob


def _make_client(
    *,
    region_name: str | None,
    endpoint_url: str | None,
    max_attempts: int,
    connect_timeout: float,
    read_timeout: float,
) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("AwsKms needs boto3: pip install 'sealbox[aws]'") from exc
    config = Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    return boto3.client("kms", region_name=region_name, endpoint_url=endpoint_url, config=config)
