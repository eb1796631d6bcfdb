"""Every wait of ``wait_for_completion`` has a deadline (issue 22): the operator's ``timeout`` (7 days
by default) or what ``execution_timeout`` leaves; past it the task fails naming its unfinished batches."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_marketo._compat import AirflowTaskTimeout, TaskDeferred
from airflow_provider_marketo.objects import BulkTarget, ImportStatus
from airflow_provider_marketo.operators._completion import DEFAULT_WAIT_TIMEOUT, wait_deadline, wait_on_worker
from airflow_provider_marketo.operators.bulk_import import BulkLeadImportOperator
from airflow_provider_marketo.transfers.sql_to_marketo import SqlToMarketoOperator
from tests._support.files import write_rows
from tests._support.tasks import FakeTaskInstance, make_context

HEADER = ["email", "firstName", "leadScore"]


def _source(tmp_path: Path, count: int = 60) -> Path:
    rows = [HEADER] + [[f"d{i}@example.com", f"D {i}", str(i)] for i in range(count)]
    return write_rows(tmp_path / "leads.csv", rows)


class _Importing:
    """``get_import_status``: batch 7 finishes, batch 8 stays Importing."""

    def get_import_status(self, target: BulkTarget, batch_id: int) -> ImportStatus:
        state = "Complete" if batch_id == 7 else "Importing"
        return ImportStatus(batch_id, "leads", state, 1, 0, 0, state)


class _Log:
    def info(self, msg: str, /, *args: Any) -> None:
        pass

    def warning(self, msg: str, /, *args: Any) -> None:
        pass


def test_the_worker_wait_fails_at_its_deadline_naming_the_unfinished_batches() -> None:
    start = time.monotonic()
    with pytest.raises(AirflowTaskTimeout, match=r"Batches \[8\] \(1 of 2\) are still queued or importing"):
        wait_on_worker(
            _Importing(),  # type: ignore[arg-type]
            BulkTarget("leads"),
            [7, 8],
            poll_interval=0.05,
            max_poll_interval=0.05,
            max_transient_errors=3,
            log=_Log(),
            deadline=time.time() + 0.5,
            bound="timeout=0.5 s",
        )
    assert 0.45 <= time.monotonic() - start < 2


def test_the_deadline_is_the_timeout_or_what_execution_timeout_leaves() -> None:
    assert wait_deadline(30, None, now=1000.0) == (1030.0, "timeout=30 s")
    assert wait_deadline(30, 100, now=1000.0) == (1030.0, "timeout=30 s")
    deadline, bound = wait_deadline(30, 12, now=1000.0)
    assert deadline == 1012.0 and bound.startswith("execution_timeout")
    assert timedelta(days=7) == DEFAULT_WAIT_TIMEOUT


def test_timeout_is_an_argument_of_every_import_operator() -> None:
    assert BulkLeadImportOperator(task_id="a", source="a.csv").timeout == 7 * 86400
    assert BulkLeadImportOperator(task_id="b", source="a.csv", timeout=timedelta(hours=1)).timeout == 3600
    sql = SqlToMarketoOperator(task_id="c", sql="SELECT 1 ORDER BY 1", sql_conn_id="db", timeout=30)
    assert sql.timeout == 30
    with pytest.raises(ValueError, match="timeout must be positive"):
        BulkLeadImportOperator(task_id="d", source="a.csv", timeout=0)


@pytest.mark.marketo_simulator(rows_per_second=0.01)  # 30 rows take 3000 s on the simulator clock
def test_a_worker_wait_past_its_timeout_fails_naming_its_batches(
    marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path
) -> None:
    op = BulkLeadImportOperator(
        task_id="import",
        source=_source(tmp_path),
        marketo_conn_id=marketo_conn_id,
        poll_interval=0.1,
        part_size=1024,
        max_active_jobs=10,
        wait_for_completion=True,
        deferrable=False,
        timeout=1.5,
    )
    ti = FakeTaskInstance()
    start = time.monotonic()
    with pytest.raises(AirflowTaskTimeout) as raised:
        op.execute(make_context(ti))
    waited = time.monotonic() - start
    assert 1.5 <= waited < 6, waited
    named = re.search(r"Batches \[([\d, ]+)\]", str(raised.value))
    assert named is not None and "timeout=1.5 s passed" in str(raised.value)
    assert [int(b) for b in named.group(1).split(", ")] == ti.xcoms["batch_ids"]
    assert len(ti.xcoms["batch_ids"]) >= 2


@pytest.mark.marketo_simulator(rows_per_second=0.01)
def test_execution_timeout_shortens_the_worker_wait(
    marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path
) -> None:
    op = BulkLeadImportOperator(
        task_id="import",
        source=_source(tmp_path, 10),
        marketo_conn_id=marketo_conn_id,
        poll_interval=0.1,
        wait_for_completion=True,
        deferrable=False,
        execution_timeout=timedelta(seconds=1.5),
    )
    with pytest.raises(AirflowTaskTimeout, match=r"still queued or importing .*: execution_timeout"):
        op.execute(make_context())


def test_the_trigger_deadline_is_the_same_bound(marketo_conn_id: str, tmp_path: Path) -> None:
    op = BulkLeadImportOperator(
        task_id="import",
        source=_source(tmp_path, 10),
        marketo_conn_id=marketo_conn_id,
        wait_for_completion=True,
        deferrable=True,
        timeout=30,
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context())
    assert deferred.value.trigger.deadline == pytest.approx(time.time() + 30, abs=5)
    assert deferred.value.timeout is not None and deferred.value.timeout <= timedelta(seconds=30)


@pytest.mark.e2e
@pytest.mark.marketo_simulator(rows_per_second=0.01)
def test_timeout_30_fails_after_about_30_seconds(
    marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path
) -> None:
    """The issue's done-when, at its own scale (30 s of real time: marked e2e)."""
    op = BulkLeadImportOperator(
        task_id="import",
        source=_source(tmp_path, 10),
        marketo_conn_id=marketo_conn_id,
        poll_interval=1,
        wait_for_completion=True,
        deferrable=False,
        timeout=30,
    )
    ti = FakeTaskInstance()
    start = time.monotonic()
    with pytest.raises(AirflowTaskTimeout, match=r"Batches \[\d+\] \(1 of 1\) .* timeout=30 s passed"):
        op.execute(make_context(ti))
    assert 30 <= time.monotonic() - start < 40
