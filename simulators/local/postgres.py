"""A throwaway PostgreSQL cluster on loopback, made with initdb/pg_ctl (tests and benchmarks).

initdb refuses to run as root, so as root the cluster belongs to the ``postgres`` user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from types import TracebackType

import sqlalchemy as sa

from hub.errors import ConfigError
from simulators.local.free_ports import free_port

__all__ = ["ThrowawayPostgres", "create_database", "find_pg_bin"]


def find_pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    if candidates:
        return str(candidates[0])
    raise ConfigError(f"{name} not found: install PostgreSQL server binaries (Debian: postgresql-15)")


class ThrowawayPostgres:
    """``with ThrowawayPostgres() as pg: pg.url``: initdb in a temp dir, start, and remove on exit."""

    def __init__(self, max_connections: int = 50) -> None:
        self.port = free_port()
        self.max_connections = max_connections
        self.dir = Path(tempfile.mkdtemp(prefix="hub-pg-"))
        self.data = self.dir / "data"
        self._as_root = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = list(args)
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stdout}\n{done.stderr}")

    def start(self) -> ThrowawayPostgres:
        if self._as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(
            find_pg_bin("initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        self.resume()
        return self

    def resume(self) -> None:
        """Start the server on its port (after ``halt``, with the data it had)."""
        options = f"-h 127.0.0.1 -p {self.port} -k {self.dir} -F -c fsync=off -c max_connections={self.max_connections}"
        self._run(
            find_pg_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.dir / "log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def halt(self) -> None:
        """Stop the server as an outage would (clients' connections are cut), keeping its data."""
        self._run(find_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.halt()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.stop()


def create_database(server_url: str, prefix: str = "hub") -> str:
    """A new, empty database on the server at ``server_url``; returns its URL (tests, benchmarks)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)
