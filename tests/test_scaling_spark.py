"""sealbox.spark on a real SparkSession (local[2], one JVM started for this module)."""

from __future__ import annotations

import base64
import functools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sealbox
import sealbox.spark
from pyspark.sql import SparkSession
from sealbox import BoxSpec, DataKeyCache, Keyring, Message, column_context
from sealbox.arrow import ColumnContexts

from .scaling_helpers import flaky_arrow, unwraps

ROOT = Path(__file__).resolve().parents[1]
OLD, NEW, KEK = bytes(range(32)), bytes(range(32, 64)), bytes(range(64, 96))
ROWS, PARTS = 2_000, 4
CTX = ColumnContexts("users", key_column="id")


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    # The Python workers are started by the JVM with this environment: the keys are read
    # there when a spec is built, and tests.scaling_helpers is importable.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYSPARK_PYTHON", sys.executable)
        env.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
        env.setenv("SPARK_TEST_OLD", f"1:{OLD.hex()}")
        env.setenv("SPARK_TEST_KEYS", f"1:{OLD.hex()},2:{NEW.hex()}")
        env.setenv("SPARK_TEST_KEK", base64.b64encode(KEK).decode())
        session = (
            SparkSession.builder.master("local[2, 2]")  # two cores; a failed task is tried twice
            .appName("sealbox-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.sql.shuffle.partitions", str(PARTS))
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("OFF")
        try:
            yield session
        finally:
            session.stop()


def values() -> list[bytes]:
    return [f"person{i}@example.org".encode() for i in range(ROWS)]


def contexts() -> list[bytes]:
    return [column_context("users", "email", row=i) for i in range(ROWS)]


def frame(spark: SparkSession, column: list[Any]) -> Any:
    table = pa.table({"id": pa.array(range(ROWS), pa.int64()), "email": pa.array(column, pa.binary())})
    return spark.createDataFrame(table).repartition(PARTS, "id")


def collect(df: Any) -> pa.Table:
    return df.toArrow().sort_by("id")


def test_rotation_through_spark_opens_with_the_plain_box_and_back(
    spark: SparkSession, tmp_path: Path
) -> None:
    old = sealbox.Box(Keyring({1: OLD}))
    both = sealbox.Box(Keyring({1: OLD, 2: NEW}, active=2))
    half = ROWS // 2
    written = old.encrypt_batch(values()[:half], contexts()[:half]) + both.encrypt_batch(
        values()[half:], contexts()[half:]
    )
    spec = BoxSpec(keys_env="SPARK_TEST_KEYS")
    rotated = sealbox.spark.rotate(frame(spark, written), "email", spec, contexts=CTX)
    # A step after the rotation fails each partition's first attempt: Spark runs the whole
    # task (the rotation with it) again.
    retried = rotated.mapInArrow(functools.partial(flaky_arrow, str(tmp_path)), rotated.schema)
    out = collect(retried)
    assert len(list(tmp_path.iterdir())) == PARTS
    messages = out.column("email").to_pylist()
    assert {Message.parse(m).key_id for m in messages} == {2}
    assert both.decrypt_batch(messages, contexts()) == values()
    assert messages[half:] == written[half:]  # already current: the same bytes
    # Retried and run again, the rotation gives the same bytes: the plain Box's repeatable ones.
    assert messages == both.rotate_batch(written, contexts(), repeatable=True)
    assert collect(rotated).column("email").to_pylist() == messages
    # ... and the other way: what the plain Box rotates, Spark decrypts.
    by_box = both.rotate_batch(written, contexts())
    back = collect(sealbox.spark.decrypt(frame(spark, by_box), "email", spec, contexts=CTX))
    assert back.column("email").to_pylist() == values()
    enc = collect(sealbox.spark.encrypt(frame(spark, values()), "email", spec, contexts=CTX))
    assert both.decrypt_batch(enc.column("email").to_pylist(), contexts()) == values()


def test_damaged_rows_and_missing_keys(spark: SparkSession) -> None:
    box = sealbox.Box(Keyring({1: OLD}))
    messages = box.encrypt_batch(values(), contexts())
    messages[1234] = messages[1234][:-1] + bytes([messages[1234][-1] ^ 1])
    spec = BoxSpec(keys_env="SPARK_TEST_OLD")
    with pytest.raises(Exception, match=r"DecryptionError: partition \d, row \d+, column 'email'") as info:
        collect(sealbox.spark.decrypt(frame(spark, messages), "email", spec, contexts=CTX))
    assert "person1234" not in str(info.value)
    out = collect(sealbox.spark.decrypt(frame(spark, messages), "email", spec, contexts=CTX, errors="return"))
    got = out.column("email").to_pylist()
    assert got[1234] is None and got[:1234] == values()[:1234] and got[1235:] == values()[1235:]
    with pytest.raises(Exception, match="environment variable SPARK_TEST_NOT_SET is not set on this worker"):
        sealbox.spark.decrypt(
            frame(spark, messages), "email", BoxSpec(keys_env="SPARK_TEST_NOT_SET")
        ).collect()


def test_a_damaged_row_is_named_by_its_partition_and_position_across_batches(spark: SparkSession) -> None:
    box = sealbox.Box(Keyring({1: OLD}))
    messages = box.encrypt_batch(values(), contexts())
    messages[1234] = messages[1234][:-1] + bytes([messages[1234][-1] ^ 1])
    table = pa.table({"id": pa.array(range(ROWS), pa.int64()), "email": pa.array(messages, pa.binary())})
    one = spark.createDataFrame(table).coalesce(1)  # rows in order, in partition 0
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "500")  # row 1234: 3rd batch, 234th
    try:
        job = sealbox.spark.decrypt(one, "email", BoxSpec(keys_env="SPARK_TEST_OLD"), contexts=CTX)
        with pytest.raises(
            Exception, match=r"DecryptionError: partition 0, row 1234, column 'email': failed"
        ):
            job.collect()
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")


