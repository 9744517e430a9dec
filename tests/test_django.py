"""sealbox.django: encrypted model fields, lookups and the management commands, on SQLite and
on PostgreSQL (the session fixture's server), with migrations made by makemigrations."""

from __future__ import annotations

import datetime
import decimal
import io
import json
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sealbox

K1, K2 = b"\x01" * 32, b"\x02" * 32
KEYS1 = f"1:{K1.hex()}"
KEYS2 = f"1:{K1.hex()},2:{K2.hex()}"

EDGES: list[dict[str, Any]] = [
    {
        "email": "",
        "name": "",
        "notes": "",
        "age": 0,
        "active": False,
        "balance": decimal.Decimal("0.00"),
        "born": datetime.date(1, 1, 1),
        "seen": datetime.datetime(2024, 2, 29, 23, 59, 59, 999999),
        "token": uuid.UUID(int=0),
        "prefs": {},
        "photo": b"",
    },
    {
        "email": "alice@example.org",
        "name": "Ålice 🗝",
        "notes": "x" * 5000,
        "age": -(2**40),
        "active": True,
        "balance": decimal.Decimal("-12.30"),
        "born": datetime.date(1990, 5, 17),
        "seen": datetime.datetime(2026, 12, 7, 5, 17),
        "token": uuid.UUID(int=2**128 - 1),
        "prefs": {"a": [1, 2.5, None, True], "b": {"c": ""}},
        "photo": bytes(range(256)),
    },
    dict.fromkeys(
        ("email", "name", "notes", "age", "active", "balance", "born", "seen", "token", "prefs", "photo")
    ),
]


@pytest.fixture(scope="module")
def django_dbs(postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    import django
    from django.conf import settings
    from django.core.management import call_command

    work = tmp_path_factory.mktemp("django")
    server = postgres.create_database("django_app")
    (work / "djangoapp_migrations").mkdir()
    (work / "djangoapp_migrations" / "__init__.py").write_text("")
    sys.path.insert(0, str(work))
    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "sealbox.django",
            "tests.djangoapp",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(work / "app.sqlite3")},
            "pg": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": server.dbname,
                "USER": server.user,
                "HOST": server.host,
                "PORT": str(server.port),
            },
            "pg_server_binding": {  # the same database, with psycopg's server-side binding
                "ENGINE": "django.db.backends.postgresql",
                "NAME": server.dbname,
                "USER": server.user,
                "HOST": server.host,
                "PORT": str(server.port),
                "OPTIONS": {"server_side_binding": True},
            },
        },
        MIGRATION_MODULES={"djangoapp": "djangoapp_migrations"},
        SEALBOX_KEYS=KEYS1,
        USE_TZ=False,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        SECRET_KEY="django-tests-only",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF="tests.djangoapp.urls",
    )
    django.setup()
    out = io.StringIO()
    call_command("makemigrations", "djangoapp", stdout=out)
    assert "Create model Patient" in out.getvalue()
    for alias in ("default", "pg"):
        call_command("migrate", database=alias, stdout=io.StringIO())
    yield ["default", "pg"]
    from django.db import connections

    connections.close_all()
    sys.path.remove(str(work))


@pytest.fixture(params=["default", "pg"])
def db(request: pytest.FixtureRequest, django_dbs: list[str]) -> Iterator[str]:
    from django.conf import settings
    from sealbox.django import keys_changed

    from tests.djangoapp.models import Patient

    settings.SEALBOX_KEYS = KEYS1
    keys_changed()
    Patient.objects.using(request.param).all().delete()
    yield request.param
    settings.SEALBOX_KEYS = KEYS1
    keys_changed()


def test_every_field_round_trips_and_the_database_holds_only_messages(db: str) -> None:
    from django.db import connections

    from tests.djangoapp.models import Patient

    ids = [Patient.objects.using(db).create(**row).pk for row in EDGES]
    for pk, row in zip(ids, EDGES, strict=True):
        patient = Patient.objects.using(db).get(pk=pk)
        for key, value in row.items():
            got = getattr(patient, key)
            assert got == value and type(got) is type(value), (key, got, value)
    with connections[db].cursor() as cursor:
        cursor.execute("SELECT email, name, age, photo FROM djangoapp_patient WHERE id = %s", [ids[1]])
        raw = cursor.fetchone()
    assert all(b"alice" not in bytes(v) and bytes(v)[:1] == b"\x01" for v in raw)
    assert "alice" not in repr(Patient.objects.using(db).get(pk=ids[1]))


