"""The Django app: add ``"sealbox.django"`` to ``INSTALLED_APPS`` for the management commands."""

from __future__ import annotations

from django.apps import AppConfig


class SealboxConfig(AppConfig):
    name = "sealbox.django"
    label = "sealbox"
    verbose_name = "sealbox"
