"""Envelope encryption: local KEKs, provider protocol, cache bounds, re-wrap, audit, derivation."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
from collections.abc import Mapping, Sequence

import pytest
import sealbox
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sealbox import DataKeyCache, DecryptionError, EnvelopeKeyProvider, Keyring, Message
from sealbox._provider import encode_context


class CountingKek:
    """A complete in-process KeyProvider (AES-GCM over the canonical context) that counts its calls."""

    name = "counting"

    def __init__(self, kek_id: int = 9, version: int = 1) -> None:
        self.kek_id = kek_id
        self.keys = {1: AESGCM.generate_key(256)}
        self.version = version
        self.calls: dict[str, int] = {"generate": 0, "wrap": 0, "unwrap": 0, "rewrap": 0}
        self.contexts: list[Mapping[str, str]] = []

    def rotate(self) -> None:
        self.version += 1
        self.keys[self.version] = AESGCM.generate_key(256)

    def _wrap(self, data_key: bytes, context: Mapping[str, str]) -> bytes:
        nonce = os.urandom(12)
        ct = AESGCM(self.keys[self.version]).encrypt(nonce, data_key, encode_context(context))
        return bytes([self.version]) + nonce + ct

    def generate_data_key(self, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        self.calls["generate"] += 1
        self.contexts.append(dict(context))
        dk = os.urandom(32)
        return dk, self._wrap(dk, context)

    def wrap(self, data_key: bytes, context: Mapping[str, str]) -> bytes:
        self.calls["wrap"] += 1
        return self._wrap(data_key, context)

    def unwrap(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        self.calls["unwrap"] += 1
        self.contexts.append(dict(context))
        key = self.keys.get(wrapped[0])
        if key is None:
            raise DecryptionError("unknown version")
        try:
            return AESGCM(key).decrypt(wrapped[1:13], wrapped[13:], encode_context(context))
        except Exception as e:
            raise DecryptionError("does not unwrap") from e

    def rewrap(self, wrapped: Sequence[bytes], contexts: Sequence[Mapping[str, str]]) -> list[bytes]:
        self.calls["rewrap"] += 1
        return [self._wrap(CountingKek.unwrap(self, w, c), c) for w, c in zip(wrapped, contexts, strict=True)]

    def needs_rewrap(self, wrapped: bytes) -> bool:
        return wrapped[0] != self.version


class AsyncCountingKek(CountingKek):
    name = "async-counting"

    async def generate_data_key(self, context):  # type: ignore[override]
        await asyncio.sleep(0)
        return CountingKek.generate_data_key(self, context)

    async def wrap(self, data_key, context):  # type: ignore[override]
        return CountingKek.wrap(self, data_key, context)

    async def unwrap(self, wrapped, context):  # type: ignore[override]
        await asyncio.sleep(0)
        return CountingKek.unwrap(self, wrapped, context)

    async def rewrap(self, wrapped, contexts):  # type: ignore[override]
        return CountingKek.rewrap(self, wrapped, contexts)


@pytest.fixture
def ring() -> Keyring:
    return Keyring({1: sealbox.generate_key(), 2: sealbox.generate_key()}, active=1)


def flip_every_bit(message: bytes):
    for i in range(len(message) * 8):
        bad = bytearray(message)
        bad[i // 8] ^= 1 << (i % 8)
        yield bytes(bad)


# Local KEK


def test_local_round_trip_overhead_and_header(ring: Keyring) -> None:
    box = sealbox.Box(EnvelopeKeyProvider(ring))
    assert isinstance(box, sealbox.Box)
    m = box.encrypt(b"alice@example.org", context=b"users/1/email")
    assert len(m) - 17 <= 128
    info = Message.parse(m)
    assert (info.suite, info.key_id, info.context_bound, len(info.wrapped_key)) == ("envelope", 1, True, 60)
    assert box.decrypt(m, context=b"users/1/email") == b"alice@example.org"
    assert box.algorithm == "envelope" and box.active_key_id == 1
    text = sealbox.Box(EnvelopeKeyProvider(ring), encoding="text")
    t = text.encrypt(b"x", context="c")
    assert isinstance(t, str) and box.decrypt(t, context="c") == b"x"


def test_local_wrong_context_tamper_and_wrong_kek(ring: Keyring) -> None:
    box = sealbox.Box(EnvelopeKeyProvider(ring))
    m = box.encrypt(b"secret", context=b"users/1/ssn")
    with pytest.raises(DecryptionError):
        box.decrypt(m, context=b"users/2/ssn")
    for bad in flip_every_bit(m):
        with pytest.raises(DecryptionError):
            box.decrypt(bad, context=b"users/1/ssn")
    other = sealbox.Box(EnvelopeKeyProvider(Keyring({1: sealbox.generate_key()})))
    with pytest.raises(DecryptionError):
        other.decrypt(m, context=b"users/1/ssn")
    # A direct Box of another key never opens it; a plain Box never confuses the formats.
    with pytest.raises(DecryptionError):
        sealbox.Box(sealbox.generate_key()).decrypt(m, context=b"users/1/ssn")


def test_local_rotate_rewraps_without_touching_payload() -> None:
    k1, k2 = sealbox.generate_key(), sealbox.generate_key()
    old = sealbox.Box(EnvelopeKeyProvider(Keyring({1: k1, 2: k2}, active=1)))
    ctx = [b"r%d" % i for i in range(300)]
    msgs = old.encrypt_batch([b"v%d" % i for i in range(300)], ctx)
    new = sealbox.Box(EnvelopeKeyProvider(Keyring({1: k1, 2: k2}, active=2)))
    assert all(new.needs_rotation(m) for m in msgs)
    out = new.rotate_batch(msgs, ctx)
    for before, after in zip(msgs, out, strict=True):
        a, b = Message.parse(before), Message.parse(after)
        assert (a.key_id, b.key_id) == (1, 2)
        assert before[-58:] == after[-58:]  # salt, commitment, ciphertext, tag: untouched
        assert a.nonce == b.nonce and a.commitment == b.commitment
    only_new = sealbox.Box(EnvelopeKeyProvider(Keyring({2: k2})))
    assert only_new.decrypt_batch(out, ctx)[7] == b"v7"
    with pytest.raises(DecryptionError):
        sealbox.Box(EnvelopeKeyProvider(Keyring({1: k1}))).decrypt(out[7], context=ctx[7])
    assert not any(new.needs_rotation(m) for m in out)
    assert new.rotate_batch(out, ctx) == out  # already current: unchanged
    moved = list(ctx)
    moved[5] = b"moved"
    res = new.rotate_batch(msgs, moved, errors="return")
    assert res[5] is None and res[6] is not None
    with pytest.raises(DecryptionError, match="item 5"):
        new.rotate_batch(msgs, moved)
    pa = pytest.importorskip("pyarrow")
    arrow = new.rotate_batch(pa.array(msgs, type=pa.binary()), ctx).to_pylist()
    assert [a[-58:] for a in arrow] == [o[-58:] for o in out]
    assert only_new.decrypt_batch(arrow, ctx) == only_new.decrypt_batch(out, ctx)


def test_local_rotate_keeps_cached_data_keys_shared() -> None:
    """Messages sealed through a DataKeyCache share a data key; after re-wrapping
    they still do (one new wrap per key in a run), and a changed wrap fails alone."""
    k1, k2 = sealbox.generate_key(), sealbox.generate_key()
    cache = DataKeyCache(max_messages=100)
    old = sealbox.Box(EnvelopeKeyProvider(Keyring({1: k1}), cache=cache))
    n = 1000
    ctx = [b"r%d" % i for i in range(n)]
    values = [b"v%d" % i for i in range(n)]
    msgs = old.encrypt_batch(values, ctx)
    assert len({Message.parse(m).wrapped_key for m in msgs}) == 10
    bad = 250
    broken = list(msgs)
    head = bytearray(msgs[bad])
    head[9 + 20] ^= 1  # inside the wrapped key
    broken[bad] = bytes(head)
    new = sealbox.Box(EnvelopeKeyProvider(Keyring({1: k1, 2: k2}, active=2)))
    only_new = sealbox.Box(EnvelopeKeyProvider(Keyring({2: k2})))
    pa = pytest.importorskip("pyarrow")
    for data in (broken, pa.array(broken, type=pa.binary())):
        out = new.rotate_batch(data, ctx, errors="return")
        out = out.to_pylist() if isinstance(out, pa.Array) else out
        assert out[bad] is None
        kept = [m for m in out if m is not None]
        assert {Message.parse(m).key_id for m in kept} == {2}
        # The workers split the batch into at most 4 pieces (256 items or
        # more each), and a piece boundary inside a run starts a new wrap.
        assert 10 <= len({Message.parse(m).wrapped_key for m in kept}) <= 10 + 3
        rest = [i for i in range(n) if i != bad]
        assert only_new.decrypt_batch(kept, [ctx[i] for i in rest]) == [values[i] for i in rest]


def test_local_rotate_of_cached_data_keys_reencrypt_and_text() -> None:
    """The re-encrypting rotation (open, then seal under a fresh key) and text
    messages take the same shared-key path."""
    k1, k2 = sealbox.generate_key(), sealbox.generate_key()
    cache = DataKeyCache(max_messages=100)
    old = sealbox.Box(EnvelopeKeyProvider(Keyring({1: k1}), cache=cache), encoding="text")
    new = sealbox.Box(EnvelopeKeyProvider(Keyring({1: k1, 2: k2}, active=2)), encoding="text")
    only_new = sealbox.Box(EnvelopeKeyProvider(Keyring({2: k2})))
    ctx = [b"r%d" % i for i in range(500)]
    values = [b"v%d" % i for i in range(500)]
    msgs = old.encrypt_batch(values, ctx)
    assert all(isinstance(m, str) for m in msgs)
    rewrapped = new.rotate_batch(msgs, ctx)
    assert len({Message.parse(m).wrapped_key for m in rewrapped}) <= 5 + 3
    fresh = new.rotate_batch(msgs, ctx, mode="reencrypt")
    assert len({Message.parse(m).wrapped_key for m in fresh}) == 500  # a data key each
    for out in (rewrapped, fresh):
        assert only_new.decrypt_batch(out, ctx) == values
    moved = list(ctx)
    moved[7] = b"elsewhere"
    again = new.rotate_batch(msgs, moved, mode="reencrypt", errors="return")
    assert [i for i, m in enumerate(again) if m is None] == [7]


def test_local_rotate_never_moves_a_bound_message_to_another_row() -> None:
    """Two copies of a row-bound message side by side, the second under another
    row's context: the copy fails, as it would alone."""
    k1, k2 = sealbox.generate_key(), sealbox.generate_key()
    box = sealbox.Box(EnvelopeKeyProvider(Keyring({1: k1})))
    new = sealbox.Box(EnvelopeKeyProvider(Keyring({1: k1, 2: k2}, active=2)))
    m = box.encrypt(b"secret", context=b"row/a")
    assert Message.parse(m).context_bound
    out = new.rotate_batch([m, m], [b"row/a", b"row/b"], errors="return")
    assert out[0] is not None and out[1] is None
    assert new.decrypt_batch([m, m], [b"row/a", b"row/b"], errors="return") == [b"secret", None]


