"""End-to-end helpers: the example DAGs folder, dag.test() runs in a subprocess, Airflow processes
started in their own process groups and stopped (with everything they started) by id, a cluster wait."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "example_dags"
BIN = Path(sys.executable).parent


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


def cluster_env(home: Path, api_port: int) -> dict[str, str]:
    """Environment of Airflow processes that talk through one api-server on 127.0.0.1:``api_port``."""
    env = base_env(home)
    env.update(
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(api_port),
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api_port}/execution/",
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(16),
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
    )
    return env


def migrate(env: dict[str, str]) -> None:
    """``airflow db migrate`` of the environment's AIRFLOW_HOME."""
    subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300
    )


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


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_process(cmd: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in a new session (its own process group, id = its pid), output appended to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            list(cmd), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and _alive(proc):
                members.append(proc)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


def _tree(popen: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The process, its descendants (even those that left its group) and its group's other members."""
    found: dict[int, psutil.Process] = {p.pid: p for p in _group_members(popen.pid)}
    try:
        root = psutil.Process(popen.pid)
        for proc in [root, *root.children(recursive=True)]:
            found.setdefault(proc.pid, proc)
    except psutil.NoSuchProcess:
        pass
    return [p for p in found.values() if _alive(p)]


def _describe(proc: psutil.Process) -> str:
    try:
        return f"{proc.pid} {' '.join(proc.cmdline())[:120]!r}"
    except psutil.Error:
        return str(proc.pid)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _kill(procs: Iterable[psutil.Process]) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()


def kill_now(popen: subprocess.Popen[bytes]) -> list[int]:
    """``kill -9`` the process's group and every descendant (a host dying); return the pids killed."""
    tree = _tree(popen)
    _signal_group(popen.pid, signal.SIGKILL)
    _kill(tree)
    popen.wait(timeout=10)
    psutil.wait_procs(tree, timeout=10)
    return sorted(p.pid for p in tree)


def stop_processes(
    procs: Iterable[subprocess.Popen[bytes]], timeout: float = 30, kill_wait: float = 10
) -> None:
    """SIGTERM each process group, SIGKILL what is left after ``timeout``, and assert that none of
    their processes is still running ``kill_wait`` seconds later.

    Descendants that moved to a group of their own are found through the process tree first.
    """
    procs = list(procs)
    every = [proc for popen in procs for proc in _tree(popen)]
    for popen in procs:
        _signal_group(popen.pid, signal.SIGTERM)
    _, alive = psutil.wait_procs(every, timeout=timeout)
    for popen in procs:
        _signal_group(popen.pid, signal.SIGKILL)
    _kill(alive)

    def left() -> list[psutil.Process]:
        return [p for p in every if _alive(p)] + [m for popen in procs for m in _group_members(popen.pid)]

    deadline = time.monotonic() + kill_wait
    while left() and time.monotonic() < deadline:
        time.sleep(0.1)
    for popen in procs:
        if popen.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=max(deadline - time.monotonic(), 0.1))
    assert not left(), f"processes left running after the test: {[_describe(p) for p in left()]}"


def airflow_cli(env: dict[str, str], *args: str) -> str:
    """Stdout of ``airflow <args>``, or "" when it failed."""
    proc = subprocess.run([str(BIN / "airflow"), *args], env=env, capture_output=True, text=True, timeout=120)
    return proc.stdout if proc.returncode == 0 else ""


def cli_json(text: str) -> Any:
    """The JSON document of a CLI's ``--output json`` (its own line; log lines may come before it)."""
    for line in reversed(text.splitlines()):
        if line.startswith(("[{", "[]", "{")):
            return json.loads(line)
    return None


def wait_for(what: str, check: Any, timeout: float, cluster: dict[str, Any]) -> Any:
    """``check()`` once it is truthy; fails if an Airflow process of ``cluster`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in cluster["procs"].items():
            if proc.poll() is not None:
                raise AssertionError(f"airflow {name} exited:\n{cluster['logs'][name].read_text()[-3000:]}")
        value = check()
        if value:
            return value
        time.sleep(2)
    tails = {n: p.read_text(errors="replace")[-2000:] for n, p in cluster["logs"].items()}
    raise AssertionError(f"timed out waiting for {what}: {json.dumps(tails, indent=1)}")


def run_in_cluster(
    cluster: dict[str, Any], dag_id: str, conf: dict[str, Any], *, timeout: float
) -> tuple[str, list[Path]]:
    """Wait for the dag-processor to parse ``dag_id``, trigger a run with ``conf``, wait for it to end;
    return its state and the task log files."""
    env = cluster["env"]

    def dag_known() -> bool:
        dags = cli_json(airflow_cli(env, "dags", "list", "--output", "json")) or []
        return any(d.get("dag_id") == dag_id for d in dags)

    wait_for("the dag-processor to parse the DAG", dag_known, 180, cluster)
    assert airflow_cli(env, "dags", "trigger", dag_id, "--conf", json.dumps(conf))

    def run_state() -> str | None:
        runs = cli_json(airflow_cli(env, "dags", "list-runs", dag_id, "--output", "json")) or []
        return next((r["state"] for r in runs if r.get("state") in ("success", "failed")), None)

    state: str = wait_for("the DAG run to finish", run_state, timeout, cluster)
    task_logs = sorted((Path(env["AIRFLOW_HOME"]) / "logs" / f"dag_id={dag_id}").rglob("*.log"))
    return state, task_logs
