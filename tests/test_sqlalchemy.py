"""sealbox.sqlalchemy: encrypted columns through the ORM and Core, on SQLite and PostgreSQL
(sync and async), with the servers the session fixtures start."""

from __future__ import annotations

import asyncio
import datetime
import decimal
import itertools
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from unittest.mock import patch

import pytest
import sealbox
import sqlalchemy as sa
from sealbox import column_context, tables
from sealbox.sqlalchemy import Encrypted, plaintext_reads, rotate
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

_databases = itertools.count()
K1, K2 = b"\x01" * 32, b"\x02" * 32
RING1 = sealbox.Keyring({1: K1})
RING2 = sealbox.Keyring({1: K1, 2: K2}, active=2)


def person_model(ring: sealbox.Keyring) -> Any:
    """The application's model over a keyring: a new mapping of the table ``people``, as
    a redeployed application with new keys has."""

    class Base(DeclarativeBase):
        pass

    box = sealbox.Box(ring)
    lookup = sealbox.Box(ring, deterministic=True)
    text = sealbox.Box(ring, encoding="text")

    class Person(Base):
        __tablename__ = "people"
        id: Mapped[int] = mapped_column(primary_key=True)
        email: Mapped[str | None] = mapped_column(Encrypted(sa.String, lookup))
        name: Mapped[str | None] = mapped_column(Encrypted(sa.String, text))
        age: Mapped[int | None] = mapped_column(Encrypted(sa.Integer, box))
        active: Mapped[bool | None] = mapped_column(Encrypted(sa.Boolean, box))
        balance: Mapped[decimal.Decimal | None] = mapped_column(Encrypted(sa.Numeric(10, 2), box))
        born: Mapped[datetime.date | None] = mapped_column(Encrypted(sa.Date, box))
        seen: Mapped[datetime.datetime | None] = mapped_column(Encrypted(sa.DateTime, box))
        wakes: Mapped[datetime.time | None] = mapped_column(Encrypted(sa.Time, box))
        token: Mapped[uuid.UUID | None] = mapped_column(Encrypted(sa.Uuid, box))
        prefs: Mapped[Any] = mapped_column(Encrypted(sa.JSON, box), nullable=True)
        photo: Mapped[bytes | None] = mapped_column(Encrypted(sa.LargeBinary, box))

    return Person


Person = person_model(RING1)
Person2 = person_model(RING2)


EDGES: list[dict[str, Any]] = [
    {
        "email": "",
        "name": "",
        "age": 0,
        "active": False,
        "balance": decimal.Decimal("0.00"),
        "born": datetime.date(1, 1, 1),
        "seen": datetime.datetime(2024, 2, 29, 23, 59, 59, 999999),
        "wakes": datetime.time(0, 0),
        "token": uuid.UUID(int=0),
        "prefs": {},
        "photo": b"",
    },
    {
        "email": "alice@example.org",
        "name": "Ålice 🗝",
        "age": -(2**40),
        "active": True,
        "balance": decimal.Decimal("-12.30"),
        "born": datetime.date(1990, 5, 17),
        "seen": datetime.datetime(2026, 12, 7, 5, 17),
        "wakes": datetime.time(6, 30, 1, 5),
        "token": uuid.UUID(int=2**128 - 1),
        "prefs": {"a": [1, 2.5, None, True], "b": {"c": ""}},
        "photo": bytes(range(256)),
    },
    {
        k: None
        for k in ("email", "name", "age", "active", "balance", "born", "seen", "wakes", "token", "photo")
    }
    | {"prefs": None},
]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'orm.sqlite3'}")
    else:
        server = request.getfixturevalue("postgres").create_database(f"orm{os.getpid()}_{next(_databases)}")
        engine = sa.create_engine(server.sqlalchemy_url)
    Person.metadata.create_all(engine)
    yield engine
    engine.dispose()


def add_people(engine: sa.Engine, rows: list[dict[str, Any]]) -> None:
    with Session(engine) as session:
        session.add_all(Person(id=i, **row) for i, row in enumerate(rows, 1))
        session.commit()


