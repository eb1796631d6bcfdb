"""Fixtures for end-to-end runs: a migrated Airflow home and the example DAGs folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "example_dags"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An AIRFLOW_HOME with a migrated sqlite metadata database, shared by the session."""
    home = tmp_path_factory.mktemp("airflow-home")
    env = base_env(home)
    subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300
    )
    return home


def base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    return env


@pytest.fixture
def dag_env(airflow_home: Path, marketo_simulator: Any, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for a DAG run against the simulator, results in a fresh ``file://`` folder."""
    env = base_env(airflow_home)
    env["AIRFLOW_CONN_MARKETO_DEFAULT"] = marketo_simulator.connection_json()
    env["AIRFLOW_VAR_MARKETO_EXAMPLE_STORAGE"] = (tmp_path / "storage").as_uri()
    yield env


def run_dag(
    env: dict[str, str], dag_id: str, tmp_path: Path, conf: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run ``dag_id`` with dag.test() in a subprocess (scripts/dagrun.py) and return its JSON result."""
    out = tmp_path / f"{dag_id}.json"
    log = tmp_path / f"{dag_id}.log"
    cmd = [sys.executable, str(ROOT / "scripts" / "dagrun.py"), dag_id, "--out", str(out), "--log", str(log)]
    if conf:
        cmd += ["--conf", json.dumps(conf)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if not out.exists():
        raise AssertionError(f"dag.test() of {dag_id} did not finish:\n{proc.stderr[-3000:]}\n{_tail(log)}")
    result: dict[str, Any] = json.loads(out.read_text())
    result["log"] = log.read_text(errors="replace") if log.exists() else ""
    return result


def _tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
