"""MarketoHook against the simulator over real HTTP: tokens, retries, errors, files, each object kind."""

from __future__ import annotations

import io
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from airflow_provider_marketo.exceptions import (
    MarketoAuthError,
    MarketoBatchNotFoundError,
    MarketoConcurrencyError,
    MarketoFileTooLargeError,
    MarketoQueueFullError,
    MarketoRequestError,
    MarketoRetryableError,
    MarketoTokenError,
)
from airflow_provider_marketo.hooks._token import MAX_TOKEN_RENEWALS
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.objects import BulkTarget
from airflow_provider_marketo.testing import MarketoSimulator
from tests._support.files import NonSeekable
from tests._support.sim import SIM_FAST, closed_port, set_connection

LEADS = BulkTarget("leads")
CREATE = "POST /bulk/v1/leads.json"
STATUS = "GET /bulk/v1/leads/batch/{batchId}.json"
FAILURES = "GET /bulk/v1/leads/batch/{batchId}/failures.json"
LEAD_CSV = b"email,firstName,leadScore\nann@example.com,Ann,10\nbob@example.com,Bob,lots\n"

pytestmark = pytest.mark.marketo_simulator(**SIM_FAST)


def upload(hook: MarketoHook, data: bytes = LEAD_CSV, **kwargs: Any) -> int:
    return hook.create_import(
        kwargs.pop("target", LEADS),
        kwargs.pop("file", io.BytesIO(data)),
        file_format=kwargs.pop("file_format", "csv"),
        filename="leads.csv",
        params=kwargs.pop("params", {"lookupField": "email", "listId": None}),
    )


# -- tokens ---------------------------------------------------------------------------------------


def test_one_token_serves_many_calls(hook: MarketoHook, sim: MarketoSimulator) -> None:
    batch_id = upload(hook)
    for _ in range(3):
        hook.get_import_status(LEADS, batch_id)
    assert hook.download_import_file(LEADS, batch_id, "failures", io.BytesIO())
    assert MarketoHook(hook.marketo_conn_id).get_import_status(LEADS, batch_id).is_terminal
    assert sim.counters["token_calls"] == 1
    assert sim.api_calls()[STATUS] == 4


def test_602_then_601_each_cost_one_token_call(hook: MarketoHook, sim: MarketoSimulator) -> None:
    batch_id = upload(hook)
    sim.expire_tokens()
    assert hook.get_import_status(LEADS, batch_id).batch_id == batch_id
    assert sim.counters["errors"]["602"] == 1
    assert sim.counters["token_calls"] == 2
    assert sim.counters["tokens_issued"] == 2
    sim.inject("error_code", code="601", path="/batch/")
    assert hook.get_import_status(LEADS, batch_id).batch_id == batch_id
    assert sim.counters["token_calls"] == 3
    assert sim.api_calls()[STATUS] == 4


def test_token_errors_are_retried_with_a_fresh_token_up_to_the_bound(
    hook: MarketoHook, sim: MarketoSimulator
) -> None:
    batch_id = upload(hook)
    sim.inject("error_code", code="601", count=MAX_TOKEN_RENEWALS + 1, path="/batch/")
    with pytest.raises(MarketoTokenError):
        hook.get_import_status(LEADS, batch_id)
    assert sim.api_calls()[STATUS] == MAX_TOKEN_RENEWALS + 1
    assert sim.counters["token_calls"] == MAX_TOKEN_RENEWALS + 1


def test_token_errors_within_the_bound_succeed(hook: MarketoHook, sim: MarketoSimulator) -> None:
    batch_id = upload(hook)
    sim.inject("error_code", code="602", count=MAX_TOKEN_RENEWALS, path="/batch/")
    assert hook.get_import_status(LEADS, batch_id).batch_id == batch_id
    assert sim.api_calls()[STATUS] == MAX_TOKEN_RENEWALS + 1


def test_upload_after_token_expiry_resends_the_whole_file(hook: MarketoHook, sim: MarketoSimulator) -> None:
    hook.test_connection()
    sim.expire_tokens()
    batch_id = upload(hook)
    assert sim.job_file(batch_id) == LEAD_CSV
    assert sim.api_calls()[CREATE] == 2