def test_every_type_round_trips_and_the_database_holds_only_messages(engine: sa.Engine) -> None:
    add_people(engine, EDGES)
    with Session(engine) as session:
        for i, row in enumerate(EDGES, 1):
            person = session.get(Person, i)
            assert person is not None
            for key, value in row.items():
                got = getattr(person, key)
                assert got == value and type(got) is type(value), (key, got, value)
    with engine.connect() as conn:
        raw = conn.execute(sa.text("SELECT email, name, age, photo FROM people WHERE id = 2")).one()
    assert all(b"alice" not in (v.encode() if isinstance(v, str) else bytes(v)) for v in raw)
    assert isinstance(raw[1], str) and raw[1].startswith("AQ")  # a text Box stores text
    message = bytes(raw[2])
    assert sealbox.Box(RING1).decrypt(
        message, context=column_context("people", "age")
    ) == sealbox.codecs.encode(-(2**40))


def test_a_value_moved_to_another_column_fails_closed(engine: sa.Engine) -> None:
    add_people(engine, EDGES[:2])
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE people SET age = (SELECT active FROM people WHERE id = 2) WHERE id = 1"))
    with (
        Session(engine) as session,
        pytest.raises(sealbox.DecryptionError, match=r"^people\.age of the row with key 1 did not decrypt$"),
    ):
        session.get(Person, 1)


def test_a_value_that_does_not_decrypt_names_the_rows_that_hold_it(engine: sa.Engine) -> None:
    """The error names table, column and the primary keys of the rows holding the stored
    bytes (found by them), never the value; where no row can be found it names the column."""
    add_people(
        engine, [{"age": 4000 + i, "active": True, "born": datetime.date(1999, 1, 1)} for i in range(6)]
    )
    with engine.begin() as conn:  # row 6's values copied into other columns
        conn.execute(sa.text("UPDATE people SET active = (SELECT age FROM people WHERE id = 6) WHERE id < 4"))
        conn.execute(sa.text("UPDATE people SET age = (SELECT born FROM people WHERE id = 6) WHERE id = 5"))
    with Session(engine) as session:
        with pytest.raises(sealbox.DecryptionError) as one:
            session.get(Person, 5)
        assert str(one.value) == "people.age of the row with key 5 did not decrypt"
        with pytest.raises(sealbox.DecryptionError) as many:
            session.scalars(sa.select(Person.active).where(Person.id < 4)).all()
        assert (
            str(many.value)
            == "a value of people.active did not decrypt; the rows holding it have keys 1, 2, 3"
        )
        assert "4005" not in str(many.value) and "1999" not in str(one.value)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE people SET active = (SELECT age FROM people WHERE id = 6) WHERE id < 6"))
    with engine.connect() as conn, pytest.raises(sealbox.DecryptionError) as more:
        conn.execute(sa.select(Person.__table__.c.active)).all()
    assert str(more.value) == (
        "a value of people.active did not decrypt; the rows holding it have keys 1, 2, 3 and more"
    )
    # A value no row holds (a literal in the query): the column only.
    sealed = sealbox.Box(RING1).encrypt(b"x", context=column_context("people", "age"))
    query = (
        sa.text("SELECT :m AS v")
        .bindparams(sa.bindparam("m", sealed, type_=sa.LargeBinary))
        .columns(sa.column("v", Person.__table__.c.active.type))
    )
    with engine.connect() as conn, pytest.raises(sealbox.DecryptionError) as nowhere:
        conn.execute(query).all()
    assert str(nowhere.value) == "a value of people.active did not decrypt"
    # The last statement ran on another engine (a copy of the database would hold the same
    # bytes): the rows are not looked up there.
    other = sa.create_engine(engine.url)
    with engine.connect() as conn:
        result = conn.execute(sa.select(Person.__table__.c.age).where(Person.__table__.c.id == 5))
        with other.connect() as elsewhere:
            elsewhere.execute(sa.select(1)).all()
            with pytest.raises(sealbox.DecryptionError) as crossed:
                result.all()
    other.dispose()
    assert str(crossed.value) == "a value of people.age did not decrypt"
    # Turned off (keys that are personal data), and a transaction that goes on afterwards.
    with Session(engine) as session:
        sealbox.sqlalchemy.name_keys_in_errors = False
        try:
            with pytest.raises(sealbox.DecryptionError) as off:
                session.get(Person, 5)
        finally:
            sealbox.sqlalchemy.name_keys_in_errors = True
        assert str(off.value) == "a value of people.age did not decrypt"
        session.expunge_all()
        with pytest.raises(sealbox.DecryptionError, match="key 5"):
            session.get(Person, 5)
        assert session.scalar(sa.select(sa.func.count()).select_from(Person)) == 6