def test_local_decrypt_batch_of_cached_data_keys_matches_one_by_one() -> None:
    """A batch opens messages that share a data key as each would open alone."""
    key = sealbox.generate_key()
    box = sealbox.Box(EnvelopeKeyProvider(Keyring({1: key}), cache=DataKeyCache(max_messages=50)))
    n = 600
    ctx = [b"r%d" % i for i in range(n)]
    msgs = box.encrypt_batch([b"v%d" % i for i in range(n)], ctx)
    changed = list(msgs)
    for i, pos in ((101, 9 + 30), (102, -1), (303, 9 + 59)):  # wrapped key, tag, wrapped key's tag
        m = bytearray(msgs[i])
        m[pos] ^= 1
        changed[i] = bytes(m)
    moved = list(ctx)
    moved[104] = b"elsewhere"
    plain = sealbox.Box(EnvelopeKeyProvider(Keyring({1: key})))

    def alone(m: bytes, c: bytes) -> bytes | None:
        try:
            return plain.decrypt(m, context=c)
        except DecryptionError:
            return None

    want = [alone(m, c) for m, c in zip(changed, moved, strict=True)]
    assert [i for i, w in enumerate(want) if w is None] == [101, 102, 104, 303]
    assert plain.decrypt_batch(changed, moved, errors="return") == want
    pa = pytest.importorskip("pyarrow")
    arrow = plain.decrypt_batch(pa.array(changed, type=pa.binary()), moved, errors="return")
    assert arrow.to_pylist() == want


