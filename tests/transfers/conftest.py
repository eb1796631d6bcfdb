"""Real databases for the SQL transfer tests: a SQLite file and, when the binaries exist, a throwaway
Postgres cluster on 127.0.0.1; plus hostile lead rows and their expected Marketo values."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def sqlite_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty SQLite database file, reachable as the Airflow connection ``sqlite_test``."""
    path = tmp_path / "warehouse.db"
    sqlite3.connect(path).close()
    monkeypatch.setenv("AIRFLOW_CONN_SQLITE_TEST", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return path


def _postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[dict[str, Any]]:
    """A throwaway Postgres cluster (initdb) on 127.0.0.1 and a free port, stopped at the end.

    Skips when the server binaries are missing (``apt-get install -y postgresql``). As root, the
    cluster runs as the ``postgres`` system user, since Postgres refuses to run as root.
    """
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("Postgres server binaries (initdb, pg_ctl) not found; apt-get install -y postgresql")
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root and runuser is missing: cannot start Postgres as another user")
        prefix = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="marketo-pg-"))
    if prefix:
        shutil.chown(root, user="postgres")
    data, port = root / "data", _free_port()

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c timezone=UTC"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", options, "-w", "start")
    try:
        conn = {
            "conn_type": "postgres",
            "host": "127.0.0.1",
            "port": port,
            "login": "postgres",
            "schema": "postgres",
        }
        yield {"port": port, "conn": conn}
    finally:
        pid_file = data / "postmaster.pid"
        pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else None
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        deadline = time.monotonic() + 10
        while pid is not None and time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.1)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_conn_id(postgres_server: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_TEST", json.dumps(postgres_server["conn"]))
    return "postgres_test"