def test_equality_on_a_deterministic_column_finds_rows_under_every_key(engine: sa.Engine) -> None:
    add_people(engine, [{"email": f"user{i}@example.org"} for i in range(20)])
    with Session(engine) as session:  # the application now runs on key 2
        session.add(Person2(id=100, email="user3@example.org"))
        session.commit()
        found = session.scalars(sa.select(Person2.id).where(Person2.email == "user3@example.org")).all()
        assert sorted(found) == [4, 100]  # one under key 1, one under key 2, in one statement
        found = session.scalars(
            sa.select(Person2.id).where(Person2.email.in_(["user1@example.org", "user5@example.org"]))
        ).all()
        assert sorted(found) == [2, 6]
        assert (
            len(session.scalars(sa.select(Person2.id).where(Person2.email != "user3@example.org")).all())
            == 19
        )
        assert session.scalars(sa.select(Person2.id).where(Person2.name.is_(None))).all() != []
    # Rotation from the model: every row moves to key 2 and is still found.
    reports = rotate(engine, Person2, ["email"])
    assert reports[0].rotated == 20
    assert tables.status(engine, "people", "email").by_key == {2: 21}
    with Session(engine) as session:
        assert session.scalars(sa.select(Person2.id).where(Person2.email == "user7@example.org")).all() == [8]


def test_comparisons_a_randomized_column_cannot_answer_raise_when_the_query_is_built() -> None:
    with pytest.raises(sealbox.SealboxError, match="randomized Box"):
        sa.select(Person).where(Person.age == 3)
    with pytest.raises(sealbox.SealboxError, match="randomized Box"):
        sa.select(Person).where(Person.age.in_([3, 4]))
    with pytest.raises(sealbox.SealboxError, match="only be compared for equality"):
        sa.select(Person).where(Person.email > "a")
    with pytest.raises(sealbox.SealboxError, match="only be compared for equality"):
        sa.select(Person).where(Person.email.like("a%"))
    sa.select(Person).where(Person.age.is_(None), Person.age.is_not(None), Person.age == None)  # noqa: E711


def test_misuse_is_refused() -> None:
    with pytest.raises(TypeError, match=r"sealbox\.Box"):
        Encrypted(sa.String, RING1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="does not take"):
        Encrypted(sa.ARRAY(sa.Integer), sealbox.Box(RING1))
    with pytest.raises(TypeError, match=r"people\.age holds Integer values, not str"):
        Person.__table__.c.age.type.process_bind_param("3", None)
    with pytest.raises(TypeError, match="not bool"):
        Person.__table__.c.age.type.process_bind_param(True, None)


def test_plaintext_is_read_and_counted_during_a_migration_and_encrypted_by_tables_encrypt(
    tmp_path: Path,
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'migrate.sqlite3'}")
    metadata = sa.MetaData()
    legacy = sa.Table(
        "accounts", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("iban", sa.Text)
    )
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(legacy.insert(), [{"id": i, "iban": f"DE{i:020d}"} for i in range(1, 51)])
    box = sealbox.Box(RING2, encoding="text")
    accounts = sa.Table(
        "accounts",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("iban", Encrypted(sa.String, box, allow_plaintext=True)),
    )
    plaintext_reads.reset()
    with engine.begin() as conn:
        assert conn.execute(sa.select(accounts.c.iban).where(accounts.c.id == 7)).scalar() == f"DE{7:020d}"
        conn.execute(accounts.insert(), {"id": 51, "iban": "NEW"})  # writes are encrypted
    assert plaintext_reads.by_column() == {"accounts.iban": 1}
    # The migration: encrypt the column in place, as an Alembic data migration would.
    report = tables.encrypt(engine, "accounts", "iban", box)
    assert report.encrypted == 50 and report.unchanged == 1
    plaintext_reads.reset()
    with engine.connect() as conn:
        values = conn.execute(sa.select(accounts.c.iban).order_by(accounts.c.id)).scalars().all()
    assert values == [f"DE{i:020d}" for i in range(1, 51)] + ["NEW"]
    assert plaintext_reads.total == 0  # the migration is over


