"""The PostgreSQL and MariaDB servers that tests/services.py starts for the database tests:
each accepts connections, keeps binary values byte for byte, and leaves nothing behind."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from . import services

# Every byte value, a NUL first and invalid UTF-8 throughout.
PAYLOAD = bytes(range(256)) + os.urandom(64)


def test_postgres_round_trips_bytea(postgres: services.Postgres) -> None:
    with postgres.connect() as conn:
        conn.execute("CREATE TEMP TABLE blobs (id int PRIMARY KEY, value bytea NOT NULL)")
        conn.execute("INSERT INTO blobs VALUES (%s, %s)", (1, PAYLOAD))
        row = conn.execute("SELECT value, current_database() FROM blobs WHERE id = 1").fetchone()
    assert row is not None
    assert bytes(row[0]) == PAYLOAD
    assert row[1] == services.TEST_DATABASE


def test_postgres_database_of_its_own(postgres: services.Postgres) -> None:
    own = postgres.create_database(f"own_{uuid.uuid4().hex[:12]}")
    assert (own.host, own.port) == (postgres.host, postgres.port)
    assert own.url == f"postgresql://postgres@127.0.0.1:{postgres.port}/{own.dbname}"
    engine = sa.create_engine(own.sqlalchemy_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_database()")).scalar_one() == own.dbname
    finally:
        engine.dispose()


def test_mariadb_round_trips_varbinary(mariadb: services.MariaDb) -> None:
    assert mariadb.sqlalchemy_url == (
        f"mysql+pymysql://ci:{mariadb.password}@127.0.0.1:{mariadb.port}/{services.TEST_DATABASE}"
    )
    engine = sa.create_engine(mariadb.sqlalchemy_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE blobs (id INT PRIMARY KEY, value VARBINARY(512) NOT NULL)"))
            conn.execute(sa.text("INSERT INTO blobs VALUES (1, :value)"), {"value": PAYLOAD})
        with engine.connect() as conn:
            value = conn.execute(sa.text("SELECT value FROM blobs WHERE id = 1")).scalar_one()
            charset = conn.execute(sa.text("SELECT @@character_set_database")).scalar_one()
            conn.execute(sa.text("DROP TABLE blobs"))
    finally:
        engine.dispose()
    assert bytes(value) == PAYLOAD
    assert charset == "utf8mb4"
    with mariadb.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT CURRENT_USER()")
        assert cursor.fetchone() == ("ci@127.0.0.1",)


def test_postgres_server_leaves_nothing_behind(tmp_path: Path) -> None:
    with services.postgres_server(tmp_path) as pg:
        assert (pg.datadir / "PG_VERSION").is_file()
        with pg.connect() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not pg.datadir.parent.exists()
    assert _nobody_listens(pg.port)
    assert (tmp_path / "postgres.log").is_file()  # kept for a look afterwards


def test_mariadb_server_leaves_nothing_behind(tmp_path: Path) -> None:
    with services.mariadb_server(tmp_path) as db:
        assert (db.datadir / "mysql").is_dir()
        with db.connect() as conn, conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
    assert not db.datadir.parent.exists()
    assert _nobody_listens(db.port)
    assert (tmp_path / "mariadb.log").is_file()


def test_missing_postgres_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEALBOX_TEST_PG_BIN", str(tmp_path))
    with pytest.raises(services.ServiceMissing, match="apt-get install postgresql-15"):
        services.postgres_bin()


def _nobody_listens(port: int) -> bool:
    # Not a bind: the server's side of a connection it closed may sit in TIME_WAIT.
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0
