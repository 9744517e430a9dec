"""The package itself: its attributes, its version, its metadata, and importing it anywhere."""

from __future__ import annotations

import importlib.metadata
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
import sealbox

ROOT = Path(__file__).resolve().parent.parent
SDKS = ("boto3", "botocore", "hvac", "pkcs11")
ENGINES = ("dask", "distributed", "pyspark", "pandas", "pyarrow", "polars", "duckdb")


def run_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter (so nothing is imported yet); its stdout."""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def public_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(sealbox.__path__) if not m.name.startswith("_"))


def test_public_modules_are_known() -> None:
    # A new public module must be reachable as an attribute too: add it to _LAZY (or import it).
    assert {
        "arrow",
        "audit",
        "cli",
        "codecs",
        "compat",
        "dask",
        "demo",
        "django",
        "hazmat",
        "normalizers",
        "providers",
        "spark",
        "sqlalchemy",
        "tables",
    } <= set(public_modules())


@pytest.mark.parametrize("name", public_modules())
def test_every_public_module_is_an_attribute(name: str) -> None:
    module = getattr(sealbox, name)
    assert isinstance(module, ModuleType)
    assert module is sys.modules[f"sealbox.{name}"]
    assert name in dir(sealbox)


def test_subpackages_load_on_first_use_without_the_sdks() -> None:
    out = run_python(
        "import sys, sealbox\n"
        "lazy = ('sealbox.cli', 'sealbox.compat', 'sealbox.demo', 'sealbox.providers', 'sealbox.tables',\n"
        "        'sealbox.arrow', 'sealbox.dask', 'sealbox.spark')\n"
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


def test_engine_adapters_import_their_engine_on_first_call() -> None:
    out = run_python(
        "import sys, sealbox, sealbox.arrow, sealbox.dask, sealbox.spark\n"
        f"loaded = set({ENGINES!r}) & set(sys.modules)\n"
        "assert not loaded, loaded\n"
        "print(sealbox.BoxSpec(keys_env='X'))\n"
    )
    assert out == "BoxSpec(keys_env='X')\n"


def test_star_import_includes_the_library_subpackages() -> None:
    names: dict[str, object] = {}
    exec("from sealbox import *", names)
    assert names["compat"] is sealbox.compat and names["providers"] is sealbox.providers
    assert names["tables"] is sealbox.tables
    assert names["Box"] is sealbox.Box and names["__version__"] == sealbox.__version__
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


def test_version_is_the_installed_distributions() -> None:
    assert sealbox.__version__ == importlib.metadata.version("sealbox")
    assert sealbox.__dict__["__version__"] == sealbox.__version__  # looked up once


def test_version_is_written_once_in_cargo_toml() -> None:
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert sealbox.__version__ == cargo["version"]


def test_version_of_an_uninstalled_source_tree_comes_from_cargo_toml(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]
    if Path(sealbox.__file__).resolve().parents[2] == ROOT:
        assert sealbox._version() == cargo["version"]
    else:  # sealbox is installed from a wheel: no Cargo.toml beside it
        with pytest.raises(importlib.metadata.PackageNotFoundError):
            sealbox._version()


def test_license_is_apache_2_in_every_manifest() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX: How to apply the Apache License" in text
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert cargo["license"] == project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    assert not any(c.startswith("License ::") for c in project["classifiers"])  # PEP 639: the expression only


def test_python_classifiers_match_requires_python() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    prefix = "Programming Language :: Python :: "
    versions = [c.removeprefix(prefix) for c in project["classifiers"] if c.startswith(prefix + "3.")]
    assert versions[0] == project["requires-python"].removeprefix(">=")
    assert versions == [f"3.{minor}" for minor in range(11, 11 + len(versions))]
    cargo = (ROOT / "Cargo.toml").read_text()
    assert f'"abi3-py{versions[0].replace(".", "")}"' in cargo  # one abi3 wheel from the oldest up


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