def test_async_session_round_trip(postgres: Any) -> None:
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    server = postgres.create_database(f"async{os.getpid()}")
    sync = sa.create_engine(server.sqlalchemy_url)
    Person.metadata.create_all(sync)
    sync.dispose()

    async def main() -> list[Any]:
        engine = create_async_engine(server.sqlalchemy_url)
        async with AsyncSession(engine) as session:
            session.add_all([Person(id=1, **EDGES[1]), Person(id=2, email="bob@example.org", age=0)])
            await session.commit()
            found = (await session.scalars(sa.select(Person).where(Person.email == "bob@example.org"))).all()
            out = [(p.id, p.age, p.email) for p in found]
            person = await session.get(Person, 1)
            assert person is not None and person.prefs == EDGES[1]["prefs"]
            await session.execute(sa.text("UPDATE people SET age = active WHERE id = 1"))
            session.expunge_all()
            with pytest.raises(sealbox.DecryptionError, match=r"^people\.age of the row with key 1 did"):
                await session.get(Person, 1)
        await engine.dispose()
        return out

    assert asyncio.run(main()) == [(2, 0, "bob@example.org")]


def test_a_rotation_while_the_application_writes(engine: sa.Engine) -> None:
    add_people(engine, [{"email": f"u{i}@example.org", "age": i} for i in range(2000)])
    stop, rotating = threading.Event(), threading.Event()
    written: dict[int, int] = {}
    during: list[int] = []

    def application() -> None:
        n = 0
        with Session(engine) as session:
            while not stop.is_set():
                n += 1
                person = session.get(Person2, 1 + (n * 37) % 2000)
                assert person is not None
                person.age = 10_000 + n
                session.commit()
                written[person.id] = 10_000 + n
                if rotating.is_set():
                    during.append(n)

    thread = threading.Thread(target=application)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not written and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)  # the application is writing before the rotation starts
        rotating.set()
        for _ in range(2):
            rotate(engine, Person2, ["age"], batch_size=100)
        rotating.clear()
    finally:
        stop.set()
        thread.join()
    rotate(engine, Person2, ["age"])
    assert tables.status(engine, "people", "age").by_key == {2: 2000}
    with Session(engine) as session:
        for key, age in written.items():
            assert session.get(Person2, key).age == age  # type: ignore[union-attr]
    assert during  # the application wrote while the rotation ran


def secret_model(ring: sealbox.Keyring, key: str = "uuid") -> Any:
    """A model whose columns are bound to their row; its key: a client-side UUID default, an
    explicit integer, a PostgreSQL sequence, or (refused) an autoincrement integer."""

    class Base(DeclarativeBase):
        pass

    box = sealbox.Box(ring)
    columns: dict[str, Any] = {
        "__tablename__": "secrets",
        "ssn": mapped_column(Encrypted(sa.String, box, context="row"), nullable=True),
        "pin": mapped_column(Encrypted(sa.Integer, box, context="row"), nullable=True),
        "note": mapped_column(Encrypted(sa.String, box), nullable=True),
    }
    if key == "uuid":
        columns["id"] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    elif key == "explicit":
        columns["id"] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    elif key == "sequence":
        columns["id"] = mapped_column(sa.BigInteger, sa.Sequence("secrets_id_seq"), primary_key=True)
    else:
        columns["id"] = mapped_column(sa.Integer, primary_key=True)
    model = type("Secret", (Base,), columns)
    sa.orm.configure_mappers()
    return model


def test_a_row_bound_value_opens_only_in_its_row(engine: sa.Engine) -> None:
    Secret = secret_model(RING1)
    Secret.metadata.create_all(engine)
    with Session(engine) as session:
        a, b = Secret(ssn="123-45-6789", pin=0, note="x"), Secret(ssn="987-65-4321", pin=1234)
        session.add_all([a, b])
        session.commit()
        assert (a.ssn, a.pin) == ("123-45-6789", 0)  # the object keeps its plaintext after the flush
        ids = (a.id, b.id)
    with Session(engine) as session:
        loaded = session.get(Secret, ids[0])
        assert loaded is not None and (loaded.ssn, loaded.pin, loaded.note) == ("123-45-6789", 0, "x")
        loaded.pin = 4321  # an update re-encrypts under the same row
        session.commit()
    table = Secret.__table__
    with engine.connect() as conn:
        sealed = conn.execute(sa.select(table.c.ssn).where(table.c.id == ids[1])).scalar_one()
        assert "4321" not in repr(sealed) and sealed.open(ids[1]) == "987-65-4321"  # Core: open with the key
        raw = conn.execute(
            sa.select(sa.type_coerce(table.c.ssn, sa.LargeBinary)).where(table.c.id == ids[0])
        ).scalar()
    with engine.begin() as conn:  # copy row a's SSN into row b
        conn.execute(
            table.update().where(table.c.id == ids[1]).values(ssn=sa.type_coerce(raw, sa.LargeBinary))
        )
    with Session(engine) as session:
        assert session.get(Secret, ids[0]).pin == 4321  # type: ignore[union-attr]
        with pytest.raises(
            sealbox.DecryptionError, match=r"secrets\.ssn of the row with key .* did not decrypt"
        ):
            session.get(Secret, ids[1])
    with Session(engine) as session:  # keys that are personal data stay out of the error
        with (
            patch.object(sealbox.sqlalchemy, "name_keys_in_errors", False),
            pytest.raises(sealbox.DecryptionError) as info,
        ):
            session.get(Secret, ids[1])
        assert str(info.value) == "secrets.ssn: a value did not decrypt"
    with pytest.raises(sealbox.SealboxError, match="bound to its row"):
        sa.select(Secret).where(Secret.ssn == "123-45-6789")
    with engine.begin() as conn, pytest.raises(sa.exc.StatementError, match="write it through the ORM"):
        conn.execute(table.insert().values(id=uuid.uuid4(), ssn="1"))


