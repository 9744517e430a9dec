"""Encrypted model fields for Django.

    from sealbox.django import EncryptedCharField, EncryptedDateField

    class Patient(models.Model):
        email = EncryptedCharField(deterministic=True, downcase=True, unique=True)
        born = EncryptedDateField(null=True)

    Patient.objects.filter(email__iexact="Alice@Example.org")   # IN over every key's message

Values go through ``sealbox.codecs`` (``0``, ``False`` and ``""`` stay themselves; ``None``
is NULL) and are bound to their table and column (``sealbox.column_context``). The column
is binary. By default a field's Box is built from ``settings.SEALBOX_KEYS`` (the
``Keyring.from_env`` format; the highest id encrypts). On deterministic fields ``exact``,
``iexact`` (with ``downcase=True``), ``in`` and ``isnull`` work, across every key of the
ring; every other lookup raises ``FieldError`` when the queryset is built. Add
``"sealbox.django"`` to ``INSTALLED_APPS`` for ``manage.py sealbox_rotate``,
``sealbox_encrypt`` and ``sealbox_status``, and set
``DEFAULT_EXCEPTION_REPORTER_FILTER = "sealbox.django.SafeExceptionReporterFilter"`` so error
reports hide what encrypted fields hold in POST data and local variables. See docs/django.md.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import functools
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from django.conf import settings
from django.core import checks
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import connections, models, transaction
from django.db.models import Lookup, signals
from django.utils.datastructures import MultiValueDict
from django.views import debug

from sealbox import _undecryptable as undecryptable
from sealbox import codecs
from sealbox._box import Box
from sealbox._context import column_context
from sealbox._errors import DecryptionError, SealboxError
from sealbox._keyring import Keyring
from sealbox._plaintext import PlaintextReads
from sealbox.django._arrays import Message
from sealbox.tables._headers import looks_encrypted

__all__ = [
    "BlindIndexField",
    "EncryptedBinaryField",
    "EncryptedBooleanField",
    "EncryptedCharField",
    "EncryptedDateField",
    "EncryptedDateTimeField",
    "EncryptedDecimalField",
    "EncryptedIntegerField",
    "EncryptedJSONField",
    "EncryptedTextField",
    "EncryptedUUIDField",
    "SafeExceptionReporterFilter",
    "Sealed",
    "plaintext_reads",
]

_boxes: dict[tuple[str, bool], Box[Any]] = {}
_boxes_lock = threading.Lock()
# Bumped when settings.SEALBOX_KEYS changes (override_settings, or a reload of the keys): fields
# keep the Box they resolved until then.
_generation = [0]


def keys_changed(**kwargs: Any) -> None:
    """Receiver of Django's ``setting_changed``; call it after changing ``settings.SEALBOX_KEYS``
    by hand, so fields pick up the new keyring."""
    if kwargs.get("setting", "SEALBOX_KEYS") == "SEALBOX_KEYS":
        _generation[0] += 1
    if kwargs.get("setting") == "DATABASES":
        _mysql[0] = None


# Whether a configured database is MySQL or MariaDB (None: not yet looked up).
_mysql: list[bool | None] = [None]


def _binary_placeholders() -> bool:
    found = _mysql[0]
    if found is None:
        found = _mysql[0] = any(connections[alias].vendor == "mysql" for alias in connections)
    return found


class _BinaryPlaceholder:
    """``BinaryField.get_placeholder``, there only when a database is MySQL or MariaDB (whose
    binary parameters are written ``_binary %s``). Django tests for the attribute: a field
    that has it keeps PostgreSQL's ``bulk_create`` off its ``UNNEST`` form (one array per
    column) and costs a call per value everywhere else."""

    def __get__(self, field: Any, owner: Any = None) -> Any:
        if field is None:
            return self
        if not _binary_placeholders():
            raise AttributeError("get_placeholder")
        return functools.partial(models.BinaryField.get_placeholder, field)


setting_changed.connect(keys_changed, dispatch_uid="sealbox-keys-changed")


def settings_box(*, deterministic: bool = False) -> Box[Any]:
    """The Box over ``settings.SEALBOX_KEYS`` (built once per process and value)."""
    value = getattr(settings, "SEALBOX_KEYS", None)
    if not value:
        raise ImproperlyConfigured(
            "an encrypted field without box= needs settings.SEALBOX_KEYS: 'id:key' entries, "
            "for example '1:<base64 key>' (sealbox keygen prints one)"
        )
    with _boxes_lock:
        box = _boxes.get((value, deterministic))
        if box is None:
            ring = Keyring.from_string(value, name="settings.SEALBOX_KEYS")
            # Strict: the column is binary, and a text form of a stored message is refused, so a
            # unique index on a deterministic field cannot be sidestepped by the other encoding.
            box = _boxes[(value, deterministic)] = Box(
                ring, deterministic=deterministic, strict_encoding=True
            )
        return box


plaintext_reads = PlaintextReads()
_LOOKUPS = frozenset({"exact", "iexact", "in", "isnull"})


_PLAIN_TEXT: dict[type, bool] = {}


def _plain_text(cls: type) -> bool:
    """Whether a field class holds str values with the base hooks (``to_python``, ``_encode``,
    ``_canonical`` not overridden since `EncryptedCharField`): then a str is encrypted as
    ``_encode`` would, without its dispatch."""
    found = _PLAIN_TEXT.get(cls)
    if found is None:
        found = _PLAIN_TEXT[cls] = (
            issubclass(cls, EncryptedCharField)
            and cls.python_types == (str,)
            and all(
                getattr(cls, hook) is getattr(EncryptedCharField, hook)
                for hook in ("to_python", "_encode", "_canonical")
            )
        )
    return found


class EncryptedField(models.BinaryField):
    """The base of the encrypted fields: a binary column holding sealbox messages."""

    get_placeholder = _BinaryPlaceholder()

    python_types: tuple[type[Any], ...] = ()
    description = "an encrypted value"
    # Whether legacy plaintext stored as text is parsed (JSON) even though str is a value.
    legacy_text_is_parsed = False

    def __init__(
        self,
        *args: Any,
        deterministic: bool = False,
        context: str | None = "column",
        box: Box[Any] | Callable[[], Box[Any]] | None = None,
        downcase: bool = False,
        allow_plaintext: bool = False,
        **kwargs: Any,
    ) -> None:
        if context not in ("column", "row", None):
            raise ValueError(f"context must be 'column', 'row' or None, not {context!r}")
        if downcase and not (deterministic and self.python_types == (str,)):
            raise ValueError(
                "downcase=True is for deterministic text fields (EncryptedCharField, EncryptedTextField)"
            )
        self.deterministic = deterministic
        self.context = context
        self._box = box
        self.downcase = downcase
        self.allow_plaintext = allow_plaintext
        self._settings_box: tuple[Any, Box[Any]] | None = None
        self._column_ctx: bytes | None = None
        self._fast_cache: tuple[int, _Fast | None] | None = None
        self._blind_indexes: tuple[str, ...] | None = None  # the companions, found on first write
        kwargs.setdefault("editable", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        path = f"sealbox.django.{type(self).__name__}"
        if kwargs.get("editable") is True:
            del kwargs["editable"]
        for option, default in (
            ("deterministic", False),
            ("context", "column"),
            ("downcase", False),
            ("allow_plaintext", False),
        ):
            if getattr(self, option) != default:
                kwargs[option] = getattr(self, option)
        # The Box is configuration, not schema: it stays out of migrations.
        return name, path, args, kwargs

    @property
    def box(self) -> Box[Any]:
        box = self._box
        if box is None:
            generation = _generation[0]  # read first: a change while resolving is seen next time
            cached = self._settings_box
            if cached is not None and cached[0] == generation:
                return cached[1]
            found = settings_box(deterministic=self.deterministic)
            self._settings_box = (generation, found)
            return found
        if not isinstance(box, Box):
            box = box()
        if box.deterministic != self.deterministic:
            raise ImproperlyConfigured(
                f"{self._name()}: deterministic={self.deterministic}, but its Box is "
                f"{'deterministic' if box.deterministic else 'randomized'}"
            )
        return box

    def _name(self) -> str:
        model = getattr(self, "model", None)
        return f"{model.__name__}.{self.name}" if model is not None else f"an encrypted field {self.name!r}"

    def _ctx(self, row: Any = None) -> bytes | None:
        if self.context is None:
            return None
        if self.context == "row":
            return column_context(self.model._meta.db_table, self.column, row=row)
        if self._column_ctx is None:
            self._column_ctx = column_context(self.model._meta.db_table, self.column)
        return self._column_ctx

    # -- row contexts: sealed in pre_save with the instance's key, opened in post_init

    def contribute_to_class(self, cls: Any, name: str, *args: Any, **kwargs: Any) -> None:
        super().contribute_to_class(cls, name, *args, **kwargs)
        if self.context == "row" and not cls._meta.abstract:
            # Any sender: a proxy or a child model (multi-table inheritance) sends its own.
            signals.post_init.connect(_open_row_fields, weak=False, dispatch_uid="sealbox-open-rows")

    def check(self, **kwargs: Any) -> list[Any]:
        found = list(super().check(**kwargs))
        if self.unique and (not self.deterministic or self.context == "row"):
            found.append(
                checks.Error(
                    f"{self._name()} has unique=True, but its values are "
                    f"{'bound to their rows' if self.context == 'row' else 'randomized'}: equal values "
                    "give different messages, so neither the database's index nor Django's "
                    "validate_unique can compare them",
                    hint="use deterministic=True with context='column' (or None), or a BlindIndexField "
                    "with unique=True",
                    obj=self,
                    id="sealbox.E002",
                )
            )
        if self.context == "row":
            pk = self.model._meta.pk
            if isinstance(pk, models.AutoField | models.BigAutoField | models.SmallAutoField):
                found.append(
                    checks.Error(
                        f"{self._name()} uses context='row', but {self.model.__name__}.{pk.name} is "
                        "assigned by the database on INSERT, after the value must be encrypted",
                        hint="give the model a key the application knows first: a "
                        "UUIDField(primary_key=True, default=uuid.uuid4), or an "
                        "IntegerField(primary_key=True) it assigns",
                        obj=self,
                        id="sealbox.E001",
                    )
                )
        return found

    def get_default(self) -> Any:
        """The default a plain field of the same type has: ``""`` for a text field that is not
        null, ``b""`` for a binary one, None otherwise (BinaryField's own would be ``b""``)."""
        if self.has_default():
            return models.Field.get_default(self)
        if self.null:
            return None
        if self.python_types == (str,):
            return ""
        return b"" if self.python_types == (bytes,) else None

    def _indexes(self) -> tuple[str, ...]:
        """The names of the blind-index fields computed from this one."""
        found = self._blind_indexes
        if found is None:
            found = self._blind_indexes = tuple(
                f.name
                for f in self.model._meta.concrete_fields
                if isinstance(f, BlindIndexField) and f.source == self.name
            )
        return found

    def get_db_prep_save(self, value: Any, connection: Any) -> Any:
        if self._indexes():
            if isinstance(value, _Saved):
                value = value.value
            elif not isinstance(value, _Bound):
                raise SealboxError(
                    f"{self._name()} has a blind index ({', '.join(self._indexes())}) that only "
                    "save() and bulk_create() compute: update(), bulk_update() and raw saves (loaddata) "
                    "of it would leave the index stale"
                )
        return super().get_db_prep_save(value, connection)

    def pre_save(self, model_instance: Any, add: bool) -> Any:
        value = super().pre_save(model_instance, add)
        if self.context != "row" or value is None:
            # Marked when blind indexes are computed with it (save(), bulk_create()).
            return _Saved(value) if self._indexes() else value
        if model_instance.pk is None:
            raise SealboxError(
                f"{self._name()} is bound to its row (context='row'): set {type(model_instance).__name__}."
                f"{self.model._meta.pk.name} before saving"
            )
        row = self.model._meta.pk.to_python(model_instance.pk)  # the key as it reads back
        message = self.box.encrypt(self._encode(self.to_python(value)), context=self._ctx(row))
        return _Bound(message)

    def _open(self, message: bytes, row: Any) -> Any:
        if self.allow_plaintext and not looks_encrypted(message):
            plaintext_reads.add(self._name())
            return self.legacy(message)
        try:
            return codecs.decode(self.box.decrypt(message, context=self._ctx(row)))
        except DecryptionError:
            if not getattr(settings, "SEALBOX_NAME_KEYS_IN_ERRORS", True):
                raise DecryptionError(f"{self._name()}: a value did not decrypt") from None
            raise DecryptionError(f"{self._name()} of the row with key {row!r} did not decrypt") from None

    def _encode(self, value: Any) -> bytes:
        if not isinstance(value, self.python_types) or (
            isinstance(value, bool) and bool not in self.python_types
        ):
            raise TypeError(f"{self._name()} holds {self.description}, not a {type(value).__name__}")
        if self.downcase:
            value = value.lower()
        return codecs.encode(self._canonical(value))

    def _canonical(self, value: Any) -> Any:
        return value

    def _fast(self) -> _Fast | None:
        """The common case, resolved once per keyring: a column-bound field whose Box is
        fixed (given, or the settings' keys), or None."""
        generation = _generation[0]  # read first: a change while resolving is seen next time
        cached = self._fast_cache
        if cached is not None and cached[0] == generation:
            return cached[1]
        found = None
        if self.context == "column" and (self._box is None or isinstance(self._box, Box)):
            box = self.box
            text = _plain_text(type(self)) and not self.downcase
            found = _Fast(box.encrypt, box.decrypt, self._ctx(), text)
        self._fast_cache = (generation, found)
        return found

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if type(value) is str:
            cached = self._fast_cache  # what _fast() gives, without the call
            fast = cached[1] if cached is not None and cached[0] == _generation[0] else self._fast()
            if fast is not None and fast.text:
                # The common case first, without the dispatch below (what _encode does for a str).
                message = fast.encrypt(codecs._encode_str(value), context=fast.context)
                return Message(message) if getattr(connection, "sealbox_arrays", False) else message
        if value is None:
            return None
        if isinstance(value, _Bound):
            message = value.message
        elif self.context == "row":
            raise SealboxError(
                f"{self._name()} is bound to its row (context='row'): write it with save() or "
                "bulk_create(), where the row's key is known, not update() or a raw value"
            )
        else:
            message = self.box.encrypt(self._encode(self.to_python(value)), context=self._ctx())
        # bytes: what sqlite3 and psycopg take for a BLOB/bytea parameter (marked for psycopg 3's
        # arrays, see _arrays).
        return Message(message) if getattr(connection, "sealbox_arrays", False) else message

    def get_db_converters(self, connection: Any) -> list[Any]:
        if (
            getattr(self, "model", None) is None  # a field of an expression only
            or self.allow_plaintext
            or type(self).from_db_value is not EncryptedField.from_db_value  # a subclass's own
        ):
            return [self.from_db_value]
        fast = self._fast()
        if fast is None:
            return [self.from_db_value]
        decrypt, context, decode, slow = fast.decrypt, fast.context, codecs.decode, self.from_db_value

        def from_db(value: Any, expression: Any, connection: Any) -> Any:
            if type(value) is bytes:  # the common case first, as from_db_value does it
                try:
                    return decode(decrypt(value, context=context))
                except DecryptionError:
                    raise self._failed(value, connection) from None
            return slow(value, expression, connection)

        return [from_db]

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        if self.allow_plaintext and not looks_encrypted(value):
            plaintext_reads.add(self._name())
            return self.legacy(value)
        if type(value) is not bytes:
            if isinstance(value, str):  # SQLite keeps a value TEXT through a change to a binary column
                raise DecryptionError(
                    f"a value of {self._name()} is text, not a message (allow_plaintext reads it)"
                )
            value = bytes(value)
        if self.context == "row":
            return Sealed(value, self)  # opened with the row's key in post_init
        try:
            return codecs.decode(self.box.decrypt(value, context=self._ctx()))
        except DecryptionError:
            raise self._failed(value, connection) from None

    def _failed(self, message: bytes, connection: Any) -> DecryptionError:
        """The error for a stored value that did not decrypt, naming the rows that hold it
        (``_rows_holding``); where none is found, the field only."""
        return undecryptable.error(self._name(), _rows_holding(self, message, connection))

    def to_python(self, value: Any) -> Any:
        return value

    def parse_legacy(self, text: str) -> Any:
        """A plaintext stored as text before the field was encrypted, as the field's type."""
        return text

    def legacy(self, value: Any) -> Any:
        """A value stored before the field was encrypted (text, or text kept as bytes), as the
        value the field holds."""
        if isinstance(value, bytes | bytearray | memoryview) and bytes not in self.python_types:
            value = bytes(value).decode("utf-8")
        if isinstance(value, str) and (str not in self.python_types or self.legacy_text_is_parsed):
            value = self.parse_legacy(value)
        return self._canonical(self.to_python(value))

    def value_to_string(self, obj: Any) -> str:
        return str(self.value_from_object(obj))

    def formfield(self, **kwargs: Any) -> Any:
        """The form field of the plain field this one encrypts (admin, ModelForm)."""
        plain = self.plain_field()
        plain.name, plain.null, plain.blank = self.name, self.null, self.blank
        return plain.formfield(**kwargs)

    def plain_field(self) -> Any:
        return models.BinaryField(editable=True)

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        if lookup_name == "exact" and (self.context == "row" or not self.deterministic):
            return _NullOnlyExact  # filter(field=None) becomes isnull; any value raises
        if self.context == "row":
            raise FieldError(
                f"{self._name()} is bound to its row (context='row'): lookup '{lookup_name}' cannot find "
                "equal values in other rows"
            )
        if lookup_name not in _LOOKUPS or not self.deterministic:
            why = "a randomized field answers only isnull" if not self.deterministic else "not supported"
            raise FieldError(f"{self._name()} is encrypted: lookup '{lookup_name}' is {why}")
        if lookup_name == "iexact" and not self.downcase:
            raise FieldError(f"{self._name()}: iexact needs downcase=True (values are stored lowercased)")
        return {"exact": _EncryptedExact, "iexact": _EncryptedExact, "in": _EncryptedIn}[lookup_name]

    def get_transform(self, lookup_name: str) -> Any:
        raise FieldError(f"{self._name()} is encrypted: '{lookup_name}' cannot look inside it")

    def lookup_messages(self, values: Iterable[Any]) -> list[bytes]:
        out: list[bytes] = []
        for value in values:
            out += self.box.lookup_values(self._encode(self.to_python(value)), context=self._ctx())
        return out


class _Fast(NamedTuple):
    encrypt: Callable[..., bytes]
    decrypt: Callable[..., bytes]
    context: bytes | None
    text: bool  # str values encrypt as codecs._encode_str gives them


def _rows_holding(field: EncryptedField, message: bytes, connection: Any) -> list[Any]:
    """The primary keys (at most a few, in key order) of the rows whose column holds
    ``message``, looked up on the converter's connection; in a savepoint when a transaction
    is open, under a statement timeout on PostgreSQL. ``settings.SEALBOX_NAME_KEYS_IN_ERRORS
    = False`` turns it off (keys that are themselves personal data). Any failure gives no
    keys."""
    model = getattr(field, "model", None)
    if model is None or not getattr(settings, "SEALBOX_NAME_KEYS_IN_ERRORS", True):
        return []
    meta = model._meta
    quote = connection.ops.quote_name
    key = quote(meta.pk.column)
    sql = (
        f"SELECT {key} FROM {quote(meta.db_table)} WHERE {quote(field.column)} = %s "
        f"ORDER BY {key} LIMIT {undecryptable.LIMIT + 1}"
    )
    savepoint = None
    postgres = connection.vendor == "postgresql"
    try:
        guard: Any = contextlib.nullcontext()
        if connection.in_atomic_block or not connection.get_autocommit():
            savepoint = connection.savepoint()  # a failed statement would end the transaction
        elif postgres:
            guard = transaction.atomic(using=connection.alias)  # where the timeout holds
        with guard, connection.cursor() as cursor:
            if postgres:
                cursor.execute("SELECT current_setting('statement_timeout')")
                before = cursor.fetchone()[0]
                cursor.execute(_SET_TIMEOUT, [undecryptable.POSTGRES_TIMEOUT])
            cursor.execute(sql, [connection.Database.Binary(message)])
            found = [meta.pk.to_python(row[0]) for row in cursor.fetchall()]
            if postgres:
                cursor.execute(_SET_TIMEOUT, [before])
        if savepoint:
            connection.savepoint_commit(savepoint)
        return found
    except Exception:  # the lookup is best effort; the error stays a DecryptionError
        if savepoint:
            with contextlib.suppress(Exception):
                connection.savepoint_rollback(savepoint)
        return []


_SET_TIMEOUT = "SELECT set_config('statement_timeout', %s, true)"  # for this transaction (PostgreSQL)


class Sealed:
    """A row-bound value read without its model instance (``values()``, ``values_list()``):
    ``open(pk)`` decrypts it with its row's key. Its repr never shows the message."""

    __slots__ = ("_field", "message")

    def __init__(self, message: bytes, field: EncryptedField) -> None:
        self.message, self._field = message, field

    def open(self, row: Any) -> Any:
        return self._field._open(self.message, row)

    def __repr__(self) -> str:
        return f"Sealed({self._field._name()})"


class _Bound:
    """A row-bound value encrypted in pre_save, on its way to the database."""

    __slots__ = ("message",)

    def __init__(self, message: bytes) -> None:
        self.message = message


class _Saved:
    """A value of a field with a blind index, on its way to the database through pre_save
    (save(), bulk_create()), where the index is computed too."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _check_update_fields(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    """``save(update_fields=...)`` that names an indexed field must name its blind index too
    (Django also fills ``update_fields`` in itself for an instance loaded with deferred fields)."""
    if update_fields is None:
        return
    pairs = _INDEX_PAIRS.get(sender)
    if pairs is None:
        pairs = _INDEX_PAIRS[sender] = tuple(
            (f.source, f.name) for f in sender._meta.concrete_fields if isinstance(f, BlindIndexField)
        )
    for source, name in pairs:
        if source in update_fields and name not in update_fields:
            raise SealboxError(
                f"save(update_fields=...) names {sender.__name__}.{source} but not its blind index "
                f"{name!r} (an instance loaded with only() or defer() saves only what it loaded): "
                "add it, or the index keeps the old value"
            )


# Per model class: its row-bound fields, and its (source, blind index) pairs.
_ROW_FIELDS: dict[type, tuple[EncryptedField, ...]] = {}
_INDEX_PAIRS: dict[type, tuple[tuple[str, str], ...]] = {}


def _open_row_fields(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Open the row-bound values of an instance loaded from the database, with its key."""
    fields = _ROW_FIELDS.get(sender)
    if fields is None:
        fields = _ROW_FIELDS[sender] = tuple(
            f for f in sender._meta.concrete_fields if isinstance(f, EncryptedField) and f.context == "row"
        )
    for field in fields:
        value = instance.__dict__.get(field.attname)
        if isinstance(value, Sealed):
            instance.__dict__[field.attname] = value.open(instance.pk)


class _EncryptedExact(Lookup):
    """``field = value`` as ``field IN (the value under every key of the ring)``."""

    lookup_name = "exact"
    prepare_rhs = False

    def values(self) -> list[Any]:
        return [self.rhs]

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        messages = [connection.Database.Binary(m) for m in field.lookup_messages(self.values())]
        if not messages:
            return "1 = 0", []
        return f"{lhs} IN ({', '.join(['%s'] * len(messages))})", [*params, *messages]


class _NullOnlyExact(Lookup):
    """``exact`` on a field that cannot answer it: Django turns ``field=None`` into ``isnull``
    after building this lookup; a value raises."""

    lookup_name = "exact"
    prepare_rhs = False

    def __init__(self, lhs: Any, rhs: Any) -> None:
        super().__init__(lhs, rhs)
        if rhs is not None:
            field = lhs.output_field
            why = "bound to its row" if field.context == "row" else "randomized"
            raise FieldError(f"{field._name()} is encrypted ({why}): lookup 'exact' cannot find equal values")


class _EncryptedIn(_EncryptedExact):
    lookup_name = "in"

    def values(self) -> list[Any]:
        return [v for v in self.rhs if v is not None]


class EncryptedCharField(EncryptedField):
    python_types = (str,)
    description = "text"

    def plain_field(self) -> Any:
        return models.CharField(max_length=self.text_max_length)

    def __init__(self, *args: Any, max_length: int | None = None, **kwargs: Any) -> None:
        self.text_max_length = max_length  # validated on the plaintext; the column is binary
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.text_max_length is not None:
            kwargs["max_length"] = self.text_max_length
        return name, path, args, kwargs


class EncryptedTextField(EncryptedCharField):
    def plain_field(self) -> Any:
        return models.TextField()


class EncryptedIntegerField(EncryptedField):
    python_types = (int,)
    description = "integers"

    def plain_field(self) -> Any:
        return models.IntegerField()

    def parse_legacy(self, text: str) -> Any:
        return int(text)


_LEGACY_BOOLEANS = {"t": True, "true": True, "1": True, "f": False, "false": False, "0": False}


class EncryptedBooleanField(EncryptedField):
    python_types = (bool,)
    description = "booleans"

    def plain_field(self) -> Any:
        return models.BooleanField()

    def parse_legacy(self, text: str) -> Any:
        # Django's forms ("True", "1", "t"), PostgreSQL's boolean::text ("true"), MySQL's 0/1.
        found = _LEGACY_BOOLEANS.get(text.strip().lower())
        if found is None:
            raise ValueError(f"{self._name()}: a legacy value is not a boolean")
        return found


class EncryptedDecimalField(EncryptedField):
    python_types = (decimal.Decimal, int, float)
    description = "decimals"

    def plain_field(self) -> Any:
        return models.DecimalField(max_digits=self.max_digits, decimal_places=self.decimal_places)

    def __init__(
        self, *args: Any, max_digits: int | None = None, decimal_places: int | None = None, **kwargs: Any
    ) -> None:
        self.max_digits, self.decimal_places = max_digits, decimal_places
        super().__init__(*args, **kwargs)

    def parse_legacy(self, text: str) -> Any:
        return decimal.Decimal(text)

    def _canonical(self, value: Any) -> Any:
        value = value if isinstance(value, decimal.Decimal) else decimal.Decimal(str(value))
        if self.decimal_places is not None and value.is_finite():
            value = value.quantize(decimal.Decimal(1).scaleb(-self.decimal_places))
        return value

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        for option in ("max_digits", "decimal_places"):
            if getattr(self, option) is not None:
                kwargs[option] = getattr(self, option)
        return name, path, args, kwargs


class EncryptedDateField(EncryptedField):
    python_types = (datetime.date,)
    description = "dates"

    def plain_field(self) -> Any:
        return models.DateField()

    def parse_legacy(self, text: str) -> Any:
        return datetime.date.fromisoformat(text)

    def _encode(self, value: Any) -> bytes:
        if isinstance(value, datetime.datetime):
            raise TypeError(f"{self._name()} holds dates, not a datetime")
        return super()._encode(value)


class EncryptedDateTimeField(EncryptedField):
    python_types = (datetime.datetime,)
    description = "datetimes"

    def plain_field(self) -> Any:
        return models.DateTimeField()

    def parse_legacy(self, text: str) -> Any:
        return datetime.datetime.fromisoformat(text)


class EncryptedUUIDField(EncryptedField):
    python_types = (uuid.UUID,)
    description = "UUIDs"

    def plain_field(self) -> Any:
        return models.UUIDField()

    def to_python(self, value: Any) -> Any:
        return uuid.UUID(value) if isinstance(value, str) else value


class EncryptedJSONField(EncryptedField):
    python_types = (dict, list, str, int, float, bool)
    description = "JSON values"

    def plain_field(self) -> Any:
        return models.JSONField()

    legacy_text_is_parsed = True

    def parse_legacy(self, text: str) -> Any:
        import json

        return json.loads(text)


class EncryptedBinaryField(EncryptedField):
    python_types = (bytes,)
    description = "bytes"

    def to_python(self, value: Any) -> Any:
        return bytes(value) if isinstance(value, bytearray | memoryview) else value


class BlindIndexField(models.BinaryField):
    """A blind-index companion of an encrypted field, computed from it on every save.

        email = EncryptedCharField(max_length=200)                 # randomized
        email_bidx = BlindIndexField(source="email", index=bidx, db_index=True)

        Patient.objects.filter(email_bidx="alice@example.org")      # IN over every index key

    ``index`` is a ``sealbox.BlindIndex`` or a callable returning one. ``exact`` and ``in``
    look up over ``index.lookup_values`` (every index key version), ``isnull`` works, other
    lookups raise ``FieldError``. ``QuerySet.update`` and ``bulk_update`` do not call
    ``pre_save``: a write of the index or of its source through them raises, and so does
    ``save(update_fields=...)`` naming the source without the index.
    """

    get_placeholder = _BinaryPlaceholder()

    def __init__(self, *args: Any, source: str, index: Any = None, **kwargs: Any) -> None:
        if not isinstance(source, str) or not source:
            raise TypeError("source must name the field the index is computed from")
        self.source = source
        self._index = index
        kwargs.setdefault("editable", False)
        kwargs.setdefault("null", True)
        super().__init__(*args, **kwargs)

    def contribute_to_class(self, cls: Any, name: str, *args: Any, **kwargs: Any) -> None:
        super().contribute_to_class(cls, name, *args, **kwargs)
        if not cls._meta.abstract:
            # Any sender: a proxy or a child model (multi-table inheritance) sends its own.
            signals.pre_save.connect(_check_update_fields, weak=False, dispatch_uid="sealbox-index-sources")

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        path = "sealbox.django.BlindIndexField"
        kwargs["source"] = self.source
        kwargs.pop("editable", None)
        return name, path, args, kwargs

    @property
    def index(self) -> Any:
        from sealbox._blind import BlindIndex

        index = (
            self._index()
            if callable(self._index) and not isinstance(self._index, BlindIndex)
            else self._index
        )
        if not isinstance(index, BlindIndex):
            raise ImproperlyConfigured(f"{self.model.__name__}.{self.name} needs index=a sealbox.BlindIndex")
        return index

    def pre_save(self, model_instance: Any, add: bool) -> Any:
        value = getattr(model_instance, self.source)
        computed = None if value is None else _as_bytes(self.index.compute(value))
        setattr(model_instance, self.attname, computed)
        return None if computed is None else _Indexed(computed)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None:
            return None
        if isinstance(value, _Indexed):
            return connection.Database.Binary(value.value)
        raise SealboxError(
            f"{self.model.__name__}.{self.name} is computed from {self.source!r} on save(); "
            "update() and bulk_update() cannot write it"
        )

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return None if value is None else bytes(value)

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        if lookup_name not in ("exact", "in"):
            raise FieldError(
                f"{self.model.__name__}.{self.name} is a blind index: lookup '{lookup_name}' is not supported"
            )
        return {"exact": _IndexExact, "in": _IndexIn}[lookup_name]

    def lookup_messages(self, values: Iterable[Any]) -> list[bytes]:
        return [_as_bytes(v) for value in values for v in self.index.lookup_values(value)]


def _as_bytes(value: bytes | str) -> bytes:
    """An index value as the binary column holds it (text encodings as their ASCII)."""
    return value.encode("ascii") if isinstance(value, str) else value


class _Indexed:
    """A blind index computed in pre_save, on its way to the database."""

    __slots__ = ("value",)

    def __init__(self, value: bytes) -> None:
        self.value = value


class _IndexExact(_EncryptedExact):
    pass


class _IndexIn(_EncryptedIn):
    pass


def encrypted_field_names() -> frozenset[str]:
    """The names of every encrypted and blind-index field of the installed models (and their
    ``_id``-less attribute names), the names error reports treat as sensitive."""
    from django.apps import apps

    names: set[str] = set()
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, EncryptedField | BlindIndexField):
                names.add(field.name)
    return frozenset(names)


