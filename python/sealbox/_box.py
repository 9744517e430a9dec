"""Box: encrypt and decrypt values."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar, overload

from sealbox import _arrow, _files, _native, audit
from sealbox._envelope import ITEM_ERRORS, DataKeyCache, EnvelopeKeyProvider, _Keys, _name
from sealbox._errors import DECRYPTION_FAILED, DecryptionError
from sealbox._files import DEFAULT_SEGMENT_SIZE, EncryptedReader, EncryptedWriter, FileKeys, Source, Target
from sealbox._keyring import Keyring
from sealbox._public import NEEDS_PRIVATE_KEY, PrivateKey, PublicKey, encrypt_only

if TYPE_CHECKING:
    from sealbox._native import _Buffer as Buffer

    Contexts = Sequence[Buffer | str] | Buffer | str | None

__all__ = ["ArrowArray", "ArrowColumn", "Box", "EnvelopeBox", "LocalBox"]

_M = TypeVar("_M", bytes, str)

Algorithm = Literal["aes-256-gcm", "xchacha20-poly1305", "aes-256-siv"]
Errors = Literal["raise", "return"]
Mode = Literal["auto", "reencrypt"]


class _ArrowArrayExportable(Protocol):
    def __arrow_c_array__(self, requested_schema: Any = None) -> tuple[Any, Any]: ...


class _ArrowStreamExportable(Protocol):
    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any: ...


#: What a batch takes as an Arrow column: a pyarrow ``Array`` or ``ChunkedArray``, or
#: anything that exports the Arrow C data interface (polars, DuckDB, nanoarrow).
ArrowColumn = _ArrowArrayExportable | _ArrowStreamExportable


class ArrowArray(Protocol):
    """What a batch returns for an Arrow column: a pyarrow ``Array`` (or ``ChunkedArray``
    for a chunked or streamed input) of binary, large_binary, string or large_string."""

    def __len__(self) -> int: ...
    def to_pylist(self) -> list[Any]: ...
    @property
    def null_count(self) -> int: ...
    @property
    def type(self) -> Any: ...


class Box(Generic[_M]):
    """Encrypts and decrypts values with a key, a :class:`Keyring` or an
    :class:`~sealbox.EnvelopeKeyProvider`.

    ``Box(key)`` uses the default suite, AES-256-GCM with a per-message subkey
    and a key commitment; ``algorithm="xchacha20-poly1305"`` selects
    XChaCha20-Poly1305, and ``deterministic=True`` AES-256-SIV, whose equal
    inputs give equal messages (for lookups). ``encoding="text"`` returns
    URL-safe text (``str``) instead of ``bytes``; ``decrypt`` accepts both forms,
    unless ``strict_encoding=True``: then a message in the other encoding fails
    like a tampered one (so a unique index on a column of deterministic messages
    sees one form of each value).
    ``Box(EnvelopeKeyProvider(kek))`` gives an :class:`EnvelopeBox`.

    A bare 32-byte key has key id 0. A Box is immutable and safe to share
    between threads; it cannot be pickled.

    Batches (``encrypt_batch``, ``decrypt_batch``, ``rotate_batch``) take a list
    and return a list, or take an Arrow column (binary or large_binary, or
    string for text messages) and return a pyarrow array of the same width,
    with no Python object per row; nulls stay null.
    """

    __slots__ = ()

    if TYPE_CHECKING:

        @overload
        def __new__(
            cls,
            key: EnvelopeKeyProvider | PublicKey | PrivateKey,
            *,
            encoding: Literal["binary"] = "binary",
            strict_encoding: bool = False,
        ) -> EnvelopeBox[bytes]: ...

        @overload
        def __new__(
            cls,
            key: EnvelopeKeyProvider | PublicKey | PrivateKey,
            *,
            encoding: Literal["text"],
            strict_encoding: bool = False,
        ) -> EnvelopeBox[str]: ...

        @overload
        def __new__(
            cls,
            key: Buffer | str | Keyring,
            *,
            algorithm: Algorithm | None = None,
            deterministic: bool = False,
            encoding: Literal["binary"] = "binary",
            strict_encoding: bool = False,
        ) -> Box[bytes]: ...

        @overload
        def __new__(
            cls,
            key: Buffer | str | Keyring,
            *,
            algorithm: Algorithm | None = None,
            deterministic: bool = False,
            encoding: Literal["text"],
            strict_encoding: bool = False,
        ) -> Box[str]: ...

        def __new__(cls, key: Any, **options: Any) -> Any: ...

    else:

        def __new__(cls, key: Any, **options: Any) -> Any:
            if cls is not Box and cls is not EnvelopeBox:
                raise TypeError(
                    f"{cls.__name__} subclasses sealbox.Box, which only chooses the Box for a key: "
                    "subclass sealbox.LocalBox (a Box over a key or Keyring) instead"
                )
            if isinstance(key, (PublicKey, PrivateKey)):
                # An envelope Box whose KEK is the key pair; a DataKeyCache so that a batch
                # (and a run of values) pays one HPKE encapsulation per data key, not per value.
                key = EnvelopeKeyProvider(key, cache=DataKeyCache())
            if isinstance(key, EnvelopeKeyProvider):
                if options.get("algorithm") is not None or options.get("deterministic"):
                    raise ValueError(
                        "envelope messages use aes-256-gcm under each data key; algorithm and "
                        "deterministic do not apply"
                    )
                unknown = set(options) - {"algorithm", "deterministic", "encoding", "strict_encoding"}
                if unknown:
                    raise TypeError(f"Box() got an unexpected keyword argument {sorted(unknown)[0]!r}")
                return EnvelopeBox._over(
                    key, options.get("encoding", "binary"), bool(options.get("strict_encoding", False))
                )
            if "envelope" in options:
                raise TypeError("Box() got an unexpected keyword argument 'envelope'")
            return LocalBox(key, **options)

    def encrypt(self, data: Buffer, *, context: Buffer | str | None = None) -> _M:
        """Encrypt ``data``, binding ``context`` (authenticated, not stored)."""
        raise NotImplementedError

    def decrypt(self, message: Buffer | str, *, context: Buffer | str | None = None) -> bytes:
        """Decrypt a message in either encoding; raise DecryptionError on any failure."""
        raise NotImplementedError

    def lookup_values(self, data: Buffer, *, context: Buffer | str | None = None) -> list[_M]:
        """The deterministic message under every key of the ring, active first."""
        raise NotImplementedError

    def needs_rotation(self, message: Buffer | str) -> bool:
        """Whether the message is under another key or algorithm than this Box's."""
        raise NotImplementedError

    # Files (docs/files.md): the segmented stream format, the same for every Box.

    def encrypt_file(
        self,
        src: Source,
        dst: Target,
        *,
        context: Buffer | str | None = None,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
    ) -> None:
        """Encrypt the file ``src`` (a path or a binary file object) into ``dst``, in
        constant memory. A path ``dst`` written by a call that fails is removed."""
        _files.encrypt_file(self._file_keys(), src, dst, context, segment_size)

    def decrypt_file(self, src: Source, dst: Target, *, context: Buffer | str | None = None) -> None:
        """Decrypt the encrypted file ``src`` (a path or a seekable binary file object)
        into ``dst``. DecryptionError at the first segment that does not authenticate;
        a path ``dst`` is then removed (a file object keeps the authenticated segments
        before it)."""
        _files.decrypt_file(self._file_keys(), src, dst, context)

    @overload
    def open(
        self,
        file: Source,
        mode: Literal["rb"] = "rb",
        *,
        context: Buffer | str | None = None,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
    ) -> EncryptedReader: ...

    @overload
    def open(
        self,
        file: Source,
        mode: Literal["wb"],
        *,
        context: Buffer | str | None = None,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
    ) -> EncryptedWriter: ...

    def open(
        self,
        file: Source,
        mode: str = "rb",
        *,
        context: Buffer | str | None = None,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
    ) -> EncryptedReader | EncryptedWriter:
        """An encrypted file as a file object: ``"rb"`` reads (and seeks) its plaintext,
        authenticating only the segments each read touches; ``"wb"`` encrypts what is
        written, and ``close()`` (or the end of a ``with`` block) ends the file."""
        result: EncryptedReader | EncryptedWriter = _files.open_file(
            self._file_keys(), file, mode, context, segment_size
        )
        return result

    def rotate_file(self, path: str | os.PathLike[str], *, context: Buffer | str | None = None) -> bool:
        """Move the file at ``path`` to the active key; return whether it changed.
        A file with a wrapped data key (an envelope Box) gets a new header only, its
        segments untouched; a file under a keyring key is re-encrypted (which needs
        its ``context``) into a temporary file that then replaces it."""
        return _files.rotate_file(self._file_keys(), path, context)

    def _file_keys(self) -> FileKeys:
        raise NotImplementedError

    @overload
    def encrypt_batch(
        self,
        values: Sequence[Buffer],
        contexts: Contexts = None,
        *,
        errors: Literal["raise"] = "raise",
        threads: int | None = None,
    ) -> list[_M]: ...
    @overload
    def encrypt_batch(
        self,
        values: Sequence[Buffer],
        contexts: Contexts = None,
        *,
        errors: Errors,
        threads: int | None = None,
    ) -> list[_M | None]: ...
    @overload
    def encrypt_batch(
        self,
        values: ArrowColumn,
        contexts: Contexts = None,
        *,
        errors: Errors = "raise",
        threads: int | None = None,
    ) -> ArrowArray: ...
    def encrypt_batch(
        self, values: Any, contexts: Any = None, *, errors: Errors = "raise", threads: int | None = None
    ) -> Any:
        """Encrypt every value; ``contexts`` is None, one for all, or one per value."""
        raise NotImplementedError

    @overload
    def decrypt_batch(
        self,
        messages: Sequence[Buffer | str],
        contexts: Contexts = None,
        *,
        errors: Literal["raise"] = "raise",
        threads: int | None = None,
    ) -> list[bytes]: ...
    @overload
    def decrypt_batch(
        self,
        messages: Sequence[Buffer | str],
        contexts: Contexts = None,
        *,
        errors: Errors,
        threads: int | None = None,
    ) -> list[bytes | None]: ...
    @overload
    def decrypt_batch(
        self,
        messages: ArrowColumn,
        contexts: Contexts = None,
        *,
        errors: Errors = "raise",
        threads: int | None = None,
    ) -> ArrowArray: ...
    def decrypt_batch(
        self, messages: Any, contexts: Any = None, *, errors: Errors = "raise", threads: int | None = None
    ) -> Any:
        """Decrypt every message. With ``errors="return"`` failed items are None (null)."""
        raise NotImplementedError

    @overload
    def rotate_batch(
        self,
        messages: Sequence[Buffer | str],
        contexts: Contexts = None,
        mode: Mode = "auto",
        *,
        errors: Literal["raise"] = "raise",
        threads: int | None = None,
        repeatable: bool = False,
    ) -> list[_M]: ...
    @overload
    def rotate_batch(
        self,
        messages: Sequence[Buffer | str],
        contexts: Contexts = None,
        mode: Mode = "auto",
        *,
        errors: Errors,
        threads: int | None = None,
        repeatable: bool = False,
    ) -> list[_M | None]: ...
    @overload
    def rotate_batch(
        self,
        messages: ArrowColumn,
        contexts: Contexts = None,
        mode: Mode = "auto",
        *,
        errors: Errors = "raise",
        threads: int | None = None,
        repeatable: bool = False,
    ) -> ArrowArray: ...
    def rotate_batch(
        self,
        messages: Any,
        contexts: Any = None,
        mode: Mode = "auto",
        *,
        errors: Errors = "raise",
        threads: int | None = None,
        repeatable: bool = False,
    ) -> Any:
        """Re-encrypt (or re-wrap) every message to the active key and this Box's algorithm.

        ``repeatable=True`` derives each new message's nonce from the message rotated and
        its context (docs/format.md, "Repeatable rotation"): rotating the same message
        again gives the same bytes, as a pipeline's retried task must. Only a Box of a
        direct suite can (an envelope Box draws every data key afresh)."""
        raise NotImplementedError

    @property
    def algorithm(self) -> str:
        raise NotImplementedError

    @property
    def deterministic(self) -> bool:
        raise NotImplementedError

    @property
    def encoding(self) -> str:
        raise NotImplementedError

    @property
    def strict_encoding(self) -> bool:
        """Whether messages are accepted only in :attr:`encoding`."""
        raise NotImplementedError

    @property
    def active_key_id(self) -> int:
        raise NotImplementedError

    @property
    def key_ids(self) -> list[int]:
        raise NotImplementedError