def test_row_contexts_need_a_key_known_before_the_insert(postgres: Any, tmp_path: Path) -> None:
    with pytest.raises(sa.exc.ArgumentError, match="assigned by the database on INSERT"):
        secret_model(RING1, key="autoincrement")
    Explicit = secret_model(RING1, key="explicit")
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'explicit.sqlite3'}")
    Explicit.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Explicit(id=7, ssn="a"))
        session.commit()
        session.add(Explicit(ssn="b"))
        with pytest.raises(sealbox.SealboxError, match="must be set before"):
            session.commit()
    server = postgres.create_database(f"seq{os.getpid()}")
    pg = sa.create_engine(server.sqlalchemy_url)
    Sequenced = secret_model(RING1, key="sequence")
    Sequenced.metadata.create_all(pg)
    with Session(pg) as session:
        rows = [Sequenced(ssn=f"s{i}") for i in range(3)]
        session.add_all(rows)
        session.commit()
        keys = [r.id for r in rows]
    assert keys == [1, 2, 3]  # fetched from the sequence before the INSERT
    with Session(pg) as session:
        assert [session.get(Sequenced, k).ssn for k in keys] == ["s0", "s1", "s2"]  # type: ignore[union-attr]
    # The table job rotates row-bound columns with the same contexts.
    report = rotate(pg, Sequenced, ["ssn"])
    assert report[0].rotated == 0  # already under the active key
    Sequenced2 = secret_model(RING2, key="sequence")
    assert rotate(pg, Sequenced2, ["ssn"])[0].rotated == 3
    with Session(pg) as session:
        assert session.get(Sequenced2, 2).ssn == "s1"  # type: ignore[union-attr]
    pg.dispose()


