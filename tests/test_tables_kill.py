"""``sealbox rotate`` and ``sealbox encrypt-column`` killed with SIGKILL at random moments,
then run again: no value is ever lost, doubled or left half-written, and the last run finishes.

The kill moments are spread over the job's own running time: a first estimate of its rate,
corrected after each run from the rows it moved, so that most kills land while rows remain.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sealbox
import sqlalchemy as sa
from sealbox import codecs, column_context, tables

K1, K2 = b"\x01" * 32, b"\x02" * 32
RING2 = sealbox.Keyring({1: K1, 2: K2}, active=2)
ENV = {**os.environ, "SEALBOX_KEYS": f"1:{K1.hex()},2:{K2.hex()}"}
KILLS = 20


def plaintext(i: int) -> bytes:
    return f"value {i} of the table".encode()


def seed(engine: sa.Engine, blob: str, n: int) -> None:
    box = sealbox.Box(sealbox.Keyring({1: K1}))
    ids = list(range(1, n + 1))
    messages = box.encrypt_batch(
        [plaintext(i) for i in ids], [column_context("items", "v", row=i) for i in ids]
    )
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE items (id BIGINT PRIMARY KEY, v {blob})"))
        conn.execute(
            sa.text("INSERT INTO items (id, v) VALUES (:i, :v)"),
            [{"i": i, "v": m} for i, m in zip(ids, messages, strict=True)],
        )


def kill_at_random_moments(
    command: list[str],
    left: Callable[[], int],
    check: Callable[[], None],
    total: int,
    seed: int,
    status: list[str] | None = None,
    env: dict[str, str] = ENV,
) -> int:
    """Run ``command`` KILLS times, each killed with SIGKILL at a random moment; check the
    table after each. Returns how many kills landed with part of the job done and part left.
    ``status`` is a command that starts like ``command`` but does no work (by default ``sealbox
    status`` over the same column), to time the start-up."""
    rng = random.Random(seed)
    if status is None:
        db = command[command.index("--db") + 1]
        column = command[command.index("--column") + 1]
        status = [sys.executable, "-m", "sealbox.cli", "status", "--db", db, "--table", "items"]
        status += ["--column", column]
    started = time.perf_counter()
    subprocess.run(status, env=env, check=True, capture_output=True)
    startup = time.perf_counter() - started  # the interpreter, the imports, one scan of the headers
    rate = 50_000.0  # rows/s, corrected after each run
    landed = 0
    start = startup * 0.9  # when a run starts doing work, corrected by the runs that did none
    k = 0
    # KILLS kills, and up to ten more while fewer than three landed mid-job and rows remain (a
    # loaded machine can make the first moments fall before the job starts or after it ends).
    while k < KILLS or (landed < 3 and k < KILLS + 10 and left() > 0):
        k += 1
        before = left()
        window = max(before / rate, 0.05) / max(KILLS - k + 1, 1)
        delay = start + rng.uniform(0, window)
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        after = left()
        check()
        if 0 < after < before:
            landed += 1
        if before > after and delay > start:
            rate = (rate * (before - after) / (delay - start)) ** 0.5
        elif before == after and before:
            start *= 1.15  # killed before it wrote anything: the next ones a little later
    finished = subprocess.run(command, env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert left() == 0
    check()
    return landed


def rotation_check(engine: sa.Engine, n: int) -> Callable[[], None]:
    box = sealbox.Box(RING2)

    def check() -> None:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, v FROM items ORDER BY id")).all()
        assert [r[0] for r in rows] == list(range(1, n + 1))
        # Every row, under either key, opens to its own value under its own row's context.
        opened = box.decrypt_batch(
            [r[1] for r in rows], [column_context("items", "v", row=r[0]) for r in rows]
        )
        assert opened == [plaintext(r[0]) for r in rows]

    return check


def rotate_command(db: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sealbox.cli",
        "rotate",
        "--db",
        db,
        "--table",
        "items",
        "--column",
        "v",
        "--context",
        "row",
        "--batch-size",
        "2000",
    ]


def test_rotation_killed_at_random_moments_on_sqlite(tmp_path: Path) -> None:
    n = 200_000
    path = tmp_path / "app.sqlite3"
    engine = sa.create_engine(f"sqlite:///{path}")
    seed(engine, "BLOB", n)

    def left() -> int:
        return tables.status(str(path), "items", "v").by_key.get(1, 0)

    landed = kill_at_random_moments(rotate_command(str(path)), left, rotation_check(engine, n), n, seed=1)
    # Most kills land mid-job; a few may fall before its first batch or after its end.
    assert landed >= 3, landed
    assert tables.status(str(path), "items", "v").by_key == {2: n}


def test_rotation_killed_at_random_moments_on_postgresql(postgres: Any) -> None:
    n = 200_000
    server = postgres.create_database(f"kill{os.getpid()}")
    engine = sa.create_engine(server.sqlalchemy_url)
    seed(engine, "bytea", n)

    def left() -> int:
        return tables.status(server.url, "items", "v").by_key.get(1, 0)

    landed = kill_at_random_moments(rotate_command(server.url), left, rotation_check(engine, n), n, seed=2)
    # Most kills land mid-job; a few may fall before its first batch or after its end.
    assert landed >= 3, landed
    assert tables.status(server.url, "items", "v").by_key == {2: n}
    engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_encrypt_column_killed_never_encrypts_twice_nor_leaves_plaintext(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    n = 50_000
    if kind == "sqlite":
        url = str(tmp_path / "plain.sqlite3")
        engine = sa.create_engine(f"sqlite:///{url}")
    else:
        server = request.getfixturevalue("postgres").create_database(f"enc{os.getpid()}")
        url, engine = server.url, sa.create_engine(server.sqlalchemy_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE items (id BIGINT PRIMARY KEY, email TEXT)"))
        conn.execute(
            sa.text("INSERT INTO items VALUES (:i, :e)"),
            [{"i": i, "e": f"user{i}@example.org"} for i in range(1, n + 1)],
        )
    box = sealbox.Box(RING2)

    def left() -> int:
        return tables.status(url, "items", "email").not_encrypted

    def check() -> None:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, email FROM items ORDER BY id")).all()
        assert len(rows) == n
        encrypted = [(i, e) for i, e in rows if e.startswith("AQ")]
        for i, e in rows:
            if not e.startswith("AQ"):
                assert e == f"user{i}@example.org"  # still the plaintext, whole
        opened = box.decrypt_batch([e for _, e in encrypted], column_context("items", "email"))
        # Once, not twice: each opens straight to the typed value, never to another message.
        assert [codecs.decode(p) for p in opened] == [f"user{i}@example.org" for i, _ in encrypted]

    command = [
        sys.executable,
        "-m",
        "sealbox.cli",
        "encrypt-column",
        "--db",
        url,
        "--table",
        "items",
        "--column",
        "email",
        "--batch-size",
        "1000",
    ]
    landed = kill_at_random_moments(command, left, check, n, seed=3)
    # Most kills land mid-job; a few may fall before its first batch or after its end.
    assert landed >= 3, landed
    assert left() == 0
    engine.dispose()


DJANGO_SETTINGS = """
import os
INSTALLED_APPS = ["django.contrib.contenttypes", "sealbox.django", "tests.djangoapp"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["KILL_DB"]}}
SEALBOX_KEYS = os.environ["SEALBOX_KEYS"]
MIGRATION_MODULES = {"djangoapp": None}
USE_TZ = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SECRET_KEY = "kill-tests-only"
"""


def django_project(tmp_path: Path) -> tuple[Path, dict[str, str], list[str]]:
    """A Django project over tests/djangoapp on SQLite, migrated: its database, the environment
    its commands run in, and ``python -m django``."""
    path = tmp_path / "django.sqlite3"
    (tmp_path / "kill_settings.py").write_text(DJANGO_SETTINGS)
    root = str(Path(__file__).resolve().parent.parent)
    env = {
        **ENV,
        "KILL_DB": str(path),
        "DJANGO_SETTINGS_MODULE": "kill_settings",
        "PYTHONPATH": os.pathsep.join([root, str(tmp_path)]),
    }
    django = [sys.executable, "-m", "django"]
    subprocess.run([*django, "migrate", "--run-syncdb"], env=env, check=True, capture_output=True)
    return path, env, django


def test_the_django_rotate_command_killed_at_random_moments(tmp_path: Path) -> None:
    """``manage.py sealbox_rotate`` killed with SIGKILL and run again, on a model's field."""
    n = 200_000
    path, env, django = django_project(tmp_path)
    table, ctx = "djangoapp_patient", column_context("djangoapp_patient", "name")
    old = sealbox.Box(sealbox.Keyring({1: K1}))
    engine = sa.create_engine(f"sqlite:///{path}")
    names = [codecs.encode(f"Person {i}") for i in range(1, n + 1)]
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"INSERT INTO {table} (id, name) VALUES (:i, :v)"),
            [{"i": i, "v": m} for i, m in enumerate(old.encrypt_batch(names, ctx), start=1)],
        )
    box = sealbox.Box(RING2)

    def left() -> int:
        return tables.status(str(path), table, "name").by_key.get(1, 0)

    def check() -> None:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(f"SELECT id, name FROM {table} ORDER BY id")).all()
        assert [r[0] for r in rows] == list(range(1, n + 1))
        opened = box.decrypt_batch([r[1] for r in rows], ctx)
        assert [codecs.decode(p) for p in opened] == [f"Person {r[0]}" for r in rows]

    command = [*django, "sealbox_rotate", "djangoapp.Patient", "--fields", "name"]
    command += ["--batch-size", "2000"]
    status = [*django, "sealbox_status", "djangoapp.Patient", "--fields", "name"]
    landed = kill_at_random_moments(command, left, check, n, seed=3, status=status, env=env)
    assert landed >= 3, landed
    assert tables.status(str(path), table, "name").by_key == {2: n}
    engine.dispose()