class LocalBox(_native.Box, Box[_M]):
    """A :class:`Box` over a key or a :class:`Keyring`: everything runs in Rust."""

    __slots__ = ()

    def _file_keys(self) -> FileKeys:
        return _LocalFileKeys(self)

    # Batches: one native call, all cores, the GIL released. A pyarrow binary or
    # large_binary array (or a ChunkedArray) in gives the same kind out, with no
    # Python object per row; nulls stay null. Other Arrow producers' columns come
    # in through the PyCapsule interface (_arrow.as_arrow) and give pyarrow out.

    def encrypt_batch(
        self, values: Any, contexts: Any = None, *, errors: Errors = "raise", threads: int | None = None
    ) -> Any:
        array = _arrow.as_arrow(values)
        if array is not None:
            return self._arrow("encrypt", array, contexts, "auto", errors, threads)
        return super().encrypt_batch(values, contexts, errors=errors, threads=threads)

    def decrypt_batch(
        self, messages: Any, contexts: Any = None, *, errors: Errors = "raise", threads: int | None = None
    ) -> Any:
        array = _arrow.as_arrow(messages)
        if array is not None:
            return self._arrow("decrypt", array, contexts, "auto", errors, threads)
        return super().decrypt_batch(messages, contexts, errors=errors, threads=threads)

    def rotate_batch(
        self,
        messages: Any,
        contexts: Any = None,
        mode: Mode = "auto",
        *,
        errors: Errors = "raise",
        threads: int | None = None,
        repeatable: bool = False,
    ) -> Any:
        """``mode="auto"`` returns messages that are already current unchanged;
        ``"reencrypt"`` encrypts every message again. ``repeatable``: see `Box.rotate_batch`."""
        if not isinstance(repeatable, bool):
            raise TypeError("repeatable must be True or False")
        array = _arrow.as_arrow(messages)
        if array is not None:
            return self._arrow("rotate", array, contexts, mode, errors, threads, repeatable)
        return super().rotate_batch(
            messages, contexts, mode, errors=errors, threads=threads, repeatable=repeatable
        )

    def _arrow(
        self,
        op: str,
        array: Any,
        contexts: Any,
        mode: str,
        errors: str,
        threads: int | None,
        repeatable: bool = False,
    ) -> Any:
        import pyarrow as pa

        context_array = _arrow.as_arrow(contexts)
        if context_array is not None:
            contexts = context_array.to_pylist()
        if isinstance(array, pa.ChunkedArray):
            if not _one_context(contexts):
                contexts = list(contexts)
                if len(contexts) != len(array):
                    raise ValueError(
                        f"contexts has {len(contexts)} items for {len(array)} values: "
                        "give one per value, one for all, or None"
                    )
            parts, start = [], 0
            for chunk in array.chunks:
                end = start + len(chunk)
                ctx = contexts if _one_context(contexts) else contexts[start:end]
                parts.append(self._arrow(op, chunk, ctx, mode, errors, threads, repeatable))
                start = end
            return pa.chunked_array(parts, type=_arrow_type(op, array.type, self.encoding))
        offsets, data, validity = _arrow.buffers(array)
        out_offsets, out_data, out_validity, nulls = self._column(
            op, offsets, data, validity, contexts, mode, errors, threads, repeatable
        )
        return _arrow.column(
            _arrow_type(op, array.type, self.encoding), len(array), out_offsets, out_data, out_validity, nulls
        )


