"""Files: the segmented stream format, Box.encrypt_file / decrypt_file / open / rotate_file."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import threading
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


class Files:
    """``encrypt_file`` and ``decrypt_file`` over file objects (the Python loop), or
    over paths (read and written by the core itself)."""

    def __init__(self, paths: bool, directory: Path) -> None:
        self.paths = paths
        self.directory = directory

    def encrypt(
        self, box: sealbox.Box, pt: bytes, context: bytes | None = b"ctx", segment_size: int = SEG
    ) -> bytes:
        if not self.paths:
            return encrypt(box, pt, context, segment_size)
        src, dst = self.directory / "plain", self.directory / "sealed"
        src.write_bytes(pt)
        box.encrypt_file(src, dst, context=context, segment_size=segment_size)
        return dst.read_bytes()

    def decrypt(self, box: sealbox.Box, ct: bytes, context: bytes | None = b"ctx") -> bytes:
        """The plaintext; on a failure, a path output is checked to be gone."""
        if not self.paths:
            return decrypt(box, ct, context)
        src, dst = self.directory / "sealed", self.directory / "opened"
        src.write_bytes(ct)
        dst.unlink(missing_ok=True)
        try:
            box.decrypt_file(str(src), str(dst), context=context)
        except BaseException:
            assert not dst.exists()
            raise
        return dst.read_bytes()


@pytest.fixture(params=[False, True], ids=["file-objects", "paths"])
def files(request: pytest.FixtureRequest, tmp_path: Path) -> Files:
    return Files(request.param, tmp_path)


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
def test_round_trip_at_segment_edges(box: sealbox.Box, files: Files, size: int) -> None:
    pt = random.Random(size).randbytes(size)
    ct = files.encrypt(box, pt)
    segments = max(1, -(-size // SEG))
    assert len(ct) == header_len(ct) + size + 16 * segments
    assert files.decrypt(box, ct) == pt
    # Each way opens what the other wrote.
    other = Files(not files.paths, files.directory)
    assert other.decrypt(box, ct) == pt
    assert files.decrypt(box, other.encrypt(box, pt)) == pt
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
    check_random_reads(reader, pt, rng)
    assert reader.readable() and reader.seekable() and not reader.writable()
    with pytest.raises(ValueError):
        reader.seek(-1)
    reader.close()
    with pytest.raises(ValueError):
        reader.read(1)


def check_random_reads(reader: sealbox.EncryptedReader, pt: bytes, rng: random.Random) -> None:
    """Seeks (every whence) and reads (read and readinto) of random ranges, against the plaintext."""
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


def written_by_a_failed_decrypt(files: Files, box: sealbox.Box, ct: bytes) -> bytes:
    """What ``decrypt_file`` wrote before it raised DecryptionError. A path output is
    removed on a failure, so the core's output is a named pipe here, read as it is written."""
    if not files.paths:
        out = io.BytesIO()
        with pytest.raises(DecryptionError):
            box.decrypt_file(io.BytesIO(ct), out, context=b"ctx")
        return out.getvalue()
    src, fifo = files.directory / "sealed", files.directory / "pipe"
    src.write_bytes(ct)
    if not fifo.exists():
        os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    keep_open = os.open(fifo, os.O_WRONLY)  # no end of file before the core opens the pipe
    os.set_blocking(reader, True)
    chunks: list[bytes] = []

    def drain() -> None:
        while chunk := os.read(reader, 1 << 16):
            chunks.append(chunk)

    thread = threading.Thread(target=drain)
    thread.start()
    try:
        with pytest.raises(DecryptionError):
            box.decrypt_file(src, fifo, context=b"ctx")
    finally:
        os.close(keep_open)
        thread.join()
        os.close(reader)
    assert fifo.exists()  # not a regular file: left in place
    return b"".join(chunks)


def test_every_tamper_class_fails_at_the_first_bad_segment(
    box: sealbox.Box, files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sealbox._files, "_RUN_BYTES", 16 * SEG)  # runs of 16 segments
    pt = os.urandom(149 * SEG + 500)
    ct = files.encrypt(box, pt)
    assert len(tampered(ct)) == 13
    for name, bad in tampered(ct).items():
        with pytest.raises(DecryptionError):
            files.decrypt(box, bad)
        # What was written before the failure is the plaintext of the authenticated
        # segments before the bad one, never more.
        written = written_by_a_failed_decrypt(files, box, bad)
        assert pt.startswith(written), name
        assert len(written) <= 149 * SEG, name
        if name == "flipped":  # segment 100: the runs before its run (segments 0-95) came out
            assert written == pt[: 96 * SEG]
        with pytest.raises(DecryptionError), box.open(io.BytesIO(bad), context=b"ctx") as r:
            r.read()


