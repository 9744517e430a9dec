"""sealbox.dask on a real cluster: a distributed.LocalCluster with two worker processes."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
import pytest
import sealbox
import sealbox.dask
from distributed import Client, LocalCluster
from sealbox import BoxSpec, DataKeyCache, DecryptionError, Keyring, Message, column_context
from sealbox.arrow import ColumnContexts

from .scaling_helpers import flaky_pandas, unwraps

OLD, NEW, KEK = bytes(range(32)), bytes(range(32, 64)), bytes(range(64, 96))
ROWS, PARTS = 2_000, 4
CTX = ColumnContexts("users", key_column="id")


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    # The workers are spawned processes: they inherit these variables, and read them
    # when a spec is built there (never from the pickled spec).
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DASK_TEST_OLD", f"1:{OLD.hex()}")
        env.setenv("DASK_TEST_KEYS", f"1:{OLD.hex()},2:{NEW.hex()}")
        env.setenv("DASK_TEST_KEK", base64.b64encode(KEK).decode())
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit="2GiB",
        )
        with cluster, Client(cluster) as c:
            yield c


def values() -> list[bytes]:
    return [f"person{i}@example.org".encode() for i in range(ROWS)]


def contexts() -> list[bytes]:
    return [column_context("users", "email", row=i) for i in range(ROWS)]


def frame(column: list[Any], npartitions: int = PARTS) -> Any:
    pdf = pd.DataFrame(
        {
            "id": range(ROWS),
            "email": pd.array(column, dtype=pd.ArrowDtype(pa.binary())),
            "other": [i * 2 for i in range(ROWS)],
        }
    )
    return dd.from_pandas(pdf, npartitions=npartitions)


def test_rotation_through_dask_opens_with_the_plain_box_and_back(client: Client) -> None:
    old = sealbox.Box(Keyring({1: OLD}))
    both = sealbox.Box(Keyring({1: OLD, 2: NEW}, active=2))
    written = old.encrypt_batch(values(), contexts())
    rotated = sealbox.dask.rotate(frame(written), "email", BoxSpec(keys_env="DASK_TEST_KEYS"), contexts=CTX)
    assert str(rotated.dtypes["email"]) == "binary[pyarrow]"  # lazy: the types are known before running
    out = rotated.compute()
    assert list(out["other"]) == [i * 2 for i in range(ROWS)]
    messages = list(out["email"])
    assert {Message.parse(m).key_id for m in messages} == {2}
    assert both.decrypt_batch(messages, contexts()) == values()
    # ... and what the plain Box rotates, Dask decrypts.
    by_box = both.rotate_batch(written, contexts())
    spec = BoxSpec(keys_env="DASK_TEST_KEYS")
    back = sealbox.dask.decrypt(frame(by_box), "email", spec, contexts=CTX).compute()
    assert list(back["email"]) == values()
    enc = sealbox.dask.encrypt(frame(values()), "email", spec, contexts=CTX).compute()
    assert both.decrypt_batch(list(enc["email"]), contexts()) == values()


def test_a_retried_rotation_gives_the_same_result(client: Client, tmp_path: Path) -> None:
    """Rotation is a pure function of the row and the keys: the task the engine runs again (here
    the rotation fused with a step that fails each partition's first attempt) gives the same
    bytes, those of the plain Box's repeatable rotation, and a message already current comes out
    byte for byte."""
    old = sealbox.Box(Keyring({1: OLD}))
    both = sealbox.Box(Keyring({1: OLD, 2: NEW}, active=2))
    half = ROWS // 2
    written = old.encrypt_batch(values()[:half], contexts()[:half]) + both.encrypt_batch(
        values()[half:], contexts()[half:]
    )
    spec = BoxSpec(keys_env="DASK_TEST_KEYS")
    rotated = sealbox.dask.rotate(frame(written), "email", spec, contexts=CTX)
    job = rotated.map_partitions(flaky_pandas, str(tmp_path), meta=rotated._meta)
    first = client.compute(job, retries=2).result()
    assert len(list(tmp_path.iterdir())) == PARTS  # every partition failed once and was retried
    second = client.compute(rotated).result()  # the same tasks run again
    by_box = both.rotate_batch(written, contexts(), repeatable=True)
    assert by_box != both.rotate_batch(written, contexts())  # a fresh nonce otherwise
    for out in (first, second):
        messages = list(out["email"])
        assert messages == by_box
        assert both.decrypt_batch(messages, contexts()) == values()
        assert messages[half:] == written[half:]
        assert {Message.parse(m).key_id for m in messages} == {2}
    again = sealbox.dask.rotate(dd.from_pandas(first, npartitions=3), "email", spec, contexts=CTX).compute()
    assert list(again["email"]) == list(first["email"])


def test_a_damaged_row_fails_the_job_naming_partition_and_row_or_becomes_null(client: Client) -> None:
    box = sealbox.Box(Keyring({1: OLD}))
    messages = box.encrypt_batch(values(), contexts())
    messages[1234] = messages[1234][:-1] + bytes([messages[1234][-1] ^ 1])
    spec = BoxSpec(keys_env="DASK_TEST_OLD")
    # 4 partitions of 500 rows: row 1234 is partition 2's row 234.
    with pytest.raises(DecryptionError, match=r"^partition 2, row 234, column 'email': failed to decrypt$"):
        sealbox.dask.decrypt(frame(messages), "email", spec, contexts=CTX).compute()
    out = sealbox.dask.decrypt(frame(messages), "email", spec, contexts=CTX, errors="return").compute()
    got = list(out["email"])
    assert got[1234] is None or pd.isna(got[1234])
    assert got[:1234] == values()[:1234] and got[1235:] == values()[1235:]


def test_missing_keys_on_the_workers_name_the_variable(client: Client) -> None:
    spec = BoxSpec(keys_env="DASK_TEST_NOT_SET")
    with pytest.raises(ValueError, match="environment variable DASK_TEST_NOT_SET is not set on this worker"):
        sealbox.dask.decrypt(frame(values()), "email", spec).compute()
    with pytest.raises(ValueError, match="the file /nonexistent/sealbox-keys does not exist on this worker"):
        sealbox.dask.decrypt(
            frame(values()), "email", BoxSpec(keys_file="/nonexistent/sealbox-keys")
        ).compute()


def test_text_messages_and_string_columns(client: Client) -> None:
    spec = BoxSpec(keys_env="DASK_TEST_KEYS", encoding="text")
    pdf = pd.DataFrame({"id": range(10), "email": [f"v{i}" if i % 3 else None for i in range(10)]})
    ddf = dd.from_pandas(pdf, npartitions=2)  # Dask makes the object column string[pyarrow]
    enc = sealbox.dask.encrypt(ddf, "email", spec)
    assert enc.dtypes["email"] == pd.ArrowDtype(pa.large_string())  # the input's width
    out = enc.compute()
    assert all(isinstance(m, str) for m in out["email"].dropna()) and out["email"].isna().sum() == 4
    back = sealbox.dask.decrypt(dd.from_pandas(out, npartitions=3), "email", spec).compute()
    assert back.dtypes["email"] == pd.ArrowDtype(pa.large_binary())
    assert list(back["email"].dropna()) == [v.encode() for v in pdf["email"].dropna()]


def test_a_provider_spec_unwraps_each_data_key_once_per_worker(client: Client, tmp_path: Path) -> None:
    log = tmp_path / "unwraps"
    spec = BoxSpec(
        kek={"provider": "tests.scaling_helpers:counting_kek", "log": str(log), "key_env": "DASK_TEST_KEK"},
        cache=DataKeyCache(max_messages=ROWS),
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DASK_TEST_KEK", base64.b64encode(KEK).decode())
        written = sealbox.arrow.encrypt_table(
            pa.table({"id": range(ROWS), "email": pa.array(values())}), "email", spec, contexts=CTX
        )
    assert len({Message.parse(m).wrapped_key for m in written.column("email").to_pylist()}) == 1
    out = sealbox.dask.decrypt(
        frame(written.column("email").to_pylist()), "email", spec, contexts=CTX
    ).compute()
    assert list(out["email"]) == values()
    assert 1 <= unwraps(log) <= 2  # one data key, two worker processes: not one call per row


def test_refuses_a_box_and_unknown_columns(client: Client) -> None:
    with pytest.raises(TypeError, match="a Box holds keys and is never shipped"):
        sealbox.dask.encrypt(frame(values()), "email", sealbox.Box(OLD))  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="no column 'mail'"):
        sealbox.dask.encrypt(frame(values()), "mail", BoxSpec(keys_env="DASK_TEST_KEYS"))
    with pytest.raises(TypeError, match="column 'id'"):
        sealbox.dask.encrypt(frame(values()), "id", BoxSpec(keys_env="DASK_TEST_KEYS"))
