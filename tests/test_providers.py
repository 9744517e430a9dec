"""The KMS and HSM key providers against real local servers: moto (AWS KMS), OpenBao
(Vault transit) and SoftHSM2 (PKCS#11), started by the session fixtures below."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pickle
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sealbox._errors import (
    AccessDeniedError,
    DecryptionError,
    KeyDisabledError,
    KeyVersionDisabledError,
    ProviderError,
    ProviderUnavailableError,
    SealboxError,
)
from sealbox._provider import AsyncKeyProvider, KeyProvider, derive_kek_id, encode_context
from sealbox.providers import (
    AsyncAwsKms,
    AsyncPkcs11,
    AsyncProvider,
    AsyncVaultTransit,
    AwsKms,
    Pkcs11,
    VaultTransit,
)
from sealbox.providers._aws_kms import classify_client_error
from sealbox.providers._vault_transit import CONTEXT_LABEL, classify_vault_message

from . import services

CTX = {"table": "users", "column": "email", "tenant": "acme"}
OTHER_CONTEXTS: list[Mapping[str, str]] = [
    {**CTX, "tenant": "other"},  # a value changed
    {k: v for k, v in CTX.items() if k != "tenant"},  # a key missing
    {**CTX, "row": "42"},  # a key added
    {},
]

# -- the servers (session-scoped; a missing one fails its tests with the package to install)


def _start(cm: Any) -> Any:
    try:
        return cm.__enter__()
    except services.ServiceMissing as exc:
        missing = str(exc)
    pytest.fail(missing, pytrace=False)


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.SoftHsm]:
    cm = services.softhsm(tmp_path_factory.mktemp("softhsm"))
    hsm = _start(cm)
    # Tokens must exist before the module is first loaded: it lists slots once.
    for label in (Pkcs11Kit.token, Pkcs11Kit.pin_token):
        hsm.init_token(label)
    yield hsm
    cm.__exit__(None, None, None)


# -- one "kit" per provider: makes providers over fresh keys, rotates them


class Kit:
    kind = ""

    def __init__(self) -> None:
        self.opened: list[KeyProvider] = []

    def new(self, **kwargs: Any) -> KeyProvider:
        raise NotImplementedError

    def close(self) -> None:
        for provider in self.opened:
            provider.close()  # type: ignore[attr-defined]


class AwsKit(Kit):
    kind = "aws-kms"

    def __init__(self, moto: services.Moto) -> None:
        super().__init__()
        self.moto = moto
        self.kms = moto.client()

    def create_key(self) -> str:
        key_id: str = self.kms.create_key(Description="sealbox test")["KeyMetadata"]["KeyId"]
        return key_id

    def new(self, **kwargs: Any) -> AwsKms:
        provider = AwsKms(self.create_key(), self.kms, **kwargs)
        self.opened.append(provider)
        return provider


class VaultKit(Kit):
    kind = "vault-transit"

    def __init__(self, bao: services.OpenBao) -> None:
        super().__init__()
        self.bao = bao
        self.client = bao.client()

    def create_key(self, **kwargs: Any) -> str:
        name = f"k-{uuid.uuid4().hex[:12]}"
        self.client.secrets.transit.create_key(name, key_type="aes256-gcm96", **{"derived": True, **kwargs})
        return name

    def new(self, **kwargs: Any) -> VaultTransit:
        provider = VaultTransit(self.create_key(), self.client, **kwargs)
        self.opened.append(provider)
        return provider


class Pkcs11Kit(Kit):
    kind = "pkcs11"
    token = "sealbox-test"
    pin_token = "sealbox-pin"  # for the wrong-PIN test: no session ever logs in to it before

    def __init__(self, hsm: services.SoftHsm) -> None:
        super().__init__()
        self.hsm = hsm

    def create_key(self) -> str:
        label = f"kek-{uuid.uuid4().hex[:12]}"
        Pkcs11.create_kek(self.hsm.module, self.token, self.hsm.pin, label)
        return label

    def new(self, **kwargs: Any) -> Pkcs11:
        provider = Pkcs11(self.hsm.module, self.token, self.hsm.pin, self.create_key(), **kwargs)
        self.opened.append(provider)
        return provider


KINDS = ["aws-kms", "vault-transit", "pkcs11"]


def _kit(request: pytest.FixtureRequest, kind: str) -> Kit:
    if kind == "aws-kms":
        return AwsKit(request.getfixturevalue("moto"))
    if kind == "vault-transit":
        return VaultKit(request.getfixturevalue("openbao"))
    return Pkcs11Kit(request.getfixturevalue("softhsm"))


@pytest.fixture(params=KINDS)
def kit(request: pytest.FixtureRequest) -> Iterator[Kit]:
    kit = _kit(request, request.param)
    yield kit
    kit.close()


@pytest.fixture
def aws(request: pytest.FixtureRequest) -> Iterator[AwsKit]:
    kit = AwsKit(request.getfixturevalue("moto"))
    yield kit
    kit.close()


@pytest.fixture
def vault(request: pytest.FixtureRequest) -> Iterator[VaultKit]:
    kit = VaultKit(request.getfixturevalue("openbao"))
    yield kit
    kit.close()


@pytest.fixture
def hsm(request: pytest.FixtureRequest) -> Iterator[Pkcs11Kit]:
    kit = Pkcs11Kit(request.getfixturevalue("softhsm"))
    yield kit
    kit.close()


def _flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def _tampered(kind: str, wrapped: bytes) -> list[bytes]:
    """Altered copies of a wrapped key that its provider must refuse as undecryptable."""
    if kind == "vault-transit":
        prefix, _, body = wrapped.rpartition(b":")
        raw = base64.b64decode(body)
        return (
            [
                prefix + b":" + base64.b64encode(_flip(raw, i))
                for i in (0, len(raw) // 2, len(raw) - 1)  # nonce, ciphertext, tag
            ]
            + [wrapped[:-4], wrapped + b"AAAA", b"vault:v1:", b"vault:v1:!!!!", b"not a wrapped key"]
        )
    # moto's blob starts with the key id, whose alteration it reports as AccessDenied (see
    # test_aws_blob_of_another_key); flip bytes of the encrypted part, counted from the end.
    return [_flip(wrapped, i) for i in (-1, -17, -40)] + [wrapped[:-1], wrapped + b"\x00", b"", b"x"]


# -- every provider


def test_implements_the_protocol(kit: Kit) -> None:
    provider = kit.new(kek_id=7)
    assert isinstance(provider, KeyProvider)
    assert provider.name == kit.kind
    assert provider.kek_id == 7


def test_generate_then_unwrap(kit: Kit) -> None:
    provider = kit.new()
    plaintext, wrapped = provider.generate_data_key(CTX)
    assert isinstance(plaintext, bytes) and len(plaintext) == 32
    assert isinstance(wrapped, bytes) and plaintext not in wrapped
    assert provider.unwrap(wrapped, CTX) == plaintext
    again, wrapped_again = provider.generate_data_key(CTX)
    assert again != plaintext and wrapped_again != wrapped


def test_wrap_then_unwrap(kit: Kit) -> None:
    provider = kit.new()
    data_key = os.urandom(32)
    first = provider.wrap(data_key, CTX)
    second = provider.wrap(data_key, CTX)
    assert first != second  # a fresh IV or nonce each time
    assert provider.unwrap(first, CTX) == provider.unwrap(second, CTX) == data_key


@pytest.mark.parametrize("context", [{}, {"": ""}, {"k": "v" * 2000}, {"ключ": "значение ☃"}])
def test_unusual_contexts_round_trip(kit: Kit, context: dict[str, str]) -> None:
    if kit.kind == "aws-kms":
        # AWS KMS refuses empty encryption-context keys; the other cases still apply.
        context = {k: v for k, v in context.items() if k}
    provider = kit.new()
    plaintext, wrapped = provider.generate_data_key(context)
    assert provider.unwrap(wrapped, context) == plaintext


def test_context_mismatch_is_a_decryption_error(kit: Kit) -> None:
    provider = kit.new()
    _, wrapped = provider.generate_data_key(CTX)
    for other in OTHER_CONTEXTS:
        with pytest.raises(DecryptionError):
            provider.unwrap(wrapped, other)
    _, wrapped_empty = provider.generate_data_key({})
    with pytest.raises(DecryptionError):
        provider.unwrap(wrapped_empty, CTX)


def test_tampered_wrapped_key_is_a_decryption_error(kit: Kit) -> None:
    provider = kit.new()
    plaintext, wrapped = provider.generate_data_key(CTX)
    for bad in _tampered(kit.kind, wrapped):
        with pytest.raises(DecryptionError) as info:
            provider.unwrap(bad, CTX)
        assert plaintext.hex() not in str(info.value)
    assert provider.unwrap(wrapped, CTX) == plaintext


def test_another_keks_wrapped_key_does_not_unwrap(kit: Kit) -> None:
    ours, theirs = kit.new(), kit.new()
    _, wrapped = theirs.generate_data_key(CTX)
    # moto answers a blob of another key with AccessDeniedException where AWS answers
    # IncorrectKeyException (a DecryptionError here); see docs/providers.md.
    expected = (DecryptionError, AccessDeniedError) if kit.kind == "aws-kms" else DecryptionError
    with pytest.raises(expected):
        ours.unwrap(wrapped, CTX)


def test_rewrap_keeps_the_data_keys(kit: Kit) -> None:
    provider = kit.new()
    contexts = [{**CTX, "row": str(i)} for i in range(5)]
    pairs = [provider.generate_data_key(c) for c in contexts]
    rewrapped = provider.rewrap([w for _, w in pairs], contexts)
    assert len(rewrapped) == 5
    for (plaintext, wrapped), new, context in zip(pairs, rewrapped, contexts, strict=True):
        assert new != wrapped
        assert provider.unwrap(new, context) == plaintext
        assert not provider.needs_rewrap(new)
    assert provider.rewrap([], []) == []


def test_rewrap_refuses_a_bad_item_by_index(kit: Kit) -> None:
    provider = kit.new()
    contexts = [{**CTX, "row": str(i)} for i in range(3)]
    wrapped = [provider.generate_data_key(c)[1] for c in contexts]
    with pytest.raises(DecryptionError, match="wrapped key 2 did not unwrap"):
        provider.rewrap(wrapped, [contexts[0], contexts[1], CTX])
    with pytest.raises(ValueError, match="one context per wrapped key"):
        provider.rewrap(wrapped, contexts[:2])


def test_argument_checks(kit: Kit) -> None:
    provider = kit.new()
    for size in (0, 16, 31, 33, 64):
        with pytest.raises(ValueError, match="32 bytes"):
            provider.wrap(b"k" * size, CTX)
    with pytest.raises(TypeError):
        provider.wrap("k" * 32, CTX)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        provider.generate_data_key({"n": 1})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        provider.unwrap("text", CTX)  # type: ignore[arg-type]


def test_kek_id_is_checked(kit: Kit) -> None:
    with pytest.raises(ValueError):
        kit.new(kek_id=-1)
    with pytest.raises(ValueError):
        kit.new(kek_id=2**32)
    with pytest.raises(TypeError):
        kit.new(kek_id=True)
    assert kit.new(kek_id=2**32 - 1).kek_id == 2**32 - 1


def test_providers_cannot_be_pickled(kit: Kit) -> None:
    provider = kit.new()
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(provider)


def test_async_form(kit: Kit) -> None:
    provider = kit.new()
    aio = AsyncProvider(provider)
    assert isinstance(aio, AsyncKeyProvider)
    assert (aio.name, aio.kek_id) == (provider.name, provider.kek_id)

    async def run() -> None:
        pairs = await asyncio.gather(*(aio.generate_data_key({**CTX, "i": str(i)}) for i in range(8)))
        opened = await asyncio.gather(
            *(aio.unwrap(w, {**CTX, "i": str(i)}) for i, (_, w) in enumerate(pairs))
        )
        assert opened == [p for p, _ in pairs]
        data_key = os.urandom(32)
        wrapped = await aio.wrap(data_key, CTX)
        [rewrapped] = await aio.rewrap([wrapped], [CTX])
        assert await aio.unwrap(rewrapped, CTX) == data_key
        assert not aio.needs_rewrap(rewrapped)
        with pytest.raises(DecryptionError):
            await aio.unwrap(wrapped, {})

    asyncio.run(run())


# -- inside an envelope Box


@pytest.mark.parametrize("cached", [False, True], ids=["per-message", "cached"])
def test_envelope_box_round_trip(kit: Kit, cached: bool) -> None:
    import sealbox

    provider = kit.new(kek_id=11)
    cache = sealbox.DataKeyCache(max_messages=100, max_age=60) if cached else None
    box = sealbox.Box(sealbox.EnvelopeKeyProvider(provider, cache))
    message = box.encrypt(b"alice@example.org", context=b"users/42/email")
    assert box.decrypt(message, context=b"users/42/email") == b"alice@example.org"
    with pytest.raises(DecryptionError):
        box.decrypt(message, context=b"users/43/email")
    values = [b"v%d" % i for i in range(20)]
    contexts = [b"row/%d" % i for i in range(20)]
    messages = box.encrypt_batch(values, contexts)
    assert box.decrypt_batch(messages, contexts) == values
    assert box.decrypt_batch(box.rotate_batch(messages, contexts, mode="reencrypt"), contexts) == values


def test_envelope_box_async(kit: Kit) -> None:
    import sealbox

    box = sealbox.Box(sealbox.EnvelopeKeyProvider(AsyncProvider(kit.new())))

    async def run() -> None:
        messages = await asyncio.gather(*(box.encrypt_async(b"v", context=b"c%d" % i) for i in range(5)))
        opened = await asyncio.gather(
            *(box.decrypt_async(m, context=b"c%d" % i) for i, m in enumerate(messages))
        )
        assert opened == [b"v"] * 5

    asyncio.run(run())


def test_envelope_rotate_batch_after_vault_rotation(vault: VaultKit) -> None:
    import sealbox

    provider = vault.new(version_ttl=0.0)
    box = sealbox.Box(sealbox.EnvelopeKeyProvider(provider))
    contexts = [b"row/%d" % i for i in range(10)]
    messages = box.encrypt_batch([b"x"] * 10, contexts)
    assert box.rotate_batch(messages, contexts) == messages  # nothing to do yet
    vault.client.secrets.transit.rotate_key(provider.key_name)
    rotated = box.rotate_batch(messages, contexts)  # transit rewrap, batched
    assert all(new != old for new, old in zip(rotated, messages, strict=True))
    assert box.decrypt_batch(rotated, contexts) == [b"x"] * 10
    assert box.rotate_batch(rotated, contexts) == rotated
    # A message moved to another row fails alone (the batched rewrap is retried key
    # by key to find it); the others are re-wrapped.
    wrong = list(contexts)
    wrong[4] = b"row/999"
    out = box.rotate_batch(messages, wrong, errors="return")
    assert out[4] is None
    assert all(o is not None and o != m for i, (o, m) in enumerate(zip(out, messages, strict=True)) if i != 4)
    assert box.decrypt_batch(out[:4] + out[5:], contexts[:4] + contexts[5:]) == [b"x"] * 9
    with pytest.raises(DecryptionError, match="item 4"):
        box.rotate_batch(messages, wrong)


def _with_wrapped(message: bytes, wrapped: bytes) -> bytes:
    """An envelope message with another wrapped key (the length in its header to match)."""
    n = int.from_bytes(message[7:9], "big")
    return message[:7] + len(wrapped).to_bytes(2, "big") + wrapped + message[9 + n :]


def test_rotation_to_a_new_kek_with_default_ids(kit: Kit) -> None:
    """EnvelopeKeyProvider(new, previous=[old]), neither given a kek_id: each derives
    its own from its key's name, so the old messages need rotation and rotate_batch
    moves them (with one default id for both it returned them unchanged, and they
    then failed as if tampered)."""
    import sealbox

    old, new = kit.new(), kit.new()
    assert old.kek_id != new.kek_id
    values = [b"v%d" % i for i in range(6)]
    contexts = [b"users/%d/email" % i for i in range(6)]
    messages = sealbox.Box(sealbox.EnvelopeKeyProvider(old)).encrypt_batch(values, contexts)
    moving = sealbox.Box(sealbox.EnvelopeKeyProvider(new, previous=[old]))
    assert all(moving.needs_rotation(m) for m in messages)
    assert moving.decrypt_batch(messages, contexts) == values
    rotated = moving.rotate_batch(messages, contexts)
    assert {sealbox.Message.parse(m).key_id for m in rotated} == {new.kek_id}
    assert not any(moving.needs_rotation(m) for m in rotated)
    assert sealbox.Box(sealbox.EnvelopeKeyProvider(new)).decrypt_batch(rotated, contexts) == values


def test_default_kek_ids_are_derived_from_the_key_name() -> None:
    # Fixed for good: messages carry these ids (docs/providers.md, "KEK ids").
    key = "1234abcd-12ab-34cd-56ef-1234567890ab"
    assert derive_kek_id("aws-kms", key) == 3155495758
    assert derive_kek_id("vault-transit", "transit", "app-data") == 76774735
    assert derive_kek_id("pkcs11", "app", "sealbox-kek") == 197440674
    # Each name is length-prefixed, and the provider's name comes first.
    assert derive_kek_id("pkcs11", "ab", "c") != derive_kek_id("pkcs11", "a", "bc")
    assert derive_kek_id("vault-transit", "transit", "k") != derive_kek_id("pkcs11", "transit", "k")
    client = object()  # nothing is called when a provider is made with a client
    arns = [f"arn:aws:kms:eu-west-1:111122223333:key/{key}", f"arn:aws-cn:kms:cn-north-1:1:key/{key}"]
    for spelling in (key, *arns):
        assert AwsKms(spelling, client).kek_id == 3155495758
    assert AsyncAwsKms(key, client).kek_id == 3155495758
    for alias in ("alias/app-data", "arn:aws:kms:eu-west-1:111122223333:alias/app-data"):
        with pytest.raises(ValueError, match=r"needs kek_id=.*an alias"):
            AwsKms(alias, client)
        assert AwsKms(alias, client, kek_id=4).kek_id == 4
    vault = VaultTransit("app-data", client)
    assert vault.kek_id == 76774735
    assert VaultTransit("app-data", client, mount_point="/transit/").kek_id == 76774735
    assert VaultTransit("app-data", client, mount_point="transit-eu").kek_id != 76774735
    assert VaultTransit("app-data", client, kek_id=0).kek_id == 0


def test_pkcs11_default_kek_id_is_the_token_and_key_labels(hsm: Pkcs11Kit) -> None:
    provider = hsm.new()
    assert provider.kek_id == derive_kek_id("pkcs11", hsm.token, provider._key_label)
    assert hsm.new(kek_id=3).kek_id == 3


def test_two_contexts_over_one_kek_keep_their_caches_apart(kit: Kit) -> None:
    """One KMS key, two encryption contexts: a cache shared between them is refused;
    with a cache each, neither box is handed the other's data keys, and the KMS
    refuses each the other's wrapped keys."""
    import sealbox

    provider = kit.new()
    cache = sealbox.DataKeyCache(max_messages=100)
    payments = sealbox.Box(
        sealbox.EnvelopeKeyProvider(provider, cache, encryption_context={"table": "payments"})
    )
    with pytest.raises(ValueError, match="already serves another EnvelopeKeyProvider"):
        sealbox.EnvelopeKeyProvider(provider, cache, encryption_context={"table": "users"})
    users = sealbox.Box(
        sealbox.EnvelopeKeyProvider(
            provider, sealbox.DataKeyCache(max_messages=100), encryption_context={"table": "users"}
        )
    )
    ctx = [b"row/%d" % i for i in range(4)]
    p = payments.encrypt_batch([b"card"] * 4, ctx)
    u = users.encrypt_batch([b"email"] * 4, ctx)
    assert payments.decrypt_batch(p, ctx) == [b"card"] * 4
    assert users.decrypt_batch(u, ctx) == [b"email"] * 4
    assert users.decrypt_batch(p, ctx, errors="return") == [None] * 4
    assert payments.decrypt_batch(u, ctx, errors="return") == [None] * 4


