"""The Arrow kernel inside Dask: encrypt, decrypt and rotate columns of a dask DataFrame.

    import sealbox
    import sealbox.dask

    spec = sealbox.BoxSpec(keys_env="SEALBOX_KEYS")      # read on each worker, never shipped
    rotated = sealbox.dask.rotate(ddf, ["email"], spec,
                                  contexts=sealbox.arrow.ColumnContexts("users", key_column="id"))
    rotated.to_parquet("s3://bucket/users-rotated/")    # lazy until here, like the rest of Dask

Each partition goes through ``sealbox.arrow`` (``map_partitions``): its columns
are handed over as Arrow (a ``pd.ArrowDtype`` column without a copy; others
converted once) and come back as ``pd.ArrowDtype(pa.binary())`` columns (string
for a text Box's messages). The Box is built on the worker from the spec, once
per process. A message that fails raises `DecryptionError` naming the partition,
the row's position in it and the column (``errors="raise"``), or becomes a null
(``errors="return"``). Dask is imported when a function here is called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sealbox import arrow
from sealbox._box import _arrow_type
from sealbox._spec import BoxSpec

__all__ = ["decrypt", "encrypt", "rotate"]


def encrypt(
    ddf: Any,
    columns: str | Sequence[str],
    spec: BoxSpec,
    *,
    contexts: arrow.Contexts = None,
    errors: arrow.Errors = "raise",
    threads: int | None = None,
) -> Any:
    """A lazy dask DataFrame: ``ddf`` with ``columns`` encrypted."""
    return _map("encrypt", ddf, columns, spec, contexts, "auto", errors, threads)


def decrypt(
    ddf: Any,
    columns: str | Sequence[str],
    spec: BoxSpec,
    *,
    contexts: arrow.Contexts = None,
    errors: arrow.Errors = "raise",
    threads: int | None = None,
) -> Any:
    """A lazy dask DataFrame: ``ddf`` with ``columns`` decrypted (binary)."""
    return _map("decrypt", ddf, columns, spec, contexts, "auto", errors, threads)


def rotate(
    ddf: Any,
    columns: str | Sequence[str],
    spec: BoxSpec,
    *,
    contexts: arrow.Contexts = None,
    mode: arrow.Mode = "auto",
    errors: arrow.Errors = "raise",
    threads: int | None = None,
) -> Any:
    """A lazy dask DataFrame: ``ddf`` with ``columns`` rotated to the spec's active key."""
    return _map("rotate", ddf, columns, spec, contexts, mode, errors, threads)


def _map(
    op: str,
    ddf: Any,
    columns: str | Sequence[str],
    spec: BoxSpec,
    contexts: arrow.Contexts,
    mode: str,
    errors: str,
    threads: int | None,
) -> Any:
    import pandas as pd
    import pyarrow as pa

    meta = ddf._meta.copy()
    names = arrow.job_columns(spec, columns, contexts, errors, list(meta.columns), workers="workers")
    for name in names:
        in_type = _arrow_of(meta[name]).type
        if pa.types.is_null(in_type):  # an empty object column: bytes, as pyarrow reads them
            in_type = pa.binary()
        try:
            out = _arrow_type(op, in_type, spec.encoding)
        except TypeError as exc:
            raise TypeError(f"column {name!r}: {exc}") from None
        meta[name] = pd.Series([], dtype=pd.ArrowDtype(out), index=meta.index)
    return ddf.map_partitions(
        _partition,
        op,
        names,
        spec,
        contexts,
        mode,
        errors,
        threads,
        meta=meta,
        enforce_metadata=False,
    )


def _partition(
    df: Any,
    op: str,
    names: list[str],
    spec: BoxSpec,
    contexts: arrow.Contexts,
    mode: str,
    errors: str,
    threads: int | None,
    partition_info: dict[str, Any] | None = None,
) -> Any:
    """One partition, on a worker: its columns through the Arrow kernel."""
    import pandas as pd
    import pyarrow as pa

    used = [*names, *sorted(arrow.context_columns(contexts) - set(names))]
    table = pa.table({name: _arrow_of(df[name]) for name in used})
    number = None if partition_info is None else partition_info.get("number")
    where = "" if number is None else f"partition {number}, "
    done = arrow.apply(op, table, names, spec, contexts, mode, errors, threads, where=where)
    out = df.copy(deep=False)
    for name in names:
        out[name] = pd.Series(pd.arrays.ArrowExtensionArray(done.column(name)), index=df.index)
    return out


def _arrow_of(series: Any) -> Any:
    """A pandas Series as Arrow: an Arrow-backed one's own arrays, others converted once."""
    import pyarrow as pa

    array = series.array
    if hasattr(array, "__arrow_array__"):
        got = array.__arrow_array__()
        return got if isinstance(got, pa.ChunkedArray) else pa.chunked_array([got])
    return pa.chunked_array([pa.array(series, from_pandas=True)])
