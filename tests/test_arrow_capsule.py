"""Arrow columns from any producer: objects with the Arrow PyCapsule interface
(polars, DuckDB, nanoarrow, ...) go through every batch entry point as pyarrow does."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sealbox import BlindIndex, Box, DataKeyCache, DecryptionError, EnvelopeKeyProvider, Keyring, Message

from .test_envelope import CountingKek

K1, K2 = b"\x01" * 32, b"\x02" * 32
OLD = Keyring({1: K1})
RING = Keyring({1: K1, 2: K2}, active=2)
VALUES: list[bytes | None] = [b"alice@example.org", None, b"", b"bob" * 40, None, b"carol"]
CONTEXTS = [f"users/{i}/email".encode() for i in range(len(VALUES))]


class ArrayOnly:
    """Arrow data offered only through ``__arrow_c_array__`` (as nanoarrow arrays, DuckDB vectors)."""

    def __init__(self, array: Any) -> None:
        self._array = array

    def __arrow_c_array__(self, requested_schema: object = None) -> tuple[object, object]:
        capsules: tuple[object, object] = self._array.__arrow_c_array__(requested_schema)
        return capsules


class StreamOnly:
    """Arrow data offered only through ``__arrow_c_stream__`` (as polars Series, DuckDB results)."""

    def __init__(self, chunked: Any) -> None:
        self._chunked = chunked

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return self._chunked.__arrow_c_stream__(requested_schema)


def array_only(values: list[Any], type_: Any = None) -> ArrayOnly:
    return ArrayOnly(pa.array(values, type=type_))


def stream_only(values: list[Any], type_: Any = None) -> StreamOnly:
    # Two chunks, so a stream is not just one array in disguise.
    half = len(values) // 2
    return StreamOnly(pa.chunked_array([values[:half], values[half:]], type=type_ or pa.binary()))


def seal_listed(box: Box[Any]) -> list[Any]:
    """``box``'s messages of VALUES as a list (a native list batch), None where a value is None."""
    keep = [i for i, v in enumerate(VALUES) if v is not None]
    sealed = iter(box.encrypt_batch([VALUES[i] for i in keep], [CONTEXTS[i] for i in keep]))
    return [None if v is None else next(sealed) for v in VALUES]


WRAPPERS: dict[str, Callable[..., Any]] = {"array": array_only, "stream": stream_only}


def same_shape(out: Any, wrapper: str) -> bool:
    """An Array for an array in; for a stream in, a ChunkedArray chunked as the stream was."""
    if wrapper == "array":
        return isinstance(out, pa.Array)
    return isinstance(out, pa.ChunkedArray) and [len(c) for c in out.chunks] == [3, 3]


def boxes() -> dict[str, Callable[[Keyring], Box[Any]]]:
    return {
        "aes-gcm": lambda ring: Box(ring),
        "xchacha": lambda ring: Box(ring, algorithm="xchacha20-poly1305"),
        "siv": lambda ring: Box(ring, deterministic=True),
        "text": lambda ring: Box(ring, encoding="text"),
        "envelope-local": lambda ring: Box(EnvelopeKeyProvider(ring)),
        "envelope-cached": lambda ring: Box(EnvelopeKeyProvider(ring, DataKeyCache(max_messages=2))),
    }


@pytest.mark.parametrize("wrapper", WRAPPERS)
@pytest.mark.parametrize("make", boxes().values(), ids=list(boxes()))
def test_box_batches_take_capsule_columns(make: Callable[[Keyring], Box[Any]], wrapper: str) -> None:
    wrap = WRAPPERS[wrapper]
    old, box = make(OLD), make(RING)
    sealed = box.encrypt_batch(wrap(VALUES), CONTEXTS)
    assert same_shape(sealed, wrapper) and sealed.to_pylist()[1] is None and sealed.null_count == 2
    assert box.encrypt_batch(pa.array(VALUES), CONTEXTS).type == sealed.type  # as from pyarrow
    messages = sealed.to_pylist()
    assert all(
        (m is None) if v is None else box.decrypt(m, context=c) == v
        for m, c, v in zip(messages, CONTEXTS, VALUES, strict=True)
    )

    kind = sealed.type
    opened = box.decrypt_batch(wrap(messages, kind), CONTEXTS)
    assert same_shape(opened, wrapper) and opened.to_pylist() == VALUES

    column = seal_listed(old)
    for mode in ("auto", "reencrypt"):
        rotated = box.rotate_batch(wrap(column, kind), CONTEXTS, mode)  # type: ignore[arg-type]
        assert same_shape(rotated, wrapper) and rotated.null_count == 2
        assert box.decrypt_batch(rotated, CONTEXTS).to_pylist() == VALUES
        assert not any(box.needs_rotation(m) for m in rotated.to_pylist() if m is not None)

    with pytest.raises(DecryptionError):
        box.decrypt_batch(wrap(messages, kind), CONTEXTS[::-1])
    failed = box.decrypt_batch(wrap(messages, kind), CONTEXTS[::-1], errors="return")
    assert failed.null_count == len(VALUES)


