"""Fixtures of the end-to-end runs: a migrated Airflow home, a DAG run's environment, and an Airflow
cluster (api-server, scheduler, dag-processor, triggerer) in separate processes."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._support.processes import (
    BIN,
    base_env,
    cluster_env,
    free_port,
    migrate,
    start_process,
    stop_processes,
)


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An AIRFLOW_HOME with a migrated sqlite metadata database, shared by the session."""
    home = tmp_path_factory.mktemp("airflow-home")
    migrate(base_env(home))
    return home


@pytest.fixture
def dag_env(airflow_home: Path, marketo_simulator: Any, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for a DAG run against the simulator, results in a fresh ``file://`` folder."""
    env = base_env(airflow_home)
    env["AIRFLOW_CONN_MARKETO_DEFAULT"] = marketo_simulator.connection_json()
    env["AIRFLOW_VAR_MARKETO_EXAMPLE_STORAGE"] = (tmp_path / "storage").as_uri()
    yield env


@pytest.fixture
def airflow_cluster(tmp_path: Path, marketo_simulator: Any) -> Iterator[dict[str, Any]]:
    """api-server, scheduler (LocalExecutor), dag-processor and triggerer, each in its own process
    group; on exit every group is stopped and the fixture fails if any of their processes is left."""
    home = tmp_path / "home"
    home.mkdir()
    env = cluster_env(home, free_port())
    env.update(
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__PARALLELISM="2",
        AIRFLOW_CONN_MARKETO_DEFAULT=marketo_simulator.connection_json(),
        AIRFLOW_VAR_MARKETO_EXAMPLE_STORAGE=(tmp_path / "storage").as_uri(),
    )
    migrate(env)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs: dict[str, Path] = {}
    # The log servers of the scheduler and triggerer would listen on every interface: tests read
    # the log files instead.
    commands = {
        "api-server": ["api-server"],
        "scheduler": ["scheduler", "--skip-serve-logs"],
        "dag-processor": ["dag-processor"],
        "triggerer": ["triggerer", "--skip-serve-logs"],
    }
    try:
        for name, args in commands.items():
            logs[name] = tmp_path / f"{name}.log"
            procs[name] = start_process([str(BIN / "airflow"), *args], env, logs[name])
        yield {"env": env, "logs": logs, "procs": procs}
    finally:
        stop_processes(procs.values())
