"""kms_encrypted (the Ruby gem, 1.x): the ``encrypted_kms_key`` column.

``has_kms_key`` gives each record a random 32-byte data key, stored wrapped by
a KMS in ``encrypted_kms_key`` as ``"v<version>:" + base64(KMS ciphertext)``,
under an encryption context (by default ``{model_name:, model_id:}``). The
data key is then the ``key:`` of the record's Lockbox or attr_encrypted fields.
`KmsKey` unwraps (and wraps) that column with a sealbox provider:

    from sealbox.compat.kms_encrypted import KmsKey, model_context
    from sealbox.compat.lockbox import Lockbox
    from sealbox.providers import AwsKms

    kms = KmsKey(AwsKms("alias/my-key"))
    data_key = kms.decrypt(row["encrypted_kms_key"], model_context("User", row["id"]))
    Lockbox(data_key).decrypt_str(row["email_ciphertext"])

Providers: `sealbox.providers.AwsKms` (the KMS ``EncryptionContext`` is the
context with string values), `sealbox.providers.VaultTransit` (a ``derived``
transit key; the context is the base64 of the sorted JSON) and ``"test"``, the
gem's ``insecure-test-key`` client. Google Cloud KMS is not supported.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

from sealbox._errors import DecryptionError
from sealbox.compat._ruby import pack_m, unpack_m

__all__ = ["KmsKey", "model_context", "sorted_context"]

Context = Mapping[str, str | int]
# KmsEncrypted::Clients::Test::PREFIX = Base64.decode64("insecure+data+A")
TEST_PREFIX = unpack_m(b"insecure+data+A")


def model_context(model_name: str, model_id: int | str) -> dict[str, str | int]:
    """The default context of ``has_kms_key``: ``{model_name:, model_id:}``."""
    return {"model_name": model_name, "model_id": model_id}


def _value(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, str | int):
        raise TypeError("Context values must be a string or integer")
    return str(v)


def sorted_context(context: Context) -> dict[str, str]:
    """The context as the gem sends it: keys sorted, values as strings."""
    return {str(k): _value(v) for k, v in sorted(context.items(), key=lambda kv: str(kv[0]))}


def _json(context: Context, legacy: bool) -> str:
    # Ruby's Hash#to_json: compact; the legacy form keeps the order and the types.
    data = dict(context) if legacy else sorted_context(context)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


class KmsKey:
    """One ``has_kms_key``: its provider, version and previous versions.

    ``provider`` is an `AwsKms`, a `VaultTransit` or ``"test"``.
    ``previous_versions`` maps an older version number to its provider (the
    gem's ``previous_versions: {1 => {key_id:}}``). ``upgrade_context=True`` is
    the gem's option of that name (old unversioned keys were wrapped without
    a context).
    """

    __slots__ = ("_providers", "_upgrade_context", "_version")

    def __init__(
        self,
        provider: Any,
        *,
        version: int = 1,
        previous_versions: Mapping[int, Any] | None = None,
        upgrade_context: bool = False,
    ) -> None:
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValueError("version must be a positive int")
        self._version = version
        self._providers = {int(v): p for v, p in (previous_versions or {}).items()}
        self._providers[version] = provider
        self._upgrade_context = bool(upgrade_context)

    def _provider(self, version: int) -> Any:
        provider = self._providers.get(version)
        if provider is None:
            raise DecryptionError("decryption failed")
        return provider

    def encrypt(self, data_key: bytes, context: Context | Callable[[int], Context] | None) -> str:
        """Wrap a data key as the gem stores it: ``"v<version>:" + base64``."""
        ctx = context(self._version) if callable(context) else context
        blob = self._wrap(self._provider(self._version), data_key, ctx)
        return f"v{self._version}:" + base64.b64encode(blob).decode()

    def decrypt(
        self, encrypted_kms_key: str | bytes, context: Context | Callable[[int], Context] | None
    ) -> bytes:
        """The data key in an ``encrypted_kms_key`` value (``v<N>:...``, or the
        unversioned legacy forms: AWS base64, ``vault:v1:...``). ``context`` is
        the record's, or a callable given the version. Every failure raises
        `DecryptionError`."""
        text = encrypted_kms_key.decode() if isinstance(encrypted_kms_key, bytes) else encrypted_kms_key
        if not isinstance(text, str):
            raise TypeError("encrypted_kms_key must be str")
        legacy = False
        prefix = text.split(":", 1)
        if len(prefix) == 2 and prefix[0][:1] == "v" and prefix[0][1:].isdigit():
            version, body = int(prefix[0][1:]), prefix[1]
            blob = unpack_m(body.encode())
        else:
            version, legacy = 1, True
            if text.startswith("$gc$"):
                raise ValueError("Google Cloud KMS keys are not supported")
            blob = text.encode() if text.startswith("vault:") else unpack_m(text.encode())
            if self._upgrade_context:
                context = {}
        ctx = context(version) if callable(context) else context
        return self._unwrap(self._provider(version), blob, ctx, legacy)

    # -- per provider

    @staticmethod
    def _wrap(provider: Any, data_key: bytes, context: Context | None) -> bytes:
        if len(data_key) != 32:
            raise ValueError("a kms_encrypted data key is 32 bytes")
        if provider == "test":
            parts = [TEST_PREFIX, base64.b64encode(data_key)]
            if context is not None:
                parts.append(pack_m(_json(context, False).encode()).encode())
            return b":".join(parts)
        if _is_vault(provider):
            data = provider._call(
                "encrypt",
                provider._transit.encrypt_data,
                name=provider._key_name,
                plaintext=base64.b64encode(data_key).decode(),
                mount_point=provider._mount_point,
                **({} if context is None else {"context": _vault_context(context, False)}),
            )["data"]
            return str(data["ciphertext"]).encode()
        wrapped: bytes = provider.wrap(data_key, sorted_context(context or {}))
        return wrapped

    @staticmethod
    def _unwrap(provider: Any, blob: bytes, context: Context | None, legacy: bool) -> bytes:
        if provider == "test":
            parts = blob.split(b":")
            if len(parts) < 2 or parts[0] != TEST_PREFIX:
                raise DecryptionError("decryption failed")
            stored = parts[2] if len(parts) > 2 else None
            want = None if context is None else pack_m(_json(context, legacy).encode()).encode()
            if stored != want:
                raise DecryptionError("decryption failed")
            key = unpack_m(parts[1])
        elif _is_vault(provider):
            try:
                data = provider._call(
                    "decrypt",
                    provider._transit.decrypt_data,
                    unwrapping=True,
                    name=provider._key_name,
                    ciphertext=blob.decode("ascii"),
                    mount_point=provider._mount_point,
                    **({} if context is None else {"context": _vault_context(context, legacy)}),
                )["data"]
                key = base64.b64decode(data["plaintext"])
            except (UnicodeDecodeError, ValueError) as exc:
                raise DecryptionError("decryption failed") from exc
        else:
            key = provider.unwrap(blob, sorted_context(context or {}))
        if len(key) != 32:
            raise DecryptionError("decryption failed")
        return bytes(key)


def _is_vault(provider: Any) -> bool:
    return type(provider).__name__ == "VaultTransit"


def _vault_context(context: Context, legacy: bool) -> str:
    # Base64.encode64(JSON): Vault decodes it with the newlines the gem leaves in.
    return pack_m(_json(context, legacy).encode())