def test_batches_fail_a_damaged_wrapped_key_alone(kit: Kit) -> None:
    """Every damaged form of one message's wrapped key fails that message only, in
    decrypt_batch and in both kinds of rotate_batch: None with errors="return", a
    DecryptionError naming the item with errors="raise"."""
    import sealbox

    old, new = kit.new(), kit.new()
    values = [b"v%d" % i for i in range(5)]
    contexts = [b"row/%d" % i for i in range(5)]
    messages = sealbox.Box(sealbox.EnvelopeKeyProvider(old)).encrypt_batch(values, contexts)
    box = sealbox.Box(sealbox.EnvelopeKeyProvider(new, previous=[old]))
    wrapped = sealbox.Message.parse(messages[2]).wrapped_key
    assert wrapped is not None
    rest, rest_contexts = values[:2] + values[3:], contexts[:2] + contexts[3:]
    for bad in _tampered(kit.kind, wrapped):
        batch = list(messages)
        batch[2] = _with_wrapped(messages[2], bad)
        assert box.decrypt_batch(batch, contexts, errors="return") == [*values[:2], None, *values[3:]]
        for mode in ("auto", "reencrypt"):
            out = box.rotate_batch(batch, contexts, mode, errors="return")  # type: ignore[arg-type]
            assert out[2] is None, (bad, mode)
            assert box.decrypt_batch(out[:2] + out[3:], rest_contexts) == rest  # type: ignore[arg-type]
        for op in (box.decrypt_batch, box.rotate_batch):
            with pytest.raises(DecryptionError, match=r"^item 2 failed to decrypt$"):
                op(batch, contexts)