def test_local_rotate_in_text_encoding() -> None:
    """Re-wrapping text messages: the binary length is read from the header again."""
    k1, k2 = sealbox.generate_key(), sealbox.generate_key()
    old = sealbox.Box(EnvelopeKeyProvider(Keyring({1: k1}, active=1)), encoding="text")
    new = sealbox.Box(EnvelopeKeyProvider(Keyring({1: k1, 2: k2}, active=2)), encoding="text")
    values = [b"v" * (i % 70) for i in range(500)]
    ctx = [f"r{i}" for i in range(500)]
    msgs = old.encrypt_batch(values, ctx)
    out = new.rotate_batch(msgs, ctx)
    assert all(isinstance(m, str) and len(m) == len(o) for m, o in zip(out, msgs, strict=True))
    assert {Message.parse(m).key_id for m in out} == {2}
    only_new = sealbox.Box(EnvelopeKeyProvider(Keyring({2: k2})))
    assert only_new.decrypt_batch(out, ctx) == values
    pa = pytest.importorskip("pyarrow")
    arrow = new.rotate_batch(pa.array(msgs, type=pa.string()), ctx)
    assert arrow.type == pa.string()
    assert only_new.decrypt_batch(arrow.to_pylist(), ctx) == values


def test_migrate_direct_messages_into_envelopes(ring: Keyring) -> None:
    direct = sealbox.Box(ring)
    msgs = direct.encrypt_batch([b"a", b"b"], [b"1", b"2"])
    env = sealbox.Box(EnvelopeKeyProvider(ring))
    assert env.needs_rotation(msgs[0])
    assert env.decrypt(msgs[0], context=b"1") == b"a"
    out = env.rotate_batch(msgs, [b"1", b"2"])
    assert [Message.parse(m).suite for m in out] == ["envelope", "envelope"]
    assert env.decrypt_batch(out, [b"1", b"2"]) == [b"a", b"b"]


def test_batches_match_single_and_arrow(ring: Keyring) -> None:
    pa = pytest.importorskip("pyarrow")
    box = sealbox.Box(EnvelopeKeyProvider(ring))
    values = [os.urandom(i % 70) for i in range(1000)]
    ctx = [b"row/%d" % i for i in range(1000)]
    msgs = box.encrypt_batch(values, ctx)
    assert [box.decrypt(m, context=c) for m, c in zip(msgs, ctx, strict=True)] == values
    arr = pa.array(values, type=pa.binary())
    enc = box.encrypt_batch(arr, ctx)
    assert box.decrypt_batch(enc, ctx).to_pylist() == values


@pytest.mark.parametrize("kind", ["local", "provider"])
def test_none_in_a_list_is_misuse_and_an_arrow_null_stays_null(kind: str, ring: Keyring) -> None:
    """Every Box gives the same answer: a list holds messages only; Arrow nulls pass through."""
    pa = pytest.importorskip("pyarrow")
    kek = CountingKek()
    box = sealbox.Box(EnvelopeKeyProvider(ring if kind == "local" else kek))
    msgs = box.encrypt_batch([b"a", b"b", b"c"], [b"r0", b"r1", b"r2"])
    calls = dict(kek.calls)
    with pytest.raises(TypeError, match=r"^values\[1\] must be bytes, not NoneType$"):
        box.encrypt_batch([b"a", None])
    for op in (box.decrypt_batch, box.rotate_batch):
        with pytest.raises(TypeError, match=r"^messages\[2\] must be bytes or str, not NoneType$"):
            op([msgs[0], msgs[1], None], [b"r0", b"r1", b"r2"])
    assert kek.calls == calls  # refused before any provider call
    column = pa.array([msgs[0], None, msgs[2]], type=pa.binary())
    ctx = [b"r0", b"ignored", b"r2"]
    assert box.decrypt_batch(column, ctx).to_pylist() == [b"a", None, b"c"]
    rotated = box.rotate_batch(column, ctx, mode="reencrypt")
    assert rotated.is_null().to_pylist() == [False, True, False]
    assert box.decrypt_batch(rotated, ctx).to_pylist() == [b"a", None, b"c"]
    tampered = pa.array([None, msgs[1][:-1] + bytes([msgs[1][-1] ^ 1]), msgs[2]], type=pa.binary())
    with pytest.raises(DecryptionError, match=r"^item 1 failed to decrypt$"):
        box.decrypt_batch(tampered, [b"r0", b"r1", b"r2"])
    assert box.decrypt_batch(tampered, [b"r0", b"r1", b"r2"], errors="return").to_pylist() == [
        None,
        None,
        b"c",
    ]
    assert box.encrypt_batch(pa.array([None, None], type=pa.binary())).null_count == 2


# Provider protocol and cache


