"""Errors no retry can change fail a task at once; the daily quota is never retried before its reset
(issue 22). The tries under ``dag.test()`` are counted in ``tests/e2e/test_tries.py``."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_provider_marketo._compat import AirflowException, AirflowFailException, TaskDeferred
from airflow_provider_marketo.exceptions import (
    MarketoAuthError,
    MarketoBatchNotFoundError,
    MarketoConfigError,
    MarketoListBusyError,
    MarketoQueueFullError,
    MarketoQuotaError,
    MarketoRateLimitError,
    MarketoRequestError,
    MarketoRetryableError,
    MarketoTokenError,
    failing_without_retry,
    without_retry,
)
from airflow_provider_marketo.hooks._errors import quota_reset
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.operators._quota import QUOTA_RESET_MARGIN, quota_trigger
from airflow_provider_marketo.operators.bulk_import import BulkLeadImportOperator
from airflow_provider_marketo.sensors.bulk_import import BulkImportSensor
from airflow_provider_marketo.triggers.bulk_import import BulkImportTrigger, error_of_event
from airflow_provider_marketo.utils.formats import InputFileError
from airflow_provider_marketo.utils.parts import SourceChangedError
from airflow_provider_marketo.utils.rows import RowValueError
from tests._support.files import write_rows
from tests._support.sim import create_calls
from tests._support.tasks import FakeTaskInstance, first_event, make_context

HEADER = ["email", "firstName", "leadScore"]


def _source(tmp_path: Path, count: int = 30, header: list[str] = HEADER) -> Path:
    rows = [header] + [[f"q{i}@example.com", f"Q {i}", str(i)][: len(header)] for i in range(count)]
    return write_rows(tmp_path / "leads.csv", rows)


@pytest.mark.parametrize(
    "error",
    [
        InputFileError("leads.csv: column 2 has no name"),
        RowValueError("Row 3 of <rows>, column 'note': not valid Unicode"),
        MarketoConfigError("Connection 'marketo_default' has no host."),
        MarketoAuthError("Access denied", code="603"),
        MarketoAuthError("Marketo rejected the credentials", http_status=401),
        MarketoRequestError("Static list 42 not found", code="1013"),
        MarketoRequestError("Field(s) not found: favouriteColour", code="1006"),
        MarketoBatchNotFoundError("Batch not found", code="1013"),
        MarketoQuotaError("Max rate limit exceeded", code="607"),
    ],
    ids=lambda e: f"{type(e).__name__}-{getattr(e, 'code', None)}",
)
def test_errors_no_retry_can_change_fail_at_once(error: Exception) -> None:
    final = without_retry(error)
    assert isinstance(final, AirflowFailException)
    assert isinstance(final, type(error))  # ``except InputFileError`` etc. still catch it
    assert str(final).startswith(str(error)) and "[Not retried: " in str(final)
    assert getattr(final, "code", None) == getattr(error, "code", None)


@pytest.mark.parametrize(
    "error",
    [
        MarketoRetryableError("Service unavailable", http_status=503),
        MarketoRateLimitError("Max rate limit '100' exceeded", code="606"),
        MarketoTokenError("Access token expired", code="602"),
        MarketoQueueFullError("Too many jobs", code="1016"),
        MarketoListBusyError("Import in progress", code="1019"),
        SourceChangedError("leads.csv changed while it was read"),  # a retry plans it again
        AirflowException("anything else"),
        OSError("disk full"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_transient_and_unknown_errors_keep_their_retries(error: Exception) -> None:
    assert without_retry(error) is None
    with pytest.raises(type(error)) as raised, failing_without_retry():
        raise error
    assert raised.value is error


def test_a_bad_header_fails_the_import_at_once(marketo_conn_id: str, tmp_path: Path) -> None:
    source = write_rows(tmp_path / "leads.csv", [["email", "", "leadScore"], ["a@example.com", "A", "1"]])
    op = BulkLeadImportOperator(task_id="import", source=source, marketo_conn_id=marketo_conn_id)
    with pytest.raises(InputFileError) as raised:
        op.execute(make_context())
    assert isinstance(raised.value, AirflowFailException)


def test_a_schema_mismatch_fails_at_once(marketo_conn_id: str, tmp_path: Path) -> None:
    source = write_rows(tmp_path / "leads.csv", [["email", "favouriteColour"], ["a@example.com", "blue"]])
    op = BulkLeadImportOperator(task_id="import", source=source, marketo_conn_id=marketo_conn_id)
    with pytest.raises(AirflowFailException, match="favouriteColour"):
        op.execute(make_context())


def test_access_denied_fails_at_once(marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path) -> None:
    marketo_simulator.inject("error_code", code="603", path="leads.json")
    op = BulkLeadImportOperator(
        task_id="import", source=_source(tmp_path), marketo_conn_id=marketo_conn_id, check_schema=False
    )
    with pytest.raises(MarketoAuthError, match=r"603.*Not retried") as raised:
        op.execute(make_context())
    assert isinstance(raised.value, AirflowFailException)


def test_an_unknown_list_fails_at_once(marketo_conn_id: str, tmp_path: Path) -> None:
    op = BulkLeadImportOperator(
        task_id="import", source=_source(tmp_path), marketo_conn_id=marketo_conn_id, list_id=424242
    )
    with pytest.raises(AirflowFailException, match=r"1013.*Static list 424242 not found"):
        op.execute(make_context())


def test_the_sensor_fails_at_once_on_an_unknown_batch(marketo_conn_id: str) -> None:
    sensor = BulkImportSensor(
        task_id="wait", batch_ids=[987654], marketo_conn_id=marketo_conn_id, deferrable=False, timeout=30
    )
    with pytest.raises(AirflowFailException, match="unknown or expired"):
        sensor.execute(make_context(FakeTaskInstance(task_id="wait")))


def test_the_quota_resets_at_midnight_us_central() -> None:
    # 2026-11-29 23:30 UTC is 17:30 in Chicago (CST, UTC-6): the reset is 06:00 UTC the next day.
    now = pendulum.datetime(2026, 11, 29, 23, 30, tz="UTC")
    assert quota_reset(now) == pendulum.datetime(2026, 11, 30, 6, tz="UTC")
    # In summer (CDT, UTC-5) midnight in Chicago is 05:00 UTC.
    assert quota_reset(pendulum.datetime(2026, 7, 1, 12, tz="UTC")) == pendulum.datetime(
        2026, 7, 2, 5, tz="UTC"
    )
    assert quota_trigger(now).moment == pendulum.datetime(2026, 11, 30, 6, tz="UTC") + QUOTA_RESET_MARGIN


def test_without_deferrable_the_quota_fails_at_once_saying_when_to_retry(
    marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path
) -> None:
    marketo_simulator.inject("error_code", code="607", path="leads.json")
    op = BulkLeadImportOperator(
        task_id="import", source=_source(tmp_path), marketo_conn_id=marketo_conn_id, deferrable=False
    )
    with pytest.raises(MarketoQuotaError) as raised:
        op.execute(make_context())
    assert isinstance(raised.value, AirflowFailException)
    reset = quota_reset().in_timezone("UTC")
    message = str(raised.value)
    assert f"{reset:%Y-%m-%d %H:%M} UTC" in message  # when it resets
    assert "clear the task after the reset" in message  # when to retry


@pytest.mark.marketo_simulator(rows_per_second=0)
def test_deferrable_waits_for_the_quota_reset_then_submits_the_rest_once(
    marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path
) -> None:
    """The first part is accepted, the second meets the quota: the task defers until the reset, then
    goes on from its manifest and submits only the second part."""
    source = _source(tmp_path, 150)
    store_ti = FakeTaskInstance(max_tries=3)
    context = make_context(store_ti)

    def op() -> BulkLeadImportOperator:  # a new operator per process, as Airflow runs it
        return BulkLeadImportOperator(
            task_id="import",
            source=source,
            marketo_conn_id=marketo_conn_id,
            part_size=1024,
            deferrable=True,
            retries=3,
            poll_interval=0.05,
        )

    before = create_calls(marketo_simulator.api_calls())
    creates = 0
    real = MarketoHook.create_import

    def create_import(hook: MarketoHook, *args: Any, **kwargs: Any) -> int:
        nonlocal creates
        creates += 1
        if creates == 2:  # the second part meets the daily quota
            marketo_simulator.inject("error_code", code="607", path="leads.json")
        return real(hook, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MarketoHook, "create_import", create_import)
        with pytest.raises(TaskDeferred) as deferred:
            op().execute(context)
    trigger = deferred.value.trigger
    assert type(trigger).__name__ == "DateTimeTrigger"
    assert trigger.moment == quota_reset().in_timezone("UTC") + QUOTA_RESET_MARGIN
    assert deferred.value.method_name == "resume_after_quota"
    assert deferred.value.timeout is None
    assert len(store_ti.xcoms) == 0  # nothing pushed yet

    event = json.loads(json.dumps({"event": trigger.moment.isoformat()}))
    output = op().resume_execution(deferred.value.method_name, event, context)
    batch_ids = [batch["batch_id"] for batch in output["batches"]]
    planned = len(batch_ids)
    assert planned >= 3 and store_ti.xcoms["batch_ids"] == batch_ids
    # Two accepted creates and one refused (607): every part is submitted once.
    assert create_calls(marketo_simulator.api_calls()) - before == planned + 1
    jobs = [job for job in marketo_simulator.jobs if not job["foreign"]]
    assert sorted(job["batch_id"] for job in jobs) == sorted(batch_ids)
    assert timedelta(0) < QUOTA_RESET_MARGIN <= timedelta(minutes=10)


# An error the trigger meets is raised on the worker with the class of Marketo's error (its code).


def _status_fault(sim: Any, code: str) -> None:
    sim.inject("error_code", code=code, path="/batch/")


def test_an_error_event_carries_the_marketo_code(marketo_simulator: Any, marketo_conn_id: str) -> None:
    from tests._support.sim import create_lead_job, good_rows

    batch_id = create_lead_job(marketo_simulator, good_rows(2))
    _status_fault(marketo_simulator, "603")
    trigger = BulkImportTrigger(
        marketo_conn_id=marketo_conn_id, target={"kind": "leads"}, batch_ids=[batch_id]
    )
    event = asyncio.run(first_event(trigger))
    assert (event["status"], event["code"]) == ("error", "603")
    error = error_of_event(event, event["message"])
    assert isinstance(error, MarketoAuthError) and isinstance(without_retry(error), AirflowFailException)
    assert type(error_of_event({"status": "error", "message": "x"}, "x")) is AirflowException


def test_the_deferred_sensor_fails_at_once_on_the_quota(marketo_simulator: Any, marketo_conn_id: str) -> None:
    from tests._support.sim import create_lead_job, good_rows

    batch_id = create_lead_job(marketo_simulator, good_rows(2))
    sensor = BulkImportSensor(
        task_id="wait", batch_ids=[batch_id], marketo_conn_id=marketo_conn_id, deferrable=True, timeout=30
    )
    context = make_context(FakeTaskInstance(task_id="wait"))
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)
    _status_fault(marketo_simulator, "607")
    event = asyncio.run(first_event(deferred.value.trigger))
    with pytest.raises(MarketoQuotaError, match=r"00:00 US Central.*Not retried") as raised:
        sensor.resume_execution("execute_complete", {"event": event}, context)
    assert isinstance(raised.value, AirflowFailException)


@pytest.mark.marketo_simulator(rows_per_second=0)
def test_a_quota_met_while_waiting_in_the_triggerer_waits_for_the_reset(
    marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path
) -> None:
    """wait_for_completion, deferred: the trigger meets 607; the task defers until the reset, then
    waits for the same jobs again and finishes them, without submitting anything again."""
    source = _source(tmp_path, 150)
    ti = FakeTaskInstance()
    context = make_context(ti)

    def op() -> BulkLeadImportOperator:
        return BulkLeadImportOperator(
            task_id="import",
            source=source,
            marketo_conn_id=marketo_conn_id,
            part_size=1024,
            max_active_jobs=10,
            deferrable=True,
            wait_for_completion=True,
            poll_interval=0.05,
        )

    with pytest.raises(TaskDeferred) as first:
        op().execute(context)
    creates = create_calls(marketo_simulator.api_calls())
    _status_fault(marketo_simulator, "607")
    event = asyncio.run(first_event(first.value.trigger))
    assert event["code"] == "607"
    with pytest.raises(TaskDeferred) as quota:
        op().resume_execution(first.value.method_name, {"event": event}, context)
    assert quota.value.method_name == "resume_after_quota"
    assert type(quota.value.trigger).__name__ == "DateTimeTrigger"
    with pytest.raises(TaskDeferred) as again:
        op().resume_execution(
            "resume_after_quota", {"event": quota.value.trigger.moment.isoformat()}, context
        )
    assert again.value.method_name == "resume_import"
    assert again.value.trigger.batch_ids == ti.xcoms["batch_ids"]
    event = asyncio.run(first_event(again.value.trigger))
    summary = op().resume_execution("resume_import", {"event": event}, context)["result"]
    assert summary is not None
    assert (
        summary["rows_processed"] == 150
        and [b["batch_id"] for b in summary["batches"]] == ti.xcoms["batch_ids"]
    )
    assert create_calls(marketo_simulator.api_calls()) == creates  # nothing submitted again
