"""The provider on a distributed Airflow: CeleryExecutor with two workers, two triggerers, killed
processes, and Marketo's instance-wide limits met by four worker processes at once.

Each worker has its own temp directory (``TMPDIR``), as separate machines have. The test marked
``e2e_3_2`` also runs on Airflow 3.2 in CI (no task state store there: the manifest is an Airflow
Variable).

Processes (each in its own process group, bound to 127.0.0.1, stopped by group id): Redis (broker and
Celery result backend), api-server, scheduler, dag-processor, triggerer-1/2, worker-1/2 (Celery,
2 slots each). The metadata database is sqlite: Airflow 3 workers and triggerers reach it only
through the api-server and the scheduler, so one file serves; Redis is the broker because it is what
Celery deployments use and kill -9 of a worker must look like a real host loss to the broker.
The test DAGs are in ``tests/e2e/distributed_dags``. Needs ``redis-server`` (``scripts/ci-services``).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest

from airflow_provider_marketo._compat import AIRFLOW_V_3_3_PLUS
from airflow_provider_marketo.testing import MarketoSimulator
from tests._support.processes import (
    BIN,
    cluster_env,
    free_port,
    kill_now,
    migrate,
    start_process,
    stop_processes,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

DAGS = Path(__file__).parent / "distributed_dags"
TERMINAL = ("Complete", "Failed")
SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer-1", "triggerer-2", "worker-1", "worker-2")
T = TypeVar("T")


@dataclass
class Cluster:
    """The running processes, their logs, and the metadata database they share."""

    home: Path
    env: dict[str, str]
    logs_dir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    peak_rss: int = 0
    _stop_sampling: threading.Event = field(default_factory=threading.Event)

    def command(self, name: str) -> list[str]:
        airflow = str(BIN / "airflow")
        if name.startswith("worker-"):
            # --skip-serve-logs: the log server would listen on every interface (and both workers
            # on one port); the test reads the log files.
            return [airflow, "celery", "worker", "-c", "2", "-H", f"{name}@%h", "--skip-serve-logs"]
        if name.startswith("triggerer-"):
            return [airflow, "triggerer", "--skip-serve-logs"]
        if name == "scheduler":
            return [airflow, "scheduler", "--skip-serve-logs"]
        return [airflow, name]

    def start(self, name: str) -> None:
        env = {**self.env, "E2E_HOSTNAME": name}
        if name.startswith("worker-"):  # a temp directory of its own, as on another machine
            env["TMPDIR"] = str(self.tmp_dir(name))
        self.procs[name] = start_process(self.command(name), env, self.logs_dir / f"{name}.log")

    def tmp_dir(self, name: str) -> Path:
        path = self.home.parent / "tmp" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def stop(self, name: str) -> None:
        """Stop the process (SIGTERM: a worker first finishes what it runs) and what it started."""
        stop_processes([self.procs.pop(name)])

    def kill(self, name: str) -> list[int]:
        """``kill -9`` the process and everything it started."""
        return kill_now(self.procs.pop(name))

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(f"file:{self.home / 'airflow.db'}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def wait(self, what: str, check: Callable[[], T | None], timeout: float, every: float = 1.0) -> T:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise AssertionError(f"{name} exited:\n{self.tail(name)}")
            try:
                value = check()
            except sqlite3.OperationalError:  # database locked by a writer: ask again
                value = None
            if value:
                return value
            time.sleep(every)
        tails = "\n".join(f"== {name}\n{self.tail(name)}" for name in self.procs)
        raise AssertionError(f"timed out waiting for {what}\n{tails}\n{self.task_logs()}")

    def tail(self, name: str, chars: int = 2500) -> str:
        path = self.logs_dir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def task_logs(self, chars: int = 2500) -> str:
        logs = sorted((self.home / "logs").rglob("*.log"))
        return "\n".join(f"== {p}\n{p.read_text(errors='replace')[-chars:]}" for p in logs)

    def airflow(self, *args: str) -> str:
        proc = subprocess.run(
            [str(BIN / "airflow"), *args], env=self.env, capture_output=True, text=True, timeout=180
        )
        assert proc.returncode == 0, f"airflow {' '.join(args)}: {proc.stderr[-2000:]}"
        return proc.stdout

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        run_id = f"e2e_{secrets.token_hex(4)}"
        self.wait(
            f"the dag-processor to parse {dag_id}",
            lambda: self.query("SELECT 1 FROM serialized_dag WHERE dag_id = ?", dag_id),
            240,
        )
        self.airflow("dags", "trigger", dag_id, "--run-id", run_id, "--conf", json.dumps(conf))
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        rows = self.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id)
        return rows[0][0] if rows and rows[0][0] in ("success", "failed") else None

    def task(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any] | None:
        rows = self.query(
            "SELECT state, try_number, hostname, trigger_id FROM task_instance "
            "WHERE dag_id = ? AND run_id = ? AND task_id = ?",
            dag_id,
            run_id,
            task_id,
        )
        if not rows:
            return None
        state, try_number, hostname, trigger_id = rows[0]
        return {"state": state, "try_number": try_number, "hostname": hostname, "trigger_id": trigger_id}

    def sample_memory(self) -> None:
        """Sum of the resident memory of every process of the cluster, once a second; keeps the peak."""
        while not self._stop_sampling.wait(1.0):
            total = 0
            for proc in list(self.procs.values()):
                try:
                    root = psutil.Process(proc.pid)
                    for member in [root, *root.children(recursive=True)]:
                        total += member.memory_info().rss
                except psutil.Error:
                    continue
            self.peak_rss = max(self.peak_rss, total)


@pytest.fixture(scope="module")
def simulators() -> Iterator[dict[str, MarketoSimulator]]:
    """``slow``: jobs of 100 rows take 10 s. ``limits``: Marketo's limits (100 calls / 20 s, 10 in
    flight, 10 queued, 2 importing) and jobs of 50 rows that take 1 s. ``export``: jobs of 100 rows
    that take 2 s."""
    with (
        MarketoSimulator(rows_per_second=10) as slow,
        MarketoSimulator(rows_per_second=50) as limits,
        MarketoSimulator(rows_per_second=50) as export,
    ):
        yield {"slow": slow, "limits": limits, "export": export}


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, simulators: dict[str, MarketoSimulator]
) -> Iterator[Cluster]:
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        message = "redis-server is not installed: run scripts/ci-services"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    root = tmp_path_factory.mktemp("distributed")
    home, logs_dir = root / "home", root / "processes"
    home.mkdir()
    logs_dir.mkdir()
    api_port, redis_port = free_port(), free_port()
    redis = start_process(
        [redis_server, "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
        dict(os.environ),
        logs_dir / "redis.log",
    )
    env = cluster_env(home, api_port)
    env.update(
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        PYTHONPATH=os.pathsep.join([str(DAGS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        AIRFLOW__CORE__HOSTNAME_CALLABLE="e2e_hostname.hostname",
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__CORE__PARALLELISM="8",
        AIRFLOW__CELERY__BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
        AIRFLOW__CELERY__RESULT_BACKEND=f"redis://127.0.0.1:{redis_port}/1",
        # A killed worker's task is found (no heartbeat) after 20 s, a killed triggerer after 10 s.
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="20",
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL="5",
        AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC="2",
        AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD="10",
        AIRFLOW_CONN_MARKETO_SLOW=simulators["slow"].connection_json(),
        AIRFLOW_CONN_MARKETO_LIMITS=simulators["limits"].connection_json(),
        AIRFLOW_CONN_MARKETO_EXPORT=simulators["export"].connection_json(),
        # The recommended setup: 2 pool slots x 25 calls / 20 s, doubled because the task that takes
        # over a slot starts with a fresh client-side window while its predecessor's calls still
        # count at Marketo: 100 at most; 2 x 4 calls in flight of 10.
        AIRFLOW_CONN_MARKETO_LIMITS_SHARED=simulators["limits"].connection_json(
            extra={"calls_per_window": 25, "max_concurrent_calls": 4}
        ),
    )
    cluster = Cluster(home, env, logs_dir)
    sampler = threading.Thread(target=cluster.sample_memory, daemon=True)
    try:
        migrate(env)
        cluster.airflow("pools", "set", "marketo_limits", "2", "One Marketo instance", "--include-deferred")
        for name in SERVICES:
            cluster.start(name)
        sampler.start()
        yield cluster
    finally:
        cluster._stop_sampling.set()
        stop_processes([*cluster.procs.values(), redis])
        print(f"\ncluster peak resident memory: {cluster.peak_rss / 2**20:.0f} MiB")


def _write_leads(path: Path, rows: int, *, prefix: str = "lead", bad_every: int = 37) -> set[str]:
    """A lead file; every ``bad_every``-th row has a non-numeric score (Marketo fails it). Returns
    the emails of those rows."""
    bad = set()
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["email", "firstName", "leadScore"])
        for i in range(1, rows + 1):
            email = f"{prefix}{i:05d}@example.com"
            failing = i % bad_every == 0
            if failing:
                bad.add(email)
            writer.writerow([email, f"Ann {i}", "high" if failing else str(i % 100)])
    return bad


def _digests(sim: MarketoSimulator) -> Counter[str]:
    """How many jobs the simulator created for each distinct part (sha256 of the file received)."""
    return Counter(
        hashlib.sha256(sim.job_file(job["batch_id"])).hexdigest() for job in sim.jobs if not job["foreign"]
    )


def test_killed_worker_and_triggerer(
    cluster: Cluster, simulators: dict[str, MarketoSimulator], tmp_path: Path
) -> None:
    sim = simulators["slow"]
    rows = 600
    source = tmp_path / "leads.csv"
    bad = _write_leads(source, rows)
    results = tmp_path / "results"
    results.mkdir()
    # Part 2 becomes batch 3402 on this fresh simulator. The task's first call after it recorded part 2
    # in its retry manifest asks for that batch's status: slowed down, so the kill lands right there.
    sim.inject("slow", count=1, path=r"/batch/3402\.json$", delay=6)
    dag_id = "marketo_distributed_import"
    run_id = cluster.trigger(dag_id, {"source": source.as_uri(), "results": results.as_uri() + "/"})

    cluster.wait("the import to ask for part 2's status", lambda: not sim.pending_faults, 240, every=0.2)
    first = cluster.task(dag_id, run_id, "import_leads")
    assert first is not None and first["state"] == "running", first
    worker = str(first["hostname"])
    assert worker in ("worker-1", "worker-2"), first
    assert [job["batch_id"] for job in sim.jobs] == [3401, 3402]
    killed = cluster.kill(worker)
    assert killed

    def retried() -> dict[str, Any] | None:
        ti = cluster.task(dag_id, run_id, "import_leads")
        return ti if ti and ti["state"] == "success" else None

    done = cluster.wait("the import to succeed after the kill", retried, 300)
    assert done["try_number"] > first["try_number"], done
    cluster.start(worker)  # back to two workers for the next test

    # Nothing asks for the last part's status before the sensor's trigger does: slow that poll down
    # and kill the triggerer while the poll is in flight.
    last = max(job["batch_id"] for job in sim.jobs)
    sim.inject("slow", count=1, path=rf"/batch/{last}\.json$", delay=30)
    cluster.wait("the sensor's trigger to poll", lambda: not sim.pending_faults, 180, every=0.2)

    def sensor_trigger() -> str | None:
        found = cluster.query(
            "SELECT j.hostname FROM task_instance ti JOIN trigger t ON t.id = ti.trigger_id "
            "JOIN job j ON j.id = t.triggerer_id "
            "WHERE ti.dag_id = ? AND ti.run_id = ? AND ti.task_id = 'wait_for_import' "
            "AND ti.state = 'deferred'",
            dag_id,
            run_id,
        )
        return str(found[0][0]) if found else None

    triggerer = cluster.wait("the triggerer running the sensor's trigger", sensor_trigger, 30, every=0.2)
    assert triggerer in ("triggerer-1", "triggerer-2"), triggerer
    cluster.kill(triggerer)
    state = cluster.wait("the DAG run to finish", lambda: cluster.run_state(dag_id, run_id), 300)
    assert state == "success", cluster.task_logs()
    cluster.start(triggerer)

    # Exactly once: one job per part, every part different, all rows sent once.
    jobs = [job for job in sim.jobs if not job["foreign"]]
    digests = _digests(sim)
    assert len(jobs) >= 5
    assert set(digests.values()) == {1}, digests
    assert len(digests) == len(jobs)
    assert sum(job["rows"] for job in jobs) == rows
    # Every row accounted for, by Marketo and in the sensor's summary.
    assert sum(job["rows_processed"] + job["rows_failed"] for job in jobs) == rows
    summary = json.loads((results / "summary.json").read_text())
    assert summary["rows_processed"] + summary["rows_failed"] == rows == summary["rows_sent"]
    assert summary["rows_failed"] == len(bad)
    # No failed row missing from the stored files.
    stored: list[str] = []
    for batch in summary["batches"]:
        if batch["rows_failed"]:
            path = Path(batch["failures_path"].removeprefix("file://"))
            with path.open(newline="", encoding="utf-8") as fh:
                stored += [row["email"] for row in csv.DictReader(fh)]
    assert sorted(stored) == sorted(bad)
    print(
        f"\nkilled {worker} (pids {killed}) after part 2; import succeeded on try {done['try_number']} "
        f"on {done['hostname']}; killed {triggerer} while its poll of batch {last} was in flight; "
        f"{len(jobs)} parts, each created once; {rows} rows = {summary['rows_processed']} processed "
        f"+ {summary['rows_failed']} failed, all failed rows stored"
    )


def test_instance_budget_across_worker_processes(
    cluster: Cluster, simulators: dict[str, MarketoSimulator], tmp_path: Path
) -> None:
    """Four imports at once, each in its own worker process, against one instance at Marketo's limits:
    the answers 606 (rate), 615 (in flight) and 1016 (queue full), without and with the recommended
    setup, measured in one run."""
    sim = simulators["limits"]
    counted = ("606", "615", "1016")
    measured: dict[str, dict[str, Any]] = {}
    for dag_id in ("marketo_budget_default", "marketo_budget_recommended"):
        sim.reset()
        sources = []
        for i in range(4):
            path = tmp_path / f"{dag_id}-{i}.csv"
            _write_leads(path, 500, prefix=f"b{i}-", bad_every=10**9)
            sources.append(path.as_uri())
        started = time.monotonic()
        run_id = cluster.trigger(dag_id, {"sources": sources})
        state = cluster.wait(f"{dag_id} to finish", lambda d=dag_id, r=run_id: cluster.run_state(d, r), 400)
        # The imports return once Marketo accepted every part; their last jobs may still be running.
        cluster.wait(f"the jobs of {dag_id}", lambda: all(job["status"] in TERMINAL for job in sim.jobs), 120)
        errors = sim.counters["errors"]
        hosts = {cluster.task(dag_id, run_id, f"import_{i}")["hostname"] for i in range(4)}  # type: ignore[index]
        measured[dag_id] = {
            "state": state,
            "seconds": round(time.monotonic() - started),
            "jobs": len(sim.jobs),
            "leads": len(sim.leads),
            "hosts": sorted(hosts),
            **{code: errors.get(code, 0) for code in counted},
        }
    print("\ninstance budget:", json.dumps(measured))
    default, recommended = measured["marketo_budget_default"], measured["marketo_budget_recommended"]
    assert recommended["state"] == "success", recommended
    assert recommended["leads"] == 2000, recommended
    # The four tasks that wait for their jobs finish together and add the first event of the same new
    # asset: one creates it, none is failed on the asset table's unique key (operators/_assets.py).
    uri = f"marketo://{sim.base_url.split('://', 1)[1]}/leads"
    with sqlite3.connect(cluster.home / "airflow.db") as db:
        (events,) = db.execute(
            "SELECT count(*) FROM asset_event e JOIN asset a ON a.id = e.asset_id "
            "WHERE a.uri = ? AND e.source_dag_id = 'marketo_budget_recommended'",
            (uri,),
        ).fetchone()
    assert events == 4, (uri, events)
    assert len(default["hosts"]) == 2, default  # the four tasks ran on both workers
    # Without the setup the instance sees four processes' budgets and jobs (each 606 makes the hook
    # wait out Marketo's window, so a few answers cost a lot of time); with it, none or almost none.
    errors_default = sum(default[code] for code in counted)
    errors_recommended = sum(recommended[code] for code in counted)
    assert errors_default >= 1, measured
    assert errors_recommended <= 1 and errors_recommended < errors_default, measured


@pytest.mark.e2e_3_2
def test_export_resumes_and_is_retried_on_the_other_worker(
    cluster: Cluster, simulators: dict[str, MarketoSimulator], tmp_path: Path
) -> None:
    """With the defaults (no manifest_path, no staging_path), a deferred import of a gzip export
    resumes on the other worker (its own TMPDIR: no manifest file, no staged copy there), and a try
    killed with kill -9 is retried on the other worker; every part is uploaded exactly once and
    nothing is written next to the export."""
    sim = simulators["export"]
    rows = 600
    export = tmp_path / "export"
    export.mkdir()
    plain = tmp_path / "leads.csv"
    _write_leads(plain, rows, prefix="export", bad_every=10**9)
    source = export / "leads.csv.gz"
    source.write_bytes(gzip.compress(plain.read_bytes()))
    dag_id, task_id = "marketo_distributed_export", "import_export"

    # The first try runs on worker-1 (the only worker) and defers after part 1.
    cluster.stop("worker-2")
    run_id = cluster.trigger(dag_id, {"source": source.as_uri()})

    def state(wanted: str, host: str | None = None) -> Callable[[], dict[str, Any] | None]:
        def check() -> dict[str, Any] | None:
            ti = cluster.task(dag_id, run_id, task_id)
            ok = ti is not None and ti["state"] == wanted and (host is None or ti["hostname"] == host)
            return ti if ok else None

        return check

    first = cluster.wait("the import to defer on worker-1", state("deferred", "worker-1"), 240, every=0.2)
    assert first["try_number"] == 1
    assert len(sim.jobs) == 1
    # While it is deferred, worker-1 goes away and worker-2 comes: the resume runs on worker-2.
    cluster.start("worker-2")
    cluster.stop("worker-1")
    cluster.wait(
        "the resume on worker-2",
        lambda: (cluster.task(dag_id, run_id, task_id) or {}).get("hostname") == "worker-2",
        120,
        every=0.2,
    )
    cluster.start("worker-1")

    # Once part 2 is in, slow down the status call the task makes right after creating part 3 (its
    # manifest already records part 3) and kill -9 the worker running the try while it waits.
    cluster.wait("part 2", lambda: len(sim.jobs) >= 2, 120, every=0.1)
    assert len(sim.jobs) == 2, sim.jobs
    sim.inject("slow", count=1, path=r"/batch/3403\.json$", delay=10)
    cluster.wait("the status call after part 3", lambda: not sim.pending_faults, 120, every=0.1)
    running = cluster.task(dag_id, run_id, task_id)
    assert running is not None and running["state"] == "running", running
    victim = str(running["hostname"])
    survivor = {"worker-1": "worker-2", "worker-2": "worker-1"}[victim]
    assert cluster.kill(victim)
    done = cluster.wait("the retry to finish the import", state("success"), 300)
    assert done["try_number"] == 2 and done["hostname"] == survivor, done
    assert cluster.wait("the DAG run to finish", lambda: cluster.run_state(dag_id, run_id), 60) == "success"
    cluster.start(victim)

    # Exactly once: one job per part, every part different, every row sent once.
    jobs = [job for job in sim.jobs if not job["foreign"]]
    digests = _digests(sim)
    assert set(digests.values()) == {1}, digests
    assert len(jobs) == len(digests) >= 6, jobs
    assert sum(job["rows"] for job in jobs) == rows
    # What each step did, from the task's logs.
    logs = {
        path.name: path.read_text(errors="replace")
        for path in (cluster.home / "logs").rglob("*.log")
        if f"dag_id={dag_id}" in str(path) and f"run_id={run_id}" in str(path)
    }
    text = "\n".join(logs.values())
    assert "is not on this worker (the task deferred on another one): staging" in text, text[-3000:]
    assert "already imported as batch 3403 by an earlier try; skipping it" in text, text[-3000:]
    # Nothing next to the export; no manifest left behind.
    assert sorted(p.name for p in export.iterdir()) == ["leads.csv.gz"]
    if AIRFLOW_V_3_3_PLUS:
        assert "Import manifest: the task state store" in text
    else:
        assert "Import manifest: the Airflow Variable 'marketo_import_manifest." in text
        left = cluster.query("SELECT key FROM variable WHERE key LIKE 'marketo_import_manifest%'")
        assert left == [], left
    print(
        f"\nexport import: try 1 deferred on worker-1, resumed on worker-2; {victim} killed after part 3; "
        f"try 2 finished on {survivor}; {len(jobs)} parts, each created once"
    )