def test_a_provider_spec_unwraps_a_data_key_once_per_partition_not_per_row(
    spark: SparkSession, tmp_path: Path
) -> None:
    log = tmp_path / "unwraps"
    kek = {"provider": "tests.scaling_helpers:counting_kek", "log": str(log), "key_env": "SPARK_TEST_KEK"}
    spec = BoxSpec(kek=kek, cache=DataKeyCache(max_messages=ROWS))
    written = collect(sealbox.spark.encrypt(frame(spark, values()), "email", spec, contexts=CTX))
    messages = written.column("email").to_pylist()
    keys = len({Message.parse(m).wrapped_key for m in messages})
    assert keys <= PARTS  # one data key per worker process
    before = unwraps(log)
    out = collect(sealbox.spark.decrypt(frame(spark, messages), "email", BoxSpec(kek=kek), contexts=CTX))
    assert out.column("email").to_pylist() == values()
    # No cache on this spec: each batch unwraps each of its data keys once (at most one per
    # data key and partition), never once per row.
    assert 1 <= unwraps(log) - before <= PARTS * keys


def test_text_messages_are_string_columns(spark: SparkSession) -> None:
    spec = BoxSpec(keys_env="SPARK_TEST_KEYS", encoding="text")
    enc = sealbox.spark.encrypt(frame(spark, values()), "email", spec)
    assert enc.schema["email"].dataType.simpleString() == "string"
    out = collect(enc)
    assert all(isinstance(m, str) for m in out.column("email").to_pylist())
    back = collect(sealbox.spark.decrypt(spark.createDataFrame(out), "email", spec))
    assert back.column("email").to_pylist() == values()
    with pytest.raises(TypeError, match="column 'id' is bigint"):
        sealbox.spark.encrypt(frame(spark, values()), "id", spec)
    with pytest.raises(TypeError, match="never shipped"):
        sealbox.spark.encrypt(frame(spark, values()), "email", sealbox.Box(OLD))  # type: ignore[arg-type]
