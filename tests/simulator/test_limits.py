"""Rate window (606), concurrency (615), daily quota (607) and the 10 MB body limit (413)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from airflow_provider_marketo.testing import MarketoSimulator
from tests._support.api import Api, error_code

STATUS_PATH = "/bulk/v1/leads/batch/1.json"


@pytest.mark.marketo_simulator(calls_per_window=3, window_seconds=20.0)
def test_rate_window_606_and_rejected_calls_count(api: Api, marketo_simulator: MarketoSimulator) -> None:
    token = api.token()
    codes = [error_code(api.get(STATUS_PATH, token=token)) for _ in range(5)]
    assert codes == ["1013", "1013", "1013", "606", "606"]
    marketo_simulator.advance_clock(15)
    # The rejected calls are in the window too: still limited 15 s later.
    assert error_code(api.get(STATUS_PATH, token=token)) == "606"
    marketo_simulator.advance_clock(21)
    assert error_code(api.get(STATUS_PATH, token=token)) == "1013"
    assert marketo_simulator.counters["errors"]["606"] == 3


@pytest.mark.marketo_simulator(calls_per_window=1)
def test_identity_is_not_rate_limited(api: Api) -> None:
    token = api.token()
    assert error_code(api.get(STATUS_PATH, token=token)) == "1013"
    for _ in range(3):
        assert api.token_response().status_code == 200


@pytest.mark.marketo_simulator(max_in_flight=1)
def test_concurrent_calls_over_the_limit_get_615(api: Api, marketo_simulator: MarketoSimulator) -> None:
    token = api.token()
    marketo_simulator.inject("slow", delay=1.5, path="/batch/1\\.json")
    results: list[requests.Response] = []
    slow = threading.Thread(target=lambda: results.append(api.get(STATUS_PATH, token=token)))
    slow.start()
    try:
        for _ in range(500):
            if marketo_simulator.counters["in_flight"] == 1:
                break
            threading.Event().wait(0.01)
        assert marketo_simulator.counters["in_flight"] == 1
        assert (
            error_code(
                requests.get(api.url("/bulk/v1/leads/batch/2.json"), headers=api.headers(token), timeout=10)
            )
            == "615"
        )
    finally:
        slow.join(10)
    assert error_code(results[0]) == "1013"  # the slow call itself was answered
    assert marketo_simulator.counters["errors"]["615"] == 1


@pytest.mark.marketo_simulator(daily_quota=2, token_ttl=10 * 86400)
def test_daily_quota_607_resets_at_midnight_central(api: Api, marketo_simulator: MarketoSimulator) -> None:
    token = api.token()
    codes = [error_code(api.get(STATUS_PATH, token=token)) for _ in range(3)]
    assert codes == ["1013", "1013", "607"]
    now = datetime.now(ZoneInfo("America/Chicago"))
    next_midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), now.tzinfo)
    marketo_simulator.advance_clock((next_midnight - now).total_seconds() - 30)
    assert error_code(api.get(STATUS_PATH, token=token)) == "607"
    marketo_simulator.advance_clock(60)
    assert error_code(api.get(STATUS_PATH, token=token)) == "1013"


@pytest.mark.marketo_simulator(max_body_bytes=1000)
def test_request_body_over_the_limit_is_http_413(api: Api, marketo_simulator: MarketoSimulator) -> None:
    big = "email\n" + "".join(f"lead{i}@example.com\n" for i in range(100))
    response = api.upload("/bulk/v1/leads.json", big)
    assert response.status_code == 413
    assert not response.headers["content-type"].startswith("application/json")
    assert marketo_simulator.jobs == []
    small = api.upload("/bulk/v1/leads.json", "email\na@example.com\n")
    assert small.json()["success"] is True
