"""sealbox.arrow: whole tables through the Arrow batch path, and the frames of polars and DuckDB."""

from __future__ import annotations

import uuid
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest
import sealbox
from sealbox import Box, DecryptionError, Keyring, Message, column_context
from sealbox.arrow import ColumnContexts, FromColumn, decrypt_table, encrypt_table, rotate_table

OLD, NEW = bytes(range(32)), bytes(range(32, 64))
VALUES = [b"alice@example.org", None, b"", b"carol@example.org", b"x" * 64]


def table() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([10, 11, 12, 13, 14], pa.int64()),
            "email": pa.array(VALUES, pa.binary()),
            "note": pa.array(["a", "b", None, "d", "e"], pa.string()),
            "ctx": pa.array([b"c0", b"c1", b"c2", b"c3", b"c4"]),
        }
    )


def test_round_trip_keeps_the_other_columns_and_the_nulls() -> None:
    box = Box(NEW)
    t = table()
    enc = encrypt_table(t, ["email", "note"], box)
    assert enc.schema.names == t.schema.names
    assert enc.column("id") == t.column("id") and enc.column("ctx") == t.column("ctx")
    assert enc.schema.field("email").type == pa.binary() and enc.schema.field("note").type == pa.binary()
    assert enc.column("email").null_count == 1 and enc.column("note").null_count == 1
    dec = decrypt_table(enc, ["email", "note"], box)
    assert dec.column("email").to_pylist() == VALUES
    assert dec.column("note").to_pylist() == [b"a", b"b", None, b"d", b"e"]


def test_record_batches_give_record_batches_and_chunks_stay_chunks() -> None:
    box = Box(NEW, encoding="text")
    batch = table().to_batches()[0]
    enc = encrypt_table(batch, "email", box)
    assert isinstance(enc, pa.RecordBatch) and enc.schema.field("email").type == pa.string()
    chunked = pa.concat_tables([table(), table()])
    enc2 = encrypt_table(chunked, "email", box)
    assert enc2.column("email").num_chunks == 2
    assert decrypt_table(enc2, "email", box).column("email").to_pylist() == VALUES * 2


def test_contexts_by_column_by_row_and_from_a_column() -> None:
    box = Box(NEW)
    t = table()
    ids = t.column("id").to_pylist()
    by_row = encrypt_table(t, "email", box, contexts=ColumnContexts("users", key_column="id"))
    for i, message in zip(ids, by_row.column("email").to_pylist(), strict=True):
        if message is not None:
            assert box.decrypt(message, context=column_context("users", "email", row=i)) is not None
    by_col = encrypt_table(t, "email", box, contexts=ColumnContexts("users"))
    assert box.decrypt(by_col.column("email")[0].as_py(), context=column_context("users", "email"))
    from_col = encrypt_table(t, "email", box, contexts=FromColumn("ctx"))
    assert box.decrypt(from_col.column("email")[3].as_py(), context=b"c3") == VALUES[3]
    mixed = encrypt_table(t, ["email", "note"], box, contexts={"email": b"e", "note": FromColumn("ctx")})
    assert box.decrypt(mixed.column("email")[0].as_py(), context=b"e") == VALUES[0]
    assert box.decrypt(mixed.column("note")[1].as_py(), context=b"c1") == b"b"
    with pytest.raises(KeyError, match="without column 'note'"):
        encrypt_table(t, ["email", "note"], box, contexts={"email": b"e"})
    with pytest.raises(KeyError, match="no key column 'pk'"):
        encrypt_table(t, "email", box, contexts=ColumnContexts("users", key_column="pk"))
    uuids = pa.table({"k": pa.array([uuid.uuid4().bytes], pa.binary()), "v": [b"x"]})
    assert encrypt_table(uuids, "v", box, contexts=ColumnContexts("t", key_column="k")).num_rows == 1


def test_rotation_interoperates_with_the_plain_box_both_ways() -> None:
    old = Box(Keyring({1: OLD}))
    both = Box(Keyring({1: OLD, 2: NEW}, active=2))
    ctx = ColumnContexts("users", key_column="id")
    t = table()
    ids = t.column("id").to_pylist()
    contexts = [column_context("users", "email", row=i) for i in ids]
    written = t.set_column(
        1,
        "email",
        pa.array(
            [None if v is None else old.encrypt(v, context=c) for v, c in zip(VALUES, contexts, strict=True)],
            pa.binary(),
        ),
    )
    rotated = rotate_table(written, "email", both, contexts=ctx)
    messages = rotated.column("email").to_pylist()
    assert {Message.parse(m).key_id for m in messages if m is not None} == {2}
    assert both.decrypt_batch(rotated.column("email"), contexts).to_pylist() == VALUES
    again = rotate_table(rotated, "email", both, contexts=ctx)
    assert again.column("email").to_pylist() == messages  # current messages are left as they are
    by_box = both.rotate_batch(written.column("email"), contexts)
    mine = decrypt_table(written.set_column(1, "email", by_box), "email", both, contexts=ctx)
    assert mine.column("email").to_pylist() == VALUES