def test_splicing_between_files_and_wrong_key_or_context_fail(box: sealbox.Box, files: Files) -> None:
    pt = os.urandom(10 * SEG)
    a, b = files.encrypt(box, pt), files.encrypt(box, pt)
    spliced = a[: segment(a, 4).start] + b[segment(b, 4)] + a[segment(a, 4).stop :]
    header_swap = b[: header_len(b)] + a[header_len(a) :]
    for bad in (spliced, header_swap):
        with pytest.raises(DecryptionError):
            files.decrypt(box, bad)
    with pytest.raises(DecryptionError):
        files.decrypt(box, a, context=b"other")
    with pytest.raises(DecryptionError):
        files.decrypt(box, a, context=None)
    for other in (
        sealbox.Box(os.urandom(32)),
        sealbox.Box(EnvelopeKeyProvider(Keyring({7: os.urandom(32)}))),
    ):
        with pytest.raises(DecryptionError):
            files.decrypt(other, a)
    # A file of another Box kind, and bytes that are no file at all.
    for bad in (b"", b"\x01\x05", b"\x01\x01" + bytes(200), sealbox.Box(K1).encrypt(b"x" * 100)):
        with pytest.raises(DecryptionError):
            files.decrypt(box, bad)


def test_an_empty_file_is_authenticated_when_opened(files: Files) -> None:
    box = sealbox.Box(K1)
    ct = bytearray(files.encrypt(box, b""))
    ct[-1] ^= 1
    with pytest.raises(DecryptionError):
        box.open(io.BytesIO(bytes(ct)), context=b"ctx")
    with pytest.raises(DecryptionError):
        files.decrypt(box, bytes(ct))


def test_a_failed_decrypt_file_removes_the_output_path(tmp_path: Path) -> None:
    box = sealbox.Box(K1)
    ct = encrypt(box, os.urandom(200 * SEG))
    (tmp_path / "bad").write_bytes(ct[:-1])
    with pytest.raises(DecryptionError):
        box.decrypt_file(tmp_path / "bad", tmp_path / "out", context=b"ctx")
    assert not (tmp_path / "out").exists()


def test_paths_give_the_bytes_of_sealing_run_by_run(tmp_path: Path) -> None:
    box = sealbox.Box(K1)
    header, cipher = box._stream_create(SEG, b"ctx")
    pt = os.urandom(70 * SEG + 5)
    (tmp_path / "plain").write_bytes(pt)
    cipher.process_file(tmp_path / "plain", str(tmp_path / "sealed"), header, 16, True)
    runs = [cipher.seal(i, pt[i * SEG : (i + 16) * SEG], i + 16 > 70) for i in range(0, 71, 16)]
    assert (tmp_path / "sealed").read_bytes() == header + b"".join(runs)
    for per_run in (1, 3, 64, 1000):
        cipher.process_file(tmp_path / "sealed", tmp_path / "back", header, per_run, False)
        assert (tmp_path / "back").read_bytes() == pt
    # A file that does not start with the header the cipher was opened with: refused
    # before the output is opened.
    other = box._stream_create(SEG, b"ctx")[0]
    with pytest.raises(DecryptionError):
        cipher.process_file(tmp_path / "sealed", tmp_path / "back", other, 16, False)
    assert (tmp_path / "back").read_bytes() == pt
    with pytest.raises(ValueError):
        cipher.process_file(tmp_path / "plain", tmp_path / "sealed", header, 0, True)


def test_io_errors_are_os_errors_that_name_the_path(tmp_path: Path) -> None:
    box = sealbox.Box(K1)
    missing, out = tmp_path / "missing", tmp_path / "out"
    out.write_bytes(b"kept")
    for call in (box.encrypt_file, box.decrypt_file):
        with pytest.raises(FileNotFoundError) as e:
            call(missing, out, context=b"ctx")
        assert str(e.value.filename) == str(missing)
        assert out.read_bytes() == b"kept"  # an output is not touched before its input opens
    (tmp_path / "plain").write_bytes(b"x" * 10_000)
    with pytest.raises(IsADirectoryError) as e:
        box.encrypt_file(tmp_path / "plain", tmp_path, context=b"ctx")
    assert str(tmp_path) in str(e.value)
    box.encrypt_file(tmp_path / "plain", tmp_path / "sealed", context=b"ctx")
    with pytest.raises(IsADirectoryError):
        box.decrypt_file(tmp_path / "sealed", tmp_path, context=b"ctx")
    # The output is the input (or a hard link to it): refused before it is truncated.
    os.link(tmp_path / "plain", tmp_path / "link")
    cases = ((box.encrypt_file, "plain", "plain"), (box.encrypt_file, "plain", "link"))
    for call, src, dst in (*cases, (box.decrypt_file, "sealed", "sealed")):
        before = (tmp_path / src).read_bytes()
        with pytest.raises(ValueError, match="same file"):
            call(tmp_path / src, str(tmp_path / dst), context=b"ctx")
        assert (tmp_path / src).read_bytes() == before


