"""sealbox: application-level encryption for sensitive data.

    import sealbox
    box = sealbox.Box(sealbox.generate_key())
    message = box.encrypt(b"alice@example.org", context=b"users/42/email")
    box.decrypt(message, context=b"users/42/email")

Typed values go through ``sealbox.codecs`` (one tag byte, then a canonical
payload), and ``sealbox.column_context`` binds a value to its column and row::

    context = sealbox.column_context("users", "birth_date", row=42)
    message = box.encrypt(sealbox.codecs.encode(date(1990, 5, 17)), context=context)
    sealbox.codecs.decode(box.decrypt(message, context=context))   # date(1990, 5, 17)

See README.md and docs/ for the guides, docs/format.md for the wire format and
docs/codecs.md for the value encoding and the column context.
"""

import importlib as _importlib
import os as _os
from typing import TYPE_CHECKING

from sealbox import audit, codecs, hazmat, normalizers
from sealbox._blind import BitsPlan, BlindIndex, plan_bits
from sealbox._box import Box, EnvelopeBox, LocalBox
from sealbox._context import column_context
from sealbox._derive import derive_key, key_from_password, keyring_from_passwords
from sealbox._envelope import DataKeyCache, EnvelopeKeyProvider
from sealbox._errors import (
    AccessDeniedError,
    DecryptionError,
    KeyDisabledError,
    KeyVersionDisabledError,
    ProviderError,
    ProviderUnavailableError,
    SealboxError,
)
from sealbox._keyring import Keyring, generate_key
from sealbox._native import Message
from sealbox._native import reseed_after_fork as _reseed_after_fork
from sealbox._provider import AsyncKeyProvider, KeyProvider
from sealbox._public import PrivateKey, PublicKey
from sealbox._spec import BoxSpec

__all__ = [
    "AccessDeniedError",
    "AsyncKeyProvider",
    "BitsPlan",
    "BlindIndex",
    "Box",
    "BoxSpec",
    "DataKeyCache",
    "DecryptionError",
    "EnvelopeBox",
    "EnvelopeKeyProvider",
    "KeyDisabledError",
    "KeyProvider",
    "KeyVersionDisabledError",
    "Keyring",
    "LocalBox",
    "Message",
    "PrivateKey",
    "ProviderError",
    "ProviderUnavailableError",
    "PublicKey",
    "SealboxError",
    "__version__",
    "arrow",
    "audit",
    "codecs",
    "column_context",
    "compat",
    "dask",
    "derive_key",
    "django",
    "generate_key",
    "hazmat",
    "key_from_password",
    "keyring_from_passwords",
    "normalizers",
    "plan_bits",
    "privacy",
    "providers",
    "spark",
    "sqlalchemy",
    "tables",
]

if TYPE_CHECKING:
    # The redundant aliases mark cli and demo (commands, not in __all__) as exported.
    from sealbox import arrow, compat, dask, django, privacy, providers, spark, sqlalchemy, tables
    from sealbox import cli as cli
    from sealbox import demo as demo

    __version__: str

# Submodules imported on first use (PEP 562), so `import sealbox` stays light and
# `sealbox.providers` does not import a KMS SDK (nor `sealbox.dask` Dask).
_LAZY = frozenset(
    {
        "arrow",
        "cli",
        "compat",
        "dask",
        "demo",
        "django",
        "privacy",
        "providers",
        "spark",
        "sqlalchemy",
        "tables",
    }
)

if not TYPE_CHECKING:  # hidden from type checkers, which then still reject `sealbox.Boxx`

    def __getattr__(name: str) -> object:
        if name in _LAZY:
            return _importlib.import_module(f"{__name__}.{name}")
        if name == "__version__":
            global __version__
            __version__ = _version()
            return __version__
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "__version__"})


def _version() -> str:
    """The installed distribution's version, which maturin takes from Cargo.toml; in a
    source tree that is not installed, Cargo.toml's own."""
    from importlib import metadata

    try:
        return metadata.version(__name__)
    except metadata.PackageNotFoundError:
        import tomllib
        from pathlib import Path

        cargo = Path(__file__).resolve().parents[2] / "Cargo.toml"
        if not cargo.is_file():
            raise
        version: str = tomllib.loads(cargo.read_text())["package"]["version"]
        return version


# Nonces and salts come from a per-thread pool of OS randomness; a forked child
# must never reuse its parent's pool. Windows has no fork (and no register_at_fork).
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_reseed_after_fork)
