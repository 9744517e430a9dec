"""Files: the segmented stream format, Box.encrypt_file / decrypt_file / open / rotate_file."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sealbox
from sealbox import DecryptionError, EnvelopeKeyProvider, Keyring

from tests.test_envelope import CountingKek

SEG = 4096  # small segments keep the many-segment cases small
SEALED = SEG + 16
K1, K2 = bytes(range(32)), bytes(range(1, 33))


def header_len(data: bytes) -> int:
    return sealbox._native.stream_header_len(data[:10])


def encrypt(box: sealbox.Box, pt: bytes, context: bytes | None = b"ctx", segment_size: int = SEG) -> bytes:
    out = io.BytesIO()
    box.encrypt_file(io.BytesIO(pt), out, context=context, segment_size=segment_size)
    return out.getvalue()


def decrypt(box: sealbox.Box, ct: bytes, context: bytes | None = b"ctx") -> bytes:
    out = io.BytesIO()
    box.decrypt_file(io.BytesIO(ct), out, context=context)
    return out.getvalue()


def boxes() -> list[sealbox.Box]:
    return [
        sealbox.Box(K1),
        sealbox.Box(Keyring({3: K1, 4: K2}, active=4), algorithm="xchacha20-poly1305"),
        sealbox.Box(EnvelopeKeyProvider(Keyring({7: K1}))),
        sealbox.Box(EnvelopeKeyProvider(CountingKek())),
    ]


@pytest.fixture(params=range(4), ids=["key", "keyring", "envelope-local", "envelope-provider"])
def box(request: pytest.FixtureRequest) -> sealbox.Box:
    return boxes()[request.param]


SIZES = [0, 1, SEG - 1, SEG, SEG + 1, 64 * SEG, 64 * SEG + 1, 130 * SEG + 77]


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_at_segment_edges(box: sealbox.Box, size: int) -> None:
    pt = random.Random(size).randbytes(size)
    ct = encrypt(box, pt)
    segments = max(1, -(-size // SEG))
    assert len(ct) == header_len(ct) + size + 16 * segments
    assert decrypt(box, ct) == pt
    with box.open(io.BytesIO(ct), context=b"ctx") as r:
        assert r.read() == pt
        assert r.length == size
    # The writer gives a file the reader (and decrypt_file) read back, whatever the write sizes.
    out = io.BytesIO()
    with box.open(out, "wb", context=b"ctx", segment_size=SEG) as w:
        for i in range(0, size, 1000):
            w.write(memoryview(pt)[i : i + 1000])
    assert decrypt(box, out.getvalue()) == pt


def test_default_segment_size_and_paths(tmp_path: Path) -> None:
    box = sealbox.Box(K1)
    pt = os.urandom(200_000)
    (tmp_path / "a").write_bytes(pt)
    box.encrypt_file(tmp_path / "a", str(tmp_path / "a.sbx"), context="c")
    ct = (tmp_path / "a.sbx").read_bytes()
    assert sealbox._native.stream_header(ct[: header_len(ct)])[2] == 65536
    assert len(ct) == header_len(ct) + len(pt) + 4 * 16
    box.decrypt_file(tmp_path / "a.sbx", tmp_path / "b", context="c")
    assert (tmp_path / "b").read_bytes() == pt
    with box.open(tmp_path / "a.sbx", context="c") as r:
        r.seek(150_000)
        assert r.read(10) == pt[150_000:150_010]
    with box.open(tmp_path / "w.sbx", "wb") as w:
        w.write(pt)
    with box.open(tmp_path / "w.sbx") as r:
        assert r.read() == pt


def test_random_ranges_match_the_plaintext(box: sealbox.Box) -> None:
    rng = random.Random(1)
    pt = rng.randbytes(37 * SEG + 1234)
    reader = box.open(io.BytesIO(encrypt(box, pt)), context=b"ctx")
    for _ in range(150):
        start = rng.randrange(0, len(pt) + 10)
        size = rng.choice([0, 1, 15, SEG - 1, SEG, SEG + 1, 3 * SEG, rng.randrange(0, len(pt))])
        whence = rng.choice([io.SEEK_SET, io.SEEK_CUR, io.SEEK_END])
        base = {io.SEEK_SET: 0, io.SEEK_CUR: reader.tell(), io.SEEK_END: len(pt)}[whence]
        assert reader.seek(start - base, whence) == start
        if rng.random() < 0.5:
            got = reader.read(size)
        else:
            buf = bytearray(size)
            got = bytes(buf[: reader.readinto(buf)])
        assert got == pt[start : start + size]
        assert reader.tell() == start + len(got)
    assert reader.readable() and reader.seekable() and not reader.writable()
    with pytest.raises(ValueError):
        reader.seek(-1)
    reader.close()
    with pytest.raises(ValueError):
        reader.read(1)


def segment(ct: bytes, i: int) -> slice:
    start = header_len(ct) + i * SEALED
    return slice(start, start + SEALED)


def test_a_read_authenticates_only_the_segments_it_touches() -> None:
    box = sealbox.Box(K1)
    pt = os.urandom(20 * SEG)
    ct = bytearray(encrypt(box, pt))
    ct[segment(bytes(ct), 5).start + 100] ^= 1
    r = box.open(io.BytesIO(bytes(ct)), context=b"ctx")
    assert r.read(5 * SEG) == pt[: 5 * SEG]
    r.seek(6 * SEG)
    assert r.read() == pt[6 * SEG :]
    r.seek(5 * SEG + 4000)
    with pytest.raises(DecryptionError):
        r.read(1)
    # A read across it fails whole: no byte of it, nor of its run, is returned.
    buf = bytearray(b"\xaa" * (3 * SEG))
    r.seek(4 * SEG)
    with pytest.raises(DecryptionError):
        r.readinto(buf)
    assert buf == b"\xaa" * (3 * SEG)


def tampered(ct: bytes) -> dict[str, bytes]:
    """Each tamper class of the stream format, on a file of 150 segments."""
    h = header_len(ct)
    segs = [ct[segment(ct, i)] for i in range(150)]
    body_end = len(ct)
    flipped = bytearray(ct)
    flipped[segment(ct, 100).start + 7] ^= 0x40
    tag = bytearray(ct)
    tag[segment(ct, 3).stop - 1] ^= 1
    header = bytearray(ct)
    header[h - 30] ^= 1  # the salt
    swapped = list(segs)
    swapped[70], swapped[71] = swapped[71], swapped[70]
    return {
        "flipped": bytes(flipped),
        "tag": bytes(tag),
        "header": bytes(header),
        "truncated-at-segment": ct[: segment(ct, 149).start],
        "truncated-mid-segment": ct[: segment(ct, 149).start + 100],
        "truncated-in-tag": ct[: body_end - 5],
        "truncated-to-header": ct[:h],
        "extended-segment": ct + segs[10],
        "extended-bytes": ct + b"\x00" * 20,
        "extended-one-byte": ct + b"\x00",
        "reordered": ct[:h] + b"".join(swapped),
        "dropped": ct[:h] + b"".join(segs[:50] + segs[51:]),
        "duplicated": ct[:h] + b"".join(segs[:51] + segs[50:149]),
    }


def test_every_tamper_class_fails_at_the_first_bad_segment(
    box: sealbox.Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sealbox._files, "_RUN_BYTES", 16 * SEG)  # runs of 16 segments
    pt = os.urandom(149 * SEG + 500)
    ct = encrypt(box, pt)
    assert len(tampered(ct)) == 13
    for name, bad in tampered(ct).items():
        out = io.BytesIO()
        with pytest.raises(DecryptionError):
            box.decrypt_file(io.BytesIO(bad), out, context=b"ctx")
        # What was written before the failure is the plaintext of the authenticated
        # segments before the bad one, never more.
        written = out.getvalue()
        assert pt.startswith(written), name
        assert len(written) <= 149 * SEG, name
        if name == "flipped":  # segment 100: the runs before its run (segments 0-95) came out
            assert written == pt[: 96 * SEG]
        with pytest.raises(DecryptionError), box.open(io.BytesIO(bad), context=b"ctx") as r:
            r.read()


def test_splicing_between_files_and_wrong_key_or_context_fail(box: sealbox.Box) -> None:
    pt = os.urandom(10 * SEG)
    a, b = encrypt(box, pt), encrypt(box, pt)
    spliced = a[: segment(a, 4).start] + b[segment(b, 4)] + a[segment(a, 4).stop :]
    header_swap = b[: header_len(b)] + a[header_len(a) :]
    for bad in (spliced, header_swap):
        with pytest.raises(DecryptionError):
            decrypt(box, bad)
    with pytest.raises(DecryptionError):
        decrypt(box, a, context=b"other")
    with pytest.raises(DecryptionError):
        decrypt(box, a, context=None)
    for other in (
        sealbox.Box(os.urandom(32)),
        sealbox.Box(EnvelopeKeyProvider(Keyring({7: os.urandom(32)}))),
    ):
        with pytest.raises(DecryptionError):
            decrypt(other, a)
    # A file of another Box kind, and bytes that are no file at all.
    for bad in (b"", b"\x01\x05", b"\x01\x01" + bytes(200), sealbox.Box(K1).encrypt(b"x" * 100)):
        with pytest.raises(DecryptionError):
            decrypt(box, bad)


def test_an_empty_file_is_authenticated_when_opened() -> None:
    box = sealbox.Box(K1)
    ct = bytearray(encrypt(box, b""))
    ct[-1] ^= 1
    with pytest.raises(DecryptionError):
        box.open(io.BytesIO(bytes(ct)), context=b"ctx")
    with pytest.raises(DecryptionError):
        decrypt(box, bytes(ct))


def test_a_failed_decrypt_file_removes_the_output_path(tmp_path: Path) -> None:
    box = sealbox.Box(K1)
    ct = encrypt(box, os.urandom(200 * SEG))
    (tmp_path / "bad").write_bytes(ct[:-1])
    with pytest.raises(DecryptionError):
        box.decrypt_file(tmp_path / "bad", tmp_path / "out", context=b"ctx")
    assert not (tmp_path / "out").exists()


def test_an_exception_in_a_with_block_leaves_the_file_truncated() -> None:
    box = sealbox.Box(K1)
    out = io.BytesIO()
    with pytest.raises(RuntimeError), box.open(out, "wb", context=b"ctx", segment_size=SEG) as w:
        w.write(os.urandom(300 * SEG))
        raise RuntimeError("stop")
    assert len(out.getvalue()) > 256 * SEALED  # the runs sealed before the error
    with pytest.raises(DecryptionError):
        decrypt(box, out.getvalue())


KILLED_WRITER = """
import os, signal, sys, sealbox
box = sealbox.Box(bytes.fromhex(sys.argv[2]))
w = box.open(sys.argv[1], "wb", context=b"ctx", segment_size=4096)
for i in range(int(sys.argv[3])):
    w.write(os.urandom(1000))
