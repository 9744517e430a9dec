"""encrypt_batch, decrypt_batch and rotate_batch: lists and Arrow arrays."""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sealbox
from sealbox import Box, DecryptionError, Keyring, Message

K1, K2 = b"\x01" * 32, b"\x02" * 32
OLD = Keyring({1: K1})
RING = Keyring({1: K1, 2: K2}, active=2)


def values(n: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(rng.randrange(0, 200)) for _ in range(n)]


@pytest.mark.parametrize(
    "make",
    [
        lambda r: Box(r),
        lambda r: Box(r, algorithm="xchacha20-poly1305"),
        lambda r: Box(r, deterministic=True),
        lambda r: Box(r, encoding="text"),
    ],
)
def test_batch_equals_item_by_item(make) -> None:  # type: ignore[no-untyped-def]
    box = make(RING)
    vals = values(3000)
    ctxs = [f"t/{i}/c" for i in range(len(vals))]
    sealed = box.encrypt_batch(vals, ctxs)
    assert len(sealed) == len(vals)
    assert [box.decrypt(m, context=c) for m, c in zip(sealed, ctxs, strict=True)] == vals
    assert box.decrypt_batch(sealed, ctxs) == vals
    singles = [box.encrypt(v, context=c) for v, c in zip(vals, ctxs, strict=True)]
    assert box.decrypt_batch(singles, ctxs) == vals
    if box.deterministic:
        assert sealed == singles


def test_contexts_none_one_or_each() -> None:
    box = Box(RING)
    vals = values(100)
    assert box.decrypt_batch(box.encrypt_batch(vals)) == vals
    one = box.encrypt_batch(vals, b"users.email")
    assert box.decrypt_batch(one, "users.email") == vals
    with pytest.raises(DecryptionError, match="item 0"):
        box.decrypt_batch(one)
    with pytest.raises(ValueError, match="one per value"):
        box.encrypt_batch(vals, [b"x"] * 99)


def test_mixed_keys_and_suites_rotate_to_the_active_key() -> None:
    vals = values(2000)
    ctxs = [str(i).encode() for i in range(len(vals))]
    old, xold = Box(OLD), Box(OLD, algorithm="xchacha20-poly1305")
    new = Box(RING)
    mixed = [
        (old if i % 3 == 0 else xold if i % 3 == 1 else new).encrypt(v, context=c)
        for i, (v, c) in enumerate(zip(vals, ctxs, strict=True))
    ]
    rotated = new.rotate_batch(mixed, ctxs)
    assert all(Message.parse(m).key_id == 2 and Message.parse(m).suite == "aes-256-gcm" for m in rotated)
    assert new.decrypt_batch(rotated, ctxs) == vals
    # "auto" returns messages already under the active key unchanged, the same objects.
    assert all((r is m) == (i % 3 == 2) for i, (r, m) in enumerate(zip(rotated, mixed, strict=True)))
    again = new.rotate_batch(mixed, ctxs, mode="reencrypt")
    assert all(a != m for a, m in zip(again, mixed, strict=True))
    assert not any(new.needs_rotation(m) for m in again)
    with pytest.raises(ValueError, match="mode"):
        new.rotate_batch(mixed, ctxs, mode="fast")


def test_failures_at_random_positions_in_both_error_modes() -> None:
    box = Box(RING)
    vals = values(5000, seed=3)
    sealed = box.encrypt_batch(vals)
    rng = random.Random(9)
    bad = sorted(rng.sample(range(len(vals)), 40))
    broken = list(sealed)
    for i in bad:
        m = bytearray(broken[i])
        m[rng.randrange(len(m))] ^= 1 << rng.randrange(8)
        broken[i] = bytes(m)
    with pytest.raises(DecryptionError) as info:
        box.decrypt_batch(broken)
    assert str(info.value) == f"item {bad[0]} failed to decrypt"
    out = box.decrypt_batch(broken, errors="return")
    assert [i for i, v in enumerate(out) if v is None] == bad
    assert all(out[i] == vals[i] for i in range(len(vals)) if i not in bad)
    rot = box.rotate_batch(broken, errors="return", mode="reencrypt")
    assert [i for i, v in enumerate(rot) if v is None] == bad
    with pytest.raises(DecryptionError, match=f"item {bad[0]} "):
        box.rotate_batch(broken, mode="reencrypt")
    # "auto" judges from the header alone, like needs_rotation: a message already
    # under the active key is returned as it is, neither decrypted nor checked.
    auto = box.rotate_batch(broken, errors="return")
    for i in bad:
        m = Message.parse(broken[i]) if _parses(broken[i]) else None
        if m is not None and m.key_id == 2 and m.suite == "aes-256-gcm":
            assert auto[i] is broken[i]
        else:
            assert auto[i] is None
    with pytest.raises(ValueError, match="errors"):
        box.decrypt_batch(broken, errors="ignore")