def test_a_blind_index_companion_is_filled_by_the_unit_of_work_and_queried(engine: sa.Engine) -> None:
    from sealbox.sqlalchemy import BlindIndexed

    class Base(DeclarativeBase):
        pass

    bidx = sealbox.BlindIndex(b"\x07" * 32)

    class Member(Base):
        __tablename__ = "members"
        id: Mapped[int] = mapped_column(primary_key=True)
        email: Mapped[str | None] = mapped_column(Encrypted(sa.String, sealbox.Box(RING1)))
        email_bidx: Mapped[bytes | None] = mapped_column(BlindIndexed("email", bidx), index=True)

    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Member(id=i, email=f"m{i % 5}@example.org") for i in range(1, 21)] + [Member(id=99)])
        session.commit()
        found = session.scalars(sa.select(Member.id).where(Member.email_bidx == "m3@example.org")).all()
        assert sorted(found) == [3, 8, 13, 18]
        assert session.get(Member, 3).email_bidx == bidx.compute("m3@example.org")  # type: ignore[union-attr]
        member = session.get(Member, 8)
        assert member is not None
        member.email = "new@example.org"  # an update recomputes the index
        session.commit()
        in_ = Member.email_bidx.in_(["m3@example.org", "new@example.org"])
        assert sorted(session.scalars(sa.select(Member.id).where(in_)).all()) == [3, 8, 13, 18]
        assert session.scalars(sa.select(Member.id).where(Member.email_bidx == "new@example.org")).all() == [
            8
        ]
        assert (
            8 not in session.scalars(sa.select(Member.id).where(Member.email_bidx == "m3@example.org")).all()
        )
        assert session.scalars(sa.select(Member.id).where(Member.email_bidx.is_(None))).all() == [99]
        member.email = None  # and NULL for NULL
        session.commit()
        unindexed = sa.select(Member.id).where(Member.email_bidx.is_(None))
        assert sorted(session.scalars(unindexed).all()) == [8, 99]
        member.email = "new@example.org"
        session.commit()
    with pytest.raises(sealbox.SealboxError, match="equality only"):
        sa.select(Member).where(Member.email_bidx > "a")
    with Session(engine) as session:
        session.add(Member(id=50, email="x@example.org", email_bidx=b"forged"))
        session.commit()  # the unit of work computes the index, whatever was set
        assert session.get(Member, 50).email_bidx == bidx.compute("x@example.org")  # type: ignore[union-attr]
        session.get(Member, 50).email_bidx = b"forged"  # type: ignore[union-attr]
        with pytest.raises(sa.exc.StatementError, match="computed from 'email'"):
            session.commit()
    # Writes past the unit of work (bulk and Core) would leave the index stale: refused.
    stale = r"members\.email has a blind index \(email_bidx\) .* would leave the index stale"
    moved = "moved@example.org"
    with Session(engine) as session:
        for statement, rows in (
            (sa.update(Member), [{"id": 3, "email": moved}]),  # bulk UPDATE by primary key
            (sa.insert(Member), [{"id": 60, "email": moved}]),  # bulk INSERT
            (sa.update(Member).where(Member.id == 3).values(email=moved), None),
        ):
            with pytest.raises(sa.exc.StatementError, match=stale):
                session.execute(statement, rows, execution_options={"synchronize_session": False})
            session.rollback()
        assert session.get(Member, 3).email == "m3@example.org"  # type: ignore[union-attr]
        assert session.get(Member, 60) is None
    # A flush that fails gives the application its value back; one that succeeds indexes it.
    with Session(engine) as session:
        twin = Member(id=3, email="twin@example.org")
        session.add(twin)
        with pytest.raises(sa.exc.IntegrityError):
            session.commit()
        assert twin.email == "twin@example.org"
    with Session(engine, expire_on_commit=False) as session:
        member = session.get(Member, 3)
        assert member is not None
        member.email = moved
        session.commit()
        assert member.__dict__["email"] == moved  # the application's value, not the flush's wrapper
        assert session.scalars(sa.select(Member.id).where(Member.email_bidx == moved)).all() == [3]


def test_a_column_shared_through_a_mixin_is_guarded_only_where_it_is_indexed(engine: sa.Engine) -> None:
    from sealbox.sqlalchemy import BlindIndexed
    from sqlalchemy.orm import declared_attr

    class Base(DeclarativeBase):
        pass

    kind = Encrypted(sa.String, sealbox.Box(RING1))

    class Contact:
        email: Mapped[str | None] = mapped_column(kind)

    class Indexed(Contact, Base):
        __tablename__ = "indexed_contacts"
        id: Mapped[int] = mapped_column(primary_key=True)

        @declared_attr
        def email_bidx(cls) -> Mapped[bytes | None]:
            return mapped_column(BlindIndexed("email", sealbox.BlindIndex(b"\x07" * 32)))

    class Plain(Contact, Base):
        __tablename__ = "plain_contacts"
        id: Mapped[int] = mapped_column(primary_key=True)

    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Indexed(id=1, email="a@example.org"), Plain(id=1, email="b@example.org")])
        session.commit()
        session.execute(sa.update(Plain).where(Plain.id == 1).values(email="c@example.org"))  # no index
        session.commit()
        assert session.get(Plain, 1).email == "c@example.org"  # type: ignore[union-attr]
        with pytest.raises(sa.exc.StatementError, match="has a blind index"):
            session.execute(sa.update(Indexed).where(Indexed.id == 1).values(email="c@example.org"))