# -- AWS KMS


def test_aws_rotation_inside_kms(aws: AwsKit) -> None:
    provider = aws.new()
    plaintext, old = provider.generate_data_key(CTX)
    aws.kms.enable_key_rotation(KeyId=provider.key_id)
    aws.kms.rotate_key_on_demand(KeyId=provider.key_id)
    assert provider.unwrap(old, CTX) == plaintext  # old wrapped keys still open
    assert not provider.needs_rewrap(old)  # rotation is transparent in KMS
    [new] = provider.rewrap([old], [CTX])  # ReEncrypt
    assert new != old
    assert provider.unwrap(new, CTX) == plaintext


def test_aws_alias_and_arn(aws: AwsKit) -> None:
    key_id = aws.create_key()
    alias = f"alias/sealbox-{uuid.uuid4().hex[:8]}"
    aws.kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    arn = aws.kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    by_alias, by_arn = AwsKms(alias, aws.kms, kek_id=5), AwsKms(arn, aws.kms)
    plaintext, wrapped = by_alias.generate_data_key(CTX)
    assert by_arn.unwrap(wrapped, CTX) == plaintext
    # The key ARN and the key id name one key, and derive one KEK id.
    assert by_arn.kek_id == AwsKms(key_id, aws.kms).kek_id != by_alias.kek_id