def test_provider_round_trip_context_reaches_provider() -> None:
    kek = CountingKek()
    box = sealbox.Box(EnvelopeKeyProvider(kek, encryption_context={"app": "billing"}))
    m = box.encrypt(b"card", context=b"payments/7/card")
    assert kek.contexts[-1] == {
        "sealbox:format": "v1",
        "app": "billing",
        "sealbox:context": "payments/7/card",
    }
    assert box.decrypt(m, context=b"payments/7/card") == b"card"
    with pytest.raises(DecryptionError):
        box.decrypt(m, context=b"payments/8/card")
    binary_ctx = box.encrypt(b"x", context=b"\xff\x00")
    assert "sealbox:context-b64" in kek.contexts[-1]
    assert box.decrypt(binary_ctx, context=b"\xff\x00") == b"x"
    # Another provider context: the provider refuses to unwrap.
    other = sealbox.Box(EnvelopeKeyProvider(kek, encryption_context={"app": "crm"}))
    with pytest.raises(DecryptionError):
        other.decrypt(m, context=b"payments/7/card")


def test_cache_bounds_count_provider_calls() -> None:
    kek = CountingKek()
    cache = DataKeyCache(max_messages=100, max_age=60)
    box = sealbox.Box(EnvelopeKeyProvider(kek, cache))
    msgs = [box.encrypt(b"v", context=b"r%d" % i) for i in range(1000)]
    assert kek.calls["generate"] == 10
    assert len({Message.parse(m).wrapped_key for m in msgs}) == 10
    assert not Message.parse(msgs[0]).context_bound
    batch = box.encrypt_batch([b"w"] * 1000, [b"b%d" % i for i in range(1000)])
    assert kek.calls["generate"] == 20
    fresh = sealbox.Box(EnvelopeKeyProvider(kek, DataKeyCache(max_messages=100, max_age=60)))
    assert fresh.decrypt_batch(batch, [b"b%d" % i for i in range(1000)]) == [b"w"] * 1000
    assert kek.calls["unwrap"] == 10
    for i, m in enumerate(msgs[:250]):
        assert fresh.decrypt(m, context=b"r%d" % i) == b"v"
    assert kek.calls["unwrap"] == 13
    # A message under a cached key still checks its own context.
    with pytest.raises(DecryptionError):
        fresh.decrypt(msgs[0], context=b"r1")


def test_cache_max_age(monkeypatch: pytest.MonkeyPatch) -> None:
    import sealbox._envelope as envelope

    now = [1000.0]
    monkeypatch.setattr(envelope.time, "monotonic", lambda: now[0])
    kek = CountingKek()
    box = sealbox.Box(EnvelopeKeyProvider(kek, DataKeyCache(max_messages=10**6, max_age=5)))
    box.encrypt(b"a")
    box.encrypt(b"b")
    assert kek.calls["generate"] == 1
    now[0] += 6
    box.encrypt(b"c")
    assert kek.calls["generate"] == 2
    with pytest.raises(ValueError):
        DataKeyCache(max_messages=0)
    with pytest.raises(ValueError):
        DataKeyCache(max_age=0)


def test_rotation_inside_provider_and_rewrap() -> None:
    kek = CountingKek()
    box = sealbox.Box(EnvelopeKeyProvider(kek, DataKeyCache(max_messages=50)))
    ctx = [b"r%d" % i for i in range(200)]
    msgs = box.encrypt_batch([b"v%d" % i for i in range(200)], ctx)
    kek.rotate()
    assert box.needs_rotation(msgs[0])
    assert box.decrypt(msgs[3], context=ctx[3]) == b"v3"  # old versions still open
    out = box.rotate_batch(msgs, ctx)
    assert kek.calls["rewrap"] == 1  # one batched call for the 4 distinct data keys
    assert not any(box.needs_rotation(m) for m in out)
    assert box.decrypt_batch(out, ctx)[199] == b"v199"
    for before, after in zip(msgs, out, strict=True):
        assert before[-58:] == after[-58:]


def test_migrate_local_kek_to_provider(ring: Keyring) -> None:
    local = sealbox.Box(EnvelopeKeyProvider(ring))
    msgs = local.encrypt_batch([b"a", b"b", b"c"], [b"1", b"2", b"3"])
    kek = CountingKek(kek_id=50)
    moved = sealbox.Box(EnvelopeKeyProvider(kek, previous=[ring]))
    assert moved.decrypt(msgs[0], context=b"1") == b"a"
    out = moved.rotate_batch(msgs, [b"1", b"2", b"3"])
    assert {Message.parse(m).key_id for m in out} == {50}
    assert kek.calls["wrap"] == 3
    only_kms = sealbox.Box(EnvelopeKeyProvider(kek))
    assert only_kms.decrypt_batch(out, [b"1", b"2", b"3"]) == [b"a", b"b", b"c"]
    assert moved.key_ids == [1, 2, 50]


def test_async_forms() -> None:
    kek = AsyncCountingKek()
    box = sealbox.Box(EnvelopeKeyProvider(kek, DataKeyCache(max_messages=10)))
    with pytest.raises(TypeError, match="asynchronous"):
        box.encrypt(b"x")

    async def main() -> None:
        m = await box.encrypt_async(b"hello", context=b"c")
        assert await box.decrypt_async(m, context=b"c") == b"hello"
        ms = await box.encrypt_batch_async([b"x"] * 25, [b"c%d" % i for i in range(25)])
        assert await box.decrypt_batch_async(ms, [b"c%d" % i for i in range(25)]) == [b"x"] * 25
        kek.rotate()
        out = await box.rotate_batch_async(ms, [b"c%d" % i for i in range(25)])
        assert not any(box.needs_rotation(o) for o in out)
        with pytest.raises(DecryptionError):
            await box.decrypt_async(m, context=b"other")

    asyncio.run(main())
    sync_kek = CountingKek()
    sync_box = sealbox.Box(EnvelopeKeyProvider(sync_kek))
    assert asyncio.run(sync_box.decrypt_async(asyncio.run(sync_box.encrypt_async(b"s")))) == b"s"