def test_lookups_on_a_deterministic_field_work_across_a_rotation(db: str) -> None:
    from django.conf import settings
    from django.core.exceptions import ValidationError
    from django.core.management import call_command
    from django.db import IntegrityError, transaction

    from tests.djangoapp.models import Patient

    for i in range(10):
        Patient.objects.using(db).create(email=f"User{i}@Example.org", age=i)
    from sealbox.django import keys_changed

    settings.SEALBOX_KEYS = KEYS2  # the application now encrypts under key 2
    keys_changed()
    Patient.objects.using(db).create(email="new@example.org", age=99)
    found = Patient.objects.using(db).filter(email__iexact="USER3@example.org")
    assert [p.age for p in found] == [3]
    assert sorted(
        p.age for p in Patient.objects.using(db).filter(email__in=["user1@example.org", "new@example.org"])
    ) == [1, 99]
    assert Patient.objects.using(db).filter(email="user4@example.org").count() == 1  # stored lowercased
    assert Patient.objects.using(db).filter(name__isnull=True).count() == 11
    with pytest.raises(IntegrityError), transaction.atomic(using=db):
        Patient.objects.using(db).create(email="new@example.org")  # unique=True holds
    # A value stored under key 1 gives another message under key 2: the database's index
    # cannot see the duplicate, Django's validation (an exact lookup, over every key) does.
    again = Patient(email="User5@example.org")
    assert Patient.objects.using(db).filter(email=again.email).exists()
    if db == "default":  # validate_unique queries the default database
        with pytest.raises(ValidationError, match="with this Email already exists"):
            again.validate_unique()
    out = io.StringIO()
    call_command(
        "sealbox_rotate", "djangoapp.Patient", "--database", db, "--json", stdout=out, stderr=io.StringIO()
    )
    reports = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["rotated"] for r in reports] == [10, 10] and all(not r["failed"] for r in reports)
    out = io.StringIO()
    call_command(
        "sealbox_status", "djangoapp.Patient", "--fields", "email,age", "--database", db, "--json", stdout=out
    )
    statuses = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [s["by_key"] for s in statuses] == [{"2": 11}, {"2": 11}]
    assert [p.age for p in Patient.objects.using(db).filter(email="user7@example.org")] == [7]


def test_lookups_an_encrypted_field_cannot_answer_raise_when_the_queryset_is_built(
    django_dbs: list[str],
) -> None:
    from django.core.exceptions import FieldError

    from tests.djangoapp.models import Patient

    with pytest.raises(
        FieldError, match=r"Patient\.name is encrypted \(randomized\): lookup 'exact' cannot find"
    ):
        Patient.objects.filter(name="x")
    with pytest.raises(FieldError, match=r"Patient\.email is encrypted: lookup 'contains'"):
        Patient.objects.filter(email__contains="x")
    with pytest.raises(FieldError, match=r"Patient\.age is encrypted: lookup 'gt'"):
        Patient.objects.filter(age__gt=3)
    with pytest.raises(TypeError, match=r"Patient\.age holds integers, not a str"):
        Patient(age="3").save()


def test_a_value_moved_to_another_column_fails_closed(db: str) -> None:
    from django.db import connections, transaction
    from django.test import override_settings

    from tests.djangoapp.models import Patient

    pk = Patient.objects.using(db).create(name="Bob", age=41).pk
    with connections[db].cursor() as cursor:
        cursor.execute("UPDATE djangoapp_patient SET notes = name WHERE id = %s", [pk])
    with pytest.raises(sealbox.DecryptionError) as one:
        Patient.objects.using(db).get(pk=pk)
    assert str(one.value) == f"Patient.notes of the row with key {pk} did not decrypt"  # never "Bob"
    # One message copied into many rows: up to three keys, found by the stored bytes; inside a
    # transaction, which goes on working afterwards.
    pks = [Patient.objects.using(db).create(name=f"P{i}", age=i).pk for i in range(5)]
    with transaction.atomic(using=db):
        with connections[db].cursor() as cursor:
            cursor.execute(
                "UPDATE djangoapp_patient SET age = (SELECT name FROM djangoapp_patient WHERE id = %s) "
                "WHERE id <> %s",
                [pks[0], pk],
            )
        with pytest.raises(sealbox.DecryptionError) as many:
            list(Patient.objects.using(db).filter(pk__in=pks).values_list("age", flat=True))
        shown = ", ".join(str(k) for k in sorted(pks)[:3])
        assert (
            str(many.value)
            == f"a value of Patient.age did not decrypt; the rows holding it have keys {shown} and more"
        )
        assert Patient.objects.using(db).filter(pk=pk).count() == 1
    with override_settings(SEALBOX_NAME_KEYS_IN_ERRORS=False), pytest.raises(sealbox.DecryptionError) as off:
        Patient.objects.using(db).get(pk=pk)
    assert str(off.value) == "a value of Patient.notes did not decrypt"
    # A value no row holds (computed in the query): the field only.
    from django.db.models.expressions import RawSQL
    from sealbox import column_context

    foreign = sealbox.Box(sealbox.Keyring.from_string(KEYS1)).encrypt(
        b"x", context=column_context("djangoapp_patient", "notes")
    )
    with pytest.raises(sealbox.DecryptionError) as nowhere:
        list(
            Patient.objects.using(db)
            .annotate(v=RawSQL("%s", [foreign], output_field=Patient._meta.get_field("age")))
            .values_list("v", flat=True)
        )
    assert str(nowhere.value) == "a value of Patient.age did not decrypt"


