"""A throwaway PostgreSQL server for tests and benchmarks of shared search storage.

The binaries come from the ``pgserver`` package (the ``postgres`` extra: PostgreSQL 16 in a
wheel, nothing downloaded at run time). The server lives in a temporary folder, listens on
127.0.0.1 at a free port with trust authentication, and is deleted when stopped. PostgreSQL
refuses to run as root, so under root it runs as ``nobody`` (through ``runuser``).

    with TemporaryPostgres() as pg:
        run_search(SearchConfig(..., storage=pg.url, weights_dir=...))
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

#: The account a root process runs the server as.
UNPRIVILEGED_USER = "nobody"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries (the ``postgres`` extra is not installed) or no way to run them."""


def postgres_bin() -> Path:
    """The folder of ``pgserver``'s ``initdb``, ``pg_ctl`` and ``postgres``, found without
    importing the package (its import sets up state of its own)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresUnavailable("pgserver is not installed; pip install 'nasengine[postgres]'")
    folder = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (folder / "initdb").is_file() or not (folder / "pg_ctl").is_file():
        raise PostgresUnavailable(f"pgserver has no PostgreSQL binaries in {folder}")
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TemporaryPostgres:
    """A PostgreSQL server in a temporary folder; ``url`` is its SQLAlchemy URL (psycopg2)."""

    def __init__(self, database: str = "nasengine") -> None:
        self.bin = postgres_bin()
        self.database = database
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="nasengine-pg-"))
        self.data = self.folder / "data"
        self._prefix: list[str] = []
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                raise PostgresUnavailable("PostgreSQL does not run as root, and runuser (to run it as "
                                          f"{UNPRIVILEGED_USER}) is not on PATH")
            self._prefix = ["runuser", "-u", UNPRIVILEGED_USER, "--"]
            shutil.chown(self.folder, user=UNPRIVILEGED_USER)
        self._running = False

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self._prefix, str(self.bin / tool), *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise PostgresUnavailable(f"{tool} failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-2000:]}")

    def start(self) -> TemporaryPostgres:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        # -F: no fsync (a throwaway server); the socket goes to the temp folder, not /var/run.
        options = f"-p {self.port} -h 127.0.0.1 -k {self.folder} -F -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w", "-t", "60",
                  "-o", options, "start")
        self._running = True
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", self.database)
        return self

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> TemporaryPostgres:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