def _parses(m: bytes) -> bool:
    try:
        Message.parse(m)
    except DecryptionError:
        return False
    return True


def test_empty_batches_and_edge_sizes() -> None:
    box = Box(RING)
    assert box.encrypt_batch([]) == [] and box.decrypt_batch([]) == [] and box.rotate_batch([]) == []
    big = os.urandom(1 << 20)
    out = box.decrypt_batch(box.encrypt_batch([b"", big, b"", big[:1]]))
    assert out == [b"", big, b"", big[:1]]


def test_misuse() -> None:
    box = Box(RING)
    with pytest.raises(TypeError, match="single bytes"):
        box.encrypt_batch(b"abc")
    with pytest.raises(TypeError, match=r"values\[1\] must be bytes"):
        box.encrypt_batch([b"a", "b"])
    with pytest.raises(TypeError, match=r"messages\[0\] must be bytes or str"):
        box.decrypt_batch([3])
    with pytest.raises(ValueError, match="threads"):
        box.encrypt_batch([b"a"], threads=0)


def test_text_messages_and_generators() -> None:
    box = Box(RING, encoding="text")
    vals = values(300)
    sealed = box.encrypt_batch(v for v in vals)
    assert all(isinstance(m, str) for m in sealed)
    assert Box(RING).decrypt_batch(sealed) == vals
    assert box.decrypt_batch(tuple(sealed)) == vals


def test_thread_counts_agree() -> None:
    box = Box(RING, deterministic=True)
    vals = values(4000)
    assert box.encrypt_batch(vals, threads=1) == box.encrypt_batch(vals, threads=2) == box.encrypt_batch(vals)


def test_many_threads_calling_batches_at_once() -> None:
    box = Box(RING)

    def work(seed: int) -> bool:
        vals = values(2000, seed)
        ctx = [str(seed).encode()] * len(vals)
        return (
            box.decrypt_batch(box.rotate_batch(box.encrypt_batch(vals, ctx), ctx, mode="reencrypt"), ctx)
            == vals
        )

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, range(16)))


def test_keyboard_interrupt_leaves_nothing_half_written() -> None:
    box = Box(RING)
    vals = [b"x" * 64] * 400_000  # several chunks
    results: list[object] = []
    timer = threading.Timer(
        0.01, lambda: signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
    )
    timer.start()
    try:
        results = box.encrypt_batch(vals)
    except KeyboardInterrupt:
        results = []
        interrupted = True
    else:
        interrupted = False
    finally:
        timer.cancel()
    # Either the batch finished whole, or nothing was returned.
    assert (interrupted and results == []) or (not interrupted and len(results) == len(vals))