def test_a_damaged_row_is_named_or_becomes_null() -> None:
    box = Box(NEW)
    enc = encrypt_table(table(), "email", box)
    messages = enc.column("email").to_pylist()
    messages[3] = messages[3][:-1] + bytes([messages[3][-1] ^ 1])
    bad = enc.set_column(1, "email", pa.array(messages, pa.binary()))
    with pytest.raises(DecryptionError, match=r"^row 3, column 'email': failed to decrypt$"):
        decrypt_table(bad, "email", box)
    with pytest.raises(DecryptionError, match=r"^row 3, column 'email'"):
        rotate_table(bad, "email", box, mode="reencrypt")
    out = decrypt_table(bad, "email", box, errors="return").column("email").to_pylist()
    assert out == [VALUES[0], None, VALUES[2], None, VALUES[4]]


def test_envelope_boxes_and_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARROW_TEST_KEYS", f"1:{OLD.hex()},2:{NEW.hex()}")
    spec = sealbox.BoxSpec(keys_env="ARROW_TEST_KEYS", envelope=True)
    enc = encrypt_table(table(), "email", spec)
    assert Message.parse(enc.column("email")[0].as_py()).suite == "envelope"
    assert decrypt_table(enc, "email", spec.build()).column("email").to_pylist() == VALUES


def test_envelope_rotation_through_the_kernel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A local KEK ring (the native path) and a provider's KEK (Python lists), the old ring
    kept as the previous key: rotated messages are under the new KEK and a Box made here opens
    them; an envelope rotation draws new data keys, so a second run gives other bytes."""
    import base64

    from tests.scaling_helpers import unwraps

    monkeypatch.setenv("ARROW_TEST_OLD", f"1:{OLD.hex()}")
    monkeypatch.setenv("ARROW_TEST_KEYS", f"1:{OLD.hex()},2:{NEW.hex()}")
    monkeypatch.setenv("ARROW_TEST_KEK", base64.b64encode(bytes(range(64, 96))).decode())
    rule = ColumnContexts("users", key_column="id")
    old = sealbox.BoxSpec(keys_env="ARROW_TEST_OLD", envelope=True)
    enc = encrypt_table(table(), "email", old, contexts=rule)
    log = tmp_path / "unwraps"
    provider = {
        "provider": "tests.scaling_helpers:counting_kek",
        "log": str(log),
        "key_env": "ARROW_TEST_KEK",
    }
    local = sealbox.BoxSpec(keys_env="ARROW_TEST_KEYS", envelope=True)
    remote = sealbox.BoxSpec(kek=provider, keys_env="ARROW_TEST_OLD")
    for spec, kek_id in ((local, 2), (remote, 7)):
        rotated = rotate_table(enc, "email", spec, contexts=rule)
        messages = rotated.column("email").to_pylist()
        assert [m is None for m in messages] == [v is None for v in VALUES]
        assert {Message.parse(m).key_id for m in messages if m is not None} == {kek_id}
        assert (
            decrypt_table(rotated, "email", spec.build(), contexts=rule).column("email").to_pylist() == VALUES
        )
        again = rotate_table(enc, "email", spec, contexts=rule, mode="reencrypt").column("email").to_pylist()
        assert again != messages and rotate_table(rotated, "email", spec, contexts=rule).equals(rotated)
    assert unwraps(log) >= 1  # the provider's KEK wrapped the new data keys and opened them


def test_polars_and_duckdb_frames_go_through_the_c_stream_interface() -> None:
    box = Box(NEW)
    frame = pl.DataFrame({"id": [1, 2, 3], "v": [b"a", None, b"c"]})
    enc = encrypt_table(frame, "v", box, contexts=ColumnContexts("t", key_column="id"))
    assert isinstance(enc, pa.Table)
    back = pl.from_arrow(decrypt_table(pl.from_arrow(enc), "v", box, contexts=ColumnContexts("t", "id")))
    assert isinstance(back, pl.DataFrame) and back["v"].to_list() == [b"a", None, b"c"]
    con = duckdb.connect()
    rel = con.sql("SELECT i AS id, ('value ' || i)::BLOB AS v FROM range(100) t(i)")
    enc = encrypt_table(rel, "v", box, contexts=ColumnContexts("t", key_column="id"))
    stored = con.sql("SELECT * FROM enc ORDER BY id")  # DuckDB reads the Arrow table back
    dec = decrypt_table(stored, "v", box, contexts=ColumnContexts("t", key_column="id"))
    assert dec.column("v").to_pylist() == [f"value {i}".encode() for i in range(100)]


def test_bad_arguments() -> None:
    box = Box(NEW)
    with pytest.raises(KeyError, match="no column 'mail'"):
        encrypt_table(table(), "mail", box)
    with pytest.raises(TypeError, match="column 'id'"):
        encrypt_table(table(), "id", box)
    with pytest.raises(TypeError, match=r"Box or a sealbox\.BoxSpec"):
        encrypt_table(table(), "email", NEW)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pyarrow Table or RecordBatch"):
        encrypt_table({"email": [b"x"]}, "email", box)
    with pytest.raises(ValueError, match="errors must be"):
        decrypt_table(table(), "email", box, errors="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="twice"):
        encrypt_table(table(), ["email", "email"], box)
    keys = table().set_column(0, "id", pa.array([1, None, 3, 4, 5], pa.int64()))
    with pytest.raises(ValueError, match="key column 'id' is null in row 1"):
        encrypt_table(keys, "email", box, contexts=ColumnContexts("users", key_column="id"))