def test_provider_envelope_batches_take_capsule_columns() -> None:
    """A KMS-held KEK takes the Python path (per-item data keys): Arrow-like input works there too."""
    kek = CountingKek()
    box = Box(EnvelopeKeyProvider(kek))
    for wrapper, wrap in WRAPPERS.items():
        sealed = box.encrypt_batch(wrap(VALUES), CONTEXTS)
        assert same_shape(sealed, wrapper) and sealed.null_count == 2
        opened = box.decrypt_batch(wrap(sealed.to_pylist()), CONTEXTS)
        assert opened.to_pylist() == VALUES
        kek.rotate()
        rotated = box.rotate_batch(wrap(sealed.to_pylist()), CONTEXTS)
        assert box.decrypt_batch(rotated, wrap(CONTEXTS)).to_pylist() == VALUES
        with pytest.raises(DecryptionError, match="item 0"):
            box.decrypt_batch(wrap(sealed.to_pylist()), CONTEXTS[::-1])


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_contexts_may_be_capsule_columns(wrapper: str) -> None:
    wrap = WRAPPERS[wrapper]
    for box in (Box(RING), Box(EnvelopeKeyProvider(RING))):
        sealed = box.encrypt_batch(pa.array(VALUES), wrap(CONTEXTS))
        assert box.decrypt_batch(sealed, CONTEXTS).to_pylist() == VALUES
        assert box.decrypt_batch(wrap(sealed.to_pylist()), wrap(CONTEXTS)).to_pylist() == VALUES
        text_contexts = wrap([c.decode() for c in CONTEXTS], pa.string())
        assert box.decrypt_batch(sealed, text_contexts).to_pylist() == VALUES
        with pytest.raises(DecryptionError):
            box.decrypt_batch(sealed, wrap(CONTEXTS[::-1]))


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_blind_index_batches_take_capsule_columns(wrapper: str) -> None:
    wrap = WRAPPERS[wrapper]
    texts = [None if v is None else v.decode() for v in VALUES]
    for index in (
        BlindIndex(K1, bits=64, encoding="raw"),
        BlindIndex(K1),
        BlindIndex(K1, normalize="casefold"),  # normalizers take Python values
    ):
        expected = index.compute_batch(VALUES)
        out = index.compute_batch(wrap(VALUES))
        assert same_shape(out, wrapper) and out.to_pylist() == expected
        assert index.compute_batch(wrap(texts, pa.string())).to_pylist() == expected

        box = Box(RING)
        column = seal_listed(box)
        reindexed = index.reindex_batch(box, wrap(column), CONTEXTS)
        assert same_shape(reindexed, wrapper)
        assert reindexed.to_pylist() == [None if v is None else index.compute(v) for v in VALUES]
        listed = [(m, c) for m, c in zip(column, CONTEXTS, strict=True) if m is not None]
        assert index.reindex_batch(box, [m for m, _ in listed], [c for _, c in listed]) == [
            index.compute(v) for v in VALUES if v is not None
        ]


def every_batch_call() -> dict[str, Callable[[Any], Any]]:
    box, envelope, index = Box(RING), Box(EnvelopeKeyProvider(CountingKek())), BlindIndex(K1)
    return {
        "encrypt_batch": box.encrypt_batch,
        "decrypt_batch": box.decrypt_batch,
        "rotate_batch": box.rotate_batch,
        "envelope encrypt_batch": envelope.encrypt_batch,
        "envelope decrypt_batch": envelope.decrypt_batch,
        "envelope rotate_batch": envelope.rotate_batch,
        "compute_batch": index.compute_batch,
        "reindex_batch": lambda column: index.reindex_batch(box, column),
        "contexts": lambda column: box.encrypt_batch(pa.array([b"a", b"b", b"c"]), column),
    }