def _arrow_type(op: str, in_type: Any, encoding: str) -> Any:
    import pyarrow as pa

    large = _arrow.is_large(in_type)
    if op != "decrypt" and encoding == "text":
        return pa.large_string() if large else pa.string()
    return pa.large_binary() if large else pa.binary()


def _one_context(contexts: Any) -> bool:
    """Whether ``contexts`` is one context for every item (or none), not one per item."""
    return contexts is None or isinstance(contexts, (bytes, bytearray, memoryview, str))


def _context_bytes(context: Any) -> bytes:
    if context is None:
        return b""
    if isinstance(context, str):
        return context.encode("utf-8")
    if isinstance(context, (bytes, bytearray, memoryview)):
        return bytes(context)
    raise TypeError(f"context must be bytes, str or None, not {type(context).__name__}")


def _rewrap_slots(
    keys: Any, source: int | None, slots: list[int], wraps: list[tuple[int, bool, bytes, bytes]]
) -> tuple[dict[int, bytes], list[int]] | None:
    """Re-wrap the keys of ``slots`` under the active KEK inside its provider, from the
    KEK ``source`` (None: the active KEK itself), in one call: ``(moved, failed)``.
    If a key does not unwrap (or names a key version the provider refuses), the group
    is split in halves until the bad keys are alone, so that only they fail (a few
    more calls, never one per key). None if the provider cannot move keys from
    ``source``: then none of them is moved here."""

    class _Cannot(Exception):
        pass

    def call(group: list[int]) -> list[bytes]:
        wrapped = [wraps[s][2] for s in group]
        contexts = [keys.env.wrap_context(wraps[s][3], wraps[s][1]) for s in group]
        result: list[bytes] | None = (
            keys.rewrap(wrapped, contexts) if source is None else keys.rewrap_from(source, wrapped, contexts)
        )
        if result is None:
            raise _Cannot
        return result

    out: dict[int, bytes] = {}
    failed: list[int] = []

    def solve(group: list[int]) -> None:
        try:
            out.update(zip(group, call(group), strict=True))
        except ITEM_ERRORS:
            if len(group) == 1:
                failed.extend(group)
                return
            half = len(group) // 2
            solve(group[:half])
            solve(group[half:])

    try:
        solve(slots)
    except _Cannot:
        return None
    return out, failed