w.flush()
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("writes", [0, 4, 300])
def test_a_killed_writers_file_is_detected_as_truncated(tmp_path: Path, writes: int) -> None:
    path = tmp_path / "killed.sbx"
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(path), K1.hex(), str(writes)], check=False
    )
    assert proc.returncode == -signal.SIGKILL
    assert path.stat().st_size > 0
    with pytest.raises(DecryptionError):
        sealbox.Box(K1).decrypt_file(path, io.BytesIO(), context=b"ctx")


def test_rotate_file_rewraps_the_header_and_keeps_every_segment(tmp_path: Path) -> None:
    old = Keyring({1: K1})
    pt = os.urandom(10 * SEG + 3)
    path = tmp_path / "f.sbx"
    path.write_bytes(encrypt(sealbox.Box(EnvelopeKeyProvider(old)), pt))
    before = path.read_bytes()
    # A new local KEK: the wrap has the same length, the header is rewritten in place.
    ring = Keyring({1: K1, 2: K2}, active=2)
    box = sealbox.Box(EnvelopeKeyProvider(ring))
    assert box.rotate_file(path)
    after = path.read_bytes()
    assert after[header_len(after) :] == before[header_len(before) :]
    assert sealbox._native.stream_header(after[: header_len(after)])[0] == 2
    assert not box.rotate_file(path)
    assert decrypt(sealbox.Box(EnvelopeKeyProvider(Keyring({2: K2}))), after) == pt
    # A provider KEK: a wrap of another length, the segments copied byte for byte.
    kek = CountingKek()
    moved = sealbox.Box(EnvelopeKeyProvider(kek, previous=[ring]))
    assert moved.rotate_file(path)
    last = path.read_bytes()
    assert header_len(last) != header_len(after)
    assert last[header_len(last) :] == before[header_len(before) :]
    assert decrypt(sealbox.Box(EnvelopeKeyProvider(kek)), last) == pt
    assert [p.name for p in tmp_path.iterdir()] == ["f.sbx"]
    # A file whose wrapped key is not its own data key is refused, and left as it was.
    other = encrypt(sealbox.Box(EnvelopeKeyProvider(ring)), pt)
    forged = other[: header_len(other) - 56] + before[header_len(before) - 56 :]
    path.write_bytes(forged)
    with pytest.raises(DecryptionError):
        moved.rotate_file(path)
    assert path.read_bytes() == forged