def test_the_commands_encrypt_legacy_plaintext_and_refuse_misuse(db: str) -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError
    from django.db import connections

    from tests.djangoapp.models import Patient

    with connections[db].cursor() as cursor:
        for i in range(1, 6):
            cursor.execute(
                "INSERT INTO djangoapp_patient (id, name) VALUES (%s, %s)", [1000 + i, f"legacy {i}".encode()]
            )
    out = io.StringIO()
    call_command(
        "sealbox_encrypt",
        "djangoapp.Patient",
        "--fields",
        "name",
        "--database",
        db,
        "--json",
        stdout=out,
        stderr=io.StringIO(),
    )
    assert json.loads(out.getvalue())["encrypted"] == 5
    assert sorted(p.name for p in Patient.objects.using(db).all()) == [f"legacy {i}" for i in range(1, 6)]
    with pytest.raises(CommandError, match="no encrypted field nope"):
        call_command("sealbox_rotate", "djangoapp.Patient", "--fields", "nope", "--database", db)
    with pytest.raises(CommandError, match="no model"):
        call_command("sealbox_status", "nope.Model", "--database", db)


def test_a_row_bound_value_opens_only_in_its_row(db: str) -> None:
    from django.core.exceptions import FieldError
    from django.db import connections
    from django.test import override_settings

    from tests.djangoapp.models import Secret, SecretView

    a = Secret.objects.using(db).create(ssn="123-45-6789", pin=0)
    b = Secret.objects.using(db).create(ssn="987-65-4321", pin=1234)
    assert (a.ssn, a.pin) == ("123-45-6789", 0)
    loaded = Secret.objects.using(db).get(pk=a.pk)
    assert (loaded.ssn, loaded.pin) == ("123-45-6789", 0)
    loaded.pin = 4321  # an update re-encrypts under the same row
    loaded.save(using=db)
    assert Secret.objects.using(db).get(pk=a.pk).pin == 4321
    sealed = Secret.objects.using(db).filter(pk=b.pk).values_list("ssn", flat=True).get()
    assert "987" not in repr(sealed) and sealed.open(b.pk) == "987-65-4321"
    table = Secret._meta.db_table
    key = Secret._meta.pk.get_db_prep_value
    with connections[db].cursor() as cursor:  # copy a's SSN into b
        cursor.execute(
            f"UPDATE {table} SET ssn = (SELECT ssn FROM {table} WHERE id = %s) WHERE id = %s",
            [key(a.pk, connections[db]), key(b.pk, connections[db])],
        )
    with pytest.raises(sealbox.DecryptionError, match=r"Secret\.ssn of the row with key .* did not decrypt"):
        Secret.objects.using(db).get(pk=b.pk)
    with override_settings(SEALBOX_NAME_KEYS_IN_ERRORS=False), pytest.raises(sealbox.DecryptionError) as info:
        Secret.objects.using(db).get(pk=b.pk)
    assert str(info.value) == "Secret.ssn: a value did not decrypt"
    assert SecretView.objects.using(db).get(pk=a.pk).ssn == "123-45-6789"  # a proxy opens its rows too
    with pytest.raises(FieldError, match="bound to its row"):
        Secret.objects.filter(ssn="123-45-6789")
    with pytest.raises(sealbox.SealboxError, match="write it with save"):
        Secret.objects.using(db).filter(pk=a.pk).update(pin=5)


def test_a_row_bound_field_needs_a_key_known_before_the_insert(django_dbs: list[str]) -> None:
    from django.db import models
    from sealbox.django import EncryptedCharField

    class AutoKeyed(models.Model):
        ssn = EncryptedCharField(context="row", null=True)

        class Meta:
            app_label = "djangoapp"

    errors = AutoKeyed._meta.get_field("ssn").check()
    assert [e.id for e in errors] == ["sealbox.E001"]
    assert "assigned by the database on INSERT" in errors[0].msg


def test_unique_needs_a_deterministic_column_bound_field_and_downcase_needs_text(
    django_dbs: list[str],
) -> None:
    from django.db import models
    from sealbox.django import EncryptedCharField, EncryptedJSONField

    class Uniques(models.Model):
        randomized = EncryptedCharField(unique=True, null=True)
        row_bound = EncryptedCharField(unique=True, deterministic=True, context="row", null=True)
        fine = EncryptedCharField(unique=True, deterministic=True, null=True)
        id = models.UUIDField(primary_key=True)

        class Meta:
            app_label = "djangoapp"

    found = {
        name: [e.id for e in Uniques._meta.get_field(name).check()]
        for name in ("randomized", "row_bound", "fine")
    }
    assert found == {"randomized": ["sealbox.E002"], "row_bound": ["sealbox.E002"], "fine": []}
    with pytest.raises(ValueError, match="downcase=True is for deterministic text fields"):
        EncryptedJSONField(deterministic=True, downcase=True)


