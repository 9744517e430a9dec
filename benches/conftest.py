"""Shared setup for the sealbox benchmarks.

Every workload is a benchmark *group*: one sealbox row and the anchors it is
compared with (cryptography, Tink, Fernet, PyNaCl). All rows of a group use the
same key material and the same input bytes.

Noise control: the whole list of cases is run in several *passes*. Even passes
run the list forwards, odd passes backwards (A B | B A | A B ...), so a slow
drift of the machine's speed hits sealbox and its anchors alike. ``ratios.py``
takes each ratio within a pass, where the rows ran back to back, and reports
the median over passes.

Options:
    --bench-mode=full   (default) figures for notes and release reviews
    --bench-mode=short  CI: a few rounds per row, the same rows
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from importlib import metadata

import pytest


@dataclasses.dataclass(frozen=True)
class Mode:
    name: str
    passes: int  # forward/backward sweeps over all cases
    rounds: int  # measured rounds per case and pass
    warmup_rounds: int


MODES = {
    "full": Mode("full", passes=30, rounds=20, warmup_rounds=2),
    "short": Mode("short", passes=3, rounds=25, warmup_rounds=2),
}

_SKIPS = pytest.StashKey[dict]()
_STARTED = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sealbox benchmarks")
    group.addoption(
        "--bench-mode",
        choices=sorted(MODES),
        default="full",
        help="full (default): figures worth quoting; short: CI smoke run, same rows, few rounds",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SKIPS] = {}
    config.stash[_STARTED] = {"loadavg": _loadavg(), "time": time.time()}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bench_pass" in metafunc.fixturenames:
        passes = MODES[metafunc.config.getoption("bench_mode")].passes
        metafunc.parametrize("bench_pass", range(passes), ids=[f"pass{p}" for p in range(passes)])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order benchmark items pass by pass, alternating direction (ABBA)."""

    def key(item: pytest.Item) -> tuple[int, int]:
        callspec = getattr(item, "callspec", None)
        name = next((n for n in ("bench_pass", "batch_pass") if callspec and n in callspec.params), None)
        if callspec is None or name is None:
            return (-1, 0)
        p = callspec.params[name] + (10_000 if name == "batch_pass" else 0)  # batches run last
        idx = callspec.indices.get("case", 0)
        return (p, idx if p % 2 == 0 else -idx)

    items.sort(key=key)


@pytest.fixture(scope="session")
def bench_mode(pytestconfig: pytest.Config) -> Mode:
    return MODES[pytestconfig.getoption("bench_mode")]


@pytest.fixture(scope="session")
def inputs() -> dict[str, bytes]:
    """Key material and payloads shared by every row of a session."""
    return {
        "key": os.urandom(32),
        "key64": os.urandom(64),  # AES-256-SIV anchors take a 64-byte key
        "small": os.urandom(32),
        "large": os.urandom(1 << 20),
        "context": b"users/42/email",
    }


@pytest.fixture(scope="session")
def record_skip(pytestconfig: pytest.Config) -> Callable[..., None]:
    """Remember a row that could not run (an anchor not installed), for ratios.py."""

    def record(group: str, impl: str, reason: str, **extra: object) -> None:
        pytestconfig.stash[_SKIPS][(group, impl)] = {"reason": reason, **extra}

    return record


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _sealbox_build() -> dict[str, object]:
    try:
        import sealbox
        from sealbox import _native
    except ImportError as exc:
        return {"error": str(exc)}
    path = _native.__file__ or ""
    return {
        "version": sealbox.__version__,
        "native_module": path,
        "native_module_mtime": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(path)))
        if path
        else None,
        "native_module_bytes": os.path.getsize(path) if path else None,
    }


def pytest_benchmark_update_json(
    config: pytest.Config, benchmarks: list[object], output_json: dict[str, object]
) -> None:
    mode = MODES[config.getoption("bench_mode")]
    output_json["sealbox_bench"] = {
        "mode": dataclasses.asdict(mode),
        "sealbox": _sealbox_build(),
        "anchors": {d: _version(d) for d in ("cryptography", "tink", "pynacl", "protobuf")},
        "skipped": [{"group": g, "impl": i, **v} for (g, i), v in config.stash[_SKIPS].items()],
        "loadavg_start": config.stash[_STARTED]["loadavg"],
        "loadavg_end": _loadavg(),
        "wall_seconds": round(time.time() - config.stash[_STARTED]["time"], 1),
    }