def test_bad_credentials_fail_at_once(sim: MarketoSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = MarketoHook(set_connection(monkeypatch, sim, password="wrong-secret"))
    with pytest.raises(MarketoAuthError, match="check the client id/secret of connection 'marketo_default'"):
        hook.get_import_status(LEADS, 1)
    assert sim.counters["token_calls"] == 1
    ok, message = hook.test_connection()
    assert not ok
    assert "client id/secret" in message
    assert sum(sim.counters["calls"].values()) == 0


def test_a_cached_token_does_not_hide_a_wrong_secret(
    hook: MarketoHook, sim: MarketoSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert hook.test_connection()[0]
    wrong = MarketoHook(set_connection(monkeypatch, sim, "other", password="wrong-secret"))
    ok, message = wrong.test_connection()
    assert not ok
    assert "client id/secret" in message


# -- retries --------------------------------------------------------------------------------------


def test_606_waits_out_the_window_then_succeeds(
    hook: MarketoHook, sim: MarketoSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    batch_id = upload(hook)
    sim.inject("error_code", code="606", path="/batch/")
    with caplog.at_level(logging.INFO):
        assert hook.get_import_status(LEADS, batch_id).status == "Complete"
    assert sim.counters["errors"]["606"] == 1
    assert sim.api_calls()[STATUS] == 2
    assert "waiting out the rate window" in caplog.text


def test_615_is_retried(hook: MarketoHook, sim: MarketoSimulator) -> None:
    batch_id = upload(hook)
    sim.inject("error_code", code="615", count=2, path="/batch/")
    assert hook.get_import_status(LEADS, batch_id).batch_id == batch_id
    assert sim.api_calls()[STATUS] == 3


def test_retries_are_bounded(sim: MarketoSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = MarketoHook(set_connection(monkeypatch, sim, extra={"max_attempts": 3}))
    sim.inject("error_code", code="615", count=10, path="/batch/")
    with pytest.raises(MarketoConcurrencyError):
        hook.get_import_status(LEADS, 1)
    assert sim.api_calls()[STATUS] == 3


def test_html_502_is_retried_and_the_upload_rewound(hook: MarketoHook, sim: MarketoSimulator) -> None:
    source = io.BytesIO(b"header line that is not sent\n" + LEAD_CSV)
    source.seek(len(b"header line that is not sent\n"))
    sim.inject("http_error", status=502, path="leads.json")
    batch_id = upload(hook, file=source)
    assert [r["status"] for r in sim.requests_log if r["path"] == "/bulk/v1/leads.json"] == [502, 200]
    assert sim.job_file(batch_id) == LEAD_CSV
    assert not source.closed


def test_persistent_502_raises_a_short_message(
    sim: MarketoSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = MarketoHook(set_connection(monkeypatch, sim, extra={"max_attempts": 2}))
    sim.inject("http_error", status=502, count=5, path="/batch/")
    with pytest.raises(MarketoRetryableError) as info:
        hook.get_import_status(LEADS, 1)
    assert "(HTTP 502)" in str(info.value)
    assert "Bad Gateway" in str(info.value)
    assert "<" not in str(info.value)
    assert sum(1 for r in sim.requests_log if r["status"] == 502) == 2


def test_non_seekable_upload_survives_a_retry(hook: MarketoHook, sim: MarketoSimulator) -> None:
    sim.inject("http_error", status=503, path="leads.json")
    batch_id = upload(hook, file=NonSeekable(LEAD_CSV))
    assert sim.job_file(batch_id) == LEAD_CSV


def test_dropped_connection_during_a_download_is_retried(hook: MarketoHook, sim: MarketoSimulator) -> None:
    batch_id = upload(hook)
    sim.inject("drop", path="failures")
    dest = io.BytesIO()
    assert hook.download_import_file(LEADS, batch_id, "failures", dest)
    assert dest.getvalue().count(b"bob@example.com") == 1


@pytest.mark.marketo_simulator(**SIM_FAST, max_body_bytes=2000)
def test_413_is_not_retried(hook: MarketoHook, sim: MarketoSimulator) -> None:
    big = b"email\n" + b"someone@example.com\n" * 200
    with pytest.raises(MarketoFileTooLargeError, match="10 MB"):
        upload(hook, big)
    assert sum(1 for r in sim.requests_log if r["status"] == 413) == 1


def test_1006_unknown_column_is_fatal(hook: MarketoHook, sim: MarketoSimulator) -> None:
    with pytest.raises(MarketoRequestError) as info:
        upload(hook, b"email,shoeSize\nann@example.com,42\n")
    assert info.value.code == "1006"
    assert sim.api_calls()[CREATE] == 1


def test_1003_is_fatal(hook: MarketoHook, sim: MarketoSimulator) -> None:
    sim.inject("error_code", code="1003", message="Invalid format", path="leads.json")
    with pytest.raises(MarketoRequestError) as info:
        upload(hook)
    assert info.value.code == "1003"
    assert sum(1 for r in sim.requests_log if r["path"] == "/bulk/v1/leads.json") == 1


def test_1016_queue_full_is_raised_without_retry(hook: MarketoHook, sim: MarketoSimulator) -> None:
    sim.occupy_queue(10, 600)
    with pytest.raises(MarketoQueueFullError):
        upload(hook)
    assert sim.api_calls()[CREATE] == 1


def test_unknown_batch_is_not_found(hook: MarketoHook, sim: MarketoSimulator) -> None:
    with pytest.raises(MarketoBatchNotFoundError):
        hook.get_import_status(LEADS, 999999)
    assert sim.api_calls()[STATUS] == 1


# -- files ----------------------------------------------------------------------------------------


def test_no_file_is_false_and_writes_nothing(hook: MarketoHook) -> None:
    batch_id = upload(hook)
    dest = io.BytesIO()
    assert hook.download_import_file(LEADS, batch_id, "warnings", dest) is False
    assert dest.getvalue() == b""


def test_json_error_instead_of_a_file_raises(hook: MarketoHook, sim: MarketoSimulator) -> None:
    dest = io.BytesIO()
    with pytest.raises(MarketoBatchNotFoundError):
        hook.download_import_file(LEADS, 999999, "failures", dest)
    sim.inject("error_code", code="1003", message="Invalid batch", path="failures")
    with pytest.raises(MarketoRequestError):
        hook.download_import_file(LEADS, 999999, "failures", dest)
    assert dest.getvalue() == b""


# -- object kinds ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "data", "params", "bad_value"),
    [
        (LEADS, LEAD_CSV, {"lookupField": "email"}, b"lots"),
        (
            BulkTarget("custom_objects", api_name="car_c"),
            b"vin,model,year\nVIN1,Model S,2020\nVIN2,Model 3,soon\n",
            {},
            b"soon",
        ),
        (
            BulkTarget("program_members", program_id=1001),
            b"email,firstName\nann@example.com,Ann\n,NoEmail\n",
            {"programMemberStatus": "Registered"},
            b"NoEmail",
        ),
    ],
    ids=["leads", "custom_objects", "program_members"],
)
def test_each_object_kind(
    hook: MarketoHook, target: BulkTarget, data: bytes, params: dict[str, Any], bad_value: bytes
) -> None:
    batch_id = upload(hook, data, target=target, params=params)
    status = hook.get_import_status(target, batch_id)
    assert (status.kind, status.status, status.rows_processed, status.rows_failed) == (
        target.kind,
        "Complete",
        1,
        1,
    )
    dest = io.BytesIO()
    assert hook.download_import_file(target, batch_id, "failures", dest)
    lines = dest.getvalue().splitlines()
    assert len(lines) == 2
    assert bad_value in lines[1]
    assert hook.download_import_file(target, batch_id, "warnings", io.BytesIO()) is False


# -- test_connection ------------------------------------------------------------------------------


def test_test_connection_ok(hook: MarketoHook, sim: MarketoSimulator) -> None:
    ok, message = hook.test_connection()
    assert ok, message
    assert sim.counters["token_calls"] == 1
    assert sim.api_calls()[STATUS] == 1


def test_test_connection_without_permission(hook: MarketoHook, sim: MarketoSimulator) -> None:
    sim.inject("error_code", code="603", message="Access denied", path="/batch/")
    ok, message = hook.test_connection()
    assert not ok
    assert "lacks permission" in message


def test_test_connection_unreachable(sim: MarketoSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = MarketoHook(set_connection(monkeypatch, sim, host=f"http://127.0.0.1:{closed_port()}"))
    ok, message = hook.test_connection()
    assert not ok
    assert "Could not reach Marketo" in message
    assert sim.client_secret not in message


def test_test_connection_missing_field(sim: MarketoSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = MarketoHook(set_connection(monkeypatch, sim, login=None))
    assert hook.test_connection() == (False, "Connection 'marketo_default' has no login (Client ID).")


@pytest.mark.marketo_simulator(**SIM_FAST, max_in_flight=2)
def test_threads_share_one_token_and_the_call_budget(
    sim: MarketoSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = set_connection(monkeypatch, sim, extra={"max_concurrent_calls": 2})
    batch_id = upload(MarketoHook(conn_id))
    sim.expire_tokens()
    sim.inject("slow", count=8, delay=0.1, path="/batch/")
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: MarketoHook(conn_id).get_import_status(LEADS, batch_id), range(8)))
    assert {s.batch_id for s in statuses} == {batch_id}
    assert sim.counters["token_calls"] == 2
    assert sim.counters["errors"].get("615", 0) == 0
