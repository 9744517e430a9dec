"""BoxSpec: how to build a Box, as a picklable recipe that names where the keys are.

A Box holds keys and refuses to be pickled, so a Dask or Spark job cannot ship
one to its workers. It ships a spec instead: the spec names the environment
variable or file that holds the keys on each worker (or a KMS, Vault or PKCS#11
key and where its credentials are), and ``build()`` makes the Box there, once
per process. Pickled, a spec is these names and options, never a key, a PIN or
a token (docs/scaling.md).
"""

from __future__ import annotations

import importlib
import os
import socket
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from sealbox._box import Box
from sealbox._envelope import DataKeyCache, EnvelopeKeyProvider
from sealbox._keyring import Keyring

__all__ = ["BoxSpec"]

Algorithm = Literal["aes-256-gcm", "xchacha20-poly1305", "aes-256-siv"]
Encoding = Literal["binary", "text"]

# What each built-in provider's configuration may hold, required names first; a
# secret is named by the variable (``*_env``) or file (``*_file``) that holds it.
_PROVIDERS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str | None]] = {
    "aws-kms": (
        ("key_id",),
        ("kek_id", "region_name", "endpoint_url", "max_attempts", "connect_timeout", "read_timeout"),
        None,
    ),
    "vault-transit": (
        ("key_name", "url"),
        (
            "kek_id",
            "mount_point",
            "namespace",
            "verify",
            "batch_size",
            "max_attempts",
            "backoff",
            "max_backoff",
            "version_ttl",
        ),
        "token",
    ),
    "pkcs11": (("module", "token_label", "key_label"), ("kek_id",), "pin"),
}
_SECRETS = ("pin", "token", "password", "secret", "client", "key", "keys", "credentials")

# The Boxes built in this process, by spec; a forked child starts with none.
_built: dict[tuple[Any, ...], Box[Any]] = {}
_built_pid = os.getpid()
_lock = threading.Lock()