def test_a_field_bound_to_nothing_and_a_field_with_its_own_box(db: str) -> None:
    from django.core.exceptions import ImproperlyConfigured
    from django.db import connections
    from sealbox import codecs
    from sealbox.django import EncryptedCharField, settings_box

    from tests.djangoapp.models import Note, notes_box

    note = Note.objects.using(db).create(body="no context", code="A-17")
    with connections[db].cursor() as cursor:
        cursor.execute("SELECT body, code FROM djangoapp_note WHERE id = %s", [note.pk])
        body, code = (bytes(v) for v in cursor.fetchone())
    assert codecs.decode(settings_box().decrypt(body, context=None)) == "no context"
    with pytest.raises(sealbox.DecryptionError):  # bound to nothing: a column context fails
        settings_box().decrypt(body, context=sealbox.column_context("djangoapp_note", "body"))
    assert sealbox.Message.parse(code).key_id == 9  # the field's own Box, not the settings' keys
    assert (
        codecs.decode(notes_box().decrypt(code, context=sealbox.column_context("djangoapp_note", "code")))
        == "A-17"
    )
    with pytest.raises(sealbox.DecryptionError):
        settings_box().decrypt(code, context=sealbox.column_context("djangoapp_note", "code"))
    got = Note.objects.using(db).get(pk=note.pk)
    assert (got.body, got.code) == ("no context", "A-17")
    mismatched = EncryptedCharField(deterministic=True, box=notes_box)
    with pytest.raises(ImproperlyConfigured, match="deterministic=True, but its Box is randomized"):
        mismatched.box  # noqa: B018


def test_fields_that_are_not_null_default_as_the_plain_fields_do(db: str) -> None:
    from django.db import IntegrityError, transaction

    from tests.djangoapp.models import Account

    made = Account.objects.using(db).create(score=0)
    got = Account.objects.using(db).get(pk=made.pk)
    assert (got.name, got.code, got.level, got.score) == ("", b"", 3, 0)
    with pytest.raises(IntegrityError), transaction.atomic(using=db):
        Account.objects.using(db).create()  # no default: NULL, refused, as by a plain IntegerField


def test_a_blind_index_field_is_computed_on_save_and_queried(db: str) -> None:
    from django.core.exceptions import FieldError

    from tests.djangoapp.models import Member, MemberView, member_index

    Member.objects.using(db).all().delete()
    for i in range(20):
        Member.objects.using(db).create(email=f"m{i % 5}@example.org")
    none = Member.objects.using(db).create(email=None)
    found = Member.objects.using(db).filter(email_bidx="m3@example.org")
    assert sorted(m.email for m in found) == ["m3@example.org"] * 4
    member = found.first()
    assert member is not None and member.email_bidx == member_index().compute("m3@example.org")
    member.email = "new@example.org"  # save recomputes the index
    member.save(using=db)
    assert Member.objects.using(db).filter(email_bidx__in=["new@example.org", "m1@example.org"]).count() == 5
    assert list(Member.objects.using(db).filter(email_bidx__isnull=True).values_list("pk", flat=True)) == [
        none.pk
    ]
    with pytest.raises(FieldError, match="is a blind index: lookup 'contains'"):
        Member.objects.filter(email_bidx__contains="x")
    for forged in (b"forged", "forged"):
        with pytest.raises(sealbox.SealboxError, match="computed from 'email' on save"):
            Member.objects.using(db).filter(pk=member.pk).update(email_bidx=forged)
    # Writes that would leave the index behind its source are refused, and change nothing.
    member.email = "other@example.org"
    partial = r"names Member\.email but not its blind index 'email_bidx'"
    with pytest.raises(sealbox.SealboxError, match=partial):
        member.save(using=db, update_fields=["email"])
    stale = r"Member\.email has a blind index \(email_bidx\) .* would leave the index stale"
    with pytest.raises(sealbox.SealboxError, match=stale):
        Member.objects.using(db).filter(pk=member.pk).update(email="other@example.org")
    with pytest.raises(sealbox.SealboxError, match=stale):
        Member.objects.using(db).bulk_update([member], ["email"])
    assert Member.objects.using(db).get(pk=member.pk).email == "new@example.org"
    member.save(using=db, update_fields=["email", "email_bidx"])
    assert Member.objects.using(db).get(email_bidx="other@example.org").pk == member.pk
    assert not Member.objects.using(db).filter(email_bidx="new@example.org").exists()
    # The same through a proxy (its own signals), an instance loaded with only(), bulk_create.
    view = MemberView.objects.using(db).get(pk=member.pk)
    view.email = "proxied@example.org"
    with pytest.raises(sealbox.SealboxError, match=partial.replace("Member", "MemberView")):
        view.save(using=db, update_fields=["email"])
    loaded = Member.objects.using(db).only("email").get(pk=member.pk)
    loaded.email = "partial@example.org"
    with pytest.raises(sealbox.SealboxError, match=r"loaded with only\(\) or defer\(\)"):
        loaded.save(using=db)
    Member.objects.using(db).bulk_create([Member(email=f"bulk{i}@example.org") for i in range(3)])
    assert Member.objects.using(db).get(email_bidx="bulk1@example.org").email == "bulk1@example.org"


