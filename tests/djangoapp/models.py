"""A model with every encrypted field, for tests/test_django.py."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from sealbox.django import (
    BlindIndexField,
    EncryptedBinaryField,
    EncryptedBooleanField,
    EncryptedCharField,
    EncryptedDateField,
    EncryptedDateTimeField,
    EncryptedDecimalField,
    EncryptedIntegerField,
    EncryptedJSONField,
    EncryptedTextField,
    EncryptedUUIDField,
)


class Patient(models.Model):
    email = EncryptedCharField(max_length=200, deterministic=True, downcase=True, unique=True, null=True)
    name = EncryptedCharField(max_length=200, null=True)
    notes = EncryptedTextField(null=True)
    age = EncryptedIntegerField(null=True)
    active = EncryptedBooleanField(null=True)
    balance = EncryptedDecimalField(max_digits=10, decimal_places=2, null=True)
    born = EncryptedDateField(null=True)
    seen = EncryptedDateTimeField(null=True)
    token = EncryptedUUIDField(null=True)
    prefs = EncryptedJSONField(null=True)
    photo = EncryptedBinaryField(null=True)

    class Meta:
        app_label = "djangoapp"

    def __str__(self) -> str:
        return f"Patient {self.pk}"


class Secret(models.Model):
    """Row-bound fields: a value copied to another row does not decrypt there."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    ssn = EncryptedCharField(max_length=20, context="row", null=True)
    pin = EncryptedIntegerField(context="row", null=True)

    class Meta:
        app_label = "djangoapp"


def notes_box() -> Any:
    import sealbox

    return sealbox.Box(sealbox.Keyring({9: b"\x09" * 32}))


class Note(models.Model):
    """A field bound to nothing (context=None) and one with its own Box (box=a callable)."""

    body = EncryptedTextField(context=None, null=True)
    code = EncryptedCharField(max_length=20, box=notes_box, null=True)

    class Meta:
        app_label = "djangoapp"


def member_index() -> Any:
    import sealbox

    return sealbox.BlindIndex(b"\x07" * 32)


class Account(models.Model):
    """Fields that are not null: their defaults are those of the plain fields."""

    name = EncryptedCharField(max_length=50)
    code = EncryptedBinaryField()
    level = EncryptedIntegerField(default=3)
    score = EncryptedIntegerField()

    class Meta:
        app_label = "djangoapp"


class Member(models.Model):
    """A randomized field searched through its blind-index companion."""

    email = EncryptedCharField(max_length=200, null=True)
    email_bidx = BlindIndexField(source="email", index=member_index, db_index=True)

    class Meta:
        app_label = "djangoapp"


class MemberView(Member):
    """A proxy: its saves and loads send its own signals."""

    class Meta:
        app_label = "djangoapp"
        proxy = True


class SecretView(Secret):
    class Meta:
        app_label = "djangoapp"
        proxy = True