def test_aws_blob_of_another_key(aws: AwsKit) -> None:
    ours, theirs = aws.new(), aws.new()
    _, wrapped = theirs.generate_data_key(CTX)
    # AWS: IncorrectKeyException -> DecryptionError. moto 5: AccessDeniedException.
    with pytest.raises((DecryptionError, AccessDeniedError)):
        ours.unwrap(wrapped, CTX)


def test_aws_rewrap_names_the_source_key(aws: AwsKit) -> None:
    ours, theirs = aws.new(), aws.new()
    _, wrapped = theirs.generate_data_key(CTX)
    try:
        ours.rewrap([wrapped], [CTX])  # ReEncrypt with SourceKeyId = ours
    except DecryptionError:
        return  # AWS: IncorrectKeyException
    pytest.xfail("moto 5 ignores ReEncrypt's SourceKeyId; AWS answers IncorrectKeyException")


def _count_kms_calls(client: Any) -> dict[str, int]:
    calls: dict[str, int] = {}

    def count(request: Any, **_: Any) -> None:
        op = request.headers.get("X-Amz-Target", b"?").decode().split(".")[-1]
        calls[op] = calls.get(op, 0) + 1

    client.meta.events.register("before-send.kms", count)
    return calls


def _reencrypt_key_ids(client: Any) -> list[tuple[str, str]]:
    """(SourceKeyId, DestinationKeyId) of every ReEncrypt the client sends."""
    seen: list[tuple[str, str]] = []

    def record(params: Any, **_: Any) -> None:
        seen.append((params["SourceKeyId"], params["DestinationKeyId"]))

    client.meta.events.register("before-parameter-build.kms.ReEncrypt", record)
    return seen


def test_aws_rewrap_from_moves_keys_between_kms_keys(aws: AwsKit) -> None:
    old, new = aws.new(), aws.new(kek_id=2)
    plaintext, wrapped = old.generate_data_key(CTX)
    sent = _reencrypt_key_ids(aws.kms)
    [moved] = new.rewrap_from(old, [wrapped], [CTX]) or []  # ReEncrypt to the new key
    assert sent == [(old.key_id, new.key_id)]  # the old key named as the source
    assert new.unwrap(moved, CTX) == plaintext
    with pytest.raises(DecryptionError, match="wrapped key 1"):
        new.rewrap_from(old, [wrapped, wrapped], [CTX, OTHER_CONTEXTS[0]])
    # The blocking provider inside an async one is recognised.
    assert new.rewrap_from(AsyncAwsKms(old.key_id, aws.kms), [wrapped], [CTX])
    # Not an AwsKms key, or one reached through another client (other region,
    # endpoint or credentials): the caller unwraps and wraps.
    assert new.rewrap_from(object(), [wrapped], [CTX]) is None
    elsewhere = AwsKms(old.key_id, aws.moto.client(region_name="eu-west-1"))
    assert new.rewrap_from(elsewhere, [wrapped], [CTX]) is None
    same_settings = AwsKms(old.key_id, aws.moto.client())
    assert new.rewrap_from(same_settings, [wrapped], [CTX]) is None  # another client object
    assert new.rewrap_from(old, [], []) == []


def test_aws_rewrap_from_without_reencrypt_permission_falls_back(aws: AwsKit) -> None:
    import sealbox

    old_id, new_id = aws.create_key(), aws.create_key()
    iam = aws.moto.client("iam")
    user = f"rotator-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt"],
                "Resource": "*",
            }
        ],
    }
    iam.put_user_policy(UserName=user, PolicyName="no-reencrypt", PolicyDocument=json.dumps(policy))
    access = iam.create_access_key(UserName=user)["AccessKey"]
    client = aws.moto.client(
        aws_access_key_id=access["AccessKeyId"], aws_secret_access_key=access["SecretAccessKey"]
    )
    old, new = AwsKms(old_id, client), AwsKms(new_id, client, kek_id=2)
    contexts = [b"users/%d/email" % i for i in range(4)]
    with aws.moto.iam_enforced():
        messages = sealbox.Box(sealbox.EnvelopeKeyProvider(old)).encrypt_batch([b"v"] * 4, contexts)
        calls = _count_kms_calls(client)
        rotated = sealbox.Box(sealbox.EnvelopeKeyProvider(new, previous=[old])).rotate_batch(
            messages, contexts
        )
        # One refused ReEncrypt, then each key unwrapped with the old key and wrapped with the new.
        assert calls == {"ReEncrypt": 1, "Decrypt": 4, "Encrypt": 4}
        assert sealbox.Box(sealbox.EnvelopeKeyProvider(new)).decrypt_batch(rotated, contexts) == [b"v"] * 4


def test_aws_rotate_batch_between_kms_keys_stays_inside_kms(aws: AwsKit) -> None:
    import sealbox
    import sealbox.audit

    old, new = aws.new(), aws.new(kek_id=2)
    values = [b"v%d" % i for i in range(20)]
    contexts = [b"users/%d/email" % i for i in range(20)]
    messages = sealbox.Box(sealbox.EnvelopeKeyProvider(old)).encrypt_batch(values, contexts)
    moving = sealbox.Box(sealbox.EnvelopeKeyProvider(new, previous=[old]))
    calls = _count_kms_calls(aws.kms)
    events: list[Any] = []
    sealbox.audit.subscribe(events.append)
    try:
        rotated = moving.rotate_batch(messages, contexts)
    finally:
        sealbox.audit.unsubscribe(events.append)
    # One ReEncrypt per data key: no Decrypt, so no data key left KMS.
    assert calls == {"ReEncrypt": 20}
    assert [(e.operation, e.provider, e.key_id, e.count, e.outcome) for e in events] == [
        ("rewrap", "aws-kms", old.kek_id, 20, "ok")
    ]
    assert {sealbox.Message.parse(m).key_id for m in rotated} == {2}
    only_new = sealbox.Box(sealbox.EnvelopeKeyProvider(new))
    assert only_new.decrypt_batch(rotated, contexts) == values
    # A message moved to another row fails alone; the others are moved.
    wrong = list(contexts)
    wrong[3] = b"users/999/email"
    out = moving.rotate_batch(messages, wrong, errors="return")
    assert out[3] is None
    assert only_new.decrypt_batch(out[:3] + out[4:], contexts[:3] + contexts[4:]) == values[:3] + values[4:]
    with pytest.raises(DecryptionError, match="item 3"):
        moving.rotate_batch(messages, wrong)


