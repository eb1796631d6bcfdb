"""BulkImportTrigger against the Marketo simulator over real HTTP."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from collections.abc import Awaitable, Callable
from itertools import islice
from typing import Any

import pytest

from airflow_provider_marketo.backoff import backoff_delay, poll_delays
from airflow_provider_marketo.exceptions import MarketoBatchNotFoundError, MarketoRetryableError
from airflow_provider_marketo.hooks.marketo import AsyncMarketoHook
from airflow_provider_marketo.objects import BulkTarget, ImportStatus
from airflow_provider_marketo.testing.config import DEFAULT_CLIENT_SECRET
from airflow_provider_marketo.triggers.bulk_import import BulkImportTrigger, describe_error
from tests._support.sim import create_lead_job, good_rows, mixed_rows, set_connection
from tests._support.tasks import first_event

LEADS = BulkTarget("leads").to_dict()


def import_string(classpath: str) -> Any:
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)


def make_trigger(batch_ids: list[int], conn_id: str = "marketo_default", **kwargs: Any) -> BulkImportTrigger:
    kwargs.setdefault("poll_interval", 0.05)
    return BulkImportTrigger(marketo_conn_id=conn_id, target=LEADS, batch_ids=batch_ids, **kwargs)


def on_sim_clock(trigger: BulkImportTrigger, sim: Any) -> list[float]:
    """Replace the trigger's sleep by a jump of the simulator clock; return the recorded waits."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        sim.advance_clock(seconds)

    trigger._sleep = sleep  # type: ignore[method-assign]
    return waits


def test_poll_delays_back_off_to_the_maximum() -> None:
    assert list(islice(poll_delays(5, 30), 8)) == [5, 7.5, 11.25, 16.875, 25.3125, 30, 30, 30]
    # A poll interval above the maximum is kept as is.
    assert list(islice(poll_delays(60, 30), 3)) == [60, 60, 60]
    # The queue wait's delay by attempt is the same schedule (one policy for every wait).
    assert [backoff_delay(5, n, 30) for n in range(8)] == list(islice(poll_delays(5, 30), 8))
    assert backoff_delay(60, 3, 30) == 60


def test_serialize_round_trips_as_json() -> None:
    trigger = make_trigger([7, 8], deadline=1234.5, max_pending=3, max_transient_errors=4)
    classpath, kwargs = trigger.serialize()
    assert import_string(classpath) is BulkImportTrigger
    kwargs = json.loads(json.dumps(kwargs))
    assert kwargs == {
        "marketo_conn_id": "marketo_default",
        "target": LEADS,
        "batch_ids": [7, 8],
        "poll_interval": 0.05,
        "max_poll_interval": 30.0,
        "deadline": 1234.5,
        "max_pending": 3,
        "max_transient_errors": 4,
    }
    assert BulkImportTrigger(**kwargs).serialize() == (classpath, kwargs)


@pytest.mark.parametrize("kwargs", [{"poll_interval": 0}, {"max_pending": -1}, {"max_transient_errors": -1}])
def test_rejects_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        make_trigger([1], **kwargs)


async def test_success_with_counts(marketo_simulator: Any, marketo_conn_id: str) -> None:
    first = create_lead_job(marketo_simulator, good_rows(3))
    second = create_lead_job(marketo_simulator, mixed_rows())
    event = await first_event(make_trigger([first, second], marketo_conn_id))
    assert event["status"] == "success"
    assert event["message"] == "2 of 2 import jobs finished"
    statuses = [ImportStatus.from_dict(b) for b in event["batches"]]
    assert [(s.batch_id, s.status) for s in statuses] == [(first, "Complete"), (second, "Complete")]
    assert (statuses[0].rows_processed, statuses[0].rows_failed, statuses[0].rows_with_warning) == (3, 0, 0)
    assert (statuses[1].rows_processed, statuses[1].rows_failed, statuses[1].rows_with_warning) == (5, 2, 2)


async def test_failed_job_gives_failed_with_marketo_message(
    marketo_simulator: Any, marketo_conn_id: str
) -> None:
    ok = create_lead_job(marketo_simulator, good_rows(2))
    marketo_simulator.fail_next_jobs(1, "Import failed: file corrupt")
    bad = create_lead_job(marketo_simulator, good_rows(2))
    event = await first_event(make_trigger([ok, bad], marketo_conn_id))
    assert event["status"] == "failed"
    assert event["message"] == f"Batch {bad} failed: Import failed: file corrupt"
    assert [b["status"] for b in event["batches"]] == ["Complete", "Failed"]