def test_provider_errors_propagate_and_bad_providers() -> None:
    class Down(CountingKek):
        def generate_data_key(self, context):  # type: ignore[no-untyped-def]
            raise sealbox.ProviderUnavailableError("kms unreachable")

    box = sealbox.Box(EnvelopeKeyProvider(Down()))
    with pytest.raises(sealbox.ProviderUnavailableError) as info:
        box.encrypt(b"x")
    assert not isinstance(info.value, DecryptionError)
    with pytest.raises(TypeError, match="KeyProvider"):
        EnvelopeKeyProvider(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reserved"):
        EnvelopeKeyProvider(CountingKek(), encryption_context={"sealbox:context": "x"})
    with pytest.raises(ValueError):
        sealbox.Box(EnvelopeKeyProvider(CountingKek()), deterministic=True)


def test_secrets_stay_out_of_repr_and_pickle(ring: Keyring) -> None:
    import pickle

    kek = CountingKek()
    cache = DataKeyCache()
    box = sealbox.Box(EnvelopeKeyProvider(kek, cache))
    box.encrypt(b"x")
    dk = cache._current[0]  # type: ignore[index]
    for obj in (box, cache, box.provider):
        assert dk.hex() not in repr(obj) and repr(dk) not in repr(obj)
        with pytest.raises(TypeError):
            pickle.dumps(obj)


# Audit


def test_audit_events_have_no_secrets(caplog: pytest.LogCaptureFixture) -> None:
    events: list[sealbox.audit.AuditEvent] = []
    sealbox.audit.subscribe(events.append)
    try:
        kek = CountingKek()
        box = sealbox.Box(EnvelopeKeyProvider(kek))
        m = box.encrypt(b"plaintext-value", context=b"users/1/email")
        with caplog.at_level(logging.INFO, logger="sealbox.audit"):
            assert box.decrypt(m, context=b"users/1/email") == b"plaintext-value"
            with pytest.raises(DecryptionError):
                box.decrypt(m, context=b"users/2/email")
            box.decrypt_batch([m, m], [b"users/1/email"] * 2)
        ops = [(e.operation, e.provider, e.key_id, e.outcome, e.count) for e in events]
        assert ("unwrap", "counting", 9, "ok", 1) in ops
        assert ("decrypt", "counting", 9, "ok", 1) in ops
        assert ("decrypt", "counting", 9, "DecryptionError", 1) in ops
        assert ("decrypt", "counting", 9, "ok", 2) in ops
        import hashlib

        digest = "sha256:" + hashlib.sha256(b"users/1/email").hexdigest()
        assert not any(e.context == digest for e in events)  # keyed, not a bare hash
        assert any((e.context or "").startswith("hmac-sha256:") for e in events)
        wrapped = Message.parse(m).wrapped_key
        blob = repr([e.as_dict() for e in events]) + caplog.text
        for secret in (b"plaintext-value", wrapped):
            assert secret.hex() not in blob and repr(secret) not in blob
        assert "users/1/email" not in blob
        assert any(getattr(r, "sealbox_event", None) is not None for r in caplog.records)
        sealbox.audit.configure(context="plain")
        box.decrypt(m, context=b"users/1/email")
        assert events[-1].context == "users/1/email"
    finally:
        sealbox.audit.configure(context="digest")
        sealbox.audit.unsubscribe(events.append)
    n = len(events)
    box.decrypt(m, context=b"users/1/email")
    assert len(events) == n


# Derivation


def test_derive_key_separates_columns() -> None:
    master = sealbox.generate_key()
    a = sealbox.derive_key(master, table="users", column="email")
    assert a == sealbox.derive_key(master, table="users", column="email")
    assert a != sealbox.derive_key(master, table="users", column="phone")
    assert a != sealbox.derive_key(master, table="user", column="semail")
    assert a != sealbox.derive_key(master, table="users", column="email", purpose="blind-index")
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    info = b"".join(len(p).to_bytes(4, "big") + p for p in (b"encryption", b"users", b"email"))
    expected = HKDF(hashes.SHA256(), 32, b"sealbox/v1/derive", info).derive(master)
    assert a == expected
    with pytest.raises(ValueError):
        sealbox.derive_key(b"short", table="t", column="c")


def test_rails_password_keys_match_rails_vector() -> None:
    # Rails' encryptable_record_test "deterministic ciphertexts remain constant" (SHA-1 PBKDF2).
    import base64
    import hmac

    key = sealbox.key_from_password(
        "test deterministic key", salt="testing key derivation salt", digest="sha1", preset="rails"
    )
    iv = hmac.digest(key, b"Dune", "sha256")[:12]
    ct = AESGCM(key).encrypt(iv, b"Dune", b"")
    assert base64.b64encode(ct[:-16]) == b"DIohhw=="
    assert base64.b64encode(iv) == b"wEPaDcJP3VNIxaiz"
    assert base64.b64encode(ct[-16:]) == b"X7+2xvvcu1k1if6Dy28Esw=="
    # With SHA-256 the IV would be kfbFGCd8hLihylB4 (the same upstream note).
    key256 = sealbox.key_from_password(
        "test deterministic key", salt="testing key derivation salt", preset="rails"
    )
    assert base64.b64encode(hmac.digest(key256, b"Dune", "sha256")[:12]) == b"kfbFGCd8hLihylB4"
    import hashlib

    assert key256 == hashlib.pbkdf2_hmac(
        "sha256", b"test deterministic key", b"testing key derivation salt", 65536, 32
    )
    ring = sealbox.keyring_from_passwords(["old", "new"], salt="s", preset="rails")
    assert ring.active_id == 2 and ring.ids == [1, 2]
    assert (
        sealbox.Box(ring).decrypt(
            sealbox.Box(Keyring({2: sealbox.key_from_password("new", salt="s", preset="rails")})).encrypt(
                b"x"
            )
        )
        == b"x"
    )


def test_password_keys_take_owasps_minimum_unless_told_otherwise() -> None:
    import hashlib

    # PBKDF2-HMAC-SHA256 with 600,000 iterations by default (OWASP's minimum).
    assert sealbox.key_from_password("pw", salt="s") == hashlib.pbkdf2_hmac(
        "sha256", b"pw", b"s", 600_000, 32
    )
    assert sealbox.key_from_password("pw", salt="s", iterations=700_000) == hashlib.pbkdf2_hmac(
        "sha256", b"pw", b"s", 700_000, 32
    )
    # Fewer iterations are refused without the opt-in, for each digest (SHA-1: 1,300,000).
    for digest, iterations in [("sha256", 1), ("sha256", 65_536), ("sha256", 599_999), ("sha1", 1_299_999)]:
        with pytest.raises(ValueError, match=r"below OWASP's minimum.*allow_weak=True"):
            sealbox.key_from_password("pw", salt="s", digest=digest, iterations=iterations)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="OWASP"):
        sealbox.keyring_from_passwords(["a", "b"], salt="s", iterations=1000)
    assert sealbox.key_from_password("pw", salt="s", iterations=1, allow_weak=True) == hashlib.pbkdf2_hmac(
        "sha256", b"pw", b"s", 1, 32
    )
    assert sealbox.key_from_password(
        "pw", salt="s", digest="sha1", iterations=1000, allow_weak=True
    ) == hashlib.pbkdf2_hmac("sha1", b"pw", b"s", 1000, 32)
    ring = sealbox.keyring_from_passwords(["old", "new"], salt="s", iterations=1000, allow_weak=True)
    assert ring.ids == [1, 2]
    # The Rails preset is 65,536 iterations, SHA-256 or SHA-1, and fixes them.
    for digest in ("sha256", "sha1"):
        assert sealbox.key_from_password(
            "pw", salt="s", digest=digest, preset="rails"
        ) == hashlib.pbkdf2_hmac(  # type: ignore[arg-type]
            digest, b"pw", b"s", 65_536, 32
        )
    with pytest.raises(TypeError, match="does not apply"):
        sealbox.key_from_password("pw", salt="s", preset="rails", iterations=65_536)
    for bad in [
        {"preset": "django"},
        {"digest": "md5"},
        {"iterations": 0, "allow_weak": True},
        {"iterations": True, "allow_weak": True},
    ]:
        with pytest.raises(ValueError):
            sealbox.key_from_password("pw", salt="s", **bad)


