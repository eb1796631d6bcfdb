"""Deferrable imports: resume from the manifest (not the defer kwargs), read the source at most twice,
wait on our own jobs in the triggerer, bound the time deferred by ``execution_timeout``."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.standard.triggers.temporal import DateTimeTrigger

from airflow_provider_marketo._compat import AirflowException, AirflowTaskTimeout, TaskDeferred
from airflow_provider_marketo.operators.bulk_import import BulkLeadImportOperator
from airflow_provider_marketo.triggers.bulk_import import BulkImportTrigger
from tests._support.files import lead_rows, received_rows, write_rows
from tests._support.sim import our_jobs
from tests._support.tasks import (
    CreateSpy,
    FakeTaskInstance,
    FakeTaskStateStore,
    SourceReads,
    make_context,
    run_deferred,
)

CREATE_LEADS = r"/bulk/v1/leads\.json"


def lead_op(source: Any, conn_id: str, **kwargs: Any) -> BulkLeadImportOperator:
    args = {"poll_interval": 0.05, "deferrable": True, **kwargs}
    return BulkLeadImportOperator(task_id="import", source=source, marketo_conn_id=conn_id, **args)


# Jobs take time here (rows_per_second low, clock running): the queue is busy, not instantly free.
@pytest.mark.marketo_simulator(rows_per_second=5)
@pytest.mark.usefixtures("running_clock")
@pytest.mark.parametrize("with_store", [False, True], ids=["manifest-file", "task-state-store"])
def test_resumes_from_the_manifest_and_reads_the_source_at_most_twice(
    with_store: bool,
    tmp_path: Path,
    marketo_simulator: Any,
    marketo_conn_id: str,
    create_spy: CreateSpy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = lead_rows(600)
    source = write_rows(tmp_path / "a.csv", rows)
    reads = SourceReads("a.csv").install(monkeypatch)
    ti = FakeTaskInstance()
    triggers: list[Any] = []
    store = FakeTaskStateStore() if with_store else None
    batch_ids = run_deferred(
        lambda: lead_op(source, marketo_conn_id, part_size=5_000, max_active_jobs=2), ti, triggers, store
    )
    assert len(batch_ids) >= 6
    assert len(triggers) >= 2  # several real deferral cycles
    assert all(not deferred.kwargs for _, deferred in triggers)  # nothing relies on defer kwargs
    assert any(isinstance(t, BulkImportTrigger) and t.max_pending == 1 for t, _ in triggers)
    # Planned once (one full read), then each part read once by range.
    size = source.stat().st_size
    assert reads.bytes <= 2 * size
    assert reads.opens == 1 + len(batch_ids)
    assert max(create_spy.unfinished_at_create) <= 1
    assert len(our_jobs(marketo_simulator)) == len(batch_ids)
    assert received_rows(marketo_simulator, batch_ids) == rows
    assert ti.xcoms["batch_ids"] == batch_ids
    assert ti.xcoms["return_value"]["rows_sent"] == 600
    assert (tmp_path / ".marketo").exists() is not with_store


def test_queue_full_uses_a_time_trigger(tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str) -> None:
    marketo_simulator.inject("error_code", code="1016", count=1, path=CREATE_LEADS)
    triggers: list[Any] = []
    source = write_rows(tmp_path / "a.csv", lead_rows(10))
    batch_ids = run_deferred(lambda: lead_op(source, marketo_conn_id), FakeTaskInstance(), triggers)
    assert len(batch_ids) == 1
    ((trigger, deferred),) = triggers
    assert isinstance(trigger, DateTimeTrigger)
    assert deferred.timeout is None  # no execution_timeout: the trigger's own moment ends the wait


@pytest.mark.marketo_simulator(rows_per_second=200, max_queue=3)
def test_queue_full_with_our_jobs_queued_waits_on_them_until_a_deadline(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    marketo_simulator.occupy_queue(2, 60)  # other integrations' jobs: room for one of ours
    source = write_rows(tmp_path / "a.csv", lead_rows(200))
    op = lead_op(source, marketo_conn_id, part_size=5_000, max_active_jobs=3, poll_interval=2)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context())
    # Part 2 was refused (1016) while part 1 is queued: wake when part 1 finishes, or at the deadline.
    trigger = deferred.value.trigger
    assert isinstance(trigger, BulkImportTrigger)
    ((job,),) = [our_jobs(marketo_simulator)]
    assert (trigger.batch_ids, trigger.max_pending) == ([job["batch_id"]], 0)
    assert trigger.deadline is not None
    assert marketo_simulator.counters["errors"]["1016"] == 1


OK_EVENT = {"status": "success", "message": "ok", "batches": []}


def _one_at_a_time(source: Path, conn_id: str, **kwargs: Any) -> BulkLeadImportOperator:
    return lead_op(source, conn_id, part_size=5_000, max_active_jobs=1, **kwargs)


def _defer_once(source: Path, conn_id: str, **kwargs: Any) -> tuple[Any, TaskDeferred]:
    """Execute until the first deferral (part 1 submitted, waiting for it); the context and deferral."""
    context = make_context()
    with pytest.raises(TaskDeferred) as deferred:
        _one_at_a_time(source, conn_id, **kwargs).execute(context)
    return context, deferred.value


def _resume(source: Path, conn_id: str, context: Any, event: Any, **kwargs: Any) -> Any:
    """Resume in a new operator, as dag.test() of Airflow 3.3.2 does: with ``{"event": ...}`` only."""
    return _one_at_a_time(source, conn_id, **kwargs).resume_execution(
        "resume_import", {"event": event}, context
    )


@pytest.mark.marketo_simulator(rows_per_second=200)
def test_source_changed_while_deferred_is_an_error(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    source = write_rows(tmp_path / "a.csv", lead_rows(200))
    context, _ = _defer_once(source, marketo_conn_id)
    write_rows(source, lead_rows(200, start=1))
    with pytest.raises(AirflowException, match="changed while this task was deferred"):
        _resume(source, marketo_conn_id, context, OK_EVENT)
    assert len(our_jobs(marketo_simulator)) == 1


@pytest.mark.marketo_simulator(rows_per_second=200)
def test_trigger_error_event_fails_the_task(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    source = write_rows(tmp_path / "a.csv", lead_rows(200))
    context, _ = _defer_once(source, marketo_conn_id)
    event = {"status": "error", "message": "Batch 7 is unknown or expired", "batches": []}
    with pytest.raises(AirflowException, match="Batch 7 is unknown or expired"):
        _resume(source, marketo_conn_id, context, event)


def test_resume_without_a_manifest_of_this_try_is_a_clear_error(tmp_path: Path, marketo_conn_id: str) -> None:
    source = write_rows(tmp_path / "a.csv", lead_rows(2))
    with pytest.raises(AirflowException, match="holds no state of try 1"):
        _resume(source, marketo_conn_id, make_context(), OK_EVENT)


@pytest.mark.marketo_simulator(rows_per_second=200)
def test_execution_timeout_bounds_the_time_deferred(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_rows(tmp_path / "a.csv", lead_rows(200))
    limit = {"execution_timeout": timedelta(minutes=10)}
    context, deferred = _defer_once(source, marketo_conn_id, **limit)
    assert isinstance(deferred.timeout, timedelta)
    assert timedelta(minutes=9) < deferred.timeout <= timedelta(minutes=10)
    # Eleven minutes later (deferred all along), the resumed try stops instead of submitting more.
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 660)
    with pytest.raises(AirflowTaskTimeout, match="execution_timeout"):
        _resume(source, marketo_conn_id, context, OK_EVENT, **limit)
    assert len(our_jobs(marketo_simulator)) == 1


def test_defer_kwargs_of_an_older_version_are_ignored(tmp_path: Path, marketo_conn_id: str) -> None:
    # A task deferred before an upgrade resumes with {"state": ...} as well; it is not needed.
    op = lead_op(write_rows(tmp_path / "a.csv", lead_rows(2)), marketo_conn_id)
    with pytest.raises(AirflowException, match="holds no state"):
        op.resume_execution("resume_import", {"state": {"submitted": []}, "event": None}, make_context())
