"""`sealbox demo`: encrypt a table of people in SQLite, search it, rotate its key, verify it."""

from __future__ import annotations

import random
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sealbox import tables
from sealbox._box import Box
from sealbox._context import column_context, row_contexts
from sealbox._errors import DecryptionError
from sealbox._keyring import Keyring, generate_key

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
LOOKUP_CONTEXT = column_context("people", "email_lookup")
# Each sensitive value is bound to its row and column; the lookup column to its column only,
# so that equal emails give equal messages.
CONTEXTS: dict[str, tables.ContextMode] = {**{c: "row" for c in COLUMNS}, "email_lookup": "column"}


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
    return column_context("people", column, row=row_id)


def progress(done: int, total: int, label: str, started: float) -> None:
    """A one-line progress bar on stderr."""
    width = 30
    filled = width * done // max(total, 1)
    rate = done / max(time.perf_counter() - started, 1e-9)
    end = "\n" if done >= total else ""
    sys.stderr.write(
        f"\r  {label} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} {rate:,.0f} rows/s{end}"
    )
    sys.stderr.flush()


def find_by_email(conn: sqlite3.Connection, box: Box[bytes], lookup: Box[bytes], email: str) -> str | None:
    """Find a person by email through the deterministic column, under any key of the ring."""
    values = lookup.lookup_values(email.encode(), context=LOOKUP_CONTEXT)
    marks = ",".join("?" * len(values))
    row = conn.execute(f"SELECT id, name FROM people WHERE email_lookup IN ({marks})", values).fetchone()
    if row is None:
        return None
    return box.decrypt(row[1], context=context(row[0], "name")).decode()


def insert(
    conn: sqlite3.Connection, box: Box[bytes], lookup: Box[bytes], data: list[Person], batch: int
) -> None:
    """Encrypt the sensitive columns with encrypt_batch and insert them."""
    started = time.perf_counter()
    for start in range(0, len(data), batch):
        rows = data[start : start + batch]
        ids = [p.id for p in rows]
        columns = [
            box.encrypt_batch([getattr(p, c).encode() for p in rows], row_contexts("people", c, ids))
            for c in COLUMNS
        ]
        lookups = lookup.encrypt_batch([p.email.encode() for p in rows], LOOKUP_CONTEXT)
        conn.executemany(
            "INSERT INTO people VALUES (?, ?, ?, ?, ?, ?)", zip(ids, *columns, lookups, strict=True)
        )
        progress(start + len(rows), len(data), "encrypt", started)
    conn.commit()


def rotate(path: Path, ring: Keyring, batch: int) -> tables.Report:
    """Re-encrypt every row under the active key with the table job (``sealbox rotate``):
    resumable, each batch one transaction, each row's write a compare-and-swap."""
    started = time.perf_counter()
    report = tables.rotate(
        path,
        "people",
        [*COLUMNS, "email_lookup"],
        ring,
        context=CONTEXTS,
        batch_size=batch,
        progress=lambda done, total: progress(done, total, "rotate ", started),
    )
    if report.failed:
        raise AssertionError(f"{len(report.failed)} rows failed to rotate")
    return report


def verify(conn: sqlite3.Connection, box: Box[bytes], expected: list[Person], batch: int) -> None:
    """Every row decrypts to the original and none is left under an old key."""
    rows = conn.execute("SELECT id, name, email, phone, ssn FROM people ORDER BY id").fetchall()
    assert len(rows) == len(expected), "row count changed"
    started = time.perf_counter()
    for start in range(0, len(rows), batch):
        part, people_part = rows[start : start + batch], expected[start : start + batch]
        ids = [r[0] for r in part]
        for k, c in enumerate(COLUMNS):
            messages = [r[k + 1] for r in part]
            assert not any(box.needs_rotation(m) for m in messages), f"{c} left under an old key"
            plain = box.decrypt_batch(messages, row_contexts("people", c, ids))
            assert plain == [getattr(p, c).encode() for p in people_part], f"{c} does not match"
        progress(start + len(part), len(rows), "verify ", started)


