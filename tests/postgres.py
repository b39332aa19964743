"""A throwaway PostgreSQL cluster for the tests: Debian's server binaries, a temporary data
directory, loopback only, trust authentication. Tests that need it skip, saying why, where the
binaries are missing (`apt-get install postgresql`; `.ci/run` installs it).

Fixtures (every test folder has them, tests/conftest.py): ``postgres_cluster``, one per run, and
``postgres_url``, a new empty database per test.

PostgreSQL refuses to run as root, so as root the cluster runs as the package's ``postgres`` user.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Where Debian's postgresql package puts the server binaries (one folder per major version).
DEBIAN_BINARIES = Path("/usr/lib/postgresql")


def server_binaries() -> Path | None:
    """The newest installed PostgreSQL's bin folder, or None."""
    found = sorted(DEBIAN_BINARIES.glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """``initdb`` + ``pg_ctl start`` in a temporary directory; ``dsn`` connects as its superuser."""

    def __init__(self, binaries: Path) -> None:
        self._bin = binaries
        self._user = "postgres" if os.geteuid() == 0 else None
        self._tmp = Path(tempfile.mkdtemp(prefix="mjbot-pg-"))
        self._data = self._tmp / "data"
        self.port = _free_port()
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._names = itertools.count(1)

    def _run(self, *args: str) -> None:
        subprocess.run(
            [str(self._bin / args[0]), *args[1:]],
            check=True,
            capture_output=True,
            user=self._user,
            cwd=self._tmp,
        )

    def start(self) -> None:
        if self._user is not None:
            shutil.chown(self._tmp, self._user)
        self._run("initdb", "-D", str(self._data), "-U", "postgres", "--auth=trust", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self._tmp}"
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self._data), "-o", options, "-l", str(self._tmp / "log"), "-w", "start")

    def create_database(self) -> str:
        """A new empty database; its URL."""
        name = f"test{next(self._names)}"
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.dsn.rsplit("/", 1)[0] + f"/{name}"

    @property
    def postmaster_pid(self) -> int:
        """The server's first process, which forks one a connection."""
        return int((self._data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self._data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)


def require_server_binaries() -> Path:
    """The server binaries; the calling test skips, saying why and what to install, without them."""
    binaries = server_binaries()
    if binaries is None:
        pytest.skip(
            f"PostgreSQL is not installed (no {DEBIAN_BINARIES}/*/bin/initdb): apt-get install postgresql"
        )
    return binaries


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """One cluster for the whole run (each pytest-xdist worker's own); skips, saying why, without
    the server binaries."""
    cluster = Cluster(require_server_binaries())
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: Cluster) -> str:
    """The URL of a new empty database, the test's own."""
    return postgres_cluster.create_database()