def test_aws_rotate_batch_between_kms_keys_async(aws: AwsKit) -> None:
    import sealbox

    old, new = aws.new(), aws.new(kek_id=2)
    values = [b"v%d" % i for i in range(5)]
    contexts = [b"users/%d/email" % i for i in range(5)]
    messages = sealbox.Box(sealbox.EnvelopeKeyProvider(old)).encrypt_batch(values, contexts)
    calls = _count_kms_calls(aws.kms)
    moving = sealbox.Box(
        sealbox.EnvelopeKeyProvider(
            AsyncAwsKms(new.key_id, aws.kms, kek_id=2), previous=[AsyncAwsKms(old.key_id, aws.kms)]
        )
    )
    rotated = asyncio.run(moving.rotate_batch_async(messages, contexts))
    assert calls == {"ReEncrypt": 5}
    assert sealbox.Box(sealbox.EnvelopeKeyProvider(new)).decrypt_batch(rotated, contexts) == values
    # A blocking new KEK with an async previous one moves the keys inside KMS too.
    mixed = sealbox.Box(sealbox.EnvelopeKeyProvider(new, previous=[AsyncAwsKms(old.key_id, aws.kms)]))
    calls.clear()
    again = asyncio.run(mixed.rotate_batch_async(messages, contexts))
    assert calls == {"ReEncrypt": 5}
    assert sealbox.Box(sealbox.EnvelopeKeyProvider(new)).decrypt_batch(again, contexts) == values


def test_aws_access_denied(aws: AwsKit) -> None:
    key_id = aws.create_key()
    iam = aws.moto.client("iam")
    user = f"nobody-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    access = iam.create_access_key(UserName=user)["AccessKey"]
    no_policy = AwsKms(
        key_id,
        aws.moto.client(
            aws_access_key_id=access["AccessKeyId"], aws_secret_access_key=access["SecretAccessKey"]
        ),
    )
    wrong_secret = AwsKms(
        key_id,
        aws.moto.client(aws_access_key_id=access["AccessKeyId"], aws_secret_access_key="not-the-secret"),
    )
    unknown = AwsKms(key_id, aws.moto.client(aws_access_key_id="AKIAUNKNOWN0000000000"))
    with aws.moto.iam_enforced():
        for provider in (no_policy, wrong_secret, unknown):
            with pytest.raises(AccessDeniedError) as info:
                provider.generate_data_key(CTX)
            assert "not-the-secret" not in str(info.value)
            assert not isinstance(info.value, DecryptionError)


def test_aws_disabled_key(aws: AwsKit) -> None:
    provider = aws.new()
    aws.kms.disable_key(KeyId=provider.key_id)
    try:
        provider.generate_data_key(CTX)
    except KeyDisabledError:
        return  # AWS: DisabledException
    pytest.xfail("moto 5 does not enforce DisableKey; AWS answers DisabledException (docs/providers.md)")


def test_aws_missing_key_is_key_disabled(aws: AwsKit) -> None:
    provider = AwsKms(str(uuid.uuid4()), aws.kms)
    with pytest.raises(KeyDisabledError):
        provider.generate_data_key(CTX)
    with pytest.raises(KeyDisabledError):
        AwsKms("alias/no-such-alias", aws.kms, kek_id=1).wrap(os.urandom(32), CTX)


@pytest.mark.parametrize(
    ("code", "status", "unwrapping", "expected"),
    [
        ("InvalidCiphertextException", 400, True, DecryptionError),
        ("IncorrectKeyException", 400, True, DecryptionError),
        ("InvalidCiphertextException", 400, False, ProviderError),
        ("AccessDeniedException", 400, True, AccessDeniedError),
        ("UnrecognizedClientException", 400, False, AccessDeniedError),
        ("ExpiredTokenException", 400, False, AccessDeniedError),
        ("403", 403, False, AccessDeniedError),
        ("DisabledException", 400, False, KeyDisabledError),
        ("KMSInvalidStateException", 400, True, KeyDisabledError),
        ("NotFoundException", 400, False, KeyDisabledError),
        ("ThrottlingException", 400, False, ProviderUnavailableError),
        ("KMSInternalException", 500, False, ProviderUnavailableError),
        ("KeyUnavailableException", 500, True, ProviderUnavailableError),
        ("SomethingNew", 503, False, ProviderUnavailableError),
        ("ValidationException", 400, False, ProviderError),
    ],
)
def test_aws_error_codes(code: str, status: int, unwrapping: bool, expected: type[Exception]) -> None:
    # The codes moto cannot produce (DisabledException, throttling, 5xx) are mapped here by table.
    assert classify_client_error(code, status, unwrapping=unwrapping) is expected


def test_aws_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    url = f"http://127.0.0.1:{services.free_port()}"
    provider = AwsKms(
        "alias/x",
        kek_id=1,
        region_name="us-east-1",
        endpoint_url=url,
        max_attempts=2,
        connect_timeout=0.5,
        read_timeout=0.5,
    )
    started = time.monotonic()
    with pytest.raises(ProviderUnavailableError) as info:
        provider.generate_data_key(CTX)
    assert time.monotonic() - started < 10
    assert not isinstance(info.value, DecryptionError)
    provider.close()


def test_aws_client_settings_conflict(aws: AwsKit) -> None:
    with pytest.raises(TypeError, match="configure that client"):
        AwsKms("alias/x", aws.kms, max_attempts=3)


def test_aws_async(aws: AwsKit) -> None:
    key_id = aws.create_key()

    async def run() -> None:
        async with AsyncAwsKms(key_id, aws.kms, kek_id=3) as kek:
            assert isinstance(kek, AsyncKeyProvider) and kek.kek_id == 3
            plaintext, wrapped = await kek.generate_data_key(CTX)
            assert await kek.unwrap(wrapped, CTX) == plaintext
            with pytest.raises(DecryptionError):
                await kek.unwrap(wrapped, OTHER_CONTEXTS[0])

    asyncio.run(run())


# -- Vault transit (OpenBao)


def test_vault_rotation_and_rewrap(vault: VaultKit) -> None:
    provider = vault.new(version_ttl=0.0)
    transit = vault.client.secrets.transit
    contexts = [{**CTX, "row": str(i)} for i in range(3)]
    old = [provider.generate_data_key(c) for c in contexts]
    assert all(w.startswith(b"vault:v1:") for _, w in old)
    assert not any(provider.needs_rewrap(w) for _, w in old)

    transit.rotate_key(provider.key_name)
    assert provider.latest_version == 2
    for (plaintext, wrapped), context in zip(old, contexts, strict=True):
        assert provider.unwrap(wrapped, context) == plaintext  # old versions still open
        assert provider.needs_rewrap(wrapped)

    new = provider.rewrap([w for _, w in old], contexts)
    assert all(w.startswith(b"vault:v2:") for w in new)
    assert not any(provider.needs_rewrap(w) for w in new)
    for (plaintext, _), wrapped, context in zip(old, new, contexts, strict=True):
        assert provider.unwrap(wrapped, context) == plaintext


def test_vault_needs_rewrap_sees_rotation_after_ttl(vault: VaultKit) -> None:
    provider = vault.new(version_ttl=3600.0)
    _, wrapped = provider.generate_data_key(CTX)
    vault.client.secrets.transit.rotate_key(provider.key_name)
    assert not provider.needs_rewrap(wrapped)  # cached version 1
    provider.generate_data_key(CTX)  # an answer naming v2 refreshes the cache
    assert provider.needs_rewrap(wrapped)


