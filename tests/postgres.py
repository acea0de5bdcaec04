"""A throw-away PostgreSQL server for the tests: Debian's `postgresql` package, started in a temporary folder.

One server per test process (per xdist worker): `initdb` into a new folder, listening on 127.0.0.1 on a free port
(and a Unix socket in that folder), fsync off; `pg_ctl stop -m immediate` and the folder deleted at the end. Each
test gets a database of its own, created empty and dropped after it. PostgreSQL refuses to run as root, so under
root the server runs as the package's `postgres` user (`runuser`), which owns the folder.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg

PG_ROOT = Path("/usr/lib/postgresql")  # Debian: /usr/lib/postgresql/<version>/bin/{initdb,pg_ctl}
SERVICE_USER = "postgres"  # made by the package; the server runs as it when the tests run as root
SUPERUSER = "ruta"  # the server's superuser (trust authentication: it listens on 127.0.0.1 only)
SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=200")
STARTS = 3  # tries on a new free port (another process may take the port between the pick and the start)


def postgres_bin() -> Path | None:
    """The bin folder of the newest PostgreSQL installed, None when there is none."""
    found = [path for path in PG_ROOT.glob("*/bin") if (path / "initdb").exists() and path.parent.name.isdigit()]
    return max(found, key=lambda path: int(path.parent.name), default=None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """A running server in `folder`; `database()` gives a test its own database."""

    def __init__(self, bin_dir: Path, folder: Path) -> None:
        self.bin_dir, self.folder = bin_dir, folder
        self.data = folder / "data"
        self.port = 0
        self._names = itertools.count(1)

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVICE_USER, "--", *command]
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=60)

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, SERVICE_USER)
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-locale", "-N")
        for attempt in range(STARTS):
            self.port = _free_port()
            options = ["-c listen_addresses=127.0.0.1", f"-p {self.port}", f"-c unix_socket_directories={self.folder}"]
            options += [f"-c {setting}" for setting in SETTINGS]
            try:
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.folder / "log"),
                    "-w",
                    "-o",
                    " ".join(options),
                    "start",
                )
                return
            except subprocess.CalledProcessError:
                if attempt == STARTS - 1:
                    raise

    def url(self, database: str, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _admin(self, statement: str) -> None:
        with psycopg.connect(self.url("postgres", "postgresql"), autocommit=True) as connection:
            connection.execute(statement)  # a name made here, never user input

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A new empty database (its SQLAlchemy URL), dropped afterwards with any connection left to it."""
        name = f"test_{next(self._names)}"
        self._admin(f"CREATE DATABASE {name} TEMPLATE template0 STRATEGY FILE_COPY")
        try:
            yield self.url(name)
        finally:
            self._admin(f"DROP DATABASE {name} WITH (FORCE)")

    def restart(self) -> None:
        """Stop the server (closing every connection) and start it again on the same port, data kept."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-m", "fast", "-w", "restart")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


def start_postgres(bin_dir: Path) -> PostgresServer:
    """A new server in a new temporary folder (the caller stops it)."""
    server = PostgresServer(bin_dir, Path(tempfile.mkdtemp(prefix="ruta-tests-pg-")))
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server
