"""Files: the segmented stream format (docs/files.md, docs/format.md "Files").

The Rust core seals and opens runs of segments; this module reads and writes the
file objects: paths, or any binary file object (seekable for reading).
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any, Protocol, Union

from sealbox import _native
from sealbox._errors import DecryptionError

if TYPE_CHECKING:
    from sealbox._native import StreamCipher

__all__ = ["DEFAULT_SEGMENT_SIZE", "EncryptedReader", "EncryptedWriter", "FileKeys", "Source", "Target"]

#: The plaintext bytes of every segment but the last, unless a file's header says otherwise.
DEFAULT_SEGMENT_SIZE = 64 * 1024
# A file is read, sealed and written about this many bytes at a time: small enough
# to stay in cache and in memory the allocator reuses (1 MiB runs were a third
# slower on tmpfs, benches/files.py).
_RUN_BYTES = 256 << 10
_TAG = 16
_FIXED = 10

#: A path, or a binary file object.
Source = Union[str, "os.PathLike[str]", IO[bytes]]
Target = Source


class FileKeys(Protocol):
    """How a Box makes and opens the key of one file."""

    def create(self, segment_size: int, context: Any) -> tuple[bytes, StreamCipher]: ...
    def open(self, header: bytes, context: Any) -> StreamCipher: ...
    def rotated_header(self, header: bytes) -> bytes | None:
        """The header under the active key (re-wrapped), or None when the file must
        be re-encrypted; the header itself when it is current."""
        ...


def _run(segment_size: int) -> int:
    """Segments per native call."""
    return max(1, _RUN_BYTES // segment_size)


def _is_path(obj: Any) -> bool:
    return isinstance(obj, (str, os.PathLike))


def _read_full(f: IO[bytes], n: int) -> bytes:
    """Up to ``n`` bytes, fewer only at the end of the file (raw files may return short reads)."""
    data = f.read(n)
    if data is None:
        raise ValueError("the file object is non-blocking and has no data ready")
    if len(data) == n or not data:
        return bytes(data)
    parts = [data]
    got = len(data)
    while got < n:
        more = f.read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _check_segment_size(segment_size: int) -> int:
    if isinstance(segment_size, bool) or not isinstance(segment_size, int):
        raise TypeError("segment_size must be an int")
    if segment_size & (segment_size - 1) or not 4096 <= segment_size <= 1 << 24:
        raise ValueError(f"segment_size must be a power of two from 4096 to 16777216, not {segment_size}")
    return segment_size


def read_header(f: IO[bytes]) -> bytes:
    """The stream header at the file's current position (DecryptionError if there is none)."""
    prefix = _read_full(f, _FIXED)
    n = _native.stream_header_len(prefix)
    header = prefix + _read_full(f, n - _FIXED)
    if len(header) != n:
        raise DecryptionError("decryption failed")
    return header


