"""``sealbox rotate --from rails|lockbox|attr_encrypted`` and ``--to rails``: the options
naming another library's keys, and the functions the table job reads and writes its
values with (``sealbox.tables.encrypt``'s and ``decrypt``'s ``convert``).

Keys come from environment variables, never from the command line (which other users
of the machine can read). A value that does not read raises ``ValueError`` without
quoting it: the job reports its row by key and leaves it as it was.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
from collections.abc import Callable
from typing import Any

from sealbox._errors import DecryptionError

SOURCES = ("rails", "lockbox", "attr_encrypted")
TARGETS = ("rails",)

Convert = Callable[..., Any]


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``sealbox rotate`` that name another library's format and keys."""
    moves = parser.add_argument_group("moving a column off (or back to) another library's format")
    moves.add_argument(
        "--from",
        dest="source",
        choices=SOURCES,
        default=None,
        help="read the column in this format and write sealbox messages: rails (Active Record "
        "Encryption), lockbox (has_encrypted), attr_encrypted; messages already in the column are "
        "rotated to the active key",
    )
    moves.add_argument(
        "--to",
        dest="target",
        choices=TARGETS,
        default=None,
        help="the reverse: decrypt the column's sealbox messages and write this format (rails: "
        "a column a Rails application must keep reading during a transition)",
    )
    moves.add_argument(
        "--raw",
        action="store_true",
        help="with --from: encrypt text as UTF-8 and bytes as they are, not sealbox.codecs values; "
        "with --to: the messages hold plaintext bytes, not sealbox.codecs values",
    )
    moves.add_argument(
        "--deterministic",
        action="store_true",
        help="with --to rails: Rails' deterministic encryption (encrypts ..., deterministic: true)",
    )
    moves.add_argument(
        "--rails-primary-key-env",
        default="ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY",
        help="variable holding active_record_encryption.primary_key (several: comma-separated)",
    )
    moves.add_argument(
        "--rails-deterministic-key-env",
        default="ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY",
        help="variable holding active_record_encryption.deterministic_key",
    )
    moves.add_argument(
        "--rails-salt-env",
        default="ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT",
        help="variable holding active_record_encryption.key_derivation_salt",
    )
    moves.add_argument(
        "--rails-digest",
        choices=["SHA256", "SHA1"],
        default="SHA256",
        help="hash_digest_class (SHA1 before load_defaults 7.1); --from tries the other one too",
    )
    moves.add_argument(
        "--lockbox-master-key-env",
        default="LOCKBOX_MASTER_KEY",
        help="variable holding Lockbox.master_key (64 hex digits); each column's key is derived "
        "from it, the table and the attribute",
    )
    moves.add_argument(
        "--lockbox-key-env",
        default=None,
        help="variable holding the attribute's own key (has_encrypted key:), instead of the master key",
    )
    moves.add_argument(
        "--lockbox-attribute",
        default=None,
        help="the attribute's name (default: the column without _ciphertext); one column only",
    )
    moves.add_argument("--lockbox-algorithm", choices=["aes-gcm", "xchacha20", "xsalsa20"], default="aes-gcm")
    moves.add_argument(
        "--lockbox-type",
        choices=[
            "string",
            "boolean",
            "date",
            "datetime",
            "time",
            "integer",
            "float",
            "decimal",
            "json",
            "binary",
        ],
        default="string",
        help="has_encrypted's type: the value sealbox.codecs then stores (default string)",
    )
    moves.add_argument(
        "--lockbox-padding", type=int, default=0, help="has_encrypted padding: size in bytes (16 for true)"
    )
    moves.add_argument(
        "--attr-encrypted-key-env",
        default="ATTR_ENCRYPTED_KEY",
        help="variable holding the attribute's key: as it is, or hex:... or base64:...",
    )
    moves.add_argument(
        "--attr-encrypted-mode",
        choices=["per_attribute_iv", "per_attribute_iv_and_salt", "single_iv_and_salt"],
        default="per_attribute_iv",
    )
    moves.add_argument(
        "--attr-encrypted-algorithm", choices=["aes-256-gcm", "aes-256-cbc"], default="aes-256-gcm"
    )
    moves.add_argument(
        "--attr-encrypted-iv-column",
        default=None,
        help="the IV column (default: the column with _iv appended); one column only",
    )
    moves.add_argument(
        "--attr-encrypted-salt-column",
        default=None,
        help="the salt column (default: the column with _salt appended); one column only",
    )


