"""A real PostgreSQL server (Debian's `postgresql` package) on a free loopback port, for the tests of
Dagster's PostgreSQL instance storage: a fresh cluster in a temporary folder (initdb), password
authentication (scram-sha-256) for one superuser, no Unix socket, stopped and removed after.
Not a fake: Dagster's dagster-postgres talks to the real server.

    with PostgresServer() as pg:
        pg.port, pg.user, pg.password, pg.create_database("name"), pg.tables("name")

initdb refuses to run as root, so as root the cluster belongs to the `postgres` user the Debian
package creates and the server runs as that user (`runuser`). Fails (never skips) when the binaries
are missing: `apt-get install -y postgresql` (.ci/run does it).
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bin_dir() -> Path:
    found = sorted(glob.glob(PG_BIN_GLOB), key=lambda p: int(Path(p).parent.name))
    if not found or not Path(found[-1], "initdb").is_file():
        pytest.fail(
            f"PostgreSQL server binaries not found ({PG_BIN_GLOB}/initdb): install them "
            "(`apt-get update && apt-get install -y postgresql`)",
            pytrace=False,
        )
    return Path(found[-1])


class PostgresServer:
    def __init__(self):
        self.bin = _bin_dir()
        self.port = _free_port()
        self.user = "crmloop"
        self.password = secrets.token_urlsafe(16)
        self.work = Path(tempfile.mkdtemp(prefix="crm-pg-"))
        self.data = self.work / "data"
        self.log = self.work / "server.log"
        self.as_root = os.geteuid() == 0

    def _run(self, *argv: str, **kw) -> subprocess.CompletedProcess:
        cmd = [str(a) for a in argv]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)

    def start(self) -> PostgresServer:
        pwfile = self.work / "pw"
        pwfile.write_text(self.password + "\n")
        if self.as_root:
            shutil.chown(self.work, "postgres")
            shutil.chown(pwfile, "postgres")
        try:
            self._run(
                self.bin / "initdb", "-D", self.data, "-U", self.user, f"--pwfile={pwfile}",
                "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8",
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"initdb failed ({exc.returncode}): {exc.stderr}") from None
        finally:
            pwfile.unlink()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='' -c fsync=off"
        )
        try:
            self._run(
                self.bin / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "-t", "60", "start"
            )
        except subprocess.CalledProcessError as exc:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed ({exc.returncode}): {exc.stderr}\n{log}") from None
        return self

    def connect(self, dbname: str = "postgres"):
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=self.user, password=self.password, dbname=dbname
        )

    def create_database(self, name: str) -> str:
        conn = self.connect()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return name

    def tables(self, dbname: str) -> set[str]:
        conn = self.connect(dbname)
        with conn.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
            names = {row[0] for row in cur.fetchall()}
        conn.close()
        return names

    def env(self, dbname: str) -> dict[str, str]:
        """The variables deploy/dagster-storage-postgres.yaml reads (docs/DEPLOY.md)."""
        return {
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_DB": dbname,
            "DAGSTER_PG_PORT": str(self.port),
        }

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
        shutil.rmtree(self.work, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