class EncryptedReader(io.RawIOBase):
    """A read-only, seekable file of the plaintext of an encrypted file.

    Each read opens (authenticates and decrypts) only the segments it touches;
    a segment that does not authenticate raises DecryptionError, and no byte of
    it is returned.
    """

    def __init__(self, raw: IO[bytes], keys: FileKeys, context: Any, *, owns: bool = False) -> None:
        super().__init__()
        self._raw = raw
        self._owns = owns
        try:
            if not raw.seekable():
                raise ValueError("reading an encrypted file needs a seekable file object")
            self._base = raw.tell()
            self._header = read_header(raw)
            self._cipher = keys.open(self._header, context)
            self._segment = self._cipher.segment_size
            end = raw.seek(0, io.SEEK_END)
            body = end - self._base - len(self._header)
            self._segments, self._length = _native.stream_layout(max(body, 0), self._segment)
            self._pos = 0
            self._run_first = -1
            self._run = b""
            if self._length == 0:
                # An empty file's one (empty) segment is authenticated now: no read touches it.
                self._load(0, 1)
        except BaseException:
            if owns:
                raw.close()
            raise

    # The decrypted run of segments last read: [first, first + len(run)).
    def _load(self, first: int, count: int) -> None:
        sealed = self._segment + _TAG
        count = max(1, min(count, self._segments - first))
        self._raw.seek(self._base + len(self._header) + first * sealed)
        data = _read_full(self._raw, count * sealed)
        last = first + count == self._segments
        self._run_first, self._run = -1, b""
        self._run = self._cipher.open(first, data, last)
        self._run_first = first

    def runs(self) -> Iterator[bytes]:
        """The plaintext from the current position to the end, a run of segments at a time."""
        self._check_open()
        while self._pos < self._length:
            first = self._pos // self._segment
            self._load(first, _run(self._segment))
            start = self._pos - first * self._segment
            chunk = self._run[start:] if start else self._run
            self._pos += len(chunk)
            yield chunk

    def readinto(self, buffer: Any) -> int:
        self._check_open()
        view = memoryview(buffer).cast("B")
        n = min(len(view), self._length - self._pos)
        if n <= 0:
            return 0
        done = 0
        while done < n:
            pos = self._pos + done
            start = self._run_first * self._segment
            if self._run_first < 0 or not start <= pos < start + len(self._run):
                # Only the segments this read touches (at most a run of them).
                first, end = pos // self._segment, (self._pos + n - 1) // self._segment
                self._load(first, min(_run(self._segment), end - first + 1))
                start = first * self._segment
            offset = pos - start
            take = min(n - done, len(self._run) - offset)
            view[done : done + take] = self._run[offset : offset + take]
            done += take
        self._pos += n
        return n

    def readall(self) -> bytes:
        return b"".join(self.runs())

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._length + offset
        else:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def tell(self) -> int:
        self._check_open()
        return self._pos

    @property
    def length(self) -> int:
        """The plaintext length (from the file's size; a truncated file fails when read)."""
        return int(self._length)

    def close(self) -> None:
        if not self.closed:
            self._run = b""
            if self._owns:
                self._raw.close()
        super().close()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file.")

    def __repr__(self) -> str:
        return f"<sealbox EncryptedReader length={self._length} segment_size={self._segment}>"


class EncryptedWriter(io.RawIOBase):
    """A write-only file whose bytes are encrypted into the segmented format.

    ``close()`` writes the last segment; until then the file reads as truncated.
    Leaving a ``with`` block on an exception does not: the file stays truncated,
    and fails to decrypt, rather than ending where the error struck.
    """

    def __init__(
        self, raw: IO[bytes], keys: FileKeys, context: Any, segment_size: int, *, owns: bool = False
    ) -> None:
        super().__init__()
        self._raw = raw
        self._owns = owns
        try:
            header, self._cipher = keys.create(_check_segment_size(segment_size), context)
            raw.write(header)
        except BaseException:
            if owns:
                raw.close()
            raise
        self._segments_per_run = _run(segment_size)
        self._run = self._segments_per_run * segment_size
        self._buf = bytearray()
        self._index = 0
        self._abandoned = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        view = memoryview(data).cast("B")
        self._buf += view
        # Keep at least one byte back: only close() knows which segment is the last.
        while len(self._buf) > self._run:
            chunk = bytes(self._buf[: self._run])
            del self._buf[: self._run]
            self._raw.write(self._cipher.seal(self._index, chunk, False))
            self._index += self._segments_per_run
        return len(view)

    def flush(self) -> None:
        """Flush the sealed segments to the file (the bytes of the segment being
        filled stay here until it is full, or the file is closed)."""
        if not self.closed and not self._raw.closed:
            self._raw.flush()

    def close(self) -> None:
        if self.closed:
            return
        try:
            if not self._abandoned:
                self._raw.write(self._cipher.seal(self._index, bytes(self._buf), True))
                self._raw.flush()
        finally:
            self._buf = bytearray()
            if self._owns:
                self._raw.close()
            super().close()

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is not None:
            self._abandoned = True
        self.close()

    def __repr__(self) -> str:
        return f"<sealbox EncryptedWriter segment_size={self._cipher.segment_size}>"


def open_file(keys: FileKeys, file: Source, mode: str, context: Any, segment_size: int) -> Any:
    if mode not in ("rb", "wb"):
        raise ValueError(f"mode must be 'rb' or 'wb', not {mode!r}")
    owns = _is_path(file)
    raw: IO[bytes] = open(file, mode) if owns else file  # type: ignore[arg-type,assignment]  # noqa: SIM115
    if mode == "rb":
        return EncryptedReader(raw, keys, context, owns=owns)
    return EncryptedWriter(raw, keys, context, segment_size, owns=owns)