async def test_unknown_batch_id_is_an_error(marketo_simulator: Any, marketo_conn_id: str) -> None:
    ok = create_lead_job(marketo_simulator, good_rows(1))
    event = await first_event(make_trigger([ok, 999999], marketo_conn_id))
    assert event["status"] == "error"
    assert event["message"].startswith("Batch 999999 is unknown or expired")


async def test_expired_batch_id_is_an_error(marketo_simulator: Any, marketo_conn_id: str) -> None:
    batch_id = create_lead_job(marketo_simulator, good_rows(1))
    marketo_simulator.advance_clock(8 * 24 * 3600)
    event = await first_event(make_trigger([batch_id], marketo_conn_id))
    assert event["status"] == "error"
    assert f"Batch {batch_id} is unknown or expired" in event["message"]


async def test_bad_credentials_are_an_error_without_secret(
    marketo_simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch_id = create_lead_job(marketo_simulator, good_rows(1))
    monkeypatch.setenv(
        "AIRFLOW_CONN_MARKETO_BAD", marketo_simulator.connection_json(password="wrong-secret-42", extra={})
    )
    event = await first_event(make_trigger([batch_id], "marketo_bad"))
    assert event["status"] == "error"
    assert "wrong-secret-42" not in event["message"]
    assert event["batches"] == []


@pytest.mark.marketo_simulator(rows_per_second=1)
async def test_deadline_in_the_past_gives_timeout_with_last_statuses(
    marketo_simulator: Any, marketo_conn_id: str
) -> None:
    batch_id = create_lead_job(marketo_simulator, good_rows(50))
    event = await first_event(make_trigger([batch_id], marketo_conn_id, deadline=time.time() - 1))
    assert event["status"] == "timeout"
    assert f"batch ids [{batch_id}]" in event["message"]
    assert [b["status"] for b in event["batches"]] in (["Queued"], ["Importing"])


@pytest.mark.marketo_simulator(rows_per_second=1)
async def test_short_deadline_caps_the_wait(marketo_simulator: Any, marketo_conn_id: str) -> None:
    batch_id = create_lead_job(marketo_simulator, good_rows(50))
    trigger = make_trigger([batch_id], marketo_conn_id, poll_interval=60, deadline=time.time() + 2.0)
    waits: list[float] = []
    real_sleep = trigger._sleep

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await real_sleep(seconds)

    trigger._sleep = sleep  # type: ignore[method-assign]
    event = await first_event(trigger)
    assert event["status"] == "timeout"
    # 2 s, not less: Airflow 3.1 takes ~0.5 s for the first aget_connection alone.
    assert waits and all(w <= 2.0 for w in waits)


@pytest.mark.marketo_simulator(rows_per_second=1)
async def test_backs_off_between_polls(marketo_simulator: Any, marketo_conn_id: str) -> None:
    batch_id = create_lead_job(marketo_simulator, good_rows(100))
    trigger = make_trigger([batch_id], marketo_conn_id, poll_interval=5, max_poll_interval=30)
    waits = on_sim_clock(trigger, marketo_simulator)
    event = await first_event(trigger)
    assert event["status"] == "success"
    assert waits == [5, 7.5, 11.25, 16.875, 25.3125, 30, 30]


@pytest.mark.marketo_simulator(rows_per_second=1)
async def test_max_pending_stops_when_enough_jobs_are_done(
    marketo_simulator: Any, marketo_conn_id: str
) -> None:
    # Two jobs import at a time: A and B finish at t=10, C at t=20.
    ids = [create_lead_job(marketo_simulator, good_rows(10, prefix=p)) for p in "abc"]
    trigger = make_trigger(ids, marketo_conn_id, poll_interval=5, max_pending=1)
    waits = on_sim_clock(trigger, marketo_simulator)
    event = await first_event(trigger)
    assert event["status"] == "success"
    assert "1 still queued or importing (max_pending=1)" in event["message"]
    assert [b["status"] for b in event["batches"]] == ["Complete", "Complete", "Importing"]
    assert sum(waits) < 20

    trigger = make_trigger(ids, marketo_conn_id, poll_interval=5)
    on_sim_clock(trigger, marketo_simulator)
    event = await first_event(trigger)
    assert event["status"] == "success"
    assert [b["status"] for b in event["batches"]] == ["Complete"] * 3


def flaky_status(
    monkeypatch: pytest.MonkeyPatch, failures: int
) -> Callable[[AsyncMarketoHook, BulkTarget, int], Awaitable[ImportStatus]]:
    """Make the hook's status call raise a transient error ``failures`` times, then work."""
    real = AsyncMarketoHook.get_import_status
    left = [failures]

    async def get_import_status(self: AsyncMarketoHook, target: BulkTarget, batch_id: int) -> ImportStatus:
        if left[0] > 0:
            left[0] -= 1
            raise MarketoRetryableError("Bad gateway", http_status=502)
        return await real(self, target, batch_id)

    monkeypatch.setattr(AsyncMarketoHook, "get_import_status", get_import_status)
    return get_import_status


@pytest.mark.parametrize(("failures", "status"), [(3, "success"), (4, "error")])
async def test_consecutive_transient_errors(
    marketo_simulator: Any, marketo_conn_id: str, monkeypatch: pytest.MonkeyPatch, failures: int, status: str
) -> None:
    batch_id = create_lead_job(marketo_simulator, good_rows(1))
    flaky_status(monkeypatch, failures)
    trigger = make_trigger([batch_id], marketo_conn_id, max_transient_errors=3)
    on_sim_clock(trigger, marketo_simulator)
    event = await first_event(trigger)
    assert event["status"] == status
    if status == "error":
        assert event["message"].startswith("Gave up after 4 consecutive rounds of transient errors")


async def test_gateway_errors_outliving_the_hook_retries(
    marketo_simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch_id = create_lead_job(marketo_simulator, good_rows(1))
    set_connection(monkeypatch, marketo_simulator, "marketo_once", base={}, extra={"max_attempts": 1})
    marketo_simulator.inject("http_error", count=2, path=rf"/batch/{batch_id}\.json", status=502)
    trigger = make_trigger([batch_id], "marketo_once", max_transient_errors=1)
    on_sim_clock(trigger, marketo_simulator)
    event = await first_event(trigger)
    assert event["status"] == "error"
    assert "502" in event["message"]


@pytest.mark.marketo_simulator(rows_per_second=1)
async def test_recreated_from_serialized_kwargs_mid_job(marketo_simulator: Any, marketo_conn_id: str) -> None:
    batch_id = create_lead_job(marketo_simulator, good_rows(30))
    trigger = make_trigger([batch_id], marketo_conn_id, poll_interval=5)
    polled = asyncio.Event()

    async def sleep_forever(seconds: float) -> None:
        polled.set()
        await asyncio.Event().wait()

    trigger._sleep = sleep_forever  # type: ignore[method-assign]
    task = asyncio.create_task(first_event(trigger))
    await asyncio.wait_for(polled.wait(), timeout=30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert {j["batch_id"]: j["status"] for j in marketo_simulator.jobs}[batch_id] in ("Queued", "Importing")

    classpath, kwargs = trigger.serialize()
    serialized = json.dumps(kwargs)
    assert DEFAULT_CLIENT_SECRET not in serialized
    assert marketo_simulator.access_token() not in serialized
    again = import_string(classpath)(**json.loads(serialized))
    on_sim_clock(again, marketo_simulator)
    event = await first_event(again)
    assert event["status"] == "success"
    assert event["batches"][0]["rows_processed"] == 30


@pytest.mark.parametrize(
    ("target", "looked_up"),
    [
        (BulkTarget("leads"), "among lead imports (object_type='leads', the default)"),
        (BulkTarget("custom_objects", api_name="car_c"), "among imports of custom object 'car_c'"),
        (BulkTarget("program_members", program_id=1001), "among program member imports"),
    ],
)
def test_batch_not_found_names_how_it_was_looked_up(target: BulkTarget, looked_up: str) -> None:
    """Issue 14: right after creation, "not found" usually means the wrong object_type."""
    error = MarketoBatchNotFoundError("Batch not found", code="1013")
    text = describe_error(7, error, target)
    assert text.startswith("Batch 7 is unknown or expired (Marketo keeps batch ids for 7 days)")
    assert looked_up in text
    assert "pass the import task's output as batch_ids, which names its target" in text
    assert describe_error(7, MarketoRetryableError("busy", code="604"), target) == (
        "Status check of batch 7 failed: Marketo error 604: busy"
    )