def test_rotate_file_reencrypts_a_file_under_a_keyring_key(tmp_path: Path) -> None:
    pt = os.urandom(5 * SEG)
    path = tmp_path / "f.sbx"
    path.write_bytes(encrypt(sealbox.Box(Keyring({1: K1})), pt))
    box = sealbox.Box(Keyring({1: K1, 2: K2}, active=2))
    with pytest.raises(DecryptionError):
        box.rotate_file(path, context=b"wrong")
    assert box.rotate_file(path, context=b"ctx")
    assert not box.rotate_file(path, context=b"ctx")
    assert decrypt(sealbox.Box(Keyring({2: K2})), path.read_bytes()) == pt
    with pytest.raises(DecryptionError):
        sealbox.Box(Keyring({9: K2})).rotate_file(path)
    assert [p.name for p in tmp_path.iterdir()] == ["f.sbx"]


def test_misuse_is_a_type_or_value_error(tmp_path: Path) -> None:
    box = sealbox.Box(K1)
    with pytest.raises(ValueError, match="mode"):
        box.open(io.BytesIO(), "r")  # type: ignore[call-overload]
    for bad in (1000, 2048, 1 << 25, 65535):
        with pytest.raises(ValueError, match="segment_size"):
            box.encrypt_file(io.BytesIO(b"x"), io.BytesIO(), segment_size=bad)
    with pytest.raises(TypeError):
        box.encrypt_file(io.BytesIO(b"x"), io.BytesIO(), segment_size=True)

    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

    with pytest.raises(ValueError, match="seekable"):
        box.open(Pipe())
    w = box.open(io.BytesIO(), "wb")
    w.close()
    with pytest.raises(ValueError):
        w.write(b"x")
    with pytest.raises(TypeError):
        box.encrypt_file(io.BytesIO(b"x"), io.BytesIO(), context=1)  # type: ignore[arg-type]
    cipher = box._stream_create(SEG, None)[1]
    with pytest.raises(TypeError, match="pickle"):
        __import__("pickle").dumps(cipher)
    assert "key" not in repr(cipher).lower() or "segment_size" in repr(cipher)
