"""Resume and retry on another worker with the defaults: the manifest in data every worker shares
(Airflow Variables through the supervisor before 3.3, the task state store on 3.3), the staged copy
of an export written again from the export on a worker without it, nothing written next to the
source. Each test runs the store of the minor it names, on every installed minor."""

from __future__ import annotations

import gzip
import hashlib
import json
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_marketo import _compat
from airflow_provider_marketo._compat import AirflowException, TaskDeferred, VariableTaskStore
from airflow_provider_marketo.operators import _sources
from airflow_provider_marketo.operators._manifest import STATE_KEY, ImportManifest, ManifestScope
from airflow_provider_marketo.operators.bulk_import import BulkLeadImportOperator
from tests._support.files import lead_rows, received_rows, write_rows
from tests._support.sim import our_jobs
from tests._support.tasks import (
    CreateSpy,
    FakeSupervisor,
    FakeTaskInstance,
    FakeTaskStateStore,
    make_context,
)

SCOPE = ManifestScope("dag", "import", "manual__2026-01-01T00:00:00+00:00", -1)
MINORS = ["3.1/3.2 (Variables)", "3.3 (task state store)"]


# The store.


def test_variable_store_round_trip_and_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    supervisor = FakeSupervisor().install(monkeypatch)
    store = _compat.task_state_store({})
    assert isinstance(store, VariableTaskStore)
    assert store.get("k", "default") == "default"
    store.set("k", {"a": [1, 2], "b": None})
    assert store.get("k") == {"a": [1, 2], "b": None}
    assert json.loads(supervisor.variables["k"]) == {"a": [1, 2], "b": None}
    store.delete("k")
    assert store.get("k") is None and supervisor.variables == {}


def test_variable_store_missing_key_as_an_error_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """A supervisor may answer with an error frame (AirflowRuntimeError) instead of a body."""
    from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
    from airflow.sdk.execution_time.comms import ErrorResponse

    supervisor = FakeSupervisor().install(monkeypatch)
    supervisor.failing = AirflowRuntimeError(ErrorResponse(error=ErrorType.VARIABLE_NOT_FOUND))
    assert VariableTaskStore(supervisor).get("k", 7) == 7


def test_variable_store_other_errors_are_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
    from airflow.sdk.execution_time.comms import ErrorResponse

    supervisor = FakeSupervisor().install(monkeypatch)
    store = VariableTaskStore(supervisor)
    supervisor.failing = ErrorResponse(error=ErrorType.API_SERVER_ERROR, detail={"status_code": 500})
    with pytest.raises(RuntimeError, match="API_SERVER_ERROR"):
        store.get("k")
    supervisor.failing = AirflowRuntimeError(ErrorResponse(error=ErrorType.API_SERVER_ERROR))
    with pytest.raises(AirflowRuntimeError):
        store.set("k", 1)


def test_variable_keys_fit_airflow_and_stay_distinct(monkeypatch: pytest.MonkeyPatch) -> None:
    supervisor = FakeSupervisor().install(monkeypatch)
    store = VariableTaskStore(supervisor)
    long_a, long_b = "x" * 300 + "a", "x" * 300 + "b"
    store.set(long_a, 1)
    store.set(long_b, 2)
    assert all(len(key) == 250 for key in supervisor.variables)
    assert (store.get(long_a), store.get(long_b)) == (1, 2)
    assert VariableTaskStore.variable_key("short") == "short"


def test_large_documents_are_stored_compressed(monkeypatch: pytest.MonkeyPatch) -> None:
    supervisor = FakeSupervisor().install(monkeypatch)
    store = VariableTaskStore(supervisor)
    shards = [[f"s3://bucket/export/part-{i:05d}.csv.gz", 1000 + i, f'"etag{i}"'] for i in range(5000)]
    store.set("k", {"shards": shards})
    stored = supervisor.variables["k"]
    assert len(stored) < len(json.dumps(shards)) / 4
    assert store.get("k") == {"shards": shards}