def test_vault_rewrap_in_chunks_below_the_listener_limit(vault: VaultKit) -> None:
    # The default listener refuses JSON of more than 1,000 strings (about 250 items).
    provider = vault.new(batch_size=200)
    contexts = [{"row": str(i)} for i in range(450)]
    data_keys = [os.urandom(32) for _ in contexts]
    wrapped = [provider.wrap(k, c) for k, c in zip(data_keys, contexts, strict=True)]
    vault.client.secrets.transit.rotate_key(provider.key_name)
    new = provider.rewrap(wrapped, contexts)
    assert len(new) == 450 and all(w.startswith(b"vault:v2:") for w in new)
    assert provider.unwrap(new[449], contexts[449]) == data_keys[449]
    too_big = VaultTransit(provider.key_name, vault.client, batch_size=1000)
    with pytest.raises(ProviderError, match="batch_size"):
        too_big.rewrap(wrapped, contexts)


def test_vault_min_decryption_version_is_key_disabled(vault: VaultKit) -> None:
    provider = vault.new()
    plaintext, old = provider.generate_data_key(CTX)
    transit = vault.client.secrets.transit
    transit.rotate_key(provider.key_name)
    transit.update_key_configuration(provider.key_name, min_decryption_version=2)
    with pytest.raises(KeyDisabledError):
        provider.unwrap(old, CTX)
    with pytest.raises(KeyDisabledError):
        provider.rewrap([old], [CTX])
    transit.update_key_configuration(provider.key_name, min_decryption_version=1)
    assert provider.unwrap(old, CTX) == plaintext


def test_vault_batch_item_under_a_refused_version_fails_alone(vault: VaultKit) -> None:
    """A row edited from vault:v3: to vault:v1: under min_decryption_version 3 fails
    alone (DecryptionError; the KeyVersionDisabledError in the audit trail): its version comes
    from the row. A refusal that is not about one row (the key deleted) stops the batch."""
    import sealbox

    provider = vault.new(version_ttl=0.0)
    transit = vault.client.secrets.transit
    transit.rotate_key(provider.key_name)
    transit.rotate_key(provider.key_name)
    box = sealbox.Box(sealbox.EnvelopeKeyProvider(provider))
    values = [b"v%d" % i for i in range(5)]
    contexts = [b"row/%d" % i for i in range(5)]
    messages = box.encrypt_batch(values, contexts)
    assert all(b"vault:v3:" in m for m in messages)
    edited = list(messages)
    edited[2] = messages[2].replace(b"vault:v3:", b"vault:v1:")
    transit.update_key_configuration(provider.key_name, min_decryption_version=3)
    rest, rest_contexts = values[:2] + values[3:], contexts[:2] + contexts[3:]
    assert box.decrypt_batch(edited, contexts, errors="return") == [*values[:2], None, *values[3:]]
    with pytest.raises(DecryptionError, match=r"^item 2 failed to decrypt$"):
        box.decrypt_batch(edited, contexts)
    events: list[sealbox.audit.AuditEvent] = []
    sealbox.audit.subscribe(events.append)
    try:
        with pytest.raises(DecryptionError) as info:
            box.decrypt(edited[2], context=contexts[2])
    finally:
        sealbox.audit.unsubscribe(events.append)
    # One opaque error; the refused key version is in the audit trail only.
    assert str(info.value) == "decryption failed" and info.value.__context__ is None
    assert "KeyVersionDisabledError" in (events[-1].detail or "")
    transit.rotate_key(provider.key_name)  # v4: every row needs a re-wrap (one batched rewrap)
    for mode in ("auto", "reencrypt"):
        out = box.rotate_batch(edited, contexts, mode, errors="return")  # type: ignore[arg-type]
        assert out[2] is None
        assert all(b"vault:v4:" in m for m in out[:2] + out[3:])  # type: ignore[operator]
        assert box.decrypt_batch(out[:2] + out[3:], rest_contexts) == rest  # type: ignore[arg-type]
        with pytest.raises(DecryptionError, match=r"^item 2 failed to decrypt$"):
            box.rotate_batch(edited, contexts, mode)  # type: ignore[arg-type]
    transit.update_key_configuration(provider.key_name, deletion_allowed=True)
    transit.delete_key(provider.key_name)
    with pytest.raises(KeyDisabledError) as stopped:
        box.decrypt_batch(messages, contexts, errors="return")
    assert not isinstance(stopped.value, KeyVersionDisabledError)


def test_vault_rotate_batch_with_a_malformed_wrapped_key_fails_alone(vault: VaultKit) -> None:
    """A wrapped key not of transit's shape: needs_rewrap cannot read its version, and
    rotate_batch fails that row and goes on with the others."""
    import sealbox

    provider = vault.new(version_ttl=0.0)
    box = sealbox.Box(sealbox.EnvelopeKeyProvider(provider))
    values = [b"v%d" % i for i in range(4)]
    contexts = [b"row/%d" % i for i in range(4)]
    messages = box.encrypt_batch(values, contexts)
    edited = list(messages)
    edited[1] = messages[1].replace(b"vault:v1:", b"vault:v1;")
    # And one of transit's shape that transit refuses in its batched rewrap (too short).
    edited[3] = _with_wrapped(messages[3], b"vault:v1:" + base64.b64encode(b"short"))
    assert box.decrypt_batch(edited, contexts, errors="return") == [values[0], None, values[2], None]
    assert box.rotate_batch(edited, contexts, errors="return") == [messages[0], None, messages[2], edited[3]]
    vault.client.secrets.transit.rotate_key(provider.key_name)
    out = box.rotate_batch(edited, contexts, errors="return")
    assert out[1] is None and out[3] is None
    assert b"vault:v2:" in out[0] and b"vault:v2:" in out[2]  # type: ignore[operator]
    with pytest.raises(DecryptionError, match=r"^item 1 failed to decrypt$"):
        box.rotate_batch(edited, contexts)


def test_vault_deleted_key_is_key_disabled(vault: VaultKit) -> None:
    provider = vault.new()
    _, wrapped = provider.generate_data_key(CTX)
    transit = vault.client.secrets.transit
    transit.update_key_configuration(provider.key_name, deletion_allowed=True)
    transit.delete_key(provider.key_name)
    with pytest.raises(KeyDisabledError):
        provider.unwrap(wrapped, CTX)


def test_vault_refuses_a_key_without_derivation(vault: VaultKit) -> None:
    name = vault.create_key(derived=False)
    provider = VaultTransit(name, vault.client)
    with pytest.raises(ProviderError, match="derived=true"):
        provider.generate_data_key(CTX)


def test_vault_context_reaches_transit(vault: VaultKit) -> None:
    # The context is transit's derivation context: b"sealbox\0" + encode_context, base64.
    provider = vault.new()
    plaintext, wrapped = provider.generate_data_key(CTX)
    context = base64.b64encode(CONTEXT_LABEL + encode_context(CTX)).decode()
    answer = vault.client.secrets.transit.decrypt_data(provider.key_name, wrapped.decode(), context=context)
    assert base64.b64decode(answer["data"]["plaintext"]) == plaintext


POLICY = """
path "transit/datakey/plaintext/{key}" {{ capabilities = ["update"] }}
path "transit/encrypt/{key}"           {{ capabilities = ["update"] }}
path "transit/decrypt/{key}"           {{ capabilities = ["update"] }}
path "transit/rewrap/{key}"            {{ capabilities = ["update"] }}
path "transit/keys/{key}"              {{ capabilities = ["read"] }}
"""


def test_vault_documented_policy_is_enough(vault: VaultKit) -> None:
    name = vault.create_key()
    vault.client.sys.create_or_update_policy(name=f"sealbox-{name}", policy=POLICY.format(key=name))
    token = vault.client.auth.token.create(policies=[f"sealbox-{name}"], ttl="10m")["auth"]["client_token"]
    provider = VaultTransit(name, vault.bao.client(token))
    plaintext, wrapped = provider.generate_data_key(CTX)
    assert provider.unwrap(provider.wrap(plaintext, CTX), CTX) == plaintext
    vault.client.secrets.transit.rotate_key(name)
    [new] = provider.rewrap([wrapped], [CTX])
    assert provider.unwrap(new, CTX) == plaintext