@contextlib.contextmanager
def _output(dst: Target) -> Iterator[IO[bytes]]:
    """``dst`` opened for writing; a path written by a failed call is removed."""
    if not _is_path(dst):
        yield dst  # type: ignore[misc]
        return
    f = open(dst, "wb")  # type: ignore[arg-type]  # noqa: SIM115
    try:
        with f:
            yield f
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(dst)  # type: ignore[arg-type]
        raise


@contextlib.contextmanager
def _input(src: Source) -> Iterator[IO[bytes]]:
    if not _is_path(src):
        yield src  # type: ignore[misc]
        return
    with open(src, "rb") as f:  # type: ignore[arg-type]
        yield f


def _native_paths(src: Source, dst: Target) -> bool:
    """Whether the core reads and writes the files itself (both are paths)."""
    return _is_path(src) and _is_path(dst)


def encrypt_file(keys: FileKeys, src: Source, dst: Target, context: Any, segment_size: int) -> None:
    per_run = _run(_check_segment_size(segment_size))
    if _native_paths(src, dst):
        # Path to path: read, sealed and written by the core, the GIL released
        # (removes ``dst`` on failure).
        header, cipher = keys.create(segment_size, context)
        cipher.process_file(src, dst, header, per_run, True)  # type: ignore[arg-type]
        return
    run = per_run * segment_size
    with _input(src) as fin, _output(dst) as fout:
        header, cipher = keys.create(segment_size, context)
        fout.write(header)
        index = 0
        pending = _read_full(fin, run)
        while True:
            following = _read_full(fin, run) if len(pending) == run else b""
            fout.write(cipher.seal(index, pending, not following))
            if not following:
                break
            index += per_run
            pending = following
        fout.flush()


def decrypt_file(keys: FileKeys, src: Source, dst: Target, context: Any) -> None:
    """Sequential: ``src`` need not be seekable (a pipe, stdin); each run of segments is
    written once it authenticated, the last one checked as the file's last."""
    with _input(src) as fin:
        header = read_header(fin)
        cipher = keys.open(header, context)
        per_run = _run(cipher.segment_size)
        if _native_paths(src, dst) and stat.S_ISREG(os.fstat(fin.fileno()).st_mode):
            # A regular file (read again from the start, so not a pipe): as in encrypt_file.
            cipher.process_file(src, dst, header, per_run, False)  # type: ignore[arg-type]
            return
        run = per_run * (cipher.segment_size + _TAG)
        with _output(dst) as fout:
            index = 0
            pending = _read_full(fin, run)
            while True:
                following = _read_full(fin, run) if len(pending) == run else b""
                fout.write(cipher.open(index, pending, not following))
                if not following:
                    break
                index += per_run
                pending = following
            fout.flush()


def rotate_file(keys: FileKeys, path: str | os.PathLike[str], context: Any) -> bool:
    """Move the file at ``path`` to the active key; whether it changed."""
    with open(path, "rb") as f:
        header = read_header(f)
        new = keys.rotated_header(header)
    if new == header:
        return False
    import tempfile  # here: importing it at import time needs os.register_at_fork (random)

    directory = os.path.dirname(os.path.abspath(path))
    if new is not None and len(new) == len(header):
        # The same length: overwrite the header in place; the segments stay as they are.
        with open(path, "r+b") as f:
            f.write(new)
            f.flush()
            os.fsync(f.fileno())
        return True
    fd, tmp = tempfile.mkstemp(prefix=".sealbox-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out, open(path, "rb") as f:
            if new is not None:
                # A header of another length: copy the segments after it, byte for byte.
                f.seek(len(header))
                out.write(new)
                while chunk := f.read(_RUN_BYTES):
                    out.write(chunk)
            else:
                reader = EncryptedReader(f, keys, context)
                writer = EncryptedWriter(out, keys, context, reader._segment)
                for chunk in reader.runs():
                    writer.write(chunk)
                writer.close()
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return True


def inspect_header(header: bytes) -> dict[str, Any]:
    key_id, mode, segment_size, wrapped = _native.stream_header(header)
    return {
        "version": 1,
        "suite": "stream",
        "key_id": key_id,
        "mode": mode,
        "segment_size": segment_size,
        "header_length": len(header),
        "wrapped_key_length": len(wrapped),
    }