def test_the_store_of_each_runtime(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    supervisor = FakeSupervisor().install(monkeypatch)
    assert isinstance(_compat.task_state_store({}), VariableTaskStore)
    state_store = FakeTaskStateStore()
    assert _compat.task_state_store({"task_state_store": state_store}) is state_store
    monkeypatch.setattr(_compat, "AIRFLOW_V_3_3_PLUS", True)  # 3.3: its store, never Variables
    assert _compat.task_state_store({"task_state_store": state_store}) is state_store
    assert _compat.task_state_store({}) is None
    assert supervisor.sent == []


def test_manifest_in_a_variable_is_released_on_success_only_there(monkeypatch: pytest.MonkeyPatch) -> None:
    supervisor = FakeSupervisor().install(monkeypatch)
    manifest = ImportManifest(VariableTaskStore(supervisor), SCOPE)
    manifest.save({"parts": []})
    assert list(supervisor.variables) == [f"{STATE_KEY}.{SCOPE.key}"]
    assert str(manifest) == f"the Airflow Variable '{STATE_KEY}.{SCOPE.key}'"
    manifest.release()
    assert supervisor.variables == {}
    kept = FakeTaskStateStore()  # 3.3: Airflow's retention and clear_on_success decide
    ImportManifest(kept, SCOPE).save({"parts": []})
    ImportManifest(kept, SCOPE).release()
    assert kept.values


# Imports that move between workers.


class Worker:
    """A worker process: its own temp directory (``TMPDIR``); a new operator for every run."""

    def __init__(self, root: Path, name: str) -> None:
        self.tmp = root / f"tmp-{name}"
        self.tmp.mkdir()

    def enter(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(tempfile, "tempdir", str(self.tmp))

    def staged(self) -> list[Path]:
        folder = self.tmp / "airflow-marketo-staging"
        return sorted(folder.iterdir()) if folder.exists() else []


def gzip_export(folder: Path, rows: list[list[str]]) -> Path:
    folder.mkdir()
    plain = write_rows(folder / "leads.csv", rows)
    path = folder / "leads.csv.gz"
    path.write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    return path


def op_for(source: Path, conn_id: str, **kwargs: Any) -> BulkLeadImportOperator:
    args = {"poll_interval": 0.05, "part_size": 5_000, "max_active_jobs": 1, **kwargs}
    return BulkLeadImportOperator(task_id="import", source=str(source), marketo_conn_id=conn_id, **args)


def uploads_per_part(sim: Any) -> Counter[str]:
    return Counter(hashlib.sha256(sim.job_file(job["batch_id"])).hexdigest() for job in our_jobs(sim))


def store_for(
    minor: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[FakeSupervisor, FakeTaskStateStore | None]:
    supervisor = FakeSupervisor().install(monkeypatch, minor_3_3=minor.startswith("3.3"))
    return supervisor, FakeTaskStateStore() if minor.startswith("3.3") else None


@pytest.mark.marketo_simulator(rows_per_second=200)
@pytest.mark.usefixtures("running_clock")
@pytest.mark.parametrize("minor", MINORS)
def test_deferral_resumes_on_another_worker(
    minor: str, tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deferred on worker 1, resumed on worker 2 (its own TMPDIR): the export is staged again once,
    no part is uploaded twice, nothing is written next to the export, the Variable is gone after."""
    supervisor, store = store_for(minor, monkeypatch)
    rows = lead_rows(600)
    source = gzip_export(tmp_path / "export", rows)
    stagings: list[str] = []
    real_stage = _sources.stage_shards

    def counting_stage(shards: Any, *args: Any, **kwargs: Any) -> Any:
        stagings.extend(shard.name for shard in shards)
        return real_stage(shards, *args, **kwargs)

    monkeypatch.setattr(_sources, "stage_shards", counting_stage)
    one, two = Worker(tmp_path, "1"), Worker(tmp_path, "2")
    context = make_context(FakeTaskInstance(max_tries=1), task_state_store=store)
    one.enter(monkeypatch)
    with pytest.raises(TaskDeferred) as deferred:
        op_for(source, marketo_conn_id, deferrable=True, retries=1).execute(context)
    assert len(one.staged()) == 1
    if store is None:
        assert len(supervisor.variables) == 1
    two.enter(monkeypatch)
    output: dict[str, Any] | None = None
    step = deferred.value
    for _ in range(1000):
        event = {"status": "success", "message": "room", "batches": []}
        try:
            op = op_for(source, marketo_conn_id, deferrable=True, retries=1)
            output = op.resume_execution(step.method_name, {"event": event}, context)
            break
        except TaskDeferred as again:
            step = again
            time.sleep(0.02)
    assert output is not None
    batch_ids = [batch["batch_id"] for batch in output["batches"]]
    assert len(batch_ids) >= 5
    assert stagings == [source.as_uri()] * 2  # staged on worker 1, staged again once on worker 2
    assert set(uploads_per_part(marketo_simulator).values()) == {1}
    assert received_rows(marketo_simulator, batch_ids) == rows
    assert sorted(p.name for p in source.parent.iterdir()) == ["leads.csv.gz"]
    assert two.staged() == []  # deleted at the end; worker 1's copy is left in its temp dir
    assert supervisor.variables == {}  # released on success (3.3: never used)


@pytest.mark.marketo_simulator(rows_per_second=500)
@pytest.mark.usefixtures("running_clock")
@pytest.mark.parametrize("minor", MINORS)
def test_retry_on_another_worker_skips_accepted_parts(
    minor: str,
    tmp_path: Path,
    marketo_simulator: Any,
    marketo_conn_id: str,
    create_spy: CreateSpy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    supervisor, store = store_for(minor, monkeypatch)
    rows = lead_rows(600)
    source = gzip_export(tmp_path / "export", rows)
    one, two = Worker(tmp_path, "1"), Worker(tmp_path, "2")
    one.enter(monkeypatch)
    create_spy.fail_after = 2  # worker 1 dies after two parts
    with pytest.raises(SystemExit):
        op_for(source, marketo_conn_id, retries=1).execute(
            make_context(FakeTaskInstance(max_tries=1), task_state_store=store)
        )
    assert len(our_jobs(marketo_simulator)) == 2
    two.enter(monkeypatch)
    create_spy.fail_after = None
    output = op_for(source, marketo_conn_id, retries=1).execute(
        make_context(FakeTaskInstance(try_number=2, max_tries=1), task_state_store=store)
    )
    batch_ids = [batch["batch_id"] for batch in output["batches"]]
    assert len(batch_ids) >= 5
    assert set(uploads_per_part(marketo_simulator).values()) == {1}
    assert received_rows(marketo_simulator, batch_ids) == rows
    assert sorted(p.name for p in source.parent.iterdir()) == ["leads.csv.gz"]
    assert supervisor.variables == {}


@pytest.mark.marketo_simulator(rows_per_second=200)
@pytest.mark.usefixtures("running_clock")
def test_a_variable_that_cannot_be_written_stops_a_deferrable_import(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
    from airflow.sdk.execution_time.comms import ErrorResponse

    supervisor = FakeSupervisor().install(monkeypatch)
    supervisor.failing = AirflowRuntimeError(ErrorResponse(error=ErrorType.API_SERVER_ERROR))
    source = write_rows(tmp_path / "leads.csv", lead_rows(50))
    with pytest.raises(AirflowException, match="Could not read the import manifest in the Airflow Variable"):
        op_for(source, marketo_conn_id, deferrable=True).execute(make_context())
    assert our_jobs(marketo_simulator) == []
    assert not (tmp_path / ".marketo").exists()


@pytest.mark.marketo_simulator(rows_per_second=500)
def test_a_manifest_that_cannot_be_deleted_does_not_fail_the_import(
    tmp_path: Path,
    marketo_simulator: Any,
    marketo_conn_id: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
    from airflow.sdk.execution_time.comms import ErrorResponse

    supervisor = FakeSupervisor().install(monkeypatch)
    supervisor.failing = AirflowRuntimeError(ErrorResponse(error=ErrorType.API_SERVER_ERROR))
    supervisor.failing_only = {"DeleteVariable"}
    source = write_rows(tmp_path / "leads.csv", lead_rows(50))
    assert len(op_for(source, marketo_conn_id).execute(make_context())["batches"]) == 1
    assert "Could not delete the import manifest in the Airflow Variable" in capsys.readouterr().out
    assert list(supervisor.variables) == [f"{STATE_KEY}.{SCOPE.key}"]  # left for a later success


@pytest.mark.marketo_simulator(rows_per_second=500)
@pytest.mark.usefixtures("running_clock")
@pytest.mark.parametrize("minor", MINORS)
def test_a_sync_retried_on_another_worker_sends_its_changes_once_and_commits(
    minor: str,
    tmp_path: Path,
    marketo_simulator: Any,
    marketo_conn_id: str,
    create_spy: CreateSpy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A change-only sync killed after its first part on worker 1 is retried on worker 2, whose TMPDIR
    has neither the diff nor the file it sent: it diffs again against the same committed version (the
    commit waits for Marketo's results), gets the same rows, skips the part Marketo accepted and commits
    once; the next run sends nothing."""
    supervisor, store = store_for(minor, monkeypatch)
    state = (tmp_path / "state").as_uri()
    night0 = lead_rows(600)
    night1 = [
        night0[0],
        *([*row[:1], f"Changed{i}", *row[2:]] if i % 2 else row for i, row in enumerate(night0[1:])),
    ]
    changed = [row for row in night1[1:] if row[1].startswith("Changed")]
    assert len(changed) == 300
    zero, one, two = Worker(tmp_path, "0"), Worker(tmp_path, "1"), Worker(tmp_path, "2")
    sync = {"changes_only": True, "sync_state_path": state, "wait_for_completion": True, "retries": 1}

    zero.enter(monkeypatch)
    first = gzip_export(tmp_path / "night0", night0)
    op_for(first, marketo_conn_id, **sync).execute(
        make_context(FakeTaskInstance(run_id="night0", max_tries=1), task_state_store=store)
    )
    jobs_night0 = len(our_jobs(marketo_simulator))

    source = gzip_export(tmp_path / "night1", night1)
    one.enter(monkeypatch)
    create_spy.calls, create_spy.fail_after = 0, 1  # worker 1 dies after its first part
    with pytest.raises(SystemExit):
        op_for(source, marketo_conn_id, **sync).execute(
            make_context(FakeTaskInstance(run_id="night1", max_tries=1), task_state_store=store)
        )
    assert len(our_jobs(marketo_simulator)) == jobs_night0 + 1
    two.enter(monkeypatch)
    create_spy.fail_after = None
    output = op_for(source, marketo_conn_id, **sync).execute(
        make_context(FakeTaskInstance(run_id="night1", try_number=2, max_tries=1), task_state_store=store)
    )
    batch_ids = [batch["batch_id"] for batch in output["batches"]]
    assert len(batch_ids) >= 3
    assert set(uploads_per_part(marketo_simulator).values()) == {1}  # no part twice, over both nights
    assert received_rows(marketo_simulator, batch_ids) == [night1[0], *changed]
    assert output["result"]["rows_changed"] == 300 and output["result"]["state_version"] == 2
    assert sorted(p.name for p in source.parent.iterdir()) == ["leads.csv.gz"]
    assert supervisor.variables == {}

    again = op_for(source, marketo_conn_id, **sync).execute(
        make_context(FakeTaskInstance(run_id="night2", max_tries=1), task_state_store=store)
    )
    assert again["batches"] == [] and again["result"]["rows_unchanged"] == 600