class SafeExceptionReporterFilter(debug.SafeExceptionReporterFilter):
    """Django's error-report filter, which also cleanses what encrypted fields hold.

    Besides Django's own rules (settings whose names look secret, ``sensitive_variables``,
    ``sensitive_post_parameters``), it hides, in reports made with ``DEBUG = False`` as Django's
    own rules are: every POST parameter, every local variable of a traceback frame and every key
    of a dict or ``QueryDict`` in a frame (``cleaned_data``, ``request.POST``) that is named like
    an encrypted or blind-index field of an installed model (form prefixes such as
    ``form-0-email`` included), any local variable whose value is a string sent for such a
    field (POST or query string), every local variable of sealbox's own frames, and every
    ``SEALBOX_*`` setting. A value derived from a field's plaintext under another name (a slice,
    an f-string) is not recognised: mark such views with Django's ``sensitive_variables``. Django
    shows a request's query string (its GET section and URL) unfiltered: keep encrypted values
    out of URLs. Enable it with
    ``DEFAULT_EXCEPTION_REPORTER_FILTER = "sealbox.django.SafeExceptionReporterFilter"``.
    """

    hidden_settings = re.compile(
        debug.SafeExceptionReporterFilter.hidden_settings.pattern + "|SEALBOX", flags=re.I
    )

    @staticmethod
    def _sensitive(name: Any, names: frozenset[str]) -> bool:
        return isinstance(name, str) and (name in names or name.rsplit("-", 1)[-1] in names)

    def _cleansed(self, request: Any, mapping: Any) -> Any:
        if not self.is_active(request):
            return mapping
        names = encrypted_field_names()
        hits = [key for key in mapping if self._sensitive(key, names)]
        if hits:
            mapping = mapping.copy()
            for key in hits:
                mapping[key] = self.cleansed_substitute
        return mapping

    def get_post_parameters(self, request: Any) -> Any:
        return self._cleansed(request, super().get_post_parameters(request))

    def cleanse_special_types(self, request: Any, value: Any) -> Any:
        value = super().cleanse_special_types(request, value)
        if isinstance(value, dict | MultiValueDict):
            value = self._cleansed(request, value)
        return value

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        if not self.is_active(request):
            return variables
        if str(tb_frame.f_globals.get("__name__", "")).startswith("sealbox."):
            # sealbox's own frames hold plaintext under generic names (value, text).
            return [(name, self.cleansed_substitute) for name, _ in variables]
        names = encrypted_field_names()
        # A value sent for an encrypted field (form or query string) is hidden under any name
        # it was copied to.
        sent = {
            value
            for params in (getattr(request, "POST", None), getattr(request, "GET", None))
            if params
            for key in params
            if self._sensitive(key, names)
            for value in params.getlist(key)
            if isinstance(value, str) and value
        }
        return [
            (
                name,
                self.cleansed_substitute
                if self._sensitive(name, names) or (isinstance(value, str) and value in sent)
                else value,
            )
            for name, value in variables
        ]


@checks.register(checks.Tags.security)  # type: ignore[untyped-decorator]
def _check_error_reports(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    if not encrypted_field_names():
        return []
    chosen = debug.get_exception_reporter_filter(None)
    if isinstance(chosen, SafeExceptionReporterFilter):
        return []
    return [
        checks.Warning(
            "error reports may show the values of encrypted fields (POST data, local variables)",
            hint="set DEFAULT_EXCEPTION_REPORTER_FILTER = 'sealbox.django.SafeExceptionReporterFilter'",
            id="sealbox.W001",
        )
    ]
