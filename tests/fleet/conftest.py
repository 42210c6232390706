"""A real PostgreSQL server for the fleet tests (Debian's ``postgresql`` package).

One server per test session (binaries from ``SAFETYMON_PG_BINDIR`` or the newest
/usr/lib/postgresql/*/bin): ``initdb`` into a fresh folder under /tmp, ``postgres`` on a
unix socket in that folder and a free loopback port, trust authentication for the
``safetymon`` role, fsync off (a test server). PostgreSQL refuses to run as root, so when
the tests run as root the server runs as the ``postgres`` system user (or ``nobody``) via
``setpriv``, and its folders are chowned to that user. Each test gets its own database.

Without a server (package missing, start failed) the tests skip, or fail under
``SAFETYMON_REQUIRE_OPTIONAL=1`` (CI), with the reason.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_optional

ROLE = "safetymon"


def _bindir() -> Path | None:
    """``SAFETYMON_PG_BINDIR`` if set, else the newest /usr/lib/postgresql/*/bin, else PATH."""
    if os.environ.get("SAFETYMON_PG_BINDIR"):
        chosen = Path(os.environ["SAFETYMON_PG_BINDIR"])
        return chosen if (chosen / "initdb").is_file() else None
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit()
        else 0,
    )  # fmt: skip
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgServer:
    """A running test server: ``url(db)`` gives a password-free URL for the ``safetymon``
    role over loopback TCP."""

    bindir: Path
    base: Path
    port: int
    run_as: list[str]

    @property
    def data(self) -> Path:
        return self.base / "data"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{dbname}"

    def _ctl(self, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args],
            capture_output=True, text=True, timeout=timeout_s, check=False,
        )  # fmt: skip

    def start(self) -> None:
        options = f"-k {self.base} -p {self.port} -h 127.0.0.1 -F -c max_connections=50"
        done = self._ctl("-w", "-t", "60", "-l", str(self.base / "log"), "-o", options, "start")
        if done.returncode != 0:
            log = (self.base / "log").read_text(errors="replace")[-2000:] if (
                self.base / "log").exists() else ""  # fmt: skip
            raise RuntimeError(f"pg_ctl start failed: {done.stdout}{done.stderr}{log}")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-w", "-m", mode, "stop")

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _start_server() -> PgServer:
    bindir = _bindir()
    if bindir is None:
        raise RuntimeError(
            "no initdb (install Debian's postgresql package, or set SAFETYMON_PG_BINDIR)"
        )
    run_as: list[str] = []
    # /tmp itself: the server's user must be able to reach the folder (a TMPDIR under
    # /root would not do), and a unix socket path must stay short (about 100 bytes)
    base = Path(tempfile.mkdtemp(prefix="safetymon-pg-", dir="/tmp" if Path("/tmp").is_dir()
                                 else None))  # fmt: skip
    if os.geteuid() == 0:
        user = next((u for u in ("postgres", "nobody") if _has_user(u)), None)
        if user is None:
            raise RuntimeError("running as root and there is no postgres or nobody user")
        entry = pwd.getpwnam(user)
        os.chown(base, entry.pw_uid, entry.pw_gid)
        run_as = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}",
                  "--clear-groups", "--"]  # fmt: skip
    os.chmod(base, 0o700)
    env = {**os.environ, "LC_ALL": "C"}
    done = subprocess.run(
        [*run_as, str(bindir / "initdb"), "-D", str(base / "data"), "-U", ROLE,
         "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"initdb failed: {done.stdout}{done.stderr}")
    server = PgServer(bindir, base, _free_port(), run_as)
    server.start()
    return server


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture(scope="session")
def pg_session() -> Iterator[PgServer | str]:
    """The session's server, or the reason there is none."""
    try:
        import psycopg  # noqa: F401
    except ImportError as error:
        yield f"psycopg is not installed ({error})"
        return
    try:
        server = _start_server()
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        yield str(error)
        return
    try:
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(server.base, ignore_errors=True)


@pytest.fixture
def pg(pg_session: PgServer | str) -> PgServer:
    """The running server (skips, or fails under SAFETYMON_REQUIRE_OPTIONAL=1, without)."""
    require_optional(isinstance(pg_session, PgServer), f"a PostgreSQL server: {pg_session}")
    assert isinstance(pg_session, PgServer)
    if not (pg_session.data / "postmaster.pid").exists():  # a test stopped it and failed
        pg_session.start()
    return pg_session


_numbers = itertools.count(1)


@pytest.fixture
def centre_url(pg: PgServer) -> str:
    """A URL of a fresh, empty database on the test server."""
    return pg.create_database(f"centre_{os.getpid()}_{next(_numbers)}")