def test_an_alembic_migration_encrypts_a_plaintext_column(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    url = f"sqlite:///{tmp_path / 'alembic.sqlite3'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE accounts (id INTEGER PRIMARY KEY, iban TEXT)"))
        conn.execute(
            sa.text("INSERT INTO accounts VALUES (:i, :v)"),
            [{"i": i, "v": f"DE{i:020d}"} for i in range(1, 31)],
        )
    scripts = tmp_path / "migrations"
    config = Config(str(tmp_path / "alembic.ini"))
    command.init(config, str(scripts))
    config = Config(str(tmp_path / "alembic.ini"))
    config.set_main_option("script_location", str(scripts))
    config.set_main_option("sqlalchemy.url", url)
    (scripts / "versions" / "0001_encrypt_iban.py").write_text(
        '"""Encrypt accounts.iban in place."""\n'
        "import os\n\n"
        "from alembic import op\n\n"
        "import sealbox\n"
        "from sealbox import tables\n\n"
        'revision = "0001"\n'
        "down_revision = None\n"
        "branch_labels = None\n"
        "depends_on = None\n\n\n"
        "def upgrade() -> None:\n"
        '    box = sealbox.Box(sealbox.Keyring.from_env("MIGRATION_KEYS"), encoding="text")\n'
        '    report = tables.encrypt(op.get_bind(), "accounts", "iban", box)\n'
        "    assert not report.failed, report.failed\n\n\n"
        "def downgrade() -> None:\n"
        "    raise NotImplementedError\n"
    )
    os.environ["MIGRATION_KEYS"] = f"2:{K2.hex()}"
    try:
        command.upgrade(config, "head")
    finally:
        del os.environ["MIGRATION_KEYS"]
    accounts = sa.Table(
        "accounts",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("iban", Encrypted(sa.String, sealbox.Box(sealbox.Keyring({2: K2}), encoding="text"))),
    )
    with engine.connect() as conn:
        raw = conn.execute(sa.text("SELECT iban FROM accounts WHERE id = 1")).scalar()
        values = conn.execute(sa.select(accounts.c.iban).order_by(accounts.c.id)).scalars().all()
    assert raw.startswith("AQ") and values == [f"DE{i:020d}" for i in range(1, 31)]
    assert tables.status(url, "accounts", "iban").by_key == {2: 30}


def test_a_failed_flush_leaves_the_applications_values(engine: sa.Engine) -> None:
    add_people(engine, [{"email": "taken@example.org"}])
    Secret = secret_model(RING1)
    Secret.metadata.create_all(engine)
    with Session(engine) as session:
        person = Person(id=1, email="dup@example.org", age=5)  # id 1 exists: the INSERT fails
        secret = Secret(ssn="123-45-6789")
        session.add_all([person, secret])
        with pytest.raises(sa.exc.IntegrityError):
            session.flush()
        session.rollback()
        assert (person.email, person.age) == ("dup@example.org", 5)
        assert secret.ssn == "123-45-6789"


def test_review_cases_keys_as_the_database_returns_them_and_numeric_scale(tmp_path: Path) -> None:
    class Base(DeclarativeBase):
        pass

    box = sealbox.Box(RING1)

    class Row(Base):
        __tablename__ = "rows"
        id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
        ssn: Mapped[str | None] = mapped_column(Encrypted(sa.String, box, context="row"))

    class Price(Base):
        __tablename__ = "prices"
        id: Mapped[int] = mapped_column(primary_key=True)
        amount: Mapped[decimal.Decimal] = mapped_column(
            Encrypted(sa.Numeric(10, 2), sealbox.Box(RING1, deterministic=True))
        )

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'review.sqlite3'}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Row(id="7", ssn="seven"))  # type: ignore[arg-type]
        session.add(Price(id=1, amount=decimal.Decimal("1.1")))
        session.commit()
    with Session(engine) as session:
        row = session.get(Row, 7)
        assert row is not None and row.ssn == "seven"
        row.id = 8
        with pytest.raises(sealbox.SealboxError, match="cannot change"):
            session.commit()
        session.rollback()
        found = session.scalars(sa.select(Price.id).where(Price.amount == decimal.Decimal("1.10"))).all()
        assert found == [1]


def test_core_executemany_and_select_of_a_str_column(engine: sa.Engine) -> None:
    """The per-statement processors of a binary str column: an executemany insert and a
    select round trip, misuse is refused, and a moved value fails naming the column."""
    metadata = sa.MetaData()
    notes = sa.Table(
        "core_notes",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("body", Encrypted(sa.String, sealbox.Box(RING1))),
        sa.Column("title", Encrypted(sa.String, sealbox.Box(RING1))),
    )
    metadata.create_all(engine)
    rows = [{"id": i, "body": "" if i == 1 else f"note {i} ✓", "title": None} for i in range(1, 301)]
    with engine.begin() as conn:
        conn.execute(notes.insert(), rows)
        with pytest.raises(sa.exc.StatementError, match=r"core_notes\.body holds String values, not int"):
            conn.execute(notes.insert(), [{"id": 999, "body": 7, "title": None}])
    with engine.connect() as conn:
        got = conn.execute(sa.select(notes).order_by(notes.c.id)).all()
        assert [(r.id, r.body, r.title) for r in got] == [(r["id"], r["body"], None) for r in rows]
        raw = conn.execute(sa.text("SELECT body FROM core_notes WHERE id = 2")).scalar_one()
    assert sealbox.Box(RING1).decrypt(
        bytes(raw), context=column_context("core_notes", "body")
    ) == sealbox.codecs.encode("note 2 ✓")
    with engine.begin() as conn:  # the body of row 2 copied into the title column
        conn.execute(sa.text("UPDATE core_notes SET title = body WHERE id = 2"))
    with (
        engine.connect() as conn,
        pytest.raises(
            sealbox.DecryptionError, match=r"^core_notes\.title of the row with key 2 did not decrypt$"
        ),
    ):
        conn.execute(sa.select(notes.c.title).where(notes.c.id == 2)).all()
    metadata.drop_all(engine)


