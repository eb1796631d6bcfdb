"""The whole pipeline (operator, deferrable sensor, stored files) under faults injected mid-run."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from airflow.triggers.base import BaseTrigger

from airflow_provider_marketo._compat import AirflowException, AirflowFailException
from airflow_provider_marketo.exceptions import MarketoAuthError, MarketoQuotaError, MarketoRequestError
from airflow_provider_marketo.testing import MarketoSimulator
from airflow_provider_marketo.triggers.bulk_import import BulkImportTrigger
from tests._support.files import received_rows
from tests._support.guard import SecretsGuard, SummaryRow
from tests._support.pipeline import (
    check_row_accounting,
    lead_file,
    on_first_create,
    rebuild,
    run_pipeline,
    run_to_event,
)
from tests._support.sim import (
    FAST_EXTRAS,
    SIM_FAST,
    create_calls,
    file_calls,
    our_jobs,
    set_connection,
    status_calls,
)
from tests._support.tasks import CreateSpy, FakeTaskInstance, first_event

pytestmark = pytest.mark.marketo_simulator(**SIM_FAST)

CREATE = r"^/bulk/v1/leads\.json$"
STATUS = r"^/bulk/v1/leads/batch/\d+\.json$"
FAILURES = r"/failures\.json$"
IDENTITY = r"^/identity/oauth/token$"
#: Parts of at most 1 KiB: the 40-row file of these tests is imported as two jobs.
TWO_PARTS = {"part_size": 1024}


def errors(sim: MarketoSimulator) -> dict[str, int]:
    return dict(sim.counters["errors"])


def test_gateway_errors_in_bursts(
    tmp_path: Path, marketo_simulator: MarketoSimulator, conn_id: str, summary_row: SummaryRow
) -> None:
    summary_row.describe("1. HTTP 500/502/503, HTML bodies, in bursts", "retried, success")
    sim = marketo_simulator
    source, rows = lead_file(tmp_path, 40)
    sim.inject("http_error", status=500, count=3, path=CREATE)
    sim.inject("http_error", status=502, count=2, path=STATUS)
    sim.inject("http_error", status=503, count=2, path=FAILURES)

    result = run_pipeline(sim, source, operator_kwargs=TWO_PARTS, results_dir=tmp_path / "out")

    check_row_accounting(sim, result, rows)
    assert len(result.batch_ids) == 2
    assert len(our_jobs(sim)) == 2  # a 5xx answer never created a job
    statuses = sim.counters["http_status"]
    assert (statuses.get("500"), statuses.get("502"), statuses.get("503")) == (3, 2, 2)
    assert create_calls(result.calls) == 2 + 3
    assert file_calls(result.calls) == 2 + 2
    summary_row.seen = f"success after 7 HTML 5xx answers; {result.summary['message']}"


def test_dropped_connections_and_slow_answers(
    tmp_path: Path,
    marketo_simulator: MarketoSimulator,
    monkeypatch: pytest.MonkeyPatch,
    summary_row: SummaryRow,
) -> None:
    summary_row.describe("2. dropped connections, slow answers (> timeout)", "retried, success")
    sim = marketo_simulator
    set_connection(monkeypatch, sim, extra={**FAST_EXTRAS, "timeout": 1})
    source, rows = lead_file(tmp_path, 40)
    sim.inject("drop", path=IDENTITY)
    sim.inject("drop", count=2, path=CREATE)
    sim.inject("slow", delay=2, path=STATUS)  # polled by the trigger (httpx)
    sim.inject("slow", delay=2, path=FAILURES)  # downloaded by the sensor (requests)

    result = run_pipeline(sim, source, operator_kwargs=TWO_PARTS, results_dir=tmp_path / "out")

    check_row_accounting(sim, result, rows)
    assert len(our_jobs(sim)) == len(result.batch_ids) == 2
    dropped = [r["path"] for r in sim.requests_log if r["status"] == 0]
    assert dropped.count("/identity/oauth/token") == 1
    assert dropped.count("/bulk/v1/leads.json") == 2
    assert sim.pending_faults == []  # both slow answers were waited for, and given up on
    assert status_calls(result.calls) >= 3  # 2 jobs, one status call timed out and was repeated
    summary_row.seen = "success after 3 dropped connections and 2 read timeouts (1 s)"


@pytest.mark.parametrize("when", ["between-polls", "between-uploads"])
def test_token_expiry_mid_run(
    when: str,
    tmp_path: Path,
    marketo_simulator: MarketoSimulator,
    conn_id: str,
    monkeypatch: pytest.MonkeyPatch,
    summary_row: SummaryRow,
) -> None:
    codes = "602, then 601" if when == "between-polls" else "602"
    label = f"3. token expiry {when.replace('-', ' ')} ({codes})"
    summary_row.describe(label, "re-auth, success, exactly 1 extra token")
    sim = marketo_simulator
    source, rows = lead_file(tmp_path, 40)
    run_trigger = run_to_event
    if when == "between-uploads":
        on_first_create(monkeypatch, sim, sim.expire_tokens)  # part 2 is uploaded with an expired token
    else:

        def run_trigger(trigger: BaseTrigger) -> Any:
            sim.expire_tokens()  # between the import and the first (concurrent) polls of the two jobs
            return run_to_event(trigger)

    result = run_pipeline(
        sim, source, operator_kwargs=TWO_PARTS, results_dir=tmp_path / "out", run_trigger=run_trigger
    )

    check_row_accounting(sim, result, rows)
    assert received_rows(sim, result.batch_ids) == rows  # the re-sent upload was whole
    expected = {"602": 1, "601": 1} if when == "between-polls" else {"602": 1}
    assert errors(sim) == expected  # between polls: the second concurrent poll still had the old token
    counters = sim.counters
    assert counters["tokens_issued"] == 2
    assert counters["token_calls"] == 2  # one extra identity call (shared by concurrent polls)
    summary_row.seen = f"success; {' + '.join(expected)} seen, exactly 1 extra token call (2 issued in all)"


@pytest.mark.marketo_simulator(rows_per_second=0.0, window_seconds=0.5, calls_per_window=8)
def test_rate_limit_storm(
    tmp_path: Path,
    marketo_simulator: MarketoSimulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    summary_row: SummaryRow,
) -> None:
    summary_row.describe("4. 606 storm (rate window)", "waits out the window, success, within budget")
    sim = marketo_simulator
    set_connection(monkeypatch, sim, extra={**FAST_EXTRAS, "window_seconds": 0.5, "calls_per_window": 4})
    source, rows = lead_file(tmp_path, 60)
    sim.inject("error_code", code="606", count=3, path=CREATE)
    sim.inject("error_code", code="606", count=2, path=STATUS)

    result = run_pipeline(sim, source, operator_kwargs={"part_size": 1024}, results_dir=tmp_path / "out")

    check_row_accounting(sim, result, rows)
    parts = len(result.batch_ids)
    assert parts == 3
    # Only the injected 606s: the client's own budget (4 calls / 0.5 s) kept under the simulator's 8.
    assert errors(sim) == {"606": 5}
    assert create_calls(result.calls) == parts + 3
    window_waits = [r for r in caplog.records if "waiting out the rate window" in r.getMessage()]
    assert len(window_waits) == 5
    total = sum(result.calls.values())
    summary_row.seen = f"success; 5 x 606 each waited out (0.5 s window), {total} API calls, no real 606"


@pytest.mark.parametrize(
    "source_of_615",
    [
        "injected",
        pytest.param("in-flight", marks=pytest.mark.marketo_simulator(**SIM_FAST, max_in_flight=1)),
    ],
)
def test_concurrency_limit(
    source_of_615: str,
    tmp_path: Path,
    marketo_simulator: MarketoSimulator,
    conn_id: str,
    caplog: pytest.LogCaptureFixture,
    summary_row: SummaryRow,
) -> None:
    how = "injected" if source_of_615 == "injected" else "1 call in flight allowed"
    summary_row.describe(f"5. 615 concurrency ({how})", "backoff, success")
    sim = marketo_simulator
    source, rows = lead_file(tmp_path, 60)
    run_trigger = run_to_event
    if source_of_615 == "injected":
        sim.inject("error_code", code="615", count=2, path=CREATE)
        sim.inject("error_code", code="615", count=2, path=STATUS)
    else:

        def run_trigger(trigger: BaseTrigger) -> Any:
            # The first of the trigger's three concurrent polls holds the only slot for a while.
            sim.inject("slow", delay=0.3, path=STATUS)
            return run_to_event(trigger)

    result = run_pipeline(
        sim,
        source,
        operator_kwargs={"part_size": 1024},
        results_dir=tmp_path / "out",
        run_trigger=run_trigger,
    )

    check_row_accounting(sim, result, rows)
    assert len(our_jobs(sim)) == len(result.batch_ids) == 3
    seen = errors(sim).get("615", 0)
    assert set(errors(sim)) == {"615"}
    assert seen == 4 if source_of_615 == "injected" else seen >= 2
    assert sum("backing off" in r.getMessage() for r in caplog.records) == seen
    summary_row.seen = f"success after {seen} x 615, each retried with backoff"


@pytest.mark.parametrize("where", ["create", "poll"])
def test_daily_quota_fails_fast(
    where: str, tmp_path: Path, marketo_simulator: MarketoSimulator, conn_id: str, summary_row: SummaryRow
) -> None:
    at = "at create" if where == "create" else "while polling"
    summary_row.describe(f"6. 607 daily quota {at}", "fails fast naming quota + reset, no retry")
    sim = marketo_simulator
    source, _ = lead_file(tmp_path, 10)
    sim.inject("error_code", code="607", count=5, path=CREATE if where == "create" else STATUS)
    error = MarketoQuotaError if where == "create" else AirflowException

    with pytest.raises(error) as info:
        run_pipeline(sim, source, results_dir=tmp_path / "out")

    message = str(info.value)
    assert "607" in message
    assert "daily API call quota" in message
    assert "resets at 00:00 US Central" in message
    calls = sim.api_calls()
    assert create_calls(calls) == 1
    assert status_calls(calls) == (0 if where == "create" else 1)
    assert sim.pending_faults[0]["count"] == 4  # nothing retried
    summary_row.seen = f"{type(info.value).__name__} after 1 call: {message[message.index('The daily') :]}"


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_queue_full_from_another_integration(
    deferrable: bool,
    tmp_path: Path,
    marketo_simulator: MarketoSimulator,
    conn_id: str,
    summary_row: SummaryRow,
) -> None:
    how = "operator deferred" if deferrable else "operator on worker"
    summary_row.describe(f"7. 1016 queue full a while ({how})", "waits, success")
    sim = marketo_simulator
    source, rows = lead_file(tmp_path, 30)
    # Another integration holds all 10 slots for 2 s: long enough that the first create meets it even
    # after the token, the schema check and the plan on a loaded machine.
    sim.occupy_queue(10, 2.0)

    result = run_pipeline(
        sim, source, operator_kwargs={"deferrable": deferrable}, results_dir=tmp_path / "out"
    )

    check_row_accounting(sim, result, rows)
    full = errors(sim).get("1016", 0)
    assert full >= 1
    assert create_calls(result.calls) == full + 1
    assert len(our_jobs(sim)) == 1
    operator_triggers = [t for t in result.triggers if not isinstance(t, BulkImportTrigger)]
    assert len(operator_triggers) == (full if deferrable else 0)
    summary_row.seen = f"success after {full} x 1016 ({'deferred' if deferrable else 'slept'} between tries)"


def test_list_busy(
    tmp_path: Path, marketo_simulator: MarketoSimulator, conn_id: str, summary_row: SummaryRow
) -> None:
    summary_row.describe("8. 1019 list busy", "waits, success")
    sim = marketo_simulator
    source, rows = lead_file(tmp_path, 30)
    sim.inject("error_code", code="1019", count=2, path=CREATE)

    result = run_pipeline(sim, source, operator_kwargs={"list_id": 1001}, results_dir=tmp_path / "out")

    check_row_accounting(sim, result, rows)
    assert errors(sim) == {"1019": 2}
    assert create_calls(result.calls) == 3
    assert len(sim.list_members(1001)) == result.summary["rows_processed"]
    summary_row.seen = "success after 2 x 1019; every imported lead is in list 1001"


def test_job_ends_failed(
    tmp_path: Path, marketo_simulator: MarketoSimulator, conn_id: str, summary_row: SummaryRow
) -> None:
    summary_row.describe("9. job ends Failed", "task fails with Marketo's message, 1 create")
    sim = marketo_simulator
    source, _ = lead_file(tmp_path, 10)
    reason = "Import failed: the file could not be processed (internal error 7)"
    sim.fail_next_jobs(1, reason)

    with pytest.raises(AirflowFailException) as info:
        run_pipeline(sim, source, results_dir=tmp_path / "out")

    batch_id = our_jobs(sim)[0]["batch_id"]
    assert str(info.value) == f"Batch {batch_id} failed: {reason}"
    assert create_calls(sim.api_calls()) == 1
    assert len(our_jobs(sim)) == 1
    summary_row.seen = f"AirflowFailException: {info.value}"


@pytest.mark.marketo_simulator(rows_per_second=1.0, window_seconds=1.0)
def test_triggerer_restart_mid_poll(
    tmp_path: Path, marketo_simulator: MarketoSimulator, conn_id: str, summary_row: SummaryRow
) -> None:
    summary_row.describe("10. triggerer restart mid-poll", "success, no duplicate downloads")
    sim = marketo_simulator
    source, rows = lead_file(tmp_path, 30)
    cancelled: list[bool] = []

    def restart_mid_poll(trigger: BaseTrigger) -> Any:
        polls = status_calls(sim.api_calls())

        async def first_triggerer() -> bool:
            task = asyncio.create_task(first_event(trigger))
            while status_calls(sim.api_calls()) < polls + 2 and not task.done():
                await asyncio.sleep(0.01)
            task.cancel()  # the triggerer goes away while the job is still importing
            with suppress(asyncio.CancelledError):
                await task
            return task.cancelled()

        cancelled.append(asyncio.run(first_triggerer()))
        sim.advance_clock(600)  # the job finishes while no triggerer runs
        return run_to_event(rebuild(trigger))  # a new triggerer builds the trigger from its kwargs

    result = run_pipeline(sim, source, results_dir=tmp_path / "out", run_trigger=restart_mid_poll)

    assert cancelled == [True]
    check_row_accounting(sim, result, rows)
    assert file_calls(result.calls, "failures") == 1
    assert file_calls(result.calls, "warnings") == 1
    assert len(result.stored) == 2
    summary_row.seen = "success; poll cancelled mid-run, rebuilt trigger finished, 1 download per file"


@pytest.mark.parametrize("crash", ["fatal-error", "worker-killed"])
def test_worker_crash_then_retry_imports_each_part_once(
    crash: str,
    tmp_path: Path,
    marketo_simulator: MarketoSimulator,
    conn_id: str,
    monkeypatch: pytest.MonkeyPatch,
    summary_row: SummaryRow,
) -> None:
    how = "fatal error on part 2" if crash == "fatal-error" else "worker killed before part 2"
    summary_row.describe(f"11. {how}, task retried", "no part imported twice")
    sim = marketo_simulator
    source, rows = lead_file(tmp_path, 60)
    ti = FakeTaskInstance(task_id="import", max_tries=1)  # retries=1
    if crash == "worker-killed":
        spy = CreateSpy(sim).install(monkeypatch)
        spy.fail_after = 1
        expected: type[BaseException] = SystemExit
    else:
        # Part 1 accepted: the next create is refused for good.
        on_first_create(
            monkeypatch, sim, lambda: sim.inject("error_code", code="1003", message="Rejected", path=CREATE)
        )
        expected = MarketoRequestError

    with pytest.raises(expected):
        run_pipeline(sim, source, operator_kwargs={"part_size": 1024}, import_ti=ti)
    assert len(our_jobs(sim)) == 1
    first_batch = our_jobs(sim)[0]["batch_id"]
    if crash == "worker-killed":
        spy.fail_after = None

    ti.try_number = 2  # Airflow's retry: the next try, same max_tries
    retry = run_pipeline(
        sim, source, operator_kwargs={"part_size": 1024}, results_dir=tmp_path / "out", import_ti=ti
    )

    assert retry.batch_ids[0] == first_batch
    assert len(retry.batch_ids) == 3
    assert [job["batch_id"] for job in our_jobs(sim)] == retry.batch_ids
    assert received_rows(sim, retry.batch_ids) == rows  # every part received exactly once
    check_row_accounting(sim, retry, rows)
    summary_row.seen = f"retry skipped part 1 (batch {first_batch}); 3 parts, each received once"


@pytest.mark.parametrize("case", ["401", "603"])
def test_bad_credentials_fail_fast(
    case: str,
    tmp_path: Path,
    marketo_simulator: MarketoSimulator,
    monkeypatch: pytest.MonkeyPatch,
    secrets_guard: SecretsGuard,
    summary_row: SummaryRow,
) -> None:
    what = "bad client secret (401)" if case == "401" else "API user revoked mid-run (603)"
    summary_row.describe(f"12. {what}", "fails fast, actionable message")
    sim = marketo_simulator
    wrong = "wrong-" + sim.client_secret
    password = wrong if case == "401" else sim.client_secret
    set_connection(monkeypatch, sim, password=password, extra=FAST_EXTRAS)
    source, _ = lead_file(tmp_path, 10)
    if case == "603":
        sim.inject("error_code", code="603", count=5, path=STATUS)
    error = MarketoAuthError if case == "401" else AirflowException

    with pytest.raises(error) as info:
        run_pipeline(sim, source, results_dir=tmp_path / "out")

    message = str(info.value)
    counters = sim.counters
    if case == "401":
        assert "check the client id/secret of connection 'marketo_default'" in message
        assert counters["token_calls"] == 1
        assert create_calls(sim.api_calls()) == 0
    else:
        assert "603" in message
        assert "lacks permission" in message
        assert "allow-listed" in message
        assert status_calls(sim.api_calls()) == 1
    output = secrets_guard.output()
    assert "Reading and validating" in output  # the task logs were captured
    assert wrong not in message
    assert wrong not in output
    summary_row.seen = f"{type(info.value).__name__}: {message[max(message.find('Marketo error'), 0) :]}"
