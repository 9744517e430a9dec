"""The package itself: its attributes, its version, its metadata, and importing it anywhere."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import sealbox

ROOT = Path(__file__).resolve().parent.parent
SDKS = ("boto3", "botocore", "hvac", "pkcs11")


def run_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter (so nothing is imported yet); its stdout."""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def public_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(sealbox.__path__) if not m.name.startswith("_"))


def test_public_modules_are_known() -> None:
    # A new public module must be reachable as an attribute too: add it to _LAZY (or import it).
    assert {"audit", "cli", "compat", "demo", "hazmat", "normalizers", "providers"} <= set(public_modules())


@pytest.mark.parametrize("name", public_modules())
def test_every_public_module_is_an_attribute(name: str) -> None:
    module = getattr(sealbox, name)
    assert isinstance(module, ModuleType)
    assert module is sys.modules[f"sealbox.{name}"]
    assert name in dir(sealbox)


def test_subpackages_load_on_first_use_without_the_sdks() -> None:
    out = run_python(
        "import sys, sealbox\n"
        "lazy = ('sealbox.cli', 'sealbox.compat', 'sealbox.demo', 'sealbox.providers')\n"
        "assert not set(lazy) & set(sys.modules), set(lazy) & set(sys.modules)\n"
        "assert 'compat' in dir(sealbox) and 'providers' in dir(sealbox)\n"
        "providers = sealbox.providers\n"
        f"loaded = set({SDKS!r}) & set(sys.modules)\n"
        "assert not loaded, loaded\n"
        "assert 'sealbox.compat' not in sys.modules\n"
        "gem = sealbox.compat.blind_index_gem\n"
        "print(gem.__module__, gem.__name__, providers.AwsKms.__name__, providers.VaultTransit.__name__,\n"
        "      providers.Pkcs11.__name__)\n"
        f"loaded = set({SDKS!r}) & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    assert out.split() == ["sealbox.compat", "blind_index_gem", "AwsKms", "VaultTransit", "Pkcs11"]


def test_star_import_includes_the_library_subpackages() -> None:
    names: dict[str, object] = {}
    exec("from sealbox import *", names)
    assert names["compat"] is sealbox.compat and names["providers"] is sealbox.providers
    assert names["Box"] is sealbox.Box
    assert "cli" not in names and "demo" not in names  # commands, not library API


def test_unknown_attributes_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"^module 'sealbox' has no attribute 'Boxx'$"):
        sealbox.Boxx  # type: ignore[attr-defined]  # noqa: B018
    assert not hasattr(sealbox, "does_not_exist")
    assert "does_not_exist" not in dir(sealbox)
    with pytest.raises(ImportError, match="cannot import name 'nope'"):
        exec("from sealbox import nope", {})
    with pytest.raises(ModuleNotFoundError):
        exec("import sealbox.nope", {})


def test_import_without_register_at_fork() -> None:
    # Windows has no os.register_at_fork: sealbox must import and work there.
    out = run_python(
        "import os\n"
        "del os.register_at_fork\n"
        "import sealbox\n"
        "assert not hasattr(os, 'register_at_fork')\n"
        "box = sealbox.Box(sealbox.generate_key())\n"
        "m = box.encrypt(b'alice@example.org', context=b'users/42/email')\n"
        "assert box.decrypt(m, context=b'users/42/email') == b'alice@example.org'\n"
        "values = [b'a', b'b' * 100]\n"
        "assert box.decrypt_batch(box.encrypt_batch(values)) == values\n"
        "print('ok')\n"
    )
    assert out == "ok\n"