class BoxSpec:
    """A recipe for a :class:`Box`: picklable, with no key material in it.

    ::

        spec = sealbox.BoxSpec(keys_env="SEALBOX_KEYS")                # a Keyring from each worker's env
        spec = sealbox.BoxSpec(keys_file="/run/secrets/sealbox-keys")  # ... or from a file there
        spec = sealbox.BoxSpec(kek={"provider": "aws-kms", "key_id": "alias/app", "kek_id": 1},
                               cache=sealbox.DataKeyCache(max_messages=100_000))
        box = spec.build()                                             # on the worker, once per process

    Keys: ``keys_env`` names an environment variable and ``keys_file`` a file, each
    holding a keyring in ``Keyring.from_env``'s format (``"1:<key>,2:<key>"``; the
    highest id is active unless ``active``). They are read on the worker, by
    ``build()``; a variable or file that is missing there fails with its name.

    ``kek`` makes an envelope Box whose key-encryption key is a provider, given by
    its configuration (a dict): ``{"provider": "aws-kms", "key_id": ..., "kek_id":
    ..., "region_name": ...}`` (credentials from boto3's usual chain on the
    worker), ``{"provider": "vault-transit", "key_name": ..., "url": ...,
    "token_env": "VAULT_TOKEN"}`` (or ``"token_file"``), ``{"provider": "pkcs11",
    "module": ..., "token_label": ..., "key_label": ..., "pin_env": ...}`` (or
    ``"pin_file"``), or ``{"provider": "package.module:function", ...}``, a
    function of this process's importable code called with the other entries that
    returns a :class:`~sealbox.KeyProvider`. ``previous`` lists older providers
    (the same form) whose messages must still open; a keyring named by
    ``keys_env`` / ``keys_file`` beside ``kek`` is a previous KEK too (messages of
    a local ring being moved to a KMS). ``envelope=True`` without ``kek`` makes
    an envelope Box whose KEK is the keyring itself.

    ``cache`` is the data-key reuse policy of an envelope Box: a
    :class:`DataKeyCache` (its bounds are copied; each process builds its own
    cache), a dict of its arguments, ``True`` for the defaults, or None. ``encryption_context`` is the
    envelope provider's. ``algorithm``, ``deterministic``, ``encoding`` and
    ``strict_encoding`` are :class:`Box`'s.

    Specs are immutable and compare equal when they build the same Box.
    """

    __slots__ = (
        "_active",
        "_algorithm",
        "_cache",
        "_context",
        "_deterministic",
        "_encoding",
        "_envelope",
        "_kek",
        "_keys_env",
        "_keys_file",
        "_previous",
        "_strict",
    )

    _active: int | None
    _algorithm: Algorithm | None
    _cache: tuple[int, float, int] | None
    _context: tuple[tuple[str, str], ...]
    _deterministic: bool
    _encoding: Encoding
    _envelope: bool
    _kek: tuple[tuple[str, Any], ...] | None
    _keys_env: str | None
    _keys_file: str | None
    _previous: tuple[tuple[tuple[str, Any], ...], ...]
    _strict: bool

    def __init__(
        self,
        *,
        keys_env: str | None = None,
        keys_file: str | os.PathLike[str] | None = None,
        active: int | None = None,
        kek: Mapping[str, Any] | None = None,
        previous: Sequence[Mapping[str, Any]] = (),
        envelope: bool = False,
        cache: DataKeyCache | Mapping[str, Any] | bool | None = None,
        encryption_context: Mapping[str, str] | None = None,
        algorithm: Algorithm | None = None,
        deterministic: bool = False,
        encoding: Encoding = "binary",
        strict_encoding: bool = False,
    ) -> None:
        if keys_env is not None and keys_file is not None:
            raise TypeError("give keys_env or keys_file, not both")
        if keys_env is not None and (not isinstance(keys_env, str) or not keys_env):
            raise TypeError("keys_env must be the name of an environment variable (a non-empty str)")
        if keys_file is not None:
            keys_file = os.fspath(keys_file)
            if not isinstance(keys_file, str) or not keys_file:
                raise TypeError("keys_file must be a path (str or os.PathLike[str])")
        local = keys_env is not None or keys_file is not None
        if kek is None and not local:
            raise TypeError(
                "a BoxSpec needs its keys: keys_env= (an environment variable), keys_file= (a file) "
                "or kek= (a provider's configuration)"
            )
        if previous and kek is None:
            raise TypeError("previous lists older providers beside kek=; a keyring holds its old keys itself")
        if active is not None and not local:
            raise TypeError("active chooses the active key of a keyring: it needs keys_env or keys_file")
        envelope = bool(envelope) or kek is not None
        if envelope and (algorithm is not None or deterministic):
            raise ValueError(
                "envelope messages use aes-256-gcm under each data key; algorithm and deterministic "
                "do not apply"
            )
        if not envelope and ((cache is not None and cache is not False) or encryption_context):
            raise TypeError("cache and encryption_context are an envelope Box's: give kek= or envelope=True")
        if encoding not in ("binary", "text"):
            raise ValueError(f"encoding must be 'binary' or 'text', not {encoding!r}")
        if algorithm not in (None, "aes-256-gcm", "xchacha20-poly1305", "aes-256-siv"):
            raise ValueError(f"unknown algorithm {algorithm!r}")
        if isinstance(cache, Mapping):  # DataKeyCache's arguments, checked by it
            cache = DataKeyCache(**cache)
        elif cache is True:
            cache = DataKeyCache()
        if isinstance(cache, DataKeyCache):
            policy: tuple[int, float, int] | None = (cache.max_messages, cache.max_age, cache.max_entries)
        elif cache is None or cache is False:
            policy = None
        else:
            raise TypeError(
                "cache must be a DataKeyCache, its arguments (a dict), True or None, "
                f"not {type(cache).__name__}"
            )
        context = dict(encryption_context or {})
        if any(not isinstance(k, str) or not isinstance(v, str) for k, v in context.items()):
            raise TypeError("encryption_context must map str to str")
        values: dict[str, Any] = {
            "_active": active,
            "_algorithm": algorithm,
            "_cache": policy,
            "_context": tuple(sorted(context.items())),
            "_deterministic": bool(deterministic),
            "_encoding": encoding,
            "_envelope": envelope,
            "_kek": None if kek is None else _provider_config(kek, "kek"),
            "_keys_env": keys_env,
            "_keys_file": keys_file,
            "_previous": tuple(_provider_config(p, f"previous[{i}]") for i, p in enumerate(previous)),
            "_strict": bool(strict_encoding),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    # An immutable value: equal specs build (and share) one Box per process.

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a BoxSpec is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a BoxSpec is immutable: cannot delete {name!r}")

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in BoxSpec.__slots__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BoxSpec) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _arguments(self) -> dict[str, Any]:
        """The constructor's arguments that give this spec (those not at their default)."""
        cache = None
        if self._cache is not None:
            cache = {"max_messages": self._cache[0], "max_age": self._cache[1], "max_entries": self._cache[2]}
        args: dict[str, Any] = {
            "keys_env": self._keys_env,
            "keys_file": self._keys_file,
            "active": self._active,
            "kek": None if self._kek is None else dict(self._kek),
            "previous": [dict(p) for p in self._previous],
            "envelope": self._envelope and self._kek is None,
            "cache": cache,
            "encryption_context": dict(self._context),
            "algorithm": self._algorithm,
            "deterministic": self._deterministic,
            "encoding": self._encoding,
            "strict_encoding": self._strict,
        }
        defaults = {"previous": [], "envelope": False, "encryption_context": {}, "encoding": "binary"}
        return {
            k: v
            for k, v in args.items()
            if v != defaults.get(k) and v is not None and not (isinstance(v, bool) and not v)
        }

    def __repr__(self) -> str:
        return "BoxSpec(" + ", ".join(f"{k}={v!r}" for k, v in self._arguments().items()) + ")"

    def __reduce__(self) -> tuple[Any, ...]:
        # Names and options only: unpickling checks them again, in the constructor.
        return (_from_arguments, (self._arguments(),))

    @property
    def encoding(self) -> str:
        """The encoding of the messages the Box writes: ``"binary"`` or ``"text"``."""
        return self._encoding

    def build(self) -> Box[Any]:
        """The Box this spec describes, built from the keys found here; built once per
        process (and per spec), then shared, as a Box may be between threads."""
        global _built_pid
        key = self._key()
        with _lock:
            if _built_pid != os.getpid():  # a forked child: its providers' clients are the parent's
                _built.clear()
                _built_pid = os.getpid()
            box = _built.get(key)
            if box is None:
                box = _built[key] = self._make()
        return box

    def _make(self) -> Box[Any]:
        ring = self._keyring()
        options: dict[str, Any] = {"encoding": self._encoding, "strict_encoding": self._strict}
        if not self._envelope:
            assert ring is not None
            return Box(ring, algorithm=self._algorithm, deterministic=self._deterministic, **options)
        cache = None if self._cache is None else DataKeyCache(*self._cache[:2], max_entries=self._cache[2])
        previous: list[Any] = [_provider(p) for p in self._previous]
        if self._kek is None:
            assert ring is not None
            kek: Any = ring
        else:
            kek = _provider(self._kek)
            if ring is not None:
                previous.append(ring)
        env = EnvelopeKeyProvider(
            kek, cache, previous=previous, encryption_context=dict(self._context) or None
        )
        return Box(env, **options)

    def _keyring(self) -> Keyring | None:
        if self._keys_env is not None:
            value = _secret(self._keys_env, None, "the keyring")
        elif self._keys_file is not None:
            value = _secret(None, self._keys_file, "the keyring")
        else:
            return None
        where = f"${self._keys_env}" if self._keys_env is not None else f"the file {self._keys_file}"
        return Keyring.from_string(value, active=self._active, name=where)


