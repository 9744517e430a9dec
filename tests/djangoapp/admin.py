"""The admin of tests/djangoapp's models, for tests/test_django.py."""

from django.contrib import admin

from tests.djangoapp.models import Patient


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    fields = ("email", "name", "age")