def test_batch_decrypt_finds_the_kek_as_one_value_does() -> None:
    # A provider may not share KEK id 1 with a previous local ring: a message names
    # its KEK by id alone, so the local ring's messages would go to the provider.
    # With distinct ids, one value's decrypt and a batch find each message's KEK.
    old = Keyring({1: sealbox.generate_key()}, active=1)
    old_messages = sealbox.Box(EnvelopeKeyProvider(old)).encrypt_batch([b"old-1", b"old-2"], [b"a", b"b"])
    with pytest.raises(ValueError, match=r"KEK id 1 names two key-encryption keys"):
        EnvelopeKeyProvider(CountingKek(kek_id=1), previous=[old])
    kms = CountingKek(kek_id=2)
    box = sealbox.Box(EnvelopeKeyProvider(kms, previous=[old]))
    new_messages = box.encrypt_batch([b"new-1", b"new-2"], [b"c", b"d"])
    messages = [new_messages[0], old_messages[0], new_messages[1], old_messages[1]]
    contexts = [b"c", b"a", b"d", b"b"]

    def one(message: bytes, context: bytes) -> bytes | None:
        try:
            return box.decrypt(message, context=context)
        except DecryptionError:
            return None

    one_by_one = [one(m, c) for m, c in zip(messages, contexts, strict=True)]
    assert one_by_one == [b"new-1", b"old-1", b"new-2", b"old-2"]
    assert box.decrypt_batch(messages, contexts, errors="return") == one_by_one


def test_kek_ids_name_one_kek_each() -> None:
    """Two KEKs with one id are refused, wherever they are (kek, previous, keyring ids),
    with a message that names the id, both KEKs and the fix."""
    ring = Keyring({1: sealbox.generate_key(), 2: sealbox.generate_key()}, active=2)
    cases = [
        (CountingKek(kek_id=1), [CountingKek(kek_id=1)], 1, r"kek \(.*\) and previous\[0\] \("),
        (CountingKek(kek_id=7), [CountingKek(kek_id=3)] * 2, 3, r"previous\[0\].*previous\[1\]"),
        (ring, [CountingKek(kek_id=2)], 2, r"kek \(a Keyring\) and previous\[0\]"),
        (CountingKek(kek_id=1), [ring], 1, r"kek \(.*\) and previous\[0\] \(a Keyring\)"),
    ]
    for kek, previous, kek_id, where in cases:
        with pytest.raises(ValueError, match=rf"^KEK id {kek_id} names two key-encryption keys") as info:
            EnvelopeKeyProvider(kek, previous=previous)  # type: ignore[arg-type]
        assert re.search(where, str(info.value)), str(info.value)
        assert "kek_id=" in str(info.value)
    # The case that lost data: a new KMS key and the old one, both with the default id.
    # With distinct ids, every old message needs rotation and rotate_batch moves it.
    old, new = CountingKek(kek_id=101), CountingKek(kek_id=102)
    contexts = [b"r%d" % i for i in range(10)]
    messages = sealbox.Box(EnvelopeKeyProvider(old)).encrypt_batch([b"v"] * 10, contexts)
    box = sealbox.Box(EnvelopeKeyProvider(new, previous=[old]))
    assert all(box.needs_rotation(m) for m in messages)
    rotated = box.rotate_batch(messages, contexts)
    assert {Message.parse(m).key_id for m in rotated} == {102}
    assert sealbox.Box(EnvelopeKeyProvider(new)).decrypt_batch(rotated, contexts) == [b"v"] * 10