def test_the_encrypt_field_operation_encrypts_legacy_plaintext(db: str) -> None:
    from django.apps import apps
    from django.db import connections
    from django.db.migrations.state import ProjectState
    from sealbox.django.operations import EncryptField

    from tests.djangoapp.models import Patient

    with connections[db].cursor() as cursor:
        for i in range(1, 8):
            cursor.execute(
                "INSERT INTO djangoapp_patient (id, age) VALUES (%s, %s)", [2000 + i, str(40 + i).encode()]
            )
    operation = EncryptField("patient", "age", batch_size=3)
    state = ProjectState.from_apps(apps)
    with connections[db].schema_editor(atomic=False) as editor:
        operation.database_forwards("djangoapp", editor, state, state)
    assert sorted(p.age for p in Patient.objects.using(db).all()) == list(range(41, 48))
    with connections[db].schema_editor(atomic=False) as editor:  # a second run finds nothing to do
        operation.database_forwards("djangoapp", editor, state, state)
    with (
        pytest.raises(ValueError, match="atomic = False"),
        connections[db].schema_editor(atomic=True) as editor,
    ):
        operation.database_forwards("djangoapp", editor, state, state)
    assert operation.describe() == "Encrypt the plaintext of patient.age"


def test_typed_plaintext_columns_are_encrypted_with_the_documented_recipe(django_dbs: list[str]) -> None:
    """docs/django.md's migration on PostgreSQL: typed columns with plaintext rows turned bytea
    (``USING convert_to(col::text, 'UTF8')``), then EncryptField on each."""
    from django.apps import apps
    from django.db import connections
    from django.db.migrations.state import ProjectState
    from sealbox.django.operations import EncryptField
    from sealbox.tables._headers import looks_encrypted

    from tests.djangoapp.models import Patient

    db, table = "pg", "djangoapp_patient"
    Patient.objects.using(db).all().delete()
    types = {
        "age": "integer",
        "active": "boolean",
        "balance": "numeric(10,2)",
        "born": "date",
        "seen": "timestamp",
        "token": "uuid",
        "prefs": "jsonb",
        "notes": "text",
    }
    rows = [
        (1, 0, False, "0.00", "0001-01-01", "2024-02-29 23:59:59.999999", str(uuid.UUID(int=0)), "{}", ""),
        (
            2,
            -7,
            True,
            "-12.30",
            "1990-05-17",
            "2026-12-07 05:17:00",
            str(uuid.UUID(int=5)),
            '{"a": [1, null]}',
            "a\\b",
        ),
        (3, None, None, None, None, None, None, None, None),
    ]
    state = ProjectState.from_apps(apps)
    try:
        with connections[db].cursor() as cursor:
            for column, kind in types.items():
                cursor.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {kind} USING NULL")
            cursor.execute(
                "INSERT INTO djangoapp_patient (id, "
                + ", ".join(types)
                + ") VALUES "
                + ", ".join(["(" + ", ".join(["%s"] * 9) + ")"] * len(rows)),
                [v for r in rows for v in r],
            )
            for column in types:
                recipe = f"convert_to({column}::text, 'UTF8')"  # docs/django.md
                cursor.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE bytea USING {recipe}")
        for column in types:
            with connections[db].schema_editor(atomic=False) as editor:
                EncryptField("patient", column, batch_size=2).database_forwards(
                    "djangoapp", editor, state, state
                )
        with connections[db].cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(types)} FROM {table} ORDER BY id")
            stored = cursor.fetchall()
        for column in types:  # a second run leaves every message as it is
            with connections[db].schema_editor(atomic=False) as editor:
                EncryptField("patient", column).database_forwards("djangoapp", editor, state, state)
        with connections[db].cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(types)} FROM {table} ORDER BY id")
            assert cursor.fetchall() == stored
        assert [[v is None for v in row] for row in stored] == [[False] * 8, [False] * 8, [True] * 8]
        assert all(looks_encrypted(bytes(v)) for row in stored[:2] for v in row)
        got = [tuple(getattr(p, c) for c in types) for p in Patient.objects.using(db).order_by("id")]
        assert got == [
            (
                0,
                False,
                decimal.Decimal("0.00"),
                datetime.date(1, 1, 1),
                datetime.datetime(2024, 2, 29, 23, 59, 59, 999999),
                uuid.UUID(int=0),
                {},
                "",
            ),
            (
                -7,
                True,
                decimal.Decimal("-12.30"),
                datetime.date(1990, 5, 17),
                datetime.datetime(2026, 12, 7, 5, 17),
                uuid.UUID(int=5),
                {"a": [1, None]},
                "a\\b",
            ),
            (None,) * 8,
        ]
    finally:
        Patient.objects.using(db).all().delete()
        with connections[db].cursor() as cursor:
            for column in types:
                cursor.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE bytea USING NULL")


def test_forms_and_the_admin_see_the_plain_field(django_dbs: list[str]) -> None:
    from django import forms

    from tests.djangoapp.models import Patient

    class PatientForm(forms.ModelForm):
        class Meta:
            model = Patient
            fields = ("email", "age", "born", "balance", "active")

    form = PatientForm(data={"email": "A@Example.org", "age": "41", "born": "1990-05-17", "balance": "1.5"})
    assert form.is_valid(), form.errors
    assert isinstance(form.fields["email"], forms.CharField) and form.fields["email"].max_length == 200
    assert isinstance(form.fields["age"], forms.IntegerField)
    assert form.cleaned_data["born"] == datetime.date(1990, 5, 17)
    assert form.cleaned_data["balance"] == decimal.Decimal("1.5")