class Stop(Exception):
    pass


def test_a_signal_stops_a_long_encrypt_file_and_its_output_is_removed(tmp_path: Path) -> None:
    """The core checks for signals between steps: a handler's exception stops the job.
    The input is a named pipe that never ends, so only the signal can stop it."""
    box = sealbox.Box(K1)
    fifo, out = tmp_path / "in", tmp_path / "out.sbx"
    os.mkfifo(fifo)
    main = threading.get_ident()
    fed = [0]

    def feed() -> None:
        block = os.urandom(1 << 16)
        try:
            with open(fifo, "wb", buffering=0) as w:
                while True:
                    w.write(block)
                    fed[0] += len(block)
                    if fed[0] == 8 << 20:
                        signal.pthread_kill(main, signal.SIGUSR1)
        except BrokenPipeError:
            pass  # the job stopped and closed the pipe

    def stop(signum: int, frame: object) -> None:
        raise Stop

    previous = signal.signal(signal.SIGUSR1, stop)
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        with pytest.raises(Stop):
            box.encrypt_file(fifo, out, context=b"ctx")
    finally:
        signal.signal(signal.SIGUSR1, previous)
        feeder.join(timeout=30)
    assert not feeder.is_alive()
    assert fed[0] >= 8 << 20
    assert not out.exists()


def test_fsspec_file_objects(tmp_path: Path) -> None:
    fsspec = pytest.importorskip("fsspec")
    box = sealbox.Box(EnvelopeKeyProvider(Keyring({7: K1})))
    rng = random.Random(3)
    pt = rng.randbytes(37 * SEG + 1234)
    memory_dir = f"/sealbox-files-{os.getpid()}"
    for fs, base in ((fsspec.filesystem("memory"), memory_dir), (fsspec.filesystem("file"), str(tmp_path))):
        # encrypt_file / decrypt_file from and to fsspec files.
        with fs.open(f"{base}/plain", "wb") as f:
            f.write(pt)
        with fs.open(f"{base}/plain", "rb") as fin, fs.open(f"{base}/a.sbx", "wb") as fout:
            box.encrypt_file(fin, fout, context=b"ctx", segment_size=SEG)
        with fs.open(f"{base}/a.sbx", "rb") as fin, fs.open(f"{base}/back", "wb") as fout:
            box.decrypt_file(fin, fout, context=b"ctx")
        assert fs.cat_file(f"{base}/back") == pt
        # box.open: a reader's random ranges, and a writer.
        with fs.open(f"{base}/a.sbx", "rb") as f, box.open(f, context=b"ctx") as r:
            assert r.length == len(pt)
            check_random_reads(r, pt, rng)
        with fs.open(f"{base}/w.sbx", "wb") as f, box.open(f, "wb", context=b"ctx", segment_size=SEG) as w:
            for i in range(0, len(pt), 5000):
                w.write(pt[i : i + 5000])
        with fs.open(f"{base}/w.sbx", "rb") as f, box.open(f, context=b"ctx") as r:
            assert r.read() == pt
        # A tampered fsspec file fails like any other.
        ct = bytearray(fs.cat_file(f"{base}/w.sbx"))
        ct[segment(bytes(ct), 20).start] ^= 1
        fs.pipe_file(f"{base}/bad.sbx", bytes(ct))
        with fs.open(f"{base}/bad.sbx", "rb") as f, box.open(f, context=b"ctx") as r:
            assert r.read(20 * SEG) == pt[: 20 * SEG]
            with pytest.raises(DecryptionError):
                r.read(1)
        with fs.open(f"{base}/bad.sbx", "rb") as f, pytest.raises(DecryptionError):
            box.decrypt_file(f, io.BytesIO(), context=b"ctx")
    fsspec.filesystem("memory").rm(memory_dir, recursive=True)


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