def test_the_django_encrypt_command_killed_at_random_moments(tmp_path: Path) -> None:
    """``manage.py sealbox_encrypt`` killed with SIGKILL and run again over legacy plaintext:
    each row is its plaintext or a message of the same value, never lost or encrypted twice."""
    n = 100_000
    path, env, django = django_project(tmp_path)
    table, ctx = "djangoapp_patient", column_context("djangoapp_patient", "age")
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:  # ages stored as text before the field was encrypted
        conn.execute(
            sa.text(f"INSERT INTO {table} (id, age) VALUES (:i, :v)"),
            [{"i": i, "v": str(i % 120).encode()} for i in range(1, n + 1)],
        )
    box = sealbox.Box(RING2)

    def left() -> int:
        return tables.status(str(path), table, "age").not_encrypted

    def check() -> None:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(f"SELECT id, age FROM {table} ORDER BY id")).all()
        assert [r[0] for r in rows] == list(range(1, n + 1))
        sealed = [(i, v) for i, v in rows if v != str(i % 120).encode()]
        opened = box.decrypt_batch([v for _, v in sealed], ctx)
        assert [codecs.decode(p) for p in opened] == [i % 120 for i, _ in sealed]
        assert {sealbox.Message.parse(v).key_id for _, v in sealed} <= {2}

    command = [*django, "sealbox_encrypt", "djangoapp.Patient", "--fields", "age", "--batch-size", "2000"]
    status = [*django, "sealbox_status", "djangoapp.Patient", "--fields", "age"]
    landed = kill_at_random_moments(command, left, check, n, seed=4, status=status, env=env)
    assert landed >= 3, landed
    assert tables.status(str(path), table, "age").by_key == {2: n}
    engine.dispose()


