"""What the workers of benches/scaling.py run, importable there: the user's per-row jobs with
cryptography's AESGCM, and the Spark job that makes the data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import sealbox
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sealbox import column_context

OLD, NEW = b"\x01" * 32, b"\x02" * 32
CONTEXT = column_context("items", "value")


def random_values(n: int, seed: int) -> pa.Array:
    """``n`` values of 64 random bytes, the same for the same seed."""
    data = np.random.default_rng(seed).integers(0, 256, size=n * 64, dtype=np.uint8).tobytes()
    offsets = np.arange(0, (n + 1) * 64, 64, dtype=np.int32)
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def make_partition(part: tuple[int, int]) -> Any:
    """Dask partition ``number`` of ``size`` rows: each value as sealbox's message under key 1
    (``ours``) and as the user's ``nonce || AESGCM`` (``theirs``)."""
    import pandas as pd

    number, size = part
    values = random_values(size, seed=number)
    ours = sealbox.BoxSpec(keys_env="BENCH_SCALING_OLD").build().encrypt_batch(values, CONTEXT)
    aes, urandom = AESGCM(OLD), os.urandom
    theirs = []
    for v in values.to_pylist():
        nonce = urandom(12)
        theirs.append(nonce + aes.encrypt(nonce, v, None))
    binary = pd.ArrowDtype(pa.binary())
    return pd.DataFrame(
        {"ours": pd.arrays.ArrowExtensionArray(ours), "theirs": pd.array(theirs, dtype=binary)}
    )


def identity(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield from batches


def user_rotate_partition(df: Any, old_key: bytes, new_key: bytes) -> Any:
    """What a user writes: a Python loop of AESGCM calls over the partition's values."""
    import pandas as pd

    old, new = AESGCM(old_key), AESGCM(new_key)
    urandom = os.urandom
    out = []
    for m in df["theirs"]:
        nonce = urandom(12)
        out.append(nonce + new.encrypt(nonce, old.decrypt(m[:12], m[12:], None), None))
    return df.assign(theirs=pd.array(out, dtype=pd.ArrowDtype(pa.binary())))


# What a user writes in Spark: keys captured by the closure, AESGCM built once per worker.
_ciphers: dict[str, AESGCM] = {}


def rotate_one(m: bytes) -> bytes:
    if not _ciphers:
        _ciphers["old"], _ciphers["new"] = AESGCM(OLD), AESGCM(NEW)
    nonce = os.urandom(12)
    return nonce + _ciphers["new"].encrypt(nonce, _ciphers["old"].decrypt(m[:12], m[12:], None), None)


def generate(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Make each row's two messages on the executor: sealbox's (key 1) and the user's."""
    box = sealbox.BoxSpec(keys_env="BENCH_SCALING_OLD").build()
    aes = AESGCM(OLD)
    for batch in batches:
        ids = batch.column(0).to_numpy()
        values = [np.random.default_rng(int(i)).bytes(64) for i in ids]
        nonces = [os.urandom(12) for _ in values]
        user = [n + aes.encrypt(n, v, None) for n, v in zip(nonces, values, strict=True)]
        ours = box.encrypt_batch(pa.array(values, pa.binary()), CONTEXT)
        yield pa.RecordBatch.from_arrays(
            [batch.column(0), ours, pa.array(user, pa.binary())], names=["id", "ours", "theirs"]
        )