def test_the_admin_shows_decrypted_values_to_those_allowed_and_logs_no_value(
    django_dbs: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from django.contrib.admin.models import LogEntry
    from django.contrib.auth.models import Permission, User
    from django.test import Client

    from tests.djangoapp.models import Patient

    Patient.objects.all().delete()
    patient = Patient.objects.create(email="Admin.Seen@Example.org", name="Zoë Visible", age=52)
    url = f"/admin/djangoapp/patient/{patient.pk}/change/"
    clerk = User.objects.create_user("clerk", password="x", is_staff=True)  # staff, no permission
    boss = User.objects.create_user("boss", password="x", is_staff=True)
    boss.user_permissions.add(*Permission.objects.filter(codename__in=["view_patient", "change_patient"]))
    client = Client()
    client.force_login(clerk)
    denied = client.get(url)
    assert denied.status_code == 403 and b"admin.seen" not in denied.content.lower()
    client.force_login(boss)
    caplog.set_level(logging.DEBUG)
    page = client.get(url)
    assert page.status_code == 200
    assert b"admin.seen@example.org" in page.content and "Zoë Visible".encode() in page.content
    form = {
        "email": "Changed.Value@Example.org",
        "name": "Zoë Visible",
        "age": "53",
        "notes": "",
        "prefs": "null",
    }
    saved = client.post(url, form)
    assert saved.status_code == 302, [line for line in saved.content.decode().splitlines() if "error" in line]
    assert Patient.objects.get(pk=patient.pk).email == "changed.value@example.org"
    entry = LogEntry.objects.get(object_id=str(patient.pk))
    logged = entry.change_message + entry.object_repr + caplog.text
    for value in ("changed.value", "admin.seen", "zoë"):
        assert value not in logged.lower()
    assert json.loads(entry.change_message) == [{"changed": {"fields": ["email", "age"]}}]
    assert entry.object_repr == f"Patient {patient.pk}"


def test_review_cases_boxes_legacy_values_and_none(db: str) -> None:
    from django.core.management import call_command
    from django.db import connections

    from tests.djangoapp.models import Patient, Secret

    with connections[db].cursor() as cursor:
        cursor.execute("INSERT INTO djangoapp_patient (id, prefs) VALUES (%s, %s)", [3001, b'{"a": 1}'])
    from sealbox.django import plaintext_reads
    from sealbox.tables._headers import looks_encrypted

    field = Patient._meta.get_field("prefs")
    field.allow_plaintext = True
    plaintext_reads.reset()
    try:
        legacy = Patient.objects.using(db).get(pk=3001)
        assert legacy.prefs == {"a": 1}  # parsed, not a str
        assert plaintext_reads.by_column() == {"Patient.prefs": 1}
        legacy.prefs = {"a": 2}
        legacy.save(using=db)  # writes are encrypted while plaintext is read
        with connections[db].cursor() as cursor:
            cursor.execute("SELECT prefs FROM djangoapp_patient WHERE id = %s", [3001])
            assert looks_encrypted(bytes(cursor.fetchone()[0]))
        assert Patient.objects.using(db).get(pk=3001).prefs == {"a": 2}
        assert plaintext_reads.total == 1  # a message is not counted
    finally:
        field.allow_plaintext = False
        plaintext_reads.reset()
    assert Patient.objects.using(db).filter(name=None).count() >= 1  # isnull, not a FieldError
    # Row-bound fields through the commands: bound to the key as the model reads it.
    secret = Secret.objects.using(db).create(ssn="111-22-3333")
    out = io.StringIO()
    call_command(
        "sealbox_rotate", "djangoapp.Secret", "--database", db, "--json", stdout=out, stderr=io.StringIO()
    )
    assert all(not json.loads(line)["failed"] for line in out.getvalue().splitlines())
    assert Secret.objects.using(db).get(pk=secret.pk).ssn == "111-22-3333"


def test_error_reports_hide_what_encrypted_fields_hold(django_dbs: list[str]) -> None:
    from django.core import checks
    from django.test import RequestFactory, override_settings
    from django.views import debug
    from sealbox.django import SafeExceptionReporterFilter

    # Named like the field, as the traceback includes this frame, and built so that the
    # source lines the report quotes do not hold it.
    email = "@".join(("alice.secret", "example.org"))
    request = RequestFactory().post("/patients/", {"email": email, "form-0-email": email, "city": "Lyon"})

    def view(request: Any) -> None:
        address = request.POST["email"]
        cleaned_data = {"email": address, "age": 41}
        data = request.POST
        raise ValueError(f"bad form {len(cleaned_data)} {len(data)}")

    try:
        view(request)
    except ValueError:
        info = sys.exc_info()

    def report(filter_class: type[Any]) -> str:
        request.exception_reporter_filter = filter_class()  # type: ignore[attr-defined]
        return str(debug.ExceptionReporter(request, *info).get_traceback_html())

    # Django's own filter shows the plaintext in three places; sealbox's in none.
    assert report(debug.SafeExceptionReporterFilter).count(email) >= 3
    ours = report(SafeExceptionReporterFilter)
    assert email not in ours
    assert "Lyon" in ours and "bad form 2" in ours
    assert SafeExceptionReporterFilter().cleanse_setting("SEALBOX_KEYS", KEYS1) != KEYS1

    def warned() -> bool:
        debug.get_default_exception_reporter_filter.cache_clear()
        return "sealbox.W001" in [m.id for m in checks.run_checks(tags=[checks.Tags.security])]

    assert warned()
    with override_settings(DEFAULT_EXCEPTION_REPORTER_FILTER="sealbox.django.SafeExceptionReporterFilter"):
        assert not warned()
    debug.get_default_exception_reporter_filter.cache_clear()


def test_a_subclass_that_normalizes_in_to_python_writes_and_looks_up_alike(db: str) -> None:
    """A str field subclass with its own to_python (Django's hook) is written through it, as its
    lookups are: the write path's shortcut for plain text fields does not skip it."""
    from django.db import connections
    from sealbox.django import EncryptedCharField

    class Stripped(EncryptedCharField):
        def to_python(self, value: Any) -> Any:
            return value.strip() if isinstance(value, str) else value

    from tests.djangoapp.models import Patient

    field = Stripped(max_length=50, deterministic=True)
    field.set_attributes_from_name("email")
    field.model = Patient
    message = field.get_db_prep_value("  a@example.org ", connections[db])
    assert message in field.lookup_messages(["a@example.org"])
    plain = Patient._meta.get_field("email")
    assert plain.get_db_prep_value("A@Example.org", connections[db]) in plain.lookup_messages(
        ["a@example.org"]
    )


def test_postgresql_arrays_of_messages_are_the_arrays_psycopg_would_write(django_dbs: list[str]) -> None:
    """On psycopg 3 connections, lists made only of sealbox's messages (and NULLs) are dumped by
    sealbox: byte for byte what psycopg's own dumpers give for the same bytes, in text and in
    binary. Every other list is left to psycopg; bulk_create goes through the fast dumper with
    client-side and with server-side binding."""
    import os

    import psycopg
    from django.db import connections
    from psycopg.adapt import PyFormat, Transformer
    from psycopg.types.array import ListBinaryDumper, ListDumper
    from sealbox.django import _arrays

    from tests.djangoapp.models import Patient, Secret

    conn = connections["pg"]
    conn.ensure_connection()
    raw = conn.connection
    tricky = [b"", b"\\", b'"', b"{,}", b"NULL", b" \t\n", bytes(range(256))]
    plain = [*tricky, None, os.urandom(90), None]
    messages = [None if v is None else _arrays.Message(v) for v in plain]
    ours_kinds = {_arrays._TextMessages, _arrays._BinaryMessages}
    for ours_format, theirs_class, theirs_format in (
        (PyFormat.TEXT, ListDumper, PyFormat.TEXT),
        (PyFormat.AUTO, ListBinaryDumper, PyFormat.BINARY),
    ):
        ours = Transformer(raw).get_dumper(messages, ours_format)
        theirs = theirs_class(list, Transformer(raw)).upgrade(plain, theirs_format)
        assert type(ours) in ours_kinds and type(theirs) is theirs_class
        assert (ours.oid, ours.format) == (theirs.oid, theirs.format)
        assert bytes(ours.dump(messages)) == bytes(theirs.dump(plain))
    # Lists that are not only messages: psycopg's own list dumping.
    for other in ([b"x", _arrays.Message(b"y")], [None, None], [], ["a", 'b"c'], [1, 2], plain):
        for fmt in (PyFormat.TEXT, PyFormat.AUTO):
            dumper = Transformer(raw).get_dumper(other, fmt)
            assert type(dumper) not in ours_kinds and isinstance(dumper, ListDumper)
            assert dumper.dump(other) == ListDumper(list, Transformer(raw)).upgrade(other, fmt).dump(other)
    # One transformer (as in one query) over a flat list of messages, then lists whose
    # psycopg key names Message too: a nested list, a mixed one. Each keeps its own dumping.
    for fmt in (PyFormat.TEXT, PyFormat.AUTO):
        tx = Transformer(raw)
        assert type(tx.get_dumper(messages, fmt)) in ours_kinds
        for other in ([[_arrays.Message(b"a")], [_arrays.Message(b"b")]], [b"x", _arrays.Message(b"y")]):
            dumper = tx.get_dumper(other, fmt)
            assert type(dumper) not in ours_kinds
            assert dumper.dump(other) == ListDumper(list, Transformer(raw)).upgrade(other, fmt).dump(other)
    # A list dumper the application registered stays, and the fields then hand over bytes.
    settings_dict = conn.settings_dict

    class Own(ListDumper):
        pass

    class Wrapper:
        vendor = "postgresql"

    with psycopg.connect(
        host=settings_dict["HOST"],
        port=settings_dict["PORT"],
        user=settings_dict["USER"],
        dbname=settings_dict["NAME"],
    ) as other_raw:
        other_raw.adapters.register_dumper(list, Own)
        wrapper = Wrapper()
        wrapper.connection = other_raw  # type: ignore[attr-defined]
        _arrays._register(None, wrapper)
        assert other_raw.adapters.get_dumper(list, PyFormat.TEXT) is Own
        assert wrapper.sealbox_arrays is False  # type: ignore[attr-defined]
    assert conn.sealbox_arrays is True
    for cursor_class in (psycopg.ClientCursor, psycopg.Cursor):
        with cursor_class(raw) as cursor:
            cursor.execute("SELECT %s::bytea[], %s::text[]", [messages, ["a", 'b"c', None]])
            assert cursor.fetchone() == (plain, ["a", 'b"c', None])

    dumped: list[int] = []
    originals = {name: getattr(_arrays, name).dump for name in ("_TextMessages", "_BinaryMessages")}

    def counting(name: str) -> Any:
        def dump(self: Any, obj: list[Any]) -> bytes:
            dumped.append(len(obj))
            return originals[name](self, obj)

        return dump

    try:
        for name in originals:
            getattr(_arrays, name).dump = counting(name)
        for alias in ("pg", "pg_server_binding"):
            Patient.objects.using(alias).all().delete()
            dumped.clear()
            Patient.objects.using(alias).bulk_create(
                [Patient(name=f"n{i}", notes=None if i % 3 else "x") for i in range(40)]
            )
            assert 40 in dumped, alias  # the name column's array, at least
            got = Patient.objects.using(alias).order_by("pk").values_list("name", "notes")
            assert list(got) == [(f"n{i}", None if i % 3 else "x") for i in range(40)]
            # Row-bound values, beside a UUID key column (an array psycopg dumps).
            dumped.clear()
            secrets = [Secret(ssn=f"{i:03}-00-0000", pin=None if i == 3 else i) for i in range(30)]
            Secret.objects.using(alias).bulk_create(secrets)
            assert dumped.count(30) == 2, alias
            for secret in secrets:
                loaded = Secret.objects.using(alias).get(pk=secret.pk)
                assert (loaded.ssn, loaded.pin) == (secret.ssn, secret.pin)
    finally:
        for name, dump in originals.items():
            getattr(_arrays, name).dump = dump
        Patient.objects.using("pg").all().delete()
        Secret.objects.using("pg").all().delete()


def test_bulk_create_and_bulk_update_write_messages_and_postgresql_sends_one_array_per_column(
    db: str,
) -> None:
    """Encrypted fields have no ``get_placeholder`` unless a database is MySQL (``_binary %s``),
    so PostgreSQL's ``bulk_create`` takes its ``UNNEST`` form."""
    import sealbox.django as sd
    from django.db import connections
    from django.test.utils import CaptureQueriesContext
    from sealbox.tables._headers import looks_encrypted

    from tests.djangoapp.models import Patient

    field = Patient._meta.get_field("name")
    assert not hasattr(field, "get_placeholder")
    with CaptureQueriesContext(connections[db]) as queries:
        Patient.objects.using(db).bulk_create(
            [Patient(name=f"n{i}", age=i, notes="" if i % 2 else None) for i in range(50)]
        )
    insert = next(q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT"))
    assert ("UNNEST" in insert) == (db == "pg")
    people = list(Patient.objects.using(db).order_by("pk"))
    assert [(p.name, p.age, p.notes) for p in people] == [
        (f"n{i}", i, "" if i % 2 else None) for i in range(50)
    ]
    for p in people:
        p.age = -p.age
    Patient.objects.using(db).bulk_update(people, ["age"])
    assert sorted(Patient.objects.using(db).values_list("age", flat=True)) == sorted(-i for i in range(50))
    with connections[db].cursor() as cursor:
        cursor.execute("SELECT name, age FROM djangoapp_patient")
        stored = [bytes(v) for row in cursor.fetchall() for v in row]
    assert len(stored) == 100 and all(looks_encrypted(v) for v in stored)
    # QuerySet.update encrypts its value once: the rows it sets hold that one message.
    assert Patient.objects.using(db).filter(name__isnull=False).update(notes="reviewed") == 50
    with connections[db].cursor() as cursor:
        cursor.execute("SELECT DISTINCT notes FROM djangoapp_patient")
        [(message,)] = cursor.fetchall()
    assert looks_encrypted(bytes(message))
    # Iterating in chunks (a server-side cursor on PostgreSQL) decrypts every row.
    assert sorted((p.name, p.notes) for p in Patient.objects.using(db).iterator(chunk_size=7)) == sorted(
        (f"n{i}", "reviewed") for i in range(50)
    )
    # A field of an expression only (no model): NULL reads as None, a value is refused.
    from django.db.models import Value

    unattached = sd.EncryptedCharField(max_length=10)
    got = (
        Patient.objects.using(db).annotate(v=Value(None, output_field=unattached)).values_list("v", flat=True)
    )
    assert set(got) == {None}
    original = sd._mysql[0]
    try:
        sd._mysql[0] = True  # a configured MySQL database: the placeholder is back
        assert field.get_placeholder(b"x", None, connections[db]) == "%s"
    finally:
        sd._mysql[0] = original