def _from_arguments(arguments: dict[str, Any]) -> BoxSpec:
    return BoxSpec(**arguments)


def _here() -> str:
    return f"on this worker (host {socket.gethostname()}, pid {os.getpid()})"


def _secret(env: str | None, path: str | None, what: str) -> str:
    """The value of the variable ``env`` or the text of the file ``path``, read here."""
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            raise ValueError(f"BoxSpec: environment variable {env} is not set {_here()}; it must hold {what}")
        return value
    assert path is not None
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except FileNotFoundError:
        problem = "does not exist"
    except PermissionError:
        problem = "cannot be read (permission denied)"
    except (OSError, UnicodeDecodeError) as exc:
        problem = f"cannot be read ({type(exc).__name__})"
    raise ValueError(f"BoxSpec: the file {path} {problem} {_here()}; it must hold {what}")


def _provider_config(config: Mapping[str, Any], what: str) -> tuple[tuple[str, Any], ...]:
    """A provider's configuration, checked, as a sorted tuple of its entries."""
    if not isinstance(config, Mapping):
        raise TypeError(f"{what} must be a provider's configuration (a dict), not {type(config).__name__}")
    config = dict(config)
    name = config.get("provider")
    if not isinstance(name, str):
        raise TypeError(
            f"{what} needs 'provider': 'aws-kms', 'vault-transit', 'pkcs11' or 'package.module:function'"
        )
    entries = set(config) - {"provider"}
    for entry in sorted(entries):
        if entry in _SECRETS:
            raise TypeError(
                f"{what} holds {entry!r}: a BoxSpec carries no secrets; name the environment variable "
                f"({entry}_env=) or the file ({entry}_file=) that holds it on the workers"
            )
    if name in _PROVIDERS:
        required, optional, secret = _PROVIDERS[name]
        allowed = {*required, *optional, *((f"{secret}_env", f"{secret}_file") if secret else ())}
        unknown = sorted(entries - allowed)
        if unknown:
            raise TypeError(f"{what}: {name} takes {sorted(allowed)}, not {unknown[0]!r}")
        missing = [r for r in required if r not in config]
        if missing:
            raise TypeError(f"{what}: {name} needs {missing[0]!r}")
        if secret is not None and (f"{secret}_env" in config) == (f"{secret}_file" in config):
            raise TypeError(f"{what}: {name} needs one of {secret}_env= or {secret}_file=")
    elif ":" not in name:
        raise ValueError(
            f"{what}: unknown provider {name!r}: 'aws-kms', 'vault-transit', 'pkcs11' or "
            "'package.module:function'"
        )
    checked = tuple(sorted(config.items()))
    try:
        hash(checked)
    except TypeError:
        raise TypeError(
            f"{what}: entries must be plain values (str, int, float, bool, None), which are pickled "
            "and compared"
        ) from None
    return checked


def _provider(entries: tuple[tuple[str, Any], ...]) -> Any:
    """The provider a configuration describes, made here with the secrets found here."""
    config = dict(entries)
    name = config.pop("provider")
    if name == "aws-kms":
        from sealbox.providers import AwsKms

        return AwsKms(**config)
    if name == "vault-transit":
        import hvac

        from sealbox.providers import VaultTransit

        token = _secret(config.pop("token_env", None), config.pop("token_file", None), "a Vault token")
        client = hvac.Client(
            url=config.pop("url"),
            token=token,
            namespace=config.pop("namespace", None),
            verify=config.pop("verify", True),
        )
        return VaultTransit(config.pop("key_name"), client, **config)
    if name == "pkcs11":
        from sealbox.providers import Pkcs11

        pin = _secret(config.pop("pin_env", None), config.pop("pin_file", None), "the token's PIN")
        return Pkcs11(config.pop("module"), config.pop("token_label"), pin, config.pop("key_label"), **config)
    module, _, function = name.partition(":")
    return getattr(importlib.import_module(module), function)(**config)