def _env(name: str, flag: str, source: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ValueError(f"--{flag} {source} needs the variable {name}")
    return value


def rails_encryptor(args: argparse.Namespace, flag: str) -> Any:
    """The Rails encryptor the ``--rails-*`` options name (the other digest as a previous
    scheme, so values written before ``load_defaults 7.1`` read too)."""
    from sealbox.compat.rails import Encryptor

    def keys(name: str) -> list[str] | None:
        value = os.environ.get(name)
        return [v for v in value.split(",") if v] if value else None

    primary = keys(args.rails_primary_key_env)
    deterministic = keys(args.rails_deterministic_key_env)
    salt = _env(args.rails_salt_env, flag, "rails")
    if not primary and not deterministic:
        raise ValueError(
            f"--{flag} rails needs {args.rails_primary_key_env} or {args.rails_deterministic_key_env}"
        )
    if flag == "to" and args.deterministic and not deterministic:
        raise ValueError(f"--to rails --deterministic needs {args.rails_deterministic_key_env}")
    other = "SHA1" if args.rails_digest == "SHA256" else "SHA256"
    previous = {"hash_digest_class": other, "primary_key": primary, "deterministic_key": deterministic}
    return Encryptor(
        primary,
        deterministic,
        salt,
        hash_digest_class=args.rails_digest,
        previous=[{k: v for k, v in previous.items() if v}],
    )


def source(args: argparse.Namespace, table: str, columns: list[str]) -> tuple[dict[str, Convert], list[str]]:
    """Per column, the function that reads a stored value of the ``--from`` format, and the
    other columns of the row it needs (attr_encrypted's IV and salt)."""
    if args.source == "rails":
        rails = rails_encryptor(args, "from")
        return dict.fromkeys(columns, _reader(rails.decrypt, "a Rails message")), []
    if args.source == "lockbox":
        return {c: _lockbox_reader(args, table, c, len(columns)) for c in columns}, []
    return _attr_encrypted_readers(args, columns)


def target(args: argparse.Namespace) -> Convert:
    """The function that turns a decrypted value into a stored value of the ``--to`` format."""
    rails = rails_encryptor(args, "to")
    deterministic = bool(args.deterministic)

    def write(value: Any) -> Any:
        if not isinstance(value, str | bytes):
            raise TypeError(f"a {type(value).__name__} value: Rails columns hold text or bytes")
        return rails.encrypt(value, deterministic=deterministic)

    return write


def _reader(decrypt: Callable[..., Any], what: str) -> Convert:
    def read(value: Any, *row: Any) -> Any:
        try:
            return decrypt(value, *row)
        except DecryptionError:
            raise ValueError(f"does not decrypt as {what}") from None

    return read


def _lockbox_reader(args: argparse.Namespace, table: str, column: str, count: int) -> Convert:
    from sealbox.compat import lockbox

    if args.lockbox_attribute is not None and count > 1:
        raise ValueError("--lockbox-attribute names the attribute of one column")
    if args.lockbox_padding < 0:
        raise ValueError("--lockbox-padding must be 0 (none) or a size in bytes")
    options: dict[str, Any] = {
        "algorithm": args.lockbox_algorithm,
        "padding": args.lockbox_padding or False,
    }
    # Text columns hold base64 (has_encrypted's ciphertext columns); binary ones raw bytes.
    boxes = {}
    for encode in (True, False):
        if args.lockbox_key_env is not None:
            key = _env(args.lockbox_key_env, "from", "lockbox")
            boxes[encode] = lockbox.Lockbox(key, encode=encode, **options)
        else:
            attribute = args.lockbox_attribute or column.removesuffix("_ciphertext")
            master = _env(args.lockbox_master_key_env, "from", "lockbox")
            boxes[encode] = lockbox.attribute_box(
                master, table=table.rpartition(".")[2], attribute=attribute, encode=encode, **options
            )
    kind = args.lockbox_type

    def decrypt(value: Any) -> Any:
        return lockbox.decode_value(boxes[isinstance(value, str)].decrypt(value), kind)

    return _reader(decrypt, "a Lockbox value")


def _key(text: str, flag: str) -> bytes:
    prefix, _, rest = text.partition(":")
    try:
        if prefix == "hex" and rest:
            return bytes.fromhex(rest)
        if prefix == "base64" and rest:
            return base64.b64decode(rest, validate=True)
    except (ValueError, binascii.Error):
        raise ValueError(f"{flag} holds a {prefix}: key that does not decode") from None
    return text.encode("utf-8")


def _attr_encrypted_readers(
    args: argparse.Namespace, columns: list[str]
) -> tuple[dict[str, Convert], list[str]]:
    from sealbox.compat.attr_encrypted import AttrEncrypted

    if len(columns) > 1 and (args.attr_encrypted_iv_column or args.attr_encrypted_salt_column):
        raise ValueError("--attr-encrypted-iv-column and -salt-column name the columns of one column")
    name = args.attr_encrypted_key_env
    attr = AttrEncrypted(
        _key(_env(name, "from", "attr_encrypted"), name),
        mode=args.attr_encrypted_mode,
        algorithm=args.attr_encrypted_algorithm,
    )
    mode = args.attr_encrypted_mode
    row: list[str] = []
    readers: dict[str, Convert] = {}
    for column in columns:
        iv = salt = None
        if mode != "single_iv_and_salt":
            iv = len(row)
            row.append(args.attr_encrypted_iv_column or f"{column}_iv")
        if mode == "per_attribute_iv_and_salt":
            salt = len(row)
            row.append(args.attr_encrypted_salt_column or f"{column}_salt")
        readers[column] = _attr_reader(attr, iv, salt, cbc=args.attr_encrypted_algorithm == "aes-256-cbc")
    return readers, row


def _attr_reader(attr: Any, iv: int | None, salt: int | None, *, cbc: bool) -> Convert:
    from sealbox._native import Message

    def decrypt(value: Any, *row: Any) -> Any:
        if cbc:
            # CBC has no tag: a wrong key or a foreign value opens to garbage one time in 256.
            # A sealbox message the keys could not open is never taken for one.
            try:
                Message.parse(value)
            except (ValueError, TypeError, DecryptionError):
                pass
            else:
                raise ValueError("a sealbox message the keys do not open")
        return attr.decrypt(
            value, iv=None if iv is None else row[iv], salt=None if salt is None else row[salt]
        )

    return _reader(decrypt, "an attr_encrypted value")