def test_vault_access_denied(vault: VaultKit) -> None:
    name = vault.create_key()
    _, wrapped = VaultTransit(name, vault.client).generate_data_key(CTX)
    token = vault.client.auth.token.create(policies=["default"], ttl="10m")["auth"]["client_token"]
    read_only = f"read-{name}"
    vault.client.sys.create_or_update_policy(
        name=read_only, policy=f'path "transit/keys/{name}" {{ capabilities = ["read"] }}'
    )
    reader = vault.client.auth.token.create(policies=[read_only], ttl="10m")["auth"]["client_token"]
    for client in (vault.bao.client(token), vault.bao.client("not-a-token"), vault.bao.client(reader)):
        provider = VaultTransit(name, client)
        with pytest.raises(AccessDeniedError) as info:
            provider.generate_data_key(CTX)
        assert token not in str(info.value)
        with pytest.raises(AccessDeniedError):
            provider.unwrap(wrapped, CTX)
        assert token not in repr(provider)


def test_vault_unreachable_retries_then_gives_up() -> None:
    import hvac

    client = hvac.Client(url=f"http://127.0.0.1:{services.free_port()}", token="t", timeout=1)
    provider = VaultTransit("k", client, max_attempts=3, backoff=0.05, max_backoff=0.1)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailableError, match="after 3 attempts"):
        provider.generate_data_key(CTX)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("message", "unwrapping", "expected"),
    [
        ("cipher: message authentication failed", True, DecryptionError),
        ("invalid ciphertext: no prefix", True, DecryptionError),
        ("invalid ciphertext: version is too new", True, DecryptionError),
        ("ciphertext or signature version is disallowed by policy (too old)", True, KeyVersionDisabledError),
        ("ciphertext or signature version is disallowed by policy (too old)", False, KeyDisabledError),
        ("encryption key not found", False, KeyDisabledError),
        ("refused JSON input due to high complexity", True, ProviderError),
        ("cipher: message authentication failed", False, ProviderError),
    ],
)
def test_vault_error_messages(message: str, unwrapping: bool, expected: type[Exception]) -> None:
    assert classify_vault_message(message, unwrapping=unwrapping) is expected


def test_vault_async(vault: VaultKit) -> None:
    name = vault.create_key()

    async def run() -> None:
        async with AsyncVaultTransit(name, vault.client, version_ttl=0.0) as kek:
            plaintext, wrapped = await kek.generate_data_key(CTX)
            vault.client.secrets.transit.rotate_key(name)
            assert kek.needs_rewrap(wrapped)
            [new] = await kek.rewrap([wrapped], [CTX])
            assert not kek.needs_rewrap(new)
            assert await kek.unwrap(new, CTX) == plaintext

    asyncio.run(run())


# -- PKCS#11 (SoftHSM2)


def test_pkcs11_kek_is_not_extractable(hsm: Pkcs11Kit) -> None:
    import pkcs11
    from pkcs11 import Attribute, KeyType, ObjectClass

    label = hsm.create_key()
    token = pkcs11.lib(hsm.hsm.module).get_token(token_label=hsm.token)
    with Pkcs11(hsm.hsm.module, hsm.token, hsm.hsm.pin, label) as provider:
        # The provider's session holds the login, which the process shares.
        with token.open() as session:
            key = session.get_key(object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, label=label)
            assert key.key_length == 256
            assert key[Attribute.SENSITIVE] and key[Attribute.NEVER_EXTRACTABLE]
            assert not key[Attribute.EXTRACTABLE]
            with pytest.raises(pkcs11.exceptions.AttributeSensitive):
                key[Attribute.VALUE]
        plaintext, _ = provider.generate_data_key(CTX)
        assert len(plaintext) == 32


def test_pkcs11_refuses_an_extractable_key(hsm: Pkcs11Kit) -> None:
    import pkcs11
    from pkcs11 import Attribute, KeyType

    label = f"loose-{uuid.uuid4().hex[:8]}"
    token = pkcs11.lib(hsm.hsm.module).get_token(token_label=hsm.token)
    keeper = Pkcs11(hsm.hsm.module, hsm.token, hsm.hsm.pin, hsm.create_key())  # holds the login
    try:
        with token.open(rw=True) as session:
            session.generate_key(
                KeyType.AES, 256, label=label, store=True, template={Attribute.EXTRACTABLE: True}
            )
        with pytest.raises(ProviderError, match="can be read out"):
            Pkcs11(hsm.hsm.module, hsm.token, hsm.hsm.pin, label)
    finally:
        keeper.close()


def test_pkcs11_create_kek_twice(hsm: Pkcs11Kit) -> None:
    label = hsm.create_key()
    with pytest.raises(ValueError, match="already holds"):
        Pkcs11.create_kek(hsm.hsm.module, hsm.token, hsm.hsm.pin, label)


def test_pkcs11_wrapped_layout(hsm: Pkcs11Kit) -> None:
    """iv (12) || AES-256-GCM ciphertext (32) || tag (16), the context as associated data."""
    import pkcs11
    from pkcs11 import KeyType, Mechanism, ObjectClass
    from pkcs11.mechanisms import GCMParams

    provider = hsm.new()
    plaintext, wrapped = provider.generate_data_key(CTX)
    assert len(wrapped) == 60
    label = provider._key_label
    token = pkcs11.lib(hsm.hsm.module).get_token(token_label=hsm.token)
    with token.open() as session:
        key = session.get_key(object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, label=label)
        params = GCMParams(wrapped[:12], encode_context(CTX), 128)
        assert key.decrypt(wrapped[12:], mechanism=Mechanism.AES_GCM, mechanism_param=params) == plaintext


def test_pkcs11_general_error_is_the_tokens_unless_a_probe_opens() -> None:
    """CKR_GENERAL_ERROR is a wrong tag on SoftHSM, and a fault on any token: a token that
    no longer seals and opens a probe is a ProviderError, not a bad wrapped key."""
    pkcs11 = pytest.importorskip("pkcs11")
    from sealbox.providers import _pkcs11 as impl

    class Key:
        def __init__(self, broken: bool) -> None:
            self.broken = broken

        def encrypt(self, data: bytes, **_: Any) -> bytes:
            if self.broken:
                raise pkcs11.exceptions.GeneralError()
            return data + bytes(16)

        def decrypt(self, data: bytes, **kw: Any) -> bytes:
            if self.broken or kw["mechanism_param"].aad != b"sealbox:pkcs11-probe":
                raise pkcs11.exceptions.GeneralError()
            return data[:-16]

    blob = bytes(60)
    with pytest.raises(ProviderError) as info:
        impl._unseal(Key(broken=True), blob, b"aad")  # type: ignore[arg-type]
    assert not isinstance(info.value, DecryptionError)
    assert isinstance(info.value.__cause__, pkcs11.exceptions.GeneralError)
    with pytest.raises(DecryptionError):
        impl._unseal(Key(broken=False), blob, b"aad")  # type: ignore[arg-type]


