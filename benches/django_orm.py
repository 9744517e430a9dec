"""The Django bench: bulk_create of 100,000 rows with three encrypted fields and reading them back,
against plain fields and django-fernet-encrypted-fields (Fernet) on the same model, on SQLite and
PostgreSQL, in one run.

    python benches/django_orm.py                 # 100,000 rows, SQLite and PostgreSQL (twice:
                                                 # client-side and server-side binding)
    python benches/django_orm.py --rows 20000 --db sqlite

Each variant runs ``bulk_create(objs, batch_size=2000)`` then ``list(Model.objects.all())``; the
time is the sum. The variants run interleaved, each into emptied tables, ``--rounds`` times;
the figures are medians. django-fernet-encrypted-fields is left out when it is not installed
(``pip install django-fernet-encrypted-fields``).
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEYS = f"1:{'01' * 32}"
OVERHEAD = 62  # bytes a message adds to its plaintext (aes-256-gcm; the codec's tag is the +1)


def configure(work: Path, pg: Any) -> list[str]:
    import django
    from django.conf import settings

    databases: dict[str, Any] = {
        "sqlite": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(work / "b.sqlite3")}
    }
    if pg is not None:
        databases["postgres"] = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": pg.dbname,
            "USER": pg.user,
            "HOST": pg.host,
            "PORT": str(pg.port),
        }
        # The same server with psycopg's server-side binding (Django's OPTIONS), where arrays
        # of messages go in binary.
        databases["postgres_server_binding"] = {
            **databases["postgres"],
            "OPTIONS": {"server_side_binding": True},
        }
    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes"],
        DATABASES={"default": databases["sqlite"], **databases},
        SEALBOX_KEYS=KEYS,
        SECRET_KEY="bench-secret-key-not-for-production",
        SALT_KEY="bench-salt",
        USE_TZ=False,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )
    django.setup()
    return [k for k in databases]


def models() -> dict[str, Any]:
    from django.db import models as m
    from sealbox.django import EncryptedCharField

    class Plain(m.Model):
        email = m.CharField(max_length=200)
        name = m.CharField(max_length=200)
        phone = m.CharField(max_length=200)

        class Meta:
            app_label = "bench"

    class Sealed(m.Model):
        email = EncryptedCharField(max_length=200, deterministic=True)
        name = EncryptedCharField(max_length=200)
        phone = EncryptedCharField(max_length=200)

        class Meta:
            app_label = "bench"

    class Binary(m.Model):
        """Plain BinaryFields holding random bytes of a message's size: the cost of storing
        binary values, without encryption."""

        email = m.BinaryField()
        name = m.BinaryField()
        phone = m.BinaryField()

        class Meta:
            app_label = "bench"

    found: dict[str, Any] = {
        "plain fields": Plain,
        "plain BinaryField (same sizes)": Binary,
        "sealbox.django": Sealed,
    }
    try:
        from encrypted_fields.fields import EncryptedCharField as FernetCharField
    except ImportError:
        print("django-fernet-encrypted-fields is not installed: its row is left out")
        return found

    class Fernet(m.Model):
        email = FernetCharField(max_length=200)
        name = FernetCharField(max_length=200)
        phone = FernetCharField(max_length=200)

        class Meta:
            app_label = "bench"

    return {**found, "django-fernet-encrypted-fields": Fernet}


def run(model: Any, alias: str, rows: int) -> float:
    objs = [
        model(email=f"user{i}@example.org", name=f"Person {i}", phone=f"+1-555-{i:07d}") for i in range(rows)
    ]
    if model.__name__ == "Binary":  # random bytes as long as the messages sealbox stores
        for obj in objs:
            obj.email, obj.name, obj.phone = (
                os.urandom(len(v) + 1 + OVERHEAD) for v in (obj.email, obj.name, obj.phone)
            )
    gc.collect()
    started = time.perf_counter()
    model.objects.using(alias).bulk_create(objs, batch_size=2000)
    got = list(model.objects.using(alias).all())
    took = time.perf_counter() - started
    assert len(got) == rows and (model.__name__ == "Binary" or got[-1].email == f"user{rows - 1}@example.org")
    return took


def empty(alias: str, models: Iterable[Any]) -> None:
    """Empty the tables (untimed), so that every run inserts into an empty table and the
    database has no earlier run's rows to vacuum while the next one is timed."""
    from django.db import connections

    connection = connections[alias]
    verb = "TRUNCATE" if connection.vendor == "postgresql" else "DELETE FROM"
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"{verb} {connection.ops.quote_name(model._meta.db_table)}")
        if connection.vendor == "postgresql":
            cursor.execute("CHECKPOINT")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--db", choices=["sqlite", "postgres", "all"], default="all")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sealbox-django-"))
    try:
        from contextlib import ExitStack

        with ExitStack() as stack:
            pg = None
            if args.db in ("postgres", "all"):
                from tests.services import postgres_server

                pg = stack.enter_context(postgres_server(work / "pg"))
            aliases = configure(work, pg)
            from django.db import connections

            found = models()
            created: set[str] = set()
            for alias in aliases:
                if args.db not in (alias.split("_")[0], "all"):
                    continue
                database = connections[alias].settings_dict["NAME"]
                if database not in created:  # not another alias of the same database
                    with connections[alias].schema_editor() as editor:
                        for model in found.values():
                            editor.create_model(model)
                    created.add(database)
                print(
                    f"{alias}: {args.rows:,} rows, three fields, bulk_create + read back, "
                    f"median of {args.rounds} interleaved rounds (min-max)"
                )
                times: dict[str, list[float]] = {label: [] for label in found}
                for _ in range(args.rounds):
                    for label, model in found.items():
                        empty(alias, found.values())
                        times[label].append(run(model, alias, args.rows))
                plain = statistics.median(times["plain fields"])
                for label, took in times.items():
                    mid = statistics.median(took)
                    print(
                        f"  {label:<34} {mid:6.2f} s ({min(took):.2f}-{max(took):.2f})"
                        f"  {mid / plain:5.2f}x plain"
                    )
            connections.close_all()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
