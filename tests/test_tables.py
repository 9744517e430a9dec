"""sealbox.tables: rotate, encrypt and status over real SQLite, PostgreSQL and MariaDB tables.

The servers are started by the session fixtures (tests/services.py). Each test builds its
table through SQLAlchemy and checks what the job left in it by reading the rows back and
decrypting them with a Box of its own.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sealbox
import sqlalchemy as sa
from sealbox import codecs, column_context, tables
from sealbox._native import Message
from sealbox.cli import main as cli
from sealbox.tables import _alchemy, _job, _postgres, _sqlite

K1, K2 = b"\x01" * 32, b"\x02" * 32
RING1 = sealbox.Keyring({1: K1})
RING2 = sealbox.Keyring({1: K1, 2: K2}, active=2)
ONLY2 = sealbox.Keyring({2: K2})
_names = itertools.count()


@dataclass
class Db:
    """A database for one test: the URL the job takes, and an engine for the test's own SQL."""

    name: str
    url: str
    engine: sa.Engine
    blob: str
    text: str

    def run(self, sql: str, params: Any = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text(sql), params or {})

    def rows(self, table: str, columns: str) -> dict[Any, tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return {r[0]: tuple(r[1:]) for r in conn.execute(sa.text(f"SELECT id, {columns} FROM {table}"))}

    def insert(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        marks = ", ".join(f":c{i}" for i in range(len(columns)))
        params = [{f"c{i}": v for i, v in enumerate(row)} for row in rows]
        with self.engine.begin() as conn:
            conn.execute(sa.text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"), params)


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    if request.param == "sqlite":
        path = tmp_path / "app.sqlite3"
        engine = sa.create_engine(f"sqlite:///{path}")
        yield Db("sqlite", str(path), engine, "BLOB", "TEXT")
    elif request.param == "postgresql":
        server = request.getfixturevalue("postgres").create_database(f"t{os.getpid()}_{next(_names)}")
        engine = sa.create_engine(server.sqlalchemy_url)
        yield Db("postgresql", server.url, engine, "bytea", "text")
    else:
        server = request.getfixturevalue("mariadb")
        engine = sa.create_engine(server.sqlalchemy_url)
        with engine.begin() as conn:
            for table in ("items", "plain", "pairs", "nokey", "ints"):
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        yield Db("mariadb", server.sqlalchemy_url, engine, "VARBINARY(1024)", "VARCHAR(1024)")
    engine.dispose()


def ctx(column: str, key: int) -> bytes:
    return column_context("items", column, row=key)


def make_items(db: Db, n: int = 300, *, keys: Any = RING1) -> dict[int, dict[str, Any]]:
    """``items``: a binary, a text, a deterministic and an envelope column under key 1, row
    contexts, every seventh value NULL. Returns the plaintexts."""
    db.run(
        f"CREATE TABLE items (id BIGINT PRIMARY KEY, bin {db.blob}, txt {db.text},"
        f" det {db.blob}, env {db.blob})"
    )
    boxes = {
        "bin": sealbox.Box(keys),
        "txt": sealbox.Box(keys, encoding="text"),
        "det": sealbox.Box(keys, deterministic=True),
        "env": sealbox.Box(sealbox.EnvelopeKeyProvider(keys)),
    }
    plain: dict[int, dict[str, Any]] = {}
    rows = []
    for i in range(1, n + 1):
        values = {c: None if (i + k) % 7 == 0 else f"{c}-{i % 50}".encode() for k, c in enumerate(boxes)}
        plain[i] = values
        rows.append(
            (i, *(None if v is None else boxes[c].encrypt(v, context=ctx(c, i)) for c, v in values.items()))
        )
    db.insert("items", ["id", "bin", "txt", "det", "env"], rows)
    return plain


def check_items(db: Db, plain: dict[int, dict[str, Any]], key_id: int) -> None:
    """Every value decrypts to its plaintext under its row's context, under ``key_id``, in its
    own suite and form; NULLs are NULL."""
    box = sealbox.Box(sealbox.EnvelopeKeyProvider(RING2))
    suites = {"bin": "aes-256-gcm", "txt": "aes-256-gcm", "det": "aes-256-siv", "env": "envelope"}
    rows = db.rows("items", "bin, txt, det, env")
    assert set(rows) == set(plain)
    for i, row in rows.items():
        for column, value in zip(("bin", "txt", "det", "env"), row, strict=True):
            if plain[i][column] is None:
                assert value is None
                continue
            assert isinstance(value, str) == (column == "txt")
            message = sealbox.Message.parse(value)
            assert (message.key_id, message.suite) == (key_id, suites[column])
            assert box.decrypt(value, context=ctx(column, i)) == plain[i][column]


# -- rotate


def test_rotate_moves_every_value_and_keeps_its_nature(db: Db) -> None:
    plain = make_items(db)
    before = db.rows("items", "env")
    report = tables.rotate(db.url, "items", ["bin", "txt", "det", "env"], RING2, context="row", batch_size=64)
    assert report.rotated == 300 and report.failed == [] and report.conflicts == 0
    check_items(db, plain, key_id=2)
    # Envelope messages are re-wrapped: the payload (after the wrapped data key) is untouched.
    after = db.rows("items", "env")
    for i, (old,) in before.items():
        if old is not None:
            assert after[i][0][-40:] == old[-40:] and after[i][0][:6] != old[:6]
    # Deterministic messages stay deterministic: equal plaintexts, equal messages, found by lookup.
    det = sealbox.Box(RING2, deterministic=True)
    stored = db.rows("items", "det")
    assert stored[8][0] == det.lookup_values(plain[8]["det"], context=ctx("det", 8))[0]


def test_a_second_run_reads_no_row(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    make_items(db, 200)
    assert tables.rotate(db.url, "items", ["bin", "txt", "det", "env"], RING2, context="row").rotated == 200
    read: list[int] = []
    original = _job.Job.process

    def spy(self: Any, rows: Any) -> Any:
        read.append(len(rows))
        return original(self, rows)

    monkeypatch.setattr(_job.Job, "process", spy)
    report = tables.rotate(db.url, "items", ["bin", "txt", "det", "env"], RING2, context="row")
    assert (report.rotated, report.unchanged, read) == (0, 200, [])


def test_a_row_that_fails_is_reported_and_the_others_finish(db: Db) -> None:
    plain = make_items(db, 100)
    rows = db.rows("items", "bin")
    damaged = bytearray(rows[10][0])
    damaged[-1] ^= 1
    db.run("UPDATE items SET bin = :v WHERE id = 10", {"v": bytes(damaged)})
    db.run("UPDATE items SET bin = :v WHERE id = 11", {"v": b"plaintext that was never encrypted, 4111 1111"})
    db.run("UPDATE items SET bin = :v WHERE id = 12", {"v": rows[13][0]})  # moved from another row
    report = tables.rotate(db.url, "items", "bin", RING2, context="row")
    assert {(f.key, f.reason.split(":")[0]) for f in report.failed} == {
        (10, "does not decrypt"),
        (11, "not a sealbox message"),
        (12, "does not decrypt"),
    }
    assert report.rotated == 100 - 3 - sum(plain[i]["bin"] is None for i in plain)
    text = json.dumps(report.to_json())
    assert "4111" not in text and rows[13][0].hex() not in text  # keys and reasons, never values
    after = db.rows("items", "bin")
    assert after[10][0] == bytes(damaged) and after[12][0] == rows[13][0]
    assert sealbox.Message.parse(after[20][0]).key_id == 2


def test_strict_stops_at_the_first_failure_without_writing_its_batch(db: Db) -> None:
    make_items(db, 100)
    db.run("UPDATE items SET bin = :v WHERE id = 60", {"v": b"x" * 80})
    with pytest.raises(tables.TableJobError, match=r"row 60, column bin: not a sealbox message") as info:
        tables.rotate(db.url, "items", "bin", RING2, context="row", batch_size=50, strict=True)
    # The first batch (the first 50 rows with a value) was written; row 60 is in the second.
    assert info.value.report.rotated == 50
    key_ids = {
        i: sealbox.Message.parse(v).key_id for i, (v,) in db.rows("items", "bin").items() if v and i != 60
    }
    first = sorted(key_ids)[:50]
    assert {i for i, k in key_ids.items() if k == 2} == set(first)


def test_dry_run_writes_nothing(db: Db) -> None:
    make_items(db, 80)
    before = db.rows("items", "bin, txt, det, env")
    report = tables.rotate(db.url, "items", ["bin", "txt", "det", "env"], RING2, context="row", dry_run=True)
    assert report.dry_run and report.rotated == 80
    assert db.rows("items", "bin, txt, det, env") == before


def test_the_wrong_context_or_keys_stop_before_anything_is_written(db: Db) -> None:
    make_items(db, 100)
    before = db.rows("items", "bin")
    with pytest.raises(ValueError, match=r"none of the first .* decrypts.*context='column'"):
        tables.rotate(db.url, "items", "bin", RING2, context="column")
    impostor = sealbox.Keyring({1: b"\x09" * 32, 2: K2}, active=2)  # key 1's id, another key
    with pytest.raises(ValueError, match="none of the first"):
        tables.rotate(db.url, "items", "bin", impostor, context="row")
    with pytest.raises(ValueError, match=r"under key 1 \(86 rows\), which the keys do not hold"):
        tables.rotate(db.url, "items", "bin", ONLY2, context="row")
    assert db.rows("items", "bin") == before


def test_a_table_the_job_cannot_walk_is_refused_with_what_to_do(db: Db) -> None:
    db.run(f"CREATE TABLE pairs (a BIGINT, b BIGINT, v {db.blob}, PRIMARY KEY (a, b))")
    db.run(f"CREATE TABLE nokey (id BIGINT, v {db.blob})")
    db.run(f"CREATE TABLE ints (id BIGINT PRIMARY KEY, n INTEGER, v {db.blob})")
    with pytest.raises(ValueError, match="there is no table missing"):
        tables.rotate(db.url, "missing", "v", RING2)
    with pytest.raises(ValueError, match=r"primary key has 2 columns \(a, b\).*--key-column"):
        tables.rotate(db.url, "pairs", "v", RING2)
    with pytest.raises(ValueError, match="has no primary key: pass key_column"):
        tables.rotate(db.url, "nokey", "v", RING2)
    with pytest.raises(ValueError, match="neither the primary key nor under a unique index"):
        tables.rotate(db.url, "nokey", "v", RING2, key_column="id")
    with pytest.raises(ValueError, match="no column nope"):
        tables.rotate(db.url, "ints", "nope", RING2)
    with pytest.raises(ValueError, match=r"ints\.n is .*cannot hold messages"):
        tables.encrypt(db.url, "ints", "n", RING2)
    with pytest.raises(ValueError, match="is the key the job pages by"):
        tables.rotate(db.url, "ints", "id", RING2)


def test_verify_reads_every_row_back_and_rolls_back_a_batch_that_does_not_decrypt(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_items(db, 120)
    report = tables.rotate(db.url, "items", "bin", RING2, context="row", verify=True, batch_size=40)
    assert report.verified and report.rotated == 120 - sum(1 for i in range(1, 121) if i % 7 == 0)
    # A database that changes what it stores (here: a write path that truncates) is caught.
    db.run("DROP TABLE items")
    make_items(db, 120)
    before = db.rows("items", "txt")
    original = _job.Job.process

    def truncating(self: Any, rows: Any) -> Any:
        writes, failures, tried = original(self, rows)
        for w in writes:
            w.new = [[v[:-1] for v in column] for column in w.new]
        return writes, failures, tried

    monkeypatch.setattr(_job.Job, "process", truncating)
    with pytest.raises(
        tables.TableJobError, match="does not decrypt after the write; the batch was rolled back"
    ):
        tables.rotate(db.url, "items", "txt", RING2, context="row", verify=True, batch_size=40)
    assert db.rows("items", "txt") == before


def test_a_value_the_application_writes_meanwhile_survives(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    """The compare-and-swap: between the job's read and its write, the application writes
    rows 5 (under the new key) and 6 (under the old key); both keep the application's
    value, and row 6 is rotated by the next pass."""
    make_items(db, 50)
    app_old, app_new = sealbox.Box(RING1), sealbox.Box(RING2)
    written = {
        5: app_new.encrypt(b"app five", context=ctx("bin", 5)),
        6: app_old.encrypt(b"app six", context=ctx("bin", 6)),
    }
    backend_class = {
        "sqlite": _sqlite.SqliteBackend,
        "postgresql": _postgres.PostgresBackend,
        "mariadb": _alchemy.AlchemyBackend,
    }[db.name]
    original = backend_class.write
    calls = []

    def racing(self: Any, layout: Any, writes: Any, check: Any, read: Any) -> int:
        if not calls:
            for key, value in written.items():
                db.run("UPDATE items SET bin = :v WHERE id = :k", {"v": value, "k": key})
        calls.append(1)
        return original(self, layout, writes, check, read)

    monkeypatch.setattr(backend_class, "write", racing)
    report = tables.rotate(db.url, "items", "bin", RING2, context="row")
    assert report.conflicts == 2 and report.passes == 2 and report.failed == []
    rows = db.rows("items", "bin")
    assert rows[5][0] == written[5]
    assert sealbox.Message.parse(rows[6][0]).key_id == 2
    assert app_new.decrypt(rows[6][0], context=ctx("bin", 6)) == b"app six"


def test_status_counts_before_during_and_after(db: Db) -> None:
    make_items(db, 140)
    db.run("UPDATE items SET bin = :v WHERE id = 3", {"v": b"not encrypted"})
    nulls = sum(1 for i in range(1, 141) if i % 7 == 0)
    before = tables.status(db.url, "items", "bin")
    assert before.to_json() == {
        "table": "items",
        "column": "bin",
        "rows": 140,
        "null": nulls,
        "by_key": {"1": 140 - nulls - 1},
        "by_suite": {"aes-256-gcm": 140 - nulls - 1},
        "not_encrypted": 1,
    }
    during: list[dict[int, int]] = []

    def progress(done: int, total: int) -> None:
        if not during:
            during.append(tables.status(db.url, "items", "bin").by_key)

    tables.rotate(db.url, "items", "bin", RING2, context="row", batch_size=50, progress=progress)
    assert during[0][1] > 0 and during[0][2] > 0 and sum(during[0].values()) == 140 - nulls - 1
    after = tables.status(db.url, "items", "bin")
    assert after.by_key == {2: 140 - nulls - 1} and after.not_encrypted == 1 and after.null == nulls


# -- encrypt


def test_encrypt_turns_a_plaintext_column_into_messages_once(db: Db) -> None:
    db.run(f"CREATE TABLE plain (id BIGINT PRIMARY KEY, email {db.text}, photo {db.blob})")
    values = {
        i: (None if i % 9 == 0 else f"user{i}@example.org", None if i % 4 == 0 else bytes([i % 256]) * 3)
        for i in range(1, 121)
    }
    db.insert("plain", ["id", "email", "photo"], [(i, *v) for i, v in values.items()])
    report = tables.encrypt(db.url, "plain", ["email", "photo"], RING2, verify=True, batch_size=32)
    assert report.encrypted == sum(1 for v in values.values() if v != (None, None)) and report.failed == []
    box = sealbox.Box(RING2)
    rows = db.rows("plain", "email, photo")
    for i, (email, photo) in rows.items():
        assert (email is None) == (values[i][0] is None) and (photo is None) == (values[i][1] is None)
        if email is not None:
            assert isinstance(email, str)  # a text column holds text messages
            assert codecs.decode(box.decrypt(email, context=column_context("plain", "email"))) == values[i][0]
        if photo is not None:
            assert codecs.decode(box.decrypt(photo, context=column_context("plain", "photo"))) == values[i][1]
    again = tables.encrypt(db.url, "plain", ["email", "photo"], RING2)
    assert again.encrypted == 0 and db.rows("plain", "email, photo") == rows
    status = tables.status(db.url, "plain", "email")
    assert status.by_key == {2: 120 - 13} and status.not_encrypted == 0


def test_encrypt_raw_and_deterministic(tmp_path: Path) -> None:
    path = tmp_path / "raw.sqlite3"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE plain (id INTEGER PRIMARY KEY, email TEXT)"))
        conn.execute(sa.text("INSERT INTO plain VALUES (1, 'a@example.org'), (2, 'a@example.org'), (3, 'b')"))
    tables.encrypt(str(path), "plain", "email", RING2, codec=False, deterministic=True, context="column")
    with engine.connect() as conn:
        rows = [r[0] for r in conn.execute(sa.text("SELECT email FROM plain ORDER BY id"))]
    det = sealbox.Box(RING2, deterministic=True, encoding="text")
    assert rows[0] == rows[1] == det.encrypt(b"a@example.org", context=column_context("plain", "email"))
    assert det.decrypt(rows[2], context=column_context("plain", "email")) == b"b"


# -- the command


def test_the_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "app.sqlite3"
    db = Db("sqlite", str(path), sa.create_engine(f"sqlite:///{path}"), "BLOB", "TEXT")
    make_items(db, 60)
    monkeypatch.setenv("KEYS", f"1:{K1.hex()},2:{K2.hex()}")
    monkeypatch.delenv("SEALBOX_KEYS", raising=False)
    assert cli(["rotate", "--db", str(path), "--table", "items", "--column", "bin", "--context", "row"]) == 2
    assert "environment variable SEALBOX_KEYS is not set" in capsys.readouterr().err
    base = ["--db", str(path), "--table", "items", "--keys-env", "KEYS", "--json"]
    assert cli(["status", *base, "--column", "bin"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["by_key"] == {"1": 52} and status["to_rotate"] == 52 and status["active_key"] == 2
    assert cli(["rotate", *base, "--column", "bin", "--column", "txt", "--context", "row", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["rotated"] == 60
    assert cli(["rotate", *base, "--column", "bin", "--column", "txt", "--context", "row", "--verify"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {k: report[k] for k in ("rotated", "unchanged", "failed", "verified")} == {
        "rotated": 60,
        "unchanged": 0,
        "failed": [],
        "verified": True,
    }
    assert isinstance(report["seconds"], float)
    db.run("UPDATE items SET env = :v WHERE id = 2", {"v": b"garbage"})
    assert cli(["rotate", *base, "--column", "env", "--context", "row"]) == 1
    assert json.loads(capsys.readouterr().out)["failed"] == [
        {"key": 2, "column": "env", "reason": "not a sealbox message"}
    ]
    assert (
        cli(["rotate", "--db", str(path), "--table", "items", "--keys-env", "KEYS", "--column", "nope"]) == 2
    )
    assert "no column nope" in capsys.readouterr().err
    assert (
        cli(
            [
                "rotate",
                "--db",
                str(tmp_path / "absent.db"),
                "--table",
                "t",
                "--keys-env",
                "KEYS",
                "--column",
                "c",
            ]
        )
        == 2
    )
    assert "no SQLite database at" in capsys.readouterr().err


@pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
def test_a_concurrent_writer_keeps_its_values(db: Db) -> None:
    """The application updates random rows from another connection while the job runs."""
    make_items(db, 3000)
    app = sealbox.Box(RING1)  # the application still writes under the old key
    last: dict[int, bytes] = {}
    stop = threading.Event()

    def application() -> None:
        rng = __import__("random").Random(5)
        # The application waits for the job's short write locks, as one would configure it.
        engine = sa.create_engine(db.engine.url, connect_args={"timeout": 60} if db.name == "sqlite" else {})
        while not stop.is_set():
            key = rng.randrange(1, 3001)
            value = f"app {key} {rng.random()}".encode()
            with engine.begin() as conn:
                conn.execute(
                    sa.text("UPDATE items SET bin = :v WHERE id = :k"),
                    {"v": app.encrypt(value, context=ctx("bin", key)), "k": key},
                )
            last[key] = value
        engine.dispose()

    thread = threading.Thread(target=application)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(last) < 5 and time.monotonic() < deadline:  # the application is writing
            time.sleep(0.01)
        # At least three passes, and as many more as it takes for the application to have
        # written while they ran (a loaded machine may run a pass before it writes much).
        passes = 0
        while passes < 3 or (len(last) <= 20 and passes < 200):
            tables.rotate(db.url, "items", "bin", RING2, context="row", batch_size=100)
            passes += 1
    finally:
        stop.set()
        thread.join()
    tables.rotate(db.url, "items", "bin", RING2, context="row")
    box = sealbox.Box(RING2)
    rows = db.rows("items", "bin")
    assert len(last) > 10
    for key, value in last.items():
        assert box.decrypt(rows[key][0], context=ctx("bin", key)) == value
    assert set(tables.status(db.url, "items", "bin").by_key) == {2}


def test_keys_as_a_provider_or_a_box_rotate_their_own_kind(tmp_path: Path) -> None:
    path = tmp_path / "kinds.sqlite3"
    db = Db("sqlite", str(path), sa.create_engine(f"sqlite:///{path}"), "BLOB", "TEXT")
    plain = make_items(db, 40)
    provider = sealbox.EnvelopeKeyProvider(RING2)
    report = tables.rotate(db.url, "items", ["env", "bin"], provider, context="row")
    assert {f.reason for f in report.failed} == {
        "a message of suite aes-256-gcm; an EnvelopeKeyProvider rotates envelope messages only"
    }
    assert {f.column for f in report.failed} == {"bin"}
    report = tables.rotate(db.url, "items", ["bin", "txt"], sealbox.Box(RING2), context="row")
    assert {f.column for f in report.failed} == {"txt"}  # text messages need a text Box
    assert all("pass the keyring" in f.reason for f in report.failed)
    tables.rotate(db.url, "items", ["txt", "det"], RING2, context="row")
    check_items(db, plain, key_id=2)


def test_row_contexts_are_column_contexts() -> None:
    from uuid import UUID

    from sealbox._context import row_contexts

    rows: list[Any] = [0, 1, -1, 127, 128, -128, -129, 255, 256, 2**63 - 1, -(2**63), 10**30, "42", b"\x00"]
    rows.append(UUID(int=7))
    assert row_contexts("t", "c", rows) == [column_context("t", "c", row=r) for r in rows]
    with pytest.raises(TypeError, match="not bool"):
        row_contexts("t", "c", [True])


def test_a_unique_constraint_refuses_a_row_and_the_others_finish(db: Db) -> None:
    """A deterministic column with a unique index holds a value under key 1 in one row and the
    same value under key 2 in another (the index could not see they were equal): rotating the
    first would duplicate the second. That row is reported; the rest of its batch is written."""
    db.run(f"CREATE TABLE items (id BIGINT PRIMARY KEY, det {db.blob} UNIQUE)")
    det1, det2 = sealbox.Box(RING1, deterministic=True), sealbox.Box(RING2, deterministic=True)
    rows = [(i, det1.encrypt(f"v{i}".encode(), context=column_context("items", "det"))) for i in range(1, 21)]
    rows.append((21, det2.encrypt(b"v7", context=column_context("items", "det"))))
    db.insert("items", ["id", "det"], rows)
    report = tables.rotate(db.url, "items", "det", RING2)
    assert [f.key for f in report.failed] == [7]
    assert report.failed[0].reason.startswith("the table refuses the new value (")
    assert report.rotated == 19 and report.conflicts == 0
    assert tables.status(db.url, "items", "det").by_key == {1: 1, 2: 20}


def test_review_cases_nullable_keys_collations_remaining_and_quiet_errors(tmp_path: Path) -> None:
    path = tmp_path / "edge.sqlite3"
    conn = __import__("sqlite3").connect(path)
    box = sealbox.Box(RING1)
    conn.execute("CREATE TABLE nk (ext TEXT UNIQUE, v BLOB)")
    with pytest.raises(ValueError, match="may be NULL"):
        tables.rotate(str(path), "nk", "v", RING2, key_column="ext")
    # A text key whose column compares case-insensitively: 'a' and 'A' are two rows.
    conn.execute("CREATE TABLE ci (ext TEXT COLLATE NOCASE NOT NULL, v BLOB, UNIQUE (ext COLLATE BINARY))")
    rows = [("a", "alice"), ("A", "anna"), ("b", "bob")]
    conn.executemany(
        "INSERT INTO ci VALUES (?, ?)",
        [(k, box.encrypt(v.encode(), context=column_context("ci", "v", row=k))) for k, v in rows],
    )
    conn.commit()
    report = tables.rotate(str(path), "ci", "v", RING2, key_column="ext", context="row", batch_size=1)
    assert (report.rotated, report.conflicts, report.remaining) == (3, 0, 0)
    got = dict(conn.execute("SELECT ext, v FROM ci").fetchall())
    for k, v in rows:
        assert sealbox.Box(RING2).decrypt(got[k], context=column_context("ci", "v", row=k)) == v.encode()
    # A value that does not decrypt stays pending: the report and the command say so.
    conn.execute("UPDATE ci SET v = ? WHERE ext = 'b'", (box.encrypt(b"x", context=b"elsewhere"),))
    conn.commit()
    report = tables.rotate(str(path), "ci", "v", RING2, key_column="ext", context="row")
    assert report.remaining == 1 and [f.key for f in report.failed] == ["b"]
    # The database's own errors never carry the values of the statement.
    conn.execute("CREATE TABLE secrets (id INTEGER PRIMARY KEY, ssn TEXT)")
    conn.execute("INSERT INTO secrets VALUES (1, '123-45-6789')")
    conn.execute("CREATE TRIGGER no BEFORE UPDATE ON secrets BEGIN SELECT no_such_function(); END")
    conn.commit()
    with pytest.raises(tables.DatabaseError) as info:
        tables.encrypt(f"sqlite+pysqlite:///{path}", "secrets", "ssn", sealbox.Box(RING2, encoding="text"))
    assert "123-45" not in str(info.value) and "no_such_function" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


# --- decrypt, and moves off (and back to) another library's format -----------------------------


def test_decrypt_puts_back_the_plaintext_and_a_second_run_finds_nothing(db: Db) -> None:
    plain = make_items(db, 120)
    columns = ["bin", "txt", "det", "env"]
    with pytest.raises(ValueError, match=r"none of the first .* decrypts"):
        tables.decrypt(db.url, "items", columns, RING2, context="column", codec=False)
    assert all(v is None or _job.looks_encrypted(v) for row in db.rows("items", "bin").values() for v in row)
    report = tables.decrypt(db.url, "items", columns, RING2, context="row", codec=False, batch_size=50)
    rows = db.rows("items", "bin, txt, det, env")
    for i, row in rows.items():
        for column, value in zip(columns, row, strict=True):
            want = plain[i][column]
            assert value == (want.decode() if column == "txt" and want is not None else want)
    nonempty = sum(1 for p in plain.values() if any(v is not None for v in p.values()))
    assert (report.decrypted, report.remaining, report.failed) == (nonempty, 0, [])
    assert report.to_json()["decrypted"] == nonempty
    assert tables.decrypt(db.url, "items", columns, RING2, context="row", codec=False).decrypted == 0


def test_decrypt_converts_to_another_format_and_reports_what_does_not(db: Db) -> None:
    from sealbox.compat.lockbox import Lockbox

    db.run(f"CREATE TABLE plain (id BIGINT PRIMARY KEY, v {db.text})")
    box = sealbox.Box(RING1, encoding="text")
    c = column_context("plain", "v")
    db.insert(
        "plain", ["id", "v"], [(i, box.encrypt(codecs.encode(f"value {i}"), context=c)) for i in range(1, 41)]
    )
    damaged = box.encrypt(codecs.encode("x"), context=c)
    damaged = damaged[:-3] + ("A" if damaged[-3] != "A" else "B") + damaged[-2:]
    db.insert("plain", ["id", "v"], [(41, damaged), (42, box.encrypt(codecs.encode(7), context=c))])
    lockbox = Lockbox(bytes(range(32)))
    report = tables.decrypt(db.url, "plain", "v", RING1, convert={"v": lockbox.encrypt}, batch_size=16)
    assert report.decrypted == 40
    # 7 is an int: Lockbox takes text or bytes (a TypeError, reported, the row left alone).
    assert sorted(f.key for f in report.failed) == [41, 42] and report.remaining == 2
    rows = db.rows("plain", "v")
    assert all(lockbox.decrypt(rows[i][0]) == f"value {i}".encode() for i in range(1, 41))
    assert rows[41][0] == damaged


def _lookalike(lockbox: Any, value: str) -> str:
    """A Lockbox value whose base64 starts like a sealbox text message (one in 16,384)."""
    from sealbox.tables._headers import looks_encrypted

    while True:
        out = lockbox.encrypt(value)
        if looks_encrypted(out):
            return out


def test_a_move_off_lockbox_reads_lookalikes_rotates_messages_and_keeps_failures(db: Db) -> None:
    from sealbox.compat.lockbox import Lockbox

    lockbox = Lockbox(bytes(range(32)))
    db.run(f"CREATE TABLE plain (id BIGINT PRIMARY KEY, v {db.text})")
    c = column_context("plain", "v")
    value = "someone@example.org, a value long enough"
    rows: list[tuple[int, Any]] = [(i, lockbox.encrypt(f"{value} {i}")) for i in range(1, 61)]
    rows.append((61, _lookalike(lockbox, value)))
    old = sealbox.Box(RING1, encoding="text").encrypt(codecs.encode("under key 1"), context=c)
    rows.append((62, old))
    done = sealbox.Box(RING2, encoding="text").encrypt(codecs.encode("under key 2"), context=c)
    rows.append((63, done))
    rows.append((64, Lockbox(bytes(32)).encrypt("another key")))
    rows.append((65, None))
    db.insert("plain", ["id", "v"], rows)

    def read(v: Any) -> str:
        try:
            return lockbox.decrypt_str(v)
        except sealbox.DecryptionError:
            raise ValueError("not a Lockbox value") from None

    with pytest.raises(ValueError, match=r"none of the first .* reads in the source format"):
        tables.encrypt(
            db.url, "plain", "v", RING2, convert={"v": Lockbox(b"\x07" * 32).decrypt}, batch_size=40
        )
    report = tables.encrypt(db.url, "plain", "v", RING2, convert={"v": read}, batch_size=20)
    assert report.encrypted == 62 and [f.key for f in report.failed] == [64] and report.remaining == 1
    got = db.rows("plain", "v")
    text = sealbox.Box(RING2, encoding="text")
    assert all(text.decrypt(got[i][0], context=c) == codecs.encode(f"{value} {i}") for i in range(1, 61))
    assert text.decrypt(got[61][0], context=c) == codecs.encode(value)
    assert (
        Message.parse(got[62][0]).key_id == 2
        and codecs.decode(text.decrypt(got[62][0], context=c)) == "under key 1"
    )
    assert got[63][0] == done and got[64][0] == rows[63][1] and got[65][0] is None
    again = tables.encrypt(db.url, "plain", "v", RING2, convert={"v": read})
    assert (again.encrypted, [f.key for f in again.failed]) == (0, [64])


def test_a_move_reads_row_columns_alongside(db: Db) -> None:
    from sealbox.compat.attr_encrypted import AttrEncrypted

    attr = AttrEncrypted(b"k" * 32)
    db.run(f"CREATE TABLE pairs (id BIGINT PRIMARY KEY, enc {db.text}, enc_iv {db.text})")
    stored = [attr.encrypt(f"secret {i}") for i in range(1, 31)]
    db.insert(
        "pairs", ["id", "enc", "enc_iv"], [(i, s["encrypted"], s["iv"]) for i, s in enumerate(stored, 1)]
    )
    seen: list[int] = []

    def read(value: Any, iv: Any) -> Any:
        seen.append(1)
        return attr.decrypt(value, iv=iv)

    with pytest.raises(ValueError, match="cannot be a row column too"):
        tables.encrypt(db.url, "pairs", "enc", RING1, convert={"enc": read}, row_columns=["enc"])
    with pytest.raises(ValueError, match="nope"):
        tables.encrypt(db.url, "pairs", "enc", RING1, convert={"enc": read}, row_columns=["nope"])
    report = tables.encrypt(db.url, "pairs", "enc", RING1, convert={"enc": read}, row_columns=["enc_iv"])
    assert report.encrypted == 30 and len(seen) == 30
    box = sealbox.Box(RING1, encoding="text")
    got = db.rows("pairs", "enc, enc_iv")
    for i, (enc, iv) in got.items():
        assert codecs.decode(box.decrypt(enc, context=column_context("pairs", "enc"))) == f"secret {i}"
        assert iv == stored[i - 1]["iv"]  # read, never written


def test_a_move_of_one_column_leaves_the_others_to_encrypt_as_plaintext(tmp_path: Path) -> None:
    """Only the columns with ``convert`` are moves: in the others, a message under an older key
    is not the job's (``rotate`` moves it), and does not count as remaining."""
    import sqlite3

    from sealbox.compat.lockbox import Lockbox

    path = str(tmp_path / "app.sqlite3")
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT)")
    lockbox = Lockbox(bytes(range(32)))
    old = sealbox.Box(RING1, encoding="text").encrypt(codecs.encode("old"), context=column_context("t", "b"))
    db.executemany(
        "INSERT INTO t VALUES (?, ?, ?)",
        [(1, lockbox.encrypt("x"), "plain b"), (2, lockbox.encrypt("y"), old)],
    )
    db.commit()
    report = tables.encrypt(path, "t", ["a", "b"], RING2, convert={"a": lockbox.decrypt_str})
    assert (report.encrypted, report.remaining, report.failed) == (2, 0, [])
    rows = dict((i, (a, b)) for i, a, b in db.execute("SELECT id, a, b FROM t"))
    text = sealbox.Box(RING2, encoding="text")
    assert codecs.decode(text.decrypt(rows[1][0], context=column_context("t", "a"))) == "x"
    assert codecs.decode(text.decrypt(rows[1][1], context=column_context("t", "b"))) == "plain b"
    assert rows[2][1] == old
