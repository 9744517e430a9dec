"""A migration operation that encrypts a field's existing plaintext in place.

from sealbox.django.operations import EncryptField

class Migration(migrations.Migration):
    atomic = False          # the operation commits batch by batch, and resumes if re-run
    dependencies = [("clinic", "0007_alter_patient_email")]   # the AlterField to an encrypted field
    operations = [EncryptField("patient", "email")]
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.apps import apps as global_apps
from django.core.exceptions import FieldDoesNotExist
from django.db.migrations.operations.base import Operation

from sealbox import tables
from sealbox.django import EncryptedField

__all__ = ["EncryptField"]


class EncryptField(Operation):
    """Encrypt the plaintext still in a field's column with ``sealbox.tables.encrypt``:
    resumable, batch by batch, values that already look like messages left alone. The field
    must already be an encrypted field (an ``AlterField`` before it), and the migration
    ``atomic = False``. Not reversible."""

    reversible = False
    reduces_to_sql = False

    def __init__(self, model_name: str, name: str, batch_size: int = 10_000) -> None:
        self.model_name, self.name, self.batch_size = model_name, name, batch_size

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (type(self).__qualname__, [self.model_name, self.name], {"batch_size": self.batch_size})

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass  # the schema does not change

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        field = model._meta.get_field(self.name)
        # The application's own field holds its Box (a migration's field is rebuilt without it).
        with contextlib.suppress(LookupError, FieldDoesNotExist):
            field = global_apps.get_model(app_label, self.model_name)._meta.get_field(self.name)
        if not isinstance(field, EncryptedField):
            raise ValueError(f"{model.__name__}.{self.name} is not an encrypted field: AlterField it first")
        connection = schema_editor.connection
        if connection.in_atomic_block:
            raise ValueError("EncryptField commits batch by batch: give its migration atomic = False")
        if field.context == "row":
            raise ValueError(
                "EncryptField encrypts column-bound fields; a row-bound field is written by save()"
            )
        from sealbox.django._jobs import _legacy

        connection.ensure_connection()
        report = tables.encrypt(
            connection.connection,
            model._meta.db_table,
            field.column,
            field.box,
            context="column" if field.context == "column" else "none",
            batch_size=self.batch_size,
            convert={field.column: _legacy(field)},
        )
        if report.failed:
            failed = ", ".join(f"{f.key!r}: {f.reason}" for f in report.failed[:5])
            raise ValueError(
                f"{len(report.failed)} rows of {model.__name__}.{self.name} did not encrypt ({failed})"
            )

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        raise NotImplementedError(
            "EncryptField is not reversible: decrypting a column back is not a migration"
        )

    def describe(self) -> str:
        return f"Encrypt the plaintext of {self.model_name}.{self.name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"encrypt_{self.model_name.lower()}_{self.name.lower()}"
