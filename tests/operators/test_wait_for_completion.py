"""``wait_for_completion=True`` on the import operators: the task waits for its own jobs (deferring or
polling on the worker), then finishes them with the sensor's code and returns the sensor's summary."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_marketo._compat import AirflowException, AirflowTaskTimeout, TaskDeferred
from airflow_provider_marketo.exceptions import MarketoBatchNotFoundError, MarketoRetryableError
from airflow_provider_marketo.objects import BulkTarget, ImportStatus
from airflow_provider_marketo.operators._completion import wait_on_worker
from airflow_provider_marketo.operators.bulk_import import BulkLeadImportOperator
from airflow_provider_marketo.operators.output import batch_ids_of, check_output
from airflow_provider_marketo.results import ImportResultError
from airflow_provider_marketo.sensors.bulk_import import BulkImportSensor
from airflow_provider_marketo.triggers.bulk_import import BulkImportTrigger
from tests._support.files import write_rows
from tests._support.sim import our_jobs
from tests._support.tasks import FakeTaskInstance, first_event, make_context

HEADER = ["email", "firstName", "leadScore"]


def _rows(count: int) -> list[list[str]]:
    """Every 9th row has a score Marketo cannot store (it fails), every 13th an invalid email (warning)."""
    rows = [HEADER]
    for i in range(1, count + 1):
        email = f"w{i}@example" if i % 13 == 0 else f"w{i}@example.com"
        rows.append([email, f"Ann {i}", "high" if i % 9 == 0 else str(i)])
    return rows


def _op(source: Path, conn_id: str, **kwargs: Any) -> BulkLeadImportOperator:
    kwargs.setdefault("task_id", "import")
    return BulkLeadImportOperator(
        source=source, marketo_conn_id=conn_id, poll_interval=0.05, part_size=2048, **kwargs
    )


def _normalised(summary: dict[str, Any], results: Path) -> str:
    """The summary with batch ids numbered in order and the results folder cut off (two runs of the
    same file create different batch ids)."""
    summary = {key: value for key, value in summary.items() if key not in ("task_id", "map_index")}
    text = json.dumps(summary, sort_keys=True).replace(results.as_uri(), "<results>")
    text = re.sub(r"(<results>/)\w+\.(failures|warnings|report)", r"\1<task>.\2", text)
    for n, batch_id in enumerate(sorted(b["batch_id"] for b in summary["batches"])):
        text = re.sub(rf"(?<!\d){batch_id}(?!\d)", f"<batch {n}>", text)
    return text


@pytest.mark.marketo_simulator(rows_per_second=400)
def test_on_the_worker_returns_the_same_summary_as_the_two_task_dag(
    marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path
) -> None:
    """Jobs that take time (400 rows/s); the one-task import equals import + sensor for the same file."""
    source = write_rows(tmp_path / "leads.csv", _rows(300))
    one, two = tmp_path / "one", tmp_path / "two"

    ti = FakeTaskInstance()
    output = _op(
        source, marketo_conn_id, wait_for_completion=True, deferrable=False, results_path=one.as_uri() + "/"
    ).execute(make_context(ti))
    summary = check_output(output)["result"]
    assert summary is not None
    assert ti.xcoms["batch_ids"] == [b["batch_id"] for b in summary["batches"]]
    assert len(summary["batches"]) >= 3
    assert summary["rows_failed"] == 300 // 9 and summary["rows_sent"] == 300
    assert summary["rows_processed"] + summary["rows_failed"] == 300
    assert (one / "import.failures.csv").is_file() and (one / "import.report.json").is_file()

    ti2 = FakeTaskInstance(task_id="import2")
    output2 = check_output(
        _op(source, marketo_conn_id, task_id="import2", deferrable=False).execute(make_context(ti2))
    )
    # The same type in both modes: only the result differs.
    assert output2["result"] is None
    assert output2["rows_sent"] == output["rows_sent"] == 300
    assert [b["rows_sent"] for b in output2["batches"]] == [b["rows_sent"] for b in output["batches"]]
    assert output2["target"] == output["target"]
    sensor = BulkImportSensor(
        task_id="wait",
        batch_ids=output2,  # the whole output: target and rows sent come with it
        results_path=two.as_uri() + "/",
        marketo_conn_id=marketo_conn_id,
        poll_interval=0.05,
        deferrable=False,
        timeout=60,
    )
    expected = sensor.execute(make_context(FakeTaskInstance(task_id="wait")))
    assert _normalised(summary, one) == _normalised(expected, two)


@pytest.mark.marketo_simulator(rows_per_second=400)
def test_deferrable_waits_in_the_trigger_and_resumes_without_defer_kwargs(
    marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path
) -> None:
    source = write_rows(tmp_path / "leads.csv", _rows(120))
    op = _op(source, marketo_conn_id, wait_for_completion=True, deferrable=True, max_active_jobs=10)
    ti = FakeTaskInstance()
    context = make_context(ti)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, BulkImportTrigger)
    assert deferred.value.method_name == "resume_import"  # the one resume method, for either wait
    assert trigger.batch_ids == ti.xcoms["batch_ids"]
    assert trigger.max_pending == 0
    assert trigger.deadline == pytest.approx(time.time() + 7 * 86400, abs=60)  # the default timeout
    event = asyncio.run(first_event(trigger))
    # Only the event comes back (no defer kwargs), as under Airflow 3.3.2's dag.test() (apache/airflow#69942).
    output = check_output(op.resume_execution("resume_import", {"event": event}, context))
    summary = output["result"]
    assert summary is not None
    assert batch_ids_of(output) == ti.xcoms["batch_ids"]
    assert [b["batch_id"] for b in summary["batches"]] == ti.xcoms["batch_ids"]
    assert summary["rows_processed"] + summary["rows_failed"] == 120 == summary["rows_sent"]
    assert event["status"] == "success"
    lineage = op.get_openlineage_facets_on_complete(None).outputs[0]
    assert [f.name for f in lineage.facets["schema"].fields] == HEADER
    assert lineage.outputFacets["outputStatistics"].rowCount == summary["rows_processed"]


def test_execution_timeout_bounds_the_deferred_wait(marketo_conn_id: str, tmp_path: Path) -> None:
    source = write_rows(tmp_path / "leads.csv", _rows(10))
    op = _op(
        source,
        marketo_conn_id,
        wait_for_completion=True,
        deferrable=True,
        execution_timeout=timedelta(seconds=120),
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context())
    assert deferred.value.timeout is not None and deferred.value.timeout <= timedelta(seconds=120)
    assert deferred.value.trigger.deadline is not None


@pytest.mark.parametrize(
    ("event", "error", "match"),
    [
        (
            {"status": "timeout", "message": "late", "batches": []},
            AirflowTaskTimeout,
            "did not finish in time",
        ),
        ({"status": "error", "message": "boom", "batches": []}, AirflowException, "jobs failed: boom"),
        ({"status": "success", "message": "x", "batches": []}, AirflowException, "Malformed trigger event"),
        ("nonsense", AirflowException, "Malformed trigger event"),
    ],
)
def test_bad_or_unfinished_events_fail(
    marketo_conn_id: str, tmp_path: Path, event: Any, error: type[Exception], match: str
) -> None:
    source = write_rows(tmp_path / "leads.csv", _rows(10))
    op = _op(source, marketo_conn_id, wait_for_completion=True, deferrable=True)
    context = make_context()
    with pytest.raises(TaskDeferred):
        op.execute(context)
    with pytest.raises(error, match=match):
        op.resume_execution("resume_import", {"event": event}, context)


def test_a_failed_job_fails_the_task_after_storing(
    marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path
) -> None:
    source = write_rows(tmp_path / "leads.csv", _rows(10))
    marketo_simulator.fail_next_jobs(1, "Import failed: invalid header")
    ti = FakeTaskInstance()
    op = _op(source, marketo_conn_id, wait_for_completion=True, deferrable=False)
    with pytest.raises(ImportResultError, match="failed: Import failed: invalid header"):
        op.execute(make_context(ti))
    output = check_output(ti.xcoms["return_value"])
    assert output["result"] is not None and output["result"]["status"] == "failed"
    assert (
        ti.xcoms["batch_ids"] == batch_ids_of(output) == [b["batch_id"] for b in output["result"]["batches"]]
    )


def test_default_returns_the_output_without_result(marketo_conn_id: str, tmp_path: Path) -> None:
    source = write_rows(tmp_path / "leads.csv", _rows(10))
    ti = FakeTaskInstance()
    output = check_output(_op(source, marketo_conn_id, deferrable=False).execute(make_context(ti)))
    assert (batch_ids_of(output), output["rows_sent"], output["result"]) == (ti.xcoms["batch_ids"], 10, None)


class _FlakyHook:
    """``get_import_status`` fails ``failures`` times, then answers Complete (or raises ``final``)."""

    def __init__(self, failures: int, final: Exception | None = None) -> None:
        self.failures, self.final, self.calls = failures, final, 0

    def get_import_status(self, target: BulkTarget, batch_id: int) -> ImportStatus:
        self.calls += 1
        if self.calls <= self.failures:
            raise MarketoRetryableError("Service unavailable", code="503")
        if self.final is not None:
            raise self.final
        return ImportStatus(batch_id, "leads", "Complete", 1, 0, 0, "done")


class _Log:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def info(self, msg: str, /, *args: Any) -> None:
        pass

    def warning(self, msg: str, /, *args: Any) -> None:
        self.warnings.append(msg % args)


def _wait(hook: _FlakyHook, log: _Log, max_transient_errors: int = 3) -> list[ImportStatus]:
    return wait_on_worker(
        hook,  # type: ignore[arg-type]
        BulkTarget("leads"),
        [7, 8],
        poll_interval=0.001,
        max_poll_interval=0.001,
        max_transient_errors=max_transient_errors,
        log=log,
    )


def test_worker_wait_tolerates_transient_errors_up_to_the_bound() -> None:
    log = _Log()
    statuses = _wait(_FlakyHook(failures=3), log)
    assert [s.batch_id for s in statuses] == [7, 8]
    assert len(log.warnings) == 3 and "Status check of batch 7 failed" in log.warnings[0]
    with pytest.raises(AirflowException, match="Gave up after 4 consecutive rounds"):
        _wait(_FlakyHook(failures=4), _Log())


def test_worker_wait_fails_on_an_unknown_batch_naming_the_mix_up() -> None:
    with pytest.raises(AirflowException, match=r"unknown or expired.*object_type='leads'"):
        _wait(_FlakyHook(failures=0, final=MarketoBatchNotFoundError("Batch not found", code="1003")), _Log())


def test_the_checks_are_arguments_of_mapped_tasks_too() -> None:
    """The checks stay in the signatures, so .partial()/.expand() accept them (Airflow validates the
    names of mapped arguments against __init__)."""
    import pendulum
    from airflow.sdk import DAG

    with DAG("mapped", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), schedule=None):
        BulkImportSensor.partial(task_id="wait", max_failed_rows=5).expand(batch_ids=[[1], [2]])
        BulkLeadImportOperator.partial(
            task_id="import", wait_for_completion=True, max_failed_ratio=0.5, fail_on_warnings=True
        ).expand(source=["a.csv", "b.csv"])
    op = BulkLeadImportOperator(
        task_id="one", source="a.csv", max_failed_rows=3, fail_on_nothing_imported=False
    )
    assert (op.checks.max_failed_rows, op.checks.fail_on_nothing_imported) == (3, False)
    assert (op.checks.fail_on_unaccounted_rows, op.checks.max_failed_ratio) == (True, None)


@pytest.mark.marketo_simulator(rows_per_second=50)
def test_a_resume_with_parts_left_submits_them_instead_of_finishing(
    marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path
) -> None:
    """One resume method for both waits: resumed after a queue-room deferral (parts left), the task
    submits the next part and does not finish half an import, whatever the event says."""
    source = write_rows(tmp_path / "leads.csv", _rows(200))
    op = _op(source, marketo_conn_id, wait_for_completion=True, deferrable=True, max_active_jobs=1)
    context = make_context()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    assert deferred.value.method_name == "resume_import"  # waiting for queue room, parts left
    jobs = len(our_jobs(marketo_simulator))
    event = asyncio.run(first_event(deferred.value.trigger))  # room: the first job finished
    with pytest.raises(TaskDeferred) as again:
        op.resume_execution("resume_import", {"event": event}, context)
    assert len(our_jobs(marketo_simulator)) == jobs + 1  # the next part went in; nothing finished
    assert again.value.trigger.max_pending == 0 and len(again.value.trigger.batch_ids) == 1