def python_loop_rate(rows: int = 20_000) -> tuple[float, float]:
    """Rows/s of the same rotation done one value at a time: with this library's
    single-value calls, and with cryptography's AESGCM in a Python loop (the same
    per-message work: subkey, seal, open), when cryptography is installed."""
    ring1, ring2 = Keyring({1: b"\x01" * 32}), Keyring({1: b"\x01" * 32, 2: b"\x02" * 32}, active=2)
    old, new = Box(ring1), Box(ring2)
    messages = old.encrypt_batch([b"x" * 64] * rows)
    started = time.perf_counter()
    for m in messages:
        new.encrypt(new.decrypt(m))
    single = rows / (time.perf_counter() - started)
    try:
        import hashlib
        import hmac as hmac_module
        import os as os_module

        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        return single, float("nan")
    key1, key2 = b"\x01" * 32, b"\x02" * 32
    started = time.perf_counter()
    for m in messages:
        subkey = hmac_module.digest(key1, b"sealbox/v1/aes-256-gcm\0" + m[:22], hashlib.sha256)
        plain = AESGCM(subkey).decrypt(bytes(12), m[46:], m[:46])
        salt = os_module.urandom(16)
        subkey2 = hmac_module.digest(key2, b"sealbox/v1/aes-256-gcm\0" + m[:6] + salt, hashlib.sha256)
        AESGCM(subkey2).encrypt(bytes(12), plain, m[:46])
    return single, rows / (time.perf_counter() - started)


def run(
    rows: int = 1_000_000, db: str | None = None, batch: int = 50_000, echo: Callable[[str], None] = print
) -> None:
    path = Path(db) if db else Path("sealbox-demo.sqlite3")
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    # With WAL the database stays consistent; a power failure may lose the last commits.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA cache_size = -262144")  # 256 MiB
    conn.execute(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name BLOB, email BLOB, phone BLOB, ssn BLOB,"
        " email_lookup BLOB)"
    )
    conn.execute("CREATE INDEX people_email_lookup ON people (email_lookup)")
    echo(f"generating {rows:,} synthetic people (name, email, phone, SSN) ...")
    data = people(rows)

    # In an application the raw keys come from a KMS or the environment (Keyring.from_env).
    old_key, new_key = generate_key(), generate_key()
    ring = Keyring({1: old_key})
    box, lookup = Box(ring), Box(ring, deterministic=True)

    started = time.perf_counter()
    insert(conn, box, lookup, data, batch)
    took = time.perf_counter() - started
    echo(
        f"encrypted {rows:,} people (4 columns + a deterministic email column) into {path} "
        f"in {took:.1f} s, SQLite included"
    )

    target = data[len(data) // 2]
    assert find_by_email(conn, box, lookup, target.email) == target.name
    echo(f"found {target.email} by its encrypted lookup column: {target.name}")

    # Rotate: key 2 becomes active; key 1 still decrypts until every row is re-encrypted.
    ring2 = Keyring({1: old_key, 2: new_key}, active=2)
    box2, lookup2 = Box(ring2), Box(ring2, deterministic=True)
    assert find_by_email(conn, box2, lookup2, target.email) == target.name  # lookups work mid-rotation
    conn.commit()
    report = rotate(path, ring2, batch)
    changed, took = report.rotated, report.seconds
    echo(
        f"rotated {changed:,} rows ({changed * 5:,} values) to key 2 in {took:.1f} s "
        "with sealbox.tables.rotate: "
        f"{changed * 5 / took:,.0f} values/s, SQLite reads and writes included; a second run rotates "
        f"{tables.rotate(path, 'people', [*COLUMNS, 'email_lookup'], ring2, context=CONTEXTS).rotated} rows"
    )

    verify(conn, Box(Keyring({2: new_key})), data, batch)
    assert find_by_email(conn, box2, lookup2, target.email) == target.name
    moved = conn.execute("SELECT ssn FROM people WHERE id = 1").fetchone()[0]
    try:
        box2.decrypt(moved, context=context(2, "ssn"))
    except DecryptionError:
        echo(f"verified all {rows:,} rows under key 2 alone; row 1's SSN copied to row 2 -> DecryptionError")
    else:
        raise AssertionError("a value moved to another row decrypted")
    conn.close()

    # The crypto alone, without SQLite: one native batch against Python loops.
    sample = min(rows, 200_000)
    messages = Box(ring).encrypt_batch([b"x" * 64] * sample)
    started = time.perf_counter()
    box2.rotate_batch(messages)
    batch_rate = sample / (time.perf_counter() - started)
    single, loop = python_loop_rate()
    echo(
        f"rotate_batch: {batch_rate:,.0f} values/s; a Python loop of Box.decrypt + Box.encrypt: "
        f"{single:,.0f}/s ({batch_rate / single:.1f}x)"
        + (
            f"; the same work with cryptography in a Python loop: {loop:,.0f}/s ({batch_rate / loop:.1f}x)"
            if loop == loop
            else ""
        )
    )