def test_one_local_keyring_per_provider() -> None:
    """A second local Keyring is refused with a message saying to merge them; the merged
    ring opens the messages of both and moves them to its active key."""
    k1, k2 = sealbox.generate_key(), sealbox.generate_key()
    first, second = Keyring({1: k1}), Keyring({2: k2})
    m1 = sealbox.Box(EnvelopeKeyProvider(first)).encrypt(b"one", context=b"c")
    m2 = sealbox.Box(EnvelopeKeyProvider(second)).encrypt(b"two", context=b"c")
    for kek, previous in ((second, [first]), (CountingKek(), [first, second])):
        with pytest.raises(ValueError, match=r"takes one local Keyring.*merge") as info:
            EnvelopeKeyProvider(kek, previous=previous)  # type: ignore[arg-type]
        assert "Keyring({1: old_key, 2: new_key}, active=2)" in str(info.value)
    merged = sealbox.Box(EnvelopeKeyProvider(Keyring({1: k1, 2: k2}, active=2)))
    assert [merged.decrypt(m, context=b"c") for m in (m1, m2)] == [b"one", b"two"]
    assert merged.decrypt_batch([m1, m2], [b"c", b"c"]) == [b"one", b"two"]
    assert [Message.parse(m).key_id for m in merged.rotate_batch([m1, m2], [b"c", b"c"])] == [2, 2]


def test_a_data_key_cache_serves_one_provider() -> None:
    """Two contexts over one KMS key with one cache: the users box would be handed
    the payments box's data keys (the KMS never asked) and write messages that only
    the cache can open. The second provider is refused."""
    kek = CountingKek()
    cache = DataKeyCache(max_messages=100)
    payments_env = EnvelopeKeyProvider(kek, cache, encryption_context={"table": "payments"})
    payments = sealbox.Box(payments_env)
    card = payments.encrypt(b"4111", context=b"payments/1")
    for other in (
        {"kek": kek, "encryption_context": {"table": "users"}},
        {"kek": CountingKek(kek_id=10)},
    ):
        with pytest.raises(ValueError, match="already serves another EnvelopeKeyProvider"):
            EnvelopeKeyProvider(cache=cache, **other)  # type: ignore[arg-type]
    # Several Boxes over the one provider share its cache.
    text = sealbox.Box(payments_env, encoding="text")
    assert text.decrypt(text.encrypt(b"x", context=b"payments/2"), context=b"payments/2") == b"x"
    assert payments.decrypt(card, context=b"payments/1") == b"4111"
    assert kek.calls["generate"] == 1
    # The provider cannot be changed under its cache, nor its context under its data keys.
    with pytest.raises(AttributeError, match="immutable"):
        payments_env.cache = DataKeyCache()  # type: ignore[misc]
    with pytest.raises(TypeError):
        payments_env.encryption_context["table"] = "users"  # type: ignore[index]
    # Once its provider is gone, the cache is emptied and may serve another.
    del payments, text, payments_env
    gc.collect()
    users = sealbox.Box(EnvelopeKeyProvider(kek, cache, encryption_context={"table": "users"}))
    assert cache._current is None and not cache._opened
    with pytest.raises(DecryptionError):
        users.decrypt(card, context=b"payments/1")


def test_boxes_with_their_own_caches_stay_apart() -> None:
    kek = CountingKek()
    payments = sealbox.Box(
        EnvelopeKeyProvider(kek, DataKeyCache(max_messages=100), encryption_context={"table": "payments"})
    )
    users = sealbox.Box(
        EnvelopeKeyProvider(kek, DataKeyCache(max_messages=100), encryption_context={"table": "users"})
    )
    ctx = [b"row/%d" % i for i in range(5)]
    p = payments.encrypt_batch([b"card"] * 5, ctx)
    u = users.encrypt_batch([b"email"] * 5, ctx)
    assert payments.encrypt(b"card", context=b"row/9") != users.encrypt(b"email", context=b"row/9")
    assert Message.parse(p[0]).wrapped_key != Message.parse(u[0]).wrapped_key
    assert payments.decrypt_batch(p, ctx) == [b"card"] * 5
    assert users.decrypt_batch(u, ctx) == [b"email"] * 5
    # Each box's data keys opened (and cached) above; the other box's still go to the
    # KMS, which refuses them under this box's context.
    assert users.decrypt_batch(p, ctx, errors="return") == [None] * 5
    assert payments.decrypt_batch(u, ctx, errors="return") == [None] * 5
    with pytest.raises(DecryptionError):
        users.decrypt(p[0], context=ctx[0])
    # A users box that never saw a payments key opens the users' messages.
    cold = sealbox.Box(EnvelopeKeyProvider(kek, DataKeyCache(), encryption_context={"table": "users"}))
    assert cold.decrypt_batch(u, ctx) == [b"email"] * 5


def test_provider_batches_treat_every_damaged_message_as_one_value_does(ring: Keyring) -> None:
    # A provider-backed batch parses each message once, with the GIL, to name
    # its key, and opens or rewrites it from that parse: every damaged form of
    # a provider message, a local-KEK message and a direct one, binary or text,
    # fails or opens there as it does alone.
    import base64

    kek = CountingKek(kek_id=9)
    box = sealbox.Box(EnvelopeKeyProvider(kek, previous=[ring]))
    sources = [
        box.encrypt(b"provider", context=b"row"),
        sealbox.Box(EnvelopeKeyProvider(ring)).encrypt(b"local", context=b"row"),
        sealbox.Box(ring).encrypt(b"direct", context=b"row"),
    ]
    damaged: list[bytes] = []
    for m in sources:
        damaged += [m + b"\x00", *(m[:n] for n in range(1, len(m), 5)), *flip_every_bit(m)]

    def text(m: bytes) -> str:
        return base64.urlsafe_b64encode(m).rstrip(b"=").decode()

    messages: list[bytes | str] = [*sources, *(text(m) for m in sources), *damaged]
    messages += [*(text(m) for m in damaged[::3]), "", "!!!!", "AQ"]
    contexts = [b"row"] * len(messages)

    def one(message: bytes | str) -> bytes | None:
        try:
            return box.decrypt(message, context=b"row")
        except DecryptionError:
            return None

    alone = [one(m) for m in messages]
    assert alone[:6] == [b"provider", b"local", b"direct"] * 2
    assert box.decrypt_batch(messages, contexts, errors="return") == alone
    kek.rotate()
    rotated = box.rotate_batch(messages, contexts, errors="return")
    for i, (r, before) in enumerate(zip(rotated, alone, strict=True)):
        # A message that does not move did not open; one that moves opens as before.
        assert (before is None) if r is None else (one(r) == before), i
    assert [one(r) for r in rotated[:6]] == [b"provider", b"local", b"direct"] * 2


