from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import services

VECTORS = Path(__file__).parent / "vectors"

# Data, and third-party test modules that tests/test_cryptography_suite.py loads itself.
collect_ignore = ["vectors"]

# Cases run per vector file, reported at the end of the session.
VECTOR_COUNTS: dict[str, Counter[str]] = {}


def load_vectors(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


# -- database servers (session-scoped, started for the first test that asks; a missing one
# fails its tests with the package to install)


def _start(cm: Any) -> Any:
    try:
        return cm.__enter__()
    except services.ServiceMissing as exc:
        missing = str(exc)
    pytest.fail(missing, pytrace=False)


# -- key services (session-scoped): moto's AWS KMS and OpenBao's transit engine


@pytest.fixture(scope="session")
def moto() -> Iterator[services.Moto]:
    cm = services.moto_server()
    yield _start(cm)
    cm.__exit__(None, None, None)


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.OpenBao]:
    cm = services.openbao_server(tmp_path_factory.mktemp("openbao"))
    bao = _start(cm)
    bao.client().sys.enable_secrets_engine("transit")
    yield bao
    cm.__exit__(None, None, None)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.Postgres]:
    cm = services.postgres_server(tmp_path_factory.mktemp("postgres"))
    yield _start(cm)
    cm.__exit__(None, None, None)


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.MariaDb]:
    cm = services.mariadb_server(tmp_path_factory.mktemp("mariadb"))
    yield _start(cm)
    cm.__exit__(None, None, None)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not VECTOR_COUNTS:
        return
    tr = terminalreporter
    tr.section("test vectors")
    total: Counter[str] = Counter()
    for name, counts in sorted(VECTOR_COUNTS.items()):
        total.update(counts)
        detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        tr.write_line(f"{name:<34} {detail}")
    tr.write_line(f"{'all':<34} " + ", ".join(f"{k} {v}" for k, v in sorted(total.items())))
