"""The Arrow kernel inside Spark: encrypt, decrypt and rotate columns of a PySpark DataFrame.

    import sealbox
    import sealbox.spark

    spec = sealbox.BoxSpec(kek={"provider": "aws-kms", "key_id": "alias/app", "kek_id": 1},
                           cache=sealbox.DataKeyCache(max_messages=100_000))
    rotated = sealbox.spark.rotate(df, ["email"], spec,
                                   contexts=sealbox.arrow.ColumnContexts("users", key_column="id"))
    rotated.write.parquet("s3://bucket/users-rotated/")

Each partition's Arrow record batches go through ``sealbox.arrow``
(``DataFrame.mapInArrow``): no Python object per value, no pandas. The encrypted
columns become ``BinaryType`` (``StringType`` for a text Box's messages); the
others pass through. The Box is built on the executor from the spec, once per
Python worker process, so a KMS-backed spec unwraps each distinct data key once
per batch at most, and once per process with a ``cache`` (docs/scaling.md). A
message that fails raises `DecryptionError` naming the partition, the row's
position in it and the column (``errors="raise"``; Spark reports it as the
task's failure), or becomes a null (``errors="return"``). PySpark is imported
when a function here is called.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import Any

from sealbox import arrow
from sealbox._spec import BoxSpec

__all__ = ["decrypt", "encrypt", "rotate"]


def encrypt(
    df: Any,
    columns: str | Sequence[str],
    spec: BoxSpec,
    *,
    contexts: arrow.Contexts = None,
    errors: arrow.Errors = "raise",
    threads: int | None = None,
) -> Any:
    """A (lazy) Spark DataFrame: ``df`` with ``columns`` encrypted."""
    return _map("encrypt", df, columns, spec, contexts, "auto", errors, threads)


def decrypt(
    df: Any,
    columns: str | Sequence[str],
    spec: BoxSpec,
    *,
    contexts: arrow.Contexts = None,
    errors: arrow.Errors = "raise",
    threads: int | None = None,
) -> Any:
    """A (lazy) Spark DataFrame: ``df`` with ``columns`` decrypted (``BinaryType``)."""
    return _map("decrypt", df, columns, spec, contexts, "auto", errors, threads)


def rotate(
    df: Any,
    columns: str | Sequence[str],
    spec: BoxSpec,
    *,
    contexts: arrow.Contexts = None,
    mode: arrow.Mode = "auto",
    errors: arrow.Errors = "raise",
    threads: int | None = None,
) -> Any:
    """A (lazy) Spark DataFrame: ``df`` with ``columns`` rotated to the spec's active key."""
    return _map("rotate", df, columns, spec, contexts, mode, errors, threads)


def _map(
    op: str,
    df: Any,
    columns: str | Sequence[str],
    spec: BoxSpec,
    contexts: arrow.Contexts,
    mode: str,
    errors: str,
    threads: int | None,
) -> Any:
    from pyspark.sql.types import BinaryType, StringType, StructField, StructType

    names = arrow.job_columns(spec, columns, contexts, errors, list(df.schema.names), workers="executors")
    text = op != "decrypt" and spec.encoding == "text"
    fields = []
    for field in df.schema.fields:
        if field.name in names:
            if not isinstance(field.dataType, BinaryType | StringType):
                raise TypeError(
                    f"column {field.name!r} is {field.dataType.simpleString()}, not binary or string"
                )
            field = StructField(field.name, StringType() if text else BinaryType(), True, field.metadata)
        fields.append(field)
    job = functools.partial(_batches, op, names, spec, contexts, mode, errors, threads)
    return df.mapInArrow(job, StructType(fields))


def _batches(
    op: str,
    names: list[str],
    spec: BoxSpec,
    contexts: arrow.Contexts,
    mode: str,
    errors: str,
    threads: int | None,
    batches: Iterator[Any],
) -> Iterator[Any]:
    """One partition's record batches, on an executor, through the Arrow kernel."""
    from pyspark import TaskContext

    task = TaskContext.get()
    where = "" if task is None else f"partition {task.partitionId()}, "
    box = spec.build()
    first = 0
    for batch in batches:
        yield arrow.apply(
            op, batch, names, box, contexts, mode, errors, threads, where=where, first_row=first
        )
        first += batch.num_rows
