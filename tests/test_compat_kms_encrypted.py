"""sealbox.compat.kms_encrypted: the encrypted_kms_key column with the gem's test client,
and against real services: AWS KMS (moto's server) and Vault transit (OpenBao), started as
tests/test_providers.py starts them."""

from __future__ import annotations

import base64
import json
import os
import uuid

import pytest
from sealbox import DecryptionError
from sealbox.compat.kms_encrypted import TEST_PREFIX, KmsKey, model_context, sorted_context
from sealbox.compat.lockbox import Lockbox
from sealbox.providers import AwsKms, VaultTransit

from . import services

CTX = model_context("User", 1)


def ruby_encode64(b: bytes) -> str:
    text = base64.b64encode(b).decode()
    return "".join(text[i : i + 60] + "\n" for i in range(0, len(text), 60))


def test_context_serialization() -> None:
    assert sorted_context({"model_name": "User", "model_id": 1}) == {"model_id": "1", "model_name": "User"}
    with pytest.raises(TypeError):
        sorted_context({"a": 1.5})  # type: ignore[dict-item]


def test_test_client_format() -> None:
    """KmsEncrypted::Clients::Test, the gem's insecure-test-key: built here from its source."""
    data_key = os.urandom(32)
    ctx_json = json.dumps({"model_id": "1", "model_name": "User"}, separators=(",", ":"))
    inner = b":".join([TEST_PREFIX, base64.b64encode(data_key), ruby_encode64(ctx_json.encode()).encode()])
    stored = "v1:" + base64.b64encode(inner).decode()
    kms = KmsKey("test")
    assert kms.decrypt(stored, CTX) == data_key
    assert kms.encrypt(data_key, CTX) == stored  # no randomness in the test client
    with pytest.raises(DecryptionError):
        kms.decrypt(stored, model_context("User", 2))
    with pytest.raises(DecryptionError):
        kms.decrypt("v2:" + stored[3:], CTX)  # version 2 is not configured
    v2 = KmsKey("test", version=2, previous_versions={1: "test"})
    assert v2.decrypt(stored, CTX) == data_key
    assert v2.encrypt(data_key, CTX).startswith("v2:")
    # the legacy form: no version, the context as the model gave it (unsorted, raw values)
    legacy_inner = b":".join(
        [
            TEST_PREFIX,
            base64.b64encode(data_key),
            ruby_encode64(b'{"model_name":"User","model_id":1}').encode(),
        ]
    )
    assert kms.decrypt(base64.b64encode(legacy_inner).decode(), CTX) == data_key
    # a context given per version
    assert kms.decrypt(stored, lambda version: CTX) == data_key
    # the data key opens the record's Lockbox fields
    field = Lockbox(data_key).encrypt("alice@example.org")
    assert Lockbox(kms.decrypt(stored, CTX)).decrypt_str(field) == "alice@example.org"
    for bad in ("v1:" + base64.b64encode(b"junk").decode(), "v1:", "", "v1:@@@"):
        with pytest.raises(DecryptionError):
            kms.decrypt(bad, CTX)


def test_aws_kms(moto: services.Moto) -> None:
    kms_client = moto.client()
    key_id = kms_client.create_key(Description="kms_encrypted")["KeyMetadata"]["KeyId"]
    provider = AwsKms(key_id, kms_client)
    data_key = os.urandom(32)
    # what the gem stores: KMS Encrypt with the sorted, stringified context
    blob = kms_client.encrypt(
        KeyId=key_id, Plaintext=data_key, EncryptionContext={"model_id": "1", "model_name": "User"}
    )["CiphertextBlob"]
    stored = "v1:" + base64.b64encode(blob).decode()
    kms = KmsKey(provider)
    assert kms.decrypt(stored, CTX) == data_key
    with pytest.raises(DecryptionError):
        kms.decrypt(stored, model_context("User", 2))
    ours = kms.encrypt(data_key, CTX)
    raw = base64.b64decode(ours[3:])
    assert (
        kms_client.decrypt(CiphertextBlob=raw, EncryptionContext={"model_id": "1", "model_name": "User"})[
            "Plaintext"
        ]
        == data_key
    )
    # legacy: unversioned base64
    assert kms.decrypt(base64.b64encode(blob).decode(), CTX) == data_key
    provider.close()


def test_vault_transit(openbao: services.OpenBao) -> None:
    client = openbao.client()
    name = f"k-{uuid.uuid4().hex[:12]}"
    client.secrets.transit.create_key(name, key_type="aes256-gcm96", derived=True)
    provider = VaultTransit(name, client)
    data_key = os.urandom(32)
    # what the gem stores: transit encrypt with context = Base64.encode64(sorted JSON)
    ctx = ruby_encode64(b'{"model_id":"1","model_name":"User"}')
    ciphertext = client.secrets.transit.encrypt_data(name, base64.b64encode(data_key).decode(), context=ctx)[
        "data"
    ]["ciphertext"]
    stored = "v1:" + base64.b64encode(ciphertext.encode()).decode()
    kms = KmsKey(provider)
    assert kms.decrypt(stored, CTX) == data_key
    with pytest.raises(DecryptionError):
        kms.decrypt(stored, model_context("User", 2))
    assert kms.decrypt(kms.encrypt(data_key, CTX), CTX) == data_key
    # legacy: the vault:v1: string itself, its context the model's JSON as it was
    legacy_ctx = ruby_encode64(b'{"model_name":"User","model_id":1}')
    legacy = client.secrets.transit.encrypt_data(
        name, base64.b64encode(data_key).decode(), context=legacy_ctx
    )["data"]["ciphertext"]
    assert kms.decrypt(legacy, CTX) == data_key
    provider.close()