def test_an_unattached_column_type_passes_null_and_refuses_values(tmp_path: Path) -> None:
    """A bind parameter typed Encrypted outside any Table: NULL goes through, a value is
    refused (its context names no column)."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'u.sqlite3'}")
    typed = Encrypted(sa.String, sealbox.Box(RING1))
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.bindparam("x", None, type_=typed))).all() == [(None,)]
        with pytest.raises(sa.exc.StatementError, match="must belong to a Table"):
            conn.execute(sa.select(sa.bindparam("x", "v", type_=typed))).all()
    engine.dispose()


def test_row_bound_columns_of_a_parent_model_work_for_its_subclass(tmp_path: Path) -> None:
    """sealbox's mapper events are listened on the mappers that have row-bound columns, each
    subclass mapper included (joined inheritance), not on every mapper."""
    box = sealbox.Box(RING1)

    class Base(DeclarativeBase):
        pass

    class Parent(Base):
        __tablename__ = "parent"
        id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
        kind: Mapped[str] = mapped_column(sa.String(10))
        ssn: Mapped[str | None] = mapped_column(Encrypted(sa.String, box, context="row"))
        __mapper_args__: ClassVar[dict[str, Any]] = {
            "polymorphic_on": "kind",
            "polymorphic_identity": "parent",
        }

    class Child(Parent):
        __tablename__ = "child"
        id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("parent.id"), primary_key=True)
        note: Mapped[str | None] = mapped_column(Encrypted(sa.String, box))
        __mapper_args__: ClassVar[dict[str, Any]] = {"polymorphic_identity": "child"}

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'inherit.sqlite3'}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        child, parent = Child(ssn="123-45-6789", note="hi"), Parent(ssn="987-65-4321")
        session.add_all([child, parent])
        session.commit()
        ids = (child.id, parent.id)
    with Session(engine) as session:
        found = {
            p.id: (type(p).__name__, p.ssn, getattr(p, "note", None))
            for p in session.scalars(sa.select(Parent))
        }
    assert found == {ids[0]: ("Child", "123-45-6789", "hi"), ids[1]: ("Parent", "987-65-4321", None)}
    table = Parent.__table__
    with engine.begin() as conn:  # the child's SSN copied into the parent row
        raw = conn.execute(
            sa.select(sa.type_coerce(table.c.ssn, sa.LargeBinary)).where(table.c.id == ids[0])
        ).scalar()
        conn.execute(
            table.update().where(table.c.id == ids[1]).values(ssn=sa.type_coerce(raw, sa.LargeBinary))
        )
    with (
        Session(engine) as session,
        pytest.raises(sealbox.DecryptionError, match=r"^parent\.ssn of the row with key"),
    ):
        session.get(Parent, ids[1])
    engine.dispose()


def test_listeners_after_a_write_see_the_applications_row_bound_values(engine: sa.Engine) -> None:
    Secret = secret_model(RING1)
    Secret.metadata.create_all(engine)
    seen: list[Any] = []

    def listener(mapper: Any, connection: Any, target: Any) -> None:
        seen.append(target.ssn)

    sa.event.listen(Secret, "after_insert", listener)
    sa.event.listen(Secret, "after_update", listener)
    with Session(engine) as session:
        secret = Secret(ssn="123-45-6789")
        session.add(secret)
        session.flush()
        secret.ssn = "987-65-4321"
        session.flush()
        assert not session.dirty and secret.ssn == "987-65-4321"
        session.commit()
    assert seen == ["123-45-6789", "987-65-4321"]
