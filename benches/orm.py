"""T9: an ORM bulk insert and read of 100,000 rows with three encrypted columns, against the
same model with plain columns and with sqlalchemy-utils' StringEncryptedType (AES-GCM), on
SQLite and PostgreSQL, in one run.

    python benches/orm.py                     # 100,000 rows, SQLite and PostgreSQL
    python benches/orm.py --rows 20000 --db sqlite

Each variant inserts the rows with ``session.add_all`` and one commit, then reads them all back
with ``session.scalars(select(Model)).all()`` into a fresh session; the time is the sum. Then
the same through Core: one executemany ``insert(table)`` and ``select(table)``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sealbox  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sealbox.sqlalchemy import Encrypted  # noqa: E402
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column  # noqa: E402

KEY = b"\x01" * 32


def models() -> dict[str, Any]:
    class Base(DeclarativeBase):
        pass

    box = sealbox.Box(sealbox.Keyring({1: KEY}))
    lookup = sealbox.Box(sealbox.Keyring({1: KEY}), deterministic=True)

    class Plain(Base):
        __tablename__ = "plain"
        id: Mapped[int] = mapped_column(primary_key=True)
        email: Mapped[str] = mapped_column(sa.String(200))
        name: Mapped[str] = mapped_column(sa.String(200))
        phone: Mapped[str] = mapped_column(sa.String(200))

    class Sealed(Base):
        __tablename__ = "sealed"
        id: Mapped[int] = mapped_column(primary_key=True)
        email: Mapped[str] = mapped_column(Encrypted(sa.String, lookup))
        name: Mapped[str] = mapped_column(Encrypted(sa.String, box))
        phone: Mapped[str] = mapped_column(Encrypted(sa.String, box))

    models = {"plain columns": Plain, "sealbox Encrypted": Sealed}
    try:
        from sqlalchemy_utils import StringEncryptedType
        from sqlalchemy_utils.types.encrypted.encrypted_type import AesGcmEngine
    except ImportError:
        print("sqlalchemy-utils is not installed: pip install sqlalchemy-utils (its row is left out)")
        return {"base": Base, **models}

    class Utils(Base):
        __tablename__ = "utils"
        id: Mapped[int] = mapped_column(primary_key=True)
        email: Mapped[str] = mapped_column(StringEncryptedType(sa.String, KEY.hex(), AesGcmEngine))
        name: Mapped[str] = mapped_column(StringEncryptedType(sa.String, KEY.hex(), AesGcmEngine))
        phone: Mapped[str] = mapped_column(StringEncryptedType(sa.String, KEY.hex(), AesGcmEngine))

    return {"base": Base, **models, "sqlalchemy-utils StringEncryptedType (AES-GCM)": Utils}


def run(engine: sa.Engine, model: Any, rows: int) -> float:
    people = [
        {"id": i, "email": f"user{i}@example.org", "name": f"Person {i}", "phone": f"+1-555-{i:07d}"}
        for i in range(1, rows + 1)
    ]
    started = time.perf_counter()
    with Session(engine) as session:
        session.add_all(model(**p) for p in people)
        session.commit()
    with Session(engine) as session:
        got = session.scalars(sa.select(model)).all()
        assert len(got) == rows and got[-1].email == people[-1]["email"]
    return time.perf_counter() - started


def run_core(engine: sa.Engine, model: Any, rows: int) -> float:
    """The Core path: one executemany ``insert(table)`` and one ``select(table)``."""
    table = model.__table__
    people = [
        {"id": i, "email": f"user{i}@example.org", "name": f"Person {i}", "phone": f"+1-555-{i:07d}"}
        for i in range(1, rows + 1)
    ]
    with engine.begin() as conn:
        conn.execute(table.delete())
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.insert(table), people)
    with engine.connect() as conn:
        got = conn.execute(sa.select(table)).all()
        assert len(got) == rows and got[-1].email == people[-1]["email"]
    return time.perf_counter() - started


def bench(name: str, engine: sa.Engine, rows: int) -> None:
    found = models()
    found.pop("base").metadata.create_all(engine)
    for path, runner in (("ORM add_all + select", run), ("Core executemany insert + select", run_core)):
        print(f"{name}, {path}: {rows:,} rows, three columns, insert + read back")
        times = {label: runner(engine, model, rows) for label, model in found.items()}
        plain = times["plain columns"]
        for label, took in times.items():
            print(f"  {label:<48} {took:6.2f} s  {took / plain:5.2f}x plain")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgres", "all"], default="all")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sealbox-t9-"))
    try:
        if args.db in ("sqlite", "all"):
            bench("sqlite", sa.create_engine(f"sqlite:///{work / 't9.sqlite3'}"), args.rows)
        if args.db in ("postgres", "all"):
            from tests.services import postgres_server

            with postgres_server(work / "pg") as pg:
                engine = sa.create_engine(pg.sqlalchemy_url)
                bench("postgres", engine, args.rows)
                engine.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