@pytest.mark.parametrize("wrapper", WRAPPERS)
@pytest.mark.parametrize("call", every_batch_call().values(), ids=list(every_batch_call()))
def test_columns_of_other_types_are_refused(call: Callable[[Any], Any], wrapper: str) -> None:
    wrap = WRAPPERS[wrapper]
    for column in (wrap([1, 2, None], pa.int64()), wrap([1.5, 2.5, 3.5], pa.float64())):
        with pytest.raises(TypeError, match=r"expected a binary or string array .*, not (int64|double)"):
            call(column)
    with pytest.raises(TypeError, match="expected a binary or string array"):
        call(pa.array([1, 2, 3]))  # pyarrow's own, as before
    with pytest.raises(TypeError, match=r"expected a pyarrow Array or ChunkedArray, not pyarrow\..*Scalar"):
        call(pa.scalar(b"abc"))


def test_binary_and_string_views_are_read_through_their_large_forms() -> None:
    box = Box(RING)
    sealed = box.encrypt_batch(pa.array(VALUES, pa.binary_view()))
    assert sealed.type == pa.large_binary() and box.decrypt_batch(sealed).to_pylist() == VALUES
    texts = ["a", None, "b"]
    assert Box(RING).encrypt_batch(ArrayOnly(pa.array(texts, pa.string_view()))).type == pa.large_binary()
    assert BlindIndex(K1).compute_batch(pa.array(texts, pa.string_view())).to_pylist() == (
        BlindIndex(K1).compute_batch(texts)
    )


def test_polars_series_in_pyarrow_out() -> None:
    import polars as pl

    box, index = Box(RING), BlindIndex(K1, normalize="casefold")
    series = pl.Series("email", VALUES, dtype=pl.Binary)
    sealed = box.encrypt_batch(series, pl.Series(CONTEXTS))
    assert isinstance(sealed, pa.ChunkedArray) and sealed.null_count == 2
    back = box.decrypt_batch(pl.Series(sealed.to_pylist(), dtype=pl.Binary), CONTEXTS)
    assert back.to_pylist() == VALUES
    assert pl.Series(back).to_list() == VALUES  # and polars reads the result back
    rotated = box.rotate_batch(pl.Series(Box(OLD).encrypt_batch([b"x", b"y"])))
    assert {Message.parse(m).key_id for m in rotated.to_pylist()} == {2}
    texts = pl.Series(["Alice@Example.org", None, "BOB@example.org"])
    assert index.compute_batch(texts).to_pylist() == index.compute_batch(
        ["alice@example.org", None, "bob@example.org"]
    )
    with pytest.raises(TypeError, match="not int64"):
        box.encrypt_batch(pl.Series([1, 2, 3]))


ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)


def test_lists_never_import_pyarrow() -> None:
    done = run_python(
        "import sys, sealbox\n"
        "box = sealbox.Box(sealbox.generate_key())\n"
        "assert box.decrypt_batch(box.encrypt_batch([b'a', b'b']), None) == [b'a', b'b']\n"
        "assert sealbox.BlindIndex(bytes(32)).compute_batch([b'a', None])[1] is None\n"
        "loaded = {'pyarrow', 'numpy'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    assert done.returncode == 0, done.stderr


def test_arrow_data_without_pyarrow_says_what_to_install() -> None:
    done = run_python(
        "import sys\n"
        "sys.modules['pyarrow'] = None  # not installed\n"
        "import sealbox\n"
        "class Column:\n"
        "    def __arrow_c_stream__(self, requested_schema=None):\n"
        "        raise AssertionError('not reached')\n"
        "try:\n"
        "    sealbox.Box(bytes(32)).encrypt_batch(Column())\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    assert done.returncode == 0, done.stderr
    hint = "Column is Arrow data, which sealbox reads through pyarrow: pip install 'sealbox[arrow]'"
    assert done.stdout == hint + "\n"