def test_pkcs11_wrong_pin(hsm: Pkcs11Kit) -> None:
    # A token of its own: once any session is logged in, PKCS#11 checks no further PINs.
    token = hsm.pin_token
    with pytest.raises(AccessDeniedError) as info:
        Pkcs11.create_kek(hsm.hsm.module, token, "wrong-pin-123", "kek")
    assert "wrong-pin-123" not in str(info.value)
    Pkcs11.create_kek(hsm.hsm.module, token, hsm.hsm.pin, "kek")
    with pytest.raises(AccessDeniedError) as info:
        Pkcs11(hsm.hsm.module, token, "wrong-pin-123", "kek")
    assert "wrong-pin-123" not in str(info.value)
    with Pkcs11(hsm.hsm.module, token, hsm.hsm.pin, "kek") as provider:
        plaintext, wrapped = provider.generate_data_key(CTX)
        assert provider.unwrap(wrapped, CTX) == plaintext


def test_pkcs11_missing_key_token_and_module(hsm: Pkcs11Kit) -> None:
    with pytest.raises(KeyDisabledError):
        Pkcs11(hsm.hsm.module, hsm.token, hsm.hsm.pin, "no-such-key")
    with pytest.raises(ProviderUnavailableError):
        Pkcs11(hsm.hsm.module, "no-such-token", hsm.hsm.pin, "kek")
    with pytest.raises(ProviderUnavailableError):
        Pkcs11("/nonexistent/libpkcs11.so", hsm.token, hsm.hsm.pin, "kek")


def test_pkcs11_survives_a_logout_by_another_session(hsm: Pkcs11Kit) -> None:
    first, second = hsm.new(), hsm.new()  # the second opens without a login of its own
    plaintext, wrapped = second.generate_data_key(CTX)
    first.close()  # python-pkcs11 logs the process out of the token here
    assert second.unwrap(wrapped, CTX) == plaintext  # the session is reopened once
    with pytest.raises(ProviderError, match="closed"):
        first.generate_data_key(CTX)


def test_pkcs11_is_thread_safe(hsm: Pkcs11Kit) -> None:
    provider = hsm.new()

    def round_trip(i: int) -> bool:
        context = {**CTX, "i": str(i)}
        plaintext, wrapped = provider.generate_data_key(context)
        return provider.unwrap(wrapped, context) == plaintext

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(round_trip, range(400)))


def test_pkcs11_async(hsm: Pkcs11Kit) -> None:
    label = hsm.create_key()

    async def run() -> None:
        async with AsyncPkcs11(hsm.hsm.module, hsm.token, hsm.hsm.pin, label, kek_id=9) as kek:
            pairs = await asyncio.gather(*(kek.generate_data_key(CTX) for _ in range(20)))
            opened = await asyncio.gather(*(kek.unwrap(w, CTX) for _, w in pairs))
            assert opened == [p for p, _ in pairs]

    asyncio.run(run())


# -- what leaks and what is imported


def test_reprs_and_messages_hold_no_secrets(
    aws: AwsKit, vault: VaultKit, hsm: Pkcs11Kit, moto: services.Moto
) -> None:
    secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYSECRET"
    kms = moto.client(aws_secret_access_key=secret)
    token = vault.bao.root_token
    providers: list[Any] = [
        AwsKms(aws.create_key(), kms),
        VaultTransit(vault.create_key(), vault.client),
        hsm.new(),
    ]
    providers += [AsyncProvider(p) for p in providers]
    for provider in providers:
        text = repr(provider)
        for needle in (secret, token, hsm.hsm.pin):
            assert needle not in text, text
    assert repr(providers[0]).startswith("AwsKms(key_id=")
    assert "url='http://127.0.0.1" in repr(providers[1])
    assert repr(providers[5]).startswith("AsyncProvider(Pkcs11(module=")

    for provider in providers[:3]:
        plaintext, wrapped = provider.generate_data_key(CTX)
        with pytest.raises(SealboxError) as info:
            provider.unwrap(wrapped, {})
        message = str(info.value)
        for needle in (plaintext.hex(), base64.b64encode(plaintext).decode(), secret, token, hsm.hsm.pin):
            assert needle not in message


def test_import_sealbox_does_not_import_the_sdks() -> None:
    code = (
        "import sys, sealbox, sealbox.providers\n"
        "loaded = {'boto3', 'botocore', 'hvac', 'pkcs11'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)


def test_error_classes_are_provider_errors() -> None:
    for cls in (ProviderUnavailableError, AccessDeniedError, KeyDisabledError):
        assert issubclass(cls, ProviderError) and not issubclass(cls, DecryptionError)


def test_vault_blobs_are_sent_only_in_their_canonical_form() -> None:
    """Vault's base64 decoder ignores the unused bits of the last character, so "QR==" and
    "QQ==" are one ciphertext to it: only the form transit writes is sent, so that no changed
    byte of a message still opens."""
    from sealbox.providers._vault_transit import _ciphertext

    assert _ciphertext(b"vault:v1:QQ==") == "vault:v1:QQ=="
    for other in (b"vault:v1:QR==", b"vault:v1:QQ", b"vault:v01:QQ==", b"vault:v1:Q Q=="):
        with pytest.raises(DecryptionError):
            _ciphertext(other)


# -- built on a worker from a BoxSpec's configuration


def _spec_and_direct(kit: Kit, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], str, KeyProvider]:
    """A spec's configuration of a fresh key of ``kit``'s kind, the secret it names (set in the
    environment here), and a provider over the same key made directly."""
    key = kit.create_key()  # type: ignore[attr-defined]
    if isinstance(kit, AwsKit):
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        config = {
            "provider": "aws-kms",
            "key_id": key,
            "region_name": kit.moto.region,
            "endpoint_url": kit.moto.url,
        }
        secret, direct = "testing", AwsKms(key, kit.kms, kek_id=11)  # the credentials stay on the worker
    elif isinstance(kit, VaultKit):
        monkeypatch.setenv("SPEC_TEST_VAULT_TOKEN", kit.bao.root_token)
        config = {
            "provider": "vault-transit",
            "key_name": key,
            "url": kit.bao.url,
            "token_env": "SPEC_TEST_VAULT_TOKEN",
        }
        secret, direct = kit.bao.root_token, VaultTransit(key, kit.client, kek_id=11)
    else:
        assert isinstance(kit, Pkcs11Kit)
        monkeypatch.setenv("SPEC_TEST_HSM_PIN", kit.hsm.pin)
        config = {
            "provider": "pkcs11",
            "module": kit.hsm.module,
            "token_label": kit.token,
            "key_label": key,
            "pin_env": "SPEC_TEST_HSM_PIN",
        }
        secret, direct = kit.hsm.pin, Pkcs11(kit.hsm.module, kit.token, kit.hsm.pin, key, kek_id=11)
    kit.opened.append(direct)
    return {**config, "kek_id": 11}, secret, direct


def test_a_spec_builds_each_provider_from_its_configuration(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sealbox

    config, secret, direct = _spec_and_direct(kit, monkeypatch)
    spec = sealbox.BoxSpec(kek=config, cache={"max_messages": 10})
    shipped = pickle.dumps(spec)
    assert secret.encode() not in shipped
    box = pickle.loads(shipped).build()
    assert box.algorithm == "envelope"
    contexts = [b"users/%d/email" % i for i in range(25)]
    values = [b"person%d@example.org" % i for i in range(25)]
    messages = box.encrypt_batch(values, contexts)
    # What the spec's Box wrote, a Box over the same key made here opens, and the other way.
    plain = sealbox.Box(sealbox.EnvelopeKeyProvider(direct))
    assert plain.decrypt_batch(messages, contexts) == values
    assert box.decrypt(plain.encrypt(b"back", context=b"c"), context=b"c") == b"back"
    with pytest.raises(DecryptionError):
        box.decrypt(messages[0], context=contexts[1])