def _context_list(contexts: Any, n: int) -> list[bytes]:
    """Contexts of a batch, one per item."""
    if contexts is None or isinstance(contexts, (bytes, str, bytearray)):
        one = _context_bytes(contexts)
        return [one] * n
    out = [_context_bytes(c) for c in contexts]
    if len(out) != n:
        raise ValueError(
            f"contexts has {len(out)} items for {n} values: give one per value, one for all, or None"
        )
    return out


def _encoding_of(message: Any) -> str:
    """The encoding a message is given in: binary starts with the version byte 0x01."""
    if isinstance(message, str):
        return "binary" if message.startswith("\x01") else "text"
    return "binary" if bytes(message[:1]) == b"\x01" else "text"


def _check_errors(errors: str) -> None:
    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', not {errors!r}")


def _raise_failures(results: list[Any], errors: str) -> None:
    if errors == "raise":
        for i, r in enumerate(results):
            if r is None:
                raise DecryptionError(f"item {i} failed to decrypt")


class EnvelopeBox(Box[_M]):
    """A :class:`Box` over an :class:`~sealbox.EnvelopeKeyProvider`: ``Box(EnvelopeKeyProvider(kek))``.

    Every Box method works, batches included; with a local keyring as the KEK
    and no cache everything runs in Rust. The ``*_async`` methods do the same
    for asyncio code, awaiting an :class:`~sealbox.AsyncKeyProvider`'s coroutines
    (a blocking provider runs in a worker thread).
    """

    __slots__ = ("_encoding", "_env", "_keys", "_local", "_strict")

    _encoding: str
    _strict: bool
    _env: EnvelopeKeyProvider
    _keys: _Keys
    # The messages under a local KEK (a Keyring) are sealed, opened and re-wrapped
    # by a native envelope Box over that ring: all in Rust.
    _local: LocalBox[Any] | None

    @classmethod
    def _over(cls, env: EnvelopeKeyProvider, encoding: str, strict: bool = False) -> EnvelopeBox[Any]:
        if encoding not in ("binary", "text"):
            raise ValueError(f"encoding must be 'binary' or 'text', not {encoding!r}")
        box = object.__new__(cls)
        ring = env.local_ring()
        local = (
            None if ring is None else LocalBox(ring, encoding=encoding, strict_encoding=strict, envelope=True)
        )
        state: tuple[tuple[str, Any], ...] = (
            ("_encoding", encoding),
            ("_env", env),
            ("_keys", _Keys(env)),
            ("_local", local),
            ("_strict", strict),
        )
        for name, value in state:
            object.__setattr__(box, name, value)
        return box

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a Box is immutable: cannot set {name!r}")

    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle 'Box' object: it holds key material")

    def __copy__(self) -> EnvelopeBox[_M]:
        return self

    def __deepcopy__(self, memo: Any) -> EnvelopeBox[_M]:
        return self

    @property
    def encoding(self) -> str:
        return self._encoding

    @property
    def strict_encoding(self) -> bool:
        return self._strict

    @property
    def algorithm(self) -> str:
        return "envelope"

    @property
    def deterministic(self) -> bool:
        return False

    @property
    def provider(self) -> EnvelopeKeyProvider:
        return self._env

    @property
    def active_key_id(self) -> int:
        return self._env.kek_id

    @property
    def key_ids(self) -> list[int]:
        ids: set[int] = set()
        for k in (self._env.kek, *self._env.previous):
            ids.update(k.ids if isinstance(k, Keyring) else [k.kek_id])
        return sorted(ids)

    def __repr__(self) -> str:
        return f"Box(EnvelopeKeyProvider, kek={self._env.kek!r}, encoding={self.encoding!r})"

    @property
    def _fast(self) -> bool:
        """Local KEKs only and no cache: the whole operation runs in Rust."""
        env: EnvelopeKeyProvider = self._env
        return self._local is not None and all(isinstance(k, Keyring) for k in (env.kek, *env.previous))

    def _keys_for(self, loop: Any) -> Any:
        return self._keys if loop is None else _Keys(self._env, loop)

    def _file_keys(self) -> FileKeys:
        return _EnvelopeFileKeys(self._keys, self._env, self._check_can_decrypt)

    def _text(self) -> bool:
        return self.encoding == "text"

    def _refused(self, message: Any) -> bool:
        """Whether a strict Box refuses ``message`` for its encoding."""
        return self._strict and _encoding_of(message) != self._encoding

    def _accepted(self, messages: list[Any]) -> list[Any]:
        """``messages`` with those a strict Box refuses replaced by an empty one (it fails)."""
        if not self._strict:
            return messages
        return [b"" if self._refused(m) else m for m in messages]

    # One value

    def encrypt(self, data: Buffer, *, context: Buffer | str | None = None) -> _M:
        result: _M = self._encrypt(data, context, self._keys)
        return result

    def _encrypt(self, data: Any, context: Any, keys: Any) -> Any:
        if self._fast and self._env.cache is None:
            assert self._local is not None
            return self._local.encrypt(data, context=context)
        dk, kek_id, flags, wrapped = keys.data_key(_context_bytes(context))
        return _native.envelope_seal(dk, kek_id, flags, wrapped, data, context, self._text())

    def decrypt(self, message: Buffer | str, *, context: Buffer | str | None = None) -> bytes:
        return self._decrypt(message, context, self._keys)

    def _check_can_decrypt(self) -> None:
        env: EnvelopeKeyProvider = self._env
        if encrypt_only((env.kek, *env.previous)):
            raise TypeError(NEEDS_PRIVATE_KEY)

    def _decrypt(self, message: Any, context: Any, keys: Any) -> bytes:
        self._check_can_decrypt()
        # Recorded also when the message does not parse (no key id then).
        refusal: DecryptionError | None = None
        if self._refused(message):
            refusal = DecryptionError(f"a message in the other encoding than {self._encoding}")
        else:
            try:
                info = _native.Message.parse(message)
            except DecryptionError:
                refusal = DecryptionError("not a message")
        if refusal is not None:
            self._audit_decrypt(None, self._env.kek, context, refusal)
            raise DecryptionError(DECRYPTION_FAILED)
        kek = self._env.find(info.key_id) if info.suite == "envelope" else self._env.local_ring()
        if kek is None:
            unknown = DecryptionError("no key-encryption key with this id")
            self._audit_decrypt(info.key_id, "local", context, unknown)
            raise DecryptionError(DECRYPTION_FAILED)
        out: bytes | None = None
        try:
            if isinstance(kek, Keyring):
                assert self._local is not None
                out = self._local.decrypt(message, context=context)
            else:
                wrapped = info.wrapped_key
                assert wrapped is not None
                dk = keys.unwrap(info.key_id, info.context_bound, wrapped, _context_bytes(context))
                out = _native.envelope_open(dk, message, context)
        except DecryptionError as e:
            # The stage (unknown key, a wrapped key that did not unwrap, a refused key
            # version) goes to the audit trail; the caller sees one opaque error,
            # raised below, outside this handler, so that it chains nothing.
            self._audit_decrypt(info.key_id, kek, context, e)
        except Exception as e:
            self._audit_decrypt(info.key_id, kek, context, e)
            raise
        if out is None:
            raise DecryptionError(DECRYPTION_FAILED)
        self._audit_decrypt(info.key_id, kek, context, None)
        return out

    def _audit_decrypt(
        self,
        key_id: int | None,
        kek: Any,
        context: Any,
        error: BaseException | None,
        count: int = 1,
        failed: int | None = None,
    ) -> None:
        """One ``decrypt`` event: ``failed`` items of ``count`` gave no plaintext
        (None: all if ``error``, else none)."""
        if audit.enabled():
            name = kek if isinstance(kek, str) else _name(kek)
            shown = _context_bytes(context) if count == 1 else None
            detail = audit.detail_of(error)
            audit.emit("decrypt", name, key_id, shown, audit.outcome_of(error), count, detail, failed)

    def needs_rotation(self, message: Buffer | str) -> bool:
        info = _native.Message.parse(message)
        if info.suite != "envelope":
            return True
        wrapped = info.wrapped_key
        assert wrapped is not None
        try:
            return bool(self._keys.needs_rewrap(info.key_id, wrapped))
        except DecryptionError:  # a wrapped key its provider cannot read
            pass
        raise DecryptionError(DECRYPTION_FAILED)

    def lookup_values(self, data: Buffer, *, context: Buffer | str | None = None) -> list[_M]:
        raise TypeError("lookup_values needs a deterministic Box: envelope messages are randomized")

    # Batches

    def encrypt_batch(
        self,
        values: Any,
        contexts: Any = None,
        *,
        errors: Errors = "raise",
        threads: int | None = None,
    ) -> Any:
        return self._batch("encrypt", values, contexts, "auto", errors, threads, self._keys)

    def decrypt_batch(
        self,
        messages: Any,
        contexts: Any = None,
        *,
        errors: Errors = "raise",
        threads: int | None = None,
    ) -> Any:
        return self._batch("decrypt", messages, contexts, "auto", errors, threads, self._keys)

    def rotate_batch(
        self,
        messages: Any,
        contexts: Any = None,
        mode: Literal["auto", "reencrypt"] = "auto",
        *,
        errors: Errors = "raise",
        threads: int | None = None,
        repeatable: bool = False,
    ) -> Any:
        """Re-wrap every data key under the active KEK, payloads untouched (``mode="auto"``:
        through the KMS's re-encrypt or rewrap call where it has one); ``"reencrypt"``
        decrypts and encrypts each message again under a new data key."""
        if repeatable:
            raise ValueError(
                "a repeatable rotation needs a direct suite: an envelope Box draws every data key afresh"
            )
        return self._batch("rotate", messages, contexts, mode, errors, threads, self._keys)

    def _batch(
        self, op: str, items: Any, contexts: Any, mode: str, errors: str, threads: int | None, keys: Any
    ) -> Any:
        _check_errors(errors)
        if mode not in ("auto", "reencrypt"):
            raise ValueError(f"mode must be 'auto' or 'reencrypt', not {mode!r}")
        if op != "encrypt":
            self._check_can_decrypt()
        array = _arrow.as_arrow(items)
        items = items if array is None else array
        fast = self._fast and (op != "encrypt" or self._env.cache is None)
        if fast:
            assert self._local is not None
            local = self._local
            if op == "encrypt":
                return local.encrypt_batch(items, contexts, errors=errors, threads=threads)  # type: ignore[arg-type]
            try:
                if op == "decrypt":
                    out = local.decrypt_batch(items, contexts, errors=errors, threads=threads)  # type: ignore[arg-type]
                else:
                    out = local.rotate_batch(items, contexts, mode, errors=errors, threads=threads)  # type: ignore[arg-type]
            except Exception as e:
                self._audit_decrypt(self._env.kek_id, self._env.kek, None, e, len(items))
                raise
            # Failed items (errors="return") are None, or nulls beyond the input's own.
            failed = sum(r is None for r in out) if array is None else out.null_count - array.null_count
            self._audit_decrypt(
                self._env.kek_id,
                self._env.kek,
                None,
                None if not failed else DecryptionError(f"{failed} of {len(items)} items failed"),
                len(items),
                failed,
            )
            return out
        if array is not None:
            import pyarrow as pa

            given = array.to_pylist()
            context_array = _arrow.as_arrow(contexts)
            ctx = _context_list(contexts if context_array is None else context_array.to_pylist(), len(given))
            present = [i for i, x in enumerate(given) if x is not None]  # nulls stay null
            done = self._batch(
                op, [given[i] for i in present], [ctx[i] for i in present], mode, "return", threads, keys
            )
            result: list[Any] = [None] * len(given)
            for i, r in zip(present, done, strict=True):
                if r is None and errors == "raise":
                    raise DecryptionError(f"item {i} failed to decrypt")
                result[i] = r
            out = pa.array(result, type=_arrow_type(op, array.type, self.encoding))
            if isinstance(array, pa.ChunkedArray):  # the same kind out, chunk for chunk
                parts, start = [], 0
                for chunk in array.chunks:
                    parts.append(out.slice(start, len(chunk)))
                    start += len(chunk)
                return pa.chunked_array(parts, type=out.type)
            return out
        items = list(items)
        missing = next((i for i, x in enumerate(items) if x is None), None)
        if missing is not None:  # as the native batches say it; None is not a message
            what, expected = ("values", "bytes") if op == "encrypt" else ("messages", "bytes or str")
            raise TypeError(f"{what}[{missing}] must be {expected}, not NoneType")
        if op == "encrypt":
            return self._encrypt_list(items, contexts, threads, keys)
        if op == "decrypt":
            out = self._decrypt_list(items, contexts, threads, keys)
        elif mode == "reencrypt":
            plain = self._decrypt_list(items, contexts, threads, keys)
            ctx = _context_list(contexts, len(items))
            ok = [i for i, p in enumerate(plain) if p is not None]
            sealed = (
                self._encrypt_list([plain[i] for i in ok], [ctx[i] for i in ok], threads, keys) if ok else []
            )
            out = [None] * len(items)
            for i, s in zip(ok, sealed, strict=True):
                out[i] = s
        else:
            out = self._rewrap_list(items, contexts, threads, keys)
        _raise_failures(out, errors)
        return out

    def _encrypt_list(self, values: list[Any], contexts: Any, threads: int | None, keys: Any) -> list[Any]:
        n = len(values)
        if n == 0:
            return []
        cache = self._env.cache
        if cache is None:
            ctx = _context_list(contexts, n)
            data_keys = [keys.new_key(c, True) for c in ctx]
            return _native.envelope_seal_batch(data_keys, 1, values, ctx, self._text(), threads)
        per = cache.max_messages
        count = -(-n // per)
        data_keys = [keys.new_key(b"", False) for _ in range(count)]
        out = _native.envelope_seal_batch(data_keys, per, values, contexts, self._text(), threads)
        dk, kek_id, _, wrapped = data_keys[-1]
        cache._offer(dk, kek_id, wrapped, n - (count - 1) * per)
        return out

    def _decrypt_list(self, messages: list[Any], contexts: Any, threads: int | None, keys: Any) -> list[Any]:
        """One native call: it asks ``keys`` to unwrap each distinct wrapped data key
        once (local KEKs unwrap in Rust) and opens the messages in parallel."""
        n = len(messages)
        ctx = _context_list(contexts, n)
        messages = self._accepted(messages)

        def unwrap(kek_id: int, bound: bool, wrapped: bytes, context: bytes) -> bytes:
            return bytes(keys.unwrap(kek_id, bound, wrapped, context))

        # KEK ids that name a local key are opened in Rust; the same rule as one value's decrypt.
        env, ring = self._env, self._env.local_ring()
        local_ids = [] if ring is None else [i for i in ring.ids if env.find(i) is ring]
        out: list[Any] = _native.envelope_open_batch(messages, ctx, unwrap, self._local, local_ids, threads)
        failed = sum(1 for r in out if r is None)
        error = None if not failed else DecryptionError(f"{failed} of {n} items failed")
        self._audit_decrypt(self._env.kek_id, self._env.kek, None, error, n, failed)
        return out

    def _rewrap_list(self, messages: list[Any], contexts: Any, threads: int | None, keys: Any) -> list[Any]:
        """One native call: it hands ``rewrap`` each distinct wrapped data key once
        (a chunk's new ones together) and rewrites the headers in parallel."""
        n = len(messages)
        ctx = _context_list(contexts, n)
        messages = self._accepted(messages)
        env = self._env
        active = env.kek

        def rewrap(wraps: list[tuple[int, bool, bytes, bytes]]) -> list[tuple[int, bytes] | bool | None]:
            """For each wrap ``(kek_id, bound, wrapped, context)``: its new header, True to
            keep it, or None if it did not move."""
            answers: list[tuple[int, bytes] | bool | None] = [True] * len(wraps)
            # Keys the provider can move itself (the data keys never leave it): those
            # under the active KEK (rewrap) and those under a previous one (rewrap_from).
            # The rest are unwrapped here and wrapped under the active KEK.
            in_kms: dict[int | None, list[int]] = {}  # by source KEK id, None for the active one
            local: list[int] = []
            for slot, (kek_id, _bound, wrapped, _context) in enumerate(wraps):
                try:
                    if not keys.needs_rewrap(kek_id, wrapped):
                        continue
                except ITEM_ERRORS:  # a wrapped key its provider cannot read: this one fails
                    answers[slot] = None
                    continue
                if isinstance(active, Keyring) or isinstance(env.find(kek_id), Keyring | None):
                    local.append(slot)
                else:
                    in_kms.setdefault(None if kek_id == env.kek_id else kek_id, []).append(slot)
            for source, slots in in_kms.items():
                result = _rewrap_slots(keys, source, slots, wraps)
                if result is None:  # the provider cannot move keys from this KEK
                    local += slots
                    continue
                moved, bad = result
                for s in bad:
                    answers[s] = None
                for s, w in moved.items():
                    answers[s] = (env.kek_id, w)
            for slot in sorted(local):
                kek_id, bound, wrapped, context = wraps[slot]
                try:
                    answers[slot] = keys.wrap_active(
                        keys.unwrap(kek_id, bound, wrapped, context), bound, context
                    )
                except DecryptionError:
                    answers[slot] = None
            return answers

        out, direct = _native.envelope_rewrap_batch(messages, ctx, rewrap, self._text(), threads)
        # Messages that are not envelopes (direct messages under a local key) are re-encrypted.
        if direct and self._local is not None:
            plain = self._local.decrypt_batch(
                [messages[i] for i in direct], [ctx[i] for i in direct], errors="return", threads=threads
            )
            ok = [(i, p) for i, p in zip(direct, plain, strict=True) if p is not None]
            sealed = (
                self._encrypt_list([p for _, p in ok], [ctx[i] for i, _ in ok], threads, keys) if ok else []
            )
            for (i, _), s in zip(ok, sealed, strict=True):
                out[i] = s
        return out

    # asyncio forms: the same operations, awaiting an AsyncKeyProvider (or running
    # a blocking provider and the native work in a worker thread).

    async def encrypt_async(self, data: Buffer, *, context: Buffer | str | None = None) -> _M:
        import asyncio

        keys = self._keys_for(asyncio.get_running_loop())
        result: _M = await asyncio.to_thread(self._encrypt, data, context, keys)
        return result

    async def decrypt_async(self, message: Buffer | str, *, context: Buffer | str | None = None) -> bytes:
        import asyncio

        keys = self._keys_for(asyncio.get_running_loop())
        return await asyncio.to_thread(self._decrypt, message, context, keys)

    async def encrypt_batch_async(
        self, values: Any, contexts: Any = None, *, errors: Errors = "raise", threads: int | None = None
    ) -> Any:
        import asyncio

        keys = self._keys_for(asyncio.get_running_loop())
        return await asyncio.to_thread(
            self._batch, "encrypt", values, contexts, "auto", errors, threads, keys
        )

    async def decrypt_batch_async(
        self, messages: Any, contexts: Any = None, *, errors: Errors = "raise", threads: int | None = None
    ) -> Any:
        import asyncio

        keys = self._keys_for(asyncio.get_running_loop())
        return await asyncio.to_thread(
            self._batch, "decrypt", messages, contexts, "auto", errors, threads, keys
        )

    async def rotate_batch_async(
        self,
        messages: Any,
        contexts: Any = None,
        mode: Literal["auto", "reencrypt"] = "auto",
        *,
        errors: Errors = "raise",
        threads: int | None = None,
    ) -> Any:
        import asyncio

        keys = self._keys_for(asyncio.get_running_loop())
        return await asyncio.to_thread(self._batch, "rotate", messages, contexts, mode, errors, threads, keys)


class _LocalFileKeys:
    """A file's key under a keyring key (the header's key id): direct mode."""

    def __init__(self, box: LocalBox[Any]) -> None:
        self.box = box

    def create(self, segment_size: int, context: Any) -> tuple[bytes, _native.StreamCipher]:
        return self.box._stream_create(segment_size, context)

    def open(self, header: bytes, context: Any) -> _native.StreamCipher:
        return self.box._stream_open(header, context)

    def rotated_header(self, header: bytes) -> bytes | None:
        key_id, mode, _, _ = _native.stream_header(header)
        if mode != "direct" or key_id not in self.box.key_ids:
            raise DecryptionError(DECRYPTION_FAILED)
        return header if key_id == self.box.active_key_id else None


class _EnvelopeFileKeys:
    """A file's own data key, wrapped in its header by the provider's KEK."""

    def __init__(self, keys: _Keys, env: EnvelopeKeyProvider, check_can_decrypt: Any) -> None:
        self.keys = keys
        self.env = env
        self.check_can_decrypt = check_can_decrypt

    def create(self, segment_size: int, context: Any) -> tuple[bytes, _native.StreamCipher]:
        # A data key of its own for every file (never one from the DataKeyCache).
        dk, kek_id, _flags, wrapped = self.keys.new_key(b"", False)
        return _native.stream_create_wrapped(dk, kek_id, wrapped, segment_size, context)

    def _data_key(self, header: bytes) -> tuple[int, bytes]:
        self.check_can_decrypt()
        kek_id, mode, _, wrapped = _native.stream_header(header)
        if mode != "wrapped":
            raise DecryptionError(DECRYPTION_FAILED)
        return kek_id, self.keys.unwrap(kek_id, False, wrapped, b"")

    def open(self, header: bytes, context: Any) -> _native.StreamCipher:
        _, dk = self._data_key(header)
        return _native.stream_open_wrapped(header, dk, context)

    def rotated_header(self, header: bytes) -> bytes | None:
        kek_id, dk = self._data_key(header)
        # The data key must be this file's (its commitment), whichever KEK is current.
        _native.stream_open_wrapped(header, dk, None)
        if kek_id == self.env.kek_id:
            return header
        new_id, wrapped = self.keys.wrap_active(dk, False, b"")
        return _native.stream_rewrap(header, new_id, wrapped)
