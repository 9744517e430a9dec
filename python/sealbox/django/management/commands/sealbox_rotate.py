"""`manage.py sealbox_rotate app_label.Model`: see docs/django.md."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from sealbox.django import _jobs


class Command(BaseCommand):
    help = {
        "rotate": "re-encrypt a model's encrypted fields under the active key, resumably",
        "encrypt": "encrypt a model's fields that still hold plaintext, in place, resumably",
        "status": "count a model's encrypted fields by key, from the message headers",
    }["rotate"]

    def add_arguments(self, parser: Any) -> None:
        _jobs.add_arguments(parser, job=True)

    def handle(self, *args: Any, **options: Any) -> None:
        _jobs.run(self, "rotate", options)
