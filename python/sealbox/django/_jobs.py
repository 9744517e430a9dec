"""The management commands' work: a model's encrypted fields through ``sealbox.tables``."""

from __future__ import annotations

import json
from typing import Any

from django.apps import apps
from django.core.management.base import CommandError
from django.db import connections

from sealbox import tables
from sealbox.django import EncryptedField
from sealbox.tables._progress import reporter


def add_arguments(parser: Any, *, job: bool) -> None:
    parser.add_argument("model", help="app_label.Model")
    parser.add_argument(
        "--fields", default=None, help="comma-separated field names (default: every encrypted one)"
    )
    parser.add_argument("--database", default="default", help="the database alias (default: default)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    if job:
        parser.add_argument("--batch-size", type=int, default=10_000)
        parser.add_argument("--dry-run", action="store_true", help="write nothing; report what would change")
        parser.add_argument("--verify", action="store_true", help="re-read and decrypt every row written")
        parser.add_argument("--strict", action="store_true", help="stop at the first row that fails")


def fields(options: dict[str, Any]) -> tuple[Any, list[EncryptedField]]:
    try:
        model = apps.get_model(options["model"])
    except (LookupError, ValueError) as exc:
        raise CommandError(f"no model {options['model']!r}: name it as app_label.Model") from exc
    encrypted = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedField)]
    if options["fields"]:
        wanted = [n.strip() for n in options["fields"].split(",") if n.strip()]
        by_name = {f.name: f for f in encrypted}
        unknown = [n for n in wanted if n not in by_name]
        if unknown:
            raise CommandError(f"{model.__name__} has no encrypted field {', '.join(unknown)}")
        encrypted = [by_name[n] for n in wanted]
    if not encrypted:
        raise CommandError(f"{model.__name__} has no encrypted field")
    return model, encrypted


def database(alias: str) -> Any:
    """The raw connection ``sealbox.tables`` takes (sqlite3 or psycopg 3, autocommit)."""
    connection = connections[alias]
    if connection.vendor not in ("sqlite", "postgresql"):
        raise CommandError(f"sealbox's commands run on SQLite and PostgreSQL, not {connection.vendor}")
    connection.ensure_connection()
    if not connection.get_autocommit():
        raise CommandError("run the command outside a transaction: it commits each batch itself")
    return connection.connection


def run(command: Any, job: str, options: dict[str, Any]) -> None:
    model, chosen = fields(options)
    db = database(options["database"])
    table = model._meta.db_table
    if job == "status":
        for field in chosen:
            found = tables.status(db, table, field.column).to_json()
            command.stdout.write(json.dumps(found) if options["json"] else _status_line(found))
        return
    # Each field's Box resolved once and kept: fields share a job only when they share a Box.
    boxes = {field: field.box for field in chosen}
    groups: dict[int, list[Any]] = {}
    for field in chosen:
        groups.setdefault(id(boxes[field]), []).append(field)
    pk = model._meta.pk
    failed = False
    for group in groups.values():
        modes: dict[str | None, tables.ContextMode] = {None: "none", "column": "column", "row": "row"}
        context = {f.column: modes[f.context] for f in group}
        progress, end = reporter(f"{job} {table}", command.stderr._out)
        kwargs: dict[str, Any] = {
            "context": context,
            "batch_size": options["batch_size"],
            "dry_run": options["dry_run"],
            "verify": options["verify"],
            "strict": options["strict"],
            "progress": progress,
            "row_key": pk.to_python,  # the key as the model reads it (a UUID stored as text, say)
        }
        try:
            if job == "rotate":
                report = tables.rotate(db, table, [f.column for f in group], boxes[group[0]], **kwargs)
            else:
                convert = {f.column: _legacy(f) for f in group}
                report = tables.encrypt(
                    db, table, [f.column for f in group], boxes[group[0]], convert=convert, **kwargs
                )
        except (ValueError, TypeError, tables.TableJobError) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            end()
        out = report.to_json()
        failed = failed or bool(report.failed)
        command.stdout.write(json.dumps(out) if options["json"] else _report_line(out))
    if failed:
        raise CommandError("some rows failed (listed above); the others are done")


def _legacy(field: EncryptedField) -> Any:
    """A stored plaintext (text, or text kept as bytes) as the value the field holds."""
    return field.legacy


def _status_line(report: dict[str, Any]) -> str:
    by_key = ", ".join(f"key {k}: {n:,}" for k, n in report["by_key"].items()) or "none"
    return (
        f"{report['table']}.{report['column']}: {report['rows']:,} rows; {report['null']:,} NULL; "
        f"{by_key}; {report['not_encrypted']:,} not encrypted"
    )


def _report_line(report: dict[str, Any]) -> str:
    done = report.get("rotated", report.get("encrypted", 0))
    lines = [
        f"{report['table']} ({', '.join(report['columns'])}): {done:,} rows "
        f"{'would be ' if report['dry_run'] else ''}{'rotated' if 'rotated' in report else 'encrypted'}, "
        f"{report['unchanged']:,} unchanged, {len(report['failed']):,} failed in {report['seconds']:.1f} s"
    ]
    lines += [f"  row {f['key']!r}, {f['column']}: {f['reason']}" for f in report["failed"][:20]]
    return "\n".join(lines)
