"""`sealbox rotate --from lockbox | attr_encrypted` and `--to rails`: a column moved off
another library's format (or back to Rails) by the table job, on SQLite and PostgreSQL.

Each test writes the column with the compat implementation (byte-compatible with the gems,
checked against their vectors in the test_compat_* modules), runs the command, and reads
every row back."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sealbox
import sqlalchemy as sa
from sealbox import codecs, column_context
from sealbox.cli import main as cli
from sealbox.compat import lockbox
from sealbox.compat.attr_encrypted import AttrEncrypted
from sealbox.compat.rails import Encryptor
from sealbox.tables._headers import looks_encrypted

KEY = bytes(range(32))
RING = sealbox.Keyring({1: KEY})
MASTER = "0123456789abcdef" * 4
_names = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("SEALBOX_KEYS", f"1:{KEY.hex()}")
    if request.param == "sqlite":
        yield str(tmp_path / "app.sqlite3")
    else:
        yield request.getfixturevalue("postgres").create_database(f"m{os.getpid()}_{next(_names)}").url


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url if "://" in url else f"sqlite:///{url}")


def _run(url: str, sql: str, params: Any = None) -> None:
    engine = _engine(url)
    with engine.begin() as conn:
        if params is None:
            conn.execute(sa.text(sql))
        else:
            conn.execute(sa.text(sql), params)
    engine.dispose()


def _rows(url: str, table: str, columns: str) -> dict[int, tuple[Any, ...]]:
    engine = _engine(url)
    with engine.connect() as conn:
        out = {r[0]: tuple(r[1:]) for r in conn.execute(sa.text(f"SELECT id, {columns} FROM {table}"))}
    engine.dispose()
    return out


def _report(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _open(value: Any, table: str, column: str) -> Any:
    return codecs.decode(
        sealbox.Box(RING, encoding="text").decrypt(value, context=column_context(table, column))
    )


def test_from_lockbox_with_the_master_key(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(url, "CREATE TABLE users (id INTEGER PRIMARY KEY, email_ciphertext TEXT, age_ciphertext TEXT)")
    email = lockbox.attribute_box(MASTER, table="users", attribute="email")
    age = lockbox.attribute_box(MASTER, table="users", attribute="age")
    rows = [
        {
            "id": i,
            "e": email.encrypt(f"user{i}@example.org"),
            "a": age.encrypt(lockbox.encode_value(20 + i, "integer")),
        }
        for i in range(1, 41)
    ]
    while not looks_encrypted(lookalike := email.encrypt("someone whose value starts like a message")):
        pass
    rows.append({"id": 41, "e": lookalike, "a": None})
    rows.append({"id": 42, "e": age.encrypt("the age column's key"), "a": None})  # another attribute's key
    _run(url, "INSERT INTO users VALUES (:id, :e, :a)", rows)
    monkeypatch.setenv("LOCKBOX_MASTER_KEY", MASTER)
    base = ["rotate", "--from", "lockbox", "--db", url, "--table", "users", "--json"]
    assert cli([*base, "--column", "email_ciphertext", "--verify"]) == 1
    report = _report(capsys)
    assert report["encrypted"] == 41 and [f["key"] for f in report["failed"]] == [42]
    assert report["remaining"] == 1 and report["verified"]
    assert cli([*base, "--column", "age_ciphertext", "--lockbox-type", "integer"]) == 0
    got = _rows(url, "users", "email_ciphertext, age_ciphertext")
    for i in range(1, 41):
        assert _open(got[i][0], "users", "email_ciphertext") == f"user{i}@example.org"
        assert _open(got[i][1], "users", "age_ciphertext") == 20 + i
    assert _open(got[41][0], "users", "email_ciphertext") == "someone whose value starts like a message"
    assert got[42][0] == rows[41]["e"]
    # Run again: nothing left but the row that does not read.
    assert cli([*base, "--column", "email_ciphertext"]) == 1
    assert _report(capsys)["encrypted"] == 0
    monkeypatch.delenv("LOCKBOX_MASTER_KEY")
    assert cli([*base, "--column", "email_ciphertext"]) == 2
    assert "LOCKBOX_MASTER_KEY" in capsys.readouterr().err


def test_from_lockbox_raw_bytes_with_an_attribute_key_and_a_wrong_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "app.sqlite3")
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE docs (id INTEGER PRIMARY KEY, body BLOB)")
    box = lockbox.Lockbox(KEY.hex(), algorithm="xchacha20", encode=False, padding=16)
    db.executemany(
        "INSERT INTO docs VALUES (?, ?)", [(i, box.encrypt(b"\x00body %d" % i)) for i in range(1, 51)]
    )
    db.commit()
    monkeypatch.setenv("SEALBOX_KEYS", f"1:{KEY.hex()}")
    monkeypatch.setenv("DOC_KEY", "ff" * 32)
    argv = ["rotate", "--from", "lockbox", "--db", path, "--table", "docs", "--column", "body"]
    argv += ["--lockbox-key-env", "DOC_KEY", "--lockbox-algorithm", "xchacha20", "--lockbox-padding", "16"]
    argv += ["--lockbox-type", "binary", "--raw"]
    assert cli(argv) == 2  # none reads: stopped before writing
    assert "reads in the source format" in capsys.readouterr().err
    assert all(v[:1] != b"\x01" or not looks_encrypted(v) for (v,) in db.execute("SELECT body FROM docs"))
    monkeypatch.setenv("DOC_KEY", KEY.hex())
    assert cli(argv) == 0
    boxed = sealbox.Box(RING)
    for i, v in db.execute("SELECT id, body FROM docs"):
        assert boxed.decrypt(v, context=column_context("docs", "body")) == b"\x00body %d" % i


@pytest.mark.parametrize("mode", ["per_attribute_iv", "per_attribute_iv_and_salt", "single_iv_and_salt"])
def test_from_attr_encrypted_reads_the_iv_and_salt_columns(
    url: str, mode: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(
        url,
        "CREATE TABLE people (id INTEGER PRIMARY KEY, encrypted_ssn TEXT, encrypted_ssn_iv TEXT,"
        " encrypted_ssn_salt TEXT)",
    )
    key = b"a 32-byte attr_encrypted key...!"
    attr = AttrEncrypted(key, mode=mode)  # type: ignore[arg-type]
    stored = [attr.encrypt(f"123-45-{i:04d}") for i in range(1, 31)]
    _run(
        url,
        "INSERT INTO people VALUES (:id, :e, :iv, :salt)",
        [{"id": i, "e": s["encrypted"], "iv": s["iv"], "salt": s["salt"]} for i, s in enumerate(stored, 1)],
    )
    monkeypatch.setenv("ATTR_ENCRYPTED_KEY", "base64:" + __import__("base64").b64encode(key).decode())
    argv = [
        "rotate",
        "--from",
        "attr_encrypted",
        "--db",
        url,
        "--table",
        "people",
        "--column",
        "encrypted_ssn",
    ]
    argv += ["--attr-encrypted-mode", mode, "--json"]
    assert cli(argv) == 0
    assert _report(capsys)["encrypted"] == 30
    got = _rows(url, "people", "encrypted_ssn, encrypted_ssn_iv")
    for i in range(1, 31):
        assert _open(got[i][0], "people", "encrypted_ssn") == f"123-45-{i:04d}"
        assert got[i][1] == stored[i - 1]["iv"]


def test_from_attr_encrypted_cbc_never_takes_a_message_for_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """CBC has no tag: a message under a key the ring lacks can decrypt to garbage and would
    be overwritten. It is reported instead."""
    path = str(tmp_path / "app.sqlite3")
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, encrypted_ssn TEXT, encrypted_ssn_iv TEXT)")
    key = b"k" * 32
    attr = AttrEncrypted(key, algorithm="aes-256-cbc")
    rows: list[tuple[int, Any, Any]] = []
    for i in range(1, 41):
        s = attr.encrypt(f"v{i}")
        rows.append((i, s["encrypted"], s["iv"]))
    foreign = sealbox.Box(sealbox.Keyring({9: b"\x09" * 32}), encoding="text")
    # A message of the ring's absent key that opens as CBC (to garbage): padding is checked in
    # the last block, which the IV does not touch, so about one message in 600 does.
    iv = rows[0][2]
    while True:
        stranger = foreign.encrypt(codecs.encode("x" * 35))  # about half unpack to whole blocks
        try:
            attr.decrypt(stranger, iv=iv)
            break
        except sealbox.DecryptionError:
            continue
    rows.append((41, stranger, iv))
    db.executemany("INSERT INTO people VALUES (?, ?, ?)", rows)
    db.commit()
    monkeypatch.setenv("SEALBOX_KEYS", f"1:{KEY.hex()}")
    monkeypatch.setenv("ATTR_ENCRYPTED_KEY", "hex:" + key.hex())
    argv = [
        "rotate",
        "--from",
        "attr_encrypted",
        "--db",
        path,
        "--table",
        "people",
        "--column",
        "encrypted_ssn",
    ]
    assert cli([*argv, "--attr-encrypted-algorithm", "aes-256-cbc", "--json"]) == 1
    report = _report(capsys)
    assert report["encrypted"] == 40
    assert report["failed"] == [
        {"key": 41, "column": "encrypted_ssn", "reason": "the plaintext does not convert (ValueError)"}
    ]
    got = dict(db.execute("SELECT id, encrypted_ssn FROM people").fetchall())
    assert got[41] == stranger
    assert all(_open(got[i], "people", "encrypted_ssn") == f"v{i}" for i in range(1, 41))


def test_to_rails_writes_what_rails_reads_and_back(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    primary, det, salt = "primary key", "deterministic key", "salt"
    for name, value in (("PRIMARY_KEY", primary), ("DETERMINISTIC_KEY", det), ("KEY_DERIVATION_SALT", salt)):
        monkeypatch.setenv(f"ACTIVE_RECORD_ENCRYPTION_{name}", value)
    _run(url, "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    box = sealbox.Box(RING, encoding="text")
    ctx = column_context("users", "email")
    _run(
        url,
        "INSERT INTO users VALUES (:id, :e)",
        [{"id": i, "e": box.encrypt(codecs.encode(f"u{i}@example.org"), context=ctx)} for i in range(1, 36)],
    )
    base = ["rotate", "--db", url, "--table", "users", "--column", "email", "--json"]
    assert cli([*base, "--to", "rails", "--verify"]) == 2
    assert "--verify" in capsys.readouterr().err
    assert cli([*base, "--from", "rails", "--to", "rails"]) == 2
    capsys.readouterr()
    assert cli([*base, "--to", "rails", "--deterministic"]) == 0
    report = _report(capsys)
    assert report["decrypted"] == 35 and report["remaining"] == 0
    rails = Encryptor(primary, det, salt)
    got = _rows(url, "users", "email")
    assert all(rails.decrypt(got[i][0]) == f"u{i}@example.org" for i in range(1, 36))
    assert got[1][0] == rails.encrypt("u1@example.org", deterministic=True)
    assert cli([*base, "--to", "rails"]) == 0 and _report(capsys)["decrypted"] == 0
    # And back: the same column moved to sealbox again.
    assert cli([*base, "--from", "rails"]) == 0 and _report(capsys)["encrypted"] == 35
    assert all(
        _open(v, "users", "email") == f"u{i}@example.org" for i, (v,) in _rows(url, "users", "email").items()
    )