def test_lists_across_chunks_keep_order_objects_and_failures() -> None:
    """Many native chunks: order, unchanged objects and failures all line up."""
    old, box = Box(OLD), Box(RING)
    n = 140_000  # eight of the 16,384-item chunks of a list batch, and more
    vals = [i.to_bytes(4, "big") * (i % 3) for i in range(n)]
    mixed = old.encrypt_batch(vals[: n // 2]) + box.encrypt_batch(vals[n // 2 :])
    bad = [0, 16_383, 16_384, 65_536, 131_072, n - 1]
    for i in bad:
        mixed[i] = mixed[i][:-1] + bytes([mixed[i][-1] ^ 1])
    rotated = box.rotate_batch(mixed, errors="return")
    assert [i for i, r in enumerate(rotated) if r is None] == bad[:4]  # auto mode skips current ones
    assert all(rotated[i] is mixed[i] for i in range(n // 2, n))
    with pytest.raises(DecryptionError, match="item 0 "):
        box.decrypt_batch(iter(mixed))
    opened = box.decrypt_batch(iter(mixed), errors="return")
    assert [i for i, v in enumerate(opened) if v is None] == bad
    assert all(opened[i] == vals[i] for i in range(n) if i not in bad)
    with pytest.raises(TypeError, match=r"messages\[70000\] must be bytes"):
        box.decrypt_batch([*box.encrypt_batch(vals[:70_000]), 5])


def test_a_failed_list_batch_releases_every_item() -> None:
    """An error with chunks still queued leaks no reference to an item."""
    box = Box(RING)
    message = box.encrypt(b"shared")
    messages = [message] * 100_000  # several chunks queued behind the first
    bad = list(messages)
    bad[1] = b"junk"
    before = sys.getrefcount(message)
    with pytest.raises(DecryptionError, match="item 1 "):
        box.decrypt_batch(bad)
    with pytest.raises(TypeError, match=r"messages\[60000\]"):
        box.decrypt_batch([*messages[:60_000], 5, *messages[:30_000]])
    assert sys.getrefcount(message) == before
    assert box.decrypt_batch(messages)[-1] == b"shared"
    assert sys.getrefcount(message) == before


def test_list_errors_are_reported_in_order_across_chunks() -> None:
    """A failure to decrypt is reported before an item of the wrong type in a
    later chunk, wherever the chunks begin."""
    box = Box(RING)
    messages: list[object] = list(box.encrypt_batch([b"v"] * 60_000))
    messages[5] = b"junk"
    messages[40_000] = 5
    with pytest.raises(DecryptionError, match="item 5 "):
        box.decrypt_batch(messages)
    with pytest.raises(TypeError, match=r"messages\[40000\] must be bytes"):
        box.decrypt_batch(messages, errors="return")


pa = pytest.importorskip("pyarrow")


@pytest.mark.parametrize("kind", ["binary", "large_binary"])
def test_arrow_in_arrow_out(kind: str) -> None:
    typ = getattr(pa, kind)()
    box = Box(RING)
    vals = values(3000)
    arr = pa.array(vals, type=typ)
    sealed = box.encrypt_batch(arr)
    assert isinstance(sealed, pa.Array) and sealed.type == typ and len(sealed) == len(vals)
    assert box.decrypt_batch(sealed.to_pylist()) == vals
    assert box.decrypt_batch(sealed).to_pylist() == vals
    old = Box(OLD).encrypt_batch(arr)
    rotated = box.rotate_batch(old)
    assert rotated.type == typ and box.decrypt_batch(rotated).to_pylist() == vals
    assert all(Message.parse(m).key_id == 2 for m in rotated.to_pylist())


def test_arrow_nulls_slices_chunks_and_failures() -> None:
    box = Box(RING)
    vals: list[bytes | None] = [b"a", None, b"ccc", None, b"e"] * 100
    arr = pa.array(vals, type=pa.binary())
    sealed = box.encrypt_batch(arr)
    assert sealed.null_count == 200 and box.decrypt_batch(sealed).to_pylist() == vals
    part = sealed.slice(3, 50)
    assert box.decrypt_batch(part).to_pylist() == vals[3:53]
    chunked = pa.chunked_array([sealed.slice(0, 10), sealed.slice(10)])
    out = box.decrypt_batch(chunked)
    assert isinstance(out, pa.ChunkedArray) and out.to_pylist() == vals
    broken = sealed.to_pylist()
    broken[2] = b"junk"
    with pytest.raises(DecryptionError, match="item 2"):
        box.decrypt_batch(pa.array(broken, type=pa.binary()))
    got = box.decrypt_batch(pa.array(broken, type=pa.binary()), errors="return").to_pylist()
    assert got[2] is None and got[0] == b"a" and got[1] is None
    text = Box(RING, encoding="text").encrypt_batch(pa.array([b"x"], type=pa.large_binary()))
    assert text.type == pa.large_string()
    with pytest.raises(TypeError, match="binary"):
        box.encrypt_batch(pa.array([1, 2]))


def test_arrow_failures_across_chunks_and_per_item_contexts() -> None:
    """Failures in several native chunks: nulls exactly there, the rest intact."""
    box = Box(RING)
    n = 140_000  # more than two of the engine's 65,536-item chunks
    vals = [i.to_bytes(4, "big") * (i % 5) for i in range(n)]
    ctxs = [f"row/{i}".encode() for i in range(n)]
    sealed = box.encrypt_batch(pa.array(vals, type=pa.binary()), ctxs).to_pylist()
    bad = [5, 65_535, 65_536, 70_001, n - 1]
    for i in bad:
        sealed[i] = sealed[i][:-1] + bytes([sealed[i][-1] ^ 1])
    halves = (sealed[:100_000], sealed[100_000:])
    chunked = pa.chunked_array([pa.array(half, pa.binary()) for half in halves])
    with pytest.raises(DecryptionError, match="item 5 "):
        box.decrypt_batch(chunked, ctxs)
    out = box.decrypt_batch(chunked, ctxs, errors="return")
    out.validate(full=True)
    assert out.null_count == len(bad)
    got = out.to_pylist()
    assert [i for i, v in enumerate(got) if v is None] == bad
    assert all(got[i] == vals[i] for i in range(n) if i not in bad)
    rotated = box.rotate_batch(pa.array(sealed, pa.large_binary()), ctxs, mode="reencrypt", errors="return")
    rotated.validate(full=True)
    assert rotated.type == pa.large_binary() and rotated.null_count == len(bad)
    with pytest.raises(ValueError, match="contexts has 3 items"):
        box.decrypt_batch(chunked, ctxs[:3])


def test_arrow_rotation_whose_lengths_change_in_a_later_chunk() -> None:
    """An Arrow rotation takes the input's lengths as its layout; from the chunk
    where a message changes length (another suite), it lays the rest out again."""
    new, xold = Box(RING), Box(OLD, algorithm="xchacha20-poly1305")
    assert len(xold.encrypt(b"v")) != len(new.encrypt(b"v"))  # the case under test
    n = 140_000  # three of the engine's 65,536-item chunks
    vals = [i.to_bytes(4, "big") * (i % 3) for i in range(n)]
    ctxs = [f"row/{i}".encode() for i in range(n)]
    sealed = Box(OLD).encrypt_batch(pa.array(vals, type=pa.binary()), ctxs).to_pylist()
    moved = range(100_000, n, 7)  # from the second chunk on: another suite
    for i in moved:
        sealed[i] = xold.encrypt(vals[i], context=ctxs[i])
    current = range(100_003, n, 11)  # already under the active key: unchanged
    for i in current:
        sealed[i] = new.encrypt(vals[i], context=ctxs[i])
    nulls = set(range(3, n, 10_000))
    bad = {50, 110_001, 139_998} - nulls
    for i in bad:
        sealed[i] = sealed[i][:-1] + bytes([sealed[i][-1] ^ 1])
    column = [None if i in nulls else m for i, m in enumerate(sealed)]
    for typ in (pa.binary(), pa.large_binary()):
        out = new.rotate_batch(pa.array(column, type=typ), ctxs, errors="return")
        out.validate(full=True)
        assert out.type == typ
        got = out.to_pylist()
        assert {i for i, m in enumerate(got) if m is None} == nulls | bad
        assert all(Message.parse(m).key_id == 2 for m in got if m is not None)
        assert all(got[i] == sealed[i] for i in current if i not in nulls | bad)
        opened = new.decrypt_batch(out, ctxs).to_pylist()
        assert all(opened[i] == vals[i] for i in range(n) if i not in nulls | bad)
    with pytest.raises(DecryptionError, match="item 50 "):
        new.rotate_batch(pa.array(column, type=pa.binary()), ctxs)
    # Every item changes length (binary messages into text): nothing of the
    # guessed layout is kept.
    text = Box(RING, encoding="text")
    first = pa.array(column[:1000], type=pa.binary())
    out = text.rotate_batch(first, ctxs[:1000], errors="return").to_pylist()
    assert {i for i, m in enumerate(out) if m is None} == {i for i in nulls | bad if i < 1000}
    assert all(isinstance(m, str) and Message.parse(m).key_id == 2 for m in out if m is not None)
    assert [text.decrypt(m, context=ctxs[i]) for i, m in enumerate(out) if m is not None] == [
        vals[i] for i in range(1000) if out[i] is not None
    ]
    # A failure after the change of length is found in the relaid chunk.
    column[50] = sealed[50] = Box(OLD).encrypt(vals[50], context=ctxs[50])
    with pytest.raises(DecryptionError, match="item 110001 "):
        new.rotate_batch(pa.array(column, type=pa.binary()), ctxs)


def test_arrow_buffers_at_any_alignment() -> None:
    """Offsets that start at an odd address (a sliced buffer) are read correctly."""
    box = Box(RING)
    vals = values(500)
    sealed = box.encrypt_batch(pa.array(vals, type=pa.binary()))
    _, offsets, data = sealed.buffers()
    odd = pa.py_buffer(b"\0" + offsets.to_pybytes())[1:]
    moved = pa.Array.from_buffers(pa.binary(), len(sealed), [None, odd, data])
    assert box.decrypt_batch(moved).to_pylist() == vals


def test_unchanged_rotations_return_the_input_objects() -> None:
    box = Box(RING)
    current = box.encrypt_batch(values(50))
    mixed: list[bytes | bytearray] = [*current[:25], *map(bytearray, current[25:])]
    out = box.rotate_batch(mixed)
    assert all(o is m for o, m in zip(out[:25], mixed[:25], strict=True))
    assert all(type(o) is bytes and o == m for o, m in zip(out[25:], mixed[25:], strict=True))


def _interrupted(call: Any) -> bool:
    """Run ``call`` while SIGINT arrives 0.1 s in; whether it raised KeyboardInterrupt."""
    timer = threading.Timer(
        0.1, lambda: signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
    )
    timer.start()
    try:
        call()
    except KeyboardInterrupt:
        return True
    finally:
        timer.cancel()
    return False


@pytest.mark.parametrize("shape", ["list", "arrow", "blind list", "blind arrow", "envelope"])
def test_ctrl_c_during_any_batch_shape_raises_and_leaves_the_box_usable(shape: str) -> None:
    # Each batch runs for about a second, in many chunks, with the GIL released.
    import pyarrow as pa

    key = sealbox.generate_key()
    box = Box(key)
    env = Box(sealbox.EnvelopeKeyProvider(_KmsLike(key), sealbox.DataKeyCache(max_messages=10**7)))
    slow = sealbox.BlindIndex(key, "argon2id", t=2, m=4096, p=1, allow_weak=True)
    values = [b"x" * 64] * 2_000_000
    calls = {
        "list": lambda: box.encrypt_batch(values),
        "arrow": lambda: box.encrypt_batch(pa.array(values, pa.binary())),
        "blind list": lambda: slow.compute_batch([b"v"] * 2000),
        "blind arrow": lambda: slow.compute_batch(pa.array([b"v"] * 2000)),
        "envelope": lambda: env.encrypt_batch(values),
    }
    assert _interrupted(calls[shape])
    for b in (box, env):
        assert b.decrypt_batch(b.encrypt_batch([b"a", b"b"])) == [b"a", b"b"]


def test_ctrl_c_stops_a_batch_before_it_reads_the_rest_of_its_values() -> None:
    # Values are read a chunk at a time: an interrupted batch stops reading.
    slow = sealbox.BlindIndex(sealbox.generate_key(), "argon2id", t=2, m=4096, p=1, allow_weak=True)
    read = 0

    def values() -> Any:
        nonlocal read
        for _ in range(5000):
            read += 1
            yield b"v"

    assert _interrupted(lambda: slow.compute_batch(values()))
    assert 0 < read < 5000


class _KmsLike:
    """A key provider that wraps in Python (as a KMS client would): envelope batches
    then run on the provider path, whose data keys come from Python."""

    name = "python"
    kek_id = 9

    def __init__(self, key: bytes) -> None:
        self._box = Box(key)

    def generate_data_key(self, context: Any) -> tuple[bytes, bytes]:
        dk = sealbox.generate_key()
        return dk, self.wrap(dk, context)

    def wrap(self, data_key: bytes, context: Any) -> bytes:
        return self._box.encrypt(data_key, context=repr(sorted(context.items())))

    def unwrap(self, wrapped: bytes, context: Any) -> bytes:
        return self._box.decrypt(wrapped, context=repr(sorted(context.items())))

    def rewrap(self, wrapped: list[bytes], contexts: list[Any]) -> list[bytes]:
        return [self.wrap(self.unwrap(w, c), c) for w, c in zip(wrapped, contexts, strict=True)]

    def needs_rewrap(self, wrapped: bytes) -> bool:
        return False


@pytest.mark.parametrize("fail_at", [0, 10, 16_383, 16_384, 20_000, 40_000])
def test_an_iterator_that_fails_fails_the_batch_wherever_it_fails(fail_at: int) -> None:
    """A batch of one chunk runs on the calling thread, longer ones through the driver
    thread: either way an error raised by the values' iterator reaches the caller."""
    index = sealbox.BlindIndex(sealbox.generate_key())

    def values() -> Any:
        for i in range(50_000):
            if i == fail_at:
                raise RuntimeError(f"source failed at {i}")
            yield b"v%d" % i

    with pytest.raises(RuntimeError, match=f"source failed at {fail_at}"):
        index.compute_batch(values())
    short = [b"v%d" % i for i in range(fail_at)]
    assert index.compute_batch(iter(short)) == index.compute_batch(short)


@pytest.mark.parametrize("algorithm", ["aes-256-gcm", "xchacha20-poly1305"])
def test_a_repeatable_rotation_gives_the_same_bytes_for_the_same_message_and_context(algorithm: str) -> None:
    import pyarrow as pa

    old, new = Box(OLD, algorithm=algorithm), Box(RING, algorithm=algorithm)
    contexts = [b"users/%d/email" % i for i in range(300)]
    messages = old.encrypt_batch([b"value %d" % (i % 7) for i in range(300)], contexts)
    first = new.rotate_batch(messages, contexts, repeatable=True)
    assert first == new.rotate_batch(messages, contexts, repeatable=True, threads=1)
    assert new.decrypt_batch(first, contexts) == [b"value %d" % (i % 7) for i in range(300)]
    assert len(set(first)) == 300  # equal plaintexts, distinct messages: distinct outputs
    assert first != new.rotate_batch(messages, contexts)  # drawn nonces otherwise
    assert new.rotate_batch(pa.array(messages), contexts, repeatable=True).to_pylist() == first
    text = Box(RING, algorithm=algorithm, encoding="text")
    assert [
        text.decrypt(m, context=c)
        for m, c in zip(text.rotate_batch(messages, contexts, repeatable=True), contexts, strict=True)
    ] == new.decrypt_batch(first, contexts)
    assert text.rotate_batch(messages, contexts, repeatable=True) == text.rotate_batch(
        messages, contexts, repeatable=True
    )
    # Under the active key already: unchanged; re-encrypted on request, to other bytes each time.
    assert new.rotate_batch(first, contexts, repeatable=True) == first
    again = new.rotate_batch(first, contexts, "reencrypt", repeatable=True)
    assert again == new.rotate_batch(first, contexts, "reencrypt", repeatable=True) and again != first
    # The context takes part: a wrong one fails, as in any rotation.
    assert new.rotate_batch(messages, b"other", errors="return", repeatable=True) == [None] * 300


def test_a_repeatable_rotation_is_refused_where_it_cannot_hold() -> None:
    messages = Box(OLD).encrypt_batch([b"a", b"b"])
    with pytest.raises(ValueError, match="direct suite"):
        Box(sealbox.EnvelopeKeyProvider(RING)).rotate_batch(messages, repeatable=True)
    with pytest.raises(ValueError, match="direct suite"):
        Box(sealbox.EnvelopeKeyProvider(RING))._local.rotate_batch(messages, repeatable=True)  # type: ignore[union-attr]
    with pytest.raises(TypeError, match="repeatable"):
        Box(RING).rotate_batch(messages, repeatable=1)  # type: ignore[arg-type]
    deterministic = Box(RING, deterministic=True)
    assert deterministic.rotate_batch(messages, repeatable=True) == deterministic.rotate_batch(messages)
