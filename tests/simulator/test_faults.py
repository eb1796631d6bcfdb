"""Injected faults: HTTP errors, slow answers, dropped connections and error envelopes."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_marketo.testing import MarketoSimulator
from tests._support.api import Api, error_code

STATUS_PATH = "/bulk/v1/leads/batch/1.json"


def test_http_error_has_an_html_body_and_counts(api: Api, marketo_simulator: MarketoSimulator) -> None:
    token = api.token()
    marketo_simulator.inject("http_error", count=2, status=503)
    for _ in range(2):
        response = api.get(STATUS_PATH, token=token)
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("text/html")
        assert "503 Service Unavailable" in response.text
    assert error_code(api.get(STATUS_PATH, token=token)) == "1013"  # used up
    assert marketo_simulator.counters["http_status"]["503"] == 2


def test_pending_faults_count_down(api: Api, marketo_simulator: MarketoSimulator) -> None:
    token = api.token()
    marketo_simulator.inject("error_code", count=2, code="604", path=r"/batch/")
    assert [(f["kind"], f["count"], f["code"]) for f in marketo_simulator.pending_faults] == [
        ("error_code", 2, "604")
    ]
    api.get(STATUS_PATH, token=token)
    assert marketo_simulator.pending_faults[0]["count"] == 1
    api.get(STATUS_PATH, token=token)
    assert marketo_simulator.pending_faults == []


def test_http_error_default_is_502_and_spares_identity(api: Api, marketo_simulator: MarketoSimulator) -> None:
    marketo_simulator.inject("http_error")
    token = api.token()  # identity is not faulted by default
    assert api.get(STATUS_PATH, token=token).status_code == 502


def test_fault_on_identity_only_when_asked(api: Api, marketo_simulator: MarketoSimulator) -> None:
    marketo_simulator.inject("http_error", path="/identity", status=500)
    assert api.token_response().status_code == 500
    assert api.token_response().status_code == 200


def test_fault_path_is_a_regex(api: Api, marketo_simulator: MarketoSimulator) -> None:
    token = api.token()
    marketo_simulator.inject("error_code", path=r"/failures\.json$", code="604", message="Request timed out")
    assert error_code(api.get(STATUS_PATH, token=token)) == "1013"  # not matched
    response = api.get("/bulk/v1/leads/batch/1/failures.json", token=token)
    assert error_code(response) == "604"
    assert response.json()["errors"][0]["message"] == "Request timed out"
    entry = marketo_simulator.requests_log[-1]
    assert (entry["path"], entry["status"], entry["code"]) == (
        "/bulk/v1/leads/batch/1/failures.json",
        200,
        "604",
    )


def test_slow_answers_after_the_delay(api: Api, marketo_simulator: MarketoSimulator) -> None:
    token = api.token()
    marketo_simulator.inject("slow", delay=0.8)
    with pytest.raises(requests.Timeout):
        api.session.get(api.url(STATUS_PATH), headers=api.headers(token), timeout=0.2)
    assert error_code(api.get(STATUS_PATH, token=token)) == "1013"


def test_drop_closes_the_connection_without_a_complete_response(
    api: Api, marketo_simulator: MarketoSimulator
) -> None:
    token = api.token()
    marketo_simulator.inject("drop")
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        requests.get(api.url(STATUS_PATH), headers=api.headers(token), timeout=10)
    assert error_code(api.get(STATUS_PATH, token=token)) == "1013"


def test_drop_during_an_upload(api: Api, marketo_simulator: MarketoSimulator) -> None:
    token = api.token()
    marketo_simulator.inject("drop", path=r"/leads\.json$")
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        api.upload("/bulk/v1/leads.json", "email\na@example.com\n", token=token)
    assert marketo_simulator.jobs == []


def test_unknown_fault_is_rejected(marketo_simulator: MarketoSimulator) -> None:
    with pytest.raises(ValueError, match="Unknown fault"):
        marketo_simulator.inject("explode")
