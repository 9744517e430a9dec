"""`sealbox demo`: encrypt a table of people in SQLite, search it, rotate its key, verify it."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sealbox import Box, DecryptionError, Keyring, generate_key

FIRST = [
    "Ada",
    "Alan",
    "Grace",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Margaret",
    "Radia",
]
LAST = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Hamilton",
]
COLUMNS = ("name", "email", "phone", "ssn")
LOOKUP_CONTEXT = b"people.email"


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    email: str
    phone: str
    ssn: str


def people(count: int, seed: int = 7) -> list[Person]:
    """Synthetic people; the same seed gives the same people."""
    rng = random.Random(seed)
    out = []
    for i in range(1, count + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        out.append(
            Person(
                id=i,
                name=f"{first} {last}",
                email=f"{first.lower()}.{last.lower()}.{i}@example.org",
                phone=f"+1-555-{rng.randrange(10**7):07d}",
                ssn=f"{rng.randrange(100, 900)}-{rng.randrange(10, 100)}-{rng.randrange(1000, 10000)}",
            )
        )
    return out


def context(row_id: int, column: str) -> bytes:
    """Bind each value to its row and column: a value copied elsewhere fails to decrypt."""
    return f"people/{row_id}/{column}".encode()


def encrypt_row(box: Box[bytes], lookup: Box[bytes], p: Person) -> tuple[object, ...]:
    values = [box.encrypt(getattr(p, c).encode(), context=context(p.id, c)) for c in COLUMNS]
    return (p.id, *values, lookup.encrypt(p.email.encode(), context=LOOKUP_CONTEXT))


def find_by_email(conn: sqlite3.Connection, box: Box[bytes], lookup: Box[bytes], email: str) -> str | None:
    """Find a person by email through the deterministic column, under any key of the ring."""
    values = lookup.lookup_values(email.encode(), context=LOOKUP_CONTEXT)
    marks = ",".join("?" * len(values))
    row = conn.execute(f"SELECT id, name FROM people WHERE email_lookup IN ({marks})", values).fetchone()
    if row is None:
        return None
    return box.decrypt(row[1], context=context(row[0], "name")).decode()


def rotate(conn: sqlite3.Connection, box: Box[bytes], lookup: Box[bytes]) -> int:
    """Re-encrypt every value not yet under the active key; returns the rows changed."""
    changed = 0
    rows = conn.execute("SELECT id, name, email, phone, ssn, email_lookup FROM people").fetchall()
    for row_id, *values, lookup_value in rows:
        if not box.needs_rotation(values[0]):
            continue
        new = [
            box.encrypt(box.decrypt(v, context=context(row_id, c)), context=context(row_id, c))
            for c, v in zip(COLUMNS, values, strict=True)
        ]
        email = lookup.decrypt(lookup_value, context=LOOKUP_CONTEXT)
        conn.execute(
            "UPDATE people SET name=?, email=?, phone=?, ssn=?, email_lookup=? WHERE id=?",
            (*new, lookup.encrypt(email, context=LOOKUP_CONTEXT), row_id),
        )
        changed += 1
    conn.commit()
    return changed


def verify(conn: sqlite3.Connection, box: Box[bytes], expected: list[Person]) -> None:
    """Every row decrypts to the original and none is left under an old key."""
    by_id = {p.id: p for p in expected}
    rows = conn.execute("SELECT id, name, email, phone, ssn FROM people").fetchall()
    assert len(rows) == len(expected), "row count changed"
    for row_id, *values in rows:
        person = by_id[row_id]
        for column, value in zip(COLUMNS, values, strict=True):
            assert not box.needs_rotation(value), f"row {row_id} {column} is under an old key"
            plain = box.decrypt(value, context=context(row_id, column)).decode()
            assert plain == getattr(person, column), f"row {row_id} {column} does not match"


def run(rows: int = 5000, db: str | None = None, echo: Callable[[str], None] = print) -> None:
    path = Path(db) if db else Path("sealbox-demo.sqlite3")
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name BLOB, email BLOB, phone BLOB, ssn BLOB,"
        " email_lookup BLOB)"
    )
    conn.execute("CREATE INDEX people_email_lookup ON people (email_lookup)")
    data = people(rows)

    # Raw keys would come from a KMS or the environment (Keyring.from_env) in an application.
    old_key, new_key = generate_key(), generate_key()
    ring = Keyring({1: old_key})
    box, lookup = Box(ring), Box(ring, deterministic=True)

    start = time.perf_counter()
    conn.executemany(
        "INSERT INTO people VALUES (?, ?, ?, ?, ?, ?)", (encrypt_row(box, lookup, p) for p in data)
    )
    conn.commit()
    took = time.perf_counter() - start
    echo(
        f"encrypted {rows:,} people (4 columns + an email lookup column) into {path} "
        f"in {took:.2f} s ({rows * 5 / took:,.0f} values/s)"
    )

    target = data[len(data) // 2]
    assert find_by_email(conn, box, lookup, target.email) == target.name
    echo(f"found {target.email} by its encrypted lookup column: {target.name}")

    # Rotate: key 2 becomes active, key 1 still decrypts until every row is re-encrypted.
    ring2 = Keyring({1: old_key, 2: new_key}, active=2)
    box2, lookup2 = Box(ring2), Box(ring2, deterministic=True)
    half = data[: len(data) // 2]
    echo(f"during rotation, lookups still work: {find_by_email(conn, box2, lookup2, half[-1].email)}")
    start = time.perf_counter()
    changed = rotate(conn, box2, lookup2)
    took = time.perf_counter() - start
    echo(f"rotated {changed:,} rows to key 2 in {took:.2f} s ({changed / took:,.0f} rows/s)")

    verify(conn, Box(Keyring({2: new_key})), data)
    assert find_by_email(conn, box2, lookup2, target.email) == target.name
    tampered = conn.execute("SELECT ssn FROM people WHERE id = 1").fetchone()[0]
    try:
        box2.decrypt(tampered, context=context(2, "ssn"))
    except DecryptionError:
        echo(f"verified all {rows:,} rows under key 2 alone; row 1's SSN copied to row 2 -> DecryptionError")
    else:
        raise AssertionError("a value moved to another row decrypted")
    conn.close()