RAILS_ENV = {
    "ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY": "rails primary key",
    "ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY": "rails deterministic key",
    "ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT": "rails salt",
}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_move_from_rails_killed_and_resumed(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sealbox rotate --from rails` killed at random moments: each row is either the Rails
    message it was or a sealbox message of the same value, never both, never lost."""
    from sealbox.compat.rails import Encryptor

    n = 50_000
    if kind == "sqlite":
        url = str(tmp_path / "rails.sqlite3")
        engine = sa.create_engine(f"sqlite:///{url}")
    else:
        server = request.getfixturevalue("postgres").create_database(f"rails{os.getpid()}")
        url, engine = server.url, sa.create_engine(server.sqlalchemy_url)
    rails = Encryptor(*RAILS_ENV.values())
    emails = [f"user{i}@example.org" for i in range(1, n + 1)]
    # half deterministic, half not, as an app with both kinds of attribute would have
    stored = rails.encrypt_batch(emails[: n // 2], deterministic=True) + rails.encrypt_batch(emails[n // 2 :])
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE items (id BIGINT PRIMARY KEY, email TEXT)"))
        conn.execute(
            sa.text("INSERT INTO items VALUES (:i, :e)"),
            [{"i": i, "e": m} for i, m in zip(range(1, n + 1), stored, strict=True)],
        )
    box = sealbox.Box(RING2)
    for name, value in RAILS_ENV.items():
        monkeypatch.setitem(ENV, name, value)

    def left() -> int:
        return tables.status(url, "items", "email").not_encrypted

    def check() -> None:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, email FROM items ORDER BY id")).all()
        assert len(rows) == n
        moved = [(i, e) for i, e in rows if e.startswith("AQ")]
        for i, e in rows:
            if not e.startswith("AQ"):
                assert rails.decrypt(e) == f"user{i}@example.org"  # still the Rails message, whole
        opened = box.decrypt_batch([e for _, e in moved], column_context("items", "email"))
        assert [codecs.decode(p) for p in opened] == [f"user{i}@example.org" for i, _ in moved]

    command = [
        sys.executable,
        "-m",
        "sealbox.cli",
        "rotate",
        "--from",
        "rails",
        "--db",
        url,
        "--table",
        "items",
        "--column",
        "email",
        "--batch-size",
        "1000",
    ]
    landed = kill_at_random_moments(command, left, check, n, seed=4 if kind == "sqlite" else 5)
    assert landed >= 3, landed
    assert left() == 0
    engine.dispose()