def test_box_is_immutable_unpicklable_and_not_a_base_for_subclasses(ring: Keyring) -> None:
    import pickle

    box = sealbox.Box(EnvelopeKeyProvider(ring))
    with pytest.raises(AttributeError, match="immutable"):
        box._env = EnvelopeKeyProvider(ring)  # type: ignore[misc]
    with pytest.raises(TypeError, match="cannot pickle 'Box' object: it holds key material"):
        pickle.dumps(box)
    with pytest.raises(TypeError, match="cannot pickle 'Box' object: it holds key material"):
        pickle.dumps(sealbox.Box(ring))

    class Audited(sealbox.Box[bytes]):
        pass

    with pytest.raises(TypeError, match=r"subclass sealbox\.LocalBox"):
        Audited(ring)

    class Logged(sealbox.LocalBox[bytes]):
        def encrypt(self, data: object, *, context: object = None) -> bytes:
            return bytes(super().encrypt(data, context=context))  # type: ignore[arg-type]

    logged = Logged(ring)
    assert isinstance(logged, sealbox.Box) and logged.decrypt(logged.encrypt(b"x")) == b"x"
    # The declared API is visible at runtime (help(), autospec).
    assert sealbox.Box.encrypt.__doc__ and sealbox.Box.rotate_batch.__doc__


def test_every_decryption_failure_of_a_message_says_the_same(ring: Keyring) -> None:
    """Unknown KEK, a wrapped key that does not unwrap, a payload that fails: one text,
    nothing chained; the stage is in the audit event's detail only."""
    kek = CountingKek()
    box = sealbox.Box(EnvelopeKeyProvider(kek))
    m = box.encrypt(b"secret", context=b"users/1")
    unknown = sealbox.Box(EnvelopeKeyProvider(Keyring({77: sealbox.generate_key()}))).encrypt(b"x")
    payload = bytearray(m)
    payload[-1] ^= 1
    events: list[sealbox.audit.AuditEvent] = []
    sealbox.audit.subscribe(events.append)
    try:
        failures = []
        for message, context in ((unknown, b""), (m, b"users/2"), (bytes(payload), b"users/1")):
            with pytest.raises(DecryptionError) as info:
                box.decrypt(message, context=context)
            failures.append(info.value)
    finally:
        sealbox.audit.unsubscribe(events.append)
    for error in failures:
        assert str(error) == "decryption failed"
        assert error.__cause__ is None and error.__context__ is None
    details = [e.detail for e in events if e.operation == "decrypt"]
    assert "no key-encryption key with this id" in (details[0] or "")
    assert "does not unwrap" in (details[1] or "")
    assert details[2] is not None


def test_audit_counts_failed_items_records_malformed_messages_and_keys_the_digest() -> None:
    import hashlib
    import hmac

    events: list[sealbox.audit.AuditEvent] = []
    sealbox.audit.subscribe(events.append)
    try:
        ring = Keyring({1: sealbox.generate_key()})
        for box in (sealbox.Box(EnvelopeKeyProvider(ring)), sealbox.Box(EnvelopeKeyProvider(CountingKek()))):
            good = box.encrypt_batch([b"a", b"b", b"c"], [b"1", b"2", b"3"])
            # A batch with failed items is not "ok", and says how many failed.
            del events[:]
            out = box.decrypt_batch(good, [b"1", b"x", b"y"], errors="return")
            assert out == [b"a", None, None]
            [event] = [e for e in events if e.operation == "decrypt"]
            assert (event.count, event.failed, event.outcome) == (3, 2, "DecryptionError")
            del events[:]
            box.decrypt_batch(good, [b"1", b"2", b"3"])
            [event] = [e for e in events if e.operation == "decrypt"]
            assert (event.count, event.failed, event.outcome) == (3, 0, "ok")
            # A message that does not parse still leaves an event.
            del events[:]
            with pytest.raises(DecryptionError):
                box.decrypt(b"\x01\x04 not a message", context=b"users/1")
            [event] = events
            assert (event.operation, event.key_id, event.outcome, event.failed) == (
                "decrypt",
                None,
                "DecryptionError",
                1,
            )
        pa = pytest.importorskip("pyarrow")
        box = sealbox.Box(EnvelopeKeyProvider(ring))
        good = box.encrypt_batch([b"a", b"b"], [b"1", b"2"])
        del events[:]
        box.decrypt_batch(pa.array([*good, None]), [b"1", b"x", b""], errors="return")
        assert (events[-1].count, events[-1].failed) == (3, 1)
        # The context digest is keyed: per process by default, or by a configured key.
        key = b"k" * 32
        sealbox.audit.configure(context="digest", digest_key=key)
        box.decrypt(good[0], context=b"1")
        want = "hmac-sha256:" + hmac.new(key, b"1", hashlib.sha256).hexdigest()
        assert events[-1].context == want
        with pytest.raises(ValueError, match="32 bytes"):
            sealbox.audit.configure(digest_key=b"short")
    finally:
        sealbox.audit.configure(context="digest", digest_key=os.urandom(32))
        sealbox.audit.unsubscribe(events.append)
